"""Continuity scenarios on a small two-site enterprise whose answers were worked out by hand,
and site loss on random graphs against the networkx reference, on the real Neo4j."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from neo4j import Driver

from cmdb_graph.connection import Neo4jTarget
from cmdb_graph.model import SeverityLevel
from cmdb_graph.schema import reset_database
from cmdb_graph.store import NotFoundError, Store
from impact.bia import analyse_bia
from impact.scenarios import KIND_KEYS, run_failure_set, run_scenarios
from impact.topology import AnalysisError
from tests import reference
from tests.test_impact import ci, dep, load


def located(source: str, target: str) -> dict:
    return dep(source, target, type="LOCATED_IN")


@pytest.fixture
def enterprise(store: Store, tmp_path: Path) -> Store:
    """Two sites. crm and reports need crm-app -> crm-db -> srv-a1 (rack-a1 in dc-a); shop needs
    shop-app on srv-b1 (dc-b) and orders-db on db-pair (1 of 2: db-srv-a in rack-a1,
    db-srv-b in dc-b); hr needs hr-app on srv-b1. Servers reach their site's switch. Core
    services: shop (1), crm (2), hr (2). A retired firewall in dc-a never fails."""
    return load(store, tmp_path, cis=[
        ci("dc-a", "Datacenter", name="Site A"), ci("dc-b", "Datacenter", name="Site B"),
        ci("rack-a1", "Datacenter"), ci("rack-b1", "Datacenter"),
        ci("sw-a", "NetworkDevice"), ci("sw-b", "NetworkDevice"), ci("fw-old", "Firewall", status="retired"),
        ci("srv-a1", "Server"), ci("srv-b1", "Server"), ci("db-srv-a", "Server"), ci("db-srv-b", "Server"),
        ci("db-pair", "RedundancyGroup", min_members=1),
        ci("crm-db", "Database"), ci("orders-db", "Database"),
        ci("crm-app"), ci("shop-app"), ci("hr-app"),
        ci("shop", "BusinessService", criticality=1, rto_minutes=5000),
        ci("crm", "BusinessService", criticality=2, rto_minutes=60),
        ci("hr", "BusinessService", criticality=2, rto_minutes=480),
        ci("reports", "BusinessService", criticality=3, rto_minutes=5000),
    ], relationships=[
        located("rack-a1", "dc-a"), located("rack-b1", "dc-b"), located("sw-a", "dc-a"), located("sw-b", "dc-b"),
        located("fw-old", "dc-a"), located("srv-a1", "rack-a1"), located("db-srv-a", "rack-a1"),
        located("srv-b1", "rack-b1"), located("db-srv-b", "dc-b"),
        *(dep(s, "sw-a", type="CONNECTED_VIA") for s in ("srv-a1", "db-srv-a")),
        *(dep(s, "sw-b", type="CONNECTED_VIA") for s in ("srv-b1", "db-srv-b")),
        dep("db-pair", "db-srv-a", type="HAS_MEMBER"), dep("db-pair", "db-srv-b", type="HAS_MEMBER"),
        dep("orders-db", "db-pair", type="RUNS_ON"), dep("crm-db", "srv-a1", type="RUNS_ON"),
        dep("crm-app", "crm-db"), dep("shop-app", "orders-db"), dep("shop-app", "srv-b1", type="RUNS_ON"),
        dep("hr-app", "srv-b1", type="RUNS_ON"),
        dep("crm", "crm-app"), dep("reports", "crm-app"), dep("shop", "shop-app"), dep("hr", "hr-app"),
    ])


def by_id(results) -> dict:
    return {r.id: r for r in results}


def names(services) -> list[str]:
    return [s.ci.id for s in services]


def test_the_scenarios_come_in_declaration_order_per_site_and_empty_kinds_are_left_out(enterprise: Store):
    # no storage, no middleware, and the only firewall is retired: no attack on the perimeter
    assert [r.id for r in run_scenarios(enterprise)] == [
        "site-loss:dc-a", "site-loss:dc-b", "network-failure:dc-a", "network-failure:dc-b",
        "power-failure:dc-a", "power-failure:dc-b", "database-failure", "system-failure", "major-system-failure",
    ]


def test_losing_site_a_takes_down_what_has_no_way_around_it(enterprise: Store):
    loss = by_id(run_scenarios(enterprise, keys=["site-loss"]))["site-loss:dc-a"]
    assert loss.title == "Site loss: Site A" and loss.seed == "natural disasters" and loss.site.id == "dc-a"
    # the rack's servers are in the site through the rack; the retired firewall does not fail
    assert loss.failed == ["db-srv-a", "dc-a", "rack-a1", "srv-a1", "sw-a"]
    assert sorted(names(loss.services_down)) == ["crm", "reports"]
    assert names(loss.services_degraded) == ["shop"]  # orders-db keeps db-srv-b
    assert loss.down_count == 9 and loss.impacted_count == 13
    assert (loss.core_services_total, loss.core_services_down, loss.core_services_down_share) == (3, 1, 0.3333)
    assert loss.recovery_hours == 72
    assert loss.severity_level is SeverityLevel.I
    assert loss.reason == "33% of core services down (20-60%) and recovery expected in 72 h (over 24 h): Level I"
    # crm (RTO 60 min) misses a 72 h recovery by 4260 min; reports (RTO 5000 min) does not
    assert [(m.ci.id, m.rto_minutes, m.minutes_over) for m in loss.missed_rtos] == [("crm", 60, 4260)]


def test_losing_site_b_takes_down_shop_and_hr_ranked_by_recovery_priority(enterprise: Store):
    loss = by_id(run_scenarios(enterprise, keys=["site-loss"]))["site-loss:dc-b"]
    ranks = {e.ci.id: e.rank for e in analyse_bia(enterprise)}
    assert [(s.ci.id, s.recovery_priority) for s in loss.services_down] == \
        sorted(((c, ranks[c]) for c in ("shop", "hr")), key=lambda pair: pair[1])
    assert loss.services_degraded == []
    assert loss.core_services_down_share == 0.6667 and loss.severity_level is SeverityLevel.I
    assert [(m.ci.id, m.minutes_over) for m in loss.missed_rtos] == [("hr", 72 * 60 - 480)]


def test_the_same_site_recovered_sooner_is_a_lower_level(enterprise: Store):
    results = by_id(run_scenarios(enterprise))
    assert results["power-failure:dc-a"].failed == results["site-loss:dc-a"].failed
    assert results["power-failure:dc-a"].severity_level is SeverityLevel.III  # 8 h
    network = results["network-failure:dc-a"]
    assert network.failed == ["sw-a"] and sorted(names(network.services_down)) == ["crm", "reports"]
    assert network.severity_level is SeverityLevel.NONE  # 4 h: everyday incident process
    assert [(m.ci.id, m.minutes_over) for m in network.missed_rtos] == [("crm", 180)]


def test_overriding_recovery_hours_changes_the_level(enterprise: Store):
    thirteen = run_scenarios(enterprise, recovery_hours={"site-loss": 13}, keys=["site-loss"])[0]
    assert thirteen.recovery_hours == 13 and thirteen.severity_level is SeverityLevel.II
    five = run_scenarios(enterprise, recovery_hours={"site-loss": 5}, keys=["site-loss"])[0]
    assert five.severity_level is SeverityLevel.NONE
    assert [m.ci.id for m in five.missed_rtos] == ["crm"]


def test_the_worst_single_database_server_and_application_are_picked(enterprise: Store):
    results = by_id(run_scenarios(enterprise, keys=["database-failure", "system-failure", "major-system-failure"]))
    assert results["database-failure"].failed == ["crm-db"]  # crm and reports, against shop alone
    assert sorted(names(results["database-failure"].services_down)) == ["crm", "reports"]
    # srv-a1 and srv-b1 each take two services and five CIs down: the smaller id wins
    assert results["system-failure"].failed == ["srv-a1"]
    assert results["major-system-failure"].failed == ["crm-app"]
    assert results["major-system-failure"].severity_level is SeverityLevel.III  # 1 of 3 core for 12 h


def test_an_empty_kind_gives_no_scenario(enterprise: Store):
    assert run_scenarios(enterprise, keys=["attack", "storage-failure", "middleware-failure"]) == []


def test_a_perimeter_attack_fails_every_firewall_and_load_balancer(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[ci("fw", "Firewall"), ci("lb", "LoadBalancer"), ci("web"),
                               ci("shop", "BusinessService", criticality=1, rto_minutes=120)],
         relationships=[dep("web", "lb"), dep("lb", "fw"), dep("shop", "web")])
    [attack] = run_scenarios(store, keys=["attack"])
    assert attack.failed == ["fw", "lb"] and names(attack.services_down) == ["shop"]
    assert attack.severity_level is SeverityLevel.I  # all core services for 24 h
    assert attack.site is None and attack.services_down[0].recovery_priority == 1


def test_a_failure_set_of_your_own(enterprise: Store):
    both = run_failure_set(enterprise, ["db-srv-a", "db-srv-b"], 13, title="both database servers")
    assert both.title == "both database servers" and both.key == "custom"
    assert both.failed == ["db-srv-a", "db-srv-b"] and names(both.services_down) == ["shop"]
    assert both.severity_level is SeverityLevel.II and both.missed_rtos == []
    one = run_failure_set(enterprise, ["db-srv-a", "fw-old"], 2)  # the retired firewall does not fail
    assert one.failed == ["db-srv-a"] and one.services_down == [] and names(one.services_degraded) == ["shop"]


def test_unknown_keys_and_ids_are_refused(enterprise: Store):
    with pytest.raises(AnalysisError, match="'flood'.*site-loss"):
        run_scenarios(enterprise, keys=["flood"])
    with pytest.raises(AnalysisError, match="'flood'.*site-loss"):
        run_scenarios(enterprise, recovery_hours={"flood": 1})
    with pytest.raises(AnalysisError, match="0 or more"):
        run_scenarios(enterprise, recovery_hours={"site-loss": -1})
    with pytest.raises(NotFoundError, match="'ghost'"):
        run_failure_set(enterprise, ["dc-a", "ghost"], 1)
    with pytest.raises(AnalysisError, match="at least one"):
        run_failure_set(enterprise, [], 1)
    assert KIND_KEYS[0] == "site-loss"


# --- site loss against the networkx reference ------------------------------------------------

SITES = ["dc-0", "dc-1"]


@st.composite
def sited_graphs(draw: st.DrawFn, max_nodes: int = 8) -> tuple[list[dict], list[dict]]:
    """A random DAG of applications, servers, groups and services, each CI maybe LOCATED_IN a
    site or in rack-0 (which is in dc-0)."""
    count = draw(st.integers(2, max_nodes))
    cis = [ci("dc-0", "Datacenter"), ci("dc-1", "Datacenter"), ci("rack-0", "Datacenter")]
    relationships = [located("rack-0", "dc-0")]
    classes = []
    for n in range(count):
        cls = draw(st.sampled_from(["BusinessService", "Application", "Server", "RedundancyGroup"]))
        classes.append(cls)
        extra = {"min_members": draw(st.integers(1, 2))} if cls == "RedundancyGroup" else {}
        cis.append(ci(f"n{n}", cls, **extra))
        place = draw(st.sampled_from([None, None, "dc-0", "dc-1", "rack-0"]))
        if place:
            strength = draw(st.sampled_from(["hard", "soft"]))
            relationships.append(dep(f"n{n}", place, type="LOCATED_IN", strength=strength))
    pairs = draw(st.lists(st.tuples(st.integers(0, count - 1), st.integers(0, count - 1)), max_size=count * 2))
    for a, b in sorted({(min(a, b), max(a, b)) for a, b in pairs if a != b}):  # lower to higher index: acyclic
        rel_type = "HAS_MEMBER" if classes[a] == "RedundancyGroup" and draw(st.booleans()) else "DEPENDS_ON"
        strength = draw(st.sampled_from(["hard", "hard", "soft"]))
        relationships.append(dep(f"n{a}", f"n{b}", type=rel_type, strength=strength))
    return cis, relationships


@pytest.fixture(scope="module")
def shared_store(driver: Driver, neo4j_target: Neo4jTarget) -> Store:
    return Store(driver, neo4j_target.database)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=sited_graphs())
def test_site_loss_equals_the_reference(shared_store: Store, tmp_path: Path, graph):
    cis, relationships = graph
    reset_database(shared_store.driver, shared_store.database)
    load(shared_store, tmp_path, cis=cis, relationships=relationships)
    graph_nx = reference.build(cis, relationships)
    location = nx.DiGraph((r["from"], r["to"]) for r in relationships if r.get("type") == "LOCATED_IN")
    results = by_id(run_scenarios(shared_store, keys=["site-loss"]))
    assert sorted(results) == [f"site-loss:{s}" for s in SITES]
    services = {c["id"] for c in cis if c["class"] == "BusinessService"}
    for site in SITES:
        failed = {site} | (nx.descendants(location.reverse(), site) if site in location else set())
        expected = reference.states(graph_nx, failed)
        result = results[f"site-loss:{site}"]
        assert set(result.failed) == failed
        assert set(names(result.services_down)) == {c for c, s in expected.items() if s == "DOWN" and c in services}
        degraded = {c for c, s in expected.items() if s == "DEGRADED" and c in services}
        assert set(names(result.services_degraded)) == degraded
        assert result.down_count == sum(1 for s in expected.values() if s == "DOWN")
