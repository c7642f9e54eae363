"""GraphQL fields the impact map draws from: a type-ahead search of CIs and a CI's neighbourhood
(upstream and downstream, with groups, badges and classes collapsed past a limit). Resolvers
stay thin: the search is one read, the neighbourhood the analysis in `impact/neighbourhood.py`."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from cmdb_graph import model as m
from cmdb_graph.api import reads
from cmdb_graph.api.analyses import _one, _run
from cmdb_graph.api.context import Context
from cmdb_graph.api.errors import validation_error
from cmdb_graph.api.types import CI, RelationshipType, Strength, ci_from_props
from impact import neighbourhood

MAX_SEARCH_HITS = 50
MAX_SEARCH_TEXT = 200

NeighbourhoodDirection = strawberry.enum(
    neighbourhood.Direction, name="NeighbourhoodDirection",
    description="Where a CI lies from the one asked about: UPSTREAM needs it, DOWNSTREAM is needed by it",
)


@strawberry.type(description="A CI of a neighbourhood, with what the map shows on it")
class NeighbourhoodNode:
    id: strawberry.ID
    name: str
    ci_class: m.CIClass
    layer: m.Layer
    status: str | None
    criticality: int | None
    direction: NeighbourhoodDirection  # type: ignore[valid-type]
    distance: int = strawberry.field(description="hops from the CI asked about, on the side given by `direction`")
    min_members: int | None = strawberry.field(description="a group's k: members it needs up")
    member_count: int | None = strawberry.field(description="a group's n: its members")
    open_incidents: list[strawberry.ID] = strawberry.field(description="ids of the open incidents affecting it")
    recent_changes: list[strawberry.ID] = strawberry.field(
        description="ids of the changes targeting it implemented or planned within the change window")

    @strawberry.field(description="The full CI")
    async def ci(self, info: Info[Context, None]) -> CI:
        return await _one(info, str(self.id))


@strawberry.type(description="A relationship of a neighbourhood: `source` needs `target`. Either end may be a "
                             "collapsed class's key; then `count` relationships are summed into this one")
class NeighbourhoodEdge:
    source: strawberry.ID
    target: strawberry.ID
    type: RelationshipType  # type: ignore[valid-type]
    strength: Strength  # type: ignore[valid-type]
    count: int


@strawberry.type(description="The CIs of one class folded into one summary because the neighbourhood was over its limit")
class CollapsedClass:
    key: strawberry.ID = strawberry.field(description="how edges name this summary")
    ci_class: m.CIClass
    layer: m.Layer
    count: int
    upstream: int
    downstream: int


@strawberry.type(description="A CI, what needs it and what it needs, to the depths asked for")
class Neighbourhood:
    centre_id: strawberry.Private[str]
    upstream_depth: int
    downstream_depth: int
    limit: int
    reached_count: int = strawberry.field(description="CIs within the depths, collapsed ones included")
    nodes: list[NeighbourhoodNode]
    edges: list[NeighbourhoodEdge]
    collapsed: list[CollapsedClass]

    @strawberry.field
    async def centre(self, info: Info[Context, None]) -> CI:
        return await _one(info, self.centre_id)


def _neighbourhood(value: neighbourhood.Neighbourhood) -> Neighbourhood:
    return Neighbourhood(
        centre_id=value.centre, upstream_depth=value.upstream_depth, downstream_depth=value.downstream_depth,
        limit=value.limit, reached_count=value.reached_count,
        nodes=[NeighbourhoodNode(
            id=strawberry.ID(n.id), name=n.name, ci_class=n.ci_class, layer=n.layer, status=n.status,
            criticality=n.criticality, direction=n.direction, distance=n.distance, min_members=n.min_members,
            member_count=n.member_count, open_incidents=[strawberry.ID(i) for i in n.open_incidents],
            recent_changes=[strawberry.ID(c) for c in n.recent_changes],
        ) for n in value.nodes],
        edges=[NeighbourhoodEdge(source=strawberry.ID(e.source), target=strawberry.ID(e.target), type=e.type,
                                 strength=e.strength, count=e.count) for e in value.edges],
        collapsed=[CollapsedClass(key=strawberry.ID(c.key), ci_class=c.ci_class, layer=c.layer, count=c.count,
                                  upstream=c.upstream, downstream=c.downstream) for c in value.collapsed],
    )


@strawberry.type
class NeighbourhoodQuery:
    @strawberry.field(name="searchCIs", description="CIs whose id or name holds every word of `text` "
                                                    "(case-insensitive), exact and prefix matches first")
    async def search_cis(self, info: Info[Context, None], text: str, first: int = 10) -> list[CI]:
        if not 1 <= first <= MAX_SEARCH_HITS:
            message = f"first must be between 1 and {MAX_SEARCH_HITS}"
            raise validation_error(message, fields=[{"field": "first", "message": message}])
        if not text.strip() or len(text) > MAX_SEARCH_TEXT:
            message = f"text: give 1 to {MAX_SEARCH_TEXT} characters, not only spaces"
            raise validation_error(message, fields=[{"field": "text", "message": message}])
        return [ci_from_props(p) for p in await reads.search_cis(info.context.reader, text, first)]

    @strawberry.field(description="A CI with what needs it (upstream) and what it needs (downstream), each to its depth "
                                  f"(0 to {neighbourhood.MAX_DEPTH}), every relationship among them, and open incidents "
                                  "and recent changes on each; past `limit` CIs the largest classes are collapsed "
                                  "(except those in `expand`)")
    async def neighbourhood(
        self, info: Info[Context, None], id: strawberry.ID, upstream_depth: int = 2, downstream_depth: int = 2,
        limit: int = neighbourhood.DEFAULT_LIMIT, expand: list[m.CIClass] | None = None,
        change_window_days: float = 30,
    ) -> Neighbourhood:
        result = await _run(info, neighbourhood.analyse_neighbourhood, str(id), upstream_depth, downstream_depth, limit,
                            [m.CIClass(c) for c in expand or []], change_window_days)
        return _neighbourhood(result)
