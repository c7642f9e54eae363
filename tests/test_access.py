"""Access through the real service: API keys from the CLI and over GraphQL, roles enforced by
permission classes (FORBIDDEN, nothing written), audit entries naming the key, and the
request limits (cost, body size, transaction timeout) answering LIMIT."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from strawberry.permission import PermissionExtension

from cmdb_graph.access.keys import create_key, list_keys
from cmdb_graph.access.roles import Role
from cmdb_graph.api.app import create_app
from cmdb_graph.api.schema import schema
from cmdb_graph.connection import Neo4jTarget
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store
from loaders.native import load_paths
from tests.conftest import DATA, graph_counts

CLI = Path(sys.executable).parent / "cmdb-graph"


@pytest.fixture(scope="module")
def service(neo4j_target: Neo4jTarget, driver) -> Iterator[TestClient]:
    settings = Settings(api_key_cache_seconds=0, api_max_cost=5_000, api_max_body_bytes=20_000)
    with TestClient(create_app(settings, target=neo4j_target)) as client:
        yield client


@pytest.fixture
def keys(store: Store) -> dict[Role, str]:
    """The shop, and one key per role."""
    assert load_paths(store, [DATA / "shop.yaml"], actor="loader").ok
    return {role: create_key(store.driver, store.database, f"test-{role.value}", role, "test").secret for role in Role}


def call(client: TestClient, key: str | None, query: str, **variables: Any) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    return response.status_code, response.json()


def ok(client: TestClient, key: str, query: str, **variables: Any) -> dict[str, Any]:
    status, body = call(client, key, query, **variables)
    assert status == 200 and "errors" not in body, body
    return body["data"]


def refused(client: TestClient, key: str, query: str, **variables: Any) -> dict[str, Any]:
    status, body = call(client, key, query, **variables)
    assert status == 200 and body.get("errors"), body
    return body["errors"][0]


UPSERT = "mutation($input: [CIInput!]!) { upsertCIs(input: $input) { id version } }"
NEW_CI = [{"id": "new-1", "ciClass": "SERVER", "name": "new"}]


# --- authentication -----------------------------------------------------------------------------


def test_requests_without_a_valid_key_get_401_and_run_nothing(service: TestClient, keys: dict[Role, str], store: Store):
    before = graph_counts(store.driver)
    for header in (None, "Basic abc", "Bearer", "Bearer not-a-key", "Bearer cmdbg_000000000000_" + "x" * 43):
        response = service.post("/graphql", json={"query": UPSERT, "variables": {"input": NEW_CI}},
                                headers={"Authorization": header} if header else {})
        assert response.status_code == 401, header
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # a key whose secret is wrong but whose id exists
    wrong = keys[Role.ADMIN][:-4] + "AAAA"
    assert call(service, wrong, "{ me { name } }")[0] == 401
    assert graph_counts(store.driver) == before
    assert 'cmdb_graph_requests_refused_total{reason="unauthenticated"}' in service.get("/metrics").text
    # the GraphiQL page itself needs no key (its queries do); health and readiness need none
    assert service.get("/graphql", headers={"Accept": "text/html"}).status_code == 200
    assert service.get("/readyz").status_code == 200


def test_me_names_the_key_and_its_role(service: TestClient, keys: dict[Role, str]):
    me = ok(service, keys[Role.EDITOR], "{ me { name role keyId actor } }")["me"]
    assert me["name"] == "test-editor" and me["role"] == "EDITOR"
    assert me["actor"] == f"apikey:test-editor:{me['keyId']}"


# --- roles --------------------------------------------------------------------------------------


def test_a_viewer_reads_but_every_write_is_forbidden_and_writes_nothing(service: TestClient, keys: dict[Role, str], store: Store):
    viewer = keys[Role.VIEWER]
    assert ok(service, viewer, '{ ci(id: "db-1") { id } }')["ci"]["id"] == "db-1"
    before = graph_counts(store.driver)
    attempts = [
        (UPSERT, {"input": NEW_CI}),
        ('mutation { deleteCI(id: "db-1", expectedVersion: 1) { deleted } }', {}),
        ('mutation { upsertRelationships(input: [{source: "web-1", target: "db-1", type: DEPENDS_ON}]) { type } }', {}),
        ('mutation { createIncident(input: {id: "INC-X", title: "x", openedAt: "2026-11-01T00:00:00Z", affects: ["db-1"]}) { id } }', {}),
        ("mutation { escalateIncidents { checked } }", {}),
        ('mutation { createApiKey(name: "x", role: ADMIN) { secret } }', {}),
        ("{ apiKeys { id } }", {}),
    ]
    for query, variables in attempts:
        failure = refused(service, viewer, query, **variables)
        assert failure["extensions"]["code"] == "FORBIDDEN", (query, failure)
        assert failure["extensions"]["role"] == "viewer"
    assert graph_counts(store.driver) == before


def test_every_mutation_and_the_key_list_carry_a_permission_class():
    unguarded = []
    for type_name in ("Mutation", "Query"):
        definition = schema.get_type_by_name(type_name)
        for field in definition.fields:
            guarded = any(isinstance(ext, PermissionExtension) for ext in field.extensions)
            if type_name == "Mutation" and not guarded or field.name == "api_keys" and not guarded:
                unguarded.append(f"{type_name}.{field.name}")
    assert unguarded == []


def test_an_editor_writes_and_each_audit_entry_names_the_key(service: TestClient, keys: dict[Role, str], store: Store):
    editor = keys[Role.EDITOR]
    assert ok(service, editor, UPSERT, input=NEW_CI)["upsertCIs"] == [{"id": "new-1", "version": 1}]
    assert ok(service, editor, UPSERT, input=[{**NEW_CI[0], "name": "renamed", "expectedVersion": 1}])
    key_id = ok(service, editor, "{ me { keyId } }")["me"]["keyId"]
    history = ok(service, editor, '{ ci(id: "new-1") { history { actor action version } } }')["ci"]["history"]
    assert [(h["action"], h["version"]) for h in history] == [("update", 2), ("create", 1)]
    assert {h["actor"] for h in history} == {f"apikey:test-editor:{key_id}"}
    # an editor hands out no keys
    assert refused(service, editor, 'mutation { createApiKey(name: "x", role: VIEWER) { secret } }')["extensions"] == {
        "code": "FORBIDDEN", "role": "editor", "needed": "admin"}


CHANGE = "id state approvedBy version"
CREATE_CHANGE = f"mutation($input: ChangeInput!) {{ createChange(input: $input) {{ {CHANGE} }} }}"
UPDATE_CHANGE = (f"mutation($id: ID!, $v: Int!, $patch: ChangePatch!) {{ updateChange(id: $id, expectedVersion: $v, "
                 f"patch: $patch) {{ {CHANGE} }} }}")


def test_only_a_change_manager_approves_or_rejects_a_change(service: TestClient, keys: dict[Role, str], store: Store):
    editor, manager = keys[Role.EDITOR], keys[Role.CHANGE_MANAGER]
    ok(service, editor, CREATE_CHANGE, input={
        "id": "CHG-1", "title": "Patch the database", "type": "NORMAL", "targets": ["db-1"], "rollbackPlan": "restore",
        "plannedStart": "2026-12-08T01:00:00Z", "plannedEnd": "2026-12-08T03:00:00Z"})
    assessed = ok(service, editor, UPDATE_CHANGE, id="CHG-1", v=1, patch={"state": "ASSESSED"})["updateChange"]
    before = graph_counts(store.driver)
    for state in ("APPROVED", "REJECTED"):
        failure = refused(service, editor, UPDATE_CHANGE, id="CHG-1", v=assessed["version"],
                          patch={"state": state, "approvedBy": "CAB 2026-12-01"})
        assert failure["extensions"]["code"] == "FORBIDDEN" and failure["extensions"]["needed"] == "change-manager"
    # nor by creating it approved
    failure = refused(service, editor, CREATE_CHANGE, input={"id": "CHG-2", "title": "x", "type": "NORMAL",
                                                             "targets": ["db-1"], "state": "APPROVED"})
    assert failure["extensions"]["code"] == "FORBIDDEN"
    assert graph_counts(store.driver) == before
    approved = ok(service, manager, UPDATE_CHANGE, id="CHG-1", v=assessed["version"],
                  patch={"state": "APPROVED", "approvedBy": "CAB 2026-12-01"})["updateChange"]
    assert approved["state"] == "APPROVED"
    history = store.history("CHG-1")
    assert history[0].actor.startswith("apikey:test-change-manager:")


def test_an_admin_creates_lists_and_revokes_keys_over_graphql(service: TestClient, keys: dict[Role, str], store: Store):
    admin = keys[Role.ADMIN]
    made = ok(service, admin, 'mutation { createApiKey(name: "grafana", role: VIEWER) { secret key { id role } } }')
    secret, key_id = made["createApiKey"]["secret"], made["createApiKey"]["key"]["id"]
    assert ok(service, secret, "{ me { name role } }")["me"] == {"name": "grafana", "role": "VIEWER"}
    listed = ok(service, admin, "{ apiKeys { id name role revokedAt } }")["apiKeys"]
    assert {"id": key_id, "name": "grafana", "role": "VIEWER", "revokedAt": None} in listed
    assert "hash" not in str(listed) and secret not in str(listed)
    duplicate = refused(service, admin, 'mutation { createApiKey(name: "grafana", role: EDITOR) { secret } }')
    assert duplicate["extensions"]["code"] == "VALIDATION"
    assert ok(service, admin, 'mutation { revokeApiKey(key: "grafana") { revokedAt } }')["revokeApiKey"]["revokedAt"]
    assert call(service, secret, "{ me { name } }")[0] == 401  # the cache is off in this service
    actions = [(e.action, e.actor) for e in store.history(key_id)]
    assert [a for a, _ in actions] == ["revoke", "create"] and all(actor.startswith("apikey:test-admin:") for _, actor in actions)
    # the key's secret is stored only as a digest
    stored = store.rows("MATCH (k:ApiKey {id: $id}) RETURN properties(k) AS p", id=key_id)[0]["p"]
    assert secret not in str(stored) and len(stored["hash"]) == 64


def test_cli_creates_a_key_alone_on_stdout_lists_and_revokes_it(store: Store, neo4j_env: Neo4jTarget):
    env = {**os.environ}
    created = subprocess.run([str(CLI), "apikey", "create", "--role", "editor", "--name", "ci-bot"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert created.stdout == secret + "\n" and secret.startswith("cmdbg_")
    listed = subprocess.run([str(CLI), "apikey", "list", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and secret not in listed.stdout
    assert [(k["name"], k["role"]) for k in __import__("json").loads(listed.stdout)] == [("ci-bot", "editor")]
    again = subprocess.run([str(CLI), "apikey", "create", "--role", "viewer", "--name", "ci-bot"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and again.stdout == "" and "active key has that name" in again.stderr
    bad_role = subprocess.run([str(CLI), "apikey", "create", "--role", "root", "--name", "x"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert bad_role.returncode != 0 and bad_role.stdout == ""
    revoked = subprocess.run([str(CLI), "apikey", "revoke", "ci-bot"], env=env, capture_output=True, text=True, timeout=120)
    assert revoked.returncode == 0 and "revoked editor key 'ci-bot'" in revoked.stdout
    assert list_keys(store.driver, store.database, include_revoked=False) == []
    missing = subprocess.run([str(CLI), "apikey", "revoke", "ci-bot"], env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no active key" in missing.stderr


# --- limits -------------------------------------------------------------------------------------


def test_a_query_above_the_cost_limit_is_refused_before_it_runs(service: TestClient, keys: dict[Role, str]):
    viewer = keys[Role.VIEWER]
    # 500 CIs x (their relationships x (the targets' relationships)) is far above 5,000 fields
    costly = "{ cis(first: 500) { edges { node { id dependsOn { target { id dependsOn { target { id } } } } } } } }"
    failure = refused(service, viewer, costly)
    assert failure["extensions"] == {"code": "LIMIT", "limit": "cost"} and "5,000" in failure["message"]
    # a page given as a variable counts as what the variable is
    paged = "query($n: Int) { cis(first: $n) { edges { node { id dependsOn { target { id dependsOn { type } } } } } } }"
    assert refused(service, viewer, paged, n=500)["extensions"]["limit"] == "cost"
    assert ok(service, viewer, paged, n=2)["cis"]["edges"]
    # through a fragment too
    failure = refused(service, viewer, "{ cis(first: 500) { edges { node { ...deep } } } } "
                                       "fragment deep on CI { dependsOn { target { dependsOn { target { id } } } } }")
    assert failure["extensions"]["limit"] == "cost"
    assert ok(service, viewer, "{ cis(first: 10) { edges { node { id dependsOn { target { id } } } } } }")


def test_a_body_above_the_limit_gets_413_and_limit(service: TestClient, keys: dict[Role, str], store: Store):
    before = graph_counts(store.driver)
    huge = [{"id": f"big-{i}", "ciClass": "SERVER", "name": "x" * 100} for i in range(300)]
    response = service.post("/graphql", json={"query": UPSERT, "variables": {"input": huge}},
                            headers={"Authorization": f"Bearer {keys[Role.ADMIN]}"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"] == {"code": "LIMIT", "limit": "body size"}
    # chunked, without a Content-Length
    body = iter([b'{"query": "{ me { name } }", "pad": "' + b"x" * 30_000 + b'"}'])
    response = service.post("/graphql", content=body, headers={"Authorization": f"Bearer {keys[Role.ADMIN]}",
                                                                "Content-Type": "application/json"})
    assert response.status_code == 413
    assert graph_counts(store.driver) == before


def test_a_request_over_the_transaction_timeout_gets_limit_and_others_still_answer(
    neo4j_target: Neo4jTarget, keys: dict[Role, str], store: Store,
):
    # Another transaction holds db-1's write lock, so a write to db-1 waits on it: past the
    # 1 s budget Neo4j aborts the request's transaction, which is then refused with LIMIT.
    settings = Settings(api_key_cache_seconds=0, api_tx_timeout_seconds=1)
    upsert = [{"id": "db-1", "ciClass": "DATABASE", "name": "renamed", "expectedVersion": 1}]
    with store.driver.session(database=store.database) as session, session.begin_transaction() as holder:
        holder.run("MATCH (n:CI {id: 'db-1'}) SET n.held = true").consume()
        with TestClient(create_app(settings, target=neo4j_target)) as client:
            started = time.monotonic()
            status, body = call(client, keys[Role.EDITOR], UPSERT, input=upsert)
            waited = time.monotonic() - started
            assert status == 200 and body["errors"][0]["extensions"] == {"code": "LIMIT", "limit": "transaction timeout"}, body
            assert "api_tx_timeout_seconds" in body["errors"][0]["message"] and waited < 20
            # reads take no locks: they still answer while the write is blocked
            assert ok(client, keys[Role.VIEWER], '{ ci(id: "db-1") { name } }')["ci"]["name"] != "renamed"
        holder.rollback()
    assert store.get_ci("db-1").version == 1  # nothing written


def test_a_read_over_the_transaction_timeout_is_classified_as_limit(neo4j_target: Neo4jTarget):
    from neo4j.exceptions import ClientError

    from cmdb_graph.api.errors import classify
    from cmdb_graph.api.reads import Reader

    async def slow() -> None:
        driver = neo4j_target.async_driver()
        try:
            await Reader(driver, neo4j_target.database, timeout=0.5).rows(
                "UNWIND range(1, 1000000000) AS x WITH x WHERE x % 7 = 3 RETURN count(x) AS n")
        finally:
            await driver.close()

    with pytest.raises(ClientError) as raised:
        asyncio.run(slow())
    code, message, details = classify(raised.value, "")
    assert (code.value, details) == ("LIMIT", {"limit": "transaction timeout"})


# --- secrets ------------------------------------------------------------------------------------


def test_neo4j_credentials_never_appear_in_logs_or_errors(neo4j_target: Neo4jTarget, keys: dict[Role, str],
                                                           caplog: pytest.LogCaptureFixture, tmp_path: Path):
    caplog.set_level(logging.DEBUG)
    password = neo4j_target.password
    with TestClient(create_app(Settings(api_key_cache_seconds=0), target=neo4j_target)) as client:
        ok(client, keys[Role.VIEWER], '{ ci(id: "db-1") { id } }')
        call(client, keys[Role.VIEWER], "{ nonsense }")
    dead = Neo4jTarget(uri="bolt://127.0.0.1:1", user="neo4j", password="s3cret-never-shown", origin="environment")
    with TestClient(create_app(Settings(api_retry_seconds=0), target=dead)) as client:
        response = client.post("/graphql", json={"query": "{ me { name } }"}, headers={"Authorization": f"Bearer {keys[Role.VIEWER]}"})
        assert response.status_code == 503 and response.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        assert "s3cret" not in response.text
    secret_file = tmp_path / "password"
    secret_file.write_text("file-s3cret-never-shown\n")
    env = {**os.environ, "NEO4J_URI": "bolt://127.0.0.1:1", "CMDB_GRAPH_NEO4J_PASSWORD_FILE": str(secret_file)}
    env.pop("NEO4J_PASSWORD", None)
    cli = subprocess.run([str(CLI), "ci", "show", "db-1"], env=env, capture_output=True, text=True, timeout=120)
    assert cli.returncode != 0 and "cannot reach Neo4j" in cli.stderr
    logged = caplog.text + cli.stdout + cli.stderr
    for secret in (password, "s3cret-never-shown", "file-s3cret-never-shown"):
        assert secret not in logged
    assert "s3cret" not in repr(Settings(neo4j_password="s3cret-never-shown"))


def test_a_deadlock_that_outlasted_the_retries_is_a_conflict_not_an_internal_error():
    from neo4j.exceptions import Neo4jError

    from cmdb_graph.api.errors import classify

    deadlock = Neo4jError._hydrate_neo4j(code="Neo.TransientError.Transaction.DeadlockDetected", message="deadlock")
    code, message, _details = classify(deadlock, "")
    assert code.value == "CONFLICT" and "try again" in message


def test_ids_with_surrounding_whitespace_are_written_and_read_back_stripped(service: TestClient, keys: dict[Role, str]):
    # the model strips surrounding whitespace; the answer must read back what was stored
    editor = keys[Role.EDITOR]
    written = ok(service, editor, UPSERT, input=[{"id": " padded-1\t", "ciClass": "SERVER"}])["upsertCIs"]
    assert written == [{"id": "padded-1", "version": 1}]
    incident = ok(service, editor, 'mutation { createIncident(input: {id: "\\u0086inc-1\\t", title: "x", '
                                   'openedAt: "2026-11-01T00:00:00Z"}) { id } }')["createIncident"]
    assert incident == {"id": "\u0086inc-1"}
