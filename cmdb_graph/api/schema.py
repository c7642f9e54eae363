"""The GraphQL schema: queries, mutations, limits and error codes. Resolvers stay thin: they
read through `reads` (via DataLoaders) or write through the store, and convert.

`schema` below is the static definition that `strawberry export-schema
cmdb_graph.api.schema:schema` writes to `graphql/schema.graphql`; the app builds its own with
the limits from its settings."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Annotated, Any

import anyio
import pydantic
import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import Info

from cmdb_graph.api import reads
from cmdb_graph.access.roles import Role
from cmdb_graph.api.access import AccessMutation, AccessQuery
from cmdb_graph.api.analyses import AnalysisQuery
from cmdb_graph.api.context import Context
from cmdb_graph.api.errors import ApiError, Code, limit_error, validation_error, with_code
from cmdb_graph.api.knowledge import KnowledgeQuery
from cmdb_graph.api.limits import cost_limit
from cmdb_graph.api.neighbourhood import NeighbourhoodQuery
from cmdb_graph.api.permissions import CanEdit, require
from cmdb_graph.api.processes import ProcessMutation, ProcessQuery
from cmdb_graph.api.types import (
    CI,
    MODEL_BY_LABEL,
    RECORD_INPUTS,
    RECORD_PATCHES,
    RECORD_TYPES,
    CIFilter,
    CIInput,
    Connection,
    DeleteResult,
    Edge,
    PageInfo,
    RecordFilter,
    Relationship,
    RelationshipInput,
    RelationshipType,
    ci_from_props,
    input_to_dict,
    record_from_props,
    relationship_from_row,
)
from cmdb_graph.lifecycle import LIFECYCLES, TransitionError, check_transition
from cmdb_graph.model import (
    OPEN_INCIDENT_STATUSES,
    RECORD_SECTIONS,
    ChangeState,
    ChangeType,
    Incident,
    Label,
    RelType,
    stored_text,
)
from cmdb_graph.processes.changes import PRE_APPROVED
from cmdb_graph.processes.incidents import deadlines_for, slas_of_incidents
from cmdb_graph.processes.rules import RuleError, apply_rules
from cmdb_graph.processes.records import RecordError, write_records
from cmdb_graph.store import relationship_key
from impact.blast_radius import incident_severity

DEFAULT_PAGE = 50
MAX_PAGE = 500
MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_BATCH = 5000
MAX_COST = 100_000


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 1:
        raise validation_error("first must be at least 1")
    if first > MAX_PAGE:
        raise limit_error(f"first may be at most {MAX_PAGE} (asked for {first}); page with `after`")
    return first


def after_id(after: str | None) -> str | None:
    if after is None:
        return None
    try:
        return reads.decode_cursor(after)
    except ValueError as error:
        raise validation_error(f"after: {error}") from error


def _connection(items: list[Any], has_next: bool, total: int) -> Connection[Any]:
    edges = [Edge(node=item, cursor=reads.encode_cursor(str(item.id))) for item in items]
    return Connection(
        edges=edges, page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
        total_count=total,
    )


# --- record queries, one pair per record kind, derived from the models ----------------------------

RECORD_FIELD_NAMES = {
    Label.TEAM: ("team", "teams"),
    Label.SLA: ("sla", "slas"),
    Label.KNOWLEDGE_ARTICLE: ("knowledge_article", "knowledge_articles"),
    Label.PROBLEM: ("problem", "problems"),
    Label.RELEASE: ("release", "releases"),
    Label.CHANGE: ("change", "changes"),
    Label.INCIDENT: ("incident", "incidents"),
    Label.MAINTENANCE_WINDOW: ("maintenance_window", "maintenance_windows"),
    Label.BLACKOUT: ("blackout", "blackouts"),
}
OPEN_STATUSES = {
    Label.INCIDENT: list(OPEN_INCIDENT_STATUSES),
    Label.PROBLEM: ["open", "investigating", "known_error"],
}
TEXT_FIELDS = ("title", "name", "body", "description", "symptoms")


def _record_filter_params(label: Label, record_filter: RecordFilter | None) -> dict[str, Any]:
    model = MODEL_BY_LABEL[label]
    fields = set(model.model_fields)
    equals: dict[str, Any] = {}
    chosen = record_filter or RecordFilter()
    for name in ("status", "state", "type", "category", "known_error"):
        value = getattr(chosen, name)
        if value is None:
            continue
        if name not in fields:
            raise validation_error(f"filter.{_camel(name)}: {label.value} has no {name}")
        equals[name] = value
    if chosen.open is not None and label not in OPEN_STATUSES:
        raise validation_error("filter.open: only incidents and problems are open or not")
    ci_types = [rel.value for rel, target in model.edges.values() if target is Label.CI]
    if chosen.ci is not None and not ci_types:
        raise validation_error(f"filter.ci: a {label.value} is not linked to CIs")
    open_statuses = None
    if chosen.open is True:
        open_statuses = OPEN_STATUSES[label]
    elif chosen.open is False:
        open_statuses = ["resolved", "closed"]
    return dict(equals=equals, text=chosen.text, text_fields=[f for f in TEXT_FIELDS if f in fields],
                ci=chosen.ci, ci_types=ci_types, open_statuses=open_statuses)


def _record_query_fields(label: Label) -> dict[str, Any]:
    single, plural = RECORD_FIELD_NAMES[label]
    record_type = RECORD_TYPES[label]

    async def one(info: Info[Context, None], id: strawberry.ID) -> Any:
        props = await info.context.loaders.records(label).load(str(id))
        return record_from_props(label, props) if props else None

    async def many(
        info: Info[Context, None], filter: RecordFilter | None = None, first: int | None = None, after: str | None = None
    ) -> Any:
        size = page_size(first)
        params = _record_filter_params(label, filter)
        rows, has_next, total = await reads.record_page(info.context.reader, label, after=after_id(after), first=size, **params)
        return _connection([record_from_props(label, p) for p in rows], has_next, total)

    one.__annotations__["return"] = record_type | None
    many.__annotations__["return"] = Connection[record_type]
    return {
        single: strawberry.field(resolver=one, description=f"One {label.value} by id"),
        plural: strawberry.field(resolver=many, description=f"{label.value} records, ordered by id, a page at a time"),
    }


@strawberry.type
class CoreQuery:
    @strawberry.field(description="One configuration item by id; with asOf, as it was then (fields and "
                                  "relationships rebuilt from the audit trail), null if it did not exist then")
    async def ci(
        self, info: Info[Context, None], id: strawberry.ID,
        as_of: Annotated[datetime | None, strawberry.argument(description="a past time")] = None,
    ) -> CI | None:
        if as_of is not None:
            from impact.history import graph_as_of

            store = info.context.store
            graph = await anyio.to_thread.run_sync(lambda: graph_as_of(store, as_of),
                                                   limiter=info.context.analysis_slots)
            props = graph.cis.get(str(id))
            return ci_from_props(props, graph.at, graph) if props else None
        props = await info.context.loaders.ci.load(str(id))
        return ci_from_props(props) if props else None

    @strawberry.field(description=f"CIs ordered by id, {DEFAULT_PAGE} a page by default, at most {MAX_PAGE}")
    async def cis(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None, filter: CIFilter | None = None
    ) -> Connection[CI]:
        size = page_size(first)
        chosen = filter or CIFilter()
        filters = {
            "ci_class": chosen.ci_class.value if chosen.ci_class else None,
            "layer": chosen.layer.value if chosen.layer else None,
            "status": chosen.status.value if chosen.status else None,
            "environment": chosen.environment.value if chosen.environment else None,
            "criticality": chosen.criticality, "owner": chosen.owner, "name_contains": chosen.name_contains,
        }
        rows, has_next, total = await reads.ci_page(info.context.reader, filters, after_id(after), size)
        return _connection([ci_from_props(p) for p in rows], has_next, total)


def _merge_types(name: str, bases: tuple[type, ...], extra: dict[str, Any]) -> type:
    namespace = {**extra, "__annotations__": {}}
    return strawberry.type(type(name, bases, namespace), name=name)


Query = _merge_types(
    "Query", (CoreQuery, AnalysisQuery, NeighbourhoodQuery, KnowledgeQuery, ProcessQuery, AccessQuery),
    {k: v for label in RECORD_FIELD_NAMES for k, v in _record_query_fields(label).items()},
)


# --- mutations ------------------------------------------------------------------------------------

FIELD_ALIASES = {"class": "ciClass", "from": "source", "to": "target"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _document_errors(errors: list[Any], argument: str) -> ApiError:
    """Native-format errors, re-addressed as paths into the mutation's arguments."""
    problems = []
    for error in errors:
        location = error.location
        where = argument if location.index is None else f"{argument}[{location.index}]"
        if error.field:
            parts = error.field.split(".")
            parts[0] = FIELD_ALIASES.get(parts[0], _camel(parts[0]))
            where += "." + ".".join(parts)
        problems.append({"field": where, "message": error.message})
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:20])
    return ApiError(Code.VALIDATION, summary, fields=problems)


def _write_document(
    context: Context, document: dict[str, Any], argument: str,
    expected: dict[tuple[str, str], int] | None = None, must_be_new: set[tuple[str, str]] | None = None,
) -> None:
    """Validate and write a native-format document in one transaction, as `cmdb-graph load`
    does; runs in a worker thread (the store uses the synchronous driver)."""
    try:
        write_records(context.store, document, source="api", actor=context.actor, expected=expected,
                      must_be_new=must_be_new)
    except RecordError as error:
        raise _document_errors(error.errors, argument) from error


def _check_batch(items: list[Any], argument: str) -> None:
    if not items:
        raise validation_error(f"{argument}: give at least one item")
    if len(items) > MAX_BATCH:
        raise limit_error(f"{argument}: at most {MAX_BATCH} items a call (got {len(items)})")


def _ci_document_row(value: CIInput) -> dict[str, Any]:
    data = input_to_dict(value)
    data.pop("expected_version", None)
    data["id"] = stored_text(str(data["id"]))
    return {key: item for key, item in data.items() if item is not None}


@strawberry.type
class CoreMutation:
    @strawberry.mutation(name="upsertCIs", description="Create or replace CIs, all or nothing", permission_classes=[CanEdit])
    async def upsert_cis(self, info: Info[Context, None], input: list[CIInput]) -> list[CI]:
        _check_batch(input, "input")
        rows = [_ci_document_row(value) for value in input]
        expected = {
            (Label.CI.value, stored_text(str(value.id))): value.expected_version
            for value in input if value.expected_version not in (None, strawberry.UNSET)
        }
        await anyio.to_thread.run_sync(lambda: _write_document(info.context, {"cis": rows}, "input", expected))
        found = await reads.cis_by_id(info.context.reader, [row["id"] for row in rows])
        return [ci_from_props(found[row["id"]]) for row in rows]

    @strawberry.mutation(name="deleteCI", description="Delete a CI at the version you read; one others depend on needs force",
                         permission_classes=[CanEdit])
    async def delete_ci(
        self, info: Info[Context, None], id: strawberry.ID, expected_version: int, force: bool | None = False
    ) -> DeleteResult:
        await anyio.to_thread.run_sync(
            lambda: info.context.store.delete_ci(str(id), expected_version, info.context.actor, bool(force))
        )
        return DeleteResult(id=id, deleted=True)

    @strawberry.mutation(description="Create or update relationships, all or nothing", permission_classes=[CanEdit])
    async def upsert_relationships(self, info: Info[Context, None], input: list[RelationshipInput]) -> list[Relationship]:
        _check_batch(input, "input")
        rows = [
            {"from": stored_text(str(v.source)), "to": stored_text(str(v.target)), "type": v.type.value,
             "strength": v.strength.value}
            for v in input
        ]
        await anyio.to_thread.run_sync(lambda: _write_document(info.context, {"relationships": rows}, "input"))
        written = await reads.relationships_of(info.context.reader, sorted({r["from"] for r in rows}), True)
        wanted = {(r["from"], r["type"], r["to"]) for r in rows}
        return [
            relationship_from_row(row)
            for rows_of in written.values() for row in rows_of
            if (row["source"], row["type"], row["target"]) in wanted
        ]

    @strawberry.mutation(description="Delete one relationship (at the version you read, when given)",
                         permission_classes=[CanEdit])
    async def delete_relationship(
        # `source` is the permission extension's own parameter name, hence `source_id`
        self, info: Info[Context, None], source_id: Annotated[strawberry.ID, strawberry.argument(name="source")],
        target: strawberry.ID, type: RelationshipType, expected_version: int | None = None,  # type: ignore[valid-type]
    ) -> DeleteResult:
        rel_type = RelType(type.value if hasattr(type, "value") else type)
        key = relationship_key(str(source_id), rel_type, str(target))
        await anyio.to_thread.run_sync(
            lambda: info.context.store.delete_relationship(
                str(source_id), rel_type, str(target), expected_version, info.context.actor
            )
        )
        return DeleteResult(id=strawberry.ID(key), deleted=True)


def _with_severity(context: Context, incident: dict[str, Any]) -> None:
    """An incident recorded without a severity level gets the one the blast radius of its
    CIs gives, with the reason (unknown CIs are left to the document check to report)."""
    if incident.get("severity_level") is not None:
        return
    affected = sorted(context.store.existing_ids(Label.CI, incident.get("affects") or []))
    if affected:
        level, reason = incident_severity(context.store, affected)
        incident["severity_level"], incident["severity_reason"] = level.value, reason


def _with_deadlines(context: Context, incident: dict[str, Any], now: datetime) -> None:
    """An incident is recorded with the deadlines its SLAs promise at that moment."""
    try:
        model = Incident.model_validate(incident)
    except pydantic.ValidationError:
        return  # the document check reports it
    found = slas_of_incidents(context.store, {model.id: model.affects})
    deadlines = deadlines_for(model, *found[model.id], now)
    incident.setdefault("response_due", deadlines.response_due)
    incident.setdefault("resolution_due", deadlines.resolution_due)


def _rules(context: Context, label: Label, before: Any, data: dict[str, Any], now: datetime, argument: str) -> dict[str, list[dict]]:
    """The process rules for a write: the records to write with it, or a VALIDATION error on
    the field to fix."""
    try:
        return apply_rules(context.store, label, before, data, now)
    except RuleError as error:
        field = f"{argument}.{error.field}"
        raise validation_error(f"{field}: {error}", fields=[{"field": field, "message": str(error)}]) from error
    except pydantic.ValidationError:
        return {}  # the document check reports it, with the field


DECISIONS = {ChangeState.APPROVED, ChangeState.REJECTED}


def _check_decision(info: Info[Context, None], label: Label, before: Any, data: dict[str, Any]) -> None:
    """Approving or rejecting a change is the change manager's (or the CAB's, through
    them); a change the catalogue pre-approves needs no one. Checked before the process
    rules, so a refusal says FORBIDDEN rather than what the approval would lack, and again
    after them, once they have routed a standard change."""
    if label is not Label.CHANGE:
        return
    state, kind, route = (getattr(v, "value", v) for v in (data.get("state"), data.get("type"), data.get("approval_route")))
    wanted = ChangeState(state) if state else None
    if wanted not in DECISIONS or (before is not None and before.state is wanted):
        return
    if wanted is ChangeState.APPROVED and (route == PRE_APPROVED or (route is None and kind == ChangeType.STANDARD.value)):
        return  # the catalogue decides (a standard change not yet routed is routed by the rules)
    require(info, Role.CHANGE_MANAGER, f"moving a change to {wanted.value}")


def _record_mutation_fields(label: Label) -> dict[str, Any]:
    model = MODEL_BY_LABEL[label]
    section = next(s for s, m in RECORD_SECTIONS.items() if m is model)
    record_type = RECORD_TYPES[label]

    async def read_back(info: Info[Context, None], record_id: str) -> Any:
        found = await reads.records_by_id(info.context.reader, label, [record_id])
        return record_from_props(label, found[record_id])

    async def create(info: Info[Context, None], input: Any) -> Any:
        data = input_to_dict(input)
        data["id"] = stored_text(str(data["id"]))

        def write() -> None:
            now = datetime.now(timezone.utc)
            if label is Label.INCIDENT:
                _with_severity(info.context, data)
                _with_deadlines(info.context, data, now)
            _check_decision(info, label, None, data)
            extra = _rules(info.context, label, None, data, now, "input")
            _check_decision(info, label, None, data)
            _write_document(info.context, {section: [data], **extra}, "input", must_be_new={(label.value, data["id"])})

        await anyio.to_thread.run_sync(write)
        return await read_back(info, data["id"])

    async def update(info: Info[Context, None], id: strawberry.ID, expected_version: int, patch: Any) -> Any:
        changes = input_to_dict(patch)

        def write() -> None:
            current = info.context.store.get_record(model, str(id))
            if current is None:
                raise ApiError(Code.NOT_FOUND, f"no {label.value} with id {str(id)!r}")
            record, _version = current
            lifecycle = LIFECYCLES.get(label)
            if lifecycle is not None and changes.get(lifecycle[0]) is not None:
                try:
                    check_transition(label, getattr(record, lifecycle[0]), changes[lifecycle[0]])
                except TransitionError as error:
                    field = f"patch.{lifecycle[0]}"
                    raise validation_error(f"{field}: {error}", fields=[{"field": field, "message": str(error)}]) from error
            data = {**record.model_dump(mode="python"), **changes}
            _check_decision(info, label, record, data)
            extra = _rules(info.context, label, record, data, datetime.now(timezone.utc), "patch")
            _check_decision(info, label, record, data)
            _write_document(info.context, {section: [data], **extra}, "patch",
                            expected={(label.value, str(id)): expected_version})

        await anyio.to_thread.run_sync(write)
        return await read_back(info, str(id))

    create.__annotations__.update(input=RECORD_INPUTS[label], **{"return": record_type})
    update.__annotations__.update(patch=RECORD_PATCHES[label], **{"return": record_type})
    return {
        f"create_{RECORD_FIELD_NAMES[label][0]}": strawberry.mutation(
            resolver=create, description=f"Create a {label.value}", permission_classes=[CanEdit]),
        f"update_{RECORD_FIELD_NAMES[label][0]}": strawberry.mutation(
            resolver=update, description=f"Change fields of a {label.value} at the version you read",
            permission_classes=[CanEdit],
        ),
    }


Mutation = _merge_types(
    "Mutation", (CoreMutation, ProcessMutation, AccessMutation), {k: v for label in RECORD_FIELD_NAMES for k, v in _record_mutation_fields(label).items()}
)


# --- extensions: codes on every error, metrics, round trips -----------------------------------------

OPERATION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class Observability(SchemaExtension):
    """Gives every error a stable `extensions.code`, records request count and latency per
    operation, and reports the request's Neo4j round trips in `X-Neo4j-Round-Trips`."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        errors = list(context.pre_execution_errors or [])
        if context.result is not None and context.result.errors:
            context.result.errors = [with_code(e) for e in context.result.errors]
            errors = context.result.errors
        if context.pre_execution_errors:
            context.pre_execution_errors = [with_code(e) for e in context.pre_execution_errors]
        request_context = context.context
        if isinstance(request_context, Context):
            name = context.operation_name or "anonymous"
            if request_context.metrics is not None:
                request_context.metrics.observe(name if OPERATION_NAME.match(name) else "invalid_name",
                                "error" if errors else "ok", time.perf_counter() - started)
            if request_context.response is not None:
                request_context.response.headers["X-Neo4j-Round-Trips"] = str(request_context.reader.round_trips)


class CmdbSchema(strawberry.Schema):
    """Logs only unexpected errors with their traceback; client errors are the client's."""

    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        unexpected = [e for e in errors if with_code(e).extensions.get("code") == Code.INTERNAL.value]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema(max_depth: int = MAX_DEPTH, max_aliases: int = MAX_ALIASES, max_cost: int = MAX_COST) -> strawberry.Schema:
    # The limits are graphql-core validation rules. Their rule classes are built once here:
    # the validation cache is keyed by the rules, and a limiter built per request makes new
    # classes each time, so nothing was ever a hit (validation was a third of a `ci(id)`).
    limits = [*QueryDepthLimiter(max_depth=max_depth).validation_rules,
              *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules]
    return CmdbSchema(
        query=Query,
        mutation=Mutation,
        extensions=[
            # dashboards send the same few documents again and again: parse and validate each once
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            lambda: AddValidationRules(limits),
            cost_limit(max_cost, DEFAULT_PAGE),
            Observability,
        ],
    )


schema = build_schema()
