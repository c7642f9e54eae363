"""What every importer's transform step returns: the source's view of its CIs, their
relationships and the teams that own them, each remembering the file and line it came from.

The transform knows nothing about the database. Which stored CI a `SourceCI` becomes is
decided later, by the identification rules in `reconcile.py`; the `ci.id` a transform sets is
only the id a CI gets when nothing stored matches it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from cmdb_graph.model import CI, RelType, Strength, Team
from loaders.native.get import Location, RawItem
from loaders.native.transform import LoadError, validation_errors

MAX_ID = 200


@dataclass(frozen=True)
class SourceCI:
    key: str  # the source's own id: a sys_id, an entity reference, namespace/kind/name...
    ci: CI  # the CI as this source describes it
    location: Location


@dataclass(frozen=True)
class SourceRelationship:
    """`source_key` needs `target_key` (the direction of graph-model.md), both `SourceCI.key`s."""

    source_key: str
    target_key: str
    type: RelType
    location: Location
    strength: Strength = Strength.HARD


@dataclass(frozen=True)
class Finding:
    """Something reported to the user that does not stop the run: an unknown class mapped to
    the default, a dependency on something the source does not hold, an ambiguous match."""

    location: Location
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.kind}: {self.message}"


UNKNOWN_CLASS = "unknown-class"
UNKNOWN_TYPE = "unknown-relationship-type"
UNKNOWN_VALUE = "unknown-value"
DANGLING = "dangling-dependency"
AMBIGUOUS = "ambiguous-match"
SKIPPED = "skipped"


@dataclass
class SourceBatch:
    cis: list[SourceCI] = field(default_factory=list)
    relationships: list[SourceRelationship] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)

    def add_ci(self, key: str, data: dict[str, Any], location: Location, field_lines: dict[str, int] | None = None) -> CI | None:
        """Validate `data` as a CI (keys as in the native format: `id`, `class`, `name`...);
        a bad value becomes an error naming its field, on its own line where known."""
        try:
            ci = CI.model_validate(data)
        except ValidationError as error:
            self.errors += validation_errors(error, RawItem(data, location, field_lines or {}))
            return None
        self.cis.append(SourceCI(key, ci, location))
        return ci

    def depends(self, source_key: str, target_key: str, location: Location,
                rel_type: RelType = RelType.DEPENDS_ON, strength: Strength = Strength.HARD) -> None:
        if source_key != target_key:
            self.relationships.append(SourceRelationship(source_key, target_key, rel_type, location, strength))

    def report(self, location: Location, kind: str, message: str) -> None:
        self.findings.append(Finding(location, kind, message))

    def error(self, location: Location, field_name: str | None, message: str) -> None:
        self.errors.append(LoadError(location, field_name, message))


_NOT_ID = re.compile(r"[\s\x00-\x1f]+")


def safe_id(text: str) -> str:
    """A source key as a CI id: no whitespace or control characters, at most 200 characters."""
    cleaned = _NOT_ID.sub("-", text.strip())
    return cleaned[:MAX_ID] or "-"
