"""The Neo4j a benchmark run measures, the machine it runs on, and small timing helpers.

A run gets its own local Neo4j (a temporary home, a free loopback port, heap and page cache
sized for the run), so it never touches a user's data; `NEO4J_URI` points it at another
server instead. Everything the CLI runs as a subprocess is pointed at the same server."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neo4j import Driver

from cmdb_graph.connection import Neo4jTarget, resolve_neo4j
from cmdb_graph.neo4j_local import LocalNeo4j
from cmdb_graph.schema import init_schema, reset_database
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store

CLI = str(Path(sys.executable).with_name("cmdb-graph"))


@dataclass
class Bench:
    settings: Settings
    target: Neo4jTarget
    driver: Driver

    @property
    def store(self) -> Store:
        return Store(self.driver, self.target.database, self.settings.batch_size)

    def env(self) -> dict[str, str]:
        """The environment that points a `cmdb-graph` subprocess at this server."""
        return {**os.environ, "NEO4J_URI": self.target.uri, "NEO4J_USER": self.target.user,
                "NEO4J_PASSWORD": self.target.password, "CMDB_GRAPH_HOME": str(self.settings.home)}

    def reset(self) -> None:
        reset_database(self.driver, self.target.database)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def benchmark_neo4j(heap: str, pagecache_mb: int) -> Iterator[Bench]:
    """A Neo4j for this run: `NEO4J_URI` if set, else a local one started here and stopped after."""
    with tempfile.TemporaryDirectory(prefix="cmdb-graph-bench-") as home:
        settings = Settings(home=Path(home), bolt_port=free_port(), neo4j_heap=heap, neo4j_pagecache_mb=pagecache_mb,
                            neo4j_tx_timeout_seconds=3600, use_docker=False)
        target = resolve_neo4j(settings, progress=lambda message: print(message, file=sys.stderr))
        driver = target.driver()
        try:
            driver.verify_connectivity()
            init_schema(driver, target.database)
            yield Bench(settings, target, driver)
        finally:
            driver.close()
            target.release()
            if target.origin == "local":
                LocalNeo4j(settings).stop()


def machine() -> dict[str, Any]:
    memory_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                          if line.startswith("MemTotal")))
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    import neo4j

    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gib": round(memory_kib / 2**20, 1),
            "python": platform.python_version(), "neo4j_driver": neo4j.__version__, "os": platform.platform()}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]

    return {"p50": round(statistics.median(ordered), 2), "p95": round(at(0.95), 2), "n": len(ordered)}


def timed_ms(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return (time.perf_counter() - started) * 1000, result


def run_cli(bench: Bench, *args: str) -> tuple[float, float, str]:
    """(seconds, the command's own peak RSS in MiB, stdout) of one `cmdb-graph` command
    against the run's Neo4j."""
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen([CLI, *args], env=bench.env(), stdout=stdout, stderr=stderr, text=True)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"cmdb-graph {' '.join(args)} failed ({process.returncode}): {stderr.read()[-2000:]}")
        return seconds, usage.ru_maxrss / 1024, stdout.read()
