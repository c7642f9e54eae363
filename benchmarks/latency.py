"""Analysis latency on a loaded generated enterprise, each against its baseline side by side.

Every sample of the analysis and of its baseline alternates on the same CI, so a noisy
neighbour slows both; the ratios are what to compare across runs."""

from __future__ import annotations

import random
from typing import Any

from benchmarks.api import graphql
from benchmarks.baselines import InMemoryGraph, naive_dependents
from benchmarks.environment import Bench, percentiles, timed_ms
from cmdb_graph.model import CIClass
from impact.continuity import analyse_continuity
from impact.impact import analyse_impact
from impact.root_cause import analyse_root_cause

IMPACT_QUERY = """
query Impact($failed: [ID!]!) {
  impact(failed: $failed) {
    impacted { ci { id name ciClass } state distance path { id } }
    businessServices { ci { id name } state criticality }
  }
}
"""


def _same_answer(ours: Any, theirs: dict[str, tuple[str, int, list[str]]]) -> None:
    """The analysis and the baseline must agree on every CI's state and distance."""
    mine = {row.ci.id: (row.state.value, row.distance) for row in ours.impacted}
    other = {ci: (state, distance) for ci, (state, distance, _chain) in theirs.items()}
    if mine != other:
        differing = sorted(set(mine.items()) ^ set(other.items()))[:5]
        raise AssertionError(f"impact and the networkx baseline disagree, e.g. {differing}")


def impact_latency(bench: Bench, memory: InMemoryGraph, targets: list[int], per_target: int, runs: int,
                   naive_timeout_s: float, naive_runs: int, seed: int) -> list[dict[str, Any]]:
    """Per dependents bucket: impact(F) over Bolt, the networkx rule in memory, naive Cypher."""
    store = bench.store
    rows = []
    for target, picked in memory.sample_by_dependents(targets, per_target, seed).items():
        ours: list[float] = []
        theirs: list[float] = []
        naive: list[float] = []
        timeouts = 0
        for ci, _count in picked:
            analyse_impact(store, [ci])  # warm: plans cached, pages in memory
            for _ in range(runs):
                elapsed, answer = timed_ms(lambda: analyse_impact(store, [ci]))
                ours.append(elapsed)
                elapsed, reference = timed_ms(lambda: memory.impact([ci]))
                theirs.append(elapsed)
            _same_answer(answer, reference)
            for _ in range(naive_runs):
                elapsed_or_none = naive_dependents(store, ci, naive_timeout_s)
                if elapsed_or_none is None:
                    timeouts += 1
                    naive.append(naive_timeout_s * 1000)
                else:
                    naive.append(elapsed_or_none)
        counts = [count for _ci, count in picked]
        ours_p, theirs_p, naive_p = percentiles(ours), percentiles(theirs), percentiles(naive)
        rows.append({
            "target_dependents": target, "cis": [ci for ci, _ in picked], "dependents": counts,
            "impact": ours_p, "networkx": theirs_p, "naive": naive_p, "naive_timeouts": timeouts,
            "naive_samples": len(naive), "naive_timeout_s": naive_timeout_s,
            "ratio_vs_networkx_p50": round(ours_p["p50"] / theirs_p["p50"], 2),
            "ratio_vs_networkx_p95": round(ours_p["p95"] / theirs_p["p95"], 2),
            # a timed-out naive query counts as its timeout: the speed-up is at least this
            "speedup_vs_naive_p50": round(naive_p["p50"] / ours_p["p50"], 1),
            "naive_lower_bound": timeouts > 0,
        })
    return rows


def graphql_impact(base: str, cis: list[str], runs: int) -> dict[str, Any]:
    graphql(base, IMPACT_QUERY, {"failed": [cis[0]]})
    samples = [graphql(base, IMPACT_QUERY, {"failed": [ci]})[0] for _ in range(runs) for ci in cis]
    return percentiles(samples)


def root_cause_latency(bench: Bench, memory: InMemoryGraph, symptoms: int, runs: int, seed: int) -> dict[str, Any]:
    """rootCause with `symptoms` CIs observed failing: dependents of one shared database
    (the real cause) plus a few unrelated alerts, as a responder's alert list looks."""
    rng = random.Random(seed)
    graph = memory.graph
    databases = [n for n, d in graph.nodes(data=True) if d["cls"] == CIClass.DATABASE.value]
    cause = max(databases, key=lambda n: (graph.in_degree(n), n))
    needing = sorted(graph.predecessors(cause))
    noise = max(1, symptoms // 10)
    observed = rng.sample(needing, min(len(needing), symptoms - noise))
    others = [n for n in rng.sample(list(graph.nodes), 5 * symptoms) if n not in observed]
    observed += others[: symptoms - len(observed)]
    analyse_root_cause(bench.store, observed)
    samples, answer = [], None
    for _ in range(runs):
        elapsed, answer = timed_ms(lambda: analyse_root_cause(bench.store, observed))
        samples.append(elapsed)
    top = answer[0] if answer else None
    return {"symptoms": len(observed), "cause": cause, "top": top.ci.id if top else None,
            "top_explains": len(top.explained) if top else 0, **percentiles(samples)}


def continuity_latency(bench: Bench, memory: InMemoryGraph, dependencies: int, runs: int) -> dict[str, Any]:
    """continuity (SPOFs, cut sets of size 2, availability) for the business service whose
    dependency count is nearest `dependencies`."""
    graph = memory.graph
    import networkx as nx

    services = [n for n, d in graph.nodes(data=True) if d["cls"] == CIClass.BUSINESS_SERVICE.value]
    sizes = {s: len(nx.descendants(graph, s)) for s in services}
    service = min(services, key=lambda s: (abs(sizes[s] - dependencies), s))
    analyse_continuity(bench.store, service, max_cut_size=2)
    samples, answer = [], None
    for _ in range(runs):
        elapsed, answer = timed_ms(lambda: analyse_continuity(bench.store, service, max_cut_size=2))
        samples.append(elapsed)
    return {"service": service, "dependencies": sizes[service], "spofs": len(answer.single_points_of_failure),
            "cut_sets": len(answer.minimal_cut_sets), "availability_method": answer.availability.method,
            **percentiles(samples)}
