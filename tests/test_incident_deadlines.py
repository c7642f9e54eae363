"""Incident deadlines found through the graph, breaches, and escalation by ESCALATION_RULES,
on fixed clocks worked out by hand (2026-11-20 is a Friday, 2026-11-23 a Monday)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cmdb_graph.model import EscalationKind, Incident
from cmdb_graph.processes.incidents import (
    ESCALATION_RULES,
    SlaTerms,
    breached,
    deadlines_for,
    escalate_incidents,
    escalation_due,
    incident_deadlines,
)
from cmdb_graph.store import NotFoundError, Store
from tests.test_impact import load
from tests.conftest import graph_counts


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A moment in November 2026, UTC."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=timezone.utc)


def incident(incident_id: str, opened_at: datetime, affects: list[str], **fields) -> dict:
    return {"id": incident_id, "title": f"{incident_id} trouble", "opened_at": opened_at.isoformat(), "affects": affects,
            **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}}


SHARED_DB = {
    "cis": [
        {"id": "orders", "class": "BusinessService"}, {"id": "billing", "class": "BusinessService"},
        {"id": "lonely", "class": "BusinessService"},
        {"id": "orders-app", "class": "Application"}, {"id": "billing-app", "class": "Application"},
        {"id": "db", "class": "Database"}, {"id": "spare", "class": "Server"},
    ],
    "relationships": [
        {"from": "orders", "to": "orders-app"}, {"from": "billing", "to": "billing-app"},
        {"from": "orders-app", "to": "db"}, {"from": "billing-app", "to": "db", "strength": "soft"},
    ],
    # orders answers sooner, billing resolves sooner: each deadline names its own SLA
    "slas": [
        {"id": "sla-orders", "service": "orders", "availability_target": 0.999, "response_minutes": 30,
         "resolution_minutes": 480},
        {"id": "sla-billing", "service": "billing", "availability_target": 0.99, "response_minutes": 60,
         "resolution_minutes": 240},
    ],
}


@pytest.fixture
def shared_db(store: Store, tmp_path: Path) -> Store:
    return load(store, tmp_path, **SHARED_DB)


# --- deadlines through the graph ----------------------------------------------------------


def test_an_incident_on_a_shared_database_takes_the_earliest_deadline_of_each_kind_and_names_its_sla(
    shared_db: Store, tmp_path: Path,
):
    load(shared_db, tmp_path, incidents=[incident("INC-1", at(20, 10), ["db"])])
    found = incident_deadlines(shared_db, "INC-1", now=at(20, 10, 5))
    assert found.services == ["billing", "orders"]
    assert sorted(s.sla_id for s in found.slas) == ["sla-billing", "sla-orders"]
    assert (found.response_due, found.response_sla) == (at(20, 10, 30), "sla-orders")
    assert (found.resolution_due, found.resolution_sla) == (at(20, 14), "sla-billing")
    assert (found.response_breached, found.resolution_breached) == (None, None)


def test_an_incident_on_one_app_gets_only_the_sla_of_the_service_that_needs_it(shared_db: Store, tmp_path: Path):
    load(shared_db, tmp_path, incidents=[incident("INC-1", at(20, 10), ["orders-app"])])
    found = incident_deadlines(shared_db, "INC-1", now=at(20, 10))
    assert found.services == ["orders"]
    assert (found.response_sla, found.response_due) == ("sla-orders", at(20, 10, 30))
    assert (found.resolution_sla, found.resolution_due) == ("sla-orders", at(20, 18))


def test_a_ci_that_supports_no_service_has_no_deadline(shared_db: Store, tmp_path: Path):
    load(shared_db, tmp_path, incidents=[incident("INC-1", at(20, 10), ["spare"])])
    found = incident_deadlines(shared_db, "INC-1", now=at(25))
    assert (found.services, found.slas) == ([], [])
    assert (found.response_due, found.resolution_due, found.response_sla, found.resolution_sla) == (None, None, None, None)
    assert (found.response_breached, found.resolution_breached) == (None, None)
    assert escalation_due(found, at(30)) is None


def test_a_service_without_an_sla_is_named_but_sets_no_deadline(shared_db: Store, tmp_path: Path):
    load(shared_db, tmp_path, relationships=[{"from": "lonely", "to": "spare"}],
         incidents=[incident("INC-1", at(20, 10), ["spare"])])
    found = incident_deadlines(shared_db, "INC-1", now=at(20, 10))
    assert (found.services, found.slas, found.response_due) == (["lonely"], [], None)


def test_deadlines_count_only_the_service_hours(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[{"id": "office", "class": "BusinessService"}, {"id": "app", "class": "Application"}],
         relationships=[{"from": "office", "to": "app"}],
         slas=[{"id": "sla-office", "service": "office", "availability_target": 0.99, "response_minutes": 30,
                "resolution_minutes": 600, "service_hours": "mon-fri 08:00-18:00"}],
         incidents=[incident("INC-SAT", at(21, 19, 30), ["app"]), incident("INC-FRI", at(20, 17), ["app"])])
    saturday = incident_deadlines(store, "INC-SAT", now=at(21, 20))
    assert (saturday.response_due, saturday.resolution_due) == (at(23, 8, 30), at(23, 18))
    friday = incident_deadlines(store, "INC-FRI", now=at(20, 17))
    assert (friday.response_due, friday.resolution_due) == (at(20, 17, 30), at(23, 17))


def test_a_stored_deadline_wins_over_the_computed_one(shared_db: Store, tmp_path: Path):
    load(shared_db, tmp_path, incidents=[
        incident("INC-1", at(20, 10), ["db"], response_due=at(20, 11), resolution_due=at(21, 10)),
        incident("INC-2", at(20, 10), ["spare"], response_due=at(20, 12)),
    ])
    found = incident_deadlines(shared_db, "INC-1", now=at(20, 10, 45))
    assert (found.response_due, found.resolution_due) == (at(20, 11), at(21, 10))
    assert found.response_breached is None  # the computed 10:30 would have been breached
    alone = incident_deadlines(shared_db, "INC-2", now=at(20, 10))
    assert (alone.response_due, alone.response_sla, alone.resolution_due) == (at(20, 12), "stored", None)


def test_deadlines_of_an_unknown_incident_are_refused(store: Store):
    with pytest.raises(NotFoundError, match="no incident with id 'INC-404'"):
        incident_deadlines(store, "INC-404", now=at(20))


def test_breaches_are_judged_when_done_or_once_the_deadline_is_gone(shared_db: Store, tmp_path: Path):
    load(shared_db, tmp_path, incidents=[
        incident("LATE", at(20, 10), ["db"], responded_at=at(20, 10, 31), resolved_at=at(20, 14, 1), status="resolved"),
        incident("IN-TIME", at(20, 10), ["db"], responded_at=at(20, 10, 30), resolved_at=at(20, 14), status="resolved"),
        incident("PENDING", at(20, 10), ["db"]),
    ])
    late, in_time, pending = (incident_deadlines(shared_db, i, now=at(20, 12)) for i in ("LATE", "IN-TIME", "PENDING"))
    assert (late.response_breached, late.resolution_breached) == (True, True)
    assert (in_time.response_breached, in_time.resolution_breached) == (False, False)
    assert (pending.response_breached, pending.resolution_breached) == (True, None)


# --- breached -----------------------------------------------------------------------------


def test_done_after_the_deadline_is_late_however_it_is_asked():
    assert breached(at(20, 12), at(20, 12, 1), now=at(20, 12, 30)) is True
    assert breached(at(20, 12), at(20, 12, 1), now=at(20, 11)) is True


def test_done_by_the_deadline_is_in_time_even_after_it():
    assert breached(at(20, 12), at(20, 12), now=at(25)) is False
    assert breached(at(20, 12), at(20, 9), now=at(25)) is False


def test_not_done_is_pending_until_the_deadline_is_gone():
    assert breached(at(20, 12), None, now=at(20, 11)) is None
    assert breached(at(20, 12), None, now=at(20, 12)) is None
    assert breached(at(20, 12), None, now=at(20, 12, 0, 1)) is True


def test_no_deadline_is_never_breached():
    assert breached(None, None, now=at(30)) is None
    assert breached(None, at(20), now=at(30)) is None


# --- escalation_due -----------------------------------------------------------------------

OPENED = at(20, 10)
TERMS = [SlaTerms(sla_id="sla-a", service_id="svc", response_minutes=30, resolution_minutes=240, service_hours=None)]


def deadlines(now: datetime, terms: list[SlaTerms] = TERMS, opened: datetime = OPENED, **fields):
    record = Incident(id="INC-1", title="t", opened_at=opened, affects=["app"], **fields)
    return deadlines_for(record, ["svc"], terms, now)


def escalation(now: datetime, terms: list[SlaTerms] = TERMS, opened: datetime = OPENED, **fields):
    found = escalation_due(deadlines(now, terms, opened, **fields), now)
    return None if found is None else (found.level, found.kind)


def test_the_rules_are_the_documented_ones():
    assert ESCALATION_RULES == (
        (1, EscalationKind.FUNCTIONAL, "response", 1.0),
        (1, EscalationKind.FUNCTIONAL, "resolution", 0.75),
        (2, EscalationKind.HIERARCHICAL, "resolution", 1.0),
        (3, EscalationKind.HIERARCHICAL, "resolution", 1.5),
    )


def test_nothing_is_due_while_the_response_can_still_be_made():
    assert escalation(at(20, 10, 29)) is None
    assert escalation(at(20, 10, 30)) is None  # answering at the deadline is still in time


def test_no_response_by_the_response_deadline_escalates_functionally_to_level_1():
    assert escalation(at(20, 10, 31)) == (1, EscalationKind.FUNCTIONAL)
    step = escalation_due(deadlines(at(20, 10, 31)), at(20, 10, 31))
    assert step.reason == ("functional escalation to level 1: response deadline 2026-11-20 10:30 UTC under sla-a "
                           "passed without a response")


def test_a_response_in_time_stops_the_response_rule():
    assert escalation(at(20, 12), responded_at=at(20, 10, 20)) is None


def test_three_quarters_of_the_resolution_time_gone_escalates_functionally_to_level_1():
    answered = {"responded_at": at(20, 10, 20)}
    assert escalation(at(20, 12, 59), **answered) is None
    assert escalation(at(20, 13), **answered) == (1, EscalationKind.FUNCTIONAL)  # 180 of 240 minutes
    step = escalation_due(deadlines(at(20, 13), **answered), at(20, 13))
    assert step.reason == ("functional escalation to level 1: 75% of the resolution time gone "
                           "(resolution due 2026-11-20 14:00 UTC under sla-a)")


def test_the_resolution_deadline_passed_escalates_hierarchically_to_level_2():
    answered = {"responded_at": at(20, 10, 20)}
    assert escalation(at(20, 14), **answered) == (1, EscalationKind.FUNCTIONAL)
    assert escalation(at(20, 14, 1), **answered) == (2, EscalationKind.HIERARCHICAL)
    assert escalation(at(20, 14, 1)) == (2, EscalationKind.HIERARCHICAL)  # the highest rule met wins
    step = escalation_due(deadlines(at(20, 15), **answered), at(20, 15))
    assert step.reason == ("hierarchical escalation to level 2: resolution deadline 2026-11-20 14:00 UTC under sla-a "
                           "passed without a resolution")


def test_half_as_long_again_over_the_resolution_deadline_escalates_to_level_3():
    assert escalation(at(20, 15, 59)) == (2, EscalationKind.HIERARCHICAL)
    assert escalation(at(20, 16)) == (3, EscalationKind.HIERARCHICAL)  # 360 = 1.5 x 240 minutes
    step = escalation_due(deadlines(at(21)), at(21))
    assert step.reason == ("hierarchical escalation to level 3: resolution deadline 2026-11-20 14:00 UTC under sla-a "
                           "overrun by 50% of its time")


def test_a_resolved_incident_escalates_no_further():
    assert escalation(at(25), responded_at=at(20, 11), resolved_at=at(22), status="resolved") is None


def test_the_shares_of_time_count_on_the_slas_service_hours():
    office = [SlaTerms(sla_id="sla-office", service_id="svc", response_minutes=None, resolution_minutes=600,
                       service_hours="mon-fri 08:00-18:00")]
    opened = at(20, 17)  # Friday 17:00: resolution due Monday 17:00 (1 h on Friday, 9 h on Monday)
    assert deadlines(at(20, 17), office, opened).resolution_due == at(23, 17)
    # 75% is 450 service minutes: 60 on Friday, 390 on Monday -> Monday 14:30, not over the weekend
    assert escalation(at(22, 23, 30), office, opened) is None
    assert escalation(at(23, 14, 29), office, opened) is None
    assert escalation(at(23, 14, 30), office, opened) == (1, EscalationKind.FUNCTIONAL)
    assert escalation(at(23, 17, 1), office, opened) == (2, EscalationKind.HIERARCHICAL)
    # 150% is 900 service minutes: 60 on Friday, 600 on Monday, 240 on Tuesday -> Tuesday 12:00
    assert escalation(at(24, 11, 59), office, opened) == (2, EscalationKind.HIERARCHICAL)
    assert escalation(at(24, 12), office, opened) == (3, EscalationKind.HIERARCHICAL)


def test_a_stored_deadline_without_an_sla_is_shared_on_the_wall_clock():
    stored = {"resolution_due": at(20, 18)}  # 8 h after opening
    assert escalation(at(20, 15, 59), [], **stored) is None
    assert escalation(at(20, 16), [], **stored) == (1, EscalationKind.FUNCTIONAL)  # 6 of 8 hours
    assert escalation(at(20, 22), [], **stored) == (3, EscalationKind.HIERARCHICAL)  # 12 of 8 hours


# --- escalate_incidents -------------------------------------------------------------------


@pytest.fixture
def escalations(shared_db: Store, tmp_path: Path) -> Store:
    """At 20th 16:00 (6 h after 10:00 openings on db: response due 10:30, resolution due 14:00
    under sla-billing, 1.5x at 16:00)."""
    return load(shared_db, tmp_path, incidents=[
        incident("SILENT", at(20, 15, 45), ["db"]),  # response due 16:15: nothing yet
        incident("UNANSWERED", at(20, 15), ["db"]),  # response due 15:30 passed -> 1
        incident("OVERDUE", at(20, 11, 30), ["db"], responded_at=at(20, 11, 40), escalation_level=1,
                 escalation_kind="functional", escalation_reason="earlier"),  # due 15:30 passed -> 2
        incident("WAY-OVERDUE", at(20, 10), ["db"], responded_at=at(20, 10, 5)),  # 1.5x at 16:00 -> 3
        incident("ALREADY-HIGH", at(20, 15), ["db"], escalation_level=3, escalation_kind="hierarchical",
                 escalation_reason="by hand"),  # calls for 1 only: kept at 3
        incident("DONE", at(20, 9), ["db"], responded_at=at(20, 9, 10), resolved_at=at(20, 15), status="resolved"),
        incident("NO-SLA", at(19), ["spare"]),
        incident("LATER", at(20, 17), ["db"]),  # opened after now: not checked
    ])


NOW = at(20, 16)


def stored(store: Store, incident_id: str) -> Incident:
    return store.get_record(Incident, incident_id)[0]


def test_escalate_writes_the_level_kind_reason_and_time_of_each_due_escalation(escalations: Store):
    run = escalate_incidents(escalations, NOW, actor="escalator")
    assert run.at == NOW
    assert run.checked == 6  # open and opened by now: not DONE, not LATER
    assert {d.incident_id: d.escalation_level for d in run.escalated} == {"UNANSWERED": 1, "OVERDUE": 2, "WAY-OVERDUE": 3}
    unanswered = stored(escalations, "UNANSWERED")
    assert (unanswered.escalation_level, unanswered.escalation_kind, unanswered.escalated_at) == (
        1, EscalationKind.FUNCTIONAL, NOW)
    assert unanswered.escalation_reason == ("functional escalation to level 1: response deadline 2026-11-20 15:30 UTC "
                                            "under sla-orders passed without a response")
    overdue = stored(escalations, "OVERDUE")
    assert (overdue.escalation_level, overdue.escalation_kind) == (2, EscalationKind.HIERARCHICAL)
    assert overdue.escalation_reason.startswith("hierarchical escalation to level 2: resolution deadline "
                                                "2026-11-20 15:30 UTC under sla-billing")
    way = stored(escalations, "WAY-OVERDUE")
    assert (way.escalation_level, way.escalation_kind, way.escalated_at) == (3, EscalationKind.HIERARCHICAL, NOW)
    assert way.escalation_reason.endswith("overrun by 50% of its time")
    assert (way.title, way.affects, way.responded_at) == ("WAY-OVERDUE trouble", ["db"], at(20, 10, 5))  # the rest kept


def test_escalate_never_lowers_a_level_and_leaves_the_rest_alone(escalations: Store):
    escalate_incidents(escalations, NOW, actor="escalator")
    high = stored(escalations, "ALREADY-HIGH")
    assert (high.escalation_level, high.escalation_reason, high.escalated_at) == (3, "by hand", None)
    for untouched in ("SILENT", "DONE", "NO-SLA", "LATER"):
        record = stored(escalations, untouched)
        assert (record.escalation_level, record.escalated_at) == (0, None), untouched


def test_escalate_leaves_an_audit_entry_by_the_actor(escalations: Store):
    escalate_incidents(escalations, NOW, actor="escalator")
    entry = escalations.history("UNANSWERED")[0]
    assert (entry.actor, entry.action, entry.entity_id) == ("escalator", "update", "UNANSWERED")
    assert {"escalation_level", "escalation_kind", "escalation_reason", "escalated_at"} <= set(entry.changed)
    assert entry.after["escalation_level"] == 1
    assert [e.actor for e in escalations.history("ALREADY-HIGH")] == ["test"]


def test_escalate_a_second_time_finds_nothing_new(escalations: Store):
    escalate_incidents(escalations, NOW, actor="escalator")
    again = escalate_incidents(escalations, NOW + timedelta(minutes=1), actor="escalator")
    assert [d.incident_id for d in again.escalated] == []


def test_a_dry_run_reports_the_escalations_and_writes_nothing(escalations: Store):
    before = graph_counts(escalations.driver)
    run = escalate_incidents(escalations, NOW, actor="escalator", dry_run=True)
    assert {d.incident_id: (d.escalation_level, d.escalation_kind) for d in run.escalated} == {
        "UNANSWERED": (1, EscalationKind.FUNCTIONAL), "OVERDUE": (2, EscalationKind.HIERARCHICAL),
        "WAY-OVERDUE": (3, EscalationKind.HIERARCHICAL)}
    assert graph_counts(escalations.driver) == before
    assert stored(escalations, "UNANSWERED").escalation_level == 0
