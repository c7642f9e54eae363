"""continuityScenarios: the emergency scenarios of the continuity plan (000 2.3.2.1), each a
failure set run through the impact propagation, with the business services it takes down, its
severity level and the recovery time objectives it would miss.

| key | seed wording | failure set | recovery (h) |
| --- | --- | --- | --- |
| site-loss | natural disasters | per site: the Datacenter and everything LOCATED_IN it | 72 |
| network-failure | network equipment and line failures | per site: its NetworkDevice, Firewall, LoadBalancer CIs | 4 |
| power-failure | power and data-centre infrastructure failures | per site: as site-loss | 8 |
| storage-failure | storage failures | per site: its StorageDevice CIs | 12 |
| database-failure | database failures | the worst single Database | 6 |
| middleware-failure | middleware failures | the worst single Middleware | 4 |
| system-failure | system failures | the worst single Server or VirtualMachine | 6 |
| attack | attacks and malware | the perimeter: every Firewall and LoadBalancer | 24 |
| major-system-failure | major system failures | the worst single Application | 12 |

A site is a Datacenter CI not LOCATED_IN another Datacenter (a room or rack recorded as a
Datacenter inside one belongs to it); "in the site" is transitive (a server LOCATED_IN a rack
LOCATED_IN the site counts). The worst single CI of a class is the one whose failure takes the
most business services down (ties: most CIs down, then the smaller id). The recovery hours are
planning assumptions, not measurements: give your own per key. Retired CIs never fail and are
taken as not there. A scenario with nothing to fail (no firewall, no database) is left out.

The severity level and its reason follow impact/blast_radius.py; recovery priority is the
service's BIA rank (impact/bia.py). One fetch of the CI graph and one propagation pass answer
every scenario: each failure set, and each candidate for a worst single CI, is a scenario bit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import count

from pydantic import BaseModel

from cmdb_graph.model import CIClass, RelType, SeverityLevel
from cmdb_graph.store import Store
from impact.bia import analyse_bia
from impact.blast_radius import CORE_CRITICALITY, severity_level
from impact.impact import State
from impact.propagation import Propagation, propagate, scenario_bits
from impact.topology import AnalysisError, CIRef, Topology, require_cis, whole_graph


class Selection(str, Enum):
    """How a scenario kind picks what fails."""

    SITE = "site"  # per site: the site and everything located in it
    IN_SITE = "in-site"  # per site: the CIs of the kind's classes located in it
    WORST = "worst"  # the one CI of the kind's classes whose failure hurts most
    ALL = "all"  # every CI of the kind's classes


@dataclass(frozen=True)
class ScenarioKind:
    key: str
    title: str
    seed: str  # the seed's wording for it
    recovery_hours: float  # planning assumption
    selection: Selection
    classes: frozenset[CIClass] = frozenset()


PERIMETER = frozenset({CIClass.FIREWALL, CIClass.LOAD_BALANCER})

SCENARIO_KINDS: tuple[ScenarioKind, ...] = (
    ScenarioKind("site-loss", "Site loss", "natural disasters", 72, Selection.SITE),
    ScenarioKind("network-failure", "Network equipment or line failure", "network equipment and line failures", 4,
                 Selection.IN_SITE, frozenset({CIClass.NETWORK_DEVICE}) | PERIMETER),
    ScenarioKind("power-failure", "Power or data-centre infrastructure failure",
                 "power and data-centre infrastructure failures", 8, Selection.SITE),
    ScenarioKind("storage-failure", "Storage failure", "storage failures", 12, Selection.IN_SITE,
                 frozenset({CIClass.STORAGE_DEVICE})),
    ScenarioKind("database-failure", "Database failure", "database failures", 6, Selection.WORST,
                 frozenset({CIClass.DATABASE})),
    ScenarioKind("middleware-failure", "Middleware failure", "middleware failures", 4, Selection.WORST,
                 frozenset({CIClass.MIDDLEWARE})),
    ScenarioKind("system-failure", "System failure", "system failures", 6, Selection.WORST,
                 frozenset({CIClass.SERVER, CIClass.VIRTUAL_MACHINE})),
    ScenarioKind("attack", "Attack or malware on the perimeter", "attacks and malware", 24, Selection.ALL, PERIMETER),
    ScenarioKind("major-system-failure", "Major system failure", "major system failures", 12, Selection.WORST,
                 frozenset({CIClass.APPLICATION})),
)
KIND_KEYS: tuple[str, ...] = tuple(k.key for k in SCENARIO_KINDS)


class ScenarioService(BaseModel):
    ci: CIRef
    state: State
    criticality: int | None
    rto_minutes: int | None
    recovery_priority: int | None  # BIA rank: 1 is recovered first


class MissedRto(BaseModel):
    ci: CIRef
    rto_minutes: int
    minutes_over: float  # recovery time minus the RTO


class ScenarioResult(BaseModel):
    id: str  # key, or key:site-id for a per-site scenario
    key: str
    title: str
    seed: str
    site: CIRef | None
    failed: list[str]
    down_count: int
    impacted_count: int
    services_down: list[ScenarioService]
    services_degraded: list[ScenarioService]
    core_services_total: int
    core_services_down: int
    core_services_down_share: float
    recovery_hours: float
    severity_level: SeverityLevel
    reason: str
    missed_rtos: list[MissedRto]


@dataclass(frozen=True)
class _Plan:
    """A scenario before the propagation: for WORST kinds, `failed` holds the candidates."""

    kind: ScenarioKind
    site: str | None
    failed: tuple[str, ...]


CUSTOM = ScenarioKind("custom", "custom", "a failure set given by hand", 0, Selection.ALL)


def live(graph: Topology) -> Topology:
    """The graph without retired CIs (edges to them lead outside and count as up)."""
    return graph.only(c for c, n in graph.nodes.items() if n.status != "retired")


def sites(graph: Topology) -> list[str]:
    """Datacenter CIs not located in another Datacenter, by id."""
    def inside_another(ci_id: str) -> bool:
        return any(e.type is RelType.LOCATED_IN and e.target in graph.nodes
                   and graph.nodes[e.target].ci_class is CIClass.DATACENTER for e in graph.out.get(ci_id, ()))
    return sorted(c for c, n in graph.nodes.items() if n.ci_class is CIClass.DATACENTER and not inside_another(c))


def located_in(graph: Topology, site: str) -> set[str]:
    """The site and every CI LOCATED_IN it, directly or through a rack or room."""
    found, stack = {site}, [site]
    while stack:
        for source, edge in graph.incoming.get(stack.pop(), ()):
            if edge.type is RelType.LOCATED_IN and source not in found:
                found.add(source)
                stack.append(source)
    return found


def plans(graph: Topology, kinds: Sequence[ScenarioKind]) -> list[_Plan]:
    """Each kind's failure sets (per site for site kinds), the empty ones left out."""
    site_ids = sites(graph)
    places = {s: located_in(graph, s) for s in site_ids} if site_ids else {}
    found = []
    for kind in kinds:
        if kind.selection in (Selection.SITE, Selection.IN_SITE):
            for site in site_ids:
                members = places[site] if kind.selection is Selection.SITE else \
                    {c for c in places[site] if graph.nodes[c].ci_class in kind.classes}
                if members:
                    found.append(_Plan(kind, site, tuple(sorted(members))))
        else:
            members = sorted(c for c, n in graph.nodes.items() if n.ci_class in kind.classes)
            if members:
                found.append(_Plan(kind, None, tuple(members)))
    return found


def _per_scenario(masks: Mapping[str, int], ids: Sequence[str] | None = None) -> dict[int, list[str]]:
    """Scenario bit -> the CIs whose mask has it."""
    found: dict[int, list[str]] = defaultdict(list)
    for ci_id in masks if ids is None else ids:
        for bit in scenario_bits(masks.get(ci_id, 0)):
            found[bit].append(ci_id)
    return found


@dataclass
class _Outcome:
    """Per scenario bit: CIs down and impacted, business services down and degraded."""

    down: dict[int, list[str]]
    impacted: dict[int, list[str]]
    services_down: dict[int, list[str]]
    services_degraded: dict[int, list[str]]


def outcome_by_scenario(graph: Topology, propagation: Propagation) -> _Outcome:
    services = [c for c, n in graph.nodes.items() if n.ci_class is CIClass.BUSINESS_SERVICE]
    degraded = {c: propagation.impacted.get(c, 0) & ~propagation.down.get(c, 0) for c in services}
    return _Outcome(_per_scenario(propagation.down), _per_scenario(propagation.impacted),
                    _per_scenario(propagation.down, services), _per_scenario(degraded))


def worst(candidates: Sequence[str], bit_of: Mapping[str, int], outcome: _Outcome) -> str:
    """The candidate taking most business services down (then most CIs, then smaller id)."""
    def harm(ci_id: str) -> tuple[int, int, str]:
        bit = bit_of[ci_id]
        return -len(outcome.services_down.get(bit, ())), -len(outcome.down.get(bit, ())), ci_id
    return min(candidates, key=harm)


def _recovery_hours(overrides: Mapping[str, float] | None) -> dict[str, float]:
    hours = {k.key: float(k.recovery_hours) for k in SCENARIO_KINDS}
    for key, value in (overrides or {}).items():
        if key not in hours:
            raise AnalysisError(f"recoveryHours: no scenario {key!r} (known: {', '.join(KIND_KEYS)})")
        if value < 0:
            raise AnalysisError(f"recoveryHours: give 0 or more hours for {key!r}")
        hours[key] = float(value)
    return hours


def _kinds(keys: Sequence[str] | None) -> list[ScenarioKind]:
    if keys is None:
        return list(SCENARIO_KINDS)
    unknown = [k for k in keys if k not in KIND_KEYS]
    if unknown or not keys:
        named = f"no scenario {', '.join(repr(k) for k in unknown)}" if unknown else "give at least one scenario"
        raise AnalysisError(f"keys: {named} (known: {', '.join(KIND_KEYS)})")
    return [k for k in SCENARIO_KINDS if k.key in set(keys)]


def _recovery_priorities(store: Store, graph: Topology) -> dict[str, int]:
    return {entry.ci.id: entry.rank for entry in analyse_bia(store, graph=graph)}


def _service(graph: Topology, ci_id: str, state: State, ranks: Mapping[str, int]) -> ScenarioService:
    node = graph.nodes[ci_id]
    return ScenarioService(ci=node.ref(), state=state, criticality=node.criticality, rto_minutes=node.rto_minutes,
                           recovery_priority=ranks.get(ci_id))


def _by_priority(rows: list[ScenarioService]) -> list[ScenarioService]:
    return sorted(rows, key=lambda s: (s.recovery_priority is None, s.recovery_priority or 0, s.ci.id))


def result(graph: Topology, kind: ScenarioKind, site: str | None, failed: Sequence[str], bit: int,
           outcome: _Outcome, hours: float, ranks: Mapping[str, int], title: str | None = None) -> ScenarioResult:
    """One scenario's answer, read from its bit of the shared propagation."""
    down = _by_priority([_service(graph, c, State.DOWN, ranks) for c in outcome.services_down.get(bit, ())])
    degraded = _by_priority([_service(graph, c, State.DEGRADED, ranks) for c in outcome.services_degraded.get(bit, ())])
    core_total = sum(1 for n in graph.nodes.values()
                     if n.ci_class is CIClass.BUSINESS_SERVICE and n.criticality in CORE_CRITICALITY)
    core_down = sum(1 for s in down if s.criticality in CORE_CRITICALITY)
    share = core_down / core_total if core_total else 0.0
    level, reason = severity_level(share, hours)
    minutes = hours * 60
    missed = [MissedRto(ci=s.ci, rto_minutes=s.rto_minutes, minutes_over=round(minutes - s.rto_minutes, 2))
              for s in down if s.rto_minutes is not None and s.rto_minutes < minutes]
    site_node = graph.nodes[site] if site else None
    return ScenarioResult(
        id=f"{kind.key}:{site}" if site else kind.key, key=kind.key,
        title=title or (f"{kind.title}: {site_node.name}" if site_node else kind.title), seed=kind.seed,
        site=site_node.ref() if site_node else None, failed=sorted(failed),
        down_count=len(outcome.down.get(bit, ())), impacted_count=len(outcome.impacted.get(bit, ())),
        services_down=down, services_degraded=degraded, core_services_total=core_total, core_services_down=core_down,
        core_services_down_share=round(share, 4), recovery_hours=hours, severity_level=level, reason=reason,
        missed_rtos=missed,
    )


def run_scenarios(store: Store, recovery_hours: dict[str, float] | None = None,
                  keys: list[str] | None = None) -> list[ScenarioResult]:
    """Every scenario of the kinds asked for (all when not given), kinds in declaration order
    and sites by id; `recovery_hours` replaces the planning assumption of the keys it names."""
    hours = _recovery_hours(recovery_hours)
    kinds = _kinds(keys)
    full = whole_graph(store)
    graph = live(full)
    planned = plans(graph, kinds)

    failed: dict[str, int] = defaultdict(int)
    plan_bits: list[int] = []  # per plan its bit; a WORST plan's candidates have their own
    candidate_bit: dict[str, int] = {}
    fresh = count()
    for plan in planned:
        worst_kind = plan.kind.selection is Selection.WORST
        bit = -1 if worst_kind else next(fresh)
        plan_bits.append(bit)
        for ci_id in plan.failed:
            if worst_kind and ci_id not in candidate_bit:
                candidate_bit[ci_id] = next(fresh)
            failed[ci_id] |= 1 << (candidate_bit[ci_id] if worst_kind else bit)
    outcome = outcome_by_scenario(graph, propagate(graph, failed))

    chosen: list[tuple[_Plan, tuple[str, ...], int]] = []
    for plan, bit in zip(planned, plan_bits):
        if plan.kind.selection is Selection.WORST:
            pick = worst(plan.failed, candidate_bit, outcome)
            chosen.append((plan, (pick,), candidate_bit[pick]))
        else:
            chosen.append((plan, plan.failed, bit))
    touched = any(outcome.services_down.get(b) or outcome.services_degraded.get(b) for _, _, b in chosen)
    ranks = _recovery_priorities(store, full) if touched else {}
    return [result(graph, plan.kind, plan.site, ids, bit, outcome, hours[plan.kind.key], ranks)
            for plan, ids, bit in chosen]


def run_failure_set(store: Store, failed_ids: Sequence[str], recovery_hours: float,
                    title: str = "custom") -> ScenarioResult:
    """A scenario of your own: `failed_ids` fail together, recovered in `recovery_hours`
    (retired CIs among them do not fail)."""
    failed_ids = require_cis(store, failed_ids, "failed")
    if recovery_hours < 0:
        raise AnalysisError("recoveryHours: give 0 or more hours")
    full = whole_graph(store)
    graph = live(full)
    failing = [c for c in failed_ids if c in graph.nodes]
    outcome = outcome_by_scenario(graph, propagate(graph, {c: 1 for c in failing}))
    touched = bool(outcome.services_down.get(0) or outcome.services_degraded.get(0))
    ranks = _recovery_priorities(store, full) if touched else {}
    return result(graph, CUSTOM, None, failing, 0, outcome, float(recovery_hours), ranks, title=title)
