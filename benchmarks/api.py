"""GraphQL over loopback: `cmdb-graph serve` in a subprocess and a bounded load generator.

The load generator is deliberately thin (asyncio streams, requests encoded once, keep-alive
HTTP/1.1, only the status line and Content-Length parsed), so the two cores go to the
service and Neo4j rather than to the client. It sends a fixed number of requests and stops."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from benchmarks.environment import CLI, Bench, free_port, percentiles


# the API key each running service was given, by base URL
KEYS: dict[str, str] = {}


def _authorization(base: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[base]}"} if base in KEYS else {}


@contextmanager
def serving(bench: Bench, workers: int = 1) -> Iterator[str]:
    """`cmdb-graph serve` on a free loopback port; its base URL until the block ends. Requests
    go with a viewer key made for it, as a dashboard's would."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    KEYS[base] = subprocess.run([CLI, "apikey", "create", "--role", "viewer", "--name", f"bench-{port}"],
                                env=bench.env(), check=True, capture_output=True, text=True).stdout.strip()
    server = subprocess.Popen([CLI, "serve", "--port", str(port), "--workers", str(workers)], env=bench.env(),
                              stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("cmdb-graph serve did not become ready")
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=60)
        KEYS.pop(base, None)


def graphql(base: str, query: str, variables: dict[str, Any] | None = None) -> tuple[float, dict[str, Any], int]:
    """(milliseconds, data, Neo4j round trips) of one request; a GraphQL error raises."""
    started = time.perf_counter()
    response = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables or {}}, timeout=120,
                          headers=_authorization(base))
    elapsed = (time.perf_counter() - started) * 1000
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"GraphQL error: {response.status_code} {body.get('errors')}")
    return elapsed, body["data"], int(response.headers.get("X-Neo4j-Round-Trips", "0"))


def _request(port: int, body: bytes) -> bytes:
    key = "".join(f"{name}: {value}\r\n" for name, value in _authorization(f"http://127.0.0.1:{port}").items())
    return (f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{key}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _client(port: int, requests: list[bytes], latencies: list[float], failures: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            started = time.perf_counter()
            writer.write(request)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if b" 200 " not in status or b'"errors"' in body:
                failures.append(status.decode().strip() + " " + body[:200].decode(errors="replace"))
    finally:
        writer.close()


def load_test(base: str, query: str, ids: list[str], total: int, concurrency: int, seed: int) -> dict[str, Any]:
    """`total` requests of `query` (its `$id` drawn from `ids`) over `concurrency` keep-alive
    connections; requests per second and latency percentiles."""
    port = int(base.rsplit(":", 1)[1])
    rng = random.Random(seed)
    bodies = [_request(port, json.dumps({"query": query, "variables": {"id": rng.choice(ids)}}).encode())
              for _ in range(total)]
    latencies: list[float] = []
    failures: list[str] = []

    async def main() -> float:
        started = time.perf_counter()
        share = [bodies[i::concurrency] for i in range(concurrency)]
        await asyncio.gather(*(_client(port, part, latencies, failures) for part in share))
        return time.perf_counter() - started

    seconds = asyncio.run(main())
    if failures:
        raise RuntimeError(f"{len(failures)} of {total} requests failed, e.g. {failures[0]}")
    return {"requests": total, "concurrency": concurrency, "seconds": round(seconds, 2),
            "rps": round(total / seconds, 1), **percentiles(latencies)}
