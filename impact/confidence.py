"""How far an impact path is to be believed: each relationship's confidence comes from who
reported it and how long ago it was last confirmed; an impacted CI's is its best path's
weakest link.

A relationship's evidence is a list of (source, confirmed at): the source that wrote it with
its `last_seen`, every importer that still reports it (`reported_by`, stamped on each sync),
and traces that observed the call (`observed_at`). Each piece is worth
`trust(source) * 0.5 ** (age_days / half_life_days)`; the relationship is worth its best piece.
Evidence with no time is taken as one half-life old. Hypothetical relationships (what-if)
are certain: they are the plan being asked about."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from pydantic import BaseModel

from cmdb_graph.model import RelType
from impact.topology import Edge, Topology

HYPOTHETICAL = "what-if"


class ConfidencePolicy(BaseModel):
    source_trust: dict[str, float]
    default_trust: float = 0.5
    half_life_days: float = 180.0

    def trust(self, source: str | None) -> float:
        if source == HYPOTHETICAL:
            return 1.0
        return self.source_trust.get(source or "", self.default_trust)

    def worth(self, source: str | None, confirmed_at: datetime | None, at: datetime) -> float:
        if source == HYPOTHETICAL:
            return 1.0
        age_days = self.half_life_days if confirmed_at is None else max(0.0, (at - confirmed_at).total_seconds() / 86400)
        return self.trust(source) * 0.5 ** (age_days / self.half_life_days)

    def edge_confidence(self, edge: Edge, at: datetime) -> float:
        if not edge.evidence:
            return self.worth(None, None, at)
        return max(self.worth(source, when, at) for source, when in edge.evidence)


def policy_from(settings: object) -> ConfidencePolicy:
    return ConfidencePolicy(source_trust=getattr(settings, "confidence_source_trust"),
                            default_trust=getattr(settings, "confidence_default_trust"),
                            half_life_days=getattr(settings, "confidence_half_life_days"))


class Link(NamedTuple):
    """One relationship: `source` needs `target`."""

    source: str
    type: RelType
    target: str
    confidence: float


class PathConfidence(NamedTuple):
    confidence: float
    weakest: Link | None  # None for a failed CI


def path_confidences(
    region: Topology, failed: Sequence[str], impacted: Iterable[str], policy: ConfidencePolicy, at: datetime,
) -> dict[str, PathConfidence]:
    """Per impacted CI, the widest path (the one whose weakest relationship is strongest) from
    it to a failed CI through impacted CIs; a max-min Dijkstra from the failures outwards."""
    inside = set(impacted) | set(failed)
    best: dict[str, PathConfidence] = {f: PathConfidence(1.0, None) for f in failed}
    heap = [(-1.0, f) for f in sorted(set(failed))]
    done: set[str] = set()
    while heap:
        negative, node = heapq.heappop(heap)
        if node in done:
            continue
        done.add(node)
        reached = best[node]
        for source, edge in region.incoming.get(node, ()):
            if source not in inside or source in done:
                continue
            worth = policy.edge_confidence(edge, at)
            width = min(reached.confidence, worth)
            known = best.get(source)
            if known is None or width > known.confidence:
                weakest = reached.weakest if reached.weakest is not None and reached.confidence <= worth else \
                    Link(source, edge.type, node, worth)
                best[source] = PathConfidence(width, weakest)
                heapq.heappush(heap, (-width, source))
    return {ci: best[ci] for ci in inside if ci in best}


def edge_confidences(region: Topology, policy: ConfidencePolicy, at: datetime) -> Mapping[tuple[str, str, RelType], float]:
    """Every relationship of the region with its confidence (the property tests' input)."""
    return {(source, edge.target, edge.type): policy.edge_confidence(edge, at)
            for source, edges in region.out.items() for edge in edges}
