"""The process rules through the GraphQL API on the real Neo4j: change approval (impact attached,
rollback plan, windows and blackouts, the standard-change catalogue), releases that verify and
roll back as one, problems that leave a knowledge article, incidents recorded with their SLA
deadlines; and the reports from the CLI and GraphQL on the demo enterprise."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cmdb_graph.cli import app
from cmdb_graph.demo import DEMO_ANCHOR, build_demo
from cmdb_graph.model import Change, KnowledgeArticle
from cmdb_graph.processes.changes import CATALOGUE_APPROVER
from cmdb_graph.store import Store
from loaders.native import load_paths
from tests.conftest import DATA
from tests.test_api import client, data, error  # noqa: F401 - the module's client fixture

CHANGE = "id state approvalRoute riskScore impactedServices notify outsideMaintenanceWindow inBlackout approvedBy approvedAt version"
UPDATE_CHANGE = (f"mutation($id: ID!, $v: Int!, $patch: ChangePatch!) {{ updateChange(id: $id, expectedVersion: $v, "
                 f"patch: $patch) {{ {CHANGE} outcome }} }}")
CREATE_CHANGE = f"mutation($input: ChangeInput!) {{ createChange(input: $input) {{ {CHANGE} }} }}"


@pytest.fixture
def shop(store: Store, tmp_path: Path) -> Store:
    """The shop of tests/data/shop.yaml with an owner on the business service and a test
    server outside production."""
    assert load_paths(store, [DATA / "shop.yaml"], actor="loader").ok
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({
        "cis": [{"id": "shop", "class": "BusinessService", "criticality": 1, "owner": "team-web"},
                {"id": "test-1", "class": "Server", "environment": "test", "owner": "team-web"}],
        "relationships": [{"from": "shop", "to": "test-1", "strength": "soft"}],
    }))
    assert load_paths(store, [extra], actor="loader").ok
    return store


def _move(client: TestClient, change_id: str, version: int, **patch) -> dict:
    return data(client, UPDATE_CHANGE, id=change_id, v=version, patch=patch)["updateChange"]


def test_a_normal_change_is_assessed_with_its_impact_then_approved_only_with_a_rollback_plan_and_a_cab(client, shop):
    created = data(client, CREATE_CHANGE, input={
        "id": "CHG-N", "title": "Patch the database", "type": "NORMAL", "targets": ["db-1"],
        "plannedStart": "2026-12-08T01:00:00Z", "plannedEnd": "2026-12-08T03:00:00Z"})["createChange"]
    assert created["state"] == "REQUESTED" and created["approvalRoute"] is None
    skipped = error(client, UPDATE_CHANGE, id="CHG-N", v=1, patch={"state": "APPROVED"})
    assert skipped["extensions"]["fields"][0]["field"] == "patch.state"
    assert "change-impact analysis attached" in skipped["message"]

    assessed = _move(client, "CHG-N", 1, state="ASSESSED")
    assert assessed["approvalRoute"] == "CAB" and assessed["riskScore"] > 0
    assert assessed["impactedServices"] == ["shop"] and assessed["notify"] == ["team-web"]
    assert assessed["outsideMaintenanceWindow"] is False and assessed["inBlackout"] is False  # inside MW1's weekly window

    no_plan = error(client, UPDATE_CHANGE, id="CHG-N", v=2, patch={"state": "APPROVED", "approvedBy": "CAB 2026-12-01"})
    assert no_plan["extensions"]["fields"] == [{"field": "patch.rollbackPlan",
                                                "message": "a normal change needs a rollback plan before approval"}]
    no_cab = error(client, UPDATE_CHANGE, id="CHG-N", v=2, patch={"state": "APPROVED", "rollbackPlan": "restore snapshot"})
    assert no_cab["extensions"]["fields"][0]["field"] == "patch.approvedBy"
    approved = _move(client, "CHG-N", 2, state="APPROVED", rollbackPlan="restore snapshot", approvedBy="CAB 2026-12-01")
    assert approved["state"] == "APPROVED" and approved["approvedAt"] is not None
    version = approved["version"]
    for state in ("SCHEDULED", "IMPLEMENTING", "IMPLEMENTED", "REVIEWED", "CLOSED"):
        moved = _move(client, "CHG-N", version, state=state)
        assert moved["state"] == state
        version = moved["version"]


def test_a_change_in_a_blackout_or_outside_its_windows_needs_an_override_reason(client, shop):
    data(client, CREATE_CHANGE, input={
        "id": "CHG-B", "title": "Patch at Christmas", "type": "EMERGENCY", "targets": ["db-1"],
        "plannedStart": "2026-12-25T10:00:00Z", "plannedEnd": "2026-12-25T11:00:00Z", "rollbackPlan": "restore"})
    assessed = _move(client, "CHG-B", 1, state="ASSESSED")
    assert assessed["approvalRoute"] == "EMERGENCY_CAB"
    assert assessed["inBlackout"] is True and assessed["outsideMaintenanceWindow"] is True
    refused = error(client, UPDATE_CHANGE, id="CHG-B", v=2, patch={"state": "APPROVED", "approvedBy": "ECAB"})
    assert refused["extensions"]["fields"][0]["field"] == "patch.overrideReason"
    assert "outside its targets' maintenance windows and runs inside a blackout" in refused["message"]
    assert shop.get_record(Change, "CHG-B")[1] == 2  # nothing written
    approved = _move(client, "CHG-B", 2, state="APPROVED", approvedBy="ECAB",
                     overrideReason="security fix that cannot wait for January")
    assert approved["state"] == "APPROVED"


def test_a_standard_change_from_the_catalogue_is_pre_approved_outside_production_only(client, shop):
    outside = data(client, CREATE_CHANGE, input={
        "id": "CHG-S1", "title": "Upgrade agent", "type": "STANDARD", "category": "non-production software",
        "targets": ["test-1"]})["createChange"]
    assert outside["state"] == "APPROVED" and outside["approvalRoute"] == "PRE_APPROVED"
    assert outside["approvedBy"] == CATALOGUE_APPROVER
    inside = data(client, CREATE_CHANGE, input={
        "id": "CHG-S2", "title": "Upgrade agent", "type": "STANDARD", "category": "non-production software",
        "targets": ["web-1"]})["createChange"]
    assert inside["state"] == "REQUESTED" and inside["approvalRoute"] == "CAB"
    not_catalogued = data(client, CREATE_CHANGE, input={
        "id": "CHG-S3", "title": "Swap disks", "type": "STANDARD", "category": "storage", "targets": ["test-1"]})["createChange"]
    assert not_catalogued["state"] == "REQUESTED" and not_catalogued["approvalRoute"] == "CAB"


def test_a_release_verifies_only_when_its_changes_are_done_and_rolls_back_with_them(client, shop):
    update = ("mutation($v: Int!, $patch: ReleasePatch!) { updateRelease(id: \"REL1\", expectedVersion: $v, patch: $patch) "
              "{ state version verifiedAt } }")
    version = 1
    for state in ("BUILDING", "TESTING", "SCHEDULED", "DEPLOYED"):
        version = data(client, update, v=version, patch={"state": state})["updateRelease"]["version"]
    not_done = error(client, update, v=version, patch={"state": "VERIFIED"})
    assert "not yet: CHG1" in not_done["message"]
    no_reason = error(client, update, v=version, patch={"state": "ROLLED_BACK"})
    assert no_reason["extensions"]["fields"][0]["field"] == "patch.rollbackReason"
    data(client, update, v=version, patch={"state": "ROLLED_BACK", "rollbackReason": "checkout errors"})
    change = shop.get_record(Change, "CHG1")[0]
    assert change.state.value == "rolled_back" and change.outcome == "rolled back with release REL1: checkout errors"


def test_resolving_a_problem_writes_its_knowledge_article_with_the_analysis(client, shop):
    update = ("mutation($v: Int!, $patch: ProblemPatch!) { updateProblem(id: \"PRB-R\", expectedVersion: $v, patch: $patch) "
              "{ status knownError documentedIn { id } resolvedAt version } }")
    data(client, "mutation($input: ProblemInput!) { createProblem(input: $input) { id } }",
         input={"id": "PRB-R", "title": "Checkout timeouts", "rootCauseIn": ["db-1"], "symptoms": "Checkout hangs"})
    data(client, update, v=1, patch={"status": "INVESTIGATING"})
    refused = error(client, update, v=2, patch={"status": "RESOLVED"})
    assert refused["extensions"]["fields"][0]["field"] == "patch.rootCause"
    resolved = data(client, update, v=2, patch={
        "status": "RESOLVED", "rootCause": "Connection pool too small", "solution": "Pool raised to 200",
        "fiveWhys": ["Checkout hangs", "The app waits for connections", "The pool is exhausted at peak",
                     "The pool was sized for last year's peak"],
        "causeCategories": ["CAPACITY", "PROCESS"]})["updateProblem"]
    assert resolved["documentedIn"] == [{"id": "KB-PRB-R"}] and resolved["resolvedAt"] is not None
    article = shop.get_record(KnowledgeArticle, "KB-PRB-R")[0]
    assert article.title == "Resolved problem: Checkout timeouts" and article.about == ["db-1"]
    assert "Root cause: Connection pool too small" in article.body and "4. The pool was sized" in article.body
    assert article.tags == ["problem", "capacity", "process"]


def test_a_known_error_updates_the_article_it_is_documented_in(client, shop):
    update = ("mutation($v: Int!, $patch: ProblemPatch!) { updateProblem(id: \"PRB-K\", expectedVersion: $v, patch: $patch) "
              "{ status knownError documentedIn { id } version } }")
    data(client, "mutation($input: ProblemInput!) { createProblem(input: $input) { id } }",
         input={"id": "PRB-K", "title": "DB locks at night", "rootCauseIn": ["db-1"], "documentedIn": ["KB1"],
                "status": "INVESTIGATING"})
    known = data(client, update, v=1, patch={"status": "KNOWN_ERROR", "rootCause": "Batch job", "workaround": "restart"})
    assert known["updateProblem"]["knownError"] is True and known["updateProblem"]["documentedIn"] == [{"id": "KB1"}]
    article = shop.get_record(KnowledgeArticle, "KB1")[0]
    assert article.title == "Known error: DB locks at night" and "Workaround: restart" in article.body
    assert article.tags == ["known-error"]


def test_an_incident_is_recorded_with_the_deadlines_of_its_services_sla_and_its_first_response_stamped(client, shop):
    created = data(client, "mutation($input: IncidentInput!) { createIncident(input: $input) { responseDue resolutionDue } }",
                   input={"id": "INC-D", "title": "db slow", "openedAt": "2026-11-20T10:00:00Z", "affects": ["db-1"]})
    assert created["createIncident"] == {"responseDue": "2026-11-20T10:15:00+00:00",
                                         "resolutionDue": "2026-11-20T14:00:00+00:00"}
    moved = data(client, "mutation { updateIncident(id: \"INC-D\", expectedVersion: 1, patch: {status: ASSESSED}) "
                         "{ respondedAt } }")
    assert moved["updateIncident"]["respondedAt"] is not None
    deadlines = data(client, "{ incidentDeadlines(id: \"INC-D\") { services responseSla responseBreached } }")
    assert deadlines["incidentDeadlines"] == {"services": ["shop"], "responseSla": "sla-shop", "responseBreached": True}


@pytest.fixture
def demo(store: Store, tmp_path: Path) -> Store:
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(build_demo()))
    assert load_paths(store, [path], actor="demo").ok
    return store


PERIOD = ["--from", (DEMO_ANCHOR - timedelta(days=30)).isoformat(), "--to", DEMO_ANCHOR.isoformat()]


def test_the_reports_on_the_demo_from_the_cli_and_graphql_agree(client, demo, neo4j_env):
    runner = CliRunner()
    acceptance = runner.invoke(app, ["report", "acceptance", *PERIOD, "--format", "json"])
    report = json.loads(acceptance.stdout)
    assert acceptance.exit_code == (0 if report["passed"] else 1)
    assert [c["key"] for c in report["criteria"]] == [
        "devices_under_management", "knowledge_entries", "timely_response_rate", "timely_resolution_rate", "escalation_rate"]
    knowledge = next(c for c in report["criteria"] if c["key"] == "knowledge_entries")
    assert knowledge["value"] >= 100 and knowledge["passed"]

    kpis = runner.invoke(app, ["report", "kpi", *PERIOD, "--format", "csv"])
    assert kpis.exit_code == 0, kpis.output
    rows = list(csv.DictReader(io.StringIO(kpis.stdout)))
    by_name = {(r["area"], r["kpi"]): r for r in rows}
    assert {("incidents", "opened"), ("changes", "success rate"), ("service levels", "availability attainment")} <= set(by_name)

    query = ("query($f: DateTime, $t: DateTime) { acceptanceReport(from: $f, to: $t) { passed criteria { key value passed } } "
             "kpiReport(from: $f, to: $t) { kpis { area name value } } }")
    answer = data(client, query, f=PERIOD[1], t=PERIOD[3])
    assert answer["acceptanceReport"]["passed"] == report["passed"]
    assert [c["value"] for c in answer["acceptanceReport"]["criteria"]] == [c["value"] for c in report["criteria"]]
    opened = next(k for k in answer["kpiReport"]["kpis"] if (k["area"], k["name"]) == ("incidents", "opened"))
    assert str(int(opened["value"])) == by_name[("incidents", "opened")]["value"].split(".")[0]

    table = runner.invoke(app, ["report", "kpi", *PERIOD])
    assert table.exit_code == 0 and "success rate" in table.stdout


def test_scenarios_and_problem_candidates_run_on_the_demo(demo, neo4j_env):
    runner = CliRunner()
    result = runner.invoke(app, ["scenarios", "--key", "site-loss", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["id"] for r in rows} == {"site-loss:dc-fra", "site-loss:dc-ams"}
    candidates = runner.invoke(app, ["problem", "candidates", "--from", "2026-08-01", "--to", DEMO_ANCHOR.isoformat(), "--json"])
    assert candidates.exit_code == 0, candidates.output
    assert all(len(c["incidents"]) >= 3 for c in json.loads(candidates.stdout))


def test_escalating_writes_level_and_reason_and_a_second_run_changes_nothing(demo):
    from cmdb_graph.processes.incidents import escalate_incidents

    now = DEMO_ANCHOR + timedelta(days=1)
    first = escalate_incidents(demo, now, "test")
    assert first.escalated, "the demo has open incidents past their deadlines"
    again = escalate_incidents(demo, now, "test")
    assert again.escalated == [] and again.checked == first.checked
    sample = demo.history(first.escalated[0].incident_id, 1)[0]
    assert sample.actor == "test"



def test_problem_candidates_name_the_repeated_ci_and_the_most_specific_shared_upstream(store: Store, tmp_path: Path):
    from cmdb_graph.processes.problems import CandidateKind, problem_candidates
    from tests.test_impact import ci, dep, load

    fillers = [ci(f"x{n}", "Server") for n in range(1, 21)]
    opened = "2026-11-0{}T10:00:00Z"

    def incident(n: int, target: str, **fields) -> dict:
        return {"id": f"INC-{n}", "title": f"alert {n}", "affects": [target], "opened_at": opened.format(n), **fields}

    load(store, tmp_path,
         cis=[ci("svc", "BusinessService"), ci("app-a"), ci("app-b"), ci("db", "Database"), ci("srv", "Server"),
              ci("dc", "Datacenter"), *fillers],
         relationships=[dep("svc", "app-a"), dep("svc", "app-b"), dep("app-a", "db"), dep("app-b", "db"),
                        dep("db", "srv", type="RUNS_ON"), dep("srv", "dc", type="LOCATED_IN"),
                        *(dep(f"x{n}", "dc", type="LOCATED_IN") for n in range(1, 21))],
         problems=[{"id": "PRB-1", "title": "known"}],
         incidents=[incident(1, "app-a"), incident(2, "app-a"), incident(3, "app-b"), incident(4, "app-b"),
                    incident(5, "app-a", caused_by="PRB-1"),  # explained already: not counted
                    incident(6, "x1"), incident(7, "x1"), incident(8, "x1")])
    found = problem_candidates(store, None, None, min_incidents=3)
    assert [(c.kind, c.ci.id, c.incidents) for c in found] == [
        # db, srv and dc all explain INC-1..4; db has the fewest dependents (svc, app-a, app-b). dc
        # also covers x1's incidents, but only 3 of its 26 dependents had incidents (< 20%).
        (CandidateKind.SHARED_UPSTREAM, "db", ["INC-1", "INC-2", "INC-3", "INC-4"]),
        (CandidateKind.SAME_CI, "x1", ["INC-6", "INC-7", "INC-8"]),
    ]
    assert found[0].affected == ["app-a", "app-b"] and found[0].dependents == 3
    assert problem_candidates(store, None, None, min_incidents=5) == []


def test_assessing_a_change_analyses_it_as_the_same_update_leaves_it(client, shop):
    data(client, CREATE_CHANGE, input={"id": "CHG-T", "title": "Patch", "type": "NORMAL", "targets": []})
    assessed = _move(client, "CHG-T", 1, state="ASSESSED", targets=["db-1"])
    assert assessed["impactedServices"] == ["shop"] and assessed["notify"] == ["team-web"]
