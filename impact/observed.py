"""Declared against observed: the calls traces saw that the CMDB does not declare, and the
dependencies the CMDB declares that traces have not seen for a while.

Telemetry names are matched to CIs when the question is asked, not when the export was
imported (loaders/traces/transform.py `resolve_names`), so a CI added or renamed since is
found. A call is declared when its caller's CI has a DEPENDS_ON to its callee's CI, or to a
group the callee is a member of (the CMDB names the farm, traces the member that answered).
One whose callee is only reachable further down is still listed, with `declared_indirectly`,
because the CMDB names a different CI than the one called.

A declared dependency is unobserved when its CI is instrumented (traces showed it: `traced_at`)
and its target is something traces would see called (an application or a database, a group of
them, or an instrumented CI), but no call confirmed it within the last N days."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import networkx as nx
from pydantic import BaseModel

from cmdb_graph.model import CIClass, RelType, Strength, from_neo4j_text
from cmdb_graph.store import Store
from impact.health import MAX_DAYS, digraph_of
from impact.topology import AnalysisError, CIRef, Topology, whole_graph
from loaders.sync.load import stored_identities
from loaders.traces.transform import CallKind, resolve_names

CALLED_CLASSES = frozenset({CIClass.APPLICATION, CIClass.DATABASE})


class UndeclaredDependency(BaseModel):
    kind: CallKind
    caller: str  # the telemetry names
    callee: str
    caller_ci: CIRef | None  # None: no single CI answers to the name (see `reason`)
    callee_ci: CIRef | None
    calls: int
    errors: int
    first_seen: datetime
    last_seen: datetime
    declared_indirectly: bool  # the callee's CI is reachable from the caller's through other CIs
    reason: str


class UnobservedDependency(BaseModel):
    source: CIRef
    target: CIRef
    strength: Strength
    data_source: str | None  # who declared it
    observed_at: datetime | None  # the last call traces showed; None: never
    days_unobserved: float | None
    source_traced_at: datetime  # the last span from the dependent CI: it is instrumented


OBSERVED_CALLS = """
MATCH (o:ObservedCall)
RETURN o.kind AS kind, o.caller AS caller, o.callee AS callee, o.calls AS calls, o.errors AS errors,
       toString(o.first_seen) AS first_seen, toString(o.last_seen) AS last_seen
ORDER BY o.calls DESC, o.id
"""


def undeclared_dependencies(store: Store, graph: Topology | None = None) -> list[UndeclaredDependency]:
    rows = store.rows(OBSERVED_CALLS)
    if not rows:
        return []
    graph = graph or whole_graph(store)
    names = resolve_names(sorted({r["caller"] for r in rows} | {r["callee"] for r in rows}),
                          store.in_transaction(stored_identities, write=False))
    declared = {(s, e.target) for s, edges in graph.out.items() for e in edges if e.type is RelType.DEPENDS_ON}
    declared |= {(s, e.target) for s, group in declared for e in graph.out.get(group, [])
                 if e.type is RelType.HAS_MEMBER}
    digraph, reachable = digraph_of(graph), {}
    found = []
    for row in rows:
        caller, callee = names[row["caller"]], names[row["callee"]]
        if caller.ci and callee.ci and (caller.ci == callee.ci or (caller.ci, callee.ci) in declared):
            continue
        if caller.ci is None:
            reason = f"the caller {row['caller']!r} is not in the CMDB ({caller.reason})"
        elif callee.ci is None:
            reason = f"the callee {row['callee']!r} is not in the CMDB ({callee.reason})"
        else:
            reason = f"no DEPENDS_ON from {caller.ci} to {callee.ci}"
        if caller.ci and caller.ci not in reachable:
            reachable[caller.ci] = nx.descendants(digraph, caller.ci) if caller.ci in digraph else set()
        indirect = bool(caller.ci and callee.ci and callee.ci in reachable[caller.ci])
        found.append(UndeclaredDependency(
            kind=row["kind"], caller=row["caller"], callee=row["callee"],
            caller_ci=graph.nodes[caller.ci].ref() if caller.ci else None,
            callee_ci=graph.nodes[callee.ci].ref() if callee.ci else None,
            calls=row["calls"], errors=row["errors"], first_seen=from_neo4j_text(row["first_seen"]),
            last_seen=from_neo4j_text(row["last_seen"]), declared_indirectly=indirect, reason=reason,
        ))
    return found


TRACED_DEPENDENCIES = """
MATCH (a:CI)-[r:DEPENDS_ON]->(b:CI)
WHERE a.traced_at IS NOT NULL
RETURN a.id AS source, b.id AS target, r.strength AS strength, r.source AS data_source,
       toString(r.observed_at) AS observed_at, toString(a.traced_at) AS traced_at,
       b.traced_at IS NOT NULL AS target_traced
ORDER BY source, target
"""


def _called(graph: Topology, ci_id: str) -> bool:
    """Would traces see a call to this CI: an application or database, or a group of them."""
    node = graph.nodes[ci_id]
    if node.ci_class in CALLED_CLASSES:
        return True
    return node.is_group and any(graph.nodes[e.target].ci_class in CALLED_CLASSES
                                 for e in graph.out.get(ci_id, []) if e.type is RelType.HAS_MEMBER)


def unobserved_dependencies(store: Store, days: float, now: datetime | None = None,
                            graph: Topology | None = None) -> list[UnobservedDependency]:
    if not 0 < days <= MAX_DAYS:
        raise AnalysisError(f"unobservedDays: give a positive number of days, at most {MAX_DAYS:,}")
    now = now or datetime.now(timezone.utc)
    rows = store.rows(TRACED_DEPENDENCIES)
    if not rows:
        return []
    graph = graph or whole_graph(store)
    found = []
    for row in rows:
        if not (row["target_traced"] or _called(graph, row["target"])):
            continue
        seen = from_neo4j_text(row["observed_at"]) if row["observed_at"] else None
        if seen is not None and now - seen <= timedelta(days=days):
            continue
        found.append(UnobservedDependency(
            source=graph.nodes[row["source"]].ref(), target=graph.nodes[row["target"]].ref(),
            strength=Strength(row["strength"] or "hard"), data_source=row["data_source"], observed_at=seen,
            days_unobserved=round((now - seen).total_seconds() / 86400, 1) if seen else None,
            source_traced_at=from_neo4j_text(row["traced_at"]),
        ))
    return found
