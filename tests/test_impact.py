"""The analyses on small topologies whose answers were worked out by hand, on the real Neo4j."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from math import comb
from pathlib import Path

import pytest
import yaml

from cmdb_graph.model import CIClass, RelType, SeverityLevel, Strength
from cmdb_graph.store import NotFoundError, Store
from impact.blast_radius import analyse_blast_radius, incident_severity, severity_level
from impact.change_impact import analyse_change_impact, occurrence_covering
from impact.continuity import analyse_continuity
from impact.dependencies import analyse_dependencies
from impact.impact import analyse_impact
from impact.root_cause import analyse_root_cause
from impact.topology import AnalysisError, CINode, Edge, Topology
from loaders.native import load_paths

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def load(store: Store, tmp_path: Path, **document: list) -> Store:
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(document))
    report = load_paths(store, [path], actor="test")
    assert report.ok, report
    return store


def ci(ci_id: str, cls: str = "Application", **fields) -> dict:
    return {"id": ci_id, "class": cls, **fields}


def dep(source: str, target: str, **fields) -> dict:
    return {"from": source, "to": target, **fields}


def states(result) -> dict[str, tuple[str, int]]:
    return {row.ci.id: (row.state.value, row.distance) for row in result.impacted}


def test_a_failure_runs_up_a_chain_with_its_distance_and_path(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[ci("a"), ci("b"), ci("c", "Database")], relationships=[dep("a", "b"), dep("b", "c")])
    result = analyse_impact(store, ["c"])
    assert states(result) == {"c": ("DOWN", 0), "b": ("DOWN", 1), "a": ("DOWN", 2)}
    assert [row.path for row in result.impacted] == [["c"], ["b", "c"], ["a", "b", "c"]]
    assert result.counts_by_class == {"Application": 2, "Database": 1}
    assert result.counts_by_layer == {"service": 3}


def test_a_diamond_reaches_its_top_once_by_the_shorter_side(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[ci(x) for x in "abcd"],
         relationships=[dep("a", "b"), dep("a", "c"), dep("b", "d"), dep("c", "d")])
    assert states(analyse_impact(store, ["d"])) == {"d": ("DOWN", 0), "b": ("DOWN", 1), "c": ("DOWN", 1), "a": ("DOWN", 2)}
    assert analyse_impact(store, ["d"]).impacted[-1].path == ["a", "b", "d"]  # ties go to the smaller id
    assert states(analyse_impact(store, ["b"])) == {"b": ("DOWN", 0), "a": ("DOWN", 1)}


@pytest.fixture
def web_farm(store: Store, tmp_path: Path) -> Store:
    """shop -> farm (2 of 3) -> web-1, web-2, web-3."""
    return load(store, tmp_path, cis=[
        ci("shop", "BusinessService", criticality=1), ci("farm", "Cluster", min_members=2),
        ci("web-1", "Server"), ci("web-2", "Server"), ci("web-3", "Server"),
    ], relationships=[dep("shop", "farm")] + [dep("farm", f"web-{n}", type="HAS_MEMBER") for n in (1, 2, 3)],
        slas=[{"id": "sla-shop", "service": "shop", "availability_target": 0.999}])


def test_losing_one_of_three_web_nodes_degrades_the_shop(web_farm: Store):
    result = analyse_impact(web_farm, ["web-1"])
    assert states(result) == {"web-1": ("DOWN", 0), "farm": ("DEGRADED", 1), "shop": ("DEGRADED", 2)}
    assert result.business_services[0].state.value == "DEGRADED"
    assert result.business_services[0].sla.availability_target == 0.999


def test_losing_two_of_three_web_nodes_takes_the_shop_down(web_farm: Store):
    result = analyse_impact(web_farm, ["web-1", "web-2"])
    assert states(result) == {"web-1": ("DOWN", 0), "web-2": ("DOWN", 0), "farm": ("DOWN", 1), "shop": ("DOWN", 2)}


def test_a_soft_dependency_only_degrades(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[ci("app"), ci("cache", "Middleware"), ci("svc", "BusinessService")],
         relationships=[dep("app", "cache", strength="soft"), dep("svc", "app")])
    assert states(analyse_impact(store, ["cache"])) == {"cache": ("DOWN", 0), "app": ("DEGRADED", 1), "svc": ("DEGRADED", 2)}


def test_a_cycle_terminates_with_both_down(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[ci("a"), ci("b"), ci("top")], relationships=[dep("a", "b"), dep("b", "a"), dep("top", "a")])
    assert states(analyse_impact(store, ["a"])) == {"a": ("DOWN", 0), "b": ("DOWN", 1), "top": ("DOWN", 1)}


def test_max_depth_and_relationship_types_limit_what_is_followed(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[ci("a"), ci("b"), ci("vm", "VirtualMachine"), ci("host", "Server")],
         relationships=[dep("a", "b"), dep("b", "vm", type="RUNS_ON"), dep("vm", "host", type="HOSTED_ON")])
    assert states(analyse_impact(store, ["host"], max_depth=1)) == {"host": ("DOWN", 0), "vm": ("DOWN", 1)}
    assert states(analyse_impact(store, ["host"], max_depth=0)) == {"host": ("DOWN", 0)}
    only_hosting = analyse_impact(store, ["host"], relationship_types=[RelType.HOSTED_ON])
    assert states(only_hosting) == {"host": ("DOWN", 0), "vm": ("DOWN", 1)}
    assert states(analyse_impact(store, ["host"])) == {"host": ("DOWN", 0), "vm": ("DOWN", 1), "b": ("DOWN", 2), "a": ("DOWN", 3)}


def test_unknown_ids_and_bad_arguments_are_refused(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[ci("a")])
    with pytest.raises(NotFoundError, match="'ghost'"):
        analyse_impact(store, ["a", "ghost"])
    with pytest.raises(AnalysisError, match="maxDepth"):
        analyse_impact(store, ["a"], max_depth=-1)
    with pytest.raises(AnalysisError, match="at least one"):
        analyse_impact(store, [])


@pytest.fixture
def redundant_pair(store: Store, tmp_path: Path) -> Store:
    """svc -> app -> pair (1 of 2) -> node-1, node-2 -> switch; app -> db (RTO 240, RPO 60)."""
    return load(store, tmp_path, cis=[
        ci("svc", "BusinessService", rto_minutes=60, rpo_minutes=15), ci("app", rto_minutes=30),
        ci("pair", "RedundancyGroup", min_members=1), ci("node-1", "Server", availability=0.99, rto_minutes=600),
        ci("node-2", "Server", availability=0.99), ci("switch", "NetworkDevice", availability=0.999),
        ci("db", "Database", rto_minutes=240, rpo_minutes=60),
    ], relationships=[
        dep("svc", "app"), dep("app", "pair"), dep("pair", "node-1", type="HAS_MEMBER"),
        dep("pair", "node-2", type="HAS_MEMBER"), dep("node-1", "switch", type="CONNECTED_VIA"),
        dep("node-2", "switch", type="CONNECTED_VIA"), dep("app", "db"),
    ], slas=[{"id": "sla-svc", "service": "svc", "availability_target": 0.999}])


def test_a_spof_behind_a_redundant_pair(redundant_pair: Store):
    result = analyse_continuity(redundant_pair, "svc")
    assert [c.id for c in result.single_points_of_failure] == ["app", "db", "pair", "switch"]
    assert [[c.id for c in cut] for cut in result.minimal_cut_sets] == [["app"], ["db"], ["pair"], ["switch"], ["node-1", "node-2"]]


def test_an_rto_violation_two_hops_away_and_an_rpo_violation(redundant_pair: Store):
    result = analyse_continuity(redundant_pair, "svc")
    assert [(v.ci.id, v.rto_minutes, v.service_rto_minutes, v.path) for v in result.rto_violations] == [
        ("db", 240, 60, ["svc", "app", "db"])]  # node-1 recovers slowly too, but the pair covers for it
    assert [(v.ci.id, v.rpo_minutes, v.service_rpo_minutes) for v in result.rpo_violations] == [("db", 60, 15)]


def test_availability_of_a_redundant_pair_behind_a_switch(redundant_pair: Store):
    result = analyse_continuity(redundant_pair, "svc")
    # up when the switch is up and not both nodes are down: 0.999 x (1 - 0.01 x 0.01)
    assert result.availability.estimate == pytest.approx(0.999 * (1 - 0.0001))
    assert result.availability.error_bound == 0 and result.availability.method.startswith("exact")
    assert result.sla_target == 0.999 and result.meets_sla is False  # 0.9989001 < 0.999


@pytest.fixture
def two_changes_on_one_farm(web_farm: Store, tmp_path: Path) -> Store:
    start = NOW + timedelta(days=2)
    window = {"planned_start": start.isoformat(), "planned_end": (start + timedelta(hours=2)).isoformat()}
    later = {"planned_start": (start + timedelta(days=1)).isoformat(),
             "planned_end": (start + timedelta(days=1, hours=2)).isoformat()}
    changes = [
        {"id": "CHG-A", "title": "Patch web-1", "targets": ["web-1"], "state": "scheduled", **window},
        {"id": "CHG-B", "title": "Patch web-2", "targets": ["web-2"], "state": "scheduled",
         "planned_start": (start + timedelta(hours=1)).isoformat(), "planned_end": (start + timedelta(hours=3)).isoformat()},
        {"id": "CHG-C", "title": "Patch web-3 later", "targets": ["web-3"], "state": "scheduled", **later},
        {"id": "CHG-S", "title": "Reset password", "type": "standard", "category": "account management",
         "targets": ["web-3"], "state": "scheduled", **later},
        {"id": "CHG-E", "title": "Fix", "type": "emergency", "targets": ["web-3"], "state": "scheduled", **later},
    ]
    return load(web_farm, tmp_path, changes=changes, maintenance_windows=[
        {"id": "MW-WEB", "start": "2026-11-01T00:00:00Z", "end": "2026-11-01T06:00:00Z", "recurrence": "weekly",
         "applies_to": ["web-1"]}])


def test_two_changes_that_each_take_one_farm_node_collide(two_changes_on_one_farm: Store):
    result = analyse_change_impact(two_changes_on_one_farm, "CHG-A")
    assert [c.change_id for c in result.conflicts] == ["CHG-B"]  # CHG-C runs a day later
    conflict = result.conflicts[0]
    assert [c.id for c in conflict.jointly_down] == ["farm", "shop"]  # neither change alone takes them down
    assert {c.id for c in conflict.shared_impact} == {"farm", "shop"}
    assert conflict.overlap.minutes == 60
    assert "neither takes down alone" in conflict.reason
    assert {r.ci.id: r.state.value for r in result.impacted} == {"web-1": "DOWN", "farm": "DEGRADED", "shop": "DEGRADED"}
    assert result.approval_route == "CAB"
    assert result.outside_maintenance_window is True  # a Sunday 00-06 window; the change is on a Sunday at noon
    collisions = next(f for f in result.risk_factors if f.name == "collisions")
    assert collisions.value == 1 and collisions.contribution == 10
    assert result.risk_score == pytest.approx(sum(f.contribution for f in result.risk_factors))


def test_approval_routes(two_changes_on_one_farm: Store):
    assert analyse_change_impact(two_changes_on_one_farm, "CHG-S").approval_route == "PRE_APPROVED"
    assert analyse_change_impact(two_changes_on_one_farm, "CHG-E").approval_route == "EMERGENCY_CAB"
    with pytest.raises(NotFoundError):
        analyse_change_impact(two_changes_on_one_farm, "CHG-NONE")


def test_a_weekly_window_covers_the_same_hours_every_week():
    start, end = datetime(2026, 11, 1, 0, tzinfo=timezone.utc), datetime(2026, 11, 1, 6, tzinfo=timezone.utc)
    assert occurrence_covering(start, end, "weekly", datetime(2026, 11, 22, 2, tzinfo=timezone.utc)) is not None
    assert occurrence_covering(start, end, "weekly", datetime(2026, 11, 23, 2, tzinfo=timezone.utc)) is None
    assert occurrence_covering(start, end, "none", datetime(2026, 11, 22, 2, tzinfo=timezone.utc)) is None
    assert occurrence_covering(start, end, "monthly", datetime(2026, 12, 1, 5, tzinfo=timezone.utc)) is not None


def test_the_common_upstream_of_three_symptoms_beats_a_recent_change_explaining_one(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[ci("s1"), ci("s2"), ci("s3"), ci("mq", "Middleware"), ci("cfg", "Middleware"),
                               ci("lone"), ci("disk", "StorageDevice")],
         relationships=[dep("s1", "mq"), dep("s2", "mq"), dep("s3", "mq"), dep("s1", "cfg"), dep("lone", "disk")],
         changes=[{"id": "CHG-1", "title": "New config", "targets": ["cfg"], "state": "implemented",
                   "implemented_at": (NOW - timedelta(hours=3)).isoformat()}])
    ranked = analyse_root_cause(store, ["s1", "s2", "s3"], now=NOW)
    assert ranked[0].ci.id == "mq" and ranked[0].explained == ["s1", "s2", "s3"] and ranked[0].score == 80.0
    cfg = next(c for c in ranked if c.ci.id == "cfg")
    assert cfg.explained == ["s1"] and [c.id for c in cfg.evidence.recent_changes] == ["CHG-1"]
    assert cfg.score == round(70 / 3 + 10 + 8, 2)  # coverage 1/3, precision 1, evidence 0.4
    assert ranked[0].cause_set is None and cfg.cause_set is None  # mq alone explains everything

    apart = analyse_root_cause(store, ["s2", "lone"], now=NOW)  # nothing is upstream of both
    assert all(c.unexplained for c in apart)
    assert sorted(c.id for c in apart[0].cause_set) in (["disk", "mq"], ["disk", "s2"], ["lone", "mq"], ["lone", "s2"])
    assert len(apart[0].cause_set) == 2 and apart[0].cause_set[0].id == apart[0].ci.id


def test_dependencies_carry_what_the_records_say(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[ci("app"), ci("db", "Database"), ci("host", "Server")],
         relationships=[dep("app", "db"), dep("db", "host", type="RUNS_ON")],
         incidents=[{"id": "INC-1", "title": "slow", "opened_at": (NOW - timedelta(hours=1)).isoformat(), "affects": ["db"]}],
         problems=[{"id": "PRB-1", "title": "disk", "known_error": True, "workaround": "restart", "root_cause_in": ["host"]}],
         changes=[{"id": "CHG-1", "title": "patch", "targets": ["host"], "implemented_at": (NOW - timedelta(days=40)).isoformat(),
                   "state": "closed"}])
    rows = analyse_dependencies(store, "app", now=NOW)
    assert [(d.ci.id, d.distance, d.path) for d in rows] == [("db", 1, ["app", "db"]), ("host", 2, ["app", "db", "host"])]
    assert [i.id for i in rows[0].evidence.open_incidents] == ["INC-1"]
    assert [p.id for p in rows[1].evidence.known_errors] == ["PRB-1"] and rows[1].evidence.recent_changes == []
    assert [c.id for c in analyse_dependencies(store, "app", change_window_days=45, now=NOW)[1].evidence.recent_changes] == ["CHG-1"]


@pytest.mark.parametrize(("share", "hours", "level"), [
    (0.7, 13, SeverityLevel.I), (0.7, 12, SeverityLevel.III), (0.4, 25, SeverityLevel.I), (0.4, 13, SeverityLevel.II),
    (0.2, 12.5, SeverityLevel.II), (0.4, 8, SeverityLevel.III), (0.1, 7, SeverityLevel.III), (0.5, 6, SeverityLevel.NONE),
    (0.0, 48, SeverityLevel.NONE), (0.5, None, SeverityLevel.NONE),
])
def test_severity_levels_follow_the_seed_thresholds(share, hours, level):
    assert severity_level(share, hours)[0] is level


def test_blast_radius_levels_on_a_small_enterprise(store: Store, tmp_path: Path):
    services = [ci(f"svc-{n}", "BusinessService", criticality=1, rto_minutes=60) for n in range(5)]
    load(store, tmp_path, cis=[*services, ci("db", "Database", rto_minutes=13 * 60), ci("dc", "Datacenter", rto_minutes=25 * 60),
                               ci("cache", "Middleware", rto_minutes=8 * 60)],
         relationships=[dep("svc-0", "db"), dep("svc-1", "db"), dep("svc-2", "cache"),
                        *[dep(f"svc-{n}", "dc", type="LOCATED_IN") for n in range(5)]])
    two_of_five = analyse_blast_radius(store, "db")
    assert (two_of_five.core_services_down_share, two_of_five.expected_recovery_hours) == (0.4, 13)
    assert two_of_five.severity_level is SeverityLevel.II and "Level II" in two_of_five.reason
    assert analyse_blast_radius(store, "dc").severity_level is SeverityLevel.I  # 100% for 25 h
    assert analyse_blast_radius(store, "cache").severity_level is SeverityLevel.III  # 20% for 8 h
    assert analyse_blast_radius(store, "cache", expected_recovery_hours=2).severity_level is SeverityLevel.NONE
    # an incident on the cache and the database together: 3 of 5 core services down (60%), the
    # longest RTO of what failed is the database's 13 h: Level II
    level, reason = incident_severity(store, ["cache", "db"])
    assert level is SeverityLevel.II
    assert reason.startswith("blast radius of cache, db: 60% of core services down") and "Level II" in reason


# --- continuity: cut sets through the groups' member thresholds ------------------------------------


@pytest.fixture
def groups_in_series(store: Store, tmp_path: Path) -> Store:
    """svc -> app -> front (1 of web-1, web-2) and back (1 of web-2, web-3): in series, web-2 in
    both; web-1 and web-3 on host-a. app -> dbc (2 of db-1, db-2, db-3), db-3 on san.
    app -> mq (2 of mq-1..mq-4: it falls at the third loss), mq-1 and mq-2 in rack-1.
    app -soft-> cache -> cache-host: never DOWN through the soft edge."""
    return load(store, tmp_path, cis=[
        ci("svc", "BusinessService"), ci("app"), ci("front", "RedundancyGroup", min_members=1),
        ci("back", "RedundancyGroup", min_members=1), ci("dbc", "Cluster", min_members=2),
        ci("mq", "Cluster", min_members=2), *[ci(f"web-{n}", "Server") for n in (1, 2, 3)], ci("host-a", "Server"),
        *[ci(f"db-{n}", "Database") for n in (1, 2, 3)], ci("san", "StorageDevice"),
        *[ci(f"mq-{n}", "Middleware") for n in (1, 2, 3, 4)], ci("rack-1", "Datacenter"),
        ci("cache", "Middleware"), ci("cache-host", "Server"),
    ], relationships=[
        dep("svc", "app"), dep("app", "front"), dep("app", "back"), dep("app", "dbc"), dep("app", "mq"),
        dep("front", "web-1", type="HAS_MEMBER"), dep("front", "web-2", type="HAS_MEMBER"),
        dep("back", "web-2", type="HAS_MEMBER"), dep("back", "web-3", type="HAS_MEMBER"),
        dep("web-1", "host-a", type="HOSTED_ON"), dep("web-3", "host-a", type="HOSTED_ON"),
        *[dep("dbc", f"db-{n}", type="HAS_MEMBER") for n in (1, 2, 3)], dep("db-3", "san", type="STORED_ON"),
        *[dep("mq", f"mq-{n}", type="HAS_MEMBER") for n in (1, 2, 3, 4)],
        dep("mq-1", "rack-1", type="LOCATED_IN"), dep("mq-2", "rack-1", type="LOCATED_IN"),
        dep("app", "cache", strength="soft"), dep("cache", "cache-host", type="RUNS_ON"),
    ])


def test_cut_sets_meet_at_the_member_thresholds_of_groups_in_series(groups_in_series: Store, monkeypatch):
    from impact import continuity

    tested: list[int] = []  # scenarios per propagation pass
    real_propagate = continuity.propagate

    def counting_propagate(region, failed):
        tested.append(max(bits.bit_length() for bits in failed.values()))
        return real_propagate(region, failed)

    monkeypatch.setattr(continuity, "propagate", counting_propagate)
    result = analyse_continuity(groups_in_series, "svc", 3)
    assert [[c.id for c in cut] for cut in result.minimal_cut_sets] == [
        ["app"], ["back"], ["dbc"], ["front"], ["mq"],
        # host-a takes web-1 and web-3: both groups keep web-2; with web-2 both fall
        ["db-1", "db-2"], ["db-1", "db-3"], ["db-1", "san"], ["db-2", "db-3"], ["db-2", "san"], ["host-a", "web-2"],
        ["mq-3", "rack-1"], ["mq-4", "rack-1"], ["web-1", "web-2"], ["web-2", "web-3"],  # not db-3 + san: one member
        ["mq-1", "mq-2", "mq-3"], ["mq-1", "mq-2", "mq-4"], ["mq-1", "mq-3", "mq-4"], ["mq-2", "mq-3", "mq-4"],
    ]
    # 20 candidates, 15 of them no SPOF (105 pairs, 455 triples before): only the pairs meeting at
    # a member threshold are tested, and only the triples that can still be minimal
    assert tested == [20, 10, 4]
    two = analyse_continuity(groups_in_series, "svc")
    assert [[c.id for c in cut] for cut in two.minimal_cut_sets] == [
        [c.id for c in cut] for cut in result.minimal_cut_sets if len(cut) <= 2]


def _scale_region() -> tuple[Topology, str, list[tuple[str, ...]], list[tuple[str, ...]]]:
    """A service with 5,000 dependencies whose cut sets are known by construction: a hard core
    (all SPOFs), 30 redundancy pairs (each member on a host on a disk; pairs of groups sharing
    a switch under one member each), six 2-of-3 clusters (members on VMs), two 3-of-5 clusters
    and two 20-of-40 clusters (members on a stack of two), and 4,070 CIs behind a soft edge."""
    nodes: dict[str, CINode] = {}
    out: dict[str, list[Edge]] = {}
    spofs: list[str] = []
    pairs: list[tuple[str, ...]] = []
    triples: list[tuple[str, ...]] = []

    def add(ci_id: str, ci_class: CIClass = CIClass.APPLICATION, **fields) -> str:
        nodes[ci_id] = CINode(ci_id, ci_id, ci_class, **fields)
        out[ci_id] = []
        return ci_id

    def edge(source: str, target: str, rel: RelType = RelType.DEPENDS_ON, strength: Strength = Strength.HARD) -> None:
        out[source].append(Edge(target, rel, strength))

    def member(group: str, ci_id: str) -> None:
        edge(group, ci_id, RelType.HAS_MEMBER)

    add("svc", CIClass.BUSINESS_SERVICE)
    for a in range(10):
        spofs.append(add(f"core-{a}"))
        edge("svc", f"core-{a}")
        for s in range(40):
            spofs.append(add(f"core-{a}-srv-{s:02}", CIClass.SERVER))
            edge(f"core-{a}", f"core-{a}-srv-{s:02}", RelType.RUNS_ON)
    sides: dict[tuple[int, int], list[str]] = {}
    for g in range(30):
        spofs.append(add(f"rg-{g:02}", CIClass.REDUNDANCY_GROUP, min_members=1))
        edge(f"core-{g % 10}", f"rg-{g:02}")
        for side in (0, 1):
            m, host, disk = f"rg-{g:02}-m{side}", f"rg-{g:02}-host{side}", f"rg-{g:02}-disk{side}"
            add(m, CIClass.VIRTUAL_MACHINE), add(host, CIClass.SERVER), add(disk, CIClass.STORAGE_DEVICE)
            member(f"rg-{g:02}", m)
            edge(m, host, RelType.HOSTED_ON)
            edge(host, disk, RelType.STORED_ON)
            sides[g, side] = [m, host, disk]
        pairs += [tuple(sorted((x, y))) for x in sides[g, 0] for y in sides[g, 1]]
    for g in range(0, 30, 2):  # rg-g and rg-(g+1) in series, their first members on one switch
        switch = add(f"sw-{g:02}", CIClass.NETWORK_DEVICE)
        edge(f"rg-{g:02}-m0", switch, RelType.CONNECTED_VIA)
        edge(f"rg-{g + 1:02}-m0", switch, RelType.CONNECTED_VIA)
        pairs += [tuple(sorted((switch, y))) for y in sides[g, 1] + sides[g + 1, 1]]
    for c in range(6):
        spofs.append(add(f"cl-{c}", CIClass.CLUSTER, min_members=2))
        edge(f"core-{c}", f"cl-{c}")
        for n in range(3):
            member(f"cl-{c}", add(f"cl-{c}-n{n}", CIClass.SERVER))
            edge(f"cl-{c}-n{n}", add(f"cl-{c}-vm{n}", CIClass.VIRTUAL_MACHINE), RelType.RUNS_ON)
        pairs += [tuple(sorted((x, y))) for i, j in ((0, 1), (0, 2), (1, 2))
                  for x in (f"cl-{c}-n{i}", f"cl-{c}-vm{i}") for y in (f"cl-{c}-n{j}", f"cl-{c}-vm{j}")]
    for q in range(2):
        spofs.append(add(f"quorum-{q}", CIClass.CLUSTER, min_members=3))
        edge(f"core-{q}", f"quorum-{q}")
        for n in range(5):
            member(f"quorum-{q}", add(f"quorum-{q}-n{n}", CIClass.MIDDLEWARE))
        triples += [tuple(f"quorum-{q}-n{n}" for n in combo) for combo in itertools.combinations(range(5), 3)]
    for b in range(2):
        spofs.append(add(f"farm-{b}", CIClass.CLUSTER, min_members=20))
        edge(f"core-{b}", f"farm-{b}")
        for n in range(40):
            member(f"farm-{b}", add(f"farm-{b}-n{n:02}", CIClass.SERVER))
            edge(f"farm-{b}-n{n:02}", add(f"farm-{b}-n{n:02}-vm", CIClass.VIRTUAL_MACHINE), RelType.RUNS_ON)
            edge(f"farm-{b}-n{n:02}-vm", add(f"farm-{b}-n{n:02}-disk", CIClass.STORAGE_DEVICE), RelType.STORED_ON)
    edge("svc", add("monitoring"), strength=Strength.SOFT)
    level, made = ["monitoring"], 0
    while made < 4070:  # a tree, ten under each
        below = []
        for parent in level:
            for _ in range(10):
                if made < 4070:
                    below.append(add(f"probe-{made:04}", CIClass.CLOUD_RESOURCE))
                    edge(parent, below[-1])
                    made += 1
        level = below
    return Topology(nodes, out), "svc", [(s,) for s in sorted(spofs)] + sorted(pairs), sorted(triples)


def test_cut_sets_of_a_service_with_5000_dependencies_are_affordable_and_exact():
    from impact import continuity

    region, service, expected, triples = _scale_region()
    assert len(region.nodes) - 1 >= 5000
    spofs = sum(1 for cut in expected if len(cut) == 1)
    # testing every pair of CIs that are no SPOF, as before, was over the limit
    assert comb(len(region.nodes) - 1 - spofs, 2) > continuity.MAX_SCENARIOS * 4
    assert continuity.cut_sets(region, service, 2) == expected
    assert continuity.cut_sets(region, service, 3) == expected + triples
