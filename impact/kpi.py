"""kpiReport(from, to): the process KPIs the deployment guide wants straight out of the tool,
one row per figure (area, name, value, unit, how it was counted), so a table, a CSV file and a
dashboard all read the same list.

- Incidents opened in the period: counts by priority, category and severity level; mean time
  to respond and to resolve; timely response and resolution rates (against the SLA found
  through the graph); escalation rate.
- Problems: opened, resolved, known errors; the share of the period's incidents linked to a
  problem; problem candidates waiting (repeated incidents no problem explains).
- Changes finished in the period (implemented, reviewed, closed, failed or rolled back, by
  `implemented_at`, else `planned_end`): by type; the success rate, where a change that failed,
  was rolled back, or caused an incident (`CAUSED_BY_CHANGE`) is not a success.
- Releases in the period (by window start): deployed, verified, rolled back.
- Service levels: services meeting their availability target, mean availability, response
  and resolution attainment (`impact/service_levels.py`)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from statistics import mean

from pydantic import BaseModel

from cmdb_graph.model import Change, Problem, Release
from cmdb_graph.processes.incidents import deadlines_of, incidents_between
from cmdb_graph.processes.problems import problem_candidates
from cmdb_graph.store import Store
from impact.acceptance import period, rate
from impact.service_levels import analyse_sla_attainment

FINISHED = ("implemented", "reviewed", "closed", "failed", "rolled_back")
UNSUCCESSFUL = ("failed", "rolled_back")


class Kpi(BaseModel):
    area: str
    name: str
    value: float | None
    unit: str
    detail: str = ""


class KpiReport(BaseModel):
    start: datetime
    end: datetime
    kpis: list[Kpi]


CHANGES_CAUSING_INCIDENTS = """
MATCH (:Incident)-[:CAUSED_BY_CHANGE]->(k:Change) WHERE k.id IN $ids
RETURN k.id AS id, count(*) AS incidents
"""

RECORD_IDS_BETWEEN = {
    "problems": "MATCH (p:Problem) WHERE p.opened_at >= datetime($start) AND p.opened_at < datetime($end) "
                "RETURN p.id AS id ORDER BY id",
    "resolved_problems": "MATCH (p:Problem) WHERE p.resolved_at >= datetime($start) AND p.resolved_at < datetime($end) "
                         "RETURN p.id AS id ORDER BY id",
    "changes": "MATCH (k:Change) WITH k, coalesce(k.implemented_at, k.planned_end) AS done "
               "WHERE k.state IN $finished AND done >= datetime($start) AND done < datetime($end) "
               "RETURN k.id AS id ORDER BY id",
    "releases": "MATCH (r:Release) WHERE r.window_start >= datetime($start) AND r.window_start < datetime($end) "
                "RETURN r.id AS id ORDER BY id",
}


def _minutes(pairs: list[tuple[datetime, datetime | None]]) -> float | None:
    spans = [(b - a).total_seconds() / 60 for a, b in pairs if b is not None]
    return round(mean(spans), 1) if spans else None


def _ids(store: Store, key: str, start: datetime, end: datetime) -> list[str]:
    return [r["id"] for r in store.rows(RECORD_IDS_BETWEEN[key], start=start.isoformat(), end=end.isoformat(),
                                        finished=list(FINISHED))]


def analyse_kpi(store: Store, start: datetime | None = None, end: datetime | None = None,
                now: datetime | None = None) -> KpiReport:
    start, end = period(start, end, now)
    now = now or min(end, datetime.now(timezone.utc))
    kpis = [*_incident_kpis(store, start, end, now), *_problem_kpis(store, start, end),
            *_change_kpis(store, start, end), *_release_kpis(store, start, end), *_sla_kpis(store, start, end, now)]
    return KpiReport(start=start, end=end, kpis=kpis)


def _incident_kpis(store: Store, start: datetime, end: datetime, now: datetime) -> list[Kpi]:
    incidents = incidents_between(store, start, end)
    deadlines = deadlines_of(store, incidents, now)
    rows = [Kpi(area="incidents", name="opened", value=len(incidents), unit="count"),
            Kpi(area="incidents", name="resolved", value=sum(1 for i in incidents if i.resolved_at), unit="count"),
            Kpi(area="incidents", name="still open", value=sum(1 for i in incidents if i.resolved_at is None), unit="count")]
    for name, counter in (("priority P", Counter(str(i.priority) for i in incidents)),
                          ("category ", Counter(i.category.value for i in incidents)),
                          ("severity level ", Counter(i.severity_level.value for i in incidents if i.severity_level))):
        rows += [Kpi(area="incidents", name=f"{name}{key}", value=count, unit="count") for key, count in sorted(counter.items())]
    for name, field in (("timely response rate", "response_breached"), ("timely resolution rate", "resolution_breached")):
        judged = [d for d in deadlines if getattr(d, field) is not None]
        on_time = sum(1 for d in judged if not getattr(d, field))
        rows.append(Kpi(area="incidents", name=name, value=rate(on_time, len(judged)), unit="ratio",
                        detail=f"{on_time} of {len(judged)} with an SLA deadline"))
    escalated = sum(1 for i in incidents if i.escalation_level > 0)
    rows += [
        Kpi(area="incidents", name="escalation rate", value=rate(escalated, len(incidents)), unit="ratio",
            detail=f"{escalated} of {len(incidents)}"),
        Kpi(area="incidents", name="mean time to respond", value=_minutes([(i.opened_at, i.responded_at) for i in incidents]),
            unit="minutes"),
        Kpi(area="incidents", name="mean time to resolve", value=_minutes([(i.opened_at, i.resolved_at) for i in incidents]),
            unit="minutes"),
        Kpi(area="incidents", name="linked to a problem", value=rate(sum(1 for i in incidents if i.caused_by), len(incidents)),
            unit="ratio"),
    ]
    return rows


def _problem_kpis(store: Store, start: datetime, end: datetime) -> list[Kpi]:
    opened = _ids(store, "problems", start, end)
    resolved = _ids(store, "resolved_problems", start, end)
    problems = [p for p in store.records(Problem) if isinstance(p, Problem)]
    candidates = problem_candidates(store, start, end)
    return [
        Kpi(area="problems", name="opened", value=len(opened), unit="count"),
        Kpi(area="problems", name="resolved", value=len(resolved), unit="count"),
        Kpi(area="problems", name="known errors", value=sum(1 for p in problems if p.known_error), unit="count",
            detail="all time"),
        Kpi(area="problems", name="open", value=sum(1 for p in problems if p.status.value in ("open", "investigating", "known_error")),
            unit="count", detail="all time"),
        Kpi(area="problems", name="problem candidates", value=len(candidates), unit="count",
            detail=", ".join(c.ci.id for c in candidates[:5])),
    ]


def _change_kpis(store: Store, start: datetime, end: datetime) -> list[Kpi]:
    ids = _ids(store, "changes", start, end)
    changes = [c for c in store.records_by_id(Change, ids).values() if isinstance(c, Change)]
    causing = {r["id"]: r["incidents"] for r in store.rows(CHANGES_CAUSING_INCIDENTS, ids=ids)}
    failed = [c for c in changes if c.state.value in UNSUCCESSFUL]
    harmful = [c for c in changes if c.state.value not in UNSUCCESSFUL and c.id in causing]
    successful = len(changes) - len(failed) - len(harmful)
    rows = [Kpi(area="changes", name="finished", value=len(changes), unit="count")]
    rows += [Kpi(area="changes", name=f"type {kind}", value=count, unit="count")
             for kind, count in sorted(Counter(c.type.value for c in changes).items())]
    rows += [
        Kpi(area="changes", name="failed or rolled back", value=len(failed), unit="count"),
        Kpi(area="changes", name="caused incidents", value=len(harmful), unit="count",
            detail=", ".join(sorted(c.id for c in harmful))),
        Kpi(area="changes", name="success rate", value=rate(successful, len(changes)), unit="ratio",
            detail=f"{successful} of {len(changes)}: not failed, not rolled back, no incident caused"),
        Kpi(area="changes", name="emergency share", value=rate(sum(1 for c in changes if c.type.value == "emergency"),
                                                                 len(changes)), unit="ratio"),
    ]
    return rows


def _release_kpis(store: Store, start: datetime, end: datetime) -> list[Kpi]:
    ids = _ids(store, "releases", start, end)
    releases = [r for r in store.records_by_id(Release, ids).values() if isinstance(r, Release)]
    states = Counter(r.state.value for r in releases)
    return [Kpi(area="releases", name="in the period", value=len(releases), unit="count")] + [
        Kpi(area="releases", name=state, value=states.get(state, 0), unit="count")
        for state in ("deployed", "verified", "rolled_back")
    ]


def _sla_kpis(store: Store, start: datetime, end: datetime, now: datetime) -> list[Kpi]:
    report = analyse_sla_attainment(store, start, end, now)
    availabilities = [s.current.availability for s in report.services if s.current.availability is not None]
    counted = sum(s.current.response.counted for s in report.services)
    met = sum(s.current.response.met for s in report.services)
    counted_res = sum(s.current.resolution.counted for s in report.services)
    met_res = sum(s.current.resolution.met for s in report.services)
    missed = [s.service.id for s in report.services if s.availability_met is False]
    return [
        Kpi(area="service levels", name="services meeting availability", value=report.services_meeting_availability,
            unit="count", detail=f"of {report.services_measured}; missed: {', '.join(missed) or 'none'}"),
        Kpi(area="service levels", name="availability attainment", value=rate(report.services_meeting_availability,
                                                                               report.services_measured), unit="ratio"),
        Kpi(area="service levels", name="mean availability", value=round(mean(availabilities), 6) if availabilities else None,
            unit="ratio"),
        Kpi(area="service levels", name="response attainment", value=rate(met, counted), unit="ratio",
            detail=f"{met} of {counted} incident-service pairs"),
        Kpi(area="service levels", name="resolution attainment", value=rate(met_res, counted_res), unit="ratio",
            detail=f"{met_res} of {counted_res} incident-service pairs"),
    ]
