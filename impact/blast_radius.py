"""blastRadius(X): impact({X}) summarised for a major-incident call, with the severity level
of the event under the level rules of the service deployment guide (000 2.3.2.4):

- Level I: 20-60% of the core systems unavailable and not recoverable within 24 h, or more
  than 60% unavailable and not recoverable within 12 h;
- Level II: 20-60% of the core systems unavailable and not recoverable within 12 h;
- Level III: key business out for more than 6 h (the guide: "more than 6 h and less than
  12 h"; a smaller share out for longer is kept at III rather than dropped);
- NONE: anything recoverable within 6 h follows the everyday incident process.

Core systems are the business services of criticality 1 or 2 (mission critical and key). The
recovery time is the one given, else the longest RTO among the CIs that failed (what must be
recovered), else the longest RTO among the services taken down."""

from __future__ import annotations

from pydantic import BaseModel

from cmdb_graph.model import CIClass, SeverityLevel
from cmdb_graph.store import Store
from impact.impact import ServiceImpact, State, analyse_impact
from impact.topology import AnalysisError

CORE_CRITICALITY = (1, 2)


class BlastRadius(BaseModel):
    failed: str
    impacted_count: int
    down_count: int
    business_services: list[ServiceImpact]
    core_services_total: int
    core_services_down: int
    core_services_down_share: float
    expected_recovery_hours: float | None
    recovery_hours_from: str
    severity_level: SeverityLevel
    reason: str


CORE_SERVICES = """
MATCH (s:CI {ci_class: $business_service}) WHERE s.criticality IN $core AND s.status <> 'retired'
RETURN count(s) AS total
"""


def severity_level(share: float, hours: float | None) -> tuple[SeverityLevel, str]:
    """The level for a share of core services down and a recovery time, with the rule that
    decided it, in words."""
    pct = f"{share:.0%} of core services down"
    if hours is None:
        return SeverityLevel.NONE, f"{pct}; no recovery time known (no RTO on what failed): give expectedRecoveryHours"
    when = f"recovery expected in {hours:g} h"
    if share > 0.6 and hours > 12:
        return SeverityLevel.I, f"{pct} (over 60%) and {when} (over 12 h): Level I"
    if 0.2 <= share <= 0.6 and hours > 24:
        return SeverityLevel.I, f"{pct} (20-60%) and {when} (over 24 h): Level I"
    if 0.2 <= share <= 0.6 and hours > 12:
        return SeverityLevel.II, f"{pct} (20-60%) and {when} (over 12 h): Level II"
    if share > 0 and hours > 6:
        return SeverityLevel.III, f"{pct} and {when} (over 6 h): Level III"
    if share == 0:
        return SeverityLevel.NONE, f"no core service down ({when}): everyday incident process"
    return SeverityLevel.NONE, f"{pct} but {when} (within 6 h): everyday incident process"


def analyse_blast_radius(store: Store, ci_id: str, expected_recovery_hours: float | None = None) -> BlastRadius:
    return _blast_radius(store, [ci_id], expected_recovery_hours)


def analyse_failure_severity(store: Store, ci_ids: list[str], expected_recovery_hours: float | None = None) -> BlastRadius:
    """The blast radius of several CIs failing together (the impact map rates a failure set
    with it, as an incident on those CIs is rated)."""
    return _blast_radius(store, ci_ids, expected_recovery_hours)


def incident_severity(store: Store, ci_ids: list[str]) -> tuple[SeverityLevel, str]:
    """The level of an incident on `ci_ids` (their failure together) and why, to store on the
    incident when it is recorded."""
    radius = _blast_radius(store, ci_ids, None)
    return radius.severity_level, f"blast radius of {', '.join(sorted(ci_ids))}: {radius.reason}"


def _blast_radius(store: Store, ci_ids: list[str], expected_recovery_hours: float | None) -> BlastRadius:
    if expected_recovery_hours is not None and expected_recovery_hours < 0:
        raise AnalysisError("expectedRecoveryHours: give 0 or more hours")
    impact = analyse_impact(store, ci_ids)
    failed_rto = [r.ci.id for r in impact.impacted if r.distance == 0]
    hours, source = expected_recovery_hours, "given"
    if hours is None:
        rtos = _rtos(store, failed_rto)
        if rtos:
            hours, source = max(rtos) / 60, "RTO of the failed CI"
        else:
            down_services = [s.ci.id for s in impact.business_services if s.state is State.DOWN]
            rtos = _rtos(store, down_services)
            if rtos:
                hours, source = max(rtos) / 60, "longest RTO among the services down"
            else:
                source = "unknown"
    total = store.rows(CORE_SERVICES, business_service=CIClass.BUSINESS_SERVICE.value,
                 core=list(CORE_CRITICALITY))[0]["total"]
    down = sum(1 for s in impact.business_services
               if s.state is State.DOWN and s.criticality in CORE_CRITICALITY)
    share = down / total if total else 0.0
    level, reason = severity_level(share, hours)
    return BlastRadius(
        failed=", ".join(impact.failed), impacted_count=len(impact.impacted),
        down_count=sum(1 for r in impact.impacted if r.state is State.DOWN),
        business_services=impact.business_services, core_services_total=total, core_services_down=down,
        core_services_down_share=round(share, 4), expected_recovery_hours=hours, recovery_hours_from=source,
        severity_level=level, reason=reason,
    )


RTOS = "UNWIND $ids AS id MATCH (c:CI {id: id}) WHERE c.rto_minutes IS NOT NULL RETURN collect(c.rto_minutes) AS rtos"


def _rtos(store: Store, ids: list[str]) -> list[int]:
    return store.rows(RTOS, ids=ids)[0]["rtos"] if ids else []
