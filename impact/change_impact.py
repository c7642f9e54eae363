"""changeImpact(C): what a change puts at risk while its targets are down for its window, the
route its approval must take, and the changes it collides with.

Collisions are of two kinds. Two changes whose windows overlap and whose impact sets
intersect share impact. And two overlapping changes can together take down what neither
does alone: each removes one node of a farm that survives the loss of one node but not two.
One propagation pass with a scenario for this change, one per overlapping change and one per
pair finds both kinds.

The approval route follows the change policy: a standard change whose category is in the
catalogue of pre-authorised changes (000 3.2.5; for the non-production categories, every
target outside production) is PRE_APPROVED; an emergency change goes to the EMERGENCY_CAB;
everything else to the CAB.

The risk score (0-100) is the sum of weight x value over the factors in RISK_WEIGHTS, each
value between 0 and 1; every factor is returned with its weight, value and reason."""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from cmdb_graph.model import Change, ChangeType, Recurrence, from_neo4j_text
from cmdb_graph.store import NotFoundError, Store
from impact.impact import ImpactedCI, ServiceImpact, State, impacted_cis, impacted_services, states_given
from impact.propagation import propagate
from impact.graph_view import LiveGraph
from impact.topology import AnalysisError, CIRef, dependents_region
from impact.what_if import EditedGraph, GraphEdit

# category -> whether every target must be outside production
STANDARD_CATALOGUE: dict[str, bool] = {
    "account management": False,       # passwords, permissions
    "non-production software": True,   # install or upgrade software
    "non-production hardware": True,   # hardware upgrades
    "non-production network": True,    # IP address changes
    "attribute update": False,         # CI attributes during a migration (addresses, location)
    "documentation": False,
}
CLOSED_CHANGE_STATES = ("implemented", "reviewed", "closed", "rejected", "failed", "rolled_back", "cancelled")
RISK_WEIGHTS = {
    "business_impact": 25, "breadth": 10, "change_type": 10, "declared_risk": 10, "outside_maintenance_window": 10,
    "blackout": 10, "collisions": 10, "failed_history": 5, "open_problems": 5, "rollback_plan": 5,
}


class TimeWindow(BaseModel):
    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


class RiskFactor(BaseModel):
    name: str
    weight: float
    value: float
    contribution: float
    reason: str


class ChangeConflict(BaseModel):
    change_id: str
    title: str
    overlap: TimeWindow
    shared_impact: list[CIRef]
    jointly_down: list[CIRef]  # down only when both changes run together
    reason: str


class ChangeImpact(BaseModel):
    change_id: str
    title: str
    type: ChangeType
    window: TimeWindow | None
    targets: list[str]
    impacted: list[ImpactedCI]
    business_services: list[ServiceImpact]
    risk_score: float
    risk_factors: list[RiskFactor]
    approval_route: str
    approval_reason: str
    outside_maintenance_window: bool
    targets_without_maintenance_window: list[str]
    in_blackout: bool
    blackouts: list[str]
    conflicts: list[ChangeConflict]
    what_if: int = 0  # hypothetical edits applied
    snapshots: dict[str, dict[str, Any]] = Field(default_factory=dict, exclude=True)  # CIs only what-if has


OVERLAPPING_CHANGES = """
MATCH (k:Change)
WHERE k.id <> $id AND NOT k.state IN $closed
  AND k.planned_start IS NOT NULL AND k.planned_end IS NOT NULL
  AND k.planned_start < datetime($end) AND k.planned_end > datetime($start)
WITH k ORDER BY k.id
RETURN collect({id: k.id, title: k.title, start: toString(k.planned_start), end: toString(k.planned_end),
                targets: COLLECT { MATCH (k)-[:TARGETS]->(c:CI) RETURN c.id ORDER BY c.id }}) AS changes
"""

WINDOWS_ON = """
UNWIND $ids AS id
MATCH (w)-[:APPLIES_TO]->(:CI {id: id})
WHERE w:MaintenanceWindow OR w:Blackout
RETURN collect({ci: id, id: w.id, blackout: w:Blackout, start: toString(w.start), end: toString(w.end),
                recurrence: w.recurrence}) AS windows
"""

HISTORY_ON_TARGETS = """
UNWIND $ids AS id
MATCH (k:Change)-[:TARGETS]->(:CI {id: id})
WHERE k.id <> $change
WITH DISTINCT k
RETURN count(k) AS total, count(CASE WHEN k.state IN ['failed', 'rolled_back'] THEN 1 END) AS failed
"""

PROBLEMS_ON_TARGETS = """
UNWIND $ids AS id
MATCH (p:Problem)-[:ROOT_CAUSE_IN]->(:CI {id: id})
WHERE p.status IN ['open', 'investigating', 'known_error']
RETURN collect(DISTINCT p.id) AS problems
"""

ENVIRONMENTS = "UNWIND $ids AS id MATCH (c:CI {id: id}) RETURN collect([c.id, c.environment]) AS rows"


def shift_months(moment: datetime, months: int) -> datetime | None:
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    if moment.day > monthrange(year, month + 1)[1]:
        return None
    return moment.replace(year=year, month=month + 1)


def occurrence_covering(start: datetime, end: datetime, recurrence: str | None, moment: datetime) -> TimeWindow | None:
    """The occurrence of a (possibly recurring) window that contains `moment`, if any."""
    length = end - start
    if recurrence in (None, Recurrence.NONE.value):
        candidates = [start]
    elif recurrence == Recurrence.MONTHLY.value:
        months = (moment.year - start.year) * 12 + moment.month - start.month
        candidates = [s for s in (shift_months(start, months + k) for k in (-1, 0)) if s is not None]
    else:
        period = timedelta(days=1 if recurrence == Recurrence.DAILY.value else 7)
        k = (moment - start) // period
        candidates = [start + period * k] if k >= 0 else []
    for begin in candidates:
        if begin <= moment < begin + length:
            return TimeWindow(start=begin, end=begin + length)
    return None


def approval_route(change: Change, environments: dict[str, str]) -> tuple[str, str]:
    if change.type is ChangeType.EMERGENCY:
        return "EMERGENCY_CAB", "emergency change: the emergency CAB approves"
    if change.type is ChangeType.STANDARD:
        category = (change.category or "").strip().lower()
        if category not in STANDARD_CATALOGUE:
            return "CAB", f"standard change, but category {change.category!r} is not in the pre-authorised catalogue"
        production = sorted(t for t in change.targets if environments.get(t) == "production")
        if STANDARD_CATALOGUE[category] and production:
            return "CAB", f"{category!r} is pre-authorised outside production only; production targets: {', '.join(production)}"
        return "PRE_APPROVED", f"standard change from the catalogue ({category})"
    return "CAB", "normal change: the CAB approves"


def analyse_change_impact(store: Store, change_id: str, what_if: Sequence[GraphEdit] | None = None) -> ChangeImpact:
    found = store.get_record(Change, change_id)
    if found is None:
        raise NotFoundError(f"changeId: no change with id {change_id!r}")
    change = found[0]
    assert isinstance(change, Change)
    return analyse_change(store, change, what_if)


def analyse_change(store: Store, change: Change, what_if: Sequence[GraphEdit] | None = None) -> ChangeImpact:
    """The analysis of a change as given (stored or about to be: a change being recorded is
    assessed before it is written), on the graph with the hypothetical edits `what_if` (the
    change's own plan, say), written nowhere."""
    view = EditedGraph(LiveGraph(store), list(what_if)) if what_if else None
    targets = list(change.targets)
    window = TimeWindow(start=change.planned_start, end=change.planned_end) \
        if change.planned_start and change.planned_end else None

    others = []
    if window:
        others = store.rows(OVERLAPPING_CHANGES, id=change.id, closed=list(CLOSED_CHANGE_STATES),
                      start=window.start.isoformat(), end=window.end.isoformat())[0]["changes"]
        others = [o for o in others if o["targets"]]
    all_targets = sorted(set(targets) | {t for o in others for t in o["targets"]})
    if view is not None:
        gone = view.missing(targets)
        if gone:
            raise AnalysisError(f"whatIf: retires the change's target {', '.join(gone)}; retire it by the change, "
                                "or leave it in the graph")
        all_targets = [t for t in all_targets if t not in set(view.missing(all_targets))]
    region = (view.dependents(all_targets, evidence=False) if view is not None else dependents_region(store, all_targets)) \
        if all_targets else None

    impacted: list[ImpactedCI] = []
    conflicts: list[ChangeConflict] = []
    if region is not None and targets:
        outcome, distance, paths = states_given(region, targets)
        impacted = impacted_cis(region, outcome, distance, paths)
        conflicts = _conflicts(region, targets, others, window)
    services = impacted_services(store, impacted)
    impacted_ids = [row.ci.id for row in impacted]

    windows = store.rows(WINDOWS_ON, ids=sorted(set(impacted_ids) | set(targets)))[0]["windows"]
    outside, without = _outside_maintenance(windows, targets, window)
    blackouts = sorted({w["id"] for w in windows if w["blackout"] and window
                        and from_neo4j_text(w["start"]) < window.end and from_neo4j_text(w["end"]) > window.start})
    environments = dict(store.rows(ENVIRONMENTS, ids=targets)[0]["rows"]) if targets else {}
    route, route_reason = approval_route(change, environments)
    factors = _risk_factors(store, change, impacted, services, outside, bool(blackouts), conflicts)
    return ChangeImpact(
        change_id=change.id, title=change.title, type=change.type, window=window, targets=targets,
        impacted=impacted, business_services=services,
        risk_score=round(sum(f.contribution for f in factors), 1), risk_factors=factors,
        approval_route=route, approval_reason=route_reason, outside_maintenance_window=outside,
        targets_without_maintenance_window=without, in_blackout=bool(blackouts), blackouts=blackouts,
        conflicts=conflicts, what_if=len(what_if or []), snapshots=view.ci_props() if view is not None else {},
    )


def _conflicts(region, targets: list[str], others: list[dict], window: TimeWindow | None) -> list[ChangeConflict]:
    if not others or window is None:
        return []
    failed: dict[str, int] = {}

    def mark(cis: list[str], scenario: int) -> None:
        for ci_id in cis:
            failed[ci_id] = failed.get(ci_id, 0) | (1 << scenario)

    mark(targets, 0)
    for j, other in enumerate(others):
        mark(other["targets"], 1 + j)                 # the other change alone
        mark(targets + other["targets"], 1 + len(others) + j)  # both together
    outcome = propagate(region, failed)
    found = []
    for j, other in enumerate(others):
        alone, together = 1 + j, 1 + len(others) + j
        shared = sorted(c for c, bits in outcome.impacted.items() if bits & 1 and bits >> alone & 1)
        joint = sorted(c for c, bits in outcome.down.items()
                       if bits >> together & 1 and not bits & 1 and not bits >> alone & 1)
        if not shared and not joint:
            continue
        overlap = TimeWindow(start=max(window.start, from_neo4j_text(other["start"])), end=min(window.end, from_neo4j_text(other["end"])))
        reasons = []
        if joint:
            reasons.append(f"together they take down {', '.join(joint[:5])}{' ...' if len(joint) > 5 else ''}, "
                           "which neither takes down alone")
        if shared:
            reasons.append(f"both impact {len(shared)} CI{'s' if len(shared) != 1 else ''} "
                           f"({', '.join(shared[:5])}{' ...' if len(shared) > 5 else ''})")
        found.append(ChangeConflict(
            change_id=other["id"], title=other["title"], overlap=overlap,
            shared_impact=[region.nodes[c].ref() for c in sorted(set(shared) | set(joint))],
            jointly_down=[region.nodes[c].ref() for c in joint],
            reason=f"windows overlap for {overlap.minutes:g} min; " + "; ".join(reasons),
        ))
    return found


def _outside_maintenance(windows: list[dict], targets: list[str], window: TimeWindow | None) -> tuple[bool, list[str]]:
    """Whether some target has maintenance windows and none of them holds the whole change
    window; and the targets that have none at all."""
    by_target: dict[str, list[dict]] = {t: [] for t in targets}
    for w in windows:
        if not w["blackout"] and w["ci"] in by_target:
            by_target[w["ci"]].append(w)
    without = sorted(t for t, found in by_target.items() if not found)
    if window is None:
        return bool(targets) and len(without) < len(targets), without
    outside = False
    for found in by_target.values():
        if not found:
            continue
        covered = False
        for w in found:
            occurrence = occurrence_covering(from_neo4j_text(w["start"]), from_neo4j_text(w["end"]), w["recurrence"], window.start)
            if occurrence and window.end <= occurrence.end:
                covered = True
        outside = outside or not covered
    return outside, without


def _risk_factors(store: Store, change: Change, impacted: list[ImpactedCI], services: list[ServiceImpact],
                  outside: bool, blackout: bool, conflicts: list[ChangeConflict]) -> list[RiskFactor]:
    def factor(name: str, value: float, reason: str) -> RiskFactor:
        value = max(0.0, min(1.0, value))
        return RiskFactor(name=name, weight=RISK_WEIGHTS[name], value=round(value, 3),
                          contribution=round(RISK_WEIGHTS[name] * value, 2), reason=reason)

    tiers = {1: 1.0, 2: 0.75, 3: 0.5, 4: 0.25}
    service_value, worst = 0.0, "no business service impacted"
    for s in services:
        value = tiers.get(s.criticality or 4, 0.25) * (1.0 if s.state is State.DOWN else 0.5)
        if value > service_value:
            service_value, worst = value, f"{s.ci.id} (tier {s.criticality}) {s.state.value.lower()}"
    history = store.rows(HISTORY_ON_TARGETS, ids=change.targets, change=change.id)[0] if change.targets else {"total": 0, "failed": 0}
    problems = store.rows(PROBLEMS_ON_TARGETS, ids=change.targets)[0]["problems"] if change.targets else []
    joint = [c for c in conflicts if c.jointly_down]
    return [
        factor("business_impact", service_value, worst),
        factor("breadth", len(impacted) / 50, f"{len(impacted)} CIs impacted (50 or more counts in full)"),
        factor("change_type", {ChangeType.EMERGENCY: 1.0, ChangeType.NORMAL: 0.5, ChangeType.STANDARD: 0.1}[change.type],
               f"{change.type.value} change"),
        factor("declared_risk", {"high": 1.0, "medium": 0.5, "low": 0.1}.get(change.risk.value if change.risk else "", 0.5),
               f"declared {change.risk.value if change.risk else 'no'} risk"),
        factor("outside_maintenance_window", 1.0 if outside else 0.0,
               "outside the targets' maintenance windows" if outside else "within maintenance windows (or none defined)"),
        factor("blackout", 1.0 if blackout else 0.0, "during a blackout" if blackout else "no blackout"),
        factor("collisions", (len(conflicts) + len(joint)) / 2,
               f"{len(conflicts)} colliding change(s), {len(joint)} taking down together what neither does alone"),
        factor("failed_history", history["failed"] / 2,
               f"{history['failed']} of {history['total']} earlier changes on the targets failed or were rolled back"),
        factor("open_problems", 1.0 if problems else 0.0,
               f"open problems on the targets: {', '.join(problems)}" if problems else "no open problem on the targets"),
        factor("rollback_plan", 0.0 if change.rollback_plan else 1.0,
               "has a rollback plan" if change.rollback_plan else "no rollback plan"),
    ]
