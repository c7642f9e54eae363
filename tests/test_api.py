"""The GraphQL service through HTTP (httpx, via FastAPI's TestClient) on the real Neo4j."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cmdb_graph.api.app import create_app
from cmdb_graph.api.schema import schema
from cmdb_graph.connection import Neo4jTarget
from cmdb_graph.model import Incident, Label
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store
from loaders.native import load_paths
from tests.conftest import DATA, graph_counts

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client(neo4j_target: Neo4jTarget, driver) -> Iterator[TestClient]:
    # what the API answers, with authentication off; tests/test_access.py covers keys and roles
    app = create_app(Settings(api_max_depth=10, api_max_aliases=15, api_auth=False), target=neo4j_target)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def shop(store: Store) -> Store:
    assert load_paths(store, [DATA / "shop.yaml"], actor="loader").ok
    return store


def gql(client: TestClient, query: str, **variables: Any) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


def data(client: TestClient, query: str, **variables: Any) -> dict[str, Any]:
    body = gql(client, query, **variables)
    assert "errors" not in body, body["errors"]
    return body["data"]


def error(client: TestClient, query: str, **variables: Any) -> dict[str, Any]:
    body = gql(client, query, **variables)
    assert body.get("errors"), body
    return body["errors"][0]


# --- service ---------------------------------------------------------------------------------


def test_health_ready_metrics_and_graphiql(client: TestClient, shop: Store):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    client.post("/graphql", json={"query": "query Probe { ci(id: \"web-1\") { id } }", "operationName": "Probe"})
    metrics = client.get("/metrics").text
    assert 'cmdb_graph_graphql_requests_total{operation="Probe",outcome="ok"}' in metrics
    assert 'cmdb_graph_graphql_request_seconds_bucket{le="0.005",operation="Probe"}' in metrics
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_unreachable_neo4j_is_unavailable_and_not_ready(test_settings: Settings):
    dead = Neo4jTarget(uri="bolt://127.0.0.1:1", user="neo4j", password="irrelevant", origin="environment")
    app = create_app(Settings(api_retry_seconds=0, api_auth=False), target=dead)
    with TestClient(app) as dead_client:
        assert dead_client.get("/readyz").status_code == 503
        failure = error(dead_client, '{ ci(id: "x") { id } }')
        assert failure["extensions"]["code"] == "UNAVAILABLE" and failure["path"] == ["ci"]
        assert "irrelevant" not in str(failure)


def test_the_impact_map_not_built_says_how_to_build_it(client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from cmdb_graph import web

    monkeypatch.setattr(web, "PAGE", tmp_path / "index.html")
    page = client.get("/")
    assert page.status_code == 503 and "npm run build" in page.text and "scripts/bootstrap.sh" in page.text
    assert client.get("/assets/nothing.js").status_code == 404


def test_graphql_core_is_not_shadowed_by_the_graphql_folder():
    import graphql

    assert hasattr(graphql, "graphql_sync") and hasattr(graphql, "version")
    assert not (ROOT / "graphql" / "__init__.py").exists()


def test_exported_schema_is_up_to_date():
    exported = (ROOT / "graphql" / "schema.graphql").read_text(encoding="utf-8")
    assert exported.strip() == schema.as_str().strip(), (
        "graphql/schema.graphql is stale: strawberry export-schema cmdb_graph.api.schema:schema "
        "--output graphql/schema.graphql"
    )


@pytest.mark.parametrize("operation", sorted((ROOT / "graphql" / "operations").glob("*.graphql")), ids=lambda p: p.stem)
def test_dashboard_operations_are_valid(operation: Path):
    from graphql import parse, validate

    from cmdb_graph.api.limits import operation_cost
    from cmdb_graph.api.schema import DEFAULT_PAGE, MAX_COST

    document = parse(operation.read_text(encoding="utf-8"))
    assert validate(schema._schema, document) == []
    # within the default cost limit at its default page sizes, so a dashboard never meets it
    assert operation_cost(schema._schema, document, None, {}, DEFAULT_PAGE) <= MAX_COST


def test_dashboard_operations_run_on_the_demo(client: TestClient, store: Store):
    from cmdb_graph.demo import build_demo

    path = ROOT / "tests" / ".demo.yaml"
    path.write_text(yaml.safe_dump(build_demo()))
    try:
        assert load_paths(store, [path], actor="test").ok
    finally:
        path.unlink()
    variables = {
        "CIDetail": {"id": "app-checkout"}, "CIList": {"first": 20, "filter": {"layer": "SERVICE"}},
        "Impact": {"failed": ["db-catalog"]}, "Dependencies": {"id": "app-checkout"}, "BlastRadius": {"id": "dc-fra"},
        "RootCause": {"symptoms": ["app-checkout", "app-storefront"]}, "ChangeImpact": {"changeId": "CHG-0001"},
        "Continuity": {"serviceId": "svc-payments"}, "BiaRanking": {"first": 5}, "CmdbHealth": {},
        **{name: {"from": "2026-08-01T00:00:00Z", "to": "2026-11-16T00:00:00Z"}
           for name in ("AcceptanceReport", "KpiDashboard", "SlaAttainment", "ProblemCandidates")},
        # the impact map's
        "MapCIDetail": {"id": "app-checkout"}, "MapSearch": {"text": "orders"}, "MapNeighbourhood": {"id": "db-orders"},
        "MapImpact": {"failed": ["db-catalog"]}, "MapRootCause": {"symptoms": ["app-checkout", "app-storefront"]},
        "MapChangeImpact": {"changeId": "CHG-0001"}, "MapContinuity": {"serviceId": "svc-payments"},
        # as of, what-if and confidence (tests/test_traces.py runs them on the demo with its traces)
        "PostIncidentReview": {"failed": ["db-catalog"], "at": datetime.now(timezone.utc).isoformat(), "id": "app-search"},
        "MigrationPlan": {"failed": ["db-catalog"], "plan": [{"op": "RETIRE_CI", "id": "app-search"}],
                          "changeId": "CHG-0001"},
        "ImpactConfidence": {"failed": ["db-catalog"], "minConfidence": 0.5}, "DeclaredVsObserved": {"days": 30},
    }
    for operation in sorted((ROOT / "graphql" / "operations").glob("*.graphql")):
        result = data(client, operation.read_text(), **variables.get(operation.stem, {}))
        assert result and all(value not in (None, []) for value in result.values()), operation.stem
    detail = data(client, (ROOT / "graphql/operations/CIDetail.graphql").read_text(), id="app-checkout")["ci"]
    assert {d["target"]["id"] for d in detail["dependsOn"]} >= {"db-orders", "app-payment-gateway"}


# --- queries ---------------------------------------------------------------------------------

CI_FIELDS = """id name ciClass layer status environment criticality owner rtoMinutes rpoMinutes
availability minMembers attributes version createdAt updatedAt"""


def test_ci_with_every_field_relation_and_history(client: TestClient, shop: Store):
    ci = data(client, f"""{{ ci(id: "web-1") {{ {CI_FIELDS}
        dependsOn {{ type }} dependents {{ type strength source {{ id }} target {{ id }} }}
        incidents {{ id priority affects {{ id }} }} problems {{ id }} changes {{ id }} knowledgeArticles {{ id }}
        history {{ actor action version }} }} }}""")["ci"]
    assert (ci["id"], ci["ciClass"], ci["layer"], ci["status"], ci["environment"]) == \
        ("web-1", "SERVER", "INFRASTRUCTURE", "OPERATIONAL", "PRODUCTION")
    assert (ci["criticality"], ci["owner"], ci["rtoMinutes"], ci["rpoMinutes"], ci["availability"]) == \
        (2, "team-web", 60, 15, 0.995)
    assert ci["attributes"] == {"os": "debian"} and ci["version"] == 1 and ci["minMembers"] is None
    assert ci["dependents"] == [{"type": "HAS_MEMBER", "strength": "HARD", "source": {"id": "web-farm"},
                                 "target": {"id": "web-1"}}]
    assert ci["incidents"] == [{"id": "INC1", "priority": 1, "affects": [{"id": "web-1"}]}]
    assert ci["history"] == [{"actor": "loader", "action": "CREATE".lower(), "version": 1}]
    db = data(client, '{ ci(id: "db-1") { problems { id knownError } changes { id partOf { releaseVersion } } '
                      'knowledgeArticles { id } dependents { source { id } strength } } }')["ci"]
    assert db == {"problems": [{"id": "PRB1", "knownError": True}],
                  "changes": [{"id": "CHG1", "partOf": {"releaseVersion": "2.1"}}],
                  "knowledgeArticles": [{"id": "KB1"}],
                  "dependents": [{"source": {"id": "shop"}, "strength": "SOFT"}]}
    assert data(client, '{ ci(id: "nope") { id } }') == {"ci": None}


def test_records_by_id_and_by_filter(client: TestClient, shop: Store):
    got = data(client, """{
      incident(id: "INC1") { title impact urgency status affects { id } }
      problem(id: "PRB1") { knownError rootCauseIn { id } documentedIn { id } }
      knowledgeArticle(id: "KB1") { title about { id } }
      change(id: "CHG1") { type state targets { id } partOf { id } }
      release(id: "REL1") { releaseVersion deploys { id } }
      sla(id: "sla-shop") { availabilityTarget service { id ciClass } }
      team(id: "team-web") { name }
      maintenanceWindow(id: "MW1") { recurrence appliesTo { id } }
      blackout(id: "BO1") { appliesTo { id } }
    }""")
    assert got["incident"] == {"title": "Shop slow", "impact": "GLOBAL", "urgency": "HIGH", "status": "RECEIVED",
                               "affects": [{"id": "web-1"}]}
    assert got["problem"] == {"knownError": True, "rootCauseIn": [{"id": "db-1"}], "documentedIn": []}
    assert got["change"] == {"type": "NORMAL", "state": "SCHEDULED", "targets": [{"id": "db-1"}], "partOf": {"id": "REL1"}}
    assert got["sla"] == {"availabilityTarget": 0.999, "service": {"id": "shop", "ciClass": "BUSINESS_SERVICE"}}
    assert got["release"]["deploys"] == [{"id": "shop"}] and got["team"] == {"name": "Web team"}
    listed = data(client, """{
      open: incidents(filter: {open: true}) { totalCount }
      closed: incidents(filter: {open: false}) { totalCount }
      onWeb: incidents(filter: {ci: "web-1"}) { totalCount }
      onDb: incidents(filter: {ci: "db-1"}) { totalCount }
      known: problems(filter: {knownError: true}) { totalCount }
      text: knowledgeArticles(filter: {text: "LOCKS"}) { totalCount }
      normal: changes(filter: {type: "normal", state: "scheduled"}) { totalCount }
    }""")
    assert {k: v["totalCount"] for k, v in listed.items()} == \
        {"open": 1, "closed": 0, "onWeb": 1, "onDb": 0, "known": 1, "text": 1, "normal": 1}
    bad = error(client, '{ teams(filter: {ci: "web-1"}) { totalCount } }')
    assert bad["extensions"]["code"] == "VALIDATION" and bad["path"] == ["teams"]


def test_paging_through_1000_cis_has_no_gap_and_no_duplicate(client: TestClient, store: Store, tmp_path: Path):
    cis = [{"id": f"ci-{n:04d}", "class": "Server" if n % 3 else "Database", "criticality": n % 4 + 1,
            "name": f"host {n}"} for n in range(1000)]
    path = tmp_path / "many.yaml"
    path.write_text(yaml.safe_dump({"cis": cis}))
    assert load_paths(store, [path], actor="test").ok
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = data(client, "query($after: String) { cis(first: 137, after: $after) "
                            "{ totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }",
                    after=after)["cis"]
        assert page["totalCount"] == 1000
        seen += [edge["node"]["id"] for edge in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 8 and seen == sorted(c["id"] for c in cis)
    filtered = data(client, '{ cis(first: 500, filter: {ciClass: DATABASE, criticality: 1, nameContains: "HOST 1"}) '
                            '{ totalCount edges { node { id ciClass criticality } } } }')["cis"]
    expected = [c["id"] for c in cis if c["class"] == "Database" and c["criticality"] == 1 and "host 1" in c["name"]]
    assert [e["node"]["id"] for e in filtered["edges"]] == expected and filtered["totalCount"] == len(expected)


@pytest.mark.parametrize(
    ("query", "code", "fragment"),
    [
        ("{ cis(first: 501) { totalCount } }", "LIMIT", "at most 500"),
        ("{ cis(first: 0) { totalCount } }", "VALIDATION", "at least 1"),
        ('{ cis(after: "garbage!") { totalCount } }', "VALIDATION", "not a cursor"),
        ('{ ci(id: "a") { dependsOn { target { dependsOn { target { dependsOn { target { dependsOn { target '
         '{ dependsOn { target { id } } } } } } } } } } } }', "LIMIT", "depth"),
        ("{ " + " ".join(f"a{n}: ci(id: \"x\") {{ id }}" for n in range(20)) + " }", "LIMIT", "aliases"),
        ("{ ci { id } }", "VALIDATION", "ci(id:)"),
        ('{ impact(failed: ["web-1", "ghost"]) { countsByLayer } }', "NOT_FOUND", "'ghost'"),
        ('{ impact(failed: ["web-1"], maxDepth: -1) { countsByLayer } }', "VALIDATION", "maxDepth"),
        ('{ continuity(serviceId: "shop") { minimalCutSets(maxSize: 4) { id } } }', "VALIDATION", "maxSize"),
        ('{ changeImpact(changeId: "CHG-NONE") { riskScore } }', "NOT_FOUND", "CHG-NONE"),
        ("{ cis { nodes } }", "VALIDATION", "Cannot query field 'nodes'"),
    ],
)
def test_errors_have_stable_codes(client: TestClient, shop: Store, query: str, code: str, fragment: str):
    response = client.post("/graphql", json={"query": query})
    assert response.status_code in (200, 400)
    failure = response.json()["errors"][0]
    assert failure["extensions"]["code"] == code, failure
    assert fragment.lower() in failure["message"].lower()


def test_related_lists_take_a_constant_number_of_round_trips(client: TestClient, store: Store, tmp_path: Path):
    cis = [{"id": f"app-{n:03d}", "class": "Application"} for n in range(100)]
    cis += [{"id": f"db-{n:02d}", "class": "Database"} for n in range(10)]
    relationships = [{"from": f"app-{n:03d}", "to": f"db-{n % 10:02d}"} for n in range(100)]
    relationships += [{"from": f"app-{n:03d}", "to": f"db-{(n + 1) % 10:02d}", "strength": "soft"} for n in range(100)]
    incidents = [{"id": f"INC{n}", "title": "slow", "opened_at": "2026-11-01T00:00:00Z", "affects": [f"app-{n:03d}"]}
                 for n in range(0, 100, 3)]
    path = tmp_path / "apps.yaml"
    path.write_text(yaml.safe_dump({"cis": cis, "relationships": relationships, "incidents": incidents}))
    assert load_paths(store, [path], actor="test").ok
    query = ("query($n: Int) { cis(first: $n, filter: {ciClass: APPLICATION}) { edges { node { id "
             "dependsOn { strength target { name } } incidents { id } } } } }")
    trips = {}
    for size in (10, 100):
        response = client.post("/graphql", json={"query": query, "variables": {"n": size}})
        body = response.json()
        assert "errors" not in body and len(body["data"]["cis"]["edges"]) == size
        assert all(len(e["node"]["dependsOn"]) == 2 for e in body["data"]["cis"]["edges"])
        trips[size] = int(response.headers["X-Neo4j-Round-Trips"])
    # the page with its count; dependsOn; their targets; incidents: 4, whatever the page size
    assert trips[10] == trips[100] == 4


# --- mutations --------------------------------------------------------------------------------

UPSERT = "mutation($input: [CIInput!]!) { upsertCIs(input: $input) { id name version criticality ciClass owner attributes } }"


def test_upsert_cis_creates_then_leaves_unchanged_then_updates(client: TestClient, shop: Store):
    rows = [{"id": "api-1", "ciClass": "VIRTUAL_MACHINE", "criticality": 2, "owner": "team-web",
             "attributes": {"os": "debian"}},
            {"id": "api-2", "ciClass": "DATABASE", "name": "Orders"}]
    created = data(client, UPSERT, input=rows)["upsertCIs"]
    assert [(c["id"], c["version"], c["ciClass"]) for c in created] == [("api-1", 1, "VIRTUAL_MACHINE"), ("api-2", 1, "DATABASE")]
    again = data(client, UPSERT, input=rows)["upsertCIs"]
    assert [c["version"] for c in again] == [1, 1]
    rows[0]["criticality"] = 1
    rows[0]["expectedVersion"] = 1
    updated = data(client, UPSERT, input=rows[:1])["upsertCIs"][0]
    assert (updated["version"], updated["criticality"]) == (2, 1)
    assert shop.history("api-1")[0].actor == "api"


def test_stale_expected_version_is_a_conflict_naming_the_current_one(client: TestClient, shop: Store):
    before = graph_counts(shop.driver)
    failure = error(client, UPSERT, input=[{"id": "web-1", "ciClass": "SERVER", "expectedVersion": 3}])
    assert failure["extensions"] == {"code": "CONFLICT", "currentVersion": 1}
    assert "version 1" in failure["message"] and failure["path"] == ["upsertCIs"]
    assert graph_counts(shop.driver) == before


def test_one_bad_item_writes_nothing_and_names_its_field(client: TestClient, shop: Store):
    before = graph_counts(shop.driver)
    failure = error(client, UPSERT, input=[{"id": "ok-1", "ciClass": "SERVER"},
                                           {"id": "bad-1", "ciClass": "SERVER", "criticality": 9},
                                           {"id": "bad-2", "ciClass": "SERVER", "owner": "team-ghost"}])
    assert failure["extensions"]["code"] == "VALIDATION"
    assert failure["extensions"]["fields"] == [
        {"field": "input[1].criticality", "message": "Input should be less than or equal to 4"}]
    assert graph_counts(shop.driver) == before
    owner = error(client, UPSERT, input=[{"id": "ok-1", "ciClass": "SERVER", "owner": "team-ghost"}])
    assert owner["extensions"]["fields"] == [{"field": "input[0].owner", "message": "unknown Team 'team-ghost'"}]
    assert error(client, UPSERT, input=[{"id": "x", "ciClass": "TOASTER"}])["extensions"]["code"] == "VALIDATION"


def test_delete_ci_needs_its_version_and_force_for_dependents(client: TestClient, shop: Store):
    query = "mutation($id: ID!, $v: Int!, $force: Boolean) { deleteCI(id: $id, expectedVersion: $v, force: $force) { id deleted } }"
    stale = error(client, query, id="db-1", v=4)
    assert stale["extensions"] == {"code": "CONFLICT", "currentVersion": 1}
    held = error(client, query, id="db-1", v=1)
    assert held["extensions"]["code"] == "VALIDATION" and "force" in held["message"]
    assert data(client, query, id="db-1", v=1, force=True)["deleteCI"] == {"id": "db-1", "deleted": True}
    assert error(client, query, id="db-1", v=1)["extensions"]["code"] == "NOT_FOUND"


def test_relationship_mutations(client: TestClient, shop: Store):
    upsert = ("mutation($input: [RelationshipInput!]!) { upsertRelationships(input: $input) "
              "{ type strength version source { id } target { id name } } }")
    written = data(client, upsert, input=[{"source": "shop", "target": "web-2", "strength": "SOFT"}])
    assert written["upsertRelationships"] == [{"type": "DEPENDS_ON", "strength": "SOFT", "version": 1,
                                               "source": {"id": "shop"}, "target": {"id": "web-2", "name": "web-2"}}]
    unknown = error(client, upsert, input=[{"source": "shop", "target": "ghost"}])
    assert unknown["extensions"]["fields"] == [{"field": "input[0].target", "message": "unknown CI 'ghost'"}]
    member = error(client, upsert, input=[{"source": "shop", "target": "web-2", "type": "HAS_MEMBER"}])
    assert "only a Cluster or RedundancyGroup has members" in member["message"]
    delete = ("mutation($v: Int) { deleteRelationship(source: \"shop\", target: \"web-2\", type: DEPENDS_ON, "
              "expectedVersion: $v) { id deleted } }")
    assert error(client, delete, v=5)["extensions"] == {"code": "CONFLICT", "currentVersion": 1}
    assert data(client, delete)["deleteRelationship"] == {"id": "shop|DEPENDS_ON|web-2", "deleted": True}
    assert error(client, delete)["extensions"]["code"] == "NOT_FOUND"


RECORD_INPUTS = {
    "Team": {"id": "team-x", "name": "X team"},
    "Sla": {"id": "sla-x", "service": "shop", "availabilityTarget": 0.99},
    "KnowledgeArticle": {"id": "KB-X", "title": "How to", "about": ["db-1"], "tags": ["howto"]},
    "Problem": {"id": "PRB-X", "title": "Leak", "rootCauseIn": ["web-1"]},
    "Release": {"id": "REL-X", "releaseVersion": "3.0", "deploys": ["shop"]},
    "Change": {"id": "CHG-X", "title": "Patch", "type": "EMERGENCY", "targets": ["db-1"], "partOf": "REL1"},
    "Incident": {"id": "INC-X", "title": "Down", "openedAt": "2026-11-20T10:00:00Z", "affects": ["db-1"],
                 "impact": "DEPARTMENT", "urgency": "CRITICAL", "causedBy": "PRB1"},
    "MaintenanceWindow": {"id": "MW-X", "start": "2026-12-06T01:00:00Z", "end": "2026-12-06T05:00:00Z",
                          "appliesTo": ["web-1"]},
    "Blackout": {"id": "BO-X", "start": "2026-12-20T00:00:00Z", "end": "2026-12-28T00:00:00Z", "appliesTo": ["shop"]},
}
PATCHES = {"Team": {"name": "Team X"}, "Sla": {"availabilityTarget": 0.995}, "KnowledgeArticle": {"body": "Steps"},
           "Problem": {"status": "INVESTIGATING"}, "Release": {"state": "BUILDING"}, "Change": {"state": "ASSESSED"},
           "Incident": {"status": "ASSESSED", "assignee": "team-web"}, "MaintenanceWindow": {"recurrence": "WEEKLY"},
           "Blackout": {"reason": "freeze"}}


@pytest.mark.parametrize("kind", sorted(RECORD_INPUTS))
def test_create_and_update_every_record_kind(client: TestClient, shop: Store, kind: str):
    lower = kind[0].lower() + kind[1:]
    input_type = "SLAInput" if kind == "Sla" else f"{kind}Input"
    patch_type = "SLAPatch" if kind == "Sla" else f"{kind}Patch"
    fields = "id version " + " ".join(PATCHES[kind])
    create = f"mutation($input: {input_type}!) {{ create{kind}(input: $input) {{ {fields} }} }}"
    created = data(client, create, input=RECORD_INPUTS[kind])[f"create{kind}"]
    assert created["id"] == RECORD_INPUTS[kind]["id"] and created["version"] == 1
    duplicate = error(client, create, input=RECORD_INPUTS[kind])
    assert duplicate["extensions"]["code"] == "VALIDATION" and "already exists" in duplicate["message"]
    update = (f"mutation($id: ID!, $v: Int!, $patch: {patch_type}!) "
              f"{{ update{kind}(id: $id, expectedVersion: $v, patch: $patch) {{ {fields} }} }}")
    updated = data(client, update, id=created["id"], v=1, patch=PATCHES[kind])[f"update{kind}"]
    assert updated["version"] == 2
    assert {k: updated[k] for k in PATCHES[kind]} == PATCHES[kind]
    stale = error(client, update, id=created["id"], v=1, patch=PATCHES[kind])
    assert stale["extensions"] == {"code": "CONFLICT", "currentVersion": 2}
    assert error(client, update, id="nope", v=1, patch=PATCHES[kind])["extensions"]["code"] == "NOT_FOUND"
    history = data(client, f'{{ {lower}(id: "{created["id"]}") {{ history {{ action version actor }} }} }}')
    assert [h["action"] for h in history[lower]["history"]] == ["update", "create"]


def test_record_validation_names_the_field(client: TestClient, shop: Store):
    before = shop.count(Label.INCIDENT)
    create = "mutation($input: IncidentInput!) { createIncident(input: $input) { id } }"
    failure = error(client, create, input={"id": "INC-Y", "title": "x", "openedAt": "2026-11-20T10:00:00Z",
                                           "status": "CLOSED", "affects": ["ghost"]})
    assert failure["extensions"]["code"] == "VALIDATION"
    assert failure["extensions"]["fields"][0]["message"] == "a closed incident needs a resolution"
    unknown = error(client, create, input={"id": "INC-Y", "title": "x", "openedAt": "2026-11-20T10:00:00Z",
                                           "affects": ["ghost"]})
    assert unknown["extensions"]["fields"] == [{"field": "input[0].affects", "message": "unknown CI 'ghost'"}]
    assert shop.count(Label.INCIDENT) == before
    computed = data(client, "mutation($input: IncidentInput!) { createIncident(input: $input) { priority } }",
                    input={"id": "INC-Z", "title": "x", "openedAt": "2026-11-20T10:00:00Z", "impact": "GLOBAL",
                           "urgency": "CRITICAL"})
    assert computed["createIncident"]["priority"] == 1


def test_a_patch_keeps_unset_fields_and_null_clears_one(client: TestClient, shop: Store):
    fields = "version assignee status respondedAt openedAt affects { id }"
    created = data(client, f"mutation($input: IncidentInput!) {{ createIncident(input: $input) {{ {fields} }} }}",
                   input={"id": "INC-P", "title": "slow", "openedAt": "2026-11-20T10:00:00+01:00",
                          "respondedAt": "2026-11-20T09:05:00Z", "assignee": "team-web", "affects": ["db-1"]})["createIncident"]
    assert created["openedAt"] == "2026-11-20T10:00:00+01:00"  # the offset given is kept
    update = f"mutation($patch: IncidentPatch!) {{ updateIncident(id: \"INC-P\", expectedVersion: 1, patch: $patch) {{ {fields} }} }}"
    updated = data(client, update, patch={"assignee": None, "status": "ASSESSED"})["updateIncident"]
    assert updated["assignee"] is None and updated["status"] == "ASSESSED" and updated["version"] == 2
    assert updated["respondedAt"] == created["respondedAt"] and updated["affects"] == [{"id": "db-1"}]


def test_timestamps_read_as_iso_strings_keep_their_instant():
    from datetime import date, datetime, timedelta, timezone

    from cmdb_graph.api.types import _temporal

    utc = datetime(2026, 11, 16, 9, 30, 0, 123456, tzinfo=timezone.utc)
    assert _temporal("2026-11-16T09:30:00.123456789Z") == utc  # Neo4j keeps nanoseconds; Python microseconds
    assert _temporal("2026-11-16T09:30:00.123456Z[UTC]") == utc
    assert _temporal("2026-11-16T10:30:00.123456+01:00[Europe/Paris]") == utc
    assert _temporal("2026-11-16T10:30:00.123456+01:00").utcoffset() == timedelta(hours=1)
    assert _temporal("2026-11-16", date) == date(2026, 11, 16)
    assert _temporal(None) is None


def test_a_status_the_lifecycle_does_not_allow_is_refused_with_the_field_and_nothing_changes(client: TestClient, shop: Store):
    data(client, "mutation($input: IncidentInput!) { createIncident(input: $input) { id } }",
         input={"id": "INC-L", "title": "slow", "openedAt": "2026-11-20T10:00:00Z", "affects": ["db-1"]})
    update = "mutation($v: Int!, $patch: IncidentPatch!) { updateIncident(id: \"INC-L\", expectedVersion: $v, patch: $patch) { status version } }"
    refused = error(client, update, v=1, patch={"status": "RESOLVED"})
    assert refused["extensions"]["code"] == "VALIDATION"
    assert refused["extensions"]["fields"] == [{
        "field": "patch.status",
        "message": "this Incident cannot go from received to resolved; from received it can go to assessed"}]
    assert refused["path"] == ["updateIncident"]
    assert shop.get_record(Incident, "INC-L")[1] == 1
    for version, status in enumerate(("ASSESSED", "ASSIGNED", "IN_PROGRESS", "RESOLVED"), start=1):
        assert data(client, update, v=version, patch={"status": status})["updateIncident"]["status"] == status


def test_search_knowledge_finds_articles_and_known_errors_with_their_cis(client: TestClient, shop: Store):
    shop.rows("CALL db.awaitIndexes(60)")
    query = "query($t: String!) { searchKnowledge(text: $t) { kind id title workaround cis { id } } }"
    hits = data(client, query, t="DB locks")["searchKnowledge"]
    assert sorted((h["kind"], h["id"], h["workaround"], [c["id"] for c in h["cis"]]) for h in hits) == [
        ("KnowledgeArticle", "KB1", None, ["db-1"]), ("KnownError", "PRB1", "restart", ["db-1"])]
    refused = error(client, "{ searchKnowledge(text: \"x\", first: 0) { id } }")
    assert refused["extensions"]["fields"] == [{"field": "first", "message": "first must be between 1 and 100"}]


def test_an_incident_recorded_without_a_severity_gets_its_blast_radius_level_and_reason(client: TestClient, shop: Store):
    from impact.blast_radius import analyse_blast_radius

    create = "mutation($input: IncidentInput!) { createIncident(input: $input) { severityLevel severityReason } }"
    recorded = data(client, create, input={"id": "INC-S", "title": "db down", "openedAt": "2026-11-20T10:00:00Z",
                                           "affects": ["db-1"]})["createIncident"]
    expected = analyse_blast_radius(shop, "db-1")
    assert recorded["severityLevel"] == expected.severity_level.value
    assert recorded["severityReason"] == f"blast radius of db-1: {expected.reason}"
    given = data(client, create, input={"id": "INC-T", "title": "db down", "openedAt": "2026-11-20T10:00:00Z",
                                        "affects": ["db-1"], "severityLevel": "I", "severityReason": "declared by the MIM"})
    assert given["createIncident"] == {"severityLevel": "I", "severityReason": "declared by the MIM"}
