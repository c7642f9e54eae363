"""The graph an analysis reads: the live one, the one at a past time (impact/history.py), or
either with hypothetical edits (impact/what_if.py). Each answers the same few questions, so an
analysis is written once against them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from cmdb_graph.model import CIClass, RelType
from cmdb_graph.store import Store
from impact.topology import Topology, dependencies_region, dependents_region, missing_cis

CI_CLASSES = "UNWIND $ids AS id MATCH (n:CI {id: id}) RETURN collect([n.id, n.ci_class]) AS rows"

RELATIONSHIPS_EXIST = """
UNWIND $rows AS row
MATCH (a:CI {id: row[0]})-[r]->(b:CI)
WHERE b.id = row[2] AND type(r) = row[1]
RETURN collect([a.id, type(r), b.id]) AS rows
"""

MEMBER_COUNTS = """
UNWIND $ids AS id
MATCH (g:CI {id: id})
RETURN collect([id, COUNT { (g)-[:HAS_MEMBER]->(:CI) }]) AS rows
"""


GROUPS_OF = """
UNWIND $ids AS id
MATCH (g:CI)-[:HAS_MEMBER]->(:CI {id: id})
RETURN collect([id, g.id]) AS rows
"""


class GraphView(Protocol):
    at: datetime | None  # None: now

    def missing(self, ids: list[str]) -> list[str]: ...
    def classes(self, ids: list[str]) -> dict[str, CIClass]: ...
    def existing_relationships(self, keys: list[tuple[str, RelType, str]]) -> set[tuple[str, RelType, str]]: ...
    def member_counts(self, ids: list[str]) -> dict[str, int]: ...
    def groups_of(self, ids: list[str]) -> dict[str, list[str]]: ...
    def dependents(self, ids: list[str], types: list[RelType] | None = None, evidence: bool = True) -> Topology: ...
    def dependencies(self, ids: list[str], types: list[RelType] | None = None, evidence: bool = True) -> Topology: ...
    def ci_props(self) -> dict[str, dict[str, Any]]: ...


class LiveGraph:
    """The graph as stored now."""

    at: datetime | None = None

    def __init__(self, store: Store) -> None:
        self.store = store

    def missing(self, ids: list[str]) -> list[str]:
        return missing_cis(self.store, ids) if ids else []

    def classes(self, ids: list[str]) -> dict[str, CIClass]:
        return {i: CIClass(c) for i, c in self.store.value(CI_CLASSES, ids=ids)} if ids else {}

    def existing_relationships(self, keys: list[tuple[str, RelType, str]]) -> set[tuple[str, RelType, str]]:
        if not keys:
            return set()
        rows = [[s, RelType(t).value, d] for s, t, d in keys]
        return {(s, RelType(t), d) for s, t, d in self.store.value(RELATIONSHIPS_EXIST, rows=rows)}

    def member_counts(self, ids: list[str]) -> dict[str, int]:
        return dict(self.store.value(MEMBER_COUNTS, ids=ids)) if ids else {}

    def groups_of(self, ids: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for member, group in self.store.value(GROUPS_OF, ids=ids) if ids else ():
            found.setdefault(member, []).append(group)
        return found

    def dependents(self, ids: list[str], types: list[RelType] | None = None, evidence: bool = True) -> Topology:
        return dependents_region(self.store, ids, types, evidence)

    def dependencies(self, ids: list[str], types: list[RelType] | None = None, evidence: bool = True) -> Topology:
        return dependencies_region(self.store, ids, types, evidence)

    def ci_props(self) -> dict[str, dict[str, Any]]:
        return {}  # the service reads live CIs itself


def graph_view(store: Store, as_of: datetime | None = None) -> GraphView:
    if as_of is None:
        return LiveGraph(store)
    from impact.history import graph_as_of

    return graph_as_of(store, as_of)
