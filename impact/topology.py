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
from datetime import datetime
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
    # a group's HAS_MEMBER count as stored, where its members may lie outside the region
    # (they count as up); None: count the member edges the topology holds
    members: int | None = None

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
    """An outgoing relationship: the source needs `target`. `evidence`: who confirmed it and
    when (impact/confidence.py), read only by the analyses that rate their paths."""

    target: str
    type: RelType
    strength: Strength = Strength.HARD
    evidence: tuple[tuple[str | None, datetime | None], ...] = ()

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


NODE_COLUMNS = ("x.id, x.name, x.ci_class, x.status, x.environment, x.criticality, x.owner, x.rto_minutes, "
                "x.rpo_minutes, x.availability, x.min_members")
NODE_FIELDS = f"[{NODE_COLUMNS}, out]"


# who confirmed a relationship and when: its writer, the importers that still report it, traces
EDGE_EVIDENCE = ", r.source, toString(r.last_seen), r.reported_by, toString(r.observed_at)"


@cache
def _region_query(direction: str, types: tuple[RelType, ...], evidence: bool = False) -> str:
    pattern = _type_pattern(types)
    more = EDGE_EVIDENCE if evidence else ""
    if direction == "dependencies":
        # everything the start CIs need: each CI's outgoing edges all stay inside
        return f"""
UNWIND $ids AS id
MATCH (start:CI {{id: id}})
MATCH (start)-[{pattern}*0..]->(x:CI)
WITH DISTINCT x
OPTIONAL MATCH (x)-[r{pattern}]->(y:CI)
WITH x, collect(CASE WHEN y IS NULL THEN null ELSE [y.id, type(r), r.strength{more}] END) AS out
RETURN collect({NODE_FIELDS}) AS nodes
"""
    if direction != "dependents":
        raise ValueError(direction)
    # Everything that needs the start CIs. Only the edges inside the region matter to the
    # propagation, and each of them ends at a region CI: so each CI's incoming edges are read
    # (a VM's soft edges to monitoring, leading outside, are not), with a group's member
    # total so that members outside the region still count (as up).
    members = (f"CASE WHEN x:{CIClass.CLUSTER.value} OR x:{CIClass.REDUNDANCY_GROUP.value} "
               f"THEN COUNT {{ (x)-[:{RelType.HAS_MEMBER.value}]->(:CI) }} END"
               if RelType.HAS_MEMBER in types else "null")
    return f"""
UNWIND $ids AS id
MATCH (start:CI {{id: id}})
MATCH (start)<-[{pattern}*0..]-(x:CI)
WITH DISTINCT x
OPTIONAL MATCH (x)<-[r{pattern}]-(s:CI)
WITH x, collect(CASE WHEN s IS NULL THEN null ELSE [s.id, type(r), r.strength{more}] END) AS needed_by
RETURN collect([{NODE_COLUMNS}, {members}, needed_by]) AS nodes
"""


@cache
def _whole_graph_query(evidence: bool = False) -> str:
    more = EDGE_EVIDENCE if evidence else ""
    return f"""
MATCH (x:CI)
OPTIONAL MATCH (x)-[r{_type_pattern(ALL_TYPES)}]->(y:CI)
WITH x, collect(CASE WHEN y IS NULL THEN null ELSE [y.id, type(r), r.strength{more}] END) AS out
RETURN collect({NODE_FIELDS}) AS nodes
"""


_REL_TYPES = {t.value: t for t in RelType}
_STRENGTHS = {s.value: s for s in Strength} | {None: Strength.HARD}


def _node(columns: Sequence[Any], members: int | None = None) -> CINode:
    """A CI from the `NODE_COLUMNS` of its row."""
    ci_id, name, ci_class, status, environment, criticality, owner, rto, rpo, availability, min_members = columns
    return CINode(ci_id, name or ci_id, CIClass(ci_class), status, environment, criticality, owner,
                  rto, rpo, availability, min_members, members)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _evidence(source: str | None, last_seen: str | None, reported_by: list[str] | None,
              observed_at: str | None) -> tuple[tuple[str | None, datetime | None], ...]:
    seen = _time(last_seen)
    found = [(source, seen)] + [(name, seen) for name in reported_by or () if name != source]
    if observed_at:
        found.append(("traces", _time(observed_at)))
    return tuple(found)


def _edge(target: str, kind: str, strength: str | None, *evidence: Any) -> Edge:
    return Edge(target, _REL_TYPES[kind], _STRENGTHS[strength], _evidence(*evidence) if evidence else ())


def _sorted_edges(edges: Iterable[Edge]) -> list[Edge]:
    return sorted(edges, key=lambda e: (e.target, e.type.value))


def _topology(rows: list[list[Any]]) -> Topology:
    nodes: dict[str, CINode] = {}
    out: dict[str, list[Edge]] = {}
    for *columns, edges in rows:
        node = nodes[columns[0]] = _node(columns)
        out[node.id] = _sorted_edges(_edge(*edge) for edge in edges)
    return Topology(nodes, out)


def _topology_from_incoming(rows: list[list[Any]]) -> Topology:
    """A dependents region, read as each CI's incoming edges (see `_region_query`)."""
    nodes: dict[str, CINode] = {}
    out: dict[str, list[Edge]] = {}
    for *columns, members, needed_by in rows:
        ci_id = columns[0]
        nodes[ci_id] = _node(columns, members)
        out.setdefault(ci_id, [])
        for source, *edge in needed_by:
            out.setdefault(source, []).append(_edge(ci_id, *edge))
    return Topology(nodes, {ci_id: _sorted_edges(edges) for ci_id, edges in out.items()})


def dependents_region(store: Store, ids: Sequence[str], types: Sequence[RelType] | None = None,
                      evidence: bool = False) -> Topology:
    """`ids` and every CI that needs one of them, transitively, along `types`."""
    query = _region_query("dependents", tuple(types or ALL_TYPES), evidence)
    return _topology_from_incoming(store.value(query, ids=list(ids)))


def dependencies_region(store: Store, ids: Sequence[str], types: Sequence[RelType] | None = None,
                        evidence: bool = False) -> Topology:
    """`ids` and everything they need, transitively, along `types`."""
    query = _region_query("dependencies", tuple(types or ALL_TYPES), evidence)
    return _topology(store.value(query, ids=list(ids)))


def whole_graph(store: Store, evidence: bool = False) -> Topology:
    return _topology(store.value(_whole_graph_query(evidence)))


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
