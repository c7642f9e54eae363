"""Declared against observed dependencies: a hand-written OTLP trace export (tests/fixtures/
traces/shop.json) whose calls are worked out below, imported into a small CMDB on the real
Neo4j, then `cmdbHealth.undeclaredDependencies` / `unobservedDependencies` over GraphQL and the
CLI; and the CLI's --as-of, --what-if and impact-diff on the demo.

The export, by hand (times on 2026-12-02, from 10:00:00):
- trace 1: frontend's client span calls checkout (its server span is the child): frontend ->
  checkout, once, not twice; checkout writes orders.db.example.org (db.system, server.address);
  checkout's client span to payments fails and has no child: checkout -> payments, 1 error;
  frontend calls recommender (peer.service) and reads orders-db (db.system, db.name).
- trace 2: checkout's server span is a direct child of frontend's: frontend -> checkout again;
  checkout -> orders.db.example.org again; checkout -> payments, this time through the
  payments server span (counted once); a checkout span whose parent is not in the export (an
  orphan); a resource without service.name (its span is unattributed).
So: frontend -> checkout 2, checkout -> orders.db.example.org 2, checkout -> payments 2 (1
error), frontend -> recommender 1, frontend -> orders-db 1; 2 traces, 14 spans."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cmdb_graph.cli import app
from cmdb_graph.connection import Neo4jTarget
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store
from impact.observed import undeclared_dependencies, unobserved_dependencies
from cmdb_graph.model import CIClass
from loaders.sync.files import SourceReadError
from loaders.sync.reconcile import StoredIdentity
from loaders.traces.get import read
from loaders.traces.load import import_traces
from loaders.traces.transform import resolve_names, transform
from tests.conftest import graph_counts
from tests.invariants import check_invariants
from tests.test_as_of_what_if import ci, dep, load

EXPORT = Path(__file__).parent / "fixtures" / "traces" / "shop.json"
T0 = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)
EXPECTED_CALLS = {
    ("service", "frontend", "checkout"): (2, 0, T0 + timedelta(seconds=0.85), T0 + timedelta(seconds=60.9)),
    ("database", "checkout", "orders.db.example.org"): (2, 0, T0 + timedelta(seconds=0.3), T0 + timedelta(seconds=60.3)),
    ("service", "checkout", "payments"): (2, 1, T0 + timedelta(seconds=0.8), T0 + timedelta(seconds=60.75)),
    ("service", "frontend", "recommender"): (1, 0, T0 + timedelta(seconds=0.3), T0 + timedelta(seconds=0.3)),
    ("database", "frontend", "orders-db"): (1, 0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=1)),
}


def shop_cmdb(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path, "shop", cis=[
        ci("web", name="Web shop", external_ids={"traces": "frontend"}),
        ci("checkout", name="Checkout"),
        ci("payments", name="Payments"),
        ci("mail", name="Mail relay"),
        ci("orders-db", "Database", name="Orders", fqdn="orders.db.example.org"),
        ci("ledger", "Database", name="Ledger"),
        ci("dns", "TechnicalService", name="DNS"),
    ], relationships=[
        dep("web", "checkout"), dep("web", "dns"), dep("checkout", "orders-db"), dep("checkout", "mail", strength="soft"),
        dep("payments", "ledger"),
    ])


def relationship_digest(store: Store) -> list[Any]:
    return store.rows("MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS t, b.id AS b, properties(r) AS p "
                      "ORDER BY a, t, b")


def _close(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 1e-3


# --- without a database -----------------------------------------------------------------------


def test_the_hand_written_export_gives_the_calls_worked_out_by_hand():
    summary = transform(read(EXPORT))
    assert summary.errors == []
    got = {(c.kind, c.caller, c.callee): c for c in summary.calls}
    assert set(got) == set(EXPECTED_CALLS)
    for key, (calls, errors, first, last) in EXPECTED_CALLS.items():
        assert (got[key].calls, got[key].errors) == (calls, errors), key
        assert _close(got[key].first_seen, first) and _close(got[key].last_seen, last), key
    assert (summary.traces, summary.spans, summary.unattributed, summary.orphans) == (2, 14, 1, 1)
    assert sorted(summary.services) == ["checkout", "frontend", "payments"]
    assert _close(summary.services["checkout"], T0 + timedelta(seconds=61.5))


def test_json_lines_and_gzip_read_as_the_same_export(tmp_path: Path):
    body = json.loads(EXPORT.read_text())
    halves = [{"resourceSpans": body["resourceSpans"][:2]}, {"resourceSpans": body["resourceSpans"][2:]}]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(h) for h in halves) + "\n")
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(EXPORT.read_bytes()))
    lines, zipped = transform(read(tmp_path / "a.jsonl")), transform(read(tmp_path / "b.json.gz"))
    assert lines.calls == zipped.calls == transform(read(EXPORT)).calls  # a trace split across requests still joins


def test_a_broken_export_is_refused_with_its_file_and_line(tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"resourceSpans": []}\n{"resourceSpans": [}\n')
    with pytest.raises(SourceReadError, match=r"bad.jsonl:2: file: not JSON"):
        read(bad)
    (tmp_path / "other.json").write_text('{"spans": []}')
    with pytest.raises(SourceReadError, match=r"other.json: file: not an OTLP trace export"):
        read(tmp_path / "other.json")
    body = json.loads(EXPORT.read_text())
    del body["resourceSpans"][1]["scopeSpans"][0]["spans"][2]["spanId"]
    (tmp_path / "nospan.json").write_text(json.dumps(body))
    summary = transform(read(tmp_path / "nospan.json"))
    assert [str(e) for e in summary.errors] == [
        f"{tmp_path / 'nospan.json'}: resourceSpans[1].scopeSpans[0].spans[2].spanId: missing: every span needs its "
        "trace and span id"]


def test_names_resolve_by_external_id_then_id_name_fqdn_and_address_and_ambiguity_is_no_answer():
    identities = [StoredIdentity(ci_id, CIClass.APPLICATION, name, None, fqdn, ips, external)
                  for ci_id, name, fqdn, ips, external in [
                      ("web", "Web shop", None, (), {"traces": "frontend"}), ("checkout", "Checkout", None, (), {}),
                      ("db-1", "Orders", "orders.db.example.org.", ("10.0.0.5",), {}), ("db-2", "orders", None, (), {}),
                      ("frontend", "Old frontend", None, (), {})]]
    found = resolve_names(["frontend", "CHECKOUT", "Orders.DB.example.org", "10.0.0.5", "orders", "nobody"], identities)
    assert {n: (r.ci, r.reason) for n, r in found.items()} == {
        "frontend": ("web", "external id"),  # the telemetry name a CI claims wins over another CI's id
        "CHECKOUT": ("checkout", "name"),
        "Orders.DB.example.org": ("db-1", "fqdn"),
        "10.0.0.5": ("db-1", "ip address"),
        "orders": (None, "ambiguous: name of db-1, db-2"),
        "nobody": (None, "no CI has this id, name, FQDN or address"),
    }


def db_call(service: str, database: str, span: str, trace: str = "1" * 32, end: int = 1796205601_000_000_000) -> dict:
    """One export request: `service` reads `database` once (a client span with db.system)."""
    attrs = [{"key": "db.system", "value": {"stringValue": "postgresql"}},
             {"key": "db.namespace", "value": {"stringValue": database}}]
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                               "scopeSpans": [{"spans": [{"traceId": trace, "spanId": span, "name": "SELECT", "kind": 3,
                                                          "startTimeUnixNano": str(end - 1000), "endTimeUnixNano": str(end),
                                                          "attributes": attrs}]}]}]}


def test_odd_but_valid_exports_read_and_broken_ones_say_where(tmp_path: Path):
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + EXPORT.read_bytes())  # a byte order mark, as some editors write
    assert transform(read(bom)).calls == transform(read(EXPORT)).calls
    separator = db_call("api", "orders\u2028db", "b1")  # JSON may hold U+2028 raw; only "\n" ends a line
    (tmp_path / "sep.jsonl").write_text(json.dumps(separator, ensure_ascii=False) + "\n" + json.dumps(db_call("api", "x", "b2")))
    assert {c.callee for c in transform(read(tmp_path / "sep.jsonl")).calls} == {"orders\u2028db", "x"}
    pretty = json.dumps(json.loads(EXPORT.read_text()), indent=2).splitlines()
    pretty[3] += ","  # a stray comma on line 4 of a pretty-printed document, line 5 of the file
    (tmp_path / "pretty.json").write_text("\n" + "\n".join(pretty))
    with pytest.raises(SourceReadError, match=r"pretty.json:5: file: not JSON"):
        read(tmp_path / "pretty.json")
    (tmp_path / "cut.json.gz").write_bytes(gzip.compress(EXPORT.read_bytes())[:40] + b"\x00" * 40)
    with pytest.raises(SourceReadError, match=r"cut.json.gz: file: cannot be read"):
        read(tmp_path / "cut.json.gz")
    (tmp_path / "resource.json").write_text(json.dumps({"resourceSpans": [{"resource": "api", "scopeSpans": []}]}))
    assert [str(e) for e in transform(read(tmp_path / "resource.json")).errors] == [
        f"{tmp_path / 'resource.json'}: resourceSpans[0].resource: expected an object"]


# --- on the real Neo4j ------------------------------------------------------------------------


def test_an_import_confirms_declared_dependencies_and_a_second_import_changes_nothing(store: Store, tmp_path: Path):
    shop_cmdb(store, tmp_path)
    report = import_traces(store, read(EXPORT), actor="test")
    assert report.ok and report.confirmed == 2 and report.recorded == 0
    assert report.unresolved == {"recommender": "no CI has this id, name, FQDN or address"}
    assert report.services == {"checkout": "checkout", "frontend": "web", "payments": "payments"}
    declared = {(c.caller_ci, c.callee_ci) for c in report.calls if c.declared}
    assert declared == {("web", "checkout"), ("checkout", "orders-db")}

    stamped = {(r["a"], r["b"]): r["p"] for r in relationship_digest(store) if "observed_at" in r["p"]}
    assert set(stamped) == {("web", "checkout"), ("checkout", "orders-db")}
    assert stamped[("web", "checkout")]["observed_calls"] == 2
    assert _close(stamped[("web", "checkout")]["observed_at"].to_native(), T0 + timedelta(seconds=60.9))
    traced = {r["id"] for r in store.rows("MATCH (c:CI) WHERE c.traced_at IS NOT NULL RETURN c.id AS id")}
    assert traced == {"web", "checkout", "payments"}
    assert store.value("MATCH (o:ObservedCall) RETURN count(o)") == 5
    # stamping is bookkeeping: no version moved, no audit entry written
    assert store.value("MATCH (c:CI) RETURN max(c.version)") == 1
    assert check_invariants(store.driver, store.database) == []

    before, rels = graph_counts(store.driver), relationship_digest(store)
    again = import_traces(store, read(EXPORT), actor="test")
    assert again.ok and again.already_imported == [str(EXPORT)] and again.calls == []
    assert graph_counts(store.driver) == before and relationship_digest(store) == rels


def test_an_appended_or_recompressed_export_counts_each_request_once(store: Store, tmp_path: Path):
    load(store, tmp_path, "api", cis=[ci("api", name="API"), ci("orders", "Database", name="orders")],
         relationships=[dep("api", "orders")])
    requests = [db_call("api", "orders", f"c{i}", trace=f"{i:032x}") for i in range(1, 4)]
    log = tmp_path / "otel.jsonl"  # the Collector's file exporter appends a line per request
    log.write_text(json.dumps(requests[0]) + "\n")
    assert import_traces(store, read(log), actor="test").confirmed == 1
    log.write_text(log.read_text() + json.dumps(requests[1]) + "\n" + json.dumps(requests[2]) + "\n")
    rotated = tmp_path / "rotated" / "otel-1.jsonl.gz"
    rotated.parent.mkdir()
    rotated.write_bytes(gzip.compress(log.read_bytes()))
    second = import_traces(store, read(log) + read(rotated), actor="test")
    assert (second.requests, second.requests_skipped, second.already_imported) == (6, 4, [str(rotated)])
    assert store.value("MATCH (o:ObservedCall) RETURN o.calls") == 3  # not 1 + 3, nor 1 + 3 + 3
    assert store.value("MATCH (:CI {id: 'api'})-[r:DEPENDS_ON]->(:CI {id: 'orders'}) RETURN r.observed_calls") == 3
    assert store.value("MATCH (t:TraceImport) RETURN count(t)") == 3
    before = graph_counts(store.driver)
    again = import_traces(store, read(rotated), actor="test")
    assert again.already_imported == [str(rotated)] and again.calls == [] and graph_counts(store.driver) == before


def test_a_call_to_a_member_confirms_the_group_the_caller_declares(store: Store, tmp_path: Path):
    load(store, tmp_path, "pool", cis=[
        ci("api", name="API"), ci("pool", "RedundancyGroup", name="Orders pool", min_members=1),
        ci("orders-a", "Database", name="orders-a"), ci("orders-b", "Database", name="orders-b"),
    ], relationships=[dep("api", "pool"), {"from": "pool", "to": "orders-a", "type": "HAS_MEMBER"},
                      {"from": "pool", "to": "orders-b", "type": "HAS_MEMBER"}])
    path = tmp_path / "pool.json"
    path.write_text(json.dumps(db_call("api", "orders-a", "d1")))
    report = import_traces(store, read(path), actor="test", record_relationships=True)
    assert report.confirmed == 1 and report.recorded == 0  # no api -> orders-a written beside api -> pool
    [call] = report.calls
    assert (call.callee_ci, call.declared, call.declared_via) == ("orders-a", True, ["pool"])
    assert store.value("MATCH (:CI {id: 'api'})-[r:DEPENDS_ON]->(:CI {id: 'pool'}) RETURN r.observed_calls") == 1
    assert undeclared_dependencies(store) == []
    assert unobserved_dependencies(store, 36500) == []


def test_undeclared_and_unobserved_dependencies_as_worked_out(store: Store, tmp_path: Path):
    shop_cmdb(store, tmp_path)
    import_traces(store, read(EXPORT), actor="test")
    undeclared = {(u.caller, u.callee): u for u in undeclared_dependencies(store)}
    assert set(undeclared) == {("checkout", "payments"), ("frontend", "orders-db"), ("frontend", "recommender")}
    assert undeclared[("checkout", "payments")].reason == "no DEPENDS_ON from checkout to payments"
    assert (undeclared[("checkout", "payments")].calls, undeclared[("checkout", "payments")].errors) == (2, 1)
    assert undeclared[("frontend", "orders-db")].declared_indirectly  # web -> checkout -> orders-db
    assert not undeclared[("checkout", "payments")].declared_indirectly
    assert undeclared[("frontend", "recommender")].callee_ci is None
    assert undeclared[("frontend", "recommender")].caller_ci.id == "web"

    def unobserved(now: datetime, days: float) -> dict[tuple[str, str], Any]:
        return {(u.source.id, u.target.id): u for u in unobserved_dependencies(store, days, now)}

    # three days on: only what was never seen; dns is not something traces would see called
    soon = unobserved(T0 + timedelta(days=3), 7)
    assert set(soon) == {("checkout", "mail"), ("payments", "ledger")}
    assert soon[("checkout", "mail")].observed_at is None and soon[("checkout", "mail")].data_source == "native"
    # twenty days on, the observed ones have aged past a week too
    late = unobserved(T0 + timedelta(days=20), 7)
    assert set(late) == {("checkout", "mail"), ("payments", "ledger"), ("web", "checkout"), ("checkout", "orders-db")}
    assert late[("web", "checkout")].days_unobserved == 20.0
    assert set(unobserved(T0 + timedelta(days=20), 30)) == set(soon)


def test_recording_observed_edges_writes_audited_relationships_with_source_traces(store: Store, tmp_path: Path):
    shop_cmdb(store, tmp_path)
    report = import_traces(store, read(EXPORT), actor="tracer", record_relationships=True)
    assert report.recorded == 2
    assert {(c.caller_ci, c.callee_ci) for c in report.calls if c.recorded} == {("checkout", "payments"),
                                                                              ("web", "orders-db")}
    written = {(r["a"], r["b"]): r["p"] for r in relationship_digest(store) if r["p"].get("source") == "traces"}
    assert set(written) == {("checkout", "payments"), ("web", "orders-db")}
    assert all(p["strength"] == "soft" and p["observed_calls"] >= 1 for p in written.values())
    audited = store.rows("MATCH (e:AuditEntry {actor: 'tracer'}) RETURN e.entity_id AS id, e.action AS action")
    assert len(audited) == 2 and {a["action"] for a in audited} == {"create"}
    assert [(u.caller, u.callee) for u in undeclared_dependencies(store)] == [("frontend", "recommender")]
    assert check_invariants(store.driver, store.database) == []


def test_a_dry_run_writes_nothing(store: Store, tmp_path: Path):
    shop_cmdb(store, tmp_path)
    before, rels = graph_counts(store.driver), relationship_digest(store)
    report = import_traces(store, read(EXPORT), actor="test", record_relationships=True, dry_run=True)
    assert report.dry_run and report.recorded == 2 and report.confirmed == 2
    assert graph_counts(store.driver) == before and relationship_digest(store) == rels


# --- GraphQL and the CLI ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(neo4j_target: Neo4jTarget, driver) -> Iterator[TestClient]:
    from cmdb_graph.api.app import create_app

    with TestClient(create_app(Settings(api_auth=False), target=neo4j_target)) as test_client:
        yield test_client


HEALTH = """
query Health($days: Float) {
  cmdbHealth {
    undeclaredDependencies { kind caller callee calls errors lastSeen declaredIndirectly reason
                             callerCi { id } calleeCi { id } }
    unobservedDependencies(unobservedDays: $days) { source { id } target { id } strength dataSource observedAt
                                                     daysUnobserved sourceTracedAt }
  }
}
"""


def test_cmdb_health_answers_both_over_graphql(store: Store, tmp_path: Path, client: TestClient):
    shop_cmdb(store, tmp_path)
    import_traces(store, read(EXPORT), actor="test")
    body = client.post("/graphql", json={"query": HEALTH, "variables": {"days": 36500}}).json()
    assert "errors" not in body, body
    health = body["data"]["cmdbHealth"]
    assert {(u["callerCi"]["id"] if u["callerCi"] else None, u["calleeCi"]["id"] if u["calleeCi"] else None)
            for u in health["undeclaredDependencies"]} == {("checkout", "payments"), ("web", "orders-db"), ("web", None)}
    assert {(u["source"]["id"], u["target"]["id"], u["observedAt"]) for u in health["unobservedDependencies"]} == {
        ("checkout", "mail", None), ("payments", "ledger", None)}
    refused = client.post("/graphql", json={"query": HEALTH, "variables": {"days": -1}}).json()
    assert refused["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert refused["errors"][0]["path"] == ["cmdbHealth", "unobservedDependencies"]


def test_the_cli_imports_traces_and_health_lists_what_differs(store: Store, tmp_path: Path, neo4j_env):
    shop_cmdb(store, tmp_path)
    runner = CliRunner()
    done = runner.invoke(app, ["import", "traces", str(EXPORT), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["confirmed"] == 2
    again = runner.invoke(app, ["import", "traces", str(EXPORT)])
    assert again.exit_code == 0 and "already imported, skipped" in again.output
    health = runner.invoke(app, ["health", "--json", "--unobserved-days", "36500"])
    assert health.exit_code == 0, health.output
    found = json.loads(health.output)
    assert {(u["caller"], u["callee"]) for u in found["undeclared_dependencies"]} == {
        ("checkout", "payments"), ("frontend", "orders-db"), ("frontend", "recommender")}
    assert {(u["source"]["id"], u["target"]["id"]) for u in found["unobserved_dependencies"]} == {
        ("checkout", "mail"), ("payments", "ledger")}
    table = runner.invoke(app, ["health"])
    assert "Observed in traces, not declared" in table.output and "recommender" in table.output
    pointless = runner.invoke(app, ["import", "traces", str(EXPORT), "--delete-stale"])
    assert pointless.exit_code == 1 and "--delete-stale: not for traces" in pointless.output
    misplaced = runner.invoke(app, ["import", "netbox", str(EXPORT), "--record-relationships"])
    assert misplaced.exit_code == 1 and "for traces only" in misplaced.output

    before = graph_counts(store.driver)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"resourceSpans": []}\n{oops\n')
    refused = runner.invoke(app, ["import", "traces", str(bad), "--record-relationships"])
    assert refused.exit_code == 1 and f"{bad}:2" in refused.output and "nothing was written" in refused.output
    assert graph_counts(store.driver) == before


@pytest.fixture(scope="module")
def demo(driver, neo4j_target: Neo4jTarget) -> Iterator[None]:
    """The demo as its command loads it, traces included."""
    import os

    saved = {k: os.environ.get(k) for k in ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD")}
    os.environ.update(NEO4J_URI=neo4j_target.uri, NEO4J_USER=neo4j_target.user, NEO4J_PASSWORD=neo4j_target.password)
    try:
        loaded = CliRunner().invoke(app, ["demo"])
        assert loaded.exit_code == 0, loaded.output
        assert "demo traces: " in loaded.output
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_json(*args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_demo_shows_an_undeclared_call_and_an_unobserved_dependency(demo, neo4j_env):
    found = run_json("health")
    undeclared = {(u["caller_ci"]["id"] if u["caller_ci"] else u["caller"],
                   u["callee_ci"]["id"] if u["callee_ci"] else u["callee"]) for u in found["undeclared_dependencies"]}
    assert {("app-checkout", "app-loyalty"), ("app-storefront", "recommendations")} <= undeclared
    unobserved = {(u["source"]["id"], u["target"]["id"]) for u in found["unobserved_dependencies"]}
    assert ("app-storefront", "db-sessions") in unobserved
    assert ("app-storefront", "db-catalog") not in unobserved  # traces confirmed it a minute ago


def test_the_cli_answers_as_of_what_if_and_impact_diff_on_the_demo(demo, neo4j_env, driver, tmp_path: Path):
    before = graph_counts(driver)
    at = datetime.now(timezone.utc).isoformat()
    now = run_json("impact", "db-catalog")
    then = run_json("impact", "db-catalog", "--as-of", at)
    assert then["as_of"] is not None
    assert {r["ci"]["id"] for r in then["impacted"]} == {r["ci"]["id"] for r in now["impacted"]}
    assert run_json("ci", "show", "db-catalog", "--as-of", at)["ci"]["name"] == "Catalogue database"
    assert run_json("dependencies", "app-search", "--as-of", at, "--max-depth", "1")
    early = CliRunner().invoke(app, ["ci", "show", "db-catalog", "--as-of", "2000-01-01"])
    assert early.exit_code == 1 and "no CI with id 'db-catalog' as of 2000-01-01" in early.output

    plan = tmp_path / "plan.yaml"
    plan.write_text("whatIf:\n  - op: RETIRE_CI\n    id: app-search\n")
    after = run_json("impact", "db-catalog", "--what-if", str(plan))
    assert after["what_if"] == 1 and "app-search" not in {r["ci"]["id"] for r in after["impacted"]}
    diff = run_json("impact-diff", "db-catalog", "--what-if", str(plan))
    assert diff["no_longer_impacted"] >= 1 and diff["newly_impacted"] == 0
    assert run_json("change-impact", "CHG-0001", "--what-if", str(plan))["what_if"] == 1

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("- op: RETIRE_CI\n  id: app-search\n- op: ADD_RELATIONSHIP\n  source: app-search\n  target: nowhere\n")
    refused = CliRunner().invoke(app, ["impact", "db-catalog", "--what-if", str(wrong)])
    assert refused.exit_code == 1 and f"{wrong}:5: whatIf[1].target" in refused.output, refused.output
    shouted = tmp_path / "shouted.yaml"  # spelled as GraphQL spells it; a bad value named on its own line
    shouted.write_text("- op: ADD_RELATIONSHIP\n  source: app-search\n  target: db-catalog-replica\n  strength: SOFT\n"
                       "- op: add_relationship\n  source: app-search\n  target: ts-backup\n  type: depends_on\n"
                       "  strength: firm\n")
    refused = CliRunner().invoke(app, ["impact", "db-catalog", "--what-if", str(shouted)])
    assert refused.exit_code == 1 and f"{shouted}:9: whatIf[1].strength" in refused.output, refused.output
    shouted.write_text(shouted.read_text().replace("firm", "Hard"))
    assert run_json("impact", "db-catalog", "--what-if", str(shouted))["what_if"] == 2
    typo = tmp_path / "typo.yaml"
    typo.write_text("- op: RETIRE_CI\n  id: app-search\n- op: RETIRE\n  id: x\n")
    refused = CliRunner().invoke(app, ["impact-diff", "db-catalog", "--what-if", str(typo)])
    assert refused.exit_code == 1 and f"{typo}:3: whatIf[1].op" in refused.output, refused.output
    assert graph_counts(driver) == before  # a what-if writes nothing


OPERATIONS = Path(__file__).resolve().parents[1] / "graphql" / "operations"


def operation(client: TestClient, name: str, **variables: Any) -> dict[str, Any]:
    body = client.post("/graphql", json={"query": (OPERATIONS / f"{name}.graphql").read_text(),
                                         "variables": variables}).json()
    assert "errors" not in body, body
    return body["data"]


def test_each_field_answers_over_graphql_on_the_demo(demo, client: TestClient, driver):
    """The dashboards' operations for as-of, what-if, confidence and traces, on the demo with
    its traces: a relationship removed after the outage still counts as of the outage."""
    health = operation(client, "DeclaredVsObserved", days=30)["cmdbHealth"]
    undeclared = {(u["callerCi"]["id"], u["calleeCi"]["id"] if u["calleeCi"] else u["callee"])
                  for u in health["undeclaredDependencies"]}
    assert {("app-checkout", "app-loyalty"), ("app-storefront", "recommendations")} <= undeclared
    unobserved = {(u["source"]["id"], u["target"]["id"]): u for u in health["unobservedDependencies"]}
    assert unobserved[("app-storefront", "db-sessions")]["observedAt"] is None

    trusted = operation(client, "ImpactConfidence", failed=["db-catalog"])["impact"]
    confidence = {i["ci"]["id"]: i["confidence"] for i in trusted["impacted"]}
    # the storefront's read of the catalogue was traced a minute ago (0.9); the shop's
    # dependency on the storefront was only declared (demo, 0.6), and a path is its weakest link
    assert confidence["db-catalog"] == 1.0 and confidence["app-storefront"] == pytest.approx(0.9, abs=0.01)
    assert confidence["svc-online-shop"] == pytest.approx(0.6, abs=0.01)
    sure = operation(client, "ImpactConfidence", failed=["db-catalog"], minConfidence=0.8)["impact"]
    assert {i["ci"]["id"] for i in sure["impacted"]} == {c for c, v in confidence.items() if v >= 0.8}
    assert "svc-online-shop" in confidence and sure["businessServices"] == []

    before = graph_counts(driver)
    plan = [{"op": "ADD_CI", "ci": {"id": "db-catalog-v2", "name": "Catalogue v2", "ciClass": "DATABASE"}},
            {"op": "ADD_RELATIONSHIP", "source": "app-search", "target": "db-catalog-v2"},
            {"op": "REMOVE_RELATIONSHIP", "source": "app-search", "target": "db-catalog"}]
    planned = operation(client, "MigrationPlan", failed=["db-catalog"], plan=plan, changeId="CHG-0001")
    diff = planned["impactDiff"]
    assert (diff["newlyImpacted"], diff["noLongerImpacted"], diff["stateChanged"]) == (0, 1, 0)
    assert [(c["ci"]["id"], c["before"], c["after"]) for c in diff["cis"]] == [("app-search", "DOWN", None)]
    assert planned["changeImpact"]["whatIf"] == 3
    assert graph_counts(driver) == before  # nothing written

    outage = datetime.now(timezone.utc).isoformat()
    removed = client.post("/graphql", json={"query": 'mutation { deleteRelationship(source: "app-search", '
                                                     'target: "db-catalog", type: DEPENDS_ON) { deleted } }'}).json()
    assert removed["data"]["deleteRelationship"]["deleted"] is True, removed
    try:
        review = operation(client, "PostIncidentReview", failed=["db-catalog"], at=outage, id="app-search")
        now = operation(client, "ImpactConfidence", failed=["db-catalog"])["impact"]
        assert "app-search" in {i["ci"]["id"] for i in review["impact"]["impacted"]}
        assert "app-search" not in {i["ci"]["id"] for i in now["impacted"]}
        assert review["impact"]["asOf"] is not None and review["ci"]["asOf"] is not None
        assert "db-catalog" in {r["target"]["id"] for r in review["ci"]["dependsOn"]}
        assert ("db-catalog", 1) in {(d["ci"]["id"], d["distance"]) for d in review["dependencies"]}
    finally:
        restored = client.post("/graphql", json={"query": 'mutation { upsertRelationships(input: '
                                                          '[{source: "app-search", target: "db-catalog"}]) { version } }'})
        assert "errors" not in restored.json()
