"""GraphQL types. CI, Relationship and AuditEntry are written out (they are the core contract);
the record types and their inputs are derived from the record models in `cmdb_graph.model`,
which already declare each record's fields and links as data."""

from __future__ import annotations

import json
import typing
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from cmdb_graph import model as m
from cmdb_graph.api.context import Context
from cmdb_graph.model import BOOKKEEPING, RECORD_SECTIONS, Label, Record

# --- enums ------------------------------------------------------------------------------------

CIClass = strawberry.enum(m.CIClass, name="CIClass", description="The class of a configuration item")
Layer = strawberry.enum(m.Layer, name="Layer")
CIStatus = strawberry.enum(m.CIStatus, name="CIStatus")
Environment = strawberry.enum(m.Environment, name="Environment")
RelationshipType = strawberry.enum(m.RelType, name="RelationshipType",
                                   description="Every type points from the dependent to what it needs")
Strength = strawberry.enum(m.Strength, name="Strength")
# `Impact` is the name of the impact analysis's result type; the incident field keeps its enum
strawberry.enum(m.Impact, name="IncidentImpact", description="How far an incident reaches: local, department, global")
for _enum in (m.IncidentCategory, m.Urgency, m.IncidentStatus, m.SeverityLevel, m.ProblemStatus,
              m.ChangeType, m.ChangeState, m.Risk, m.ReleaseType, m.ReleaseState, m.Recurrence):
    strawberry.enum(_enum)


def _plain(value: Any) -> Any:
    to_native = getattr(value, "to_native", None)
    return to_native() if callable(to_native) else value


def _temporal(value: Any, kind: type = datetime) -> Any:
    """Readers send dates and timestamps as ISO strings (see reads._projection)."""
    if isinstance(value, str):
        return m.from_neo4j_text(value, kind)
    return _plain(value)


def _enum_or_none(enum: type[Enum], value: Any) -> Any:
    return None if value is None else enum(value)


# --- pagination --------------------------------------------------------------------------------

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    node: T
    cursor: str


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int


# --- audit -------------------------------------------------------------------------------------


@strawberry.type(description="One write to an item: who, when, what changed, before and after")
class AuditEntry:
    id: strawberry.ID
    at: datetime
    actor: str
    action: str
    entity_kind: str
    entity_id: str
    version: int | None
    changed: list[str]
    before: JSON | None
    after: JSON | None


def audit_from_props(props: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        id=strawberry.ID(props["id"]), at=_temporal(props["at"]), actor=props["actor"], action=props["action"],
        entity_kind=props["entity_kind"], entity_id=props["entity_id"], version=props.get("version"),
        changed=list(props.get("changed") or []),
        before=json.loads(props["before"]) if props.get("before") else None,
        after=json.loads(props["after"]) if props.get("after") else None,
    )


async def _history(info: Info[Context, None], item_id: str) -> list[AuditEntry]:
    return [audit_from_props(p) for p in await info.context.loaders.history.load(item_id)]


# --- CIs and relationships -----------------------------------------------------------------------


@strawberry.type(description="A relationship between two CIs, from the dependent (source) to what it needs (target)")
class Relationship:
    type: RelationshipType  # type: ignore[valid-type]
    strength: Strength  # type: ignore[valid-type]
    version: int | None
    source_id: strawberry.Private[str]
    target_id: strawberry.Private[str]
    data_source: str | None = strawberry.field(default=None, description="The source that wrote it (an importer, "
                                                                         "native, api, demo, traces)")
    reported_by: list[str] = strawberry.field(default_factory=list, description="Importers that still report it")
    last_confirmed_at: datetime | None = strawberry.field(default=None, description="When a source last wrote or "
                                                                                    "reported it")
    observed_at: datetime | None = strawberry.field(default=None, description="When traces last showed the call")
    observed_calls: int | None = strawberry.field(default=None, description="Calls traces showed")
    as_of: datetime | None = strawberry.field(default=None, description="The time it is seen as of; null: now")
    evidence: strawberry.Private[tuple[tuple[str | None, datetime | None], ...]] = ()
    snapshots: strawberry.Private[dict[str, dict[str, Any]] | None] = None

    @strawberry.field(description="0-1: how far it is to be believed, from its sources' trust and how long ago "
                                  "they confirmed it (docs/analyses.md)")
    def confidence(self, info: Info[Context, None]) -> float:
        from impact.confidence import policy_from
        from impact.topology import Edge as TopologyEdge

        edge = TopologyEdge(self.target_id, self.type, self.strength, self.evidence)
        return round(policy_from(info.context.settings).edge_confidence(edge, self.as_of or _now()), 4)

    @strawberry.field
    async def source(self, info: Info[Context, None]) -> CI:
        return await _ci_seen(info, self.source_id, self.snapshots, self.as_of)

    @strawberry.field
    async def target(self, info: Info[Context, None]) -> CI:
        return await _ci_seen(info, self.target_id, self.snapshots, self.as_of)


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _ci_seen(info: Info[Context, None], ci_id: str, snapshots: dict[str, dict[str, Any]] | None,
                   as_of: datetime | None) -> CI:
    if snapshots is not None and ci_id in snapshots:
        return ci_from_props(snapshots[ci_id], as_of)
    return await info.context.loaders.ci_or_fail(ci_id)


def relationship_from_row(row: dict[str, Any]) -> Relationship:
    from impact.topology import _evidence

    evidence = _evidence(row.get("data_source"), row.get("last_seen"), row.get("reported_by"), row.get("observed_at"))
    return Relationship(
        type=m.RelType(row["type"]), strength=m.Strength(row.get("strength") or "hard"),
        version=row.get("version"), source_id=row["source"], target_id=row["target"],
        data_source=row.get("data_source"), reported_by=list(row.get("reported_by") or []),
        last_confirmed_at=_temporal(row.get("last_seen")), observed_at=_temporal(row.get("observed_at")),
        observed_calls=row.get("observed_calls"), evidence=evidence,
    )


def historic_relationships(ci_id: str, graph: Any, outgoing: bool) -> list[Relationship]:
    """A CI's relationships in the graph at a past time (impact/history.py)."""
    if outgoing:
        pairs = [(ci_id, edge) for edge in graph.topology.out.get(ci_id, ())]
    else:
        pairs = list(graph.topology.incoming.get(ci_id, ()))
    rows = []
    for source, edge in sorted(pairs, key=lambda p: (p[1].type.value, p[0], p[1].target)):
        writer, confirmed = edge.evidence[0] if edge.evidence else (None, None)
        observed = next((when for name, when in edge.evidence[1:] if name == "traces"), None)
        rows.append(Relationship(type=edge.type, strength=edge.strength, version=None, source_id=source,
                                 target_id=edge.target, data_source=writer, last_confirmed_at=confirmed,
                                 observed_at=observed, as_of=graph.at, evidence=edge.evidence,
                                 snapshots=graph.cis))
    return rows


@strawberry.type(description="A configuration item")
class CI:
    id: strawberry.ID
    name: str
    ci_class: CIClass  # type: ignore[valid-type]
    layer: Layer  # type: ignore[valid-type]
    status: CIStatus  # type: ignore[valid-type]
    environment: Environment  # type: ignore[valid-type]
    criticality: int | None
    owner: str | None
    rto_minutes: int | None
    rpo_minutes: int | None
    availability: float | None
    min_members: int | None
    serial_number: str | None
    fqdn: str | None
    ip_addresses: list[str]
    external_ids: JSON
    attributes: JSON
    source: str | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    as_of: datetime | None = strawberry.field(default=None, description="The time this CI is seen as of (its "
                                                                        "fields and relationships then); null: now")
    historic: strawberry.Private[Any] = None

    @strawberry.field(description="What this CI needs, one hop (its outgoing relationships)")
    async def depends_on(self, info: Info[Context, None]) -> list[Relationship]:
        if self.historic is not None:
            return historic_relationships(str(self.id), self.historic, outgoing=True)
        return [relationship_from_row(r) for r in await info.context.loaders.depends_on.load(self.id)]

    @strawberry.field(description="What needs this CI, one hop (its incoming relationships)")
    async def dependents(self, info: Info[Context, None]) -> list[Relationship]:
        if self.historic is not None:
            return historic_relationships(str(self.id), self.historic, outgoing=False)
        return [relationship_from_row(r) for r in await info.context.loaders.dependents.load(self.id)]

    @strawberry.field(description="Incidents that affect this CI")
    async def incidents(self, info: Info[Context, None]) -> list[RECORD_TYPES_HINT["Incident"]]:  # type: ignore[valid-type]
        return await _records_of_ci(info, Label.INCIDENT, m.RecordRel.AFFECTS, self.id)

    @strawberry.field(description="Problems whose root cause is in this CI")
    async def problems(self, info: Info[Context, None]) -> list[RECORD_TYPES_HINT["Problem"]]:  # type: ignore[valid-type]
        return await _records_of_ci(info, Label.PROBLEM, m.RecordRel.ROOT_CAUSE_IN, self.id)

    @strawberry.field(description="Changes that target this CI")
    async def changes(self, info: Info[Context, None]) -> list[RECORD_TYPES_HINT["Change"]]:  # type: ignore[valid-type]
        return await _records_of_ci(info, Label.CHANGE, m.RecordRel.TARGETS, self.id)

    @strawberry.field(description="Knowledge articles about this CI")
    async def knowledge_articles(self, info: Info[Context, None]) -> list[RECORD_TYPES_HINT["KnowledgeArticle"]]:  # type: ignore[valid-type]
        return await _records_of_ci(info, Label.KNOWLEDGE_ARTICLE, m.RecordRel.ABOUT, self.id)

    @strawberry.field(description="Audit entries for this CI, newest first")
    async def history(self, info: Info[Context, None]) -> list[AuditEntry]:
        return await _history(info, self.id)


def ci_from_props(props: dict[str, Any], as_of: datetime | None = None, historic: Any = None) -> CI:
    return CI(
        id=strawberry.ID(props["id"]), name=props.get("name") or props["id"],
        ci_class=m.CIClass(props["ci_class"]), layer=m.Layer(props["layer"]),
        status=m.CIStatus(props.get("status", "operational")),
        environment=m.Environment(props.get("environment", "production")),
        criticality=props.get("criticality"), owner=props.get("owner"),
        rto_minutes=props.get("rto_minutes"), rpo_minutes=props.get("rpo_minutes"),
        availability=props.get("availability"), min_members=props.get("min_members"),
        serial_number=props.get("serial_number"), fqdn=props.get("fqdn"),
        ip_addresses=list(props.get("ip_addresses") or []),
        external_ids=json.loads(props["external_ids"]) if props.get("external_ids") else {},
        attributes=json.loads(props["attributes"]) if props.get("attributes") else {},
        source=props.get("source"), version=int(props.get("version") or 0),
        created_at=_temporal(props.get("created_at")), updated_at=_temporal(props.get("updated_at")),
        as_of=as_of, historic=historic,
    )


# --- records, derived from the models ---------------------------------------------------------------

MODEL_BY_LABEL: dict[Label, type[Record]] = {model.label: model for model in RECORD_SECTIONS.values()}
RECORD_TYPES: dict[Label, type] = {}
RECORD_TYPES_HINT: dict[str, Any] = {}


def _unwrap(annotation: Any) -> tuple[Any, bool, bool]:
    """(inner type, optional, is a list) of a model field's annotation."""
    optional = False
    args = typing.get_args(annotation)
    if type(None) in args:
        optional = True
        annotation = next(a for a in args if a is not type(None))
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0], optional, True
    return annotation, optional, False


def _output_annotation(annotation: Any, required: bool) -> Any:
    """Required model fields are non-null (every stored record passed the model)."""
    inner, optional, is_list = _unwrap(annotation)
    if inner is dict or typing.get_origin(inner) is dict:
        inner = JSON
    typed = list[inner] if is_list else inner
    return typed if required and not optional else typed | None


async def _records_of_ci(info: Info[Context, None], label: Label, rel: m.RecordRel, ci_id: str) -> list[Any]:
    rows = await info.context.loaders.records_of_ci(label, rel).load(ci_id)
    return [record_from_props(label, p) for p in rows]


def _link_resolver(model: type[Record], key: str, rel: m.RecordRel, target: Label, many: bool) -> Any:
    target_type: Any = CI if target is Label.CI else RECORD_TYPES[target]

    async def resolve(self: Any, info: Info[Context, None]) -> Any:
        links = await info.context.loaders.record_links(model.label).load(self.id)
        ids = links.get(rel.value, [])
        loader = info.context.loaders.ci if target is Label.CI else info.context.loaders.records(target)
        found = [p for p in await loader.load_many(ids) if p is not None]
        items = [ci_from_props(p) if target is Label.CI else record_from_props(target, p) for p in found]
        return items if many else (items[0] if items else None)

    resolve.__annotations__["return"] = list[target_type] if many else target_type | None
    return strawberry.field(resolver=resolve, description=f"{rel.value} -> {target.value}")


def _history_resolver() -> Any:
    async def resolve(self: Any, info: Info[Context, None]) -> list[AuditEntry]:
        return await _history(info, self.id)

    return strawberry.field(resolver=resolve, description="Audit entries, newest first")


def _build_record_type(model: type[Record]) -> type:
    annotations: dict[str, Any] = {"id": strawberry.ID}
    namespace: dict[str, Any] = {"__doc__": f"Service-management record: {model.label.value}"}
    for name, field in model.model_fields.items():
        if name == "id" or name in model.edges:
            continue
        required = field.is_required() or (field.default is not None and field.default_factory is None) \
            or field.default_factory is list
        annotations[name] = _output_annotation(field.annotation, required)
        if not required:
            namespace[name] = None
    for name in ("version", "created_at", "updated_at", "source"):
        annotations[name] = {"version": int, "created_at": datetime | None, "updated_at": datetime | None,
                             "source": str | None}[name]
        if name != "version":
            namespace[name] = None
    for key, (rel, target) in model.edges.items():
        _inner, _optional, many = _unwrap(model.model_fields[key].annotation)
        namespace[key] = _link_resolver(model, key, rel, target, many)
    namespace["history"] = _history_resolver()
    # non-defaulted fields must come first in a dataclass
    ordered = dict(sorted(annotations.items(), key=lambda item: item[0] in namespace))
    namespace["__annotations__"] = ordered
    cls = type(model.label.value, (), namespace)
    return strawberry.type(cls, name=model.label.value, description=namespace["__doc__"])


for _model in RECORD_SECTIONS.values():  # targets are declared before the records that link to them
    RECORD_TYPES[_model.label] = _build_record_type(_model)
    RECORD_TYPES_HINT[_model.label.value] = RECORD_TYPES[_model.label]


def record_from_props(label: Label, props: dict[str, Any]) -> Any:
    model = MODEL_BY_LABEL[label]
    cls = RECORD_TYPES[label]
    values: dict[str, Any] = {"id": strawberry.ID(props["id"]), "version": int(props.get("version") or 0)}
    for name, field in model.model_fields.items():
        if name == "id" or name in model.edges:
            continue
        inner, _optional, is_list = _unwrap(field.annotation)
        value = _temporal(props.get(name), inner) if inner in (datetime, date) else _plain(props.get(name))
        if value is None and field.default_factory is list:
            value = []  # empty lists are not stored
        if isinstance(inner, type) and issubclass(inner, Enum) and value is not None:
            value = [inner(v) for v in value] if is_list else inner(value)
        values[name] = value
    values["created_at"] = _temporal(props.get("created_at"))
    values["updated_at"] = _temporal(props.get("updated_at"))
    values["source"] = props.get("source")
    return cls(**values)


# --- inputs, derived from the models ------------------------------------------------------------------


def _input_annotation(annotation: Any, required: bool, patch: bool) -> Any:
    inner, optional, is_list = _unwrap(annotation)
    if inner is dict or typing.get_origin(inner) is dict:
        inner = JSON
    typed = list[inner] if is_list else inner
    return typed if (required and not patch and not optional) else typed | None


def build_input(model: type[Record] | type[m.CI], name: str, patch: bool, exclude: tuple[str, ...] = ()) -> type:
    """A GraphQL input for a model: every field (links as ids), with the model's required ones
    required, or (for a patch) every field optional; unset fields stay unset."""
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {}
    for field_name, field in model.model_fields.items():
        if field_name in exclude or field_name in BOOKKEEPING:
            continue
        annotations[field_name] = (
            strawberry.ID if field_name == "id" else _input_annotation(field.annotation, field.is_required(), patch)
        )
        if patch or not field.is_required():
            namespace[field_name] = strawberry.UNSET
    ordered = dict(sorted(annotations.items(), key=lambda item: item[0] in namespace))
    namespace["__annotations__"] = ordered
    return strawberry.input(type(name, (), namespace), name=name)


def input_to_dict(value: Any) -> dict[str, Any]:
    """The fields a client set, by model field name (enums as their values)."""
    data = {}
    for key, item in vars(value).items():
        if item is strawberry.UNSET:
            continue
        data[key] = item.value if isinstance(item, Enum) else item
    return data


RECORD_INPUTS: dict[Label, type] = {}
RECORD_PATCHES: dict[Label, type] = {}
for _model in RECORD_SECTIONS.values():
    RECORD_INPUTS[_model.label] = build_input(_model, f"{_model.label.value}Input", patch=False)
    RECORD_PATCHES[_model.label] = build_input(_model, f"{_model.label.value}Patch", patch=True, exclude=("id",))


@strawberry.input(description="A CI to create or replace (the whole CI: fields left out are cleared)")
class CIInput:
    id: strawberry.ID
    ci_class: CIClass  # type: ignore[valid-type]
    name: str | None = strawberry.UNSET
    status: CIStatus | None = strawberry.UNSET  # type: ignore[valid-type]
    environment: Environment | None = strawberry.UNSET  # type: ignore[valid-type]
    criticality: int | None = strawberry.UNSET
    owner: str | None = strawberry.UNSET
    rto_minutes: int | None = strawberry.UNSET
    rpo_minutes: int | None = strawberry.UNSET
    availability: float | None = strawberry.UNSET
    min_members: int | None = strawberry.UNSET
    serial_number: str | None = strawberry.UNSET
    fqdn: str | None = strawberry.UNSET
    ip_addresses: list[str] | None = strawberry.UNSET
    external_ids: JSON | None = strawberry.UNSET
    attributes: JSON | None = strawberry.UNSET
    expected_version: int | None = strawberry.field(
        default=strawberry.UNSET, description="the version you read; the write fails with CONFLICT if it moved on"
    )


@strawberry.input
class RelationshipInput:
    source: strawberry.ID
    target: strawberry.ID
    type: RelationshipType = m.RelType.DEPENDS_ON  # type: ignore[valid-type]
    strength: Strength = m.Strength.HARD  # type: ignore[valid-type]


@strawberry.input
class CIFilter:
    ci_class: CIClass | None = None  # type: ignore[valid-type]
    layer: Layer | None = None  # type: ignore[valid-type]
    status: CIStatus | None = None  # type: ignore[valid-type]
    environment: Environment | None = None  # type: ignore[valid-type]
    criticality: int | None = None
    owner: str | None = None
    name_contains: str | None = None


@strawberry.input(description="Filters for record lists; each applies where the record has that field or link")
class RecordFilter:
    status: str | None = None
    state: str | None = strawberry.field(default=None, description="changes and releases")
    type: str | None = None
    category: str | None = None
    known_error: bool | None = None
    ci: strawberry.ID | None = strawberry.field(default=None, description="linked to this CI (affects, targets, about...)")
    text: str | None = strawberry.field(default=None, description="contained in the title, name or body (any case)")
    open: bool | None = strawberry.field(default=None, description="incidents and problems not yet resolved or closed")


@strawberry.type
class DeleteResult:
    id: strawberry.ID
    deleted: bool
