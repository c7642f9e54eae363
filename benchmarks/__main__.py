"""`python -m benchmarks run [--quick]`: generate, load and query enterprises of growing size
against a Neo4j started for the run, each figure beside its baseline; results as JSON, a
Markdown summary and (full run) the growth plot.

    python -m benchmarks run            # 1k, 10k, 100k and 1M CIs; headline figures at 100k
    python -m benchmarks run --quick    # 10k CIs only: the CI smoke test (fails on errors, never on time)
    python -m benchmarks report FILE    # the Markdown summary of a results file
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.api import graphql, load_test, serving
from benchmarks.baselines import InMemoryGraph, per_row_merge, per_row_sample
from benchmarks.environment import Bench, benchmark_neo4j, machine, run_cli
from benchmarks.latency import continuity_latency, graphql_impact, impact_latency, root_cause_latency
from benchmarks.report import markdown, plot_growth

CI_QUERY = "query CI($id: ID!) { ci(id: $id) { id name ciClass layer status criticality owner version } }"
PAGE_QUERY = ("query Page($first: Int) { cis(first: $first) { totalCount edges { node { id name "
              "dependsOn { type target { id name } } dependents { source { id } } incidents { id } } } } }")


def say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def load_size(bench: Bench, folder: Path, cis: int, seed: int, baseline: bool, rerun: bool) -> dict[str, Any]:
    """Generate, then bulk-load through `cmdb-graph load` into an empty database."""
    gen_seconds, gen_rss, output = run_cli(bench, "generate", "--cis", str(cis), "--seed", str(seed),
                                           "--out", str(folder), "--json")
    generated = json.loads(output)
    result: dict[str, Any] = {"cis": generated["cis"], "relationships": generated["relationships"],
                              "records": sum(generated["records"].values()),
                              "generate_seconds": round(gen_seconds, 1), "generate_peak_rss_mib": round(gen_rss)}
    if baseline:
        cis_sample, rels_sample = per_row_sample(folder, 10_000)
        bench.reset()
        say(f"per-row MERGE baseline on {len(cis_sample) + len(rels_sample):,} elements")
        result["per_row_merge_rate"] = round(per_row_merge(bench.driver, bench.target.database, cis_sample, rels_sample))
        result["per_row_sample"] = len(cis_sample) + len(rels_sample)
    bench.reset()
    say(f"bulk load of {generated['cis']:,} CIs and {generated['relationships']:,} relationships")
    seconds, rss, output = run_cli(bench, "load", str(folder), "--bulk", "--json")
    report = json.loads(output)
    elements = report["created"] + report["updated"] + report["unchanged"]
    result |= {"elements": elements, "load_seconds": round(seconds, 1), "load_rate": round(elements / seconds),
               "load_peak_rss_mib": round(rss)}
    if baseline:
        result["load_speedup_vs_per_row"] = round(result["load_rate"] / result["per_row_merge_rate"], 1)
    if rerun:
        seconds, _rss, output = run_cli(bench, "load", str(folder), "--bulk", "--json")
        again = json.loads(output)
        result |= {"reload_seconds": round(seconds, 1), "reload_created": again["created"],
                   "reload_updated": again["updated"], "reload_unchanged": again["unchanged"]}
    return result


def api_figures(bench: Bench, memory: InMemoryGraph, impact_rows: list[dict[str, Any]], quick: bool) -> dict[str, Any]:
    ids = sorted(memory.graph.nodes)
    figures: dict[str, Any] = {}
    with serving(bench) as base:
        graphql(base, CI_QUERY, {"id": ids[0]})
        total = 600 if quick else 6000
        load_test(base, CI_QUERY, ids, 200, 8, seed=1)  # warm-up
        figures["ci_by_id"] = load_test(base, CI_QUERY, ids, total, 8, seed=2)
        figures["page_round_trips"] = {
            str(first): graphql(base, PAGE_QUERY, {"first": first})[2] for first in (10, 100, 500)
        }
        page_ms = [graphql(base, PAGE_QUERY, {"first": 100})[0] for _ in range(5 if quick else 20)]
        figures["page_100_p50_ms"] = round(sorted(page_ms)[len(page_ms) // 2], 1)
        thousand = next((row for row in impact_rows if row["target_dependents"] == 1000), impact_rows[-1])
        figures["graphql_impact"] = {"target_dependents": thousand["target_dependents"],
                                     **graphql_impact(base, thousand["cis"], 3 if quick else 5)}
    with serving(bench, workers=2) as base:
        load_test(base, CI_QUERY, ids, 200, 8, seed=1)
        figures["ci_by_id_2_workers"] = load_test(base, CI_QUERY, ids, total, 8, seed=2)
    return figures


def run(args: argparse.Namespace) -> int:
    quick = args.quick
    sizes = [10_000] if quick else [int(s) for s in args.sizes.split(",")]
    headline = 10_000 if quick else 100_000
    results: dict[str, Any] = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "quick": quick, "machine": machine(), "heap": args.heap, "pagecache_mb": args.pagecache_mb,
                               "seed": args.seed, "sizes": {}}
    started = time.perf_counter()
    out = Path(args.results or ("benchmarks/results/quick.json" if quick else "benchmarks/results/full.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    with benchmark_neo4j(args.heap, args.pagecache_mb) as bench, tempfile.TemporaryDirectory(prefix="cmdb-graph-gen-") as tmp:
        results["neo4j"] = bench.driver.get_server_info().agent
        for cis in sizes:
            say(f"--- {cis:,} CIs")
            folder = Path(tmp) / f"enterprise-{cis}"
            size: dict[str, Any] = load_size(bench, folder, cis, args.seed, baseline=cis == headline, rerun=cis == headline)
            say("reading the enterprise into networkx for the baselines")
            memory = InMemoryGraph(folder)
            targets = [t for t in (10, 100, 1_000, 10_000) if t * 3 <= cis]
            say(f"impact latency for dependents {targets}")
            size["impact"] = impact_latency(
                bench, memory, targets, per_target=2 if quick else (5 if cis == headline else 3),
                runs=3 if quick else 5, naive_timeout_s=5 if quick else 20, naive_runs=1, seed=args.seed)
            if cis == headline:
                say("rootCause and continuity")
                size["root_cause"] = root_cause_latency(bench, memory, 50, runs=3 if quick else 5, seed=args.seed)
                size["continuity"] = continuity_latency(bench, memory, 5_000, runs=3 if quick else 5)
                say("GraphQL on loopback")
                size["api"] = api_figures(bench, memory, size["impact"], quick)
            results["sizes"][str(cis)] = size
            out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")  # what is done so far
            del memory
            for item in folder.iterdir():
                item.unlink()
    results["seconds"] = round(time.perf_counter() - started)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    say(f"results in {out}")
    if not quick:
        png = out.with_name("growth.png")
        plot_growth(results, png)
        say(f"plot in {png}")
    print(markdown(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run", help="run the benchmarks")
    runner.add_argument("--quick", action="store_true", help="10k CIs only, few samples (the CI smoke test)")
    runner.add_argument("--sizes", default="1000,10000,100000,1000000", help="CI counts of the growth series")
    runner.add_argument("--seed", type=int, default=1)
    runner.add_argument("--heap", default=None, help="Neo4j heap (default 1g quick, 4g full)")
    runner.add_argument("--pagecache-mb", type=int, default=None, help="Neo4j page cache (default 512 quick, 6144 full)")
    runner.add_argument("--results", help="where the JSON goes (default benchmarks/results/{quick,full}.json)")
    reporter = commands.add_parser("report", help="print the Markdown summary of a results file")
    reporter.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "report":
        print(markdown(json.loads(args.file.read_text(encoding="utf-8"))))
        return 0
    args.heap = args.heap or ("1g" if args.quick else "4g")
    args.pagecache_mb = args.pagecache_mb or (512 if args.quick else 6144)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
