"""The CI graph as it was at a past time, rebuilt from the audit trail.

Every write the store makes leaves an audit entry with the item's content before and after.
So an item's state at T is: the `before` of its first entry after T (nothing, if that entry
created it); or, with no entry after T, its state now, provided it existed at T. Items
written by a bulk load have one audit entry for the whole load and none of their own: their
creation time tells whether they existed at T, their later bulk updates cannot be undone.
Records (incidents, changes, SLAs) are read as they are now."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from cmdb_graph.model import CIClass, Label, RelType, Strength
from cmdb_graph.store import RELATIONSHIP_KIND, Store
from impact.topology import NODE_COLUMNS, AnalysisError, CINode, Edge, Topology, _node

CURRENT_CIS = """
MATCH (x:CI)
RETURN collect([properties(x), toString(x.created_at)]) AS rows
"""

CURRENT_RELATIONSHIPS = """
MATCH (a:CI)-[r]->(b:CI)
WHERE type(r) IN $types
RETURN collect([a.id, type(r), b.id, r.strength, r.source, toString(r.created_at), toString(r.updated_at),
                toString(r.last_seen), toString(r.observed_at), r.version]) AS rows
"""

# entries after T, oldest first: the first one per item holds its state at T in `before`
ENTRIES_AFTER = """
MATCH (e:AuditEntry)
WHERE e.at > $at AND e.entity_kind IN $kinds
WITH e ORDER BY e.at, e.version
RETURN collect([e.entity_kind, e.entity_id, e.action, e.before, e.version]) AS rows
"""

# the last write at or before T of each relationship: when it was confirmed then, and by whom
LAST_WRITES_BEFORE = """
MATCH (e:AuditEntry)
WHERE e.at <= $at AND e.entity_kind = $kind AND e.action <> 'delete'
WITH e.entity_id AS id, e ORDER BY e.at DESC
WITH id, collect(e)[0] AS last
RETURN collect([id, toString(last.at), last.source]) AS rows
"""

RELATIONSHIP_TYPES = [t.value for t in RelType]


def parse_relationship_key(key: str) -> tuple[str, RelType, str] | None:
    for rel_type in RelType:
        source, marker, target = key.partition(f"|{rel_type.value}|")
        if marker:
            return source, rel_type, target
    return None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass
class HistoricGraph:
    """The whole CI graph at `at`: each CI's properties then, and the topology then."""

    at: datetime
    cis: dict[str, dict[str, Any]]
    topology: Topology
    relationships: set[tuple[str, RelType, str]] = field(default_factory=set)

    def missing(self, ids: list[str]) -> list[str]:
        return [i for i in ids if i not in self.cis]

    def classes(self, ids: list[str]) -> dict[str, CIClass]:
        return {i: self.topology.nodes[i].ci_class for i in ids if i in self.topology.nodes}

    def existing_relationships(self, keys: list[tuple[str, RelType, str]]) -> set[tuple[str, RelType, str]]:
        return {k for k in keys if k in self.relationships}

    def member_counts(self, ids: list[str]) -> dict[str, int]:
        return {i: sum(1 for e in self.topology.out.get(i, ()) if e.type is RelType.HAS_MEMBER) for i in ids}

    def groups_of(self, ids: list[str]) -> dict[str, list[str]]:
        wanted, found = set(ids), {}
        for group, edges in self.topology.out.items():
            for edge in edges:
                if edge.type is RelType.HAS_MEMBER and edge.target in wanted:
                    found.setdefault(edge.target, []).append(group)
        return found

    def dependents(self, ids: list[str], types: list[RelType] | None = None, evidence: bool = True) -> Topology:
        region = self.topology.with_types(types)
        seen = set(ids)
        stack = list(ids)
        while stack:
            for source, _edge in region.incoming.get(stack.pop(), ()):
                if source not in seen:
                    seen.add(source)
                    stack.append(source)
        return region.only(seen)

    def dependencies(self, ids: list[str], types: list[RelType] | None = None, evidence: bool = True) -> Topology:
        region = self.topology.with_types(types)
        seen = set(ids)
        stack = list(ids)
        while stack:
            for edge in region.out.get(stack.pop(), ()):
                if edge.target not in seen and edge.target in region.nodes:
                    seen.add(edge.target)
                    stack.append(edge.target)
        return region.only(seen)

    def ci_props(self) -> dict[str, dict[str, Any]]:
        return self.cis


def _first_entries_after(store: Store, at: datetime) -> dict[tuple[str, str], tuple[str, dict[str, Any] | None, int | None]]:
    first: dict[tuple[str, str], tuple[str, dict[str, Any] | None, int | None]] = {}
    for kind, entity_id, action, before, version in store.value(
            ENTRIES_AFTER, at=at, kinds=[Label.CI.value, RELATIONSHIP_KIND]):
        first.setdefault((kind, entity_id), (action, json.loads(before) if before else None, version))
    return first


def _cis_then(store: Store, at: datetime, first: dict) -> dict[str, dict[str, Any]]:
    cis: dict[str, dict[str, Any]] = {}
    for props, created_at in store.value(CURRENT_CIS):
        entry = first.get((Label.CI.value, props["id"]))
        if entry is None:
            created = _time(created_at)
            if created is None or created <= at:
                cis[props["id"]] = dict(props)
    # changed or deleted since: the content they had
    for (kind, entity_id), (action, before, version) in first.items():
        if kind != Label.CI.value:
            continue
        if action == "create" or before is None:
            cis.pop(entity_id, None)
        else:
            cis[entity_id] = {**before, "id": entity_id, "version": max(0, (version or 1) - 1)}
    return cis


def _node_of(props: dict[str, Any]) -> CINode:
    return _node([props.get(c.split(".", 1)[1]) for c in NODE_COLUMNS.split(", ")])


def graph_as_of(store: Store, at: datetime, now: datetime | None = None) -> HistoricGraph:
    """The CI graph at `at` (a time in the past), with each relationship's confirmation then."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    if at > (now or datetime.now(timezone.utc)):
        raise AnalysisError("asOf: give a time in the past (the graph now needs no asOf)")
    first = _first_entries_after(store, at)
    cis = _cis_then(store, at, first)
    confirmed = {key: (_time(when), source) for key, when, source in
                 store.value(LAST_WRITES_BEFORE, at=at, kind=RELATIONSHIP_KIND)}
    edges: dict[tuple[str, RelType, str], Edge] = {}
    for (source, kind, target, strength, writer, created_at, updated_at, last_seen, observed_at, _version) in store.value(
            CURRENT_RELATIONSHIPS, types=RELATIONSHIP_TYPES):
        rel_type = RelType(kind)
        key = f"{source}|{kind}|{target}"
        if (RELATIONSHIP_KIND, key) in first:
            continue  # rebuilt from its entries below
        created = _time(created_at)
        if created is not None and created > at:
            continue
        edges[(source, rel_type, target)] = _edge_then(target, rel_type, strength, writer, at, confirmed.get(key),
                                                       created, _time(updated_at), _time(last_seen), _time(observed_at))
    for (kind, key), (action, before, _version) in first.items():
        parsed = parse_relationship_key(key) if kind == RELATIONSHIP_KIND else None
        if parsed is None or action == "create" or before is None:
            continue
        source, rel_type, target = parsed
        when, writer = confirmed.get(key, (None, None))
        edges[parsed] = Edge(target, rel_type, Strength(before.get("strength") or "hard"), ((writer, when),))
    nodes = {ci_id: _node_of(props) for ci_id, props in cis.items()}
    out: dict[str, list[Edge]] = defaultdict(list)
    for (source, _type, target), edge in edges.items():
        if source in nodes and target in nodes:
            out[source].append(edge)
    for ci_id in nodes:
        out.setdefault(ci_id, [])
    topology = Topology(nodes, {k: sorted(v, key=lambda e: (e.target, e.type.value)) for k, v in out.items()})
    kept = {k for k in edges if k[0] in nodes and k[2] in nodes}
    return HistoricGraph(at, cis, topology, kept)


def _edge_then(target: str, rel_type: RelType, strength: str | None, writer: str | None, at: datetime,
               last_write: tuple[datetime | None, str | None] | None, created: datetime | None,
               updated: datetime | None, last_seen: datetime | None, observed_at: datetime | None) -> Edge:
    """An unchanged relationship's confirmation at `at`: the latest of its writes, sightings
    and observations not after `at`."""
    times = [t for t in (created, updated, last_seen, last_write[0] if last_write else None) if t and t <= at]
    evidence: list[tuple[str | None, datetime | None]] = [(writer, max(times) if times else None)]
    if observed_at is not None and observed_at <= at:
        evidence.append(("traces", observed_at))
    return Edge(target, rel_type, Strength(strength or "hard"), tuple(evidence))

