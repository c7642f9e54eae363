"""The demo enterprise: deterministic, realistic enough to analyse, and loadable."""

from __future__ import annotations

from collections import Counter

from cmdb_graph.demo import build_demo
from cmdb_graph.model import CIClass, Label
from cmdb_graph.store import Store
from loaders.native.get import read_mapping
from loaders.native.load import load_document
from loaders.native.transform import transform
from tests.conftest import graph_counts


def test_same_seed_same_enterprise_other_seed_other_details():
    assert build_demo(seed=7) == build_demo(seed=7)
    assert build_demo(seed=7) != build_demo(seed=8)


def test_demo_has_what_the_analyses_need():
    demo = build_demo()
    classes = Counter(ci["class"] for ci in demo["cis"])
    assert len(demo["cis"]) >= 300
    assert set(classes) == {c.value for c in CIClass}
    assert classes["Datacenter"] >= 2
    services = [ci for ci in demo["cis"] if ci["class"] == "BusinessService"]
    assert len(services) >= 8
    covered = {sla["service"] for sla in demo["slas"]}
    for service in services:
        assert service["id"] in covered
        assert service["rto_minutes"] and service["rpo_minutes"] is not None and service["criticality"]
    groups = [ci for ci in demo["cis"] if ci["class"] in ("Cluster", "RedundancyGroup")]
    assert any(g["min_members"] >= 2 for g in groups)
    assert {c["type"] for c in demo["changes"]} == {"standard", "normal", "emergency"}
    assert any(p["known_error"] for p in demo["problems"])
    assert demo["blackouts"] and demo["maintenance_windows"] and demo["releases"]
    assert any(i["status"] != "closed" for i in demo["incidents"])
    assert any("caused_by_change" in i for i in demo["incidents"])
    owned = {ci["id"] for ci in demo["cis"] if ci.get("owner")}
    for ci in demo["cis"]:
        if ci["class"] in ("Server", "NetworkDevice"):
            assert ci["id"] in owned


def test_demo_is_valid_and_loads_completely_then_reloads_unchanged(store: Store):
    demo = build_demo()
    transformed = transform(read_mapping("demo", demo))
    assert transformed.errors == []
    report = load_document(store, transformed.document, files=["demo"], source="demo", actor="test",
                           errors=[], transformed=transformed)
    assert report.ok, report.errors[:5]
    assert store.count(Label.CI) == len(demo["cis"])
    assert store.count_relationships() == len(demo["relationships"])
    assert store.count(Label.INCIDENT) == len(demo["incidents"])
    before = graph_counts(store.driver)
    again = load_document(store, transformed.document, files=["demo"], source="demo", actor="test",
                          errors=[], transformed=transformed)
    assert (again.created, again.updated) == (0, 0)
    assert graph_counts(store.driver) == before
