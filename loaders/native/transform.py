"""Turn raw items into model objects and check the document as a whole. Pure: no database.

References the document cannot settle itself (a relationship to a CI that only the database
holds) are returned as `Reference`s for the load step to check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pydantic import ValidationError

from cmdb_graph.model import (
    CI,
    GROUP_CLASSES,
    RECORD_SECTIONS,
    SERVICE_CLASSES,
    CIClass,
    Label,
    Record,
    Relationship,
    RelType,
)
from loaders.native.get import Location, RawDocument, RawItem


ONLY_GROUPS = "only a Cluster or RedundancyGroup has members"


@dataclass(frozen=True)
class LoadError:
    location: Location
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.location}.{self.field}" if self.field else str(self.location)
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Reference:
    """`value` must name an existing node with `label` (and, where given, one of `classes`)."""

    label: Label
    value: str
    location: Location
    field: str
    classes: frozenset[CIClass] | None = None
    why: str = ""


@dataclass
class Document:
    cis: list[CI] = field(default_factory=list)
    relationships: list[Relationship] = field(default_factory=list)
    teams: list[Record] = field(default_factory=list)
    slas: list[Record] = field(default_factory=list)
    knowledge_articles: list[Record] = field(default_factory=list)
    problems: list[Record] = field(default_factory=list)
    releases: list[Record] = field(default_factory=list)
    changes: list[Record] = field(default_factory=list)
    incidents: list[Record] = field(default_factory=list)
    maintenance_windows: list[Record] = field(default_factory=list)
    blackouts: list[Record] = field(default_factory=list)

    def size(self) -> int:
        return sum(len(getattr(self, name)) for name in self.__dataclass_fields__)


@dataclass
class Transformed:
    document: Document
    errors: list[LoadError]
    references: list[Reference]
    # ids of items that are in the document but invalid (already reported): references to
    # them are not reported again as unknown
    rejected: set[str] = field(default_factory=set)
    # where each CI of the document is, for checks against what the database holds
    ci_locations: dict[str, Location] = field(default_factory=dict)


def validation_errors(error: ValidationError, item: RawItem) -> list[LoadError]:
    """One error per bad field, on the field's own line where the source says it."""
    errors = []
    for detail in error.errors():
        path = ".".join(str(part) for part in detail["loc"]) or None
        message = detail["msg"].removeprefix("Value error, ")
        first = str(detail["loc"][0]) if detail["loc"] else None
        errors.append(LoadError(item.at(first), path, message))
    return errors


def transform(raw: RawDocument) -> Transformed:
    errors = [LoadError(location, None, message) for location, message in raw.errors]
    document = Document()
    rejected: set[str] = set()
    where: dict[tuple[str, str], Location] = {}

    def remember(section: str, key: str, location: Location) -> bool:
        first = where.get((section, key))
        if first is not None:
            errors.append(LoadError(location, "id" if section != "relationships" else None,
                                    f"duplicate {key!r}; first defined at {first.file}:{first.line}"))
            return False
        where[(section, key)] = location
        return True

    ci_items: list[RawItem] = []
    ci_locations: dict[str, Location] = {}
    for item in raw.items["cis"]:
        try:
            ci = CI.model_validate(item.data)
        except ValidationError as error:
            errors += validation_errors(error, item)
            rejected.add(str(item.data.get("id")))
            continue
        if remember("cis", ci.id, item.location):
            document.cis.append(ci)
            ci_locations[ci.id] = item.location
            ci_items.append(item)

    rel_items: list[RawItem] = []
    for item in raw.items["relationships"]:
        try:
            rel = Relationship.model_validate(item.data)
        except ValidationError as error:
            errors += validation_errors(error, item)
            continue
        if remember("relationships", "|".join(rel.key), item.location):
            document.relationships.append(rel)
            rel_items.append(item)

    record_items: dict[str, list[RawItem]] = {}
    for section, model in RECORD_SECTIONS.items():
        record_items[section] = []
        for item in raw.items[section]:
            try:
                record = model.model_validate(item.data)
            except ValidationError as error:
                errors += validation_errors(error, item)
                rejected.add(str(item.data.get("id")))
                continue
            if remember(section, record.id, item.location):
                getattr(document, section).append(record)
                record_items[section].append(item)

    references = _references(document, ci_items, rel_items, record_items)
    references = [ref for ref in references if ref.value not in rejected]
    return Transformed(document, errors, references, rejected, ci_locations)


def _references(
    document: Document,
    ci_items: list[RawItem],
    rel_items: list[RawItem],
    record_items: dict[str, list[RawItem]],
) -> list[Reference]:
    references: list[Reference] = []
    for ci, item in zip(document.cis, ci_items):
        if ci.owner:
            references.append(Reference(Label.TEAM, ci.owner, item.at("owner"), "owner"))
    for rel, item in zip(document.relationships, rel_items):
        source_classes = frozenset(GROUP_CLASSES) if rel.type is RelType.HAS_MEMBER else None
        references.append(Reference(Label.CI, rel.source, item.at("from"), "from", source_classes, ONLY_GROUPS))
        references.append(Reference(Label.CI, rel.target, item.at("to"), "to"))
    for section, model in RECORD_SECTIONS.items():
        for record, item in zip(getattr(document, section), record_items[section]):
            for key, targets in record.edge_targets().items():
                _rel, label = model.edges[key]
                classes = frozenset(SERVICE_CLASSES) if section == "slas" else None
                for target in targets:
                    references.append(Reference(label, target, item.at(key), key, classes,
                                                "an SLA covers a business or technical service"))
    return references


def resolve_references(
    references: list[Reference],
    document: Document,
    stored_ci_classes: dict[str, CIClass],
    stored_ids: dict[Label, set[str]],
) -> list[LoadError]:
    """Check each reference against the document first, then against what the database holds."""
    ci_classes = {**stored_ci_classes, **{ci.id: ci.ci_class for ci in document.cis}}
    known: dict[Label, set[str]] = {label: set(ids) for label, ids in stored_ids.items()}
    for section, model in RECORD_SECTIONS.items():
        known.setdefault(model.label, set()).update(r.id for r in getattr(document, section))
    errors = []
    for ref in references:
        if ref.label is Label.CI:
            ci_class = ci_classes.get(ref.value)
            if ci_class is None:
                errors.append(LoadError(ref.location, ref.field, f"unknown CI {ref.value!r}"))
            elif ref.classes is not None and ci_class not in ref.classes:
                errors.append(LoadError(ref.location, ref.field,
                                        f"{ref.value!r} is a {ci_class.value}; {ref.why}"))
        elif ref.value not in known.get(ref.label, set()):
            errors.append(LoadError(ref.location, ref.field, f"unknown {ref.label.value} {ref.value!r}"))
    return errors


def labels_to_look_up(references: list[Reference]) -> dict[Label, set[str]]:
    wanted: dict[Label, set[str]] = {}
    for ref in references:
        wanted.setdefault(ref.label, set()).add(ref.value)
    return wanted
