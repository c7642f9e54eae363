"""biaRanking: business services ranked for a business impact analysis workshop.

The score (0-100) is the sum of weight x value over five parts, each value between 0 and 1:

| part | weight | value |
| --- | --- | --- |
| criticality | 35 | tier 1: 1, tier 2: 0.67, tier 3: 0.33, tier 4 or unset: 0 |
| sla_target | 20 | nines of the strictest SLA: 99% or less 0, 99.9% 0.5, 99.99% or more 1 |
| single_points_of_failure | 20 | the service's SPOF count / the largest SPOF count among services |
| dependents | 15 | CIs that need the service / the largest such count |
| breadth | 10 | CIs the service needs / the largest such count |

One fetch of the CI graph; each service's regions are walked in memory and its single points
of failure come from one propagation pass (one scenario per candidate)."""

from __future__ import annotations

import math

from pydantic import BaseModel

from cmdb_graph.model import CIClass
from cmdb_graph.store import Store
from impact.continuity import cut_sets
from impact.impact import slas_of
from impact.propagation import chains_from, chains_to
from impact.topology import AnalysisError, CIRef, Topology, whole_graph

WEIGHTS = {"criticality": 35, "sla_target": 20, "single_points_of_failure": 20, "dependents": 15, "breadth": 10}


class BiaPart(BaseModel):
    name: str
    weight: float
    raw: float | None
    value: float
    contribution: float


class BiaEntry(BaseModel):
    rank: int
    ci: CIRef
    score: float
    parts: list[BiaPart]
    sla_target: float | None
    single_points_of_failure: list[str]
    dependents_count: int
    dependencies_count: int


def _nines(target: float | None) -> float:
    if target is None or target >= 1:
        return 1.0 if target == 1 else 0.0
    return max(0.0, min(1.0, (-math.log10(1 - target) - 2) / 2))


def analyse_bia(store: Store, first: int | None = None, graph: Topology | None = None) -> list[BiaEntry]:
    """`graph`: the whole graph when the caller has already fetched it."""
    if first is not None and first < 1:
        raise AnalysisError("first: give 1 or more")
    graph = graph or whole_graph(store)
    services = sorted(c for c, n in graph.nodes.items()
                      if n.ci_class is CIClass.BUSINESS_SERVICE and n.status != "retired")
    slas = slas_of(store, services)
    facts = {}
    for service in services:
        needs = chains_from(graph, service).distance
        spofs = [c[0] for c in cut_sets(graph.only(needs), service, 1)]
        facts[service] = (len(needs) - 1, len(chains_to(graph, [service]).distance) - 1, spofs)
    most = {name: max([f[i] for f in facts.values()] or [0]) or 1
            for i, name in ((0, "breadth"), (1, "dependents"))}
    most_spofs = max([len(f[2]) for f in facts.values()] or [0]) or 1
    tiers = {1: 1.0, 2: 0.67, 3: 0.33}
    entries = []
    for service in services:
        node = graph.nodes[service]
        breadth, dependents, spofs = facts[service]
        target = slas[service].availability_target if service in slas else None
        values = {
            "criticality": (node.criticality, tiers.get(node.criticality or 4, 0.0)),
            "sla_target": (target, _nines(target)),
            "single_points_of_failure": (len(spofs), len(spofs) / most_spofs),
            "dependents": (dependents, dependents / most["dependents"]),
            "breadth": (breadth, breadth / most["breadth"]),
        }
        parts = [BiaPart(name=name, weight=WEIGHTS[name], raw=raw, value=round(value, 4),
                         contribution=round(WEIGHTS[name] * value, 2)) for name, (raw, value) in values.items()]
        entries.append(BiaEntry(
            rank=0, ci=node.ref(), score=round(sum(p.contribution for p in parts), 2), parts=parts, sla_target=target,
            single_points_of_failure=spofs, dependents_count=dependents, dependencies_count=breadth,
        ))
    entries.sort(key=lambda e: (-e.score, e.ci.id))
    for rank, entry in enumerate(entries, start=1):
        entry.rank = rank
    return entries[:first] if first else entries
