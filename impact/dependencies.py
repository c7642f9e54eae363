"""dependencies(X): everything X needs, transitively, nearest first, each with what the
records say about it (open incidents, recent changes, open problems, known errors): the
responder's view of "what could be behind this"."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel

from cmdb_graph.store import Store
from impact.evidence import Evidence, evidence_on
from impact.graph_view import graph_view
from impact.propagation import chains_from
from impact.topology import AnalysisError, CIRef


class Dependency(BaseModel):
    ci: CIRef
    distance: int
    path: list[str]  # from X to this dependency, both included
    evidence: Evidence


MAX_WINDOW_DAYS = 36_500


def analyse_dependencies(
    store: Store, ci_id: str, max_depth: int | None = None, change_window_days: float = 30,
    now: datetime | None = None, as_of: datetime | None = None,
) -> list[Dependency]:
    return dependencies_and_snapshots(store, ci_id, max_depth, change_window_days, now, as_of)[0]


def dependencies_and_snapshots(
    store: Store, ci_id: str, max_depth: int | None = None, change_window_days: float = 30,
    now: datetime | None = None, as_of: datetime | None = None,
) -> tuple[list[Dependency], dict[str, dict[str, Any]]]:
    """The dependencies on the graph as it was `as_of`, with the CIs as they were then; the
    changes are those in the window before `as_of`, incidents and problems open by their
    status now (records keep no history of their own here)."""
    from impact.impact import require_in

    if max_depth is not None and max_depth < 1:
        raise AnalysisError("maxDepth: give 1 or more hops")
    if not 0 <= change_window_days <= MAX_WINDOW_DAYS:  # beyond, `until - days` overflows (an INTERNAL error)
        raise AnalysisError(f"changeWindowDays: give 0 to {MAX_WINDOW_DAYS:,} days")
    view = graph_view(store, as_of)
    (ci_id,) = require_in(view, [ci_id], "id")
    region = view.dependencies([ci_id], evidence=False)
    chains = chains_from(region, ci_id, max_depth)
    until = view.at or now or datetime.now(timezone.utc)
    reached = [c for c in chains.distance if c != ci_id]
    evidence = evidence_on(store, reached, until - timedelta(days=change_window_days), until)
    rows = [
        Dependency(ci=region.nodes[c].ref(), distance=chains.distance[c], path=list(reversed(chains.path(c))),
                   evidence=evidence.get(c, Evidence()))
        for c in reached
    ]
    return sorted(rows, key=lambda d: (d.distance, d.ci.id)), view.ci_props()
