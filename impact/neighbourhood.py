"""neighbourhood(X): the CIs around X that the impact map draws: what needs X (upstream, towards
the business services) and what X needs (downstream, towards the infrastructure), each to its
own depth, with every relationship among them, each group's `k of n`, and the open incidents
and recent changes on each CI (its badges).

A neighbourhood larger than the page can draw is collapsed by class: the largest classes are
folded, one at a time, into one summary each (with a count and the relationships summed) until
what is left fits the limit (a class of one CI is never folded). The CI asked about is never folded, nor the classes asked to be
expanded: those are shown whole beside the limit's CIs, up to MAX_LIMIT CIs in all.

Reachability is read one hop at a time (one query per level, each from the whole frontier), so
a depth-limited neighbourhood never walks the rest of a dense graph."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import cache

from pydantic import BaseModel

from cmdb_graph.model import OPEN_INCIDENT_STATUSES, CIClass, Layer, RecordRel, RelType, Strength
from cmdb_graph.store import Store
from impact.topology import ALL_TYPES, AnalysisError, AnalysisLimitError, require_cis

MAX_DEPTH = 6
MAX_LIMIT = 5000
DEFAULT_LIMIT = 2000
# a neighbourhood reaching more CIs than this is refused rather than read and folded
MAX_REACHED = 200_000
MAX_WINDOW_DAYS = 36_500


class Direction(str, Enum):
    CENTRE = "CENTRE"
    UPSTREAM = "UPSTREAM"  # needs the centre (towards the business services)
    DOWNSTREAM = "DOWNSTREAM"  # the centre needs it


class NeighbourhoodNode(BaseModel):
    id: str
    name: str
    ci_class: CIClass
    layer: Layer
    status: str | None = None
    criticality: int | None = None
    direction: Direction
    distance: int
    min_members: int | None = None  # a group's k ...
    member_count: int | None = None  # ... of n
    open_incidents: list[str] = []
    recent_changes: list[str] = []


class NeighbourhoodEdge(BaseModel):
    """`source` needs `target`; either end may be a collapsed class's key, and `count` says how
    many relationships a summary edge stands for."""

    source: str
    target: str
    type: RelType
    strength: Strength
    count: int = 1


class CollapsedClass(BaseModel):
    key: str
    ci_class: CIClass
    layer: Layer
    count: int
    upstream: int
    downstream: int


class Neighbourhood(BaseModel):
    centre: str
    upstream_depth: int
    downstream_depth: int
    limit: int
    reached_count: int
    nodes: list[NeighbourhoodNode]
    edges: list[NeighbourhoodEdge]
    collapsed: list[CollapsedClass]


def collapsed_key(ci_class: CIClass) -> str:
    return f"class:{ci_class.value}"


@cache
def _step_query(direction: Direction) -> str:
    pattern = "<-[{}]-" if direction is Direction.UPSTREAM else "-[{}]->"
    hop = pattern.format(":" + "|".join(t.value for t in ALL_TYPES))
    return f"""
UNWIND $frontier AS id
MATCH (:CI {{id: id}}){hop}(x:CI)
RETURN collect(DISTINCT [x.id, x.ci_class]) AS found
"""


def _reach(store: Store, centre: str, depth: int, direction: Direction) -> dict[str, tuple[int, CIClass]]:
    """Every CI within `depth` hops in one direction: id -> (hops, class)."""
    reached: dict[str, tuple[int, CIClass]] = {}
    seen = {centre}
    frontier = [centre]
    for hops in range(1, depth + 1):
        if not frontier:
            break
        found = store.value(_step_query(direction), frontier=frontier)
        frontier = []
        for ci_id, ci_class in found:
            if ci_id not in seen:
                seen.add(ci_id)
                reached[ci_id] = (hops, CIClass(ci_class))
                frontier.append(ci_id)
        if len(reached) > MAX_REACHED:
            raise AnalysisLimitError(f"the neighbourhood reaches more than {MAX_REACHED:,} CIs: give smaller depths")
    return reached


RELATIONSHIPS_AMONG = f"""
UNWIND $ids AS id
MATCH (a:CI {{id: id}})-[r:{'|'.join(t.value for t in ALL_TYPES)}]->(b:CI)
RETURN collect([a.id, b.id, type(r), r.strength]) AS edges
"""


def _relationships(store: Store, ids: Sequence[str], among: set[str]) -> list[tuple[str, str, RelType, Strength]]:
    rows = store.value(RELATIONSHIPS_AMONG, ids=list(ids))
    return [(s, t, RelType(k), Strength(strength or Strength.HARD.value)) for s, t, k, strength in rows if t in among]


NODE_DETAILS = f"""
UNWIND $ids AS id
MATCH (n:CI {{id: id}})
RETURN collect([
  n.id, n.name, n.ci_class, n.status, n.criticality, n.min_members,
  CASE WHEN n:{CIClass.CLUSTER.value} OR n:{CIClass.REDUNDANCY_GROUP.value}
       THEN COUNT {{ (n)-[:{RelType.HAS_MEMBER.value}]->(:CI) }} END,
  COLLECT {{ MATCH (i:Incident)-[:{RecordRel.AFFECTS.value}]->(n) WHERE i.status IN $open_incidents
            RETURN i.id ORDER BY i.id }},
  COLLECT {{ MATCH (k:Change)-[:{RecordRel.TARGETS.value}]->(n)
            WITH k, coalesce(k.implemented_at, k.planned_start) AS at
            WHERE at >= datetime($since) AND at <= datetime($until)
            RETURN k.id ORDER BY k.id }}
]) AS rows
"""


def _details(store: Store, placed: dict[str, tuple[Direction, int]], since: datetime, until: datetime) -> list[NeighbourhoodNode]:
    rows = store.value(NODE_DETAILS, ids=list(placed), open_incidents=list(OPEN_INCIDENT_STATUSES),
                       since=since.isoformat(), until=until.isoformat())
    nodes = []
    for ci_id, name, ci_class, status, criticality, min_members, members, incidents, changes in rows:
        direction, distance = placed[ci_id]
        kind = CIClass(ci_class)
        nodes.append(NeighbourhoodNode(
            id=ci_id, name=name or ci_id, ci_class=kind, layer=kind.layer, status=status, criticality=criticality,
            direction=direction, distance=distance, min_members=min_members, member_count=members,
            open_incidents=incidents, recent_changes=changes,
        ))
    return sorted(nodes, key=lambda n: (n.distance, n.direction.value, n.id))


def classes_to_collapse(classes: dict[str, CIClass], centre: str, limit: int, expand: Iterable[CIClass]) -> list[CIClass]:
    """The classes to fold, largest first, until the other CIs left and one summary per folded
    class fit `limit`; ties go to the class named first. A class of one CI is never folded (its
    summary would hide it and save nothing), so a map of many small classes may stay above
    `limit`. The classes asked to be expanded are shown whole beside them (not counted against
    `limit`), up to MAX_LIMIT CIs in all."""
    kept = set(expand)
    counts = Counter(ci_class for ci_id, ci_class in classes.items() if ci_id != centre)
    expanded = sum(counts[c] for c in kept)
    visible = len(classes) - expanded
    folded: list[CIClass] = []
    candidates = sorted((c for c in counts if c not in kept), key=lambda c: (-counts[c], c.value))
    for ci_class in candidates:
        if visible <= limit or counts[ci_class] < 2:
            break
        folded.append(ci_class)
        visible -= counts[ci_class] - 1
    if visible + expanded > MAX_LIMIT:
        raise AnalysisLimitError(
            f"the neighbourhood has {visible + expanded:,} CIs to show with {len(folded)} classes collapsed, more "
            f"than {MAX_LIMIT:,}: expand fewer classes or give smaller depths"
        )
    return folded


def _summary_edges(edges: list[tuple[str, str, RelType, Strength]], key_of: dict[str, str]) -> list[NeighbourhoodEdge]:
    """Each relationship with its folded ends replaced by their class's key, summed."""
    summed: Counter[tuple[str, str, RelType, Strength]] = Counter()
    for source, target, kind, strength in edges:
        a, b = key_of.get(source, source), key_of.get(target, target)
        if a == b and a != source:
            continue  # inside one folded class
        summed[(a, b, kind, strength)] += 1
    return [NeighbourhoodEdge(source=a, target=b, type=k, strength=s, count=n)
            for (a, b, k, s), n in sorted(summed.items(), key=lambda item: (item[0][0], item[0][1], item[0][2].value))]


CLASS_OF = "MATCH (n:CI {id: $id}) RETURN n.ci_class"


def analyse_neighbourhood(
    store: Store, ci_id: str, upstream_depth: int = 2, downstream_depth: int = 2, limit: int = DEFAULT_LIMIT,
    expand: Sequence[CIClass] = (), change_window_days: float = 30, now: datetime | None = None,
) -> Neighbourhood:
    for name, depth in (("upstreamDepth", upstream_depth), ("downstreamDepth", downstream_depth)):
        if not 0 <= depth <= MAX_DEPTH:
            raise AnalysisError(f"{name}: give 0 to {MAX_DEPTH} hops")
    if not 1 <= limit <= MAX_LIMIT:
        raise AnalysisError(f"limit: give 1 to {MAX_LIMIT:,} CIs")
    if not 0 <= change_window_days <= MAX_WINDOW_DAYS:
        raise AnalysisError(f"changeWindowDays: give 0 to {MAX_WINDOW_DAYS:,} days")
    (centre,) = require_cis(store, [ci_id], "id")
    upstream = _reach(store, centre, upstream_depth, Direction.UPSTREAM)
    downstream = _reach(store, centre, downstream_depth, Direction.DOWNSTREAM)

    placed: dict[str, tuple[Direction, int]] = {centre: (Direction.CENTRE, 0)}
    classes: dict[str, CIClass] = {}
    for direction, reached in ((Direction.UPSTREAM, upstream), (Direction.DOWNSTREAM, downstream)):
        for other, (hops, ci_class) in reached.items():
            classes[other] = ci_class
            if other not in placed or placed[other][1] > hops:  # the nearer side; upstream on a tie
                placed[other] = (direction, hops)
    classes[centre] = CIClass(store.value(CLASS_OF, id=centre))

    folded = set(classes_to_collapse(classes, centre, limit, expand))
    key_of = {i: collapsed_key(c) for i, c in classes.items() if c in folded and i != centre}
    visible = {i: placed[i] for i in placed if i not in key_of}
    until = now or datetime.now(timezone.utc)
    nodes = _details(store, visible, until - timedelta(days=change_window_days), until)
    edges = _summary_edges(_relationships(store, list(placed), set(placed)), key_of)

    collapsed = []
    for ci_class in sorted(folded, key=lambda c: c.value):
        members = [i for i, key in key_of.items() if classes[i] is ci_class]
        directions = Counter(placed[i][0] for i in members)
        collapsed.append(CollapsedClass(
            key=collapsed_key(ci_class), ci_class=ci_class, layer=ci_class.layer, count=len(members),
            upstream=directions[Direction.UPSTREAM], downstream=directions[Direction.DOWNSTREAM],
        ))
    return Neighbourhood(
        centre=centre, upstream_depth=upstream_depth, downstream_depth=downstream_depth, limit=limit,
        reached_count=len(placed), nodes=nodes, edges=edges, collapsed=collapsed,
    )
