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
from dataclasses import dataclass

from cmdb_graph.model import RelType
from impact.topology import Edge, Topology


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


def at_least(bitsets: Iterable[int], count: int) -> int:
    """The bits set in at least `count` of `bitsets` (bit-sliced counting)."""
    if count <= 0:
        return -1
    tallies = [0] * (count + 1)  # tallies[j]: bits seen in at least j sets so far
    for bits in bitsets:
        for j in range(count, 1, -1):
            tallies[j] |= tallies[j - 1] & bits
        tallies[1] |= bits
    return tallies[count]


def scenario_bits(bitset: int) -> Iterator[int]:
    """The scenarios (bit numbers) set in `bitset`, lowest first."""
    while bitset:
        low = bitset & -bitset
        yield low.bit_length() - 1
        bitset ^= low


def _members(node_is_group: bool, edges: list[Edge]) -> list[Edge]:
    return [e for e in edges if e.type is RelType.HAS_MEMBER] if node_is_group else []


def _down_now(topology: Topology, ci_id: str, failed: Mapping[str, int], down: Mapping[str, int]) -> int:
    node = topology.nodes[ci_id]
    edges = topology.out.get(ci_id, [])
    bits = failed.get(ci_id, 0)
    members = _members(node.is_group, edges)
    for edge in edges:
        if edge.hard and not (members and edge.type is RelType.HAS_MEMBER):
            bits |= down.get(edge.target, 0)
    if members:
        needed_up = node.min_members or 1
        losses_that_fail = max(1, len(members) - needed_up + 1)
        bits |= at_least((down.get(e.target, 0) for e in members), losses_that_fail)
    return bits


def propagate(topology: Topology, failed: Mapping[str, int]) -> Propagation:
    """States of the region's CIs given, per CI, the scenarios in which it has failed."""
    seeds = {ci_id: bits for ci_id, bits in failed.items() if ci_id in topology.nodes and bits}
    incoming = topology.incoming

    down: dict[str, int] = dict(seeds)
    queue = deque(seeds)
    while queue:
        changed = queue.popleft()
        for source, _edge in incoming.get(changed, ()):
            bits = _down_now(topology, source, seeds, down)
            if bits != down.get(source, 0):
                down[source] = bits
                queue.append(source)

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
