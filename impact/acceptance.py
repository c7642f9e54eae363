"""acceptanceReport(from, to): the deployment acceptance of the service deployment guide
(000 3.5.3 and 3.5.4), checked on the graph and the records, each criterion with its figures.

| criterion | passes when |
| --- | --- |
| every server and network device under management | all Server, NetworkDevice, Firewall and LoadBalancer CIs have an owner and support a service (`cmdbHealth`'s rule) |
| knowledge base initialised | at least 100 knowledge articles about CIs, plus known errors not documented in one |
| timely response rate | >= 60% of incidents opened in the period answered within their SLA's response time |
| timely resolution rate | >= 60% resolved within their SLA's resolution time |
| escalation rate | <= 25% of incidents opened in the period escalated |

Incidents with no SLA through the graph, or whose deadline has not come and that are not done
yet, are not counted in the two timeliness rates (each figure says how many were counted)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import Enum

from pydantic import BaseModel

from cmdb_graph.processes.incidents import deadlines_of, incidents_between
from cmdb_graph.store import Store
from impact.health import analyse_health
from impact.topology import AnalysisError

DEVICE_CLASSES = ("Server", "NetworkDevice", "Firewall", "LoadBalancer")
DEFAULT_PERIOD = timedelta(days=30)


class Comparison(str, Enum):
    AT_LEAST = ">="
    AT_MOST = "<="


# key, what the guide asks, comparison, threshold
CRITERIA: tuple[tuple[str, str, Comparison, float], ...] = (
    ("devices_under_management", "Every server and network device is under management", Comparison.AT_LEAST, 1.0),
    ("knowledge_entries", "At least 100 knowledge entries or known errors", Comparison.AT_LEAST, 100),
    ("timely_response_rate", "Timely response rate at least 60%", Comparison.AT_LEAST, 0.60),
    ("timely_resolution_rate", "Timely resolution rate at least 60%", Comparison.AT_LEAST, 0.60),
    ("escalation_rate", "Escalation rate at most 25%", Comparison.AT_MOST, 0.25),
)


class Criterion(BaseModel):
    key: str
    title: str
    comparison: Comparison
    threshold: float
    value: float | None
    passed: bool
    figures: str
    details: list[str]


class AcceptanceReport(BaseModel):
    start: datetime
    end: datetime
    passed: bool
    criteria: list[Criterion]


KNOWLEDGE = """
CALL { MATCH (k:KnowledgeArticle) WHERE EXISTS { (k)-[:ABOUT]->(:CI) } RETURN count(k) AS about_cis }
CALL { MATCH (k:KnowledgeArticle) WHERE NOT EXISTS { (k)-[:ABOUT]->(:CI) } RETURN collect(k.id) AS about_nothing }
CALL { MATCH (p:Problem) WHERE p.known_error AND NOT EXISTS { (p)-[:DOCUMENTED_IN]->(:KnowledgeArticle) }
       RETURN count(p) AS undocumented_known_errors }
RETURN about_cis, about_nothing, undocumented_known_errors
"""


DEVICES_IN_USE = "MATCH (c:CI) WHERE c.ci_class IN $classes AND coalesce(c.status, '') <> 'retired' RETURN collect(c.id) AS ids"


def period(start: datetime | None, end: datetime | None, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The period asked for; by default the 30 days up to now (or up to `end`)."""
    # a date or a timestamp without a zone is taken as UTC, as in documents (`model.as_utc`):
    # compared with the aware ones stored, a naive one was a TypeError (an INTERNAL error)
    start, end = (t.replace(tzinfo=timezone.utc) if t is not None and t.tzinfo is None else t for t in (start, end))
    end = end or now or datetime.now(timezone.utc)
    start = start or end - DEFAULT_PERIOD
    if end <= start:
        raise AnalysisError("to: the period must end after it starts")
    return start, end


def _judge(key: str, value: float | None, figures: str, details: list[str]) -> Criterion:
    _key, title, comparison, threshold = next(c for c in CRITERIA if c[0] == key)
    passed = value is not None and (value >= threshold if comparison is Comparison.AT_LEAST else value <= threshold)
    return Criterion(key=key, title=title, comparison=comparison, threshold=threshold, value=value, passed=passed,
                     figures=figures, details=details[:50])


def rate(part: int, whole: int) -> float | None:
    """`part / whole` to four places; None when there is nothing to count."""
    return round(part / whole, 4) if whole else None


def analyse_acceptance(store: Store, start: datetime | None = None, end: datetime | None = None,
                       now: datetime | None = None) -> AcceptanceReport:
    start, end = period(start, end, now)
    now = now or min(end, datetime.now(timezone.utc))
    criteria = [_devices(store, now), _knowledge(store)]
    incidents = incidents_between(store, start, end)
    deadlines = deadlines_of(store, incidents, now)
    for key, field, verb in (("timely_response_rate", "response_breached", "answered"),
                             ("timely_resolution_rate", "resolution_breached", "resolved")):
        judged = [d for d in deadlines if getattr(d, field) is not None]
        late = sorted(d.incident_id for d in judged if getattr(d, field))
        on_time = len(judged) - len(late)
        criteria.append(_judge(key, rate(on_time, len(judged)),
                               f"{on_time} of {len(judged)} incidents {verb} in time "
                               f"({len(incidents) - len(judged)} of {len(incidents)} not counted: no SLA, or not due yet)",
                               [f"{i} late" for i in late]))
    escalated = sorted(i.id for i in incidents if i.escalation_level > 0)
    criteria.append(_judge("escalation_rate", rate(len(escalated), len(incidents)) if incidents else None,
                           f"{len(escalated)} of {len(incidents)} incidents escalated",
                           [f"{i} escalated" for i in escalated]))
    return AcceptanceReport(start=start, end=end, passed=all(c.passed for c in criteria), criteria=criteria)


def _devices(store: Store, now: datetime) -> Criterion:
    health = analyse_health(store, now=now)
    devices = store.rows(DEVICES_IN_USE, classes=list(DEVICE_CLASSES))[0]["ids"]
    # the health rule looks at retired devices too; the guide asks only for those in use
    in_use = set(devices)
    unmanaged = [u for u in health.unmanaged if u.ci.id in in_use]
    managed = len(devices) - len(unmanaged)
    return _judge("devices_under_management", rate(managed, len(devices)),
                  f"{managed} of {len(devices)} servers and network devices have an owner and support a service",
                  [f"{u.ci.id}: {', '.join(u.reasons)}" for u in unmanaged])


def _knowledge(store: Store) -> Criterion:
    row = store.rows(KNOWLEDGE)[0]
    total = row["about_cis"] + row["undocumented_known_errors"]
    return _judge("knowledge_entries", float(total),
                  f"{row['about_cis']} knowledge articles about CIs and {row['undocumented_known_errors']} known errors "
                  "without an article",
                  [f"{k}: about no CI (not counted)" for k in sorted(row["about_nothing"])])
