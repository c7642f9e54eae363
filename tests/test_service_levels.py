"""SLA attainment from the incidents, through the graph, on small topologies worked out by hand.

    shop -> shop-app -> web-pair (RedundancyGroup, min 1) -HAS_MEMBER-> web-1, web-2
                     -> db
    billing -> billing-app -> db

The period is October 2026 up to the 31st (30 days, 43,200 minutes); the one before is the 30
days up to 1 October. 2026-10-01 is a Thursday, 2026-10-10 a Saturday."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from cmdb_graph.store import Store
from impact.service_levels import Downtime, Trend, analyse_sla_attainment
from impact.topology import AnalysisError
from tests.test_impact import load

START = datetime(2026, 10, 1, tzinfo=timezone.utc)
END = datetime(2026, 10, 31, tzinfo=timezone.utc)
MINUTES = 30 * 24 * 60


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


def oct(day: int, hour: int = 0, minute: int = 0) -> datetime:  # noqa: A001 - October, not octal
    return at(10, day, hour, minute)


def incident(incident_id: str, affects: list[str], opened_at: datetime, resolved_at: datetime | None = None, *,
             outage: bool = True, **fields) -> dict:
    entry = {"id": incident_id, "title": incident_id, "affects": affects, "opened_at": opened_at.isoformat(),
             "outage": outage, **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}}
    if resolved_at is not None:  # answered at once unless told otherwise
        entry = {"responded_at": opened_at.isoformat(), **entry, "resolved_at": resolved_at.isoformat(),
                 "status": "resolved"}
    return entry


def sla(sla_id: str, service: str, **fields) -> dict:
    return {"id": sla_id, "service": service, "availability_target": 0.999, **fields}


CIS = [
    {"id": "shop", "class": "BusinessService"}, {"id": "billing", "class": "BusinessService"},
    {"id": "shop-app", "class": "Application"}, {"id": "billing-app", "class": "Application"},
    {"id": "web-pair", "class": "RedundancyGroup", "min_members": 1},
    {"id": "web-1", "class": "Server"}, {"id": "web-2", "class": "Server"}, {"id": "db", "class": "Database"},
]
RELATIONSHIPS = [
    {"from": "shop", "to": "shop-app"}, {"from": "shop-app", "to": "web-pair"}, {"from": "shop-app", "to": "db"},
    {"from": "web-pair", "to": "web-1", "type": "HAS_MEMBER"}, {"from": "web-pair", "to": "web-2", "type": "HAS_MEMBER"},
    {"from": "billing", "to": "billing-app"}, {"from": "billing-app", "to": "db"},
]


def shop_and_billing(store: Store, tmp_path: Path, shop_sla: dict | None = None, billing_sla: dict | None = None,
                     **records: list) -> Store:
    return load(store, tmp_path, cis=CIS, relationships=RELATIONSHIPS, slas=[
        sla("sla-shop", "shop", response_minutes=30, resolution_minutes=240, **(shop_sla or {})),
        sla("sla-billing", "billing", response_minutes=60, resolution_minutes=480, **(billing_sla or {})),
    ], **records)


def report(store: Store, start: datetime = START, end: datetime = END, now: datetime = END):
    found = analyse_sla_attainment(store, start, end, now)
    return {s.service.id: s for s in found.services}


# --- availability from outage incidents --------------------------------------------------


def test_one_node_of_a_redundant_pair_down_costs_no_availability(store: Store, tmp_path: Path):
    shop_and_billing(store, tmp_path, incidents=[incident("INC-W1", ["web-1"], oct(5, 10), oct(5, 12))])
    shop = report(store)["shop"]
    assert (shop.current.downtime_minutes, shop.current.availability) == (0, 1.0)
    assert (shop.downtime, shop.misses, shop.availability_met) == ([], [], True)
    assert shop.current.service_minutes == MINUTES


def test_both_nodes_of_a_redundant_pair_down_together_cost_only_the_overlap(store: Store, tmp_path: Path):
    shop_and_billing(store, tmp_path, incidents=[
        incident("INC-W1", ["web-1"], oct(5, 10), oct(5, 12)), incident("INC-W2", ["web-2"], oct(5, 11), oct(5, 13)),
    ])
    shop = report(store)["shop"]
    assert shop.current.downtime_minutes == 60
    assert shop.current.availability == round(1 - 60 / MINUTES, 6)
    assert shop.downtime == [Downtime(incidents=["INC-W1", "INC-W2"], minutes=60)]  # only together


def test_a_failed_database_counts_against_every_service_that_needs_it(store: Store, tmp_path: Path):
    shop_and_billing(store, tmp_path, incidents=[incident("INC-DB", ["db"], oct(10, 2), oct(10, 5))])
    found = report(store)
    for service in ("shop", "billing"):
        figures = found[service].current
        assert (figures.downtime_minutes, figures.service_minutes) == (180, 43200)
        assert figures.availability == round(1 - 180 / 43200, 6) == 0.995833
        assert found[service].downtime == [Downtime(incidents=["INC-DB"], minutes=180)]
        assert found[service].availability_met is False
        assert found[service].misses == [
            "availability 99.5833% below the 99.900% target: 180 min down in service hours (INC-DB 180 min)"]


def test_the_downtime_list_names_each_incident_alone_and_the_pair_only_together(store: Store, tmp_path: Path):
    shop_and_billing(store, tmp_path, incidents=[
        incident("INC-W1", ["web-1"], oct(5, 10), oct(5, 12)), incident("INC-W2", ["web-2"], oct(5, 11), oct(5, 13)),
        incident("INC-DB", ["db"], oct(10, 2), oct(10, 5)),
        # billing's own app down while the web pair is out: nothing to do with the shop
        incident("INC-BILL", ["billing-app"], oct(5, 9), oct(5, 14)),
    ])
    found = report(store)
    assert found["shop"].downtime == [Downtime(incidents=["INC-DB"], minutes=180),
                                      Downtime(incidents=["INC-W1", "INC-W2"], minutes=60)]
    assert found["shop"].current.downtime_minutes == 240
    assert found["billing"].downtime == [Downtime(incidents=["INC-BILL"], minutes=300),
                                         Downtime(incidents=["INC-DB"], minutes=180)]
    assert found["billing"].current.downtime_minutes == 480
    assert found["shop"].misses[0].endswith("(INC-DB 180 min, INC-W1+INC-W2 60 min)")


def test_an_incident_that_is_not_an_outage_costs_nothing(store: Store, tmp_path: Path):
    shop_and_billing(store, tmp_path, incidents=[incident("INC-SLOW", ["db"], oct(10, 2), oct(10, 5), outage=False)])
    for service in report(store).values():
        assert (service.current.downtime_minutes, service.current.availability, service.downtime) == (0, 1.0, [])


def test_an_outage_still_open_at_the_period_end_runs_to_the_end(store: Store, tmp_path: Path):
    shop_and_billing(store, tmp_path, incidents=[incident("INC-DB", ["db"], oct(30, 22))])
    shop = report(store)["shop"]
    assert shop.current.downtime_minutes == 120
    assert shop.downtime == [Downtime(incidents=["INC-DB"], minutes=120)]


def test_an_outage_across_the_period_start_is_split_between_the_periods(store: Store, tmp_path: Path):
    shop_and_billing(store, tmp_path, incidents=[incident("INC-DB", ["db"], at(9, 30, 23), oct(1, 1))])
    shop = report(store)["shop"]
    assert (shop.current.downtime_minutes, shop.previous.downtime_minutes) == (60, 60)
    assert (shop.previous.start, shop.previous.end) == (at(9, 1), START)
    assert shop.downtime == [Downtime(incidents=["INC-DB"], minutes=60)]  # the current period's
    assert shop.trend is Trend.UNCHANGED


def test_only_downtime_inside_the_service_hours_counts(store: Store, tmp_path: Path):
    # Friday 2 Oct 17:00 to Monday 5 Oct 09:00: one office hour on each side of the weekend
    shop_and_billing(store, tmp_path, billing_sla={"service_hours": "mon-fri 08:00-18:00"},
                     incidents=[incident("INC-DB", ["db"], oct(2, 17), oct(5, 9))])
    found = report(store)
    office = 22 * 10 * 60  # 22 weekdays from 1 to 30 October, 10 hours each
    assert (found["billing"].current.service_minutes, found["billing"].current.downtime_minutes) == (office, 120)
    assert found["billing"].current.availability == round(1 - 120 / office, 6)
    assert found["billing"].service_hours == "mon-fri 08:00-18:00"
    assert found["shop"].current.downtime_minutes == 64 * 60  # 24x7


def _maintenance(recurrence: str, start: datetime, end: datetime) -> dict:
    return {"id": "mw-shop", "start": start.isoformat(), "end": end.isoformat(), "recurrence": recurrence,
            "applies_to": ["shop"]}


@pytest.mark.parametrize(("window", "excluded"), [
    (_maintenance("none", oct(10, 1), oct(10, 3)), 60),
    (_maintenance("weekly", at(9, 5, 2), at(9, 5, 4)), 120),  # Saturdays 02:00-04:00 from 5 September
    (_maintenance("daily", at(9, 1, 4, 30), at(9, 1, 6)), 30),  # 04:30-06:00 every day
    (_maintenance("monthly", at(9, 10, 1), at(9, 10, 3)), 60),  # the 10th, 01:00-03:00
])
def test_downtime_inside_a_maintenance_window_of_the_service_is_excluded(store: Store, tmp_path: Path, window, excluded):
    shop_and_billing(store, tmp_path, maintenance_windows=[window],
                     incidents=[incident("INC-DB", ["db"], oct(10, 2), oct(10, 5))])
    found = report(store)
    shop = found["shop"].current
    assert (shop.downtime_minutes, shop.excluded_minutes) == (180 - excluded, excluded)
    assert shop.availability == round(1 - (180 - excluded) / MINUTES, 6)
    assert found["shop"].downtime == [Downtime(incidents=["INC-DB"], minutes=180 - excluded)]
    billing = found["billing"].current  # the window is not billing's
    assert (billing.downtime_minutes, billing.excluded_minutes) == (180, 0)


def test_an_sla_that_does_not_exclude_maintenance_counts_its_downtime(store: Store, tmp_path: Path):
    shop_and_billing(store, tmp_path, shop_sla={"exclude_maintenance": False},
                     maintenance_windows=[_maintenance("none", oct(10, 1), oct(10, 3))],
                     incidents=[incident("INC-DB", ["db"], oct(10, 2), oct(10, 5))])
    shop = report(store)["shop"].current
    assert (shop.downtime_minutes, shop.excluded_minutes) == (180, 0)


def test_a_maintenance_window_excludes_only_its_part_inside_the_service_hours(store: Store, tmp_path: Path):
    # office hours: the outage counts 09:00-10:00 on Monday 5 Oct; the window 07:00-08:30 covers 30 of those
    shop_and_billing(store, tmp_path, shop_sla={"service_hours": "mon-fri 08:00-18:00"},
                     maintenance_windows=[_maintenance("none", oct(5, 7), oct(5, 8, 30))],
                     incidents=[incident("INC-DB", ["db"], oct(5, 6), oct(5, 10))])
    shop = report(store)["shop"].current
    assert (shop.downtime_minutes, shop.excluded_minutes) == (90, 30)


# --- response and resolution ---------------------------------------------------------------


def test_response_and_resolution_attainment_use_each_services_own_sla_times(store: Store, tmp_path: Path):
    shop_and_billing(store, tmp_path, incidents=[
        # on db: both services; shop promises 30/240 minutes, billing 60/480
        incident("I-SLOW", ["db"], oct(5, 10), oct(5, 15), outage=False, responded_at=oct(5, 10, 45)),
        incident("I-QUICK", ["db"], oct(6, 10), oct(6, 11), outage=False, responded_at=oct(6, 10, 10)),
        incident("I-IGNORED", ["db"], oct(7, 10), outage=False),  # never answered: late for both
        incident("I-NOT-DUE", ["db"], oct(30, 23, 50), outage=False),  # nothing due yet: left out
        incident("I-BILLING", ["billing-app"], oct(8, 10), oct(8, 11), outage=False, responded_at=oct(8, 10, 20)),
        incident("I-SEPTEMBER", ["db"], at(9, 10, 10), at(9, 10, 10, 30), outage=False,
                 responded_at=at(9, 10, 10, 5)),
    ])
    found = report(store)
    shop, billing = found["shop"], found["billing"]
    assert shop.current.response.model_dump() == {"counted": 3, "met": 1, "rate": 0.3333, "target_minutes": 30}
    assert shop.current.resolution.model_dump() == {"counted": 3, "met": 1, "rate": 0.3333, "target_minutes": 240}
    assert billing.current.response.model_dump() == {"counted": 4, "met": 3, "rate": 0.75, "target_minutes": 60}
    assert billing.current.resolution.model_dump() == {"counted": 4, "met": 3, "rate": 0.75, "target_minutes": 480}
    assert shop.misses == ["2 of 3 incidents missed the 30-minute response time",
                           "2 of 3 incidents missed the 240-minute resolution time"]
    assert billing.misses == ["1 of 4 incidents missed the 60-minute response time",
                              "1 of 4 incidents missed the 480-minute resolution time"]
    assert (shop.previous.response.counted, shop.previous.response.rate) == (1, 1.0)
    # availability equal (no outage), so the worse response rate decides
    assert (shop.trend, billing.trend) == (Trend.WORSE, Trend.WORSE)


def test_response_attainment_counts_on_the_services_hours(store: Store, tmp_path: Path):
    # Saturday 3 Oct 12:00, answered Monday 5 Oct 08:30: 30 office minutes, but 44.5 hours round the clock
    shop_and_billing(store, tmp_path, billing_sla={"service_hours": "mon-fri 08:00-18:00"}, incidents=[
        incident("I-WEEKEND", ["db"], oct(3, 12), oct(5, 9), outage=False, responded_at=oct(5, 8, 30))])
    found = report(store)
    assert (found["billing"].current.response.met, found["billing"].current.resolution.met) == (1, 1)
    assert (found["shop"].current.response.met, found["shop"].current.response.counted) == (0, 1)


# --- the trend and the report -------------------------------------------------------------


def test_less_downtime_than_the_period_before_is_better(store: Store, tmp_path: Path):
    shop_and_billing(store, tmp_path, incidents=[incident("INC-SEP", ["db"], at(9, 10, 2), at(9, 10, 5)),
                                                 incident("INC-OCT", ["db"], oct(10, 2), oct(10, 3))])
    shop = report(store)["shop"]
    assert (shop.previous.downtime_minutes, shop.current.downtime_minutes) == (180, 60)
    assert shop.previous.availability == round(1 - 180 / MINUTES, 6)
    assert shop.trend is Trend.BETTER
    assert shop.downtime == [Downtime(incidents=["INC-OCT"], minutes=60)]


def test_more_downtime_than_the_period_before_is_worse(store: Store, tmp_path: Path):
    shop_and_billing(store, tmp_path, incidents=[incident("INC-SEP", ["db"], at(9, 10, 2), at(9, 10, 3)),
                                                 incident("INC-OCT", ["db"], oct(10, 2), oct(10, 5))])
    assert report(store)["shop"].trend is Trend.WORSE


def test_the_report_counts_the_services_meeting_their_target(store: Store, tmp_path: Path):
    shop_and_billing(store, tmp_path, incidents=[incident("INC-BILL", ["billing-app"], oct(10, 2), oct(10, 5))])
    found = analyse_sla_attainment(store, START, END, END)
    assert [s.service.id for s in found.services] == ["billing", "shop"]
    assert (found.services_meeting_availability, found.services_measured) == (1, 2)
    assert [(s.sla_id, s.availability_target) for s in found.services] == [("sla-billing", 0.999), ("sla-shop", 0.999)]


def test_a_service_without_an_sla_is_not_reported(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[{"id": "free", "class": "BusinessService"}])
    assert analyse_sla_attainment(store, START, END, END).services == []


def test_a_period_that_does_not_end_after_it_starts_is_refused(store: Store):
    with pytest.raises(AnalysisError, match="the period must end after it starts"):
        analyse_sla_attainment(store, END, START, END)
