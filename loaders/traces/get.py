"""Read OTLP JSON trace exports: one file, or every .json, .jsonl and .gz file under a folder.
A file holds one export request (`{"resourceSpans": [...]}`) or, as the OpenTelemetry
Collector's file exporter writes them, one request per line. Each request is known by the
sha256 of its canonical JSON, so a request already imported is recognised again in a file the
exporter appended to or rotated, or that was compressed again."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
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
    sha256: str  # of its canonical JSON (sorted keys, no spaces): the same request however written


@dataclass(frozen=True)
class TraceFile:
    file: str
    requests: list[TraceRequest]


def read(path: Path) -> list[TraceFile]:
    return [read_file(file) for file in files_in(path, SUFFIXES)]


def read_file(path: Path) -> TraceFile:
    name = str(path)
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if path.suffix.lower() == ".gz" else raw
        text = data.decode("utf-8-sig")
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError) as error:
        raise SourceReadError.at(name, None, f"cannot be read: {error}") from error
    return from_text(name, text)


def from_text(name: str, text: str) -> TraceFile:
    """An export already in memory (the demo's), read as a file of that name would be."""
    return TraceFile(name, requests_in(name, text))


def requests_in(name: str, text: str) -> list[TraceRequest]:
    """The export requests in a file's text: the whole text as one JSON document, else one
    per non-empty line. Only "\n" ends a line: JSON text may hold U+2028 and its kin raw."""
    stripped = text.strip()
    if not stripped:
        raise SourceReadError.at(name, None, "empty trace export")
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError as whole_error:
        lines = text.split("\n")
        first = next(line for line in lines if line.strip())
        if "\n" not in stripped or not _parses(first):  # one document, written over several lines
            where = whole_error.lineno + text[:len(text) - len(text.lstrip())].count("\n")
            raise SourceReadError.at(name, where, f"not JSON: {whole_error.msg} (column {whole_error.colno})") \
                from whole_error
        return [_request(name, number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    return [TraceRequest(name, None, _checked(name, None, whole), _digest(whole))]


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def _request(name: str, number: int, line: str) -> TraceRequest:
    try:
        body = json.loads(line)
    except json.JSONDecodeError as error:
        raise SourceReadError.at(name, number, f"not JSON: {error.msg} (column {error.colno})") from error
    return TraceRequest(name, number, _checked(name, number, body), _digest(body))


def _digest(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _checked(name: str, line: int | None, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("resourceSpans"), list):
        raise SourceReadError.at(name, line, "not an OTLP trace export: expected an object with a "
                                             "'resourceSpans' list")
    return body
