"""Property tests: on random graphs with groups, soft edges and cycles, the analyses agree with
the plain networkx reference in tests/reference.py (loaded into the real Neo4j each time)."""

from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from neo4j import Driver

from cmdb_graph.connection import Neo4jTarget
from cmdb_graph.model import CIClass, RelType, Strength
from cmdb_graph.schema import reset_database
from cmdb_graph.store import Store
from impact import continuity
from impact.continuity import analyse_continuity
from impact.impact import analyse_impact
from impact.topology import CINode, Edge, Topology
from loaders.native import load_paths
from tests import reference

CLASSES = ["Application", "Server", "Cluster", "Database"]


@st.composite
def random_graphs(draw: st.DrawFn, max_nodes: int = 8) -> tuple[list[dict], list[dict]]:
    count = draw(st.integers(2, max_nodes))
    cis = []
    for n in range(count):
        cls = draw(st.sampled_from(CLASSES))
        entry = {"id": f"n{n}", "class": cls, "availability": draw(st.sampled_from([None, 0.9, 0.99, 0.95]))}
        if cls == "Cluster":
            entry["min_members"] = draw(st.integers(1, 3))
        cis.append({k: v for k, v in entry.items() if v is not None})
    pairs = draw(st.lists(st.tuples(st.integers(0, count - 1), st.integers(0, count - 1)), max_size=count * 2))
    relationships, seen = [], set()
    for a, b in pairs:
        if a == b:
            continue
        group = cis[a]["class"] == "Cluster"
        rel_type = draw(st.sampled_from(["HAS_MEMBER", "HAS_MEMBER", "DEPENDS_ON"] if group else ["DEPENDS_ON", "RUNS_ON"]))
        if (a, b, rel_type) in seen:
            continue
        seen.add((a, b, rel_type))
        relationships.append({"from": f"n{a}", "to": f"n{b}", "type": rel_type,
                              "strength": draw(st.sampled_from(["hard", "hard", "soft"]))})
    return cis, relationships


def load(store: Store, tmp_path: Path, cis: list[dict], relationships: list[dict]) -> None:
    reset_database(store.driver, store.database)
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump({"cis": cis, "relationships": relationships}))
    assert load_paths(store, [path], actor="test").ok


@pytest.fixture(scope="module")
def shared_store(driver: Driver, neo4j_target: Neo4jTarget) -> Store:
    return Store(driver, neo4j_target.database)


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(graph=random_graphs(), data=st.data())
def test_impact_equals_the_reference(shared_store: Store, tmp_path: Path, graph, data):
    cis, relationships = graph
    load(shared_store, tmp_path, cis, relationships)
    ids = [c["id"] for c in cis]
    failed = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True))
    max_depth = data.draw(st.sampled_from([None, 1, 2]))
    types = data.draw(st.sampled_from([None, ["DEPENDS_ON", "HAS_MEMBER"]]))
    result = analyse_impact(shared_store, failed, max_depth, [RelType(t) for t in types] if types else None)
    expected = reference.states(reference.build(cis, relationships), set(failed), max_depth, set(types) if types else None)
    assert {r.ci.id: r.state.value for r in result.impacted} == expected
    for row in result.impacted:  # each path is a chain of real edges ending at a failure
        assert row.path[0] == row.ci.id and row.path[-1] in failed and len(row.path) == row.distance + 1


@SETTINGS
@given(graph=random_graphs(), use_bounds=st.booleans())
def test_spofs_equal_brute_force_and_availability_is_within_its_bound(shared_store: Store, tmp_path: Path, graph,
                                                                     use_bounds: bool):
    cis, relationships = graph
    load(shared_store, tmp_path, cis, relationships)
    reference_graph = reference.build(cis, relationships)
    service = "n0"
    original = continuity.EXACT_COMPONENTS
    continuity.EXACT_COMPONENTS = 0 if use_bounds else original  # exercise the cut-set bound too
    try:
        result = analyse_continuity(shared_store, service, 2)
    finally:
        continuity.EXACT_COMPONENTS = original
    assert {c.id for c in result.single_points_of_failure} == reference.single_points_of_failure(reference_graph, service)
    for cut in result.minimal_cut_sets:
        ids = {c.id for c in cut}
        assert reference.states(reference_graph, ids).get(service) == "DOWN"
        assert all(reference.states(reference_graph, ids - {c}).get(service) != "DOWN" for c in ids)
    if result.availability.estimate is not None:
        exact = reference.exact_availability(reference_graph, service)
        assert abs(result.availability.estimate - exact) <= result.availability.error_bound + 1e-9
        assert result.availability.low - 1e-9 <= exact <= result.availability.high + 1e-9


# --- cut sets against brute force, on graphs full of groups -------------------------------------------

GROUP_HEAVY = ["Application", "Server", "Cluster", "RedundancyGroup", "Cluster", "RedundancyGroup"]


@st.composite
def grouped_graphs(draw: st.DrawFn, max_nodes: int = 8, loadable: bool = True) -> tuple[list[dict], list[dict]]:
    """Every CI under n0 (each has a parent of a lower number), mostly groups: thresholds from
    1 to 3 (some above their member count), members shared between groups, soft members and
    soft edges, some cycles; unless `loadable`, HAS_MEMBER from non-groups too (the loaders
    refuse it, the propagation takes it as an ordinary edge)."""
    count = draw(st.integers(3, max_nodes))
    cis = []
    for n in range(count):
        cls = draw(st.sampled_from(GROUP_HEAVY))
        entry = {"id": f"n{n}", "class": cls}
        if cls in reference.GROUP_CLASSES:
            entry["min_members"] = draw(st.integers(1, 3))
        cis.append(entry)
    parents = [(draw(st.integers(0, n - 1)), n) for n in range(1, count)]
    extra = draw(st.lists(st.tuples(st.integers(0, count - 1), st.integers(0, count - 1)), max_size=count * 2))
    relationships, seen = [], set()
    for a, b in parents + extra:
        if a == b:
            continue
        if a > b and draw(st.integers(0, 3)):  # a few back edges: cycles
            a, b = b, a
        group = cis[a]["class"] in reference.GROUP_CLASSES
        rel_type = draw(st.sampled_from(["HAS_MEMBER", "HAS_MEMBER", "HAS_MEMBER", "DEPENDS_ON"] if group
                                        else ["DEPENDS_ON", "DEPENDS_ON", "RUNS_ON"] + ([] if loadable else ["HAS_MEMBER"])))
        if (a, b, rel_type) in seen:
            continue
        seen.add((a, b, rel_type))
        relationships.append({"from": f"n{a}", "to": f"n{b}", "type": rel_type,
                              "strength": draw(st.sampled_from(["hard", "hard", "hard", "hard", "soft"]))})
    return cis, relationships


def brute_force_cut_sets(graph, service: str, max_size: int) -> list[tuple[str, ...]]:
    """Every set of at most `max_size` CIs the service needs, smallest first, in id order: the
    ones that take it down and hold no smaller such set."""
    candidates = sorted(nx.descendants(graph, service))
    found: list[tuple[str, ...]] = []
    for size in range(1, max_size + 1):
        for combo in itertools.combinations(candidates, size):
            if not any(set(cut) <= set(combo) for cut in found) \
                    and reference.states(graph, set(combo)).get(service) == "DOWN":
                found.append(combo)
    return found


def topology_of(cis: list[dict], relationships: list[dict], service: str) -> Topology:
    """What dependencies_region fetches for `service`, built without Neo4j."""
    needed = {service} | nx.descendants(reference.build(cis, relationships), service)
    nodes = {c["id"]: CINode(c["id"], c["id"], CIClass(c["class"]), min_members=c.get("min_members"))
             for c in cis if c["id"] in needed}
    out = {ci_id: sorted((Edge(r["to"], RelType(r["type"]), Strength(r["strength"]))
                          for r in relationships if r["from"] == ci_id), key=lambda e: (e.target, e.type.value))
           for ci_id in nodes}
    return Topology(nodes, out)


@settings(max_examples=200, deadline=None)
@given(graph=grouped_graphs(max_nodes=12, loadable=False))
def test_cut_sets_equal_brute_force_without_neo4j(graph):
    """The pruned cut sets on a region built in memory: more and larger graphs than through Neo4j."""
    cis, relationships = graph
    expected = brute_force_cut_sets(reference.build(cis, relationships), "n0", 3)
    region = topology_of(cis, relationships, "n0")
    assert continuity.cut_sets(region, "n0", 3) == expected
    assert continuity.cut_sets(region, "n0", 2) == [cut for cut in expected if len(cut) <= 2]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=grouped_graphs(max_nodes=8))
def test_minimal_cut_sets_equal_brute_force(shared_store: Store, tmp_path: Path, graph):
    cis, relationships = graph
    load(shared_store, tmp_path, cis, relationships)
    expected = brute_force_cut_sets(reference.build(cis, relationships), "n0", 3)
    result = analyse_continuity(shared_store, "n0", 3)
    assert [tuple(c.id for c in cut) for cut in result.minimal_cut_sets] == expected
    assert [c.id for c in result.single_points_of_failure] == [cut[0] for cut in expected if len(cut) == 1]
