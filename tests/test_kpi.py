"""Process KPIs on hand-made records, each figure worked out here. The period is November 2026."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cmdb_graph.store import Store
from impact.kpi import analyse_kpi
from tests.test_impact import load

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
END = datetime(2026, 12, 1, tzinfo=timezone.utc)


def day(n: int, hour: int = 10, month: int = 11) -> str:
    return datetime(2026, month, n, hour, tzinfo=timezone.utc).isoformat()


def incident(n: int, priority: int, respond: int | None, resolve: int | None, **fields) -> dict:
    opened = datetime(2026, 11, n, 10, tzinfo=timezone.utc)
    entry = {"id": f"INC-{n}", "title": f"incident {n}", "opened_at": opened.isoformat(), "priority": priority,
             "affects": [f"app-{n}"], **fields}
    if respond is not None:
        entry["responded_at"] = (opened + timedelta(minutes=respond)).isoformat()
    if resolve is not None:
        entry |= {"resolved_at": (opened + timedelta(minutes=resolve)).isoformat(), "status": "resolved"}
    return entry


def change(change_id: str, state: str, *, kind: str = "normal", **fields) -> dict:
    return {"id": change_id, "title": change_id, "type": kind, "state": state, "targets": ["app-1"], **fields}


@pytest.fixture
def records(store: Store, tmp_path: Path) -> Store:
    return load(store, tmp_path, cis=[{"id": f"app-{n}", "class": "Application"} for n in range(1, 7)], changes=[
        change("CHG-OK", "implemented", implemented_at=day(5)),
        change("CHG-CLOSED", "closed", kind="standard", implemented_at=day(6)),
        change("CHG-FAIL", "failed", kind="emergency", implemented_at=day(7)),
        change("CHG-RB", "rolled_back", planned_start=day(8, 1), planned_end=day(8, 3)),  # by its planned end
        change("CHG-HARM", "reviewed", implemented_at=day(9)),  # caused INC-5: not a success
        change("CHG-OCTOBER", "implemented", implemented_at=day(20, month=10)),  # before the period
        change("CHG-WAITING", "scheduled", planned_start=day(10, 1), planned_end=day(10, 3)),  # not finished
    ], incidents=[
        incident(1, 1, respond=10, resolve=60),
        incident(2, 2, respond=20, resolve=120),
        incident(3, 2, respond=30, resolve=None, escalation_level=1, escalation_kind="functional",
                 escalation_reason="late"),
        incident(4, 4, respond=None, resolve=None, caused_by_change="CHG-FAIL"),
        incident(5, 3, respond=40, resolve=180, caused_by_change="CHG-HARM"),
        incident(6, 1, respond=5, resolve=5) | {"opened_at": day(30, month=10), "id": "INC-OCTOBER",
                                                 "responded_at": day(30, 11, month=10),
                                                 "resolved_at": day(30, 11, month=10)},
    ])


def kpis(store: Store) -> dict[tuple[str, str], float | None]:
    report = analyse_kpi(store, START, END, now=END)
    assert (report.start, report.end) == (START, END)
    return {(k.area, k.name): k.value for k in report.kpis}


def test_a_change_that_caused_an_incident_is_not_a_success(records: Store):
    found = kpis(records)
    assert found[("changes", "finished")] == 5
    assert found[("changes", "failed or rolled back")] == 2
    assert found[("changes", "caused incidents")] == 1  # CHG-HARM; CHG-FAIL is already counted as failed
    assert found[("changes", "success rate")] == 0.4  # CHG-OK and CHG-CLOSED of 5


def test_changes_are_counted_by_type_and_the_emergency_share(records: Store):
    found = kpis(records)
    assert {name: value for (area, name), value in found.items() if area == "changes" and name.startswith("type ")} == {
        "type emergency": 1, "type normal": 3, "type standard": 1}
    assert found[("changes", "emergency share")] == 0.2


def test_the_kpi_rows_explain_how_they_were_counted(records: Store):
    rows = {(k.area, k.name): k for k in analyse_kpi(records, START, END, now=END).kpis}
    assert rows[("changes", "caused incidents")].detail == "CHG-HARM"
    assert rows[("changes", "success rate")].detail == "2 of 5: not failed, not rolled back, no incident caused"
    assert rows[("changes", "success rate")].unit == "ratio"
    assert rows[("incidents", "mean time to respond")].unit == "minutes"


def test_mean_times_to_respond_and_resolve_count_only_the_incidents_that_got_there(records: Store):
    found = kpis(records)
    assert found[("incidents", "mean time to respond")] == 25.0  # (10 + 20 + 30 + 40) / 4
    assert found[("incidents", "mean time to resolve")] == 120.0  # (60 + 120 + 180) / 3


def test_incidents_of_the_period_are_counted_by_priority(records: Store):
    found = kpis(records)
    assert (found[("incidents", "opened")], found[("incidents", "resolved")], found[("incidents", "still open")]) == (
        5, 3, 2)
    assert {name: value for (area, name), value in found.items() if name.startswith("priority P")} == {
        "priority P1": 1, "priority P2": 2, "priority P3": 1, "priority P4": 1}
    assert found[("incidents", "escalation rate")] == 0.2


def test_without_records_the_rates_are_empty_not_zero(store: Store):
    found = kpis(store)
    assert found[("incidents", "opened")] == 0
    assert found[("changes", "finished")] == 0
    for key in (("changes", "success rate"), ("incidents", "escalation rate"), ("incidents", "mean time to respond")):
        assert found[key] is None, key
