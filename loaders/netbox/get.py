"""Read a directory of NetBox REST API responses, one file per endpoint (`devices.json`, or
`devices.json`, `devices-2.json`... when the export kept every page), into raw objects that
remember the file and the index they came from. JSON has no useful lines once parsed, so a
location is the file plus the object's index in that file's `results`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loaders.native.get import Location
from loaders.sync.files import SourceReadError, files_in, json_document

# The API endpoints this importer reads, by the name their files start with. A file name
# with `_` for `-` is the same endpoint (`ip_addresses.json`).
ENDPOINTS = ("sites", "racks", "devices", "virtual-machines", "clusters", "interfaces", "cables", "ip-addresses")


@dataclass(frozen=True)
class RawObject:
    data: Any  # one entry of a page's `results`, as parsed (the transform checks its shape)
    location: Location


@dataclass
class RawNetBox:
    objects: dict[str, list[RawObject]] = field(default_factory=lambda: {e: [] for e in ENDPOINTS})
    unknown_files: list[str] = field(default_factory=list)  # JSON files named after no endpoint read


def read(path: Path) -> RawNetBox:
    """Every `*.json` file under `path` (or `path` itself), each a page of one endpoint."""
    raw = RawNetBox()
    for file in files_in(path, [".json"]):
        endpoint = endpoint_of(file)
        if endpoint is None:
            raw.unknown_files.append(str(file))
            continue
        results = page_results(file)
        raw.objects[endpoint] += [RawObject(data, Location(str(file), None, endpoint, index))
                                  for index, data in enumerate(results)]
    return raw


def endpoint_of(file: Path) -> str | None:
    """The endpoint a file holds: the one its name starts with (`devices-2.json` -> devices)."""
    stem = file.stem.lower().replace("_", "-")
    return next((endpoint for endpoint in ENDPOINTS if stem.startswith(endpoint)), None)


def page_results(file: Path) -> list[Any]:
    """The objects of one response: a page `{"count", "next", "previous", "results"}`, or a
    bare list as some export scripts write it."""
    document = json_document(file)
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        return document["results"]
    if isinstance(document, list):
        return document
    raise SourceReadError.at(str(file), None, "not a NetBox API response: expected a page with a `results` "
                                              "list, or a list of objects")
