"""Read a ServiceNow CMDB export: the `cmdb_ci*` and `cmdb_rel_ci*` files of a directory (CSV
with a header row, or JSON as ServiceNow writes it), or one `cmdb_ci*` file on its own.

Rows remember their file and line (the object's index for JSON). Only the columns the
transform reads are kept, and only when they hold something: a real `cmdb_ci` export has a
hundred columns, and CSV is streamed, so a large export costs little more than its rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loaders.native.get import Location
from loaders.sync.files import SourceReadError, csv_rows, files_in, json_document

CI_TABLE = "cmdb_ci"
REL_TABLE = "cmdb_rel_ci"
SUFFIXES = (".csv", ".json")

# The columns each table contributes; every other column is ignored.
CI_COLUMNS = frozenset({
    "sys_id", "name", "sys_class_name", "serial_number", "fqdn", "ip_address", "host_name", "dns_domain",
    "operational_status", "install_status", "environment", "used_for", "business_criticality",
    "manufacturer", "model_id", "os", "os_version", "location", "support_group", "assigned_to", "owned_by",
    "short_description",
})
REL_COLUMNS = frozenset({"parent", "child", "type", "type.name"})
TABLE_COLUMNS = {CI_TABLE: CI_COLUMNS, REL_TABLE: REL_COLUMNS}
# Without these a table's rows cannot be read at all: one error for the file, not one per row.
REQUIRED_COLUMNS = {CI_TABLE: ("sys_id",), REL_TABLE: ("parent", "child")}

# Where the rows are in a JSON file: the JSONv2 export, the Table API; else a bare list.
JSON_LISTS = ("records", "result")
# The JSONv2 export with `displayvalue=all` puts a field's display value under `dv_<field>`.
JSONV2_DISPLAY_PREFIX = "dv_"


@dataclass(frozen=True, slots=True)
class Reference:
    """A field that carries both what is stored (a sys_id, a choice code) and what the UI shows:
    Table API reference objects, `sysparm_display_value=all`, JSONv2 `dv_` columns."""

    value: str
    display: str


Cell = str | Reference


@dataclass(frozen=True, slots=True)
class Row:
    cells: dict[str, Cell]  # the columns read that hold something
    location: Location


@dataclass
class RawExport:
    cis: list[Row] = field(default_factory=list)
    relationships: list[Row] = field(default_factory=list)


def read(path: Path) -> RawExport:
    """Every export file of the directory `path`, in name order, or the single cmdb_ci file `path`."""
    single = path.is_file()
    tables = {file: table_of(file, single) for file in files_in(path, SUFFIXES)}
    if CI_TABLE not in tables.values():
        raise SourceReadError.at(str(path), None, f"no {CI_TABLE}* export here; relationships alone cannot be read")
    export = RawExport()
    for file, table in tables.items():
        (export.cis if table == CI_TABLE else export.relationships).extend(_rows(file, table))
    return export


def table_of(file: Path, single: bool) -> str:
    """The table a file exports, from its name; a file given on its own is the CI export."""
    name = file.name.lower()
    if name.startswith(REL_TABLE):
        if single:
            raise SourceReadError.at(str(file), None, f"{REL_TABLE} needs its {CI_TABLE} export: give the directory")
        return REL_TABLE
    if name.startswith(CI_TABLE) or single:
        return CI_TABLE
    raise SourceReadError.at(str(file), None, f"not an export this importer reads: name it {CI_TABLE}* or {REL_TABLE}*")


def _rows(file: Path, table: str) -> Iterator[Row]:
    suffix = file.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(file, table)
    if suffix == ".json":
        return _json_rows(file, table)
    raise SourceReadError.at(str(file), None, "not an export this importer reads: use .csv or .json")


def _csv_rows(file: Path, table: str) -> Iterator[Row]:
    columns = TABLE_COLUMNS[table]
    for index, (line, cells) in enumerate(csv_rows(file)):
        if index == 0:
            _require_columns(file, table, cells)
        kept: dict[str, Cell] = {column: cell for column, cell in cells.items() if cell and column in columns}
        yield Row(kept, Location(str(file), line, table, index))


def _require_columns(file: Path, table: str, header: dict[str, str]) -> None:
    missing = [column for column in REQUIRED_COLUMNS[table] if column not in header]
    if missing:
        raise SourceReadError.at(str(file), 1, f"no {', '.join(missing)} column in this {table} export")


def _json_rows(file: Path, table: str) -> Iterator[Row]:
    columns = TABLE_COLUMNS[table]
    for index, record in enumerate(_json_records(file)):
        if not isinstance(record, dict):
            raise SourceReadError.at(str(file), None, f"{table}[{index}] is not an object")
        cells = {column: cell for column in columns if (cell := _cell(record, column))}
        yield Row(cells, Location(str(file), None, table, index))


def _json_records(file: Path) -> list[Any]:
    document = json_document(file)
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in JSON_LISTS:
            if isinstance(document.get(key), list):
                return document[key]
    raise SourceReadError.at(str(file), None, 'expected {"records": [...]}, {"result": [...]} or a list of records')


def _cell(record: dict[str, Any], column: str) -> Cell:
    """One field of a JSON record as text, or as a `Reference` where it carries a display value."""
    value = record.get(column)
    if isinstance(value, dict):
        stored = _text(value.get("value")) or _sys_id_from_link(_text(value.get("link")))
        return _cell_of(stored, _text(value.get("display_value")))
    shown = record.get(JSONV2_DISPLAY_PREFIX + column)
    if shown is not None:
        return _cell_of(_text(value), _text(shown))
    return _text(value)


def _cell_of(stored: str, shown: str) -> Cell:
    return Reference(stored, shown) if stored or shown else ""


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _sys_id_from_link(link: str) -> str:
    """`https://<instance>/api/now/table/cmdb_ci/<sys_id>`: a reference read with
    `sysparm_display_value=true` names its record only in the link."""
    return link.rstrip("/").rsplit("/", 1)[-1] if link else ""
