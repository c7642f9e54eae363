"""The part of the CI graph an analysis needs, fetched in one query and held in memory.

Every analysis reads a region of the graph (what needs the failed CIs, or what a service
needs), runs the propagation rule over it in Python, and answers. The region comes back from
Neo4j as a single row (a `collect()` of nodes, each with its outgoing edges), which keeps the
driver's per-record cost out of the picture; reachability uses Neo4j's pruning BFS expansion
(`VarLengthExpand(Pruning,BFS)`), so no path is enumerated twice."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from pydantic import BaseModel

from cmdb_graph.model import CIClass, Layer, RelType, Strength
from cmdb_graph.store import Store


class CIRef(BaseModel):
    """What an analysis says about a CI it names; GraphQL resolves the full CI from the id."""

    id: str
    name: str
    ci_class: CIClass
    layer: Layer
    criticality: int | None = None


@dataclass(frozen=True)
class CINode:
    id: str
    name: str
    ci_class: CIClass
    status: str | None = None
    environment: str | None = None
    criticality: int | None = None
    owner: str | None = None
    rto_minutes: int | None = None
    rpo_minutes: int | None = None
    availability: float | None = None
    min_members: int | None = None

    @property
    def layer(self) -> Layer:
        return self.ci_class.layer

    @property
    def is_group(self) -> bool:
        return self.ci_class.is_group

    def ref(self) -> CIRef:
        return CIRef(id=self.id, name=self.name, ci_class=self.ci_class, layer=self.layer, criticality=self.criticality)


@dataclass(frozen=True)
class Edge:
    """An outgoing relationship: the source needs `target`."""

    target: str
    type: RelType
    strength: Strength = Strength.HARD

    @property
    def hard(self) -> bool:
        return self.strength is Strength.HARD


@dataclass
class Topology:
    """Nodes of a region and their outgoing edges (targets may lie outside the region: those
    are not part of the question and count as up)."""

    nodes: dict[str, CINode]
    out: dict[str, list[Edge]] = field(default_factory=dict)

    @cached_property
    def incoming(self) -> dict[str, list[tuple[str, Edge]]]:
        """target -> [(source, edge)], for sources inside the region."""
        found: dict[str, list[tuple[str, Edge]]] = defaultdict(list)
        for source, edges in self.out.items():
            if source in self.nodes:
                for edge in edges:
                    found[edge.target].append((source, edge))
        return found

    def only(self, node_ids: Iterable[str]) -> Topology:
        """The same graph with fewer nodes in question (their edges kept, as seen from them)."""
        keep = set(node_ids)
        return Topology({i: n for i, n in self.nodes.items() if i in keep},
                        {i: e for i, e in self.out.items() if i in keep})

    def with_types(self, types: Sequence[RelType] | None) -> Topology:
        if not types:
            return self
        allowed = set(types)
        return Topology(self.nodes, {i: [e for e in edges if e.type in allowed] for i, edges in self.out.items()})


ALL_TYPES: tuple[RelType, ...] = tuple(RelType)


def _type_pattern(types: Sequence[RelType]) -> str:
    """`:A|B|C` from enum members only; never from user text."""
    return ":" + "|".join(RelType(t).value for t in types)


NODE_FIELDS = (
    "[x.id, x.name, x.ci_class, x.status, x.environment, x.criticality, x.owner, x.rto_minutes, "
    "x.rpo_minutes, x.availability, x.min_members, out]"
)


@cache
def _region_query(direction: str, types: tuple[RelType, ...]) -> str:
    pattern = _type_pattern(types)
    if direction == "dependents":
        reach = f"MATCH (start)<-[{pattern}*0..]-(x:CI)"
    elif direction == "dependencies":
        reach = f"MATCH (start)-[{pattern}*0..]->(x:CI)"
    else:
        raise ValueError(direction)
    return f"""
UNWIND $ids AS id
MATCH (start:CI {{id: id}})
{reach}
WITH DISTINCT x
OPTIONAL MATCH (x)-[r{pattern}]->(y:CI)
WITH x, collect(CASE WHEN y IS NULL THEN null ELSE [y.id, type(r), r.strength] END) AS out
RETURN collect({NODE_FIELDS}) AS nodes
"""


@cache
def _whole_graph_query() -> str:
    return f"""
MATCH (x:CI)
OPTIONAL MATCH (x)-[r{_type_pattern(ALL_TYPES)}]->(y:CI)
WITH x, collect(CASE WHEN y IS NULL THEN null ELSE [y.id, type(r), r.strength] END) AS out
RETURN collect({NODE_FIELDS}) AS nodes
"""


def _topology(rows: list[list[Any]]) -> Topology:
    nodes: dict[str, CINode] = {}
    out: dict[str, list[Edge]] = {}
    for (ci_id, name, ci_class, status, environment, criticality, owner, rto, rpo, availability, min_members,
         edges) in rows:
        nodes[ci_id] = CINode(ci_id, name or ci_id, CIClass(ci_class), status, environment, criticality, owner,
                              rto, rpo, availability, min_members)
        out[ci_id] = sorted((Edge(t, RelType(k), Strength(s or "hard")) for t, k, s in edges),
                            key=lambda e: (e.target, e.type.value))
    return Topology(nodes, out)


def dependents_region(store: Store, ids: Sequence[str], types: Sequence[RelType] | None = None) -> Topology:
    """`ids` and every CI that needs one of them, transitively, along `types`."""
    query = _region_query("dependents", tuple(types or ALL_TYPES))
    return _topology(store.rows(query, ids=list(ids))[0]["nodes"])


def dependencies_region(store: Store, ids: Sequence[str], types: Sequence[RelType] | None = None) -> Topology:
    """`ids` and everything they need, transitively, along `types`."""
    query = _region_query("dependencies", tuple(types or ALL_TYPES))
    return _topology(store.rows(query, ids=list(ids))[0]["nodes"])


def whole_graph(store: Store) -> Topology:
    return _topology(store.rows(_whole_graph_query())[0]["nodes"])


MISSING_CIS = "UNWIND $ids AS id OPTIONAL MATCH (c:CI {id: id}) WITH id, c WHERE c IS NULL RETURN collect(id) AS missing"


def missing_cis(store: Store, ids: Sequence[str]) -> list[str]:
    """The ids among `ids` that name no CI (analyses refuse them by name)."""
    return store.rows(MISSING_CIS, ids=list(ids))[0]["missing"]


class AnalysisError(ValueError):
    """An argument an analysis cannot work with (GraphQL: VALIDATION; CLI: an error line)."""


class AnalysisLimitError(AnalysisError):
    """A question too large to answer within the analysis's bounds (GraphQL: LIMIT)."""


def require_cis(store: Store, ids: Sequence[str], argument: str) -> list[str]:
    """The ids, de-duplicated in order, once each is known to name a CI."""
    from cmdb_graph.store import NotFoundError

    unique = list(dict.fromkeys(ids))
    if not unique:
        raise AnalysisError(f"{argument}: give at least one CI id")
    missing = missing_cis(store, unique)
    if missing:
        raise NotFoundError(f"{argument}: no CI with id {', '.join(repr(m) for m in missing)}")
    return unique
