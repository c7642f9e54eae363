"""slaAttainment(from, to): per business service with an SLA, what the period delivered
against it, why it missed, and how it compares with the period before.

Availability comes from the downtime incidents caused through the graph: while an outage
incident (`outage: true`: its CIs were down, not merely impaired) is open (opened_at until
resolved_at, or now while it is not resolved), its affected CIs count as failed,
and the one propagation rule decides which services were down. So a failed database counts
against every service that needs it, and losing one node of a redundant pair costs nothing.
The period is cut into segments at every incident start and end; each segment is a scenario
bit, and one extra bit per incident (that incident alone) tells which incidents took a
service down by themselves, to name them. Only downtime inside the SLA's service hours
counts, and (when the SLA excludes maintenance) not inside a maintenance window that applies
to the service.

Response and resolution attainment: among incidents opened in the period that touch the
service (its SLA applies to them, see `cmdb_graph/processes/incidents.py`), the share
answered and resolved within this SLA's times; incidents whose deadline has not come and that
are not done yet are left out."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from enum import Enum

from pydantic import BaseModel

from cmdb_graph.model import CIClass, Incident, Recurrence, from_neo4j_text
from cmdb_graph.processes.incidents import SlaTerms, breached, incidents_between, slas_of_incidents
from cmdb_graph.processes.service_hours import (
    ServiceHours,
    add_service_minutes,
    parse_service_hours,
    service_minutes_between,
)
from cmdb_graph.store import Store
from impact.change_impact import shift_months
from impact.propagation import propagate
from impact.topology import AnalysisError, CIRef, Topology, dependents_region


class Trend(str, Enum):
    BETTER = "BETTER"
    WORSE = "WORSE"
    UNCHANGED = "UNCHANGED"
    NO_DATA = "NO_DATA"


class Downtime(BaseModel):
    incidents: list[str]  # one incident alone, or the ones that only together took it down
    minutes: float


class Attainment(BaseModel):
    counted: int
    met: int
    rate: float | None
    target_minutes: int | None


class PeriodFigures(BaseModel):
    start: datetime
    end: datetime
    service_minutes: float
    downtime_minutes: float
    excluded_minutes: float
    availability: float | None
    response: Attainment
    resolution: Attainment


class ServiceAttainment(BaseModel):
    service: CIRef
    sla_id: str
    availability_target: float
    service_hours: str | None
    current: PeriodFigures
    previous: PeriodFigures
    downtime: list[Downtime]
    availability_met: bool | None
    misses: list[str]
    trend: Trend


class SlaReport(BaseModel):
    start: datetime
    end: datetime
    services: list[ServiceAttainment]
    services_meeting_availability: int
    services_measured: int


SLAS = """
MATCH (sla:SLA)-[:COVERS]->(s:CI {ci_class: $business})
WHERE s.status <> 'retired'
WITH s, sla ORDER BY sla.availability_target DESC, sla.id
WITH s, collect(sla)[0] AS sla
RETURN s.id AS service, s.name AS name, s.criticality AS criticality, sla.id AS sla_id, sla.availability_target AS target, sla.response_minutes AS response,
       sla.resolution_minutes AS resolution, sla.service_hours AS hours,
       coalesce(sla.exclude_maintenance, true) AS exclude_maintenance
ORDER BY service
"""

INCIDENTS_OVERLAPPING = """
MATCH (i:Incident)
WHERE i.outage AND i.opened_at < datetime($end) AND (i.resolved_at IS NULL OR i.resolved_at > datetime($start))
RETURN i.id AS id ORDER BY i.opened_at, i.id
"""

MAINTENANCE_OF = """
UNWIND $ids AS id
MATCH (w:MaintenanceWindow)-[:APPLIES_TO]->(:CI {id: id})
RETURN id AS service, toString(w.start) AS start, toString(w.end) AS end, w.recurrence AS recurrence
"""


def occurrences(first: datetime, last: datetime, recurrence: str | None, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of [lo, hi) inside an occurrence of a (possibly recurring) window."""
    length = last - first
    if recurrence in (None, Recurrence.NONE.value):
        starts = [first]
    elif recurrence == Recurrence.MONTHLY.value:
        months = range(max(0, (lo.year - first.year) * 12 + lo.month - first.month - 1),
                       (hi.year - first.year) * 12 + hi.month - first.month + 1)
        starts = [s for s in (shift_months(first, k) for k in months) if s is not None]
    else:
        period = timedelta(days=1 if recurrence == Recurrence.DAILY.value else 7)
        k = max(0, (lo - length - first) // period)
        starts = []
        while first + period * k < hi:
            starts.append(first + period * k)
            k += 1
    return [(max(lo, s), min(hi, s + length)) for s in starts if s < hi and s + length > lo]


def _maintenance_minutes(windows: list[dict], start: datetime, end: datetime, hours: ServiceHours) -> float:
    """Minutes of [start, end) inside an occurrence of the windows (and inside service hours)."""
    covered = sorted(part for w in windows
                     for part in occurrences(from_neo4j_text(w["start"]), from_neo4j_text(w["end"]), w["recurrence"], start, end))
    total, reach = 0.0, start
    for lo, hi in covered:
        lo = max(lo, reach)
        if hi > lo:
            total += service_minutes_between(lo, hi, hours)
            reach = hi
    return total


def _segments(incidents: list[Incident], start: datetime, end: datetime,
              now: datetime) -> list[tuple[datetime, datetime, list[str]]]:
    """[start, end) cut at every incident start and end, with the incidents open in each; an
    incident not resolved yet is open until `now`, not into the future."""
    cuts = {start, end}
    for i in incidents:
        for moment in (i.opened_at, i.resolved_at or now):
            if moment is not None and start < moment < end:
                cuts.add(moment)
    ordered = sorted(cuts)
    segments = []
    for lo, hi in zip(ordered, ordered[1:]):
        active = [i.id for i in incidents if i.opened_at <= lo and (i.resolved_at or now) >= hi]
        if active:
            segments.append((lo, hi, active))
    return segments


def _attainment(rows: list[tuple[Incident, SlaTerms]], field: str, now: datetime) -> Attainment:
    counted = met = 0
    target = None
    for incident, sla in rows:
        minutes = getattr(sla, f"{field}_minutes")
        target = minutes
        if minutes is None:
            continue
        due = add_service_minutes(incident.opened_at, minutes, parse_service_hours(sla.service_hours))
        done = incident.responded_at if field == "response" else incident.resolved_at
        late = breached(due, done, now)
        if late is None:
            continue
        counted += 1
        met += 0 if late else 1
    return Attainment(counted=counted, met=met, rate=round(met / counted, 4) if counted else None, target_minutes=target)


def analyse_sla_attainment(store: Store, start: datetime, end: datetime, now: datetime | None = None) -> SlaReport:
    if end <= start:
        raise AnalysisError("to: the period must end after it starts")
    now = now or min(end, datetime.now(timezone.utc))
    length = end - start
    previous_start = start - length
    slas = store.rows(SLAS, business=CIClass.BUSINESS_SERVICE.value)
    ids = [r["id"] for r in store.rows(INCIDENTS_OVERLAPPING, start=previous_start.isoformat(), end=end.isoformat())]
    found = store.records_by_id(Incident, ids)
    incidents: list[Incident] = [found[i] for i in ids if i in found]  # type: ignore[misc]
    all_opened = incidents_between(store, previous_start, end)
    failed_cis = sorted({c for i in incidents for c in i.affects})
    region = dependents_region(store, failed_cis) if failed_cis else Topology({})

    segments = _segments(incidents, previous_start, end, now)
    solo_bit = {i.id: len(segments) + n for n, i in enumerate(incidents)}
    failed: dict[str, int] = defaultdict(int)
    for bit, (_lo, _hi, active) in enumerate(segments):
        for incident_id in active:
            for ci_id in found[incident_id].affects:  # type: ignore[attr-defined]
                failed[ci_id] |= 1 << bit
    for incident in incidents:
        for ci_id in incident.affects:
            failed[ci_id] |= 1 << solo_bit[incident.id]
    outcome = propagate(region, failed)

    opened_in = {p: [i for i in all_opened if lo <= i.opened_at < hi]
                 for p, (lo, hi) in (("current", (start, end)), ("previous", (previous_start, start)))}
    terms = slas_of_incidents(store, {i.id: i.affects for i in all_opened})
    windows: dict[str, list[dict]] = defaultdict(list)
    for w in store.rows(MAINTENANCE_OF, ids=[r["service"] for r in slas]):
        windows[w.pop("service")].append(w)

    services = []
    for row in slas:
        service_id = row["service"]
        hours = parse_service_hours(row["hours"])
        down_bits = outcome.down.get(service_id, 0)
        touched_bits = outcome.impacted.get(service_id, 0)
        per_period: dict[str, PeriodFigures] = {}
        causes: dict[tuple[str, ...], float] = defaultdict(float)
        for period, (lo, hi) in (("current", (start, end)), ("previous", (previous_start, start))):
            down = excluded = 0.0
            for bit, (s_lo, s_hi, active) in enumerate(segments):
                a, b = max(lo, s_lo), min(hi, s_hi)
                if b <= a or not down_bits >> bit & 1:
                    continue
                minutes = service_minutes_between(a, b, hours)
                skip = _maintenance_minutes(windows[service_id], a, b, hours) if row["exclude_maintenance"] else 0.0
                down += minutes - skip
                excluded += skip
                if period == "current" and minutes - skip > 0:
                    alone = tuple(i for i in active if down_bits >> solo_bit[i] & 1)
                    # none did it alone: name the ones that touch the service at all (each
                    # alone at least degrades it), not every outage open elsewhere meanwhile
                    joint = tuple(i for i in active if touched_bits >> solo_bit[i] & 1)
                    causes[alone or joint or tuple(active)] += minutes - skip
            total = service_minutes_between(lo, hi, hours)
            touching = [(i, t) for i in opened_in[period] for t in terms.get(i.id, ([], []))[1]
                        if t.service_id == service_id and t.sla_id == row["sla_id"]]
            per_period[period] = PeriodFigures(
                start=lo, end=hi, service_minutes=round(total, 1), downtime_minutes=round(down, 1),
                excluded_minutes=round(excluded, 1), availability=round(1 - down / total, 6) if total else None,
                response=_attainment(touching, "response", now), resolution=_attainment(touching, "resolution", now),
            )
        current, previous = per_period["current"], per_period["previous"]
        target = row["target"]
        met = None if current.availability is None else current.availability >= target
        downtime = [Downtime(incidents=list(k), minutes=round(v, 1)) for k, v in sorted(causes.items(), key=lambda kv: -kv[1])]
        services.append(ServiceAttainment(
            service=CIRef(id=service_id, name=row["name"] or service_id, ci_class=CIClass.BUSINESS_SERVICE,
                          layer=CIClass.BUSINESS_SERVICE.layer, criticality=row["criticality"]),
            sla_id=row["sla_id"], availability_target=target, service_hours=row["hours"], current=current,
            previous=previous, downtime=downtime, availability_met=met,
            misses=_misses(current, target, downtime, row), trend=_trend(current, previous),
        ))
    return SlaReport(start=start, end=end, services=services,
                     services_meeting_availability=sum(1 for s in services if s.availability_met),
                     services_measured=sum(1 for s in services if s.availability_met is not None))


def _misses(current: PeriodFigures, target: float, downtime: list[Downtime], row: dict) -> list[str]:
    misses = []
    if current.availability is not None and current.availability < target:
        worst = ", ".join(f"{'+'.join(d.incidents)} {d.minutes:g} min" for d in downtime[:3])
        misses.append(f"availability {current.availability:.4%} below the {target:.3%} target: "
                      f"{current.downtime_minutes:g} min down in service hours ({worst})")
    for name, figures in (("response", current.response), ("resolution", current.resolution)):
        if figures.counted and figures.met < figures.counted:
            misses.append(f"{figures.counted - figures.met} of {figures.counted} incidents missed the "
                          f"{figures.target_minutes}-minute {name} time")
    return misses


def _trend(current: PeriodFigures, previous: PeriodFigures) -> Trend:
    """Availability decides; where it is equal, the response and resolution rates do."""
    if current.availability is None or previous.availability is None:
        return Trend.NO_DATA
    pairs = [(current.availability, previous.availability)]
    pairs += [(c.rate, p.rate) for c, p in ((current.response, previous.response), (current.resolution, previous.resolution))
              if c.rate is not None and p.rate is not None]
    for now_value, before in pairs:
        if abs(now_value - before) > 1e-9:
            return Trend.BETTER if now_value > before else Trend.WORSE
    return Trend.UNCHANGED
