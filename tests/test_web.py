"""The impact map in a real browser: `cmdb-graph serve` on a loopback port, Debian's Chromium
driven headless by playwright-core (tests/web/impact-map.mjs), and what the page showed compared
with the GraphQL answers for the same questions. Screenshots of each view land in
test-artifacts/web/. Node, Chromium and the built front end are installed by
scripts/bootstrap.sh, so a missing one fails these tests rather than skipping them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from neo4j import Driver

from cmdb_graph import web
from cmdb_graph.access.keys import create_key
from cmdb_graph.access.roles import Role
from cmdb_graph.connection import Neo4jTarget
from cmdb_graph.demo import DEMO_ANCHOR, build_demo
from cmdb_graph.schema import reset_database
from cmdb_graph.store import Store
from loaders.native.get import read_mapping
from loaders.native.load import load_document
from loaders.native.transform import transform
from tests.conftest import free_port
from tests.test_serve import wait_until_ready

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "web" / "impact-map.mjs"
ARTIFACTS = ROOT / "test-artifacts" / "web"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CLI = Path(sys.executable).with_name("cmdb-graph")
BROWSER_SECONDS = 600
LARGE_CIS = 6000
LARGE_VISIBLE = 2000
COLLAPSE_LIMIT = 400


def missing_tools() -> list[str]:
    """What the browser tests need and this machine lacks, each with how to get it."""
    missing = []
    if shutil.which("node") is None:
        missing.append("node (Debian: apt-get install nodejs npm; scripts/bootstrap.sh does it)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (Debian: apt-get install chromium; scripts/bootstrap.sh does it)")
    if not (ROOT / "web" / "node_modules" / "playwright-core").is_dir():
        missing.append("web/node_modules (cd web && npm ci)")
    if not web.PAGE.is_file():
        missing.append(f"the built page {web.PAGE} (cd web && npm run build)")
    return missing


@pytest.fixture(scope="module", autouse=True)
def browser_tools() -> None:
    missing = missing_tools()
    if missing:
        pytest.fail("the impact map's browser tests need: " + "; ".join(missing), pytrace=False)


@dataclass
class Served:
    url: str
    key: str
    client: httpx.Client

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        body = self.client.post("/graphql", json={"query": query, "variables": variables}).json()
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture(scope="module")
def serve(neo4j_target: Neo4jTarget, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Starts `cmdb-graph serve` on a free port against the test Neo4j; each call one server,
    all stopped at the end of the module."""
    started: list[subprocess.Popen[str]] = []
    clients: list[httpx.Client] = []
    env = {
        **os.environ, "NEO4J_URI": neo4j_target.uri, "NEO4J_USER": neo4j_target.user,
        "NEO4J_PASSWORD": neo4j_target.password, "CMDB_GRAPH_HOME": str(tmp_path_factory.mktemp("web-home")),
    }

    def start(key: str) -> Served:
        port = free_port()
        server = subprocess.Popen([str(CLI), "serve", "--port", str(port)], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        started.append(server)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120, headers={"Authorization": f"Bearer {key}"})
        clients.append(client)
        wait_until_ready(client, server)
        return Served(url=f"http://127.0.0.1:{port}/", key=key, client=client)

    yield start
    for client in clients:
        client.close()
    for server in started:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)


def drive(served: Served, scenario: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Runs the browser script and returns what the page showed."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "IMPACT_MAP_URL": served.url, "IMPACT_MAP_KEY": served.key, "IMPACT_MAP_SCENARIO": scenario,
           "IMPACT_MAP_PLAN": json.dumps(plan), "IMPACT_MAP_ARTIFACTS": str(ARTIFACTS), "CHROMIUM": str(CHROMIUM)}
    run = subprocess.run(["node", str(SCRIPT)], env=env, cwd=ROOT, text=True, capture_output=True, timeout=BROWSER_SECONDS)
    lines = run.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines else {}
    (ARTIFACTS / f"{scenario}-report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    assert run.returncode == 0, f"the browser run failed: {report.get('error')}\n{run.stderr[-4000:]}"
    assert report["pageErrors"] == [] and report["consoleErrors"] == [], report
    assert {host for host in report["requests"] if host} <= {served.url.split("/")[2]}, "the page asked another host"
    return report


def load_demo(driver: Driver, database: str) -> None:
    reset_database(driver, database)
    transformed = transform(read_mapping("demo", build_demo()))
    report = load_document(Store(driver, database), transformed.document, files=["demo"], source="demo",
                           actor="test", errors=[], transformed=transformed)
    assert report.ok, report.errors[:5]


def viewer_key(driver: Driver, database: str, name: str) -> str:
    return create_key(driver, database, name, Role.VIEWER, actor="test").secret


def editor_key(driver: Driver, database: str, name: str) -> str:
    return create_key(driver, database, name, Role.EDITOR, actor="test").secret


# --- the demo: search, neighbourhood, impact, root cause, change, continuity --------------

IMPACT = """query Impact($failed: [ID!]!) { impact(failed: $failed) {
  impacted { ci { id } state distance }
  businessServices { ci { id } state criticality sla { id } }
  severity { level }
} }"""
ROOT_CAUSE = "query RC($symptoms: [ID!]!) { rootCause(symptoms: $symptoms, top: 5) { ci { id } score } }"
NEIGHBOURHOOD = """query N($id: ID!, $up: Int!, $down: Int!, $days: Float!, $limit: Int! = 2000) {
  neighbourhood(id: $id, upstreamDepth: $up, downstreamDepth: $down, changeWindowDays: $days, limit: $limit) {
    reachedCount nodes { id ciClass distance openIncidents recentChanges } edges { source } collapsed { key ciClass count }
  } }"""
SCHEDULED = "query Ch($id: ID!) { change(id: $id) { id plannedStart plannedEnd targets { id } } }"
CREATE_CHANGE = """mutation Create($input: ChangeInput!) { createChange(input: $input) { id } }"""
CHANGE_IMPACT = """query C($id: ID!) { changeImpact(changeId: $id) {
  riskScore approvalRoute riskFactors { name } outsideMaintenanceWindow inBlackout
  conflicts { change { id } } businessServices { ci { id } } targets { id }
} }"""
CONTINUITY = """query S($id: ID!) { continuity(serviceId: $id) {
  singlePointsOfFailure { id } minimalCutSets(maxSize: 2) { id } rtoViolations { ci { id } }
  rpoViolations { ci { id } } meetsSla
} }"""


def collide(served: Served, key: str) -> str:
    """Schedules a second storefront change in the window of the demo's CHG-0006 (storefront web
    3), as a colleague might, so that the change view has a conflict to show; returns CHG-0006."""
    planned = served.graphql(SCHEDULED, id="CHG-0006")["change"]
    assert planned["targets"] == [{"id": "storefront-web-3"}], planned
    body = served.client.post("/graphql", headers={"Authorization": f"Bearer {key}"}, json={
        "query": CREATE_CHANGE, "variables": {"input": {
            "id": "CHG-MAP-1", "title": "Patch operating system on Storefront web 4", "type": "NORMAL",
            "state": "SCHEDULED", "plannedStart": planned["plannedStart"], "plannedEnd": planned["plannedEnd"],
            "targets": ["storefront-web-4"],
        }},
    }).json()
    assert "errors" not in body, body
    return planned["id"]


def worst_database(served: Served) -> tuple[str, str, list[dict[str, Any]]]:
    """The demo's database whose failure takes the most business services down: its id, name
    and impacted CIs."""
    found = served.graphql('{ cis(first: 100, filter: {ciClass: DATABASE}) { edges { node { id name } } } }')
    best = None
    for edge in found["cis"]["edges"]:
        answer = served.graphql(IMPACT, failed=[edge["node"]["id"]])["impact"]
        down = sum(s["state"] == "DOWN" for s in answer["businessServices"])
        if best is None or down > best[0]:
            best = (down, edge["node"]["id"], edge["node"]["name"], answer["impacted"])
    assert best and best[0] > 0, "no database of the demo takes a business service down"
    return best[1], best[2], best[3]


@pytest.fixture(scope="module")
def demo_run(driver: Driver, neo4j_target: Neo4jTarget, serve: Any) -> tuple[Served, dict[str, Any], dict[str, Any]]:
    """The demo served, a plan chosen from GraphQL answers, and what the page showed for it."""
    load_demo(driver, neo4j_target.database)
    served = serve(viewer_key(driver, neo4j_target.database, "impact-map-demo"))
    database, name, impacted = worst_database(served)
    up = 3
    days = (datetime.now(timezone.utc) - DEMO_ANCHOR).days + 30  # the demo's recent changes, whatever today is
    # the symptoms for root cause: CIs the database takes down near it, as an alert storm shows them
    symptoms = [r["ci"]["id"] for r in sorted(impacted, key=lambda r: (r["distance"], r["ci"]["id"]))
                if r["state"] == "DOWN" and 1 <= r["distance"] <= up][:3]
    change = collide(served, editor_key(driver, neo4j_target.database, "impact-map-editor"))
    plan = {
        "searchText": name[:-3], "database": database, "upstreamDepth": up, "downstreamDepth": 2,
        "changeWindowDays": days, "symptoms": symptoms, "change": change, "service": "svc-online-shop",
    }
    return served, plan, drive(served, "demo", plan)


def test_a_database_found_by_searching_fails_and_the_page_lists_the_services_graphql_gives(demo_run):
    served, plan, page = demo_run
    assert plan["database"] in page["searchHits"] and page["searchHits"][0] == plan["database"]
    assert page["impact"]["marked"] == [plan["database"]]
    answer = served.graphql(IMPACT, failed=[plan["database"]])["impact"]
    expected = sorted((s["ci"]["id"], s["state"], str(s["criticality"])) for s in answer["businessServices"])
    shown = sorted((s["id"], s["state"], s["criticality"]) for s in page["impact"]["services"])
    assert expected and shown == expected
    by_id = {s["ci"]["id"]: s for s in answer["businessServices"]}
    for service in page["impact"]["services"]:
        sla = by_id[service["id"]]["sla"]
        assert (sla["id"] in service["sla"]) if sla else service["sla"] == "no SLA"
        assert service["path"], "each service shows the path that explains it"
    assert page["impact"]["severity"] == answer["severity"]["level"]
    on_map = {r["ci"]["id"]: r["state"] for r in answer["impacted"]}
    graph = page["impact"]["graph"]
    assert graph["failed"] == [plan["database"]]
    assert set(graph["down"]) <= {i for i, s in on_map.items() if s == "DOWN"}
    assert set(graph["degraded"]) <= {i for i, s in on_map.items() if s == "DEGRADED"}
    assert graph["down"] and graph["path"], "the map colours the impacted CIs and the explaining path"
    for view in ("search", "neighbourhood", "impact"):
        assert Path(page["screenshots"][view]).stat().st_size > 10_000


def test_the_neighbourhood_drawn_is_graphqls_with_groups_and_badges(demo_run):
    served, plan, page = demo_run
    answer = served.graphql(NEIGHBOURHOOD, id=plan["database"], up=plan["upstreamDepth"], down=plan["downstreamDepth"],
                            days=plan["changeWindowDays"])["neighbourhood"]
    drawn = page["neighbourhood"]
    assert drawn["nodes"] == len(answer["nodes"]) + len(answer["collapsed"])
    assert drawn["edges"] == len(answer["edges"])
    flagged = {n["id"]: (n["openIncidents"], n["recentChanges"]) for n in answer["nodes"] if n["openIncidents"] or n["recentChanges"]}
    assert flagged, "the demo has open incidents or recent changes around the database"
    assert {b["id"]: (b["incidents"], b["changes"]) for b in page["neighbourhood"]["badges"]} == flagged
    assert drawn["withIncidents"] == sorted(i for i, (inc, _) in flagged.items() if inc)
    assert drawn["withChanges"] == sorted(i for i, (_, chg) in flagged.items() if chg)
    assert "k of n" not in drawn["stats"] and str(len(answer["nodes"])) in drawn["stats"]


def test_root_cause_highlights_graphqls_top_candidate(demo_run):
    served, plan, page = demo_run
    assert plan["symptoms"] and page["rootCause"]["marked"] == plan["symptoms"]
    answer = served.graphql(ROOT_CAUSE, symptoms=plan["symptoms"])["rootCause"]
    shown = page["rootCause"]["candidates"]
    assert [c["id"] for c in shown] == [c["ci"]["id"] for c in answer]
    assert shown[0]["top"] and not any(c["top"] for c in shown[1:])
    assert page["rootCause"]["graph"]["rootTop"] == [answer[0]["ci"]["id"]]
    assert all(c["evidence"] for c in shown)


def test_the_change_view_shows_graphqls_risk_route_warnings_and_conflicts(demo_run):
    served, plan, page = demo_run
    answer = served.graphql(CHANGE_IMPACT, id=plan["change"])["changeImpact"]
    shown = page["change"]
    assert float(shown["risk"]) == pytest.approx(answer["riskScore"])
    assert shown["route"] == answer["approvalRoute"]
    assert shown["factors"] == [f["name"] for f in answer["riskFactors"]]
    expected_warnings = [k for k, on in (("maintenance-window", answer["outsideMaintenanceWindow"]),
                                         ("blackout", answer["inBlackout"])) if on] or ["none"]
    assert shown["warnings"] == expected_warnings
    assert shown["conflicts"] == [c["change"]["id"] for c in answer["conflicts"]] and shown["conflicts"]
    assert shown["services"] == [s["ci"]["id"] for s in answer["businessServices"]]
    assert shown["graph"]["targets"] == sorted(t["id"] for t in answer["targets"])


def test_the_continuity_view_shows_graphqls_spofs_cut_sets_and_violations(demo_run):
    served, plan, page = demo_run
    answer = served.graphql(CONTINUITY, id=plan["service"])["continuity"]
    shown = page["continuity"]
    assert shown["spofs"] == [s["id"] for s in answer["singlePointsOfFailure"]]
    assert shown["cutSets"] == [[x["id"] for x in cut] for cut in answer["minimalCutSets"]]
    assert shown["rto"] == [v["ci"]["id"] for v in answer["rtoViolations"]]
    assert shown["rpo"] == [v["ci"]["id"] for v in answer["rpoViolations"]]
    assert shown["meetsSla"] == json.dumps(answer["meetsSla"])
    assert shown["graph"]["spofs"] == sorted(s["id"] for s in answer["singlePointsOfFailure"])
    for view in ("root-cause", "change", "continuity"):
        assert Path(page["screenshots"][view]).stat().st_size > 10_000


def test_the_key_is_kept_while_the_tab_is_open_and_forgotten_on_request(demo_run):
    _, _, page = demo_run
    assert page["keyKeptOnReload"] and page["keyForgotten"]


def test_the_page_needs_no_key_and_graphql_refuses_a_wrong_one(demo_run):
    served, _, _ = demo_run
    response = served.client.post("/graphql", json={"query": "{ me { name } }"}, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    page = served.client.get("/", headers={"Authorization": ""})
    assert page.status_code == 200 and "assets/app.js" in page.text
    assert served.client.get("/assets/app.js").status_code == 200


# --- a large enterprise: 2,000 CIs drawn, then collapsed by class --------------------------


def large_centre(served: Served) -> tuple[str, int, int]:
    """A data centre and depths whose neighbourhood shows at least LARGE_VISIBLE CIs."""
    centres = served.graphql('{ cis(first: 20, filter: {ciClass: DATACENTER}) { edges { node { id } } } }')
    for edge in centres["cis"]["edges"]:
        for up in (2, 3, 4):
            found = served.graphql(NEIGHBOURHOOD, id=edge["node"]["id"], up=up, down=1, days=30, limit=5000)["neighbourhood"]
            if LARGE_VISIBLE <= found["reachedCount"] <= 4000:
                return edge["node"]["id"], up, found["reachedCount"]
    raise AssertionError("no data centre of the generated enterprise has a neighbourhood of 2,000 to 4,000 CIs")


@pytest.fixture(scope="module")
def large_run(driver: Driver, neo4j_target: Neo4jTarget, serve: Any, demo_run) -> tuple[Served, dict[str, Any], dict[str, Any]]:
    env = {**os.environ, "NEO4J_URI": neo4j_target.uri, "NEO4J_USER": neo4j_target.user,
           "NEO4J_PASSWORD": neo4j_target.password}
    subprocess.run([str(CLI), "generate", "--cis", str(LARGE_CIS), "--seed", "3", "--reset"], env=env, check=True,
                   capture_output=True, text=True, timeout=600)
    served = serve(viewer_key(driver, neo4j_target.database, "impact-map-large"))
    centre, up, reached = large_centre(served)
    drawn = served.graphql(NEIGHBOURHOOD, id=centre, up=up, down=1, days=30, limit=reached)["neighbourhood"]["nodes"]
    farthest = max(drawn, key=lambda n: (n["distance"], n["id"]))["id"]  # a CI on the map's edge, to click
    plan = {"searchText": centre, "centre": centre, "upstreamDepth": up, "downstreamDepth": 1, "limit": reached,
            "collapseLimit": COLLAPSE_LIMIT, "clickCi": farthest}
    collapsed = served.graphql(NEIGHBOURHOOD, id=centre, up=up, down=1, days=30, limit=COLLAPSE_LIMIT)["neighbourhood"]
    plan["expandClass"] = min(collapsed["collapsed"], key=lambda c: c["count"])["ciClass"]
    return served, plan, drive(served, "large", plan)


def test_two_thousand_cis_are_drawn_and_the_page_still_answers(large_run):
    _, plan, page = large_run
    large = page["large"]
    assert large["nodes"] >= LARGE_VISIBLE and large["collapsed"] == []
    assert large["layout"]["quality"] == "layered" and large["layout"]["nodes"] == large["nodes"]
    # the page answered a search while the map held 2,000 CIs: a frozen main thread would not
    assert large["millisSearchAnswered"] < 15_000
    assert large["selected"] == plan["clickCi"] and large["millisClickAnswered"] < 15_000
    assert Path(page["screenshots"]["large"]).stat().st_size > 10_000


def test_past_the_limit_classes_collapse_with_counts_and_one_expands(large_run):
    served, plan, page = large_run
    answer = served.graphql(NEIGHBOURHOOD, id=plan["centre"], up=plan["upstreamDepth"], down=1, days=30,
                            limit=COLLAPSE_LIMIT)["neighbourhood"]
    shown = page["collapsed"]
    assert answer["collapsed"] and shown["nodes"] <= COLLAPSE_LIMIT
    assert sorted(c["ciClass"] for c in shown["classes"]) == sorted(c["ciClass"] for c in answer["collapsed"])
    for summary in answer["collapsed"]:
        text = next(c["text"] for c in shown["classes"] if c["ciClass"] == summary["ciClass"])
        assert f"{summary['count']} CIs" in text
    assert shown["collapsed"] == sorted(c["key"] for c in answer["collapsed"])
    expanded = next(c["key"] for c in answer["collapsed"] if c["ciClass"] == plan["expandClass"])
    assert plan["expandClass"] not in page["expanded"]["classes"] and expanded not in page["expanded"]["collapsed"]
    assert page["expanded"]["nodes"] > shown["nodes"]
    assert Path(page["screenshots"]["collapsed"]).stat().st_size > 10_000
