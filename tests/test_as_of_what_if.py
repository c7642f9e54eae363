"""Impact as of a past time (rebuilt from the audit trail), what-if edits that write nothing, and
the confidence of impact paths: small graphs whose answers were worked out by hand, on the real
Neo4j, and property tests against the networkx reference."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from neo4j import Driver

from cmdb_graph.connection import Neo4jTarget
from cmdb_graph.model import CIClass, RelType
from cmdb_graph.settings import DEFAULT_SOURCE_TRUST
from cmdb_graph.store import NotFoundError, Store
from impact.change_impact import analyse_change_impact
from impact.confidence import ConfidencePolicy, path_confidences
from impact.dependencies import analyse_dependencies
from impact.history import graph_as_of
from impact.impact import analyse_impact
from impact.impact_diff import analyse_impact_diff
from impact.topology import AnalysisError, CINode, Edge, Topology
from impact.what_if import GraphEdit, parse_edits
from loaders.native import load_paths
from tests import reference
from tests.test_impact_properties import load as reload, random_graphs

POLICY = ConfidencePolicy(source_trust=dict(DEFAULT_SOURCE_TRUST), default_trust=0.5, half_life_days=180)


def load(store: Store, tmp_path: Path, name: str = "graph", **document: list) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    report = load_paths(store, [path], actor="test")
    assert report.ok, report


def ci(ci_id: str, cls: str = "Application", **fields) -> dict:
    return {"id": ci_id, "class": cls, **fields}


def dep(source: str, target: str, **fields) -> dict:
    return {"from": source, "to": target, **fields}


def states(result) -> dict[str, str]:
    return {row.ci.id: row.state.value for row in result.impacted}


def moment() -> datetime:
    """A time strictly between the writes before and after it."""
    time.sleep(0.02)
    at = datetime.now(timezone.utc)
    time.sleep(0.02)
    return at


COUNT_EVERYTHING = """
RETURN COUNT { MATCH (n) } AS nodes, COUNT { MATCH ()-[r]->() } AS relationships,
       COUNT { MATCH (e:AuditEntry) } AS audit,
       COLLECT { MATCH (n) WHERE n.version IS NOT NULL RETURN [n.id, n.version] ORDER BY n.id } AS node_versions,
       COLLECT { MATCH ()-[r]->() WHERE r.version IS NOT NULL RETURN r.version ORDER BY r.version } AS relationship_versions
"""


def everything(store: Store) -> dict:
    return store.rows(COUNT_EVERYTHING)[0]


# --- as of ---------------------------------------------------------------------------------------


def test_a_relationship_removed_after_the_outage_still_counts_as_of_the_outage(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[ci("shop", "BusinessService", criticality=1), ci("app"), ci("db", "Database")],
         relationships=[dep("shop", "app"), dep("app", "db")])
    outage = moment()
    # the fix: the application no longer needs that database
    store.delete_relationship("app", RelType.DEPENDS_ON, "db", None, "test")

    assert states(analyse_impact(store, ["db"])) == {"db": "DOWN"}
    then = analyse_impact(store, ["db"], as_of=outage)
    assert states(then) == {"db": "DOWN", "app": "DOWN", "shop": "DOWN"}
    assert [s.ci.id for s in then.business_services] == ["shop"]
    assert then.as_of == outage
    assert [d.ci.id for d in analyse_dependencies(store, "shop", as_of=outage)] == ["app", "db"]
    assert [d.ci.id for d in analyse_dependencies(store, "shop")] == ["app"]


def test_cis_created_deleted_and_changed_since_are_as_they_were(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[ci("svc", "BusinessService"), ci("old"), ci("pool", "Cluster", min_members=1),
                               ci("vm1", "VirtualMachine"), ci("vm2", "VirtualMachine")],
         relationships=[dep("svc", "old"), dep("svc", "pool"), dep("pool", "vm1", type="HAS_MEMBER"),
                        dep("pool", "vm2", type="HAS_MEMBER")])
    before = moment()
    load(store, tmp_path, "later", cis=[ci("new"), ci("pool", "Cluster", min_members=2, name="Pool, now strict")],
         relationships=[dep("svc", "new")])
    stored = store.get_ci("old")
    store.delete_ci("old", stored.version, "test", force=True)

    # now: losing one VM takes the strict pool down; then, it took two
    assert states(analyse_impact(store, ["vm1"])) == {"vm1": "DOWN", "pool": "DOWN", "svc": "DOWN"}
    assert states(analyse_impact(store, ["vm1"], as_of=before)) == {"vm1": "DOWN", "pool": "DEGRADED", "svc": "DEGRADED"}
    with pytest.raises(NotFoundError, match="'new' as of"):
        analyse_impact(store, ["new"], as_of=before)
    with pytest.raises(NotFoundError, match="'old'"):
        analyse_impact(store, ["old"])
    assert states(analyse_impact(store, ["old"], as_of=before)) == {"old": "DOWN", "svc": "DOWN"}

    graph = graph_as_of(store, before)
    assert graph.cis["pool"]["min_members"] == 1 and graph.cis["pool"]["name"] == "pool"
    assert graph.cis["pool"]["version"] == 1 and "new" not in graph.cis and "old" in graph.cis
    assert {(e.target, e.type) for e in graph.topology.out["svc"]} == {("old", RelType.DEPENDS_ON),
                                                                        ("pool", RelType.DEPENDS_ON)}
    now = graph_as_of(store, datetime.now(timezone.utc))
    assert now.cis["pool"]["min_members"] == 2 and "old" not in now.cis and "new" in now.cis


def test_as_of_refuses_the_future_and_sees_nothing_before_the_first_write(store: Store, tmp_path: Path):
    long_ago = datetime.now(timezone.utc) - timedelta(days=1)
    load(store, tmp_path, cis=[ci("a"), ci("b")], relationships=[dep("a", "b")])
    with pytest.raises(AnalysisError, match="asOf: give a time in the past"):
        analyse_impact(store, ["a"], as_of=datetime.now(timezone.utc) + timedelta(hours=1))
    with pytest.raises(NotFoundError):
        analyse_impact(store, ["b"], as_of=long_ago)
    assert graph_as_of(store, long_ago).cis == {}


# --- what-if -------------------------------------------------------------------------------------


def edits(*raw: dict) -> list[GraphEdit]:
    return parse_edits(list(raw))


@pytest.fixture
def web_shop(store: Store, tmp_path: Path) -> Store:
    load(store, tmp_path, cis=[ci("shop", "BusinessService", criticality=1), ci("web"), ci("db-old", "Database"),
                               ci("pool", "Cluster", min_members=2), ci("vm1", "VirtualMachine"),
                               ci("vm2", "VirtualMachine"), ci("vm3", "VirtualMachine")],
         relationships=[dep("shop", "web"), dep("web", "db-old"), dep("web", "pool"),
                        *(dep("pool", vm, type="HAS_MEMBER") for vm in ("vm1", "vm2", "vm3"))])
    return store


def test_a_migration_plan_moves_the_impact_and_writes_nothing(web_shop: Store):
    store = web_shop
    counted = everything(store)
    plan = edits({"op": "ADD_CI", "ci": {"id": "db-new", "class": "Database"}},
                 {"op": "ADD_RELATIONSHIP", "source": "web", "target": "db-new"},
                 {"op": "REMOVE_RELATIONSHIP", "source": "web", "target": "db-old"})
    assert states(analyse_impact(store, ["db-old"])) == {"db-old": "DOWN", "web": "DOWN", "shop": "DOWN"}
    assert states(analyse_impact(store, ["db-old"], what_if=plan)) == {"db-old": "DOWN"}
    after = analyse_impact(store, ["db-new"], what_if=plan)
    assert states(after) == {"db-new": "DOWN", "web": "DOWN", "shop": "DOWN"}
    assert after.what_if == 3 and after.snapshots["db-new"]["ci_class"] == "Database"
    diff = analyse_impact_diff(store, ["db-old"], plan)
    assert [(c.ci.id, c.before, c.after) for c in diff.cis] == [
        ("shop", "DOWN", None), ("web", "DOWN", None)]
    assert diff.no_longer_impacted == 2 and diff.newly_impacted == 0
    assert [c.ci.id for c in diff.business_services] == ["shop"]
    assert everything(store) == counted  # not a node, relationship, version or audit entry more


def test_group_sizes_retirements_and_new_members(web_shop: Store):
    store = web_shop
    counted = everything(store)
    assert states(analyse_impact(store, ["vm1", "vm2"])) == {"vm1": "DOWN", "vm2": "DOWN", "pool": "DOWN",
                                                              "web": "DOWN", "shop": "DOWN"}
    # two more unnamed members: 3 of 5 left, the pool holds
    grown = analyse_impact(store, ["vm1", "vm2"], what_if=edits({"op": "SET_GROUP_SIZE", "id": "pool", "members": 5}))
    assert states(grown) == {"vm1": "DOWN", "vm2": "DOWN", "pool": "DEGRADED", "web": "DEGRADED", "shop": "DEGRADED"}
    # a stricter pool falls at one loss
    strict = analyse_impact(store, ["vm1"], what_if=edits({"op": "SET_GROUP_SIZE", "id": "pool", "min_members": 3}))
    assert states(strict)["shop"] == "DOWN"
    # retiring vm3 leaves two members: one loss is fatal now
    retired = analyse_impact(store, ["vm1"], what_if=edits({"op": "RETIRE_CI", "id": "vm3"}))
    assert states(retired) == {"vm1": "DOWN", "pool": "DOWN", "web": "DOWN", "shop": "DOWN"}
    # a fourth named member instead: two losses are survived
    added = analyse_impact(store, ["vm1", "vm2"], what_if=edits(
        {"op": "ADD_CI", "ci": {"id": "vm4", "class": "VirtualMachine"}},
        {"op": "ADD_RELATIONSHIP", "source": "pool", "target": "vm4", "type": "HAS_MEMBER"}))
    assert states(added)["pool"] == "DEGRADED"
    # a retired CI cannot fail
    with pytest.raises(NotFoundError, match="'vm3'"):
        analyse_impact(store, ["vm3"], what_if=edits({"op": "RETIRE_CI", "id": "vm3"}))
    assert everything(store) == counted


def test_bad_edits_are_refused_by_their_position(web_shop: Store):
    store = web_shop
    counted = everything(store)
    cases = [
        ({"op": "ADD_RELATIONSHIP", "source": "web", "target": "nowhere"}, "whatIf[0].target: no CI with id 'nowhere'"),
        ({"op": "ADD_CI", "ci": {"id": "web", "class": "Application"}}, "whatIf[0].ci.id: a CI with id 'web' exists"),
        ({"op": "REMOVE_RELATIONSHIP", "source": "shop", "target": "db-old"}, "whatIf[0]: there is no shop -DEPENDS_ON-> db-old"),
        ({"op": "SET_GROUP_SIZE", "id": "web", "min_members": 2}, "whatIf[0].id: web is a Application, not a Cluster"),
        ({"op": "SET_GROUP_SIZE", "id": "pool", "members": 2}, "whatIf[0].members: pool has 3 named members"),
        ({"op": "ADD_RELATIONSHIP", "source": "web", "target": "vm1", "type": "HAS_MEMBER"}, "HAS_MEMBER starts at a Cluster"),
        ({"op": "ADD_RELATIONSHIP", "source": "web", "target": "shop"}, None),  # fine: a cycle is allowed
    ]
    for edit, message in cases:
        if message is None:
            analyse_impact(store, ["db-old"], what_if=edits(edit))
            continue
        with pytest.raises(AnalysisError, match=re.escape(message)):
            analyse_impact(store, ["db-old"], what_if=edits(edit))
    with pytest.raises(AnalysisError, match=r"whatIf\[1\]: ADD_RELATIONSHIP needs source and target.*whatIf\[2\]\.op"):
        parse_edits([{"op": "RETIRE_CI", "id": "x"}, {"op": "ADD_RELATIONSHIP"}, {"op": "EXPLODE"}])
    with pytest.raises(AnalysisError, match=r"whatIf\[0\]\.ci\.class"):
        parse_edits([{"op": "ADD_CI", "ci": {"id": "x", "class": "Spaceship"}}])
    # an edit may use what an earlier one added, not what a later one adds
    with pytest.raises(AnalysisError, match=r"whatIf\[0\]\.target: no CI with id 'db-new'"):
        analyse_impact(store, ["db-old"], what_if=edits({"op": "ADD_RELATIONSHIP", "source": "web", "target": "db-new"},
                                                        {"op": "ADD_CI", "ci": {"id": "db-new", "class": "Database"}}))
    assert everything(store) == counted


def test_change_impact_with_the_changes_own_plan(web_shop: Store, tmp_path: Path):
    store = web_shop
    load(store, tmp_path, "change", changes=[{"id": "CHG-1", "title": "Retire the old database", "type": "normal",
                                              "state": "scheduled", "targets": ["db-old"]}])
    counted = everything(store)
    plain = analyse_change_impact(store, "CHG-1")
    assert {r.ci.id for r in plain.impacted} == {"db-old", "web", "shop"}
    planned = analyse_change_impact(store, "CHG-1", edits(
        {"op": "ADD_CI", "ci": {"id": "db-new", "class": "Database"}},
        {"op": "ADD_RELATIONSHIP", "source": "web", "target": "db-new"},
        {"op": "REMOVE_RELATIONSHIP", "source": "web", "target": "db-old"}))
    assert {r.ci.id for r in planned.impacted} == {"db-old"} and planned.business_services == []
    assert planned.risk_score < plain.risk_score and planned.what_if == 3
    with pytest.raises(AnalysisError, match="retires the change's target db-old"):
        analyse_change_impact(store, "CHG-1", edits({"op": "RETIRE_CI", "id": "db-old"}))
    assert everything(store) == counted


# --- confidence ------------------------------------------------------------------------------------


SET_EVIDENCE = """
MATCH (a:CI {id: $source})-[r]->(b:CI {id: $target})
SET r.source = $by, r.last_seen = datetime($seen)
"""


def test_a_fresh_discovered_path_outranks_an_old_typed_in_one(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[ci("svc", "BusinessService"), ci("app-a"), ci("app-b"), ci("db", "Database"),
                               ci("report")],
         relationships=[dep("svc", "app-a", strength="soft"), dep("svc", "app-b", strength="soft"),
                        dep("app-a", "db"), dep("app-b", "db"), dep("report", "app-a")])
    now = datetime.now(timezone.utc)
    for source, target, by, age in [("app-a", "db", "native", 3 * 365), ("svc", "app-a", "kubernetes", 0),
                                    ("app-b", "db", "kubernetes", 1 / 24), ("svc", "app-b", "native", 180),
                                    ("report", "app-a", "kubernetes", 0)]:
        seen = (now - timedelta(days=age)).isoformat()
        store.in_transaction(lambda tx: tx.run(SET_EVIDENCE, source=source, target=target, by=by, seen=seen).consume(),
                             write=True)
    result = analyse_impact(store, ["db"], policy=POLICY)
    rated = {r.ci.id: r for r in result.impacted}
    old = 0.6 * 0.5 ** (3 * 365 / 180)         # typed in three years ago: 0.0091
    fresh = 0.95 * 0.5 ** (1 / 24 / 180)       # discovered an hour ago: 0.95
    half = 0.6 * 0.5                           # typed in a half-life ago: 0.3
    assert rated["db"].confidence == 1.0 and rated["db"].weakest_link is None
    assert rated["app-b"].confidence == pytest.approx(fresh, abs=1e-4)
    assert rated["app-a"].confidence == pytest.approx(old, abs=1e-4)
    assert rated["report"].confidence == pytest.approx(old, abs=1e-4)
    link = rated["report"].weakest_link
    assert (link.source, link.target, link.type) == ("app-a", "db", RelType.DEPENDS_ON)
    # svc: through app-b (min(0.3, 0.95) = 0.3) beats through app-a (min(0.95, 0.009))
    assert rated["svc"].confidence == pytest.approx(half, abs=1e-4)
    assert (rated["svc"].weakest_link.source, rated["svc"].weakest_link.target) == ("svc", "app-b")
    assert result.business_services[0].confidence == pytest.approx(half, abs=1e-4)
    # a minimum leaves out what rests on weak evidence only
    assert set(states(analyse_impact(store, ["db"], policy=POLICY, min_confidence=0.25))) == {"db", "app-b", "svc"}
    with pytest.raises(AnalysisError, match="minConfidence"):
        analyse_impact(store, ["db"], policy=POLICY, min_confidence=1.5)
    # trust is configurable: trusting typed-in data fully and forgetting slowly reorders them
    trusting = ConfidencePolicy(source_trust={"native": 1.0, "kubernetes": 0.5}, half_life_days=100_000)
    rated = {r.ci.id: r.confidence for r in analyse_impact(store, ["db"], policy=trusting).impacted}
    assert rated["app-a"] > rated["app-b"]


def test_confidence_as_of_reads_the_confirmation_then_and_what_if_is_certain(store: Store, tmp_path: Path):
    load(store, tmp_path, cis=[ci("a"), ci("b"), ci("c")], relationships=[dep("a", "b")])
    then = moment()
    result = analyse_impact(store, ["b"], policy=POLICY, as_of=then)
    assert result.impacted[1].confidence == pytest.approx(0.6, abs=1e-3)  # native, confirmed a moment before
    hypothetical = analyse_impact(store, ["c"], policy=POLICY,
                                  what_if=edits({"op": "ADD_RELATIONSHIP", "source": "a", "target": "c"}))
    assert {r.ci.id: r.confidence for r in hypothetical.impacted} == {"c": 1.0, "a": 1.0}


# --- property tests -------------------------------------------------------------------------------

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def rated_topologies(draw: st.DrawFn) -> tuple[Topology, dict[tuple[str, str], float], list[str]]:
    count = draw(st.integers(2, 9))
    ids = [f"n{i}" for i in range(count)]
    nodes = {i: CINode(i, i, CIClass.APPLICATION) for i in ids}
    out: dict[str, list[Edge]] = {i: [] for i in ids}
    worth: dict[tuple[str, str], float] = {}
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for a, b in draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=count * 3)):
        if a == b or (a, b) in worth:
            continue
        age = draw(st.sampled_from([0, 30, 180, 400, 2000]))
        source = draw(st.sampled_from(["kubernetes", "native", "csv", "unknown"]))
        edge = Edge(b, RelType.DEPENDS_ON, evidence=((source, at - timedelta(days=age)),))
        out[a].append(edge)
        worth[(a, b)] = POLICY.edge_confidence(edge, at)
    failed = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=2, unique=True))
    return Topology(nodes, out), worth, failed


@SETTINGS
@given(case=rated_topologies())
def test_path_confidence_is_the_best_threshold_at_which_a_failure_is_reachable(case):
    """networkx reference: a CI's confidence is c exactly when it reaches a failure using only
    relationships worth at least c, and no higher such c exists."""
    import networkx as nx

    topology, worth, failed = case
    impacted = set(topology.nodes)  # every CI counts as impacted: paths may go anywhere
    rated = path_confidences(topology, failed, impacted, POLICY, datetime(2026, 1, 1, tzinfo=timezone.utc))
    levels = sorted(set(worth.values()) | {1.0})
    for ci_id in topology.nodes:
        best = None
        for level in levels:
            graph = nx.DiGraph()
            graph.add_nodes_from(topology.nodes)
            graph.add_edges_from(edge for edge, value in worth.items() if value >= level)
            if ci_id in failed or any(nx.has_path(graph, ci_id, f) for f in failed):
                best = level
        if best is None:
            assert ci_id not in rated
        else:
            assert rated[ci_id].confidence == pytest.approx(best)
            link = rated[ci_id].weakest
            if ci_id not in failed:
                assert link is not None and worth[(link.source, link.target)] == pytest.approx(best)


@pytest.fixture(scope="module")
def shared_store(driver: Driver, neo4j_target: Neo4jTarget) -> Store:
    return Store(driver, neo4j_target.database)


def apply_to_documents(cis: list[dict], relationships: list[dict], plan: list[dict]) -> tuple[list[dict], list[dict]]:
    """The reference's reading of what-if: the same edits on the plain documents."""
    cis = [dict(c) for c in cis]
    relationships = [dict(r) for r in relationships]
    for edit in plan:
        if edit["op"] == "ADD_CI":
            cis.append(edit["ci"])
        elif edit["op"] == "RETIRE_CI":
            cis = [c for c in cis if c["id"] != edit["id"]]
            relationships = [r for r in relationships if edit["id"] not in (r["from"], r["to"])]
        elif edit["op"] == "ADD_RELATIONSHIP":
            relationships.append({"from": edit["source"], "to": edit["target"], "type": edit["type"],
                                  "strength": edit["strength"]})
        elif edit["op"] == "REMOVE_RELATIONSHIP":
            relationships = [r for r in relationships
                             if (r["from"], r["type"], r["to"]) != (edit["source"], edit["type"], edit["target"])]
        elif edit["op"] == "SET_GROUP_SIZE":
            for c in cis:
                if c["id"] == edit["id"]:
                    c["min_members"] = edit["min_members"]
    return cis, relationships


@st.composite
def plans(draw: st.DrawFn, cis: list[dict], relationships: list[dict]) -> list[dict]:
    """Edits that are valid in order, drawn against the graph they apply to."""
    cis, relationships = [dict(c) for c in cis], [dict(r) for r in relationships]
    plan: list[dict] = []
    for k in range(draw(st.integers(1, 4))):
        ids = [c["id"] for c in cis]
        groups = [c["id"] for c in cis if c["class"] == "Cluster"]
        options = ["ADD_CI", "ADD_RELATIONSHIP"] + (["REMOVE_RELATIONSHIP"] if relationships else []) \
            + (["RETIRE_CI"] if len(ids) > 2 else []) + (["SET_GROUP_SIZE"] if groups else [])
        op = draw(st.sampled_from(options))
        if op == "ADD_CI":
            edit = {"op": op, "ci": {"id": f"new{k}", "class": "Application"}}
        elif op == "RETIRE_CI":
            edit = {"op": op, "id": draw(st.sampled_from(ids))}
        elif op == "SET_GROUP_SIZE":
            edit = {"op": op, "id": draw(st.sampled_from(groups)), "min_members": draw(st.integers(1, 3))}
        elif op == "REMOVE_RELATIONSHIP":
            r = draw(st.sampled_from(relationships))
            edit = {"op": op, "source": r["from"], "target": r["to"], "type": r["type"]}
        else:
            source, target = draw(st.sampled_from(ids)), draw(st.sampled_from(ids))
            rel_type = "HAS_MEMBER" if source in groups and draw(st.booleans()) else "DEPENDS_ON"
            if source == target or any((r["from"], r["type"], r["to"]) == (source, rel_type, target) for r in relationships):
                continue
            edit = {"op": op, "source": source, "target": target, "type": rel_type,
                    "strength": draw(st.sampled_from(["hard", "soft"]))}
        plan.append(edit)
        cis, relationships = apply_to_documents(cis, relationships, [edit])
    return plan


@SETTINGS
@given(graph=random_graphs(), data=st.data())
def test_what_if_equals_the_reference_on_the_edited_graph(shared_store: Store, tmp_path: Path, graph, data):
    cis, relationships = graph
    reload(shared_store, tmp_path, cis, relationships)
    plan = data.draw(plans(cis, relationships))
    edited_cis, edited_relationships = apply_to_documents(cis, relationships, plan)
    if not edited_cis:
        return
    failed = data.draw(st.lists(st.sampled_from([c["id"] for c in edited_cis]), min_size=1, max_size=2, unique=True))
    before = everything(shared_store)
    result = analyse_impact(shared_store, failed, what_if=parse_edits(plan))
    expected = reference.states(reference.build(edited_cis, edited_relationships), set(failed))
    assert states(result) == expected
    assert everything(shared_store) == before


MUTATIONS = st.lists(st.tuples(st.sampled_from(["delete-rel", "delete-ci", "min"]), st.integers(0, 50)), max_size=4)


@SETTINGS
@given(graph=random_graphs(), mutations=MUTATIONS, data=st.data())
def test_as_of_equals_the_reference_on_the_graph_then(shared_store: Store, tmp_path: Path, graph, mutations, data):
    cis, relationships = graph
    reload(shared_store, tmp_path, cis, relationships)
    then = moment()
    for kind, pick in mutations:  # the graph moves on through the store's own writes
        if kind == "delete-rel":
            found = shared_store.rows("MATCH (a:CI)-[r]->(b:CI) RETURN a.id AS a, type(r) AS t, b.id AS b ORDER BY a, t, b")
            if found:
                row = found[pick % len(found)]
                shared_store.delete_relationship(row["a"], RelType(row["t"]), row["b"], None, "test")
        elif kind == "delete-ci":
            found = shared_store.rows("MATCH (c:CI) RETURN c.id AS id ORDER BY id")
            if len(found) > 1:
                ci_id = found[pick % len(found)]["id"]
                shared_store.delete_ci(ci_id, shared_store.get_ci(ci_id).version, "test", force=True)
        else:
            groups = shared_store.rows("MATCH (c:Cluster) RETURN c.id AS id ORDER BY id")
            if groups:
                ci_id = groups[pick % len(groups)]["id"]
                shared_store.update_ci(ci_id, {"min_members": pick % 3 + 1}, shared_store.get_ci(ci_id).version, "test")
    failed = data.draw(st.lists(st.sampled_from([c["id"] for c in cis]), min_size=1, max_size=2, unique=True))
    result = analyse_impact(shared_store, failed, as_of=then)
    assert states(result) == reference.states(reference.build(cis, relationships), set(failed))
