"""`cmdb-graph serve` as users run it: a separate process, real HTTP on a loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from cmdb_graph.connection import Neo4jTarget
from cmdb_graph.store import Store
from loaders.native import load_paths
from tests.conftest import DATA, free_port

CLI = Path(sys.executable).with_name("cmdb-graph")


def wait_until_ready(client: httpx.Client, server: subprocess.Popen[str], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, f"serve exited with {server.returncode}"
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the service did not become ready")


def test_serve_answers_graphql_over_http_and_stops_cleanly(store: Store, neo4j_target: Neo4jTarget, tmp_path: Path):
    assert load_paths(store, [DATA / "shop.yaml"], actor="loader").ok
    port = free_port()
    env = {
        **os.environ, "NEO4J_URI": neo4j_target.uri, "NEO4J_USER": neo4j_target.user,
        "NEO4J_PASSWORD": neo4j_target.password, "CMDB_GRAPH_HOME": str(tmp_path),
    }
    key = subprocess.run([str(CLI), "apikey", "create", "--role", "viewer", "--name", "serve-test"], env=env, text=True,
                         capture_output=True, check=True).stdout.strip()
    assert key.startswith("cmdbg_") and "\n" not in key
    server = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port)], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            wait_until_ready(client, server)
            assert client.get("/healthz").json() == {"status": "ok"}
            response = client.post("/graphql", json={
                "query": "query Shop($id: ID!) { ci(id: $id) { id ciClass dependsOn { target { id } } } }",
                "variables": {"id": "shop"},
            })
            assert response.status_code == 200
            shop = response.json()["data"]["ci"]
            assert shop["ciClass"] == "BUSINESS_SERVICE" and shop["dependsOn"]
            assert response.headers["X-Neo4j-Round-Trips"] == "3"  # the CI; its relationships; their targets
            metrics = client.get("/metrics").text
            assert 'cmdb_graph_graphql_requests_total{operation="Shop",outcome="ok"} 1.0' in metrics
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert f"serving http://127.0.0.1:{port}/graphql" in output and "cmdb-graph stopped" in output
    assert f"the impact map: http://127.0.0.1:{port}/" in output
