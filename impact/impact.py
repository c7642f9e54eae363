"""impact(F): what goes down or degrades when the CIs in F fail, how far each is from a
failure, one shortest chain explaining it, and which business services suffer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from enum import Enum

from pydantic import BaseModel

from cmdb_graph.model import CIClass, RelType
from cmdb_graph.store import Store
from impact.propagation import Propagation, chains_to, propagate
from impact.topology import AnalysisError, CIRef, Topology, dependents_region, require_cis


class State(str, Enum):
    DOWN = "DOWN"
    DEGRADED = "DEGRADED"


class SlaRef(BaseModel):
    id: str
    availability_target: float
    response_minutes: int | None = None
    resolution_minutes: int | None = None


class ImpactedCI(BaseModel):
    ci: CIRef
    state: State
    distance: int
    path: list[str]  # from this CI to a failed one, both included


class ServiceImpact(BaseModel):
    ci: CIRef
    state: State
    criticality: int | None
    sla: SlaRef | None


class Impact(BaseModel):
    failed: list[str]
    impacted: list[ImpactedCI]
    business_services: list[ServiceImpact]
    counts_by_class: dict[str, int]
    counts_by_layer: dict[str, int]
    max_depth: int | None
    relationship_types: list[RelType]


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
    rows = [ServiceImpact(ci=row.ci, state=row.state, criticality=row.ci.criticality, sla=slas.get(row.ci.id))
            for row in services]
    return sorted(rows, key=lambda s: (s.state is not State.DOWN, s.criticality or 5, s.ci.id))


def analyse_impact(
    store: Store, failed: Sequence[str], max_depth: int | None = None,
    relationship_types: Sequence[RelType] | None = None,
) -> Impact:
    """The state of every CI that needs one of `failed`, following only `relationship_types`
    (all when not given) and at most `max_depth` hops from a failure."""
    if max_depth is not None and max_depth < 0:
        raise AnalysisError("maxDepth: give 0 or more hops")
    failed = require_cis(store, failed, "failed")
    types = list(dict.fromkeys(relationship_types or RelType))
    region = dependents_region(store, failed, types)
    outcome, distance, paths = states_given(region, failed, max_depth)
    impacted = impacted_cis(region, outcome, distance, paths)
    return Impact(
        failed=failed, impacted=impacted, business_services=impacted_services(store, impacted),
        counts_by_class=dict(sorted(Counter(r.ci.ci_class.value for r in impacted).items())),
        counts_by_layer=dict(sorted(Counter(r.ci.layer.value for r in impacted).items())),
        max_depth=max_depth, relationship_types=types,
    )
