"""GraphQL fields for the analyses in `impact/`. Resolvers stay thin: they run the analysis (on
the synchronous driver, in a worker thread) and wrap its typed result; every CI an analysis
names resolves to the full `CI` through the request's DataLoader."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

import asyncio

import anyio
import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from cmdb_graph import model as m
from cmdb_graph.api.context import Context
from cmdb_graph.api.errors import validation_error
from cmdb_graph.api.types import (
    CI, RECORD_TYPES, CIInput, RelationshipType, Strength, ci_from_props, input_to_dict, record_from_props,
)
from cmdb_graph.model import Label
from impact import (
    bia, blast_radius, change_impact, continuity, dependencies, evidence, health, impact, impact_diff, observed,
    root_cause,
)
from impact.confidence import policy_from
from impact.topology import AnalysisError
from impact.what_if import EditOp, GraphEdit, parse_edits

T = TypeVar("T")

ImpactState = strawberry.enum(impact.State, name="ImpactState", description="DOWN, or DEGRADED (still up, impaired)")


@strawberry.enum(description="Who must approve a change")
class ApprovalRoute(Enum):
    PRE_APPROVED = "PRE_APPROVED"
    CAB = "CAB"
    EMERGENCY_CAB = "EMERGENCY_CAB"


async def _run(info: Info[Context, None], analysis: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    store = info.context.store
    return await anyio.to_thread.run_sync(lambda: analysis(store, *args, **kwargs), limiter=info.context.analysis_slots)


async def _one(info: Info[Context, None], ci_id: str) -> CI:
    return await info.context.loaders.ci_or_fail(ci_id)


async def _many(info: Info[Context, None], ids: list[str]) -> list[CI]:
    """The CIs, batched into the request's one CI lookup (a CI deleted meanwhile is left out)."""
    found = await info.context.loaders.ci.load_many(ids)
    return [ci_from_props(p) for p in found if p is not None]


Snapshots = dict[str, dict[str, Any]]


async def _seen(info: Info[Context, None], ci_id: str, snapshots: Snapshots) -> CI:
    """A CI as the graph asked about holds it (as of a past time, or added by what-if)."""
    props = snapshots.get(ci_id)
    return ci_from_props(props) if props is not None else await _one(info, ci_id)


async def _seen_many(info: Info[Context, None], ids: list[str], snapshots: Snapshots) -> list[CI]:
    if not snapshots:
        return await _many(info, ids)
    return list(await asyncio.gather(*(_seen(info, i, snapshots) for i in ids)))


# --- as of, what-if, confidence -----------------------------------------------------------------


EditOperation = strawberry.enum(EditOp, name="GraphEditOperation", description="What a hypothetical edit does")


@strawberry.input(description="A hypothetical edit, applied in memory for one answer and written nowhere. "
                              "ADD_CI: ci. RETIRE_CI: id (the CI and its relationships go). ADD_RELATIONSHIP, "
                              "REMOVE_RELATIONSHIP: source, target, type, strength. SET_GROUP_SIZE: id with "
                              "minMembers and/or members (named members included; more adds unnamed ones).")
class GraphEditInput:
    op: EditOperation  # type: ignore[valid-type]
    ci: CIInput | None = None
    id: strawberry.ID | None = None
    source: strawberry.ID | None = None
    target: strawberry.ID | None = None
    type: RelationshipType = m.RelType.DEPENDS_ON  # type: ignore[valid-type]
    strength: Strength = m.Strength.HARD  # type: ignore[valid-type]
    min_members: int | None = None
    members: int | None = None


def _edits(values: list[GraphEditInput] | None) -> list[GraphEdit]:
    """The edits, refused as VALIDATION with each bad field's position (`whatIf[1].ci.class`)."""
    if not values:
        return []
    raw = []
    for value in values:
        ci = None
        if value.ci is not None:
            ci = {k: v for k, v in input_to_dict(value.ci).items() if v is not None and k != "expected_version"}
            ci["class"] = ci.pop("ci_class")
        raw.append({"op": EditOp(value.op.value if isinstance(value.op, Enum) else value.op), "ci": ci,
                    "id": value.id, "source": value.source, "target": value.target,
                    "type": value.type, "strength": value.strength, "min_members": value.min_members,
                    "members": value.members})
    try:
        return parse_edits(raw)
    except AnalysisError as error:
        raise validation_error(str(error)) from error


@strawberry.type(description="The least trusted relationship on an impacted CI's best path")
class WeakestLink:
    source_id: strawberry.Private[str]
    target_id: strawberry.Private[str]
    snapshots: strawberry.Private[Snapshots]
    type: RelationshipType  # type: ignore[valid-type]
    confidence: float

    @strawberry.field(description="The CI that needs the target")
    async def source(self, info: Info[Context, None]) -> CI:
        return await _seen(info, self.source_id, self.snapshots)

    @strawberry.field
    async def target(self, info: Info[Context, None]) -> CI:
        return await _seen(info, self.target_id, self.snapshots)


# --- shared pieces ---------------------------------------------------------------------------------


@strawberry.type(description="The strictest SLA covering a service")
class SlaSummary:
    id: strawberry.ID
    availability_target: float
    response_minutes: int | None
    resolution_minutes: int | None


def _sla(value: impact.SlaRef | None) -> SlaSummary | None:
    return SlaSummary(id=strawberry.ID(value.id), availability_target=value.availability_target,
                      response_minutes=value.response_minutes, resolution_minutes=value.resolution_minutes) if value else None


@strawberry.type(description="An impacted CI, with one shortest chain to a failed CI")
class ImpactedCI:
    ci_id: strawberry.Private[str]
    path_ids: strawberry.Private[list[str]]
    snapshots: strawberry.Private[Snapshots]
    state: ImpactState  # type: ignore[valid-type]
    distance: int
    confidence: float | None = strawberry.field(
        default=None, description="0-1: how far the best path from this CI to a failure is to be believed, its "
                                  "weakest relationship's confidence (source trust and age); impact only")
    weakest_link: WeakestLink | None = None

    @strawberry.field
    async def ci(self, info: Info[Context, None]) -> CI:
        return await _seen(info, self.ci_id, self.snapshots)

    @strawberry.field(description="From this CI to a failed one, both included")
    async def path(self, info: Info[Context, None]) -> list[CI]:
        return await _seen_many(info, self.path_ids, self.snapshots)


def _weakest(link: impact.WeakestLink | None, snapshots: Snapshots) -> WeakestLink | None:
    if link is None:
        return None
    return WeakestLink(source_id=link.source, target_id=link.target, snapshots=snapshots, type=link.type,
                       confidence=link.confidence)


def _impacted(rows: list[impact.ImpactedCI], snapshots: Snapshots | None = None) -> list[ImpactedCI]:
    seen = snapshots or {}
    return [ImpactedCI(ci_id=r.ci.id, path_ids=r.path, snapshots=seen, state=r.state, distance=r.distance,
                       confidence=r.confidence, weakest_link=_weakest(r.weakest_link, seen)) for r in rows]


@strawberry.type(description="A business service that goes down or degrades")
class ServiceImpact:
    ci_id: strawberry.Private[str]
    snapshots: strawberry.Private[Snapshots]
    state: ImpactState  # type: ignore[valid-type]
    criticality: int | None
    sla: SlaSummary | None
    confidence: float | None = strawberry.field(default=None, description="as on ImpactedCI")

    @strawberry.field
    async def ci(self, info: Info[Context, None]) -> CI:
        return await _seen(info, self.ci_id, self.snapshots)


def _services(rows: list[impact.ServiceImpact], snapshots: Snapshots | None = None) -> list[ServiceImpact]:
    return [ServiceImpact(ci_id=r.ci.id, snapshots=snapshots or {}, state=r.state, criticality=r.criticality,
                          sla=_sla(r.sla), confidence=r.confidence) for r in rows]


@strawberry.type(description="A record named as evidence: an incident, change or problem")
class RecordRef:
    id: strawberry.ID
    title: str
    status: str | None
    at: datetime | None


@strawberry.type(description="What the records say about a CI")
class Evidence:
    open_incidents: list[RecordRef]
    recent_changes: list[RecordRef]
    open_problems: list[RecordRef]
    known_errors: list[RecordRef]


def _refs(rows: list[evidence.RecordRef]) -> list[RecordRef]:
    return [RecordRef(id=strawberry.ID(r.id), title=r.title, status=r.status, at=r.at) for r in rows]


def _evidence(value: evidence.Evidence) -> Evidence:
    return Evidence(open_incidents=_refs(value.open_incidents), recent_changes=_refs(value.recent_changes),
                    open_problems=_refs(value.open_problems), known_errors=_refs(value.known_errors))


# --- impact, dependencies, blast radius ---------------------------------------------------------------


@strawberry.type(description="What goes down or degrades when the failed CIs fail")
class Impact:
    failed_ids: strawberry.Private[list[str]]
    snapshots: strawberry.Private[Snapshots]
    impacted: list[ImpactedCI]
    business_services: list[ServiceImpact]
    counts_by_class: JSON
    counts_by_layer: JSON
    max_depth: int | None
    relationship_types: list[RelationshipType]  # type: ignore[valid-type]
    as_of: datetime | None = strawberry.field(description="The time whose graph answered; null: now")
    what_if: int = strawberry.field(description="How many hypothetical edits the answer assumes")
    min_confidence: float | None

    @strawberry.field
    async def failed(self, info: Info[Context, None]) -> list[CI]:
        return await _seen_many(info, self.failed_ids, self.snapshots)

    @strawberry.field(description="The severity level of the failed CIs failing together, by the rules blastRadius "
                                  "applies to one CI")
    async def severity(self, info: Info[Context, None], expected_recovery_hours: float | None = None) -> FailureSeverity:
        r = await _run(info, blast_radius.analyse_failure_severity, self.failed_ids, expected_recovery_hours)
        return FailureSeverity(
            level=r.severity_level, reason=r.reason, core_services_total=r.core_services_total,
            core_services_down=r.core_services_down, core_services_down_share=r.core_services_down_share,
            expected_recovery_hours=r.expected_recovery_hours, recovery_hours_from=r.recovery_hours_from,
        )


def _impact(result: impact.Impact) -> Impact:
    seen = result.snapshots
    return Impact(
        failed_ids=result.failed, snapshots=seen, impacted=_impacted(result.impacted, seen),
        business_services=_services(result.business_services, seen), counts_by_class=result.counts_by_class,
        counts_by_layer=result.counts_by_layer, max_depth=result.max_depth,
        relationship_types=result.relationship_types, as_of=result.as_of, what_if=result.what_if,
        min_confidence=result.min_confidence,
    )


@strawberry.type(description="A CI whose state differs between the graph as it is and with the edits")
class ImpactChange:
    ci_id: strawberry.Private[str]
    snapshots: strawberry.Private[Snapshots]
    before: ImpactState | None  # type: ignore[valid-type]
    after: ImpactState | None  # type: ignore[valid-type]
    distance_before: int | None
    distance_after: int | None

    @strawberry.field
    async def ci(self, info: Info[Context, None]) -> CI:
        return await _seen(info, self.ci_id, self.snapshots)


@strawberry.type(description="impact without and with hypothetical edits, side by side, and what differs")
class ImpactDiff:
    before: Impact
    after: Impact
    cis: list[ImpactChange] = strawberry.field(description="Every CI whose state differs, worst change first")
    business_services: list[ImpactChange]
    newly_impacted: int
    no_longer_impacted: int
    state_changed: int


def _changes(rows: list[impact_diff.ImpactChange], snapshots: Snapshots) -> list[ImpactChange]:
    return [ImpactChange(ci_id=r.ci.id, snapshots=snapshots, before=r.before, after=r.after,
                         distance_before=r.distance_before, distance_after=r.distance_after) for r in rows]


@strawberry.type(description="How severe a failure is: the level and the rule that decided it")
class FailureSeverity:
    level: m.SeverityLevel
    reason: str
    core_services_total: int
    core_services_down: int
    core_services_down_share: float
    expected_recovery_hours: float | None
    recovery_hours_from: str


@strawberry.type(description="Something a CI needs, transitively, with what the records say about it")
class Dependency:
    ci_id: strawberry.Private[str]
    path_ids: strawberry.Private[list[str]]
    snapshots: strawberry.Private[Snapshots]
    distance: int
    open_incidents: list[RecordRef]
    recent_changes: list[RecordRef]
    open_problems: list[RecordRef]
    known_errors: list[RecordRef]

    @strawberry.field
    async def ci(self, info: Info[Context, None]) -> CI:
        return await _seen(info, self.ci_id, self.snapshots)

    @strawberry.field(description="From the CI asked about to this dependency, both included")
    async def path(self, info: Info[Context, None]) -> list[CI]:
        return await _seen_many(info, self.path_ids, self.snapshots)


@strawberry.type(description="impact of one CI, summarised with the severity level of the event")
class BlastRadius:
    failed_id: strawberry.Private[str]
    impacted_count: int
    down_count: int
    business_services: list[ServiceImpact]
    core_services_total: int
    core_services_down: int
    core_services_down_share: float
    expected_recovery_hours: float | None
    recovery_hours_from: str
    severity_level: m.SeverityLevel
    reason: str

    @strawberry.field
    async def failed(self, info: Info[Context, None]) -> CI:
        return await _one(info, self.failed_id)


# --- root cause -----------------------------------------------------------------------------------


@strawberry.type(description="A CI whose failure would explain the symptoms, scored 0-100")
class RootCauseCandidate:
    ci_id: strawberry.Private[str]
    explained_ids: strawberry.Private[list[str]]
    unexplained_ids: strawberry.Private[list[str]]
    cause_set_ids: strawberry.Private[list[str] | None]
    score: float
    coverage: float
    precision: float
    evidence_score: float
    predicted_but_not_observed: int
    evidence: Evidence
    explanation: str

    @strawberry.field
    async def ci(self, info: Info[Context, None]) -> CI:
        return await _one(info, self.ci_id)

    @strawberry.field(description="The symptoms this CI's failure explains")
    async def explained(self, info: Info[Context, None]) -> list[CI]:
        return await _many(info, self.explained_ids)

    @strawberry.field
    async def unexplained(self, info: Info[Context, None]) -> list[CI]:
        return await _many(info, self.unexplained_ids)

    @strawberry.field(description="When this CI alone does not explain every symptom: it and the fewest others "
                                  "found that together do")
    async def cause_set(self, info: Info[Context, None]) -> list[CI] | None:
        return None if self.cause_set_ids is None else await _many(info, self.cause_set_ids)


# --- change impact ----------------------------------------------------------------------------------


@strawberry.type
class TimeWindow:
    start: datetime
    end: datetime
    minutes: float


@strawberry.type(description="One part of a change's risk score: weight x value (0-1)")
class RiskFactor:
    name: str
    weight: float
    value: float
    contribution: float
    reason: str


async def _change(info: Info[Context, None], change_id: str) -> Any:
    props = await info.context.loaders.records(Label.CHANGE).load(change_id)
    return record_from_props(Label.CHANGE, props) if props else None


@strawberry.type(description="Another change whose window overlaps and whose effect meets this one's")
class ChangeConflict:
    change_id: strawberry.Private[str]
    shared_ids: strawberry.Private[list[str]]
    joint_ids: strawberry.Private[list[str]]
    overlap: TimeWindow
    reason: str

    @strawberry.field
    async def change(self, info: Info[Context, None]) -> RECORD_TYPES[Label.CHANGE]:  # type: ignore[valid-type]
        return await _change(info, self.change_id)

    @strawberry.field(description="CIs both changes impact, and those only their combination takes down")
    async def shared_impact(self, info: Info[Context, None]) -> list[CI]:
        return await _many(info, self.shared_ids)

    @strawberry.field(description="CIs down only when both changes run together")
    async def jointly_down(self, info: Info[Context, None]) -> list[CI]:
        return await _many(info, self.joint_ids)


@strawberry.type(description="What a change puts at risk, its approval route and its collisions")
class ChangeImpact:
    change_id: strawberry.Private[str]
    target_ids: strawberry.Private[list[str]]
    window: TimeWindow | None
    impacted: list[ImpactedCI]
    business_services: list[ServiceImpact]
    risk_score: float
    risk_factors: list[RiskFactor]
    approval_route: ApprovalRoute
    approval_reason: str
    outside_maintenance_window: bool
    targets_without_maintenance_window: list[strawberry.ID]
    in_blackout: bool
    blackouts: list[strawberry.ID]
    conflicts: list[ChangeConflict]
    what_if: int = strawberry.field(description="How many hypothetical edits the answer assumes")

    @strawberry.field
    async def change(self, info: Info[Context, None]) -> RECORD_TYPES[Label.CHANGE]:  # type: ignore[valid-type]
        return await _change(info, self.change_id)

    @strawberry.field
    async def targets(self, info: Info[Context, None]) -> list[CI]:
        return await _many(info, self.target_ids)


def _window(value: change_impact.TimeWindow | None) -> TimeWindow | None:
    return TimeWindow(start=value.start, end=value.end, minutes=value.minutes) if value else None


# --- continuity, BIA ----------------------------------------------------------------------------------


@strawberry.type(description="A CI the service cannot lose that recovers slower than the service's RTO allows")
class RtoViolation:
    ci_id: strawberry.Private[str]
    path_ids: strawberry.Private[list[str]]
    rto_minutes: int
    service_rto_minutes: int

    @strawberry.field
    async def ci(self, info: Info[Context, None]) -> CI:
        return await _one(info, self.ci_id)

    @strawberry.field(description="From the service to the CI")
    async def path(self, info: Info[Context, None]) -> list[CI]:
        return await _many(info, self.path_ids)


@strawberry.type(description="A data store behind the service with a weaker RPO than the service's")
class RpoViolation:
    ci_id: strawberry.Private[str]
    path_ids: strawberry.Private[list[str]]
    rpo_minutes: int
    service_rpo_minutes: int

    @strawberry.field
    async def ci(self, info: Info[Context, None]) -> CI:
        return await _one(info, self.ci_id)

    @strawberry.field(description="From the service to the data store")
    async def path(self, info: Info[Context, None]) -> list[CI]:
        return await _many(info, self.path_ids)


@strawberry.type(description="How a service survives the loss of what it needs")
class Continuity:
    service_id: strawberry.Private[str]
    spof_ids: strawberry.Private[list[str]]
    cut_ids: strawberry.Private[list[list[str]]]
    dependencies_count: int
    rto_violations: list[RtoViolation]
    rpo_violations: list[RpoViolation]
    availability: float | None = strawberry.field(description="Estimated from the availabilities of what it needs")
    availability_low: float | None
    availability_high: float | None
    availability_error_bound: float | None
    availability_method: str
    availability_components: int
    sla_target: float | None
    meets_sla: bool | None
    sla_verdict: str

    @strawberry.field
    async def service(self, info: Info[Context, None]) -> CI:
        return await _one(info, self.service_id)

    @strawberry.field(description="CIs whose failure alone takes the service down")
    async def single_points_of_failure(self, info: Info[Context, None]) -> list[CI]:
        return await _many(info, self.spof_ids)

    @strawberry.field(description="Smallest sets of CIs whose joint failure takes the service down (1 to 3)")
    async def minimal_cut_sets(self, info: Info[Context, None], max_size: int = 2) -> list[list[CI]]:
        cuts = [c for c in self.cut_ids if len(c) <= max_size] if max_size in (1, 2) else None
        if cuts is None:  # 3, or out of range: the analysis answers (or says why not)
            result = await _run(info, continuity.analyse_continuity, self.service_id, max_size)
            cuts = [[c.id for c in cut] for cut in result.minimal_cut_sets]
        return list(await asyncio.gather(*(_many(info, cut) for cut in cuts)))


@strawberry.type
class BiaPart:
    name: str
    weight: float
    raw: float | None
    value: float
    contribution: float


@strawberry.type(description="A business service's place in the BIA ranking, with the parts of its score")
class BiaEntry:
    ci_id: strawberry.Private[str]
    spof_ids: strawberry.Private[list[str]]
    rank: int
    score: float
    parts: list[BiaPart]
    sla_target: float | None
    dependents_count: int
    dependencies_count: int

    @strawberry.field
    async def ci(self, info: Info[Context, None]) -> CI:
        return await _one(info, self.ci_id)

    @strawberry.field
    async def single_points_of_failure(self, info: Info[Context, None]) -> list[CI]:
        return await _many(info, self.spof_ids)


# --- CMDB health -------------------------------------------------------------------------------------


@strawberry.type
class StaleCI:
    ci_id: strawberry.Private[str]
    source: str | None
    last_seen: datetime | None
    days_unseen: float | None

    @strawberry.field
    async def ci(self, info: Info[Context, None]) -> CI:
        return await _one(info, self.ci_id)


@strawberry.type
class MissingAttributes:
    ci_class: m.CIClass
    attribute: str
    count: int
    ci_ids: list[strawberry.ID]


@strawberry.type
class DuplicateCandidate:
    key: str
    value: str
    ci_ids: list[strawberry.ID]
    sources: list[str]


@strawberry.type
class UnmanagedCI:
    ci_id: strawberry.Private[str]
    reasons: list[str]

    @strawberry.field
    async def ci(self, info: Info[Context, None]) -> CI:
        return await _one(info, self.ci_id)


@strawberry.type
class GroupProblem:
    ci_id: strawberry.ID
    min_members: int
    members: int


@strawberry.type(description="A call traces showed that the CMDB does not declare")
class UndeclaredDependency:
    caller_id: strawberry.Private[str | None]
    callee_id: strawberry.Private[str | None]
    kind: str = strawberry.field(description="service, or database")
    caller: str = strawberry.field(description="the calling service's name in the traces (service.name)")
    callee: str = strawberry.field(description="the called service's or database's name in the traces")
    calls: int
    errors: int
    first_seen: datetime
    last_seen: datetime
    declared_indirectly: bool = strawberry.field(
        description="the callee's CI is reachable from the caller's through other CIs (a member of a group the "
                    "caller declares, say): the CMDB names another CI than the one called")
    reason: str

    @strawberry.field(description="The CI the caller's name resolves to; null when none, or more than one, does")
    async def caller_ci(self, info: Info[Context, None]) -> CI | None:
        return await _one(info, self.caller_id) if self.caller_id else None

    @strawberry.field(description="The CI the callee's name resolves to; null when none, or more than one, does")
    async def callee_ci(self, info: Info[Context, None]) -> CI | None:
        return await _one(info, self.callee_id) if self.callee_id else None


@strawberry.type(description="A DEPENDS_ON of an instrumented CI that traces have not shown for a while")
class UnobservedDependency:
    source_id: strawberry.Private[str]
    target_id: strawberry.Private[str]
    strength: Strength  # type: ignore[valid-type]
    data_source: str | None = strawberry.field(description="who declared it")
    observed_at: datetime | None = strawberry.field(description="the last call traces showed; null: never")
    days_unobserved: float | None
    source_traced_at: datetime = strawberry.field(description="the dependent CI's last span: it is instrumented")

    @strawberry.field(description="The dependent CI")
    async def source(self, info: Info[Context, None]) -> CI:
        return await _one(info, self.source_id)

    @strawberry.field
    async def target(self, info: Info[Context, None]) -> CI:
        return await _one(info, self.target_id)


@strawberry.type(description="How far the CMDB can be trusted")
class CmdbHealth:
    orphan_ids: strawberry.Private[list[str]]
    ci_count: int
    relationship_count: int
    stale: list[StaleCI]
    stale_days: float
    missing_attributes: list[MissingAttributes]
    duplicate_candidates: list[DuplicateCandidate]
    cycles: list[list[strawberry.ID]]
    unmanaged: list[UnmanagedCI]
    managed_share: float | None = strawberry.field(description="Share of servers and network devices under management")
    managed_count: int
    manageable_count: int
    group_problems: list[GroupProblem]

    @strawberry.field(description="CIs with no relationship to any other CI")
    async def orphans(self, info: Info[Context, None]) -> list[CI]:
        return await _many(info, self.orphan_ids)

    @strawberry.field(description="Calls traces showed (cmdb-graph import traces) with no DEPENDS_ON declared from "
                                  "the caller's CI to the callee's, or to a name no CI answers to; most calls first")
    async def undeclared_dependencies(self, info: Info[Context, None]) -> list[UndeclaredDependency]:
        rows = await _run(info, observed.undeclared_dependencies)
        return [UndeclaredDependency(
            caller_id=r.caller_ci.id if r.caller_ci else None, callee_id=r.callee_ci.id if r.callee_ci else None,
            kind=r.kind, caller=r.caller, callee=r.callee, calls=r.calls, errors=r.errors, first_seen=r.first_seen,
            last_seen=r.last_seen, declared_indirectly=r.declared_indirectly, reason=r.reason) for r in rows]

    @strawberry.field(description="DEPENDS_ON relationships of instrumented CIs, to an application, a database, a "
                                  "group of them or an instrumented CI, that no traced call confirmed in the last "
                                  "unobservedDays (default: the traces_unobserved_days setting)")
    async def unobserved_dependencies(
        self, info: Info[Context, None], unobserved_days: float | None = None,
    ) -> list[UnobservedDependency]:
        days = info.context.settings.traces_unobserved_days if unobserved_days is None else unobserved_days
        rows = await _run(info, observed.unobserved_dependencies, days)
        return [UnobservedDependency(
            source_id=r.source.id, target_id=r.target.id, strength=r.strength, data_source=r.data_source,
            observed_at=r.observed_at, days_unobserved=r.days_unobserved, source_traced_at=r.source_traced_at)
            for r in rows]


# --- the query fields --------------------------------------------------------------------------------


def _types(values: list[Any] | None) -> list[m.RelType] | None:
    return [m.RelType(v.value if hasattr(v, "value") else v) for v in values] if values else None


@strawberry.type
class AnalysisQuery:
    @strawberry.field(description="What goes down or degrades when the given CIs fail")
    async def impact(
        self, info: Info[Context, None], failed: list[strawberry.ID], max_depth: int | None = None,
        relationship_types: list[RelationshipType] | None = None,  # type: ignore[valid-type]
        as_of: Annotated[datetime | None, strawberry.argument(description="answer on the graph as it was then, rebuilt from the audit trail")] = None,
        what_if: Annotated[list[GraphEditInput] | None, strawberry.argument(description="hypothetical edits, applied in order in memory; nothing is written")] = None,
        min_confidence: Annotated[float | None, strawberry.argument(description="leave out impacted CIs whose best path's confidence is below this (0-1)")] = None,
    ) -> Impact:
        result = await _run(info, impact.analyse_impact, [str(f) for f in failed], max_depth, _types(relationship_types),
                            as_of=as_of, what_if=_edits(what_if), min_confidence=min_confidence,
                            policy=policy_from(info.context.settings))
        return _impact(result)

    @strawberry.field(description="impact without and with hypothetical edits, side by side; nothing is written")
    async def impact_diff(
        self, info: Info[Context, None], failed: list[strawberry.ID], what_if: list[GraphEditInput],
        max_depth: int | None = None,
        relationship_types: list[RelationshipType] | None = None,  # type: ignore[valid-type]
        as_of: datetime | None = None,
    ) -> ImpactDiff:
        r = await _run(info, impact_diff.analyse_impact_diff, [str(f) for f in failed], _edits(what_if), max_depth,
                       _types(relationship_types), as_of=as_of, policy=policy_from(info.context.settings))
        seen = r.after.snapshots
        return ImpactDiff(before=_impact(r.before), after=_impact(r.after), cis=_changes(r.cis, seen),
                          business_services=_changes(r.business_services, seen), newly_impacted=r.newly_impacted,
                          no_longer_impacted=r.no_longer_impacted, state_changed=r.state_changed)

    @strawberry.field(description="What a CI needs, transitively, nearest first, with open incidents, recent "
                                  "changes, open problems and known errors on each")
    async def dependencies(
        self, info: Info[Context, None], id: strawberry.ID, max_depth: int | None = None, change_window_days: float = 30,
        as_of: Annotated[datetime | None, strawberry.argument(description="answer on the graph as it was then; changes in the window before it")] = None,
    ) -> list[Dependency]:
        rows, seen = await _run(info, dependencies.dependencies_and_snapshots, str(id), max_depth, change_window_days,
                                None, as_of)
        return [Dependency(ci_id=r.ci.id, path_ids=r.path, snapshots=seen, distance=r.distance,
                           open_incidents=_refs(r.evidence.open_incidents), recent_changes=_refs(r.evidence.recent_changes),
                           open_problems=_refs(r.evidence.open_problems), known_errors=_refs(r.evidence.known_errors))
                for r in rows]

    @strawberry.field(description="impact of one CI's failure, summarised, with the severity level of the event")
    async def blast_radius(
        self, info: Info[Context, None], id: strawberry.ID, expected_recovery_hours: float | None = None,
    ) -> BlastRadius:
        r = await _run(info, blast_radius.analyse_blast_radius, str(id), expected_recovery_hours)
        return BlastRadius(
            failed_id=r.failed, impacted_count=r.impacted_count, down_count=r.down_count,
            business_services=_services(r.business_services), core_services_total=r.core_services_total,
            core_services_down=r.core_services_down, core_services_down_share=r.core_services_down_share,
            expected_recovery_hours=r.expected_recovery_hours, recovery_hours_from=r.recovery_hours_from,
            severity_level=r.severity_level, reason=r.reason,
        )

    @strawberry.field(description="CIs whose single failure best explains the symptoms, best first")
    async def root_cause(
        self, info: Info[Context, None], symptoms: list[strawberry.ID], top: int = 5, since: datetime | None = None,
    ) -> list[RootCauseCandidate]:
        rows = await _run(info, root_cause.analyse_root_cause, [str(s) for s in symptoms], top, since)
        return [RootCauseCandidate(
            ci_id=r.ci.id, explained_ids=r.explained, unexplained_ids=r.unexplained,
            cause_set_ids=[c.id for c in r.cause_set] if r.cause_set else None, score=r.score, coverage=r.coverage,
            precision=r.precision, evidence_score=r.evidence_score, predicted_but_not_observed=r.predicted_but_not_observed,
            evidence=_evidence(r.evidence), explanation=r.explanation,
        ) for r in rows]

    @strawberry.field(description="What a change puts at risk, its approval route and the changes it collides with")
    async def change_impact(
        self, info: Info[Context, None], change_id: strawberry.ID,
        what_if: Annotated[list[GraphEditInput] | None, strawberry.argument(description="hypothetical edits (a migration plan, say), applied in memory; nothing is written")] = None,
    ) -> ChangeImpact:
        r = await _run(info, change_impact.analyse_change_impact, str(change_id), _edits(what_if))
        return ChangeImpact(
            change_id=r.change_id, target_ids=r.targets, window=_window(r.window),
            impacted=_impacted(r.impacted, r.snapshots), what_if=r.what_if,
            business_services=_services(r.business_services, r.snapshots), risk_score=r.risk_score,
            risk_factors=[RiskFactor(**f.model_dump()) for f in r.risk_factors],
            approval_route=ApprovalRoute(r.approval_route), approval_reason=r.approval_reason,
            outside_maintenance_window=r.outside_maintenance_window,
            targets_without_maintenance_window=[strawberry.ID(t) for t in r.targets_without_maintenance_window],
            in_blackout=r.in_blackout, blackouts=[strawberry.ID(b) for b in r.blackouts],
            conflicts=[ChangeConflict(change_id=c.change_id, shared_ids=[x.id for x in c.shared_impact],
                                      joint_ids=[x.id for x in c.jointly_down], overlap=_window(c.overlap), reason=c.reason)
                       for c in r.conflicts],
        )

    @strawberry.field(description="Single points of failure, cut sets, RTO/RPO violations and availability of a service")
    async def continuity(self, info: Info[Context, None], service_id: strawberry.ID) -> Continuity:
        r = await _run(info, continuity.analyse_continuity, str(service_id), 2)
        a = r.availability
        return Continuity(
            service_id=r.service.id, spof_ids=[c.id for c in r.single_points_of_failure],
            cut_ids=[[c.id for c in cut] for cut in r.minimal_cut_sets], dependencies_count=r.dependencies_count,
            rto_violations=[RtoViolation(ci_id=v.ci.id, path_ids=v.path, rto_minutes=v.rto_minutes,
                                         service_rto_minutes=v.service_rto_minutes) for v in r.rto_violations],
            rpo_violations=[RpoViolation(ci_id=v.ci.id, path_ids=v.path, rpo_minutes=v.rpo_minutes,
                                         service_rpo_minutes=v.service_rpo_minutes) for v in r.rpo_violations],
            availability=a.estimate, availability_low=a.low, availability_high=a.high,
            availability_error_bound=a.error_bound, availability_method=a.method, availability_components=a.components,
            sla_target=r.sla_target, meets_sla=r.meets_sla, sla_verdict=r.sla_verdict,
        )

    @strawberry.field(description="Business services ranked by a documented BIA score, with its parts")
    async def bia_ranking(self, info: Info[Context, None], first: int | None = None) -> list[BiaEntry]:
        rows = await _run(info, bia.analyse_bia, first)
        return [BiaEntry(ci_id=e.ci.id, spof_ids=e.single_points_of_failure, rank=e.rank, score=e.score,
                         parts=[BiaPart(**p.model_dump()) for p in e.parts], sla_target=e.sla_target,
                         dependents_count=e.dependents_count, dependencies_count=e.dependencies_count) for e in rows]

    @strawberry.field(description="Orphans, stale items, missing attributes, duplicates, cycles, unmanaged devices")
    async def cmdb_health(self, info: Info[Context, None], stale_days: float = 30) -> CmdbHealth:
        r = await _run(info, health.analyse_health, stale_days)
        return CmdbHealth(
            orphan_ids=[c.id for c in r.orphans], ci_count=r.ci_count, relationship_count=r.relationship_count,
            stale=[StaleCI(ci_id=s.ci.id, source=s.source, last_seen=s.last_seen, days_unseen=s.days_unseen) for s in r.stale],
            stale_days=r.stale_days,
            missing_attributes=[MissingAttributes(ci_class=x.ci_class, attribute=x.attribute, count=x.count,
                                                  ci_ids=[strawberry.ID(c) for c in x.cis]) for x in r.missing_attributes],
            duplicate_candidates=[DuplicateCandidate(key=d.key, value=d.value, ci_ids=[strawberry.ID(c) for c in d.cis],
                                                     sources=d.sources) for d in r.duplicate_candidates],
            cycles=[[strawberry.ID(c) for c in cycle] for cycle in r.cycles],
            unmanaged=[UnmanagedCI(ci_id=u.ci.id, reasons=u.reasons) for u in r.unmanaged],
            managed_share=r.managed_share, managed_count=r.managed_count, manageable_count=r.manageable_count,
            group_problems=[GroupProblem(ci_id=strawberry.ID(g.ci.id), min_members=g.min_members, members=g.members)
                            for g in r.group_problems],
        )
