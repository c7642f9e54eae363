"""Reading source files for the get steps: the files of a directory, YAML documents that
remember their lines, CSV rows that remember theirs. Errors name the file and the line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from loaders.native.get import FIELD_LINES_KEY, LINE_KEY, LineLoader, Location, strip_lines
from loaders.native.transform import LoadError

__all__ = ["FIELD_LINES_KEY", "LINE_KEY", "SourceReadError", "csv_rows", "files_in", "json_document",
           "read_text", "strip_lines", "yaml_documents"]


class SourceReadError(Exception):
    """The source cannot be read at all (missing, unreadable, not parseable); nothing is written."""

    def __init__(self, errors: list[LoadError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors

    @classmethod
    def at(cls, file: str, line: int | None, message: str) -> SourceReadError:
        return cls([LoadError(Location(file, line, "file", None), None, message)])


def files_in(path: Path, suffixes: Iterable[str]) -> list[Path]:
    """`path` itself, or every file under the directory `path` with one of `suffixes`, sorted."""
    wanted = {s.lower() for s in suffixes}
    if not path.exists():
        raise SourceReadError.at(str(path), None, "no such file or directory")
    if path.is_file():
        return [path]
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in wanted)
    if not found:
        raise SourceReadError.at(str(path), None, f"no {', '.join(sorted(wanted))} files here")
    return found


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise SourceReadError.at(str(path), None, f"cannot read: {error}") from error


def yaml_documents(path: Path) -> list[Any]:
    """Every document of a (multi-document) YAML file. Each mapping in them carries
    `LINE_KEY` (its first line) and `FIELD_LINES_KEY` (the line of each key); pass a value
    through `strip_lines` before keeping it."""
    text = read_text(path)
    try:
        return [doc for doc in yaml.load_all(text, Loader=LineLoader) if doc is not None]  # noqa: S506
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise SourceReadError.at(str(path), mark.line + 1 if mark else None,
                                 f"not valid YAML: {getattr(error, 'problem', None) or error}") from error


def json_document(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise SourceReadError.at(str(path), error.lineno, f"not valid JSON: {error.msg}") from error


def csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) for each data row, streamed; cells stripped, header names stripped."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise SourceReadError.at(str(path), None, f"cannot read: {error}") from error
    with handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise SourceReadError.at(str(path), 1, "empty CSV: the first line must name the columns")
        reader.fieldnames = [name.strip() for name in reader.fieldnames]
        try:
            for row in reader:
                if None in row:
                    raise SourceReadError.at(str(path), reader.line_num, "more cells than the header has columns")
                yield reader.line_num, {k: (v or "").strip() for k, v in row.items()}
        except csv.Error as error:
            raise SourceReadError.at(str(path), reader.line_num, f"not valid CSV: {error}") from error
