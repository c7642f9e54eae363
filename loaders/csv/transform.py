"""The native CSV rows as the source's view. Validation is the native format's: the same
columns, the same messages."""

from __future__ import annotations

from pydantic import ValidationError

from cmdb_graph.model import Relationship
from loaders.native.get import RawDocument
from loaders.native.transform import validation_errors
from loaders.sync.model import SourceBatch


def transform(raw: RawDocument) -> SourceBatch:
    batch = SourceBatch()
    for location, message in raw.errors:
        batch.error(location, None, message)
    for section in raw.items:
        if section not in ("cis", "relationships") and raw.items[section]:
            first = raw.items[section][0]
            batch.error(first.location, None, f"the CSV pair holds CIs and relationships only, not {section}")
    first_line: dict[str, int | None] = {}
    for item in raw.items["cis"]:
        key = str(item.data.get("id", ""))
        if key in first_line:
            batch.error(item.at("id"), "id", f"duplicate {key!r}; first defined at line {first_line[key]}")
            continue
        first_line[key] = item.location.line
        batch.add_ci(key, item.data, item.location, item.field_lines)
    for item in raw.items["relationships"]:
        try:
            rel = Relationship.model_validate(item.data)
        except ValidationError as error:
            batch.errors += validation_errors(error, item)
            continue
        batch.depends(rel.source, rel.target, item.location, rel.type, rel.strength)
    return batch
