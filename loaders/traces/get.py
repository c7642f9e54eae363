"""Read OTLP JSON trace exports: one file, or every .json, .jsonl and .gz file under a folder.
A file holds one export request (`{"resourceSpans": [...]}`) or, as the OpenTelemetry
Collector's file exporter writes them, one request per line."""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loaders.sync.files import SourceReadError, files_in

SUFFIXES = (".json", ".jsonl", ".gz")


@dataclass(frozen=True)
class TraceRequest:
    file: str
    line: int | None  # of a JSON Lines file; None for a whole-file JSON document
    body: dict[str, Any]


@dataclass(frozen=True)
class TraceFile:
    file: str
    sha256: str  # of the bytes as stored: the same export imported twice is recognised
    requests: list[TraceRequest]


def read(path: Path) -> list[TraceFile]:
    return [read_file(file) for file in files_in(path, SUFFIXES)]


def read_file(path: Path) -> TraceFile:
    name = str(path)
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if path.suffix.lower() == ".gz" else raw
        text = data.decode("utf-8")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as error:
        raise SourceReadError.at(name, None, f"cannot be read: {error}") from error
    return TraceFile(name, hashlib.sha256(raw).hexdigest(), requests_in(name, text))


def requests_in(name: str, text: str) -> list[TraceRequest]:
    """The export requests in a file's text: the whole text as one JSON document, else one
    per non-empty line."""
    stripped = text.strip()
    if not stripped:
        raise SourceReadError.at(name, None, "empty trace export")
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError as whole_error:
        if "\n" not in stripped:
            raise SourceReadError.at(name, whole_error.lineno, f"not JSON: {whole_error.msg}") from whole_error
        return [TraceRequest(name, number, _request(name, number, line))
                for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    return [TraceRequest(name, None, _checked(name, None, whole))]


def _request(name: str, number: int, line: str) -> dict[str, Any]:
    try:
        body = json.loads(line)
    except json.JSONDecodeError as error:
        raise SourceReadError.at(name, number, f"not JSON: {error.msg} (column {error.colno})") from error
    return _checked(name, number, body)


def _checked(name: str, line: int | None, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("resourceSpans"), list):
        raise SourceReadError.at(name, line, "not an OTLP trace export: expected an object with a "
                                             "'resourceSpans' list")
    return body
