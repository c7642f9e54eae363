"""The demo enterprise: deterministic, realistic enough to analyse, and loadable."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from statistics import median

import pytest

from cmdb_graph.demo import DEMO_ANCHOR, build_demo
from cmdb_graph.model import RECORD_SECTIONS, AnalysisMethod, CauseCategory, CIClass, Label, RecordRel
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


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_every_record_is_valid_for_the_model():
    demo = build_demo()
    for section, model in RECORD_SECTIONS.items():
        for record in demo[section]:
            model.model_validate(record)


def test_knowledge_base_meets_the_acceptance_criterion_and_is_about_real_cis():
    demo = build_demo()
    ci_ids = {ci["id"] for ci in demo["cis"]}
    articles = demo["knowledge_articles"]
    known_errors = [p for p in demo["problems"] if p["known_error"]]
    assert len(articles) + len(known_errors) >= 100
    assert 130 <= len(articles) <= 180
    assert len({a["id"] for a in articles}) == len(articles)
    kinds = Counter(a["id"].split("-")[1] for a in articles if not a["id"][3].isdigit())
    assert set(kinds) == {"RB", "FO", "MI", "SUP", "RS", "DC", "HT"}
    for article in articles:
        assert article["about"] and set(article["about"]) <= ci_ids, article["id"]
        assert article["tags"] and len(article["body"]) >= 150, article["id"]
    assert len({a["body"] for a in articles}) == len(articles)
    by_id = {a["id"]: a for a in articles}
    for service in (ci for ci in demo["cis"] if ci["class"] == "BusinessService"):
        playbook = by_id[f"KB-MI-{service['id']}"]
        assert service["id"] in playbook["about"] and "RTO" in playbook["body"]
    # a database runbook names the applications that use the database
    assert "Checkout" in by_id["KB-RB-db-orders-primary"]["body"]
    assert {"db-orders-primary", "db-orders-replica"} <= set(by_id["KB-FO-db-orders"]["about"])
    for problem in known_errors:
        assert all(kb in by_id for kb in problem["documented_in"])


def test_every_known_error_has_a_root_cause_analysis():
    demo = build_demo()
    known_errors = [p for p in demo["problems"] if p["known_error"]]
    assert len(known_errors) >= 5
    for problem in known_errors:
        assert problem["root_cause"] and problem["workaround"], problem["id"]
        assert AnalysisMethod(problem["analysis_method"])
        assert 3 <= len(problem["five_whys"]) <= 5 and all(problem["five_whys"]), problem["id"]
        assert problem["cause_categories"] and all(CauseCategory(c) for c in problem["cause_categories"])
    assert sum(1 for p in known_errors if p.get("solution")) >= 2
    assert all("five_whys" not in p for p in demo["problems"] if not p["known_error"])


@pytest.mark.parametrize("seed", [42, 1, 2, 3])
def test_incidents_are_timely_and_escalations_are_rare_and_consistent(seed: int):
    incidents = build_demo(seed=seed)["incidents"]
    escalated = [i for i in incidents if i["escalation_level"]]
    assert 0.05 <= len(escalated) / len(incidents) <= 0.25
    for incident in escalated:
        kind = "functional" if incident["escalation_level"] == 1 else "hierarchical"
        assert incident["escalation_kind"] == kind and incident["escalation_reason"], incident["id"]
        at = instant(incident["escalated_at"])
        assert instant(incident["opened_at"]) < at <= DEMO_ANCHOR
        if "resolved_at" in incident:
            assert at < instant(incident["resolved_at"])
    assert all("escalation_kind" not in i for i in incidents if not i["escalation_level"])
    responses = [instant(i["responded_at"]) - instant(i["opened_at"]) for i in incidents if "responded_at" in i]
    assert sum(r <= timedelta(minutes=10) for r in responses) / len(responses) >= 0.7
    assert max(responses) <= timedelta(hours=2)
    resolutions = [instant(i["resolved_at"]) - instant(i["opened_at"]) for i in incidents if "resolved_at" in i]
    assert timedelta(minutes=30) <= median(resolutions) <= timedelta(hours=4)
    assert max(resolutions) <= timedelta(hours=31)
    assert all(instant(i.get("resolved_at", i["opened_at"])) <= DEMO_ANCHOR for i in incidents)
    open_incidents = [i for i in incidents if i["status"] not in ("resolved", "closed")]
    assert open_incidents and all("resolved_at" not in i for i in open_incidents)


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
    assert store.count(Label.KNOWLEDGE_ARTICLE) == len(demo["knowledge_articles"])
    assert store.count(Label.PROBLEM) == len(demo["problems"])
    about = store.rows(f"MATCH (:{Label.KNOWLEDGE_ARTICLE.value})-[r:{RecordRel.ABOUT.value}]->(:{Label.CI.value}) "
                       "RETURN count(r) AS n")[0]["n"]
    assert about == sum(len(a["about"]) for a in demo["knowledge_articles"])
    before = graph_counts(store.driver)
    again = load_document(store, transformed.document, files=["demo"], source="demo", actor="test",
                          errors=[], transformed=transformed)
    assert (again.created, again.updated) == (0, 0)
    assert graph_counts(store.driver) == before
