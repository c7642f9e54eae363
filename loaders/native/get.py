"""Read native documents (YAML, JSON, or a CSV pair) into raw items that remember where they
came from, so that every validation error can name its file and line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cmdb_graph.model import SECTIONS

LINE_KEY = "__line__"
FIELD_LINES_KEY = "__field_lines__"


@dataclass(frozen=True)
class Location:
    file: str
    line: int | None
    section: str
    index: int | None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        item = f"{self.section}[{self.index}]" if self.index is not None else self.section
        return f"{where}: {item}"


@dataclass
class RawItem:
    data: dict[str, Any]
    location: Location
    field_lines: dict[str, int] = field(default_factory=dict)

    def at(self, field_name: str | None) -> Location:
        """The location of one field, on its own line where the source says it."""
        line = self.field_lines.get(field_name) if field_name else None
        if line is None:
            return self.location
        return Location(self.location.file, line, self.location.section, self.location.index)


@dataclass
class RawDocument:
    items: dict[str, list[RawItem]] = field(default_factory=lambda: {s: [] for s in SECTIONS})
    errors: list[tuple[Location, str]] = field(default_factory=list)

    def extend(self, other: RawDocument) -> None:
        for section, items in other.items.items():
            self.items[section].extend(items)
        self.errors.extend(other.errors)


class LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe YAML loader (libyaml's parser where installed) that records the line each
    mapping starts on, and the line of each of its keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=True)
        mapping[LINE_KEY] = node.start_mark.line + 1
        mapping[FIELD_LINES_KEY] = {
            str(key.value): key.start_mark.line + 1 for key, _value in node.value if isinstance(key, yaml.ScalarNode)
        }
        return mapping


def strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_lines(v) for k, v in value.items() if k not in (LINE_KEY, FIELD_LINES_KEY)}
    if isinstance(value, list):
        return [strip_lines(v) for v in value]
    return value


def read_paths(paths: list[Path]) -> RawDocument:
    """Every file named, in order; a directory contributes its `cis.csv` and `relationships.csv`
    and its `*.yaml`, `*.yml` and `*.json` files."""
    document = RawDocument()
    for path in paths:
        if path.is_dir():
            members = folder_files(path)
            if not members:
                document.errors.append((Location(str(path), None, "file", None), "no .yaml, .json or .csv files here"))
            for member in members:
                document.extend(read_file(member))
        else:
            document.extend(read_file(path))
    return document


def folder_files(folder: Path) -> list[Path]:
    """The files of a folder that a load reads, in name order."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".yaml", ".yml", ".json", ".csv"})


def read_file(path: Path) -> RawDocument:
    name = str(path)
    if not path.exists():
        return _failed(name, "no such file")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return _failed(name, f"cannot read: {error}")
    if suffix == ".csv":
        return read_csv(name, text)
    if suffix in {".yaml", ".yml", ".json"}:
        return read_structured(name, text)
    return _failed(name, "unknown file type; use .yaml, .yml, .json or .csv")


def _failed(name: str, message: str, line: int | None = None) -> RawDocument:
    document = RawDocument()
    document.errors.append((Location(name, line, "file", None), message))
    return document


def read_structured(name: str, text: str) -> RawDocument:
    """YAML, and JSON through the same loader (JSON is YAML), so both report lines."""
    try:
        root = yaml.load(text, Loader=LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        try:
            root = json.loads(text)
        except json.JSONDecodeError:
            mark = getattr(error, "problem_mark", None)
            return _failed(name, f"not valid YAML or JSON: {getattr(error, 'problem', error)}",
                           mark.line + 1 if mark else None)
    return read_mapping(name, root)


def read_mapping(name: str, root: Any) -> RawDocument:
    """A parsed document (YAML, JSON, or built in Python like the demo) as raw items."""
    document = RawDocument()
    if root is None:
        return document
    if not isinstance(root, dict):
        return _failed(name, "the document must be a mapping of sections (cis, relationships, ...)")
    for section, value in root.items():
        if section in (LINE_KEY, FIELD_LINES_KEY):
            continue
        if section not in document.items:
            document.errors.append(
                (Location(name, root.get(LINE_KEY), str(section), None),
                 f"unknown section; expected one of {', '.join(SECTIONS)}")
            )
            continue
        if value is None:
            continue
        if not isinstance(value, list):
            document.errors.append((Location(name, root.get(LINE_KEY), section, None), "must be a list"))
            continue
        for index, item in enumerate(value):
            line = item.get(LINE_KEY) if isinstance(item, dict) else None
            location = Location(name, line, section, index)
            if not isinstance(item, dict):
                document.errors.append((location, "each entry must be a mapping"))
                continue
            document.items[section].append(RawItem(strip_lines(item), location, item.get(FIELD_LINES_KEY, {})))
    return document


LIST_COLUMNS = {"ip_addresses", "tags", "escalation_contacts", "affects", "root_cause_in", "documented_in",
                "about", "targets", "deploys", "applies_to"}
MAP_PREFIXES = ("attributes.", "external_ids.")


CSV_NAMES = "a CSV file must be named cis*.csv or relationships*.csv"


def csv_section(name: str) -> str | None:
    """The section a CSV file's rows belong to, by its name."""
    stem = Path(name).stem.lower()
    return "cis" if stem.startswith("cis") else "relationships" if stem.startswith("relationships") else None


def csv_items(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | None, list[str]]]:
    """(line, item, problems) per row, one row at a time, so a bulk load can stream a file of
    any size. Empty cells are unset; list columns split on `;`; `attributes.KEY` and
    `external_ids.KEY` columns fill maps. `item` is None for a row that cannot be read."""
    reader = csv.reader(lines)
    header = [name.strip() for name in next(reader, [])]
    if not header:
        yield 1, None, ["empty CSV: the first line must name the columns"]
        return
    columns = [(name, name.startswith(MAP_PREFIXES), name in LIST_COLUMNS) for name in header]
    for row in reader:
        if not row:
            continue
        if len(row) > len(header):
            yield reader.line_num, None, ["more cells than the header has columns"]
            continue
        item: dict[str, Any] = {}
        problems = []
        for (column, is_map, is_list), cell in zip(columns, row):
            cell = cell.strip()
            if not cell:
                continue
            if is_map:
                prefix, key = column.split(".", 1)
                item.setdefault(prefix, {})[key] = cell
            elif is_list:
                item[column] = [part.strip() for part in cell.split(";") if part.strip()]
            elif column in {"attributes", "external_ids"} and cell.startswith("{"):
                try:
                    item[column] = json.loads(cell)
                except json.JSONDecodeError as error:
                    problems.append(f"{column}: not valid JSON: {error.msg}")
            else:
                item[column] = cell
        yield reader.line_num, item, problems


def read_csv(name: str, text: str) -> RawDocument:
    """`cis*.csv` rows are CIs and `relationships*.csv` rows relationships."""
    section = csv_section(name)
    if section is None:
        return _failed(name, CSV_NAMES)
    document = RawDocument()
    for index, (line, item, problems) in enumerate(csv_items(text.splitlines())):
        if item is None and line == 1:
            return _failed(name, problems[0], 1)
        location = Location(name, line, section, index)
        document.errors.extend((location, problem) for problem in problems)
        if item is not None:
            document.items[section].append(RawItem(item, location))
    return document
