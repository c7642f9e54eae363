"""p50/p95 latency of GraphQL requests over real HTTP on loopback.

Starts `cmdb-graph serve` on a free loopback port against the Neo4j that settings resolve
(NEO4J_URI, else the local launcher), loads the demo enterprise, then sends a bounded number
of requests, one at a time, and prints the percentiles. Stops the server it started.

    .venv/bin/python benchmarks/api_latency.py [--requests 500]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx

QUERIES = {
    "ci(id)": ('query CI($id: ID!) { ci(id: $id) { id name ciClass layer status criticality owner version } }',
               {"id": "app-checkout"}),
    "ci(id) with neighbours": (
        'query CINeighbours($id: ID!) { ci(id: $id) { id dependsOn { type target { id name } } '
        'dependents { source { id name } } incidents { id status } } }', {"id": "app-checkout"}),
    "cis(first: 100) + dependsOn + incidents": (
        'query Page { cis(first: 100) { edges { node { id dependsOn { target { name } } incidents { id } } } } }', {}),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    cli = os.path.join(os.path.dirname(sys.executable), "cmdb-graph")
    subprocess.run([cli, "demo"], check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    key = subprocess.run([cli, "apikey", "create", "--role", "viewer", "--name", f"latency-{port}"], check=True,
                         capture_output=True, text=True).stdout.strip()
    server = subprocess.Popen([cli, "serve", "--port", str(port)], stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the service did not become ready")
                time.sleep(0.2)
            print(f"{'request':45} {'p50 ms':>8} {'p95 ms':>8} {'round trips':>12}")
            for name, (query, variables) in QUERIES.items():
                body = {"query": query, "variables": variables}
                for _ in range(20):  # warm-up: plans cached, JIT warm
                    client.post("/graphql", json=body)
                samples = []
                trips = ""
                for _ in range(args.requests):
                    started = time.perf_counter()
                    response = client.post("/graphql", json=body)
                    samples.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200 and "errors" not in response.json(), response.text
                    trips = response.headers.get("X-Neo4j-Round-Trips", "")
                print(f"{name:45} {statistics.median(samples):8.2f} {percentile(samples, 0.95):8.2f} {trips:>12}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
