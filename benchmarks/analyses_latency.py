"""Median latency of each analysis on the demo enterprise (in-process, over Bolt to the Neo4j
that settings resolve). Loads the demo first.

    .venv/bin/python benchmarks/analyses_latency.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from cmdb_graph.connection import resolve_neo4j
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store
from impact.bia import analyse_bia
from impact.blast_radius import analyse_blast_radius
from impact.change_impact import analyse_change_impact
from impact.continuity import analyse_continuity
from impact.dependencies import analyse_dependencies
from impact.health import analyse_health
from impact.impact import analyse_impact
from impact.root_cause import analyse_root_cause

CASES = {
    "impact(dc-fra): 202 CIs impacted": lambda s: analyse_impact(s, ["dc-fra"]),
    "impact(db-catalog)": lambda s: analyse_impact(s, ["db-catalog"]),
    "dependencies(svc-online-shop): 169 CIs": lambda s: analyse_dependencies(s, "svc-online-shop"),
    "blastRadius(dc-fra)": lambda s: analyse_blast_radius(s, "dc-fra"),
    "rootCause(app-checkout, app-storefront, app-search)": lambda s: analyse_root_cause(s, ["app-checkout", "app-storefront", "app-search"]),
    "changeImpact(CHG-0001)": lambda s: analyse_change_impact(s, "CHG-0001"),
    "continuity(svc-online-shop)": lambda s: analyse_continuity(s, "svc-online-shop"),
    "continuity(svc-payments)": lambda s: analyse_continuity(s, "svc-payments"),
    "biaRanking": lambda s: analyse_bia(s),
    "cmdbHealth": lambda s: analyse_health(s),
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "cmdb-graph"), "demo"], check=True,
                   stdout=subprocess.DEVNULL)
    config = Settings()
    target = resolve_neo4j(config)
    driver = target.driver()
    store = Store(driver, target.database)
    print(f"{'analysis':55} {'median ms':>10} {'max ms':>8}")
    for name, case in CASES.items():
        case(store)  # warm-up: query plans cached
        samples = []
        for _ in range(args.runs):
            started = time.perf_counter()
            case(store)
            samples.append((time.perf_counter() - started) * 1000)
        print(f"{name:55} {statistics.median(samples):10.1f} {max(samples):8.1f}")
    driver.close()
    target.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
