"""The one state-propagation rule every analysis uses.

Given CIs assumed failed, a CI is DOWN if it failed, or a hard dependency is down, or it is a
group (Cluster, RedundancyGroup) with fewer than `min_members` of its HAS_MEMBER targets up. It
is DEGRADED if not down and any dependency (soft or hard, member or not) is down or degraded.
Both sets are least fixpoints reached by a worklist, so cycles terminate.

The rule runs on many scenarios at once: each CI's state is a Python int whose bit k says
"down in scenario k". One pass answers one failure set (impact), one scenario per candidate
(single points of failure, root-cause candidates), one per pair (cut sets, change collisions),
or one per combination of component states (exact availability), without a query or a
traversal per scenario.

A group whose `min_members` exceeds its member count goes down at its first member loss
(`cmdb-graph health` reports such groups)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from cmdb_graph.model import RelType
from impact.topology import Topology


@dataclass
class Propagation:
    """Per CI, the scenarios (bits) in which it is down, and in which it is impacted at all."""

    down: dict[str, int]
    impacted: dict[str, int]

    def state(self, ci_id: str, scenario: int = 0) -> str | None:
        bit = 1 << scenario
        if self.down.get(ci_id, 0) & bit:
            return "DOWN"
        if self.impacted.get(ci_id, 0) & bit:
            return "DEGRADED"
        return None


def _add(planes: list[int], bits: int) -> None:
    """Add one to the bit-sliced counters (plane j holds bit j of every scenario's count) of
    the scenarios in `bits`."""
    carry, j = bits, 0
    while carry:
        if j == len(planes):
            planes.append(0)
        planes[j], carry = planes[j] ^ carry, planes[j] & carry
        j += 1


def _at_least_count(planes: list[int], count: int) -> int:
    """The scenarios whose counter is at least `count`, compared most significant bit first."""
    width = max(len(planes), count.bit_length())
    greater, equal = 0, -1
    for j in reversed(range(width)):
        plane = planes[j] if j < len(planes) else 0
        if count >> j & 1:
            equal &= plane
        else:
            greater |= equal & plane
            equal &= ~plane
    return greater | equal


def scenario_bits(bitset: int) -> Iterator[int]:
    """The scenarios (bit numbers) set in `bitset`, lowest first."""
    while bitset:
        low = bitset & -bitset
        yield low.bit_length() - 1
        bitset ^= low


@dataclass
class _Gate:
    """A group's members down, counted per scenario as members fall (each member's bit in
    each scenario is counted once: down bits only grow)."""

    losses: int  # members down that take the group down
    counted: dict[str, int] = field(default_factory=dict)
    planes: list[int] = field(default_factory=list)

    def member_down(self, member: str, bits: int) -> int:
        new = bits & ~self.counted.get(member, 0)
        if new:
            self.counted[member] = bits
            _add(self.planes, new)
        return _at_least_count(self.planes, self.losses)


def group_members(topology: Topology, ci_id: str) -> list[str]:
    """A group's members: the targets of its HAS_MEMBER edges, soft ones too (none for a CI
    that is not a group)."""
    if not topology.nodes[ci_id].is_group:
        return []
    return [e.target for e in topology.out.get(ci_id, ()) if e.type is RelType.HAS_MEMBER]


def member_total(topology: Topology, ci_id: str) -> int:
    """How many members a group has, those outside the region included."""
    node = topology.nodes[ci_id]
    return node.members if node.members is not None else len(group_members(topology, ci_id))


def losses_to_fall(topology: Topology, ci_id: str) -> int:
    """How many of a group's members must be down for it to go down (fewer than `min_members`
    up; a group that could never hold falls at its first loss); 0 for a CI without members."""
    total = member_total(topology, ci_id) if topology.nodes[ci_id].is_group else 0
    return max(1, total - (topology.nodes[ci_id].min_members or 1) + 1) if total else 0


def _gates(topology: Topology) -> dict[str, _Gate]:
    return {ci_id: _Gate(losses) for ci_id in topology.nodes if (losses := losses_to_fall(topology, ci_id))}


def propagate(topology: Topology, failed: Mapping[str, int], down_only: bool = False) -> Propagation:
    """States of the region's CIs given, per CI, the scenarios in which it has failed
    (`down_only`: leave `impacted` empty, for a caller that only counts what goes down).

    Incremental: when a CI's down bits grow, each dependent ORs them in over a hard edge (the
    rule is a union there), and a group adds them to its per-scenario member count; no CI is
    re-evaluated over all its edges, which made a pass with one scenario per candidate
    quadratic around hubs and large groups."""
    seeds = {ci_id: bits for ci_id, bits in failed.items() if ci_id in topology.nodes and bits}
    incoming = topology.incoming
    gates = _gates(topology)

    down: dict[str, int] = dict(seeds)
    queue = deque(seeds)
    while queue:
        changed = queue.popleft()
        for source, edge in incoming.get(changed, ()):
            old = down.get(source, 0)
            if source in gates and edge.type is RelType.HAS_MEMBER:
                new = old | gates[source].member_down(changed, down[changed])
            elif edge.hard:
                new = old | down[changed]
            else:
                continue
            if new != old:
                down[source] = new
                queue.append(source)

    if down_only:
        return Propagation(down, {})
    impacted: dict[str, int] = dict(down)
    queue = deque(impacted)
    while queue:
        changed = queue.popleft()
        for source, _edge in incoming.get(changed, ()):
            bits = impacted.get(source, 0) | impacted[changed]
            if bits != impacted.get(source, 0):
                impacted[source] = bits
                queue.append(source)
    return Propagation(down, impacted)


@dataclass
class Chains:
    """Distance from each reached CI to the nearest failed CI, and the next hop towards it."""

    distance: dict[str, int]
    next_hop: dict[str, str | None]

    def path(self, ci_id: str) -> list[str]:
        """One shortest chain from `ci_id` to a failed CI, both ends included."""
        chain = [ci_id]
        step = self.next_hop.get(ci_id)
        while step is not None:
            chain.append(step)
            step = self.next_hop.get(step)
        return chain


def chains_to(topology: Topology, failed: Iterable[str], max_depth: int | None = None) -> Chains:
    """Breadth-first from the failed CIs against the edges (dependent <- dependency). Ties go
    to the smaller id, so the chain shown is stable from run to run."""
    start = sorted(f for f in set(failed) if f in topology.nodes)
    distance = {f: 0 for f in start}
    next_hop: dict[str, str | None] = {f: None for f in start}
    frontier = start
    depth = 0
    while frontier and (max_depth is None or depth < max_depth):
        depth += 1
        found: dict[str, str] = {}
        for target in frontier:
            for source, _edge in topology.incoming.get(target, ()):
                if source not in distance and (source not in found or target < found[source]):
                    found[source] = target
        for source, target in found.items():
            distance[source] = depth
            next_hop[source] = target
        frontier = sorted(found)
    return Chains(distance, next_hop)


def chains_from(topology: Topology, start: str, max_depth: int | None = None) -> Chains:
    """Breadth-first from `start` along the edges (what it needs); `path` then reads from a
    dependency back to `start`."""
    distance = {start: 0}
    next_hop: dict[str, str | None] = {start: None}
    frontier = [start]
    depth = 0
    while frontier and (max_depth is None or depth < max_depth):
        depth += 1
        found: dict[str, str] = {}
        for source in frontier:
            for edge in topology.out.get(source, ()):
                if edge.target in topology.nodes and edge.target not in distance:
                    if edge.target not in found or source < found[edge.target]:
                        found[edge.target] = source
        for target, source in found.items():
            distance[target] = depth
            next_hop[target] = source
        frontier = sorted(found)
    return Chains(distance, next_hop)
