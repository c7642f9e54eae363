"""The deployment acceptance report: each of its five criteria on hand-made data, the answer
worked out here. The period is the first 30 days of November 2026; incidents sit on `app`,
which `shop` needs, under sla-shop (response 60 minutes, resolution 240)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cmdb_graph.store import Store
from impact.acceptance import CRITERIA, Comparison, analyse_acceptance, period
from impact.topology import AnalysisError
from tests.test_impact import load

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
END = datetime(2026, 12, 1, tzinfo=timezone.utc)


BASE = {
    "teams": [{"id": "ops", "name": "Operations"}, {"id": "net", "name": "Network"}],
    "cis": [{"id": "shop", "class": "BusinessService"}, {"id": "app", "class": "Application"},
            {"id": "srv-1", "class": "Server", "owner": "ops"}],
    "relationships": [{"from": "shop", "to": "app"}, {"from": "app", "to": "srv-1"}],
    "slas": [{"id": "sla-shop", "service": "shop", "availability_target": 0.99, "response_minutes": 60,
              "resolution_minutes": 240}],
}


def base(store: Store, tmp_path: Path, **extra: list) -> Store:
    document = {key: list(value) for key, value in BASE.items()}
    for key, value in extra.items():
        document[key] = document.get(key, []) + value
    return load(store, tmp_path, **document)


def acceptance(store: Store, now: datetime = END):
    found = analyse_acceptance(store, START, END, now)
    return found, {c.key: c for c in found.criteria}


def incident(n: int, *, respond: int | None = 10, resolve: int | None = 60, affects: str = "app", **fields) -> dict:
    """Incident `n`, opened on the n-th of November at 10:00, answered and resolved after the
    minutes given (None: not yet)."""
    opened = datetime(2026, 11, n, 10, tzinfo=timezone.utc)
    entry = {"id": f"INC-{n}", "title": f"incident {n}", "opened_at": opened.isoformat(), "affects": [affects], **fields}
    if respond is not None:
        entry["responded_at"] = (opened + timedelta(minutes=respond)).isoformat()
    if resolve is not None:
        entry |= {"resolved_at": (opened + timedelta(minutes=resolve)).isoformat(), "status": "resolved"}
    return entry


def articles(count: int, about: str | None = "app", prefix: str = "kb") -> list[dict]:
    return [{"id": f"{prefix}-{n:03d}", "title": f"how to {n}", **({"about": [about]} if about else {})}
            for n in range(count)]


def test_the_criteria_are_the_guides():
    assert [(key, comparison, threshold) for key, _title, comparison, threshold in CRITERIA] == [
        ("devices_under_management", Comparison.AT_LEAST, 1.0), ("knowledge_entries", Comparison.AT_LEAST, 100),
        ("timely_response_rate", Comparison.AT_LEAST, 0.6), ("timely_resolution_rate", Comparison.AT_LEAST, 0.6),
        ("escalation_rate", Comparison.AT_MOST, 0.25)]


# --- devices under management ---------------------------------------------------------------


def test_devices_with_an_owner_that_support_a_service_pass(store: Store, tmp_path: Path):
    base(store, tmp_path, cis=[{"id": "fw-1", "class": "Firewall", "owner": "net"},
                               {"id": "vm-1", "class": "VirtualMachine"}],  # not a device of the guide's
         relationships=[{"from": "srv-1", "to": "fw-1", "type": "CONNECTED_VIA"}, {"from": "app", "to": "vm-1"}])
    devices = acceptance(store)[1]["devices_under_management"]
    assert (devices.value, devices.passed, devices.details) == (1.0, True, [])
    assert devices.figures == "2 of 2 servers and network devices have an owner and support a service"


def test_a_server_without_an_owner_or_supporting_no_service_fails_the_devices_criterion(store: Store, tmp_path: Path):
    base(store, tmp_path, cis=[{"id": "srv-2", "class": "Server"}, {"id": "srv-3", "class": "Server", "owner": "ops"},
                               {"id": "sw-1", "class": "NetworkDevice"}],
         relationships=[{"from": "app", "to": "srv-2"}])
    devices = acceptance(store)[1]["devices_under_management"]
    assert (devices.value, devices.passed) == (round(1 / 4, 4), False)
    assert devices.figures == "1 of 4 servers and network devices have an owner and support a service"
    assert devices.details == ["srv-2: no owner", "srv-3: supports no service", "sw-1: no owner, supports no service"]


def test_a_retired_device_is_not_asked_to_be_under_management(store: Store, tmp_path: Path):
    base(store, tmp_path, cis=[{"id": "srv-old", "class": "Server", "status": "retired"}])
    devices = acceptance(store)[1]["devices_under_management"]
    assert (devices.value, devices.passed, devices.details) == (1.0, True, [])
    assert devices.figures.startswith("1 of 1 ")


# --- knowledge entries ----------------------------------------------------------------------


@pytest.mark.parametrize(("count", "passed"), [(99, False), (100, True)])
def test_a_hundred_knowledge_articles_about_cis_are_needed(store: Store, tmp_path: Path, count, passed):
    base(store, tmp_path, knowledge_articles=articles(count))
    knowledge = acceptance(store)[1]["knowledge_entries"]
    assert (knowledge.value, knowledge.passed) == (count, passed)
    assert knowledge.figures == f"{count} knowledge articles about CIs and 0 known errors without an article"


def test_known_errors_without_an_article_count_and_articles_about_no_ci_do_not(store: Store, tmp_path: Path):
    known = {"status": "known_error", "root_cause": "leak", "workaround": "restart", "root_cause_in": ["app"]}
    base(store, tmp_path, knowledge_articles=articles(98) + articles(3, about=None, prefix="loose"),
         problems=[{"id": "PRB-1", "title": "leak", **known}, {"id": "PRB-2", "title": "leak 2", **known},
                   {"id": "PRB-DOC", "title": "documented", **known, "documented_in": ["kb-000"]},
                   {"id": "PRB-OPEN", "title": "still looking", "root_cause_in": ["app"]}])
    knowledge = acceptance(store)[1]["knowledge_entries"]
    assert (knowledge.value, knowledge.passed) == (100, True)  # 98 articles + PRB-1 + PRB-2
    assert knowledge.figures == "98 knowledge articles about CIs and 2 known errors without an article"
    assert knowledge.details == [f"loose-{n:03d}: about no CI (not counted)" for n in range(3)]


# --- timely response and resolution --------------------------------------------------------


@pytest.mark.parametrize(("in_time", "rate", "passed"), [(3, 0.6, True), (2, 0.4, False)])
def test_the_timely_response_rate_needs_three_in_five(store: Store, tmp_path: Path, in_time, rate, passed):
    base(store, tmp_path, incidents=[incident(n, respond=60 if n <= in_time else 61) for n in range(1, 6)])
    response = acceptance(store)[1]["timely_response_rate"]
    assert (response.value, response.passed) == (rate, passed)
    assert response.figures == f"{in_time} of 5 incidents answered in time (0 of 5 not counted: no SLA, or not due yet)"
    assert response.details == [f"INC-{n} late" for n in range(in_time + 1, 6)]


@pytest.mark.parametrize(("in_time", "rate", "passed"), [(3, 0.6, True), (2, 0.4, False)])
def test_the_timely_resolution_rate_needs_three_in_five(store: Store, tmp_path: Path, in_time, rate, passed):
    base(store, tmp_path, incidents=[incident(n, resolve=240 if n <= in_time else 241) for n in range(1, 6)])
    resolution = acceptance(store)[1]["timely_resolution_rate"]
    assert (resolution.value, resolution.passed) == (rate, passed)
    assert resolution.figures == f"{in_time} of 5 incidents resolved in time (0 of 5 not counted: no SLA, or not due yet)"


def test_incidents_without_an_sla_or_not_due_yet_are_not_counted_in_the_rates(store: Store, tmp_path: Path):
    now = datetime(2026, 11, 20, 10, 30, tzinfo=timezone.utc)
    base(store, tmp_path, cis=[{"id": "tool", "class": "Application"}], incidents=[
        incident(1), incident(2, respond=90, resolve=300),
        incident(3, respond=None, resolve=None),  # open, both deadlines gone: late
        incident(4, affects="tool", respond=500, resolve=900),  # no service, no SLA
        incident(20, respond=None, resolve=None),  # opened 30 minutes ago: nothing due yet
    ])
    criteria = acceptance(store, now)[1]
    response, resolution = criteria["timely_response_rate"], criteria["timely_resolution_rate"]
    assert (response.value, response.passed) == (round(1 / 3, 4), False)
    assert response.figures == "1 of 3 incidents answered in time (2 of 5 not counted: no SLA, or not due yet)"
    assert response.details == ["INC-2 late", "INC-3 late"]
    assert (resolution.value, resolution.figures) == (
        round(1 / 3, 4), "1 of 3 incidents resolved in time (2 of 5 not counted: no SLA, or not due yet)")


def test_incidents_opened_outside_the_period_are_not_counted(store: Store, tmp_path: Path):
    october = incident(1, respond=500, resolve=900) | {"id": "INC-OCT", "opened_at": "2026-10-31T10:00:00+00:00",
                                                          "responded_at": "2026-10-31T18:20:00+00:00",
                                                          "resolved_at": "2026-11-01T01:00:00+00:00"}
    base(store, tmp_path, incidents=[october, incident(2)])
    criteria = acceptance(store)[1]
    assert criteria["timely_response_rate"].figures.startswith("1 of 1 ")
    assert criteria["escalation_rate"].figures == "0 of 1 incidents escalated"


# --- escalation rate ------------------------------------------------------------------------


@pytest.mark.parametrize(("escalated", "rate", "passed"), [(1, 0.25, True), (2, 0.5, False)])
def test_the_escalation_rate_may_be_a_quarter_at_most(store: Store, tmp_path: Path, escalated, rate, passed):
    base(store, tmp_path, incidents=[
        incident(n, **({"escalation_level": n, "escalation_kind": "functional" if n == 1 else "hierarchical",
                        "escalation_reason": "late"} if n <= escalated else {}))
        for n in range(1, 5)])
    escalation = acceptance(store)[1]["escalation_rate"]
    assert (escalation.value, escalation.passed) == (rate, passed)
    assert escalation.figures == f"{escalated} of 4 incidents escalated"
    assert escalation.details == [f"INC-{n} escalated" for n in range(1, escalated + 1)]


def test_without_incidents_the_rates_are_not_shown_and_do_not_pass(store: Store, tmp_path: Path):
    base(store, tmp_path)
    report, criteria = acceptance(store)
    for key in ("timely_response_rate", "timely_resolution_rate", "escalation_rate"):
        assert (criteria[key].value, criteria[key].passed) == (None, False), key
    assert report.passed is False


# --- the whole report -----------------------------------------------------------------------


def test_the_deployment_is_accepted_when_every_criterion_passes(store: Store, tmp_path: Path):
    base(store, tmp_path, knowledge_articles=articles(100), incidents=[
        incident(1), incident(2), incident(3), incident(4, respond=90, resolve=300),
        incident(5, escalation_level=1, escalation_kind="functional", escalation_reason="late"),
    ])
    report, criteria = acceptance(store)
    assert {key: (c.value, c.passed) for key, c in criteria.items()} == {
        "devices_under_management": (1.0, True), "knowledge_entries": (100, True),
        "timely_response_rate": (0.8, True), "timely_resolution_rate": (0.8, True), "escalation_rate": (0.2, True)}
    assert report.passed is True
    assert (report.start, report.end) == (START, END)


def test_one_failing_criterion_fails_the_acceptance(store: Store, tmp_path: Path):
    base(store, tmp_path, cis=[{"id": "srv-x", "class": "Server"}], knowledge_articles=articles(100),
         incidents=[incident(n) for n in range(1, 6)])
    report, criteria = acceptance(store)
    assert [key for key, c in criteria.items() if not c.passed] == ["devices_under_management"]
    assert report.passed is False


def test_the_default_period_is_the_thirty_days_up_to_now():
    now = datetime(2026, 11, 20, tzinfo=timezone.utc)
    assert period(None, None, now) == (now - timedelta(days=30), now)
    assert period(START, None, now) == (START, now)
    with pytest.raises(AnalysisError, match="the period must end after it starts"):
        period(END, START)
