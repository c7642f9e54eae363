"""A load interrupted by a Neo4j crash (SIGKILL), on a second local Neo4j: the load fails with
a clear message; after a restart, re-running it completes it, and the result is the same
graph (content hash) as a clean load of the same folder. For the normal (one-transaction)
path, nothing at all is committed by the interrupted load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from neo4j import Driver, GraphDatabase

from cmdb_graph.backup import canonical_hash, count_nodes
from cmdb_graph.generate import write_enterprise
from cmdb_graph.model import Label
from cmdb_graph.neo4j_local import LocalNeo4j
from cmdb_graph.schema import reset_database
from cmdb_graph.settings import Settings
from tests.conftest import free_port

pytestmark = pytest.mark.launcher

CLI = Path(sys.executable).parent / "cmdb-graph"
BULK_CIS = 4_000
NORMAL_CIS = 1_000
COUNT_CIS = f"MATCH (n:{Label.CI.value}) RETURN count(n) AS n"
# a write of the normal load's single transaction, under way (its text, as SHOW TRANSACTIONS gives it)
LOAD_WRITING = ("SHOW TRANSACTIONS YIELD currentQuery "
                "WHERE currentQuery CONTAINS 'MERGE (n:' AND NOT currentQuery STARTS WITH 'SHOW' RETURN count(*) AS n")


class SecondNeo4j:
    """A local Neo4j of the test's own, killed and restarted at will."""

    def __init__(self, home: Path, cache_dir: Path) -> None:
        self.settings = Settings(home=home, cache_dir=cache_dir, bolt_port=free_port(), neo4j_heap="512m",
                                 neo4j_pagecache_mb=64)
        self.local = LocalNeo4j(self.settings)
        self.driver: Driver | None = None

    def start(self) -> float:
        started = time.perf_counter()
        status = self.local.start()
        self.driver = GraphDatabase.driver(status.uri, auth=("neo4j", self.local.password()),
                                           notifications_min_severity="OFF")
        self.driver.verify_connectivity()
        return time.perf_counter() - started

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would; reaped, since it is our child."""
        pid = self.local.status().pid
        assert pid, "the second Neo4j is not running"
        self.driver.close()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.local.status().running and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.05)
        assert not self.local.status().running

    def env(self) -> dict[str, str]:
        status = self.local.status()
        return {**os.environ, "NEO4J_URI": status.uri, "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": self.local.password(),
                "CMDB_GRAPH_BULK_BATCH_ROWS": "1000", "COLUMNS": "200"}

    def value(self, query: str) -> int:
        return self.driver.execute_query(query, routing_="r").records[0]["n"]

    def stop(self) -> None:
        if self.driver is not None:
            self.driver.close()
        self.local.stop()


@pytest.fixture(scope="module")
def second_neo4j(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[SecondNeo4j]:
    neo4j = SecondNeo4j(tmp_path_factory.mktemp("second-neo4j"), test_settings.cache_dir)
    try:
        started = neo4j.start()
        print(f"\nsecond Neo4j started in {started:.1f}s")
        yield neo4j
    finally:
        neo4j.stop()


@pytest.fixture
def second(second_neo4j: SecondNeo4j) -> SecondNeo4j:
    """The second Neo4j, running and empty."""
    if not second_neo4j.local.status().running:
        second_neo4j.start()
    reset_database(second_neo4j.driver, "neo4j")
    return second_neo4j


def load(second: SecondNeo4j, *args: str, stdout: int = subprocess.PIPE) -> subprocess.Popen[str]:
    return subprocess.Popen([str(CLI), "load", *args], env=second.env(), stdout=stdout, stderr=subprocess.PIPE,
                            text=True)


def load_to_end(second: SecondNeo4j, *args: str) -> float:
    started = time.perf_counter()
    process = load(second, *args)
    out, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors[-3000:]
    return time.perf_counter() - started


def crash_during(second: SecondNeo4j, args: list[str], under_way: Callable[[], bool]) -> tuple[str, float, float]:
    """Start a load, SIGKILL Neo4j once `under_way()`; the load's stderr, when the kill came
    and how long the load took to give up after it."""
    started = time.perf_counter()
    process = load(second, *args, stdout=subprocess.DEVNULL)
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(process.stderr))  # a full pipe would stall the load
    reader.start()
    while not under_way():
        assert process.poll() is None, "the load ended before Neo4j could be killed: " + "".join(errors)[-2000:]
        time.sleep(0.05)
    killed_at = time.perf_counter() - started
    second.kill()
    killed = time.perf_counter()
    process.wait(timeout=180)
    gave_up = time.perf_counter() - killed
    reader.join()
    assert process.returncode == 1, "".join(errors)[-3000:]
    return "".join(errors), killed_at, gave_up


def message(errors: str) -> str:
    """The CLI's error message, without the driver's retry warnings before it."""
    lines = errors.splitlines()
    last = max(i for i, line in enumerate(lines) if line.startswith("error:"))
    return " ".join(" ".join(lines[last:]).split())


def assert_says_neo4j_is_unavailable(errors: str, second: SecondNeo4j) -> None:
    assert "Traceback" not in errors, errors[-3000:]
    assert "error:" in errors and "Neo4j" in errors and f":{second.settings.bolt_port}" in errors, errors[-3000:]
    assert "unavailable" in errors or "cannot reach" in errors, errors[-3000:]


def test_a_bulk_load_interrupted_by_a_crash_completes_when_run_again(second: SecondNeo4j, tmp_path: Path):
    folder = tmp_path / "enterprise"
    write_enterprise(folder, BULK_CIS, seed=7)
    errors, killed_at, gave_up = crash_during(second, ["--bulk", str(folder)],
                                              lambda: second.value(COUNT_CIS) >= 1000)
    assert_says_neo4j_is_unavailable(errors, second)
    assert "run the same load again" in errors

    restart = second.start()
    partial = second.value(COUNT_CIS)
    assert 1000 <= partial < BULK_CIS
    again = load_to_end(second, "--bulk", str(folder))
    assert second.value(COUNT_CIS) == BULK_CIS
    resumed = canonical_hash(second.driver, "neo4j", content_only=True)

    reset_database(second.driver, "neo4j")
    clean = load_to_end(second, "--bulk", str(folder))
    assert canonical_hash(second.driver, "neo4j", content_only=True) == resumed
    print(f"\nbulk load of {BULK_CIS} CIs: Neo4j killed {killed_at:.1f}s in with {partial} CIs committed; "
          f"the load gave up {gave_up:.1f}s later; restart {restart:.1f}s; re-run {again:.1f}s; clean load {clean:.1f}s; "
          f"content hash after the re-run = after a clean load = {resumed}\n  message: {message(errors)}")


def test_a_normal_load_interrupted_by_a_crash_commits_nothing(second: SecondNeo4j, tmp_path: Path):
    folder = tmp_path / "enterprise"
    write_enterprise(folder, NORMAL_CIS, seed=8)
    errors, killed_at, gave_up = crash_during(second, ["--no-bulk", str(folder)], lambda: second.value(LOAD_WRITING) > 0)
    assert_says_neo4j_is_unavailable(errors, second)

    restart = second.start()
    assert count_nodes(second.driver, "neo4j") == 0  # the one transaction never committed
    again = load_to_end(second, "--no-bulk", str(folder))
    assert second.value(COUNT_CIS) == NORMAL_CIS
    after_crash = canonical_hash(second.driver, "neo4j", content_only=True)

    reset_database(second.driver, "neo4j")
    clean = load_to_end(second, "--no-bulk", str(folder))
    assert canonical_hash(second.driver, "neo4j", content_only=True) == after_crash
    print(f"\nnormal load of {NORMAL_CIS} CIs: Neo4j killed {killed_at:.1f}s in, mid-transaction; the load gave up "
          f"{gave_up:.1f}s later; restart {restart:.1f}s, 0 nodes; re-run {again:.1f}s; clean load {clean:.1f}s; "
          f"content hash after the re-run = after a clean load = {after_crash}\n  message: {message(errors)}")
