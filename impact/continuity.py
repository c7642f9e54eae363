"""continuity(S): how a service survives the loss of what it needs.

- Single points of failure: CIs whose failure alone takes S down.
- Minimal cut sets: smallest sets of CIs whose joint failure takes S down (no smaller set
  inside them does).
- RTO violations: single points of failure that recover slower than S's RTO allows (a CI
  behind working redundancy is not one: S survives its loss).
- RPO violations: data stores S needs (databases, storage) whose RPO is weaker than S's.
- Availability from the components' availabilities, with its method and error bound.

All of it comes from one propagation pass per cut size over the service's dependency region,
each candidate set a scenario bit: no impact is re-run per candidate. Beyond size 1 only the
sets that can be minimal are tested: those meeting at a group's member threshold (proof in
`cut_sets_by_size`).

Availability: components are the CIs S needs that have an `availability` below 1 (the others
are taken as always up; S's own figure is its target, not a component), failing
independently. Up to 16 components, every combination of their states is enumerated (exact).
Beyond that: with Q1 the single points of failure, C2 the cut pairs and P3 the chance that
three or more of the other components are down at once, S is up with probability between
prod(a, Q1) * (1 - sum(q*q', C2) - P3) and prod(a, Q1) * (1 - max-or-Bonferroni(C2)); the
estimate is prod(a, Q1) * (1 - sum(q*q', C2)) and the error bound is the larger distance to
either end. (A set of at most two down components that takes S down contains a single point of
failure or a cut pair, so every other way down needs three.)"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from math import comb

from pydantic import BaseModel

from cmdb_graph.model import CIClass
from cmdb_graph.store import Store
from impact.impact import SlaRef, slas_of
from impact.propagation import chains_from, group_members, losses_to_fall, propagate, scenario_bits
from impact.topology import AnalysisError, AnalysisLimitError, CIRef, Topology, dependencies_region, require_cis

DATA_CLASSES = frozenset({CIClass.DATABASE, CIClass.STORAGE_DEVICE})
MAX_SCENARIOS = 2_000_000
EXACT_COMPONENTS = 16


class RtoViolation(BaseModel):
    ci: CIRef
    rto_minutes: int
    service_rto_minutes: int
    path: list[str]  # from the service to the CI


class RpoViolation(BaseModel):
    ci: CIRef
    rpo_minutes: int
    service_rpo_minutes: int
    path: list[str]


class Availability(BaseModel):
    estimate: float | None
    low: float | None
    high: float | None
    error_bound: float | None
    method: str
    components: int


class Continuity(BaseModel):
    service: CIRef
    dependencies_count: int
    single_points_of_failure: list[CIRef]
    minimal_cut_sets: list[list[CIRef]]
    max_cut_size: int
    rto_violations: list[RtoViolation]
    rpo_violations: list[RpoViolation]
    availability: Availability
    sla: SlaRef | None
    sla_target: float | None
    meets_sla: bool | None
    sla_verdict: str


# --- cut sets ---------------------------------------------------------------------------------


def _scenario_masks(candidates: Sequence[str], sets: Sequence[tuple[int, ...]]) -> dict[str, int]:
    """Per candidate, the scenarios (one per set) in which it is down (only candidates in a set
    get a mask: one per candidate would cost candidates x sets)."""
    size = (len(sets) + 7) // 8
    masks: dict[int, bytearray] = {}
    for k, members in enumerate(sets):
        for i in members:
            if i not in masks:
                masks[i] = bytearray(size)
            masks[i][k >> 3] |= 1 << (k & 7)
    return {candidates[i]: int.from_bytes(masks[i], "little") for i in sorted(masks)}


@dataclass
class _Gate:
    """A group whose down rule is a true threshold: it falls only once `losses` >= 2 of its
    member edges lead to down CIs. Bitsets are over the candidates (the single-failure pass)."""

    id: str
    members: list[str]  # one entry per HAS_MEMBER edge
    losses: int
    takers: int  # candidates whose failure alone takes the gate down
    touch: int  # the others, SPOFs left out, that take down at least one member
    hits: dict[int, int]  # touching candidate -> the member edges it takes down (bit j: members[j])
    order: list[int] = field(default_factory=list)  # touching candidates by (members hit, position)
    sizes: list[int] = field(default_factory=list)  # members hit, along `order`
    pair_touch: int = 0  # tested pairs (size-2 pass) that take down a member but not the gate

    def __post_init__(self) -> None:
        self.order = sorted(self.hits, key=lambda c: (self.hits[c].bit_count(), c))
        self.sizes = [self.hits[c].bit_count() for c in self.order]

    def hopeless(self, size: int) -> bool:
        """No `size` candidates, two of them touching, can take down `losses` members."""
        return len(self.order) < 2 or sum(self.sizes[-size:]) < self.losses

    def pairs(self) -> Iterator[tuple[int, ...]]:
        """Pairs of touching candidates that together take down `losses` members."""
        hits, order, sizes = self.hits, self.order, self.sizes
        for i, a in enumerate(order):
            for b in order[bisect_left(sizes, self.losses - sizes[i], i + 1):]:
                if (hits[a] | hits[b]).bit_count() >= self.losses:
                    yield (a, b) if a < b else (b, a)


def _gates(region: Topology, singles: Mapping[str, int], spofs: int) -> list[_Gate]:
    """The region's gates, by the member rule of `propagation.propagate`: a group's HAS_MEMBER
    edges (soft ones too) are its members; a group needing all of them, or more than it has,
    falls at its first loss, a plain union like any hard edge, so it is no gate."""
    gates = []
    for ci_id in region.nodes:
        members = group_members(region, ci_id)
        losses = losses_to_fall(region, ci_id)
        if losses < 2:
            continue
        takers = singles.get(ci_id, 0)
        reach = [singles.get(m, 0) & ~(takers | spofs) for m in members]
        touch = 0
        for bits in reach:
            touch |= bits
        if not touch:
            continue
        hits: dict[int, int] = {}
        for j, bits in enumerate(reach):
            for c in scenario_bits(bits):
                hits[c] = hits.get(c, 0) | 1 << j
        gates.append(_Gate(ci_id, members, losses, takers, touch, hits))
    return gates


_Job = tuple[_Gate, int, int, int, int | None, int]


def _triple_jobs(gates: Sequence[_Gate], known: set[tuple[int, ...]], beyond: Callable[[int, int], int]) -> Iterator[_Job]:
    """Per gate x and pair {a, b} of its touching candidates that is no cut set, the thirds that
    may complete a minimal cut set: if {a, b} takes x down, those touching a gate that {a, b}
    touches (`beyond`, a bitset); else those touching x that may bring its losses up to
    `losses` (x's `order` from a start, checked one by one in `_triples`). Yields (x, a, b,
    the members a and b take down, the bitset or None, the start)."""
    for gate in gates:
        if gate.hopeless(3):
            continue
        hits, order, sizes = gate.hits, gate.order, gate.sizes
        for i, a in enumerate(order):
            for b in order[i + 1:]:
                if (min(a, b), max(a, b)) in known:
                    continue
                both = hits[a] | hits[b]
                short = gate.losses - both.bit_count()
                if short <= 0:
                    yield gate, a, b, both, beyond(a, b) & ~(1 << a | 1 << b), 0
                else:
                    yield gate, a, b, both, None, bisect_left(sizes, short)


def _triples(jobs: Iterable[_Job], known: set[tuple[int, ...]]) -> set[tuple[int, ...]]:
    found: set[tuple[int, ...]] = set()
    for gate, a, b, both, bits, start in jobs:
        if bits is not None:
            thirds: Iterable[int] = scenario_bits(bits)
        else:
            thirds = (c for c in gate.order[start:]
                      if c != a and c != b and (both | gate.hits[c]).bit_count() >= gate.losses)
        for c in thirds:
            if (min(a, c), max(a, c)) not in known and (min(b, c), max(b, c)) not in known:
                found.add(tuple(sorted((a, b, c))))
    return found


def _free_sets(pool: Sequence[int], size: int, known: set[tuple[int, ...]]) -> Iterator[tuple[int, ...]]:
    """Sets of `size` from `pool` containing no known cut set of size 2 or more."""
    for combo in itertools.combinations(pool, size):
        if not any(sub in known for n in range(2, size) for sub in itertools.combinations(combo, n)):
            yield combo


def _limit(count: int, size: int, about: str = "") -> AnalysisLimitError:
    return AnalysisLimitError(
        f"maxSize: {about}{count} candidate sets of size {size} to test (limit {MAX_SCENARIOS}); ask for a smaller size")


def cut_sets_by_size(region: Topology, service: str, max_size: int) -> Iterator[list[tuple[str, ...]]]:
    """`cut_sets` one size at a time: a list per size from 1 up (possibly empty, and none after
    the last size that can hold one), so that a caller can keep the smaller sizes when a larger
    one exceeds the limits.

    One propagation pass per size, each tested set a scenario bit. Size 1 tests every CI S
    needs; larger sizes test only the sets that can be minimal, read off the earlier passes
    (a service with 5,000 dependencies has 12.5 million pairs, of which a few hundred qualify).

    Why that is exact. D(F) is what is down when the set F fails: the least fixpoint of the
    rule in `propagation` (D(c) for one candidate c is its bit in the size-1 pass), reached
    equally by rounds from F. DOWN spreads over hard edges as a union (soft edges never carry
    it) and the only other way is a *gate*: a group (Cluster, RedundancyGroup) with HAS_MEMBER
    edges, soft ones included, that falls once `losses` = members - min_members + 1 >= 2 of
    them lead to down CIs, counted per edge (a group's HAS_MEMBER edges are never hard edges
    for it; a group needing all its members, or more than it has, falls at its first loss: a
    union like a hard edge, so no gate; a non-group's HAS_MEMBER edge is an ordinary edge). So
    any union of D(.)s is closed under everything but gates. A set P *touches* a gate x if
    D(P) holds a member of x but not x.

    Lemma. Let F = P + Q (disjoint, non-empty) be a minimal cut set: S is down under F but not
    in U = D(P) | D(Q), P and Q being no cut sets. Take the first CI x that the rounds from F
    put down outside U: all down before it lies in U, U is closed under hard edges, so x is a
    gate with losses(x) member edges into U. As x is in neither D(P) nor D(Q), both P and Q
    touch x, and the members they take down apart number losses(x) together.

    1. P = {c}: every c of a minimal cut set of size >= 2 is no SPOF and touches a gate. These
       CIs are the pool W (a c whose D(c) holds no member of any group never gets in); sizes
       from 4 take every set of W holding no known cut set (before: every set of CIs that are
       no SPOF).
    2. Pairs {a, b} (P = {a}, Q = {b}): a and b touch one gate x, and the members of x they take
       down alone add up to losses(x) (union of the two). Only those pairs are tested, per gate;
       for any other pair D({a, b}) = D(a) | D(b).
    3. Triples: the same argument with three singletons gives a gate x touched by two of them,
       a and b, the three taking down losses(x) members together. If a and b alone do not, c
       touches x too and supplies the rest; if they do, {a, b} was a tested pair, and the lemma
       with P = {a, b}, Q = {c} says c touches some gate that {a, b} touches in the size-2
       pass. The triples are built that way from each gate's pairs (or taken from W when that
       makes fewer).
    Each size tests a subset of what it tested before (so the limits raise no new error) that
    holds every minimal cut set: the answer is the same, in the same order."""
    candidates = sorted(c for c in region.nodes if c != service)
    if max_size < 1 or not candidates:
        return
    if len(candidates) > MAX_SCENARIOS:
        raise _limit(len(candidates), 1, "about " if len(candidates) > MAX_SCENARIOS * 4 else "")
    singles = propagate(region, {c: 1 << i for i, c in enumerate(candidates)}).down
    spofs = singles.get(service, 0)
    found: list[tuple[int, ...]] = [(i,) for i in scenario_bits(spofs)]
    yield [(candidates[i],) for (i,) in found]
    if max_size < 2:
        return
    gates = _gates(region, singles, spofs)
    pool_bits = 0
    for gate in gates:
        pool_bits |= gate.touch
    pool = list(scenario_bits(pool_bits))
    tested_pairs: dict[tuple[int, ...], int] = {}

    @lru_cache(maxsize=None)
    def beyond(a: int, b: int) -> int:
        """The candidates touching a gate that the pair {a, b} touches (W if it went untested)."""
        k = tested_pairs.get((min(a, b), max(a, b)))
        if k is None:
            return pool_bits
        bits = 0
        for gate in gates:
            if gate.pair_touch >> k & 1:
                bits |= gate.touch
        return bits

    by_gates = False  # whether the last size took its sets from the gates
    for size in range(2, max_size + 1):
        known = set(found)
        if len(pool) < size or (by_gates and next(_free_sets(pool, size - 1, known), None) is None):
            break  # every set of W of the last size holds a cut set, so every larger one does
        from_pool = comb(len(pool), size)
        jobs: list[_Job] = []
        pair_work = sum(0 if g.hopeless(size) else comb(len(g.order), 2) for g in gates) if size <= 3 else None
        if size == 2:
            from_gates = pair_work
        elif pair_work is not None and pair_work <= min(from_pool, MAX_SCENARIOS * 4):
            jobs = list(_triple_jobs(gates, known, beyond))
            from_gates = sum(len(gate.order) - start if bits is None else bits.bit_count()
                             for gate, _, _, _, bits, start in jobs)
        else:
            from_gates = from_pool + 1
        by_gates = from_gates <= from_pool
        estimate = min(from_pool, from_gates)
        if estimate > MAX_SCENARIOS * 4:
            raise _limit(estimate, size, "about ")
        if not by_gates:
            sets = list(_free_sets(pool, size, known))
        elif size == 2:
            sets = sorted({pair for g in gates if not g.hopeless(2) for pair in g.pairs()})
        else:
            sets = sorted(_triples(jobs, known))
        if len(sets) > MAX_SCENARIOS:
            raise _limit(len(sets), size)
        if not sets:
            if not by_gates:
                break
            yield []
            continue
        outcome = propagate(region, _scenario_masks(candidates, sets))
        cuts = [sets[k] for k in scenario_bits(outcome.down.get(service, 0))]
        found += cuts
        yield [tuple(candidates[i] for i in cut) for cut in cuts]
        if size == 2:
            tested_pairs.update((pair, k) for k, pair in enumerate(sets))
            for gate in gates:
                reached = 0
                for m in gate.members:
                    reached |= outcome.down.get(m, 0)
                gate.pair_touch = reached & ~outcome.down.get(gate.id, 0)


def cut_sets(region: Topology, service: str, max_size: int) -> list[tuple[str, ...]]:
    """Minimal sets of at most `max_size` CIs whose joint failure takes `service` down, smallest
    first, each in id order."""
    return [cut for by_size in cut_sets_by_size(region, service, max_size) for cut in by_size]


# --- availability -------------------------------------------------------------------------------


def _exact_up_probability(region: Topology, service: str, components: list[str], up: list[float]) -> float:
    count = len(components)
    width = 1 << count
    full = (1 << width) - 1
    failed = {}
    for i, ci_id in enumerate(components):
        block = 1 << i
        pattern = ((1 << block) - 1) << block  # within each run of 2*block scenarios, the upper half
        failed[ci_id] = pattern * (full // ((1 << (2 * block)) - 1))
    up_mask = full & ~propagate(region, failed).down.get(service, 0)

    @lru_cache(maxsize=None)
    def weight(mask: int, level: int) -> float:
        if mask == 0:
            return 0.0
        if mask == (1 << (1 << level)) - 1:
            return 1.0
        half = 1 << (level - 1)
        a = up[level - 1]
        return a * weight(mask & ((1 << half) - 1), level - 1) + (1 - a) * weight(mask >> half, level - 1)

    return weight(up_mask, count)


def _at_least_down(down: list[float], count: int) -> float:
    """P(`count` or more of independent components are down), by the Poisson-binomial recurrence."""
    exactly = [1.0] + [0.0] * (count - 1)  # P(exactly j down so far), j < count
    for q in down:
        exactly = [exactly[0] * (1 - q)] + [exactly[j] * (1 - q) + exactly[j - 1] * q for j in range(1, count)]
    return max(0.0, 1.0 - sum(exactly))


def availability(region: Topology, service: str, cuts: Sequence[tuple[str, ...]], order: int) -> Availability:
    """`cuts`: every minimal cut set of at most `order` CIs."""
    up = {c: n.availability for c, n in region.nodes.items()
          if c != service and n.availability is not None and n.availability < 1}
    if not up:
        return Availability(estimate=None, low=None, high=None, error_bound=None, components=0,
                            method="no CI behind the service has an availability figure")
    components = sorted(up)
    if len(components) <= EXACT_COMPONENTS:
        exact = _exact_up_probability(region, service, components, [up[c] for c in components])
        return Availability(estimate=exact, low=exact, high=exact, error_bound=0.0, components=len(components),
                            method=f"exact: all {2 ** len(components)} combinations of {len(components)} components")

    def down(cut: Sequence[str]) -> float:
        product = 1.0
        for c in cut:
            product *= 1 - up.get(c, 1.0)
        return product

    spofs = {c[0] for c in cuts if len(c) == 1}
    spof_up = 1.0
    for c in spofs:
        spof_up *= up.get(c, 1.0)
    live = [cut for cut in cuts if len(cut) > 1 and down(cut) > 0]
    total = sum(down(cut) for cut in live)
    union_low = max((down(cut) for cut in live), default=0.0)
    if len(live) <= 500:  # Bonferroni: P(union) >= sum - sum over pairs of joint
        overlap = sum(down(sorted(set(a) | set(b))) for a, b in itertools.combinations(live, 2))
        union_low = max(union_low, total - overlap)
    beyond = _at_least_down([1 - up[c] for c in components if c not in spofs], order + 1)
    estimate = spof_up * (1 - total)
    low = spof_up * max(0.0, 1 - total - beyond)
    high = spof_up * (1 - union_low)
    sizes = ", ".join(f"{sum(1 for c in cuts if len(c) == n)} of size {n}" for n in range(1, order + 1))
    return Availability(
        estimate=estimate, low=low, high=high, error_bound=max(high - estimate, estimate - low),
        components=len(components),
        method=(f"minimal cut sets up to size {order} ({sizes}) over {len(components)} components; "
                f"{order + 1} or more simultaneous failures bounded"),
    )


# --- the analysis -----------------------------------------------------------------------------------


def analyse_continuity(store: Store, service_id: str, max_cut_size: int = 2) -> Continuity:
    if not 1 <= max_cut_size <= 3:
        raise AnalysisError("maxSize: give 1, 2 or 3")
    (service_id,) = require_cis(store, [service_id], "serviceId")
    region = dependencies_region(store, [service_id])
    service = region.nodes[service_id]
    order, cuts, sizes_done = 3, [], 0
    try:  # order 3 tightens the availability bound by orders of magnitude where it is affordable
        for by_size in cut_sets_by_size(region, service_id, 3):
            cuts += by_size
            sizes_done += 1
    except AnalysisLimitError:  # sizes 1 and 2 done, they are what cut_sets(..., 2) answers
        if max_cut_size == 3 or sizes_done < 2:
            raise
        order = 2
    spofs = [c[0] for c in cuts if len(c) == 1]
    chains = chains_from(region, service_id)

    def path(ci_id: str) -> list[str]:
        return list(reversed(chains.path(ci_id)))

    rto = service.rto_minutes
    rto_violations = [] if rto is None else [
        RtoViolation(ci=region.nodes[c].ref(), rto_minutes=region.nodes[c].rto_minutes,
                     service_rto_minutes=rto, path=path(c))
        for c in spofs if region.nodes[c].rto_minutes is not None and region.nodes[c].rto_minutes > rto
    ]
    rpo = service.rpo_minutes
    rpo_violations = [] if rpo is None else [
        RpoViolation(ci=node.ref(), rpo_minutes=node.rpo_minutes, service_rpo_minutes=rpo, path=path(c))
        for c, node in sorted(region.nodes.items())
        if c != service_id and node.ci_class in DATA_CLASSES and node.rpo_minutes is not None and node.rpo_minutes > rpo
    ]
    estimate = availability(region, service_id, cuts, order)
    sla = slas_of(store, [service_id]).get(service_id)
    target = sla.availability_target if sla else None
    meets, verdict = _verdict(estimate, target)
    return Continuity(
        service=service.ref(), dependencies_count=len(region.nodes) - 1,
        single_points_of_failure=[region.nodes[c].ref() for c in spofs],
        minimal_cut_sets=[[region.nodes[c].ref() for c in cut] for cut in cuts if len(cut) <= max_cut_size],
        max_cut_size=max_cut_size, rto_violations=rto_violations, rpo_violations=rpo_violations,
        availability=estimate, sla=sla, sla_target=target, meets_sla=meets, sla_verdict=verdict,
    )


def _verdict(estimate: Availability, target: float | None) -> tuple[bool | None, str]:
    if target is None:
        return None, "no SLA covers the service"
    if estimate.estimate is None:
        return None, "no availability figures behind the service to estimate from"
    if estimate.low is not None and estimate.low >= target:
        return True, f"meets the {target:.4%} target even at the low end ({estimate.low:.5%})"
    if estimate.high is not None and estimate.high < target:
        return False, f"misses the {target:.4%} target even at the high end ({estimate.high:.5%})"
    meets = estimate.estimate >= target
    return meets, (f"estimate {estimate.estimate:.5%} {'meets' if meets else 'misses'} the {target:.4%} target, "
                   f"but the target lies within the error bound")
