"""`python -m benchmarks run --quick` end to end against the test Neo4j: a smoke test that
fails on errors (a crash, a disagreement with the networkx baseline, a GraphQL error), never
on time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.report import markdown, plot_growth
from cmdb_graph.connection import Neo4jTarget

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_runs_and_reports(neo4j_target: Neo4jTarget, tmp_path: Path):
    results = tmp_path / "quick.json"
    env = {**os.environ, "NEO4J_URI": neo4j_target.uri, "NEO4J_USER": neo4j_target.user,
           "NEO4J_PASSWORD": neo4j_target.password}
    run = subprocess.run([sys.executable, "-m", "benchmarks", "run", "--quick", "--results", str(results)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(results.read_text())
    size = data["sizes"]["10000"]
    assert size["cis"] == 10_000 and size["reload_created"] == 0 and size["reload_updated"] == 0
    assert [row["target_dependents"] for row in size["impact"]] == [10, 100, 1000]
    assert size["api"]["ci_by_id"]["requests"] > 0
    assert len(set(size["api"]["page_round_trips"].values())) == 1  # constant in the page size
    assert "impact(F) at 10,000 CIs" in run.stdout
    assert markdown(data) == run.stdout.strip()
    plot_growth(data, tmp_path / "growth.png")
    assert (tmp_path / "growth.png").read_bytes()[:4] == b"\x89PNG"
