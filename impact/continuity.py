"""continuity(S): how a service survives the loss of what it needs.

- Single points of failure: CIs whose failure alone takes S down.
- Minimal cut sets: smallest sets of CIs whose joint failure takes S down (no smaller set
  inside them does).
- RTO violations: single points of failure that recover slower than S's RTO allows (a CI
  behind working redundancy is not one: S survives its loss).
- RPO violations: data stores S needs (databases, storage) whose RPO is weaker than S's.
- Availability from the components' availabilities, with its method and error bound.

All of it comes from one propagation pass per cut size over the service's dependency region,
each candidate set a scenario bit: no impact is re-run per candidate.

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
from collections.abc import Sequence
from functools import lru_cache
from math import comb

from pydantic import BaseModel

from cmdb_graph.model import CIClass
from cmdb_graph.store import Store
from impact.impact import SlaRef, slas_of
from impact.propagation import chains_from, propagate, scenario_bits
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
    """Per candidate, the scenarios (one per set) in which it is down."""
    size = (len(sets) + 7) // 8
    masks = [bytearray(size) for _ in candidates]
    for k, members in enumerate(sets):
        for i in members:
            masks[i][k >> 3] |= 1 << (k & 7)
    return {candidates[i]: int.from_bytes(mask, "little") for i, mask in enumerate(masks) if any(mask)}


def cut_sets(region: Topology, service: str, max_size: int) -> list[tuple[str, ...]]:
    """Minimal sets of at most `max_size` CIs whose joint failure takes `service` down, smallest
    first, each in id order."""
    candidates = sorted(c for c in region.nodes if c != service)
    found: list[tuple[int, ...]] = []
    for size in range(1, max_size + 1):
        known = set(found)
        pool = [i for i in range(len(candidates)) if (i,) not in known]
        estimate = comb(len(pool), size)
        if estimate > MAX_SCENARIOS * 4:
            raise AnalysisLimitError(
                f"maxSize: about {estimate} candidate sets of size {size} to test (limit {MAX_SCENARIOS}); ask for a smaller size"
            )
        sets = [combo for combo in itertools.combinations(pool, size)
                if not any(sub in known for n in range(2, size) for sub in itertools.combinations(combo, n))]
        if len(sets) > MAX_SCENARIOS:
            raise AnalysisLimitError(
                f"maxSize: {len(sets)} candidate sets of size {size} to test (limit {MAX_SCENARIOS}); ask for a smaller size"
            )
        if not sets:
            break
        outcome = propagate(region, _scenario_masks(candidates, sets))
        found += [sets[k] for k in scenario_bits(outcome.down.get(service, 0))]
    return [tuple(candidates[i] for i in combo) for combo in found]


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
    try:  # order 3 tightens the availability bound by orders of magnitude where it is affordable
        order, cuts = 3, cut_sets(region, service_id, 3)
    except AnalysisLimitError:
        if max_cut_size == 3:
            raise
        order, cuts = 2, cut_sets(region, service_id, 2)
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
