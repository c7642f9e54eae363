"""Rows per second of each importer on a generated input of N rows (CIs plus relationships),
into an emptied database of the Neo4j that settings resolve: the first import (everything
created), then the same input again (everything unchanged). Also the time of get + transform
alone and the peak memory of this process.

    .venv/bin/python benchmarks/importers.py [--rows 100000] [--sources servicenow,csv]

It empties the database it runs on: point it at a Neo4j you can spare.
"""

from __future__ import annotations

import argparse
import importlib
import resource
import tempfile
import time
from pathlib import Path

from cmdb_graph.connection import resolve_neo4j
from cmdb_graph.schema import init_schema, reset_database
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store
from loaders import SOURCES, importer
from loaders.sync.load import SyncOptions
from loaders.sync.run import read_source, run_import


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sources", default=",".join(SOURCES))
    args = parser.parse_args()
    config = Settings()
    target = resolve_neo4j(config)
    driver = target.driver()
    init_schema(driver, target.database)
    store = Store(driver, target.database, config.batch_size)
    print(f"| source | rows | get + transform | first import | rows/s | re-import (unchanged) | rows/s | peak RSS |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.sources.split(","):
            source = importer(name)
            generate = importlib.import_module(f"sources.{name}").generate
            path = generate(Path(scratch) / name, args.rows)
            reset_database(driver, target.database)
            started = time.perf_counter()
            batch = read_source(source, path)
            read_seconds = time.perf_counter() - started
            assert not batch.errors, batch.errors[:3]
            rows = len(batch.cis) + len(batch.relationships)
            options = SyncOptions(source=name, importer=name, keys_are_ids=source.keys_are_ids, actor="benchmark",
                                  batch_size=config.batch_size, timeout_seconds=config.import_timeout_seconds,
                          commit_rows=config.import_commit_rows)
            timings = []
            for _ in range(2):
                started = time.perf_counter()
                report = run_import(store, source, path, options)
                assert report.ok, report.errors[:3]
                timings.append(time.perf_counter() - started)
            print(f"| {name} | {rows:,} | {read_seconds:.1f} s | {timings[0]:.1f} s | {rows / timings[0]:,.0f} "
                  f"| {timings[1]:.1f} s | {rows / timings[1]:,.0f} | {peak_rss_mb():,.0f} MB |", flush=True)
    reset_database(driver, target.database)
    driver.close()
    target.release()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
