"""impact(F): what goes down or degrades when the CIs in F fail, how far each is from a
failure, one shortest chain explaining it, and which business services suffer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from cmdb_graph.model import CIClass, RelType
from cmdb_graph.store import NotFoundError, Store
from impact.confidence import ConfidencePolicy, path_confidences
from impact.graph_view import GraphView, graph_view
from impact.propagation import Propagation, chains_to, propagate
from impact.topology import AnalysisError, CIRef, Topology
from impact.what_if import GraphEdit, edited


class State(str, Enum):
    DOWN = "DOWN"
    DEGRADED = "DEGRADED"


class SlaRef(BaseModel):
    id: str
    availability_target: float
    response_minutes: int | None = None
    resolution_minutes: int | None = None


class WeakestLink(BaseModel):
    """The least trusted relationship on an impacted CI's best path: `source` needs `target`."""

    source: str
    type: RelType
    target: str
    confidence: float


class ImpactedCI(BaseModel):
    ci: CIRef
    state: State
    distance: int
    path: list[str]  # from this CI to a failed one, both included
    confidence: float | None = None  # of the best path to a failed CI (impact/confidence.py)
    weakest_link: WeakestLink | None = None


class ServiceImpact(BaseModel):
    ci: CIRef
    state: State
    criticality: int | None
    sla: SlaRef | None
    confidence: float | None = None


class Impact(BaseModel):
    failed: list[str]
    impacted: list[ImpactedCI]
    business_services: list[ServiceImpact]
    counts_by_class: dict[str, int]
    counts_by_layer: dict[str, int]
    max_depth: int | None
    relationship_types: list[RelType]
    as_of: datetime | None = None
    what_if: int = 0  # hypothetical edits applied
    min_confidence: float | None = None
    # CIs as the graph asked about holds them (as of a past time, or added by what-if), for
    # a reader that would otherwise look them up as stored now
    snapshots: dict[str, dict[str, Any]] = Field(default_factory=dict, exclude=True)


SLAS_OF_SERVICES = """
UNWIND $ids AS id
MATCH (s:SLA)-[:COVERS]->(:CI {id: id})
WITH id, s ORDER BY s.availability_target DESC, s.id
RETURN collect({service: id, id: s.id, availability_target: s.availability_target,
                response_minutes: s.response_minutes, resolution_minutes: s.resolution_minutes}) AS slas
"""


def slas_of(store: Store, service_ids: Sequence[str]) -> dict[str, SlaRef]:
    """The strictest SLA covering each service."""
    found: dict[str, SlaRef] = {}
    for row in store.rows(SLAS_OF_SERVICES, ids=list(service_ids))[0]["slas"]:
        found.setdefault(row.pop("service"), SlaRef(**row))
    return found


def states_given(region: Topology, failed: Sequence[str], max_depth: int | None = None) -> tuple[Propagation, dict[str, int], dict[str, list[str]]]:
    """The propagation of one failure set over `region`, limited to `max_depth` hops, with
    each impacted CI's distance and path."""
    chains = chains_to(region, failed, max_depth)
    # without a depth limit every CI of the region is reached: no need for a narrower copy
    scope = region if len(chains.distance) == len(region.nodes) else region.only(chains.distance)
    outcome = propagate(scope, {f: 1 for f in failed})
    reached = [ci_id for ci_id, bits in outcome.impacted.items() if bits & 1]
    return outcome, {c: chains.distance[c] for c in reached}, {c: chains.path(c) for c in reached}


def impacted_cis(region: Topology, outcome: Propagation, distance: dict[str, int], paths: dict[str, list[str]]) -> list[ImpactedCI]:
    rows = [
        ImpactedCI(ci=region.nodes[c].ref(), state=State(outcome.state(c)), distance=d, path=paths[c])
        for c, d in distance.items()
    ]
    return sorted(rows, key=lambda row: (row.distance, row.ci.id))


def impacted_services(store: Store, impacted: Sequence[ImpactedCI]) -> list[ServiceImpact]:
    services = [row for row in impacted if row.ci.ci_class is CIClass.BUSINESS_SERVICE]
    slas = slas_of(store, [row.ci.id for row in services])
    rows = [ServiceImpact(ci=row.ci, state=row.state, criticality=row.ci.criticality, sla=slas.get(row.ci.id),
                          confidence=row.confidence)
            for row in services]
    return sorted(rows, key=lambda s: (s.state is not State.DOWN, s.criticality or 5, s.ci.id))


def require_in(view: GraphView, ids: Sequence[str], argument: str) -> list[str]:
    """The ids, de-duplicated in order, once each names a CI of the graph asked about."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise AnalysisError(f"{argument}: give at least one CI id")
    missing = view.missing(unique)
    if missing:
        when = f" as of {view.at.isoformat()}" if view.at else ""
        raise NotFoundError(f"{argument}: no CI with id {', '.join(repr(m) for m in missing)}{when}")
    return unique


def rate_paths(region: Topology, failed: Sequence[str], impacted: list[ImpactedCI], policy: ConfidencePolicy,
               at: datetime) -> list[ImpactedCI]:
    """Each impacted CI with its best path's confidence and weakest link."""
    rated = path_confidences(region, failed, [r.ci.id for r in impacted], policy, at)
    for row in impacted:
        found = rated.get(row.ci.id)
        if found is not None:
            row.confidence = round(found.confidence, 4)
            if found.weakest is not None:
                link = found.weakest
                row.weakest_link = WeakestLink(source=link.source, type=link.type, target=link.target,
                                               confidence=round(link.confidence, 4))
    return impacted


def check_min_confidence(min_confidence: float | None) -> None:
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise AnalysisError("minConfidence: give a value from 0 to 1")


def analyse_impact(
    store: Store, failed: Sequence[str], max_depth: int | None = None,
    relationship_types: Sequence[RelType] | None = None, *,
    as_of: datetime | None = None, what_if: Sequence[GraphEdit] | None = None,
    min_confidence: float | None = None, policy: ConfidencePolicy | None = None,
) -> Impact:
    """The state of every CI that needs one of `failed`, following only `relationship_types`
    (all when not given) and at most `max_depth` hops from a failure; on the graph as it was
    `as_of` (a past time) and with hypothetical edits `what_if`, written nowhere. With a
    confidence policy, each impacted CI is rated, and `min_confidence` leaves out the ones
    below it."""
    if max_depth is not None and max_depth < 0:
        raise AnalysisError("maxDepth: give 0 or more hops")
    check_min_confidence(min_confidence)
    view = edited(graph_view(store, as_of), list(what_if or []))
    failed = require_in(view, failed, "failed")
    types = list(dict.fromkeys(relationship_types or RelType))
    region = view.dependents(failed, types, evidence=policy is not None)
    outcome, distance, paths = states_given(region, failed, max_depth)
    impacted = impacted_cis(region, outcome, distance, paths)
    if policy is not None:
        impacted = rate_paths(region, failed, impacted, policy, view.at or datetime.now(timezone.utc))
        if min_confidence is not None:
            impacted = [r for r in impacted if (r.confidence or 0) >= min_confidence]
    return Impact(
        failed=failed, impacted=impacted, business_services=impacted_services(store, impacted),
        counts_by_class=dict(sorted(Counter(r.ci.ci_class.value for r in impacted).items())),
        counts_by_layer=dict(sorted(Counter(r.ci.layer.value for r in impacted).items())),
        max_depth=max_depth, relationship_types=types, as_of=view.at, what_if=len(what_if or []),
        min_confidence=min_confidence, snapshots=view.ci_props(),
    )
