"""Incident deadlines, breaches and escalation, found through the graph.

An incident's response and resolution deadlines come from the SLAs of the business services
its CIs support: every business service that needs an affected CI, transitively, along any
relationship. Where several SLAs apply, the earliest deadline wins (the strictest promise
binds). Each clock counts only the SLA's service hours. A deadline stored on the incident
(set when it was recorded through the API) is kept as it was promised.

Escalation follows ESCALATION_RULES: functional (to a more specialised group) when the
response deadline passes without a response or three quarters of the resolution time is
gone; hierarchical (up the management line) when the resolution deadline passes, and a level
higher when it is overrun by half as long again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from pydantic import BaseModel

from cmdb_graph.model import OPEN_INCIDENT_STATUSES, CIClass, EscalationKind, Incident
from cmdb_graph.processes.records import write_records
from cmdb_graph.processes.service_hours import add_service_minutes, parse_service_hours, service_minutes_between
from cmdb_graph.store import NotFoundError, Store
from impact.topology import ALL_TYPES, _type_pattern


class SlaTerms(BaseModel):
    """One SLA that applies to an incident, through the service it covers."""

    sla_id: str
    service_id: str
    response_minutes: int | None
    resolution_minutes: int | None
    service_hours: str | None


class IncidentDeadlines(BaseModel):
    incident_id: str
    priority: int | None
    opened_at: datetime
    services: list[str]
    slas: list[SlaTerms]
    response_sla: str | None
    response_due: datetime | None
    resolution_sla: str | None
    resolution_due: datetime | None
    responded_at: datetime | None
    resolved_at: datetime | None
    # None while the deadline has not come and the step is not done
    response_breached: bool | None
    resolution_breached: bool | None
    escalation_level: int
    escalation_kind: EscalationKind | None
    escalation_reason: str | None


class Escalation(BaseModel):
    level: int
    kind: EscalationKind
    reason: str


# level, kind, which deadline, share of its time gone that triggers it
ESCALATION_RULES: tuple[tuple[int, EscalationKind, str, float], ...] = (
    (1, EscalationKind.FUNCTIONAL, "response", 1.0),
    (1, EscalationKind.FUNCTIONAL, "resolution", 0.75),
    (2, EscalationKind.HIERARCHICAL, "resolution", 1.0),
    (3, EscalationKind.HIERARCHICAL, "resolution", 1.5),
)


@cache
def _slas_of_cis_query() -> str:
    return f"""
UNWIND $incidents AS incident
CALL {{
  WITH incident
  UNWIND incident.affects AS ci_id
  MATCH (c:CI {{id: ci_id}})<-[{_type_pattern(ALL_TYPES)}*0..]-(s:CI {{ci_class: $business}})
  WHERE s.status <> 'retired'
  WITH DISTINCT s
  OPTIONAL MATCH (sla:SLA)-[:COVERS]->(s)
  WITH s, sla ORDER BY s.id, sla.id
  RETURN collect(DISTINCT s.id) AS services,
         collect(CASE WHEN sla IS NULL THEN null ELSE
                 {{sla_id: sla.id, service_id: s.id, response_minutes: sla.response_minutes,
                  resolution_minutes: sla.resolution_minutes, service_hours: sla.service_hours}} END) AS slas
}}
RETURN incident.id AS id, services, slas
"""


def slas_of_incidents(store: Store, affects: dict[str, list[str]]) -> dict[str, tuple[list[str], list[SlaTerms]]]:
    """Per incident (id -> its affected CIs): the business services those CIs support, and the
    SLAs covering them."""
    incidents = [{"id": i, "affects": list(cis)} for i, cis in affects.items()]
    rows = store.rows(_slas_of_cis_query(), incidents=incidents, business=CIClass.BUSINESS_SERVICE.value)
    return {row["id"]: (row["services"], [SlaTerms(**s) for s in row["slas"]]) for row in rows}


def _earliest(opened_at: datetime, slas: list[SlaTerms], field: str) -> tuple[datetime | None, str | None]:
    best: tuple[datetime | None, str | None] = (None, None)
    for sla in slas:
        minutes = getattr(sla, field)
        if minutes is None:
            continue
        due = add_service_minutes(opened_at, minutes, parse_service_hours(sla.service_hours))
        if best[0] is None or due < best[0]:
            best = (due, sla.sla_id)
    return best


def breached(due: datetime | None, done: datetime | None, now: datetime) -> bool | None:
    """Late if done after the deadline, or not done and the deadline gone; None while it can
    still be met (or there is no deadline)."""
    if due is None:
        return None
    if done is not None:
        return done > due
    return True if now > due else None


def deadlines_for(incident: Incident, services: list[str], slas: list[SlaTerms], now: datetime) -> IncidentDeadlines:
    response_due, response_sla = _earliest(incident.opened_at, slas, "response_minutes")
    resolution_due, resolution_sla = _earliest(incident.opened_at, slas, "resolution_minutes")
    if incident.response_due is not None:
        response_due, response_sla = incident.response_due, response_sla or "stored"
    if incident.resolution_due is not None:
        resolution_due, resolution_sla = incident.resolution_due, resolution_sla or "stored"
    return IncidentDeadlines(
        incident_id=incident.id, priority=incident.priority, opened_at=incident.opened_at, services=services,
        slas=slas, response_sla=response_sla, response_due=response_due, resolution_sla=resolution_sla,
        resolution_due=resolution_due, responded_at=incident.responded_at, resolved_at=incident.resolved_at,
        response_breached=breached(response_due, incident.responded_at, now),
        resolution_breached=breached(resolution_due, incident.resolved_at, now),
        escalation_level=incident.escalation_level, escalation_kind=incident.escalation_kind,
        escalation_reason=incident.escalation_reason,
    )


def deadlines_of(store: Store, incidents: Sequence[Incident], now: datetime) -> list[IncidentDeadlines]:
    found = slas_of_incidents(store, {i.id: i.affects for i in incidents})
    return [deadlines_for(i, *found.get(i.id, ([], [])), now) for i in incidents]


def incident_deadlines(store: Store, incident_id: str, now: datetime) -> IncidentDeadlines:
    stored = store.get_record(Incident, incident_id)
    if stored is None:
        raise NotFoundError(f"id: no incident with id {incident_id!r}")
    incident = stored[0]
    assert isinstance(incident, Incident)
    return deadlines_of(store, [incident], now)[0]


def escalation_due(deadlines: IncidentDeadlines, now: datetime) -> Escalation | None:
    """The highest escalation the rules call for at `now`, with the reason; None when no rule
    is met (a resolved incident escalates no further)."""
    if deadlines.resolved_at is not None:
        return None
    found: Escalation | None = None
    for level, kind, which, share in ESCALATION_RULES:
        due = deadlines.response_due if which == "response" else deadlines.resolution_due
        if due is None or (which == "response" and deadlines.responded_at is not None):
            continue
        sla = deadlines.response_sla if which == "response" else deadlines.resolution_sla
        trigger = _share_of_time(deadlines, sla, due, share)
        # a deadline has passed once it is behind us (done exactly at it is still in time)
        reached = now > trigger if share == 1 else now >= trigger
        if reached and (found is None or level > found.level):
            if share < 1:
                when = f"{share:.0%} of the {which} time gone ({which} due {due:%Y-%m-%d %H:%M} UTC under {sla})"
            elif share == 1:
                when = f"{which} deadline {due:%Y-%m-%d %H:%M} UTC under {sla} passed without a {which}"
            else:
                when = f"{which} deadline {due:%Y-%m-%d %H:%M} UTC under {sla} overrun by {share - 1:.0%} of its time"
            found = Escalation(level=level, kind=kind, reason=f"{kind.value} escalation to level {level}: {when}")
    return found


def _share_of_time(deadlines: IncidentDeadlines, sla_id: str | None, due: datetime, share: float) -> datetime:
    """The moment `share` of the time from opening to `due` is gone, counted on the clock of
    the SLA that set the deadline (its service hours; a stored deadline with no SLA of its
    own: the wall clock)."""
    if share == 1:
        return due
    terms = next((s for s in deadlines.slas if s.sla_id == sla_id), None)
    hours = parse_service_hours(terms.service_hours if terms else None)
    allowed = service_minutes_between(deadlines.opened_at, due, hours)
    return add_service_minutes(deadlines.opened_at, allowed * share, hours)


class EscalationRun(BaseModel):
    at: datetime
    checked: int
    escalated: list[IncidentDeadlines]


OPEN_INCIDENTS = """
MATCH (i:Incident) WHERE i.status IN $open AND i.opened_at <= datetime($now)
RETURN i.id AS id, i.version AS version ORDER BY id
"""


def escalate_incidents(store: Store, now: datetime, actor: str, dry_run: bool = False) -> EscalationRun:
    """Escalate every open incident whose deadlines call for a higher level than it has, in
    one transaction, each recorded with its level, kind, reason and time."""
    versions = {row["id"]: row["version"] for row in
                store.rows(OPEN_INCIDENTS, open=list(OPEN_INCIDENT_STATUSES), now=now.isoformat())}
    incidents = _incidents(store, list(versions))
    escalated, rows = [], []
    for deadlines, incident in zip(deadlines_of(store, incidents, now), incidents):
        step = escalation_due(deadlines, now)
        if step is None or step.level <= incident.escalation_level:
            continue
        rows.append({**incident.model_dump(mode="python"), "escalation_level": step.level,
                     "escalation_kind": step.kind.value, "escalation_reason": step.reason, "escalated_at": now})
        escalated.append(deadlines.model_copy(update={
            "escalation_level": step.level, "escalation_kind": step.kind, "escalation_reason": step.reason}))
    if rows and not dry_run:
        # at the versions read: an incident changed meanwhile fails the run (CONFLICT), never lost
        write_records(store, {"incidents": rows}, source="escalation", actor=actor,
                      expected={(Incident.label.value, row["id"]): versions[row["id"]] for row in rows})
    return EscalationRun(at=now, checked=len(incidents), escalated=escalated)


def _incidents(store: Store, ids: Sequence[str]) -> list[Incident]:
    found = store.records_by_id(Incident, ids)
    return [found[i] for i in ids if i in found]  # type: ignore[misc]


def incidents_between(store: Store, start: datetime | None, end: datetime | None) -> list[Incident]:
    """Incidents opened in [start, end), oldest first."""
    rows = store.rows(INCIDENTS_OPENED, start=start.isoformat() if start else None, end=end.isoformat() if end else None)
    return _incidents(store, [r["id"] for r in rows])


INCIDENTS_OPENED = """
MATCH (i:Incident)
WHERE ($start IS NULL OR i.opened_at >= datetime($start)) AND ($end IS NULL OR i.opened_at < datetime($end))
RETURN i.id AS id ORDER BY i.opened_at, i.id
"""

