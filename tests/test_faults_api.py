"""Neo4j goes away while `cmdb-graph serve` is serving, and comes back.

A second local Neo4j (its own home and port) backs a real `serve` process. It is stopped twice
while the API runs: cleanly (SIGTERM, the launcher's shutdown) and abruptly (SIGKILL by its
PID). While it is down every GraphQL request must answer UNAVAILABLE, never 500 or INTERNAL;
`/readyz` must say 503 within seconds and `/healthz` stay 200; the API process must live on and
write nothing. Once the same Neo4j is started again (same home, same port) the API must
recover by itself, without a restart."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from neo4j import GraphDatabase

from cmdb_graph.access.keys import create_key
from cmdb_graph.access.roles import Role
from cmdb_graph.neo4j_local import LocalNeo4j, _alive
from cmdb_graph.schema import init_schema
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store
from loaders.native import load_paths
from tests.conftest import DATA, free_port
from tests.invariants import check_invariants
from tests.test_concurrency import running_service

pytestmark = pytest.mark.launcher

SHOP = "query Shop { ci(id: \"shop\") { id ciClass dependsOn { target { id } } } }"
IMPACT = "query Impact { impact(failed: [\"db-1\"]) { impacted { ci { id } } } }"
WRITE = "mutation Write($id: ID!) { upsertCIs(input: [{id: $id, ciClass: SERVER}]) { id version } }"
FIND = "query Find($id: ID!) { ci(id: $id) { id version } }"
RECOVERY_SECONDS = 120  # after Neo4j is back, the API must answer again within this
OUTAGE_SECONDS = 6  # how long the API is watched with Neo4j down before it is started again
PROBE_TIMEOUT = 90.0


@dataclass(frozen=True)
class Probe:
    what: str  # readyz | healthz | shop | impact | write | new-key | find
    sent: float  # time.monotonic() when sent
    seconds: float  # until the answer (or the failure)
    status: int | None  # None: no HTTP answer
    code: str | None  # extensions.code of the first error, if any
    body: Any = None
    write_id: str | None = None  # the CI a `write` probe upserts

    @property
    def answered_at(self) -> float:
        return self.sent + self.seconds


class Prober:
    """Sends requests of each kind and records what came back. The viewer and editor keys were
    used while Neo4j was up (the API holds them); a `late` key never was, so each of its
    requests makes the API look the key up in Neo4j (one late key per outage)."""

    def __init__(self, base: str, viewer: str, editor: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=PROBE_TIMEOUT)
        self.viewer, self.editor = viewer, editor

    def close(self) -> None:
        self.http.close()

    def send(self, what: str, key: str | None = None, query: str | None = None, **variables: Any) -> Probe:
        sent = time.monotonic()
        try:
            if query is None:
                response = self.http.get(f"/{what}")
            else:
                response = self.http.post("/graphql", json={"query": query, "variables": variables},
                                          headers={"Authorization": f"Bearer {key}"})
        except httpx.HTTPError as error:
            return Probe(what, sent, time.monotonic() - sent, None, type(error).__name__)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        errors = body.get("errors") if isinstance(body, dict) else None
        code = (errors[0].get("extensions") or {}).get("code", "NO_CODE") if errors else None
        return Probe(what, sent, time.monotonic() - sent, response.status_code, code, body, variables.get("id"))

    def round(self, late: str, write_id: str) -> list[Probe]:
        return [
            self.send("readyz"),
            self.send("healthz"),
            self.send("shop", self.viewer, SHOP),
            self.send("impact", self.viewer, IMPACT),
            self.send("write", self.editor, WRITE, id=write_id),
            self.send("new-key", late, SHOP),
        ]


class Probing(threading.Thread):
    """Rounds of probes, back to back, from the moment Neo4j is gone until stopped (bounded)."""

    def __init__(self, prober: Prober, late: str, name: str) -> None:
        super().__init__(daemon=True)
        self.prober, self.late, self.label = prober, late, name
        self.rounds: list[list[Probe]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 90 + 300 + RECOVERY_SECONDS  # outage + restart + recovery
        while not self.stopping.is_set() and time.monotonic() < deadline:
            self.rounds.append(self.prober.round(self.late, f"{self.label}-{len(self.rounds)}"))
            time.sleep(0.2)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=8 * PROBE_TIMEOUT)
        assert not self.is_alive(), "the probing thread did not stop"

    def probes(self) -> list[Probe]:
        return [probe for one_round in list(self.rounds) for probe in one_round]


def shop_answered(probe: Probe) -> bool:
    if probe.status != 200 or probe.code is not None:
        return False
    shop = probe.body["data"]["ci"]
    return shop["ciClass"] == "BUSINESS_SERVICE" and {d["target"]["id"] for d in shop["dependsOn"]} == {"web-farm", "db-1"}


def answered(probe: Probe) -> bool:
    """The probe got the right answer (what Neo4j holds), not merely an answer."""
    if probe.what in ("shop", "new-key"):
        return shop_answered(probe)
    if probe.what == "impact":
        return probe.status == 200 and probe.code is None and \
            "shop" in {i["ci"]["id"] for i in probe.body["data"]["impact"]["impacted"]}
    if probe.what == "write":
        return probe.status == 200 and probe.code is None and probe.body["data"]["upsertCIs"][0]["id"] == probe.write_id
    if probe.what == "readyz":
        return probe.status == 200 and probe.body == {"status": "ready"}
    return probe.status == 200 and probe.body == {"status": "ok"}


def refused_as_unavailable(probe: Probe) -> bool:
    """What a request must get while Neo4j is down."""
    if probe.what in ("shop", "impact", "write"):
        # the key is cached: the query itself meets the outage, a GraphQL error on HTTP 200
        return (probe.status, probe.code) == (200, "UNAVAILABLE") and not any((probe.body.get("data") or {}).values())
    if probe.what == "new-key":
        # looking the key up meets the outage first: HTTP 503, the same code
        return (probe.status, probe.code) == (503, "UNAVAILABLE")
    if probe.what == "readyz":
        return probe.status == 503 and probe.body["status"] == "unavailable"
    return answered(probe)  # /healthz does not depend on Neo4j


def summary(probes: list[Probe]) -> dict[str, int]:
    return dict(Counter(f"{p.what} {p.status} {p.code or 'ok'}" for p in probes))


def timeline(probes: list[Probe], restarting: float, back: float) -> str:
    """Each probe as `what status code sent+seconds`, times from the restart (Neo4j was back at +back)."""
    return f"Neo4j back at +{back - restarting:.1f} s: " + ", ".join(
        f"{p.what} {p.status} {p.code or 'ok'} @+{p.sent - restarting:.1f}+{p.seconds:.1f}" for p in probes)


def wait_for(condition: Any, seconds: float, what: str, server: Any) -> float:
    deadline = time.monotonic() + seconds
    while not condition():
        assert server.poll() is None, f"the API exited with {server.returncode}"
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.2)
    return time.monotonic()


def outage_and_recovery(local: LocalNeo4j, prober: Prober, server: Any, how: str, late: str) -> dict[str, Any]:
    """Take Neo4j down (`stop`: its clean shutdown; `kill`: SIGKILL by PID) under a steady
    stream of requests, start it again, and follow the API until it answers everything right."""
    status = local.status()
    assert status.running and status.pid
    if how == "stop":
        assert local.stop()
    else:
        os.kill(status.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(status.pid):
            assert time.monotonic() < deadline, "Neo4j outlived SIGKILL for 30 s"
            time.sleep(0.1)
    down = time.monotonic()
    probing = Probing(prober, late, how)
    probing.start()
    try:
        def outage_shown() -> bool:
            probes = probing.probes()
            return (time.monotonic() - down >= OUTAGE_SECONDS and any(p.code == "UNAVAILABLE" for p in probes)
                    and any(p.what == "readyz" and p.status == 503 for p in probes))

        wait_for(outage_shown, 90, "the outage showing", server)
        restarting = time.monotonic()
        restarted = local.start()
        back = time.monotonic()
        assert restarted.uri == status.uri, "Neo4j came back elsewhere"

        def good_round() -> list[Probe] | None:
            return next((r for r in list(probing.rounds) if r[0].sent >= restarting and all(answered(p) for p in r)), None)

        wait_for(lambda: good_round() is not None, RECOVERY_SECONDS, "the API's recovery", server)
        recovered = good_round()[-1].answered_at
    finally:
        probing.stop()
    assert server.poll() is None, "the API exited"

    probes = probing.probes()
    while_down = [p for p in probes if p.answered_at < restarting]
    afterwards = [p for p in probes if p.answered_at >= restarting and p.sent < recovered]
    wrong = [p for p in while_down if not refused_as_unavailable(p)]
    assert not wrong, f"while Neo4j was down: {summary(wrong)}"
    # once it is starting again, a request is refused as while it was down, or answered right
    wrong = [p for p in afterwards if not (answered(p) or refused_as_unavailable(p))]
    assert not wrong, f"while Neo4j came back: {summary(wrong)}; " + timeline(afterwards, restarting, back)
    assert all(p.seconds < 15 for p in while_down), "a request took 15 s or more to be refused"
    first_not_ready = min(p.answered_at for p in while_down if p.what == "readyz") - down
    assert first_not_ready < 10, f"/readyz first said 503 {first_not_ready:.1f} s into the outage"

    # every write refused left nothing, every write answered is there
    for probe in (p for p in probes if p.what == "write"):
        found = prober.send("find", prober.viewer, FIND, id=probe.write_id)
        assert found.status == 200 and found.code is None, found
        assert (found.body["data"]["ci"] is not None) == answered(probe), (probe, found)
    return {
        "how": how,
        "first UNAVAILABLE after (s)": round(min(p.answered_at for p in while_down if p.code == "UNAVAILABLE") - down, 2),
        "first /readyz 503 after (s)": round(first_not_ready, 2),
        "slowest refusal while down (s)": round(max(p.seconds for p in while_down), 2),
        "requests while down": len(while_down),
        "outcomes while down": summary(while_down),
        "Neo4j restart (s)": round(back - restarting, 1),
        "recovered after Neo4j was back (s)": round(recovered - back, 2),
        "requests from restart to recovery": len(afterwards),
        "outcomes from restart to recovery": summary(afterwards),
        "API unavailable in all (s)": round(recovered - down, 1),
        "timeline from restart": timeline(afterwards, restarting, back),
    }


def test_api_survives_neo4j_outages_and_recovers_by_itself(tmp_path: Path, test_settings: Settings):
    settings = Settings(home=tmp_path / "neo4j", bolt_port=free_port(), neo4j_heap="512m", neo4j_pagecache_mb=64,
                        cache_dir=test_settings.cache_dir)
    local = LocalNeo4j(settings)
    try:
        status = local.start()
        password = local.password()
        with GraphDatabase.driver(status.uri, auth=("neo4j", password)) as driver:
            init_schema(driver, "neo4j")
            assert load_paths(Store(driver, "neo4j"), [DATA / "shop.yaml"], actor="loader").ok
            viewer, editor, late_stop, late_kill = (
                create_key(driver, "neo4j", name, role, actor="test").secret for name, role in (
                    ("outage-viewer", Role.VIEWER), ("outage-editor", Role.EDITOR),
                    ("outage-late-stop", Role.VIEWER), ("outage-late-kill", Role.VIEWER)))
        env = {
            **os.environ, "NEO4J_URI": status.uri, "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": password,
            "CMDB_GRAPH_HOME": str(tmp_path / "api-home"),
            "CMDB_GRAPH_API_RETRY_SECONDS": "1",  # a lost Neo4j is retried for a second, then UNAVAILABLE
            "CMDB_GRAPH_API_KEY_CACHE_SECONDS": "3600",  # the viewer and editor keys stay known through the outages
        }
        with running_service(env, tmp_path / "serve.log") as (base, server):
            prober = Prober(base, viewer, editor)
            try:
                # up: the viewer and editor keys are used (and cached); the late ones are kept for the outages
                up = [prober.send("shop", viewer, SHOP), prober.send("impact", viewer, IMPACT),
                      prober.send("write", editor, WRITE, id="before"), prober.send("readyz")]
                assert all(answered(p) for p in up), up
                results = [outage_and_recovery(local, prober, server, how, late)
                           for how, late in (("stop", late_stop), ("kill", late_kill))]
            finally:
                prober.close()
        print("\nNeo4j outage figures: " + json.dumps(results, indent=2))
        # two outages, one abrupt, left the graph and its audit trail as the store keeps them
        with GraphDatabase.driver(status.uri, auth=("neo4j", password)) as driver:
            assert check_invariants(driver, "neo4j") == []
    finally:
        local.stop()
