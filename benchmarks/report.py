"""A results file as Markdown tables (pasted into BENCHMARKS.md) and the growth plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _impact_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| dependents (sampled) | impact p50 / p95 ms | networkx p50 / p95 ms | ratio p50 (p95) | naive Cypher p50 ms | speed-up vs naive |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        naive = f"{row['naive']['p50']:,.0f}"
        if row["naive_lower_bound"]:
            naive = f"≥ {naive} ({row['naive_timeouts']} of {row['naive_samples']} timed out at {row['naive_timeout_s']:.0f} s)"
        speedup = f"{'≥ ' if row['naive_lower_bound'] else ''}{row['speedup_vs_naive_p50']:,.1f}x"
        lines.append(
            f"| ~{row['target_dependents']:,} ({min(row['dependents']):,}-{max(row['dependents']):,}) "
            f"| {row['impact']['p50']:,.1f} / {row['impact']['p95']:,.1f} "
            f"| {row['networkx']['p50']:,.1f} / {row['networkx']['p95']:,.1f} "
            f"| {row['ratio_vs_networkx_p50']:.2f}x ({row['ratio_vs_networkx_p95']:.2f}x) | {naive} | {speedup} |"
        )
    return lines


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Run of {results['started']} ({'quick' if results['quick'] else 'full'}, seed {results['seed']}, "
        f"{results.get('seconds', '?')} s): {m['cpus']} vCPU ({m['cpu_model']}), {m['memory_gib']} GiB; "
        f"{results.get('neo4j', 'Neo4j')} with heap {results['heap']}, page cache {results['pagecache_mb']} MiB; "
        f"Python {m['python']}, neo4j driver {m['neo4j_driver']}.",
        "",
        "| CIs | relationships | generate s | load s | elements/s | load peak RSS MiB | per-row MERGE elements/s | speed-up |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in results["sizes"].values():
        baseline = f"{size['per_row_merge_rate']:,}" if "per_row_merge_rate" in size else ""
        speedup = f"{size['load_speedup_vs_per_row']}x" if "load_speedup_vs_per_row" in size else ""
        lines.append(f"| {size['cis']:,} | {size['relationships']:,} | {size['generate_seconds']} | {size['load_seconds']} "
                     f"| {size['load_rate']:,} | {size['load_peak_rss_mib']:,} | {baseline} | {speedup} |")
    for cis, size in results["sizes"].items():
        if "reload_seconds" in size:
            lines += ["", f"Re-loading the {int(cis):,}-CI files: {size['reload_seconds']} s, created "
                      f"{size['reload_created']}, updated {size['reload_updated']}, unchanged {size['reload_unchanged']:,}."]
        lines += ["", f"impact(F) at {int(cis):,} CIs:", ""] + _impact_table(size["impact"])
        if "root_cause" in size:
            rc, co, api = size["root_cause"], size["continuity"], size["api"]
            ci, ci2 = api["ci_by_id"], api.get("ci_by_id_2_workers")
            lines += [
                "",
                f"- rootCause, {rc['symptoms']} symptoms: p50 {rc['p50']:,.0f} ms, p95 {rc['p95']:,.0f} ms "
                f"(top candidate {rc['top']}, explains {rc['top_explains']}; the planted cause was {rc['cause']}).",
                f"- continuity of {co['service']} ({co['dependencies']:,} dependencies; {co['spofs']} single points of "
                f"failure, {co['cut_sets']} minimal cut sets up to size 2, availability {co['availability_method']}): "
                f"p50 {co['p50']:,.0f} ms, p95 {co['p95']:,.0f} ms.",
                f"- GraphQL `impact` for ~{api['graphql_impact']['target_dependents']:,} dependents, whole HTTP request: "
                f"p50 {api['graphql_impact']['p50']:,.1f} ms, p95 {api['graphql_impact']['p95']:,.1f} ms.",
                f"- `ci(id)`: {ci['rps']:,.0f} requests/s with one service process ({ci['requests']:,} requests, "
                f"{ci['concurrency']} connections; latency p50 {ci['p50']:.1f} ms, p95 {ci['p95']:.1f} ms)"
                + (f"; {ci2['rps']:,.0f} requests/s with `--workers 2` (p50 {ci2['p50']:.1f} ms, p95 {ci2['p95']:.1f} ms)."
                   if ci2 else "."),
                "- `cis(first: N)` with `dependsOn`, `dependents` and `incidents`: Neo4j round trips "
                + ", ".join(f"{n} for N = {first}" for first, n in api["page_round_trips"].items())
                + f"; p50 {api['page_100_p50_ms']} ms for N = 100.",
            ]
    return "\n".join(lines)


def plot_growth(results: dict[str, Any], png: Path) -> None:
    """Load rate and impact p50 per dependents bucket against enterprise size, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results["sizes"].values(), key=lambda s: s["cis"])
    figure, (load_axis, impact_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    load_axis.plot([s["cis"] for s in sizes], [s["load_rate"] for s in sizes], marker="o")
    load_axis.set(xscale="log", xlabel="CIs", ylabel="elements loaded per second", title="Bulk load rate")
    load_axis.grid(True, which="both", alpha=0.3)
    buckets = sorted({row["target_dependents"] for s in sizes for row in s["impact"]})
    for bucket in buckets:
        points = [(s["cis"], row["impact"]["p50"]) for s in sizes for row in s["impact"] if row["target_dependents"] == bucket]
        impact_axis.plot(*zip(*points), marker="o", label=f"~{bucket:,} dependents")
    impact_axis.set(xscale="log", yscale="log", xlabel="CIs", ylabel="impact(F) p50, ms", title="Impact latency")
    impact_axis.grid(True, which="both", alpha=0.3)
    impact_axis.legend()
    figure.tight_layout()
    figure.savefig(png, dpi=110)
    plt.close(figure)
