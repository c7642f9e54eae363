"""The `cmdb-graph` command line. User errors print a message and exit non-zero, never a
traceback; `--json` output is for scripts."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timezone
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from neo4j import Driver
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cmdb_graph.connection import Neo4jTarget, resolve_neo4j
from cmdb_graph.neo4j_local import LocalNeo4j, LocalNeo4jError
from cmdb_graph.schema import init_schema, reset_database
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store, StoreError

app = typer.Typer(help="cmdb-graph: a graph-backed CMDB with impact analysis.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
neo4j_app = typer.Typer(help="The local Neo4j that the project runs itself (no Docker needed).", no_args_is_help=True)
db_app = typer.Typer(help="Schema and contents of the database.", no_args_is_help=True)
ci_app = typer.Typer(help="Look at configuration items.", no_args_is_help=True)
app.add_typer(neo4j_app, name="neo4j")
app.add_typer(db_app, name="db")
app.add_typer(ci_app, name="ci")

out = Console()
err = Console(stderr=True, soft_wrap=True)  # never break a file:line message


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        fail(f"invalid settings: {error}")


@contextmanager
def connected(config: Settings) -> Iterator[tuple[Neo4jTarget, Driver]]:
    """Resolve Neo4j (starting the local one if that is what resolution picks) and connect."""
    try:
        target = resolve_neo4j(config, progress=lambda message: err.print(message, style="dim"))
    except LocalNeo4jError as error:
        fail(str(error))
    driver = target.driver()
    try:
        driver.verify_connectivity()
        yield target, driver
    except AuthError:
        fail(f"Neo4j at {target.uri} refused the credentials (check NEO4J_USER / NEO4J_PASSWORD)")
    except ServiceUnavailable as error:
        fail(f"cannot reach Neo4j at {target.uri}: {error}")
    except Neo4jError as error:
        fail(f"Neo4j: {error.message or error}")
    except StoreError as error:
        fail(str(error))
    finally:
        driver.close()
        target.release()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# --- neo4j ---------------------------------------------------------------------------------


@neo4j_app.command("start")
def neo4j_start() -> None:
    """Start the local Neo4j (resolving it with Maven on first use); returns once Bolt answers."""
    config = settings()
    local = LocalNeo4j(config, progress=lambda message: err.print(message, style="dim"))
    before = local.status()
    started = time.perf_counter()
    try:
        status = local.start()
    except LocalNeo4jError as error:
        fail(str(error))
    if before.running:
        out.print(f"Neo4j {status.version} already running at {status.uri} (pid {status.pid})")
    else:
        out.print(f"Neo4j {status.version} running at {status.uri} (pid {status.pid}), "
                  f"started in {time.perf_counter() - started:.1f}s; data in {config.home}")


@neo4j_app.command("stop")
def neo4j_stop() -> None:
    """Shut the local Neo4j down cleanly."""
    try:
        stopped = LocalNeo4j(settings()).stop()
    except LocalNeo4jError as error:
        fail(str(error))
    out.print("Neo4j stopped" if stopped else "Neo4j was not running")


@neo4j_app.command("status")
def neo4j_status(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False) -> None:
    """Say whether the local Neo4j runs, where, and which version. Exit 3 when it does not."""
    status = LocalNeo4j(settings()).status()
    if as_json:
        print_json({"running": status.running, "pid": status.pid, "uri": status.uri,
                    "version": status.version, "home": str(status.home)})
    elif status.running:
        out.print(f"running: Neo4j {status.version} at {status.uri} (pid {status.pid}); data in {status.home}")
    else:
        out.print(f"not running (data in {status.home})")
    if not status.running:
        raise typer.Exit(3)


# --- db ------------------------------------------------------------------------------------


@db_app.command("init")
def db_init() -> None:
    """Create the uniqueness constraints and indexes (idempotent)."""
    config = settings()
    with connected(config) as (target, driver):
        names = init_schema(driver, target.database)
    out.print(f"schema ready on {target.uri}: {len(names)} constraints and indexes")


@db_app.command("reset")
def db_reset(yes: Annotated[bool, typer.Option("--yes", help="really delete everything")] = False) -> None:
    """Delete every node and relationship (constraints and indexes stay)."""
    if not yes:
        fail("this deletes every CI, relationship and record; run again with --yes to confirm")
    config = settings()
    with connected(config) as (target, driver):
        reset_database(driver, target.database)
    out.print(f"database emptied on {target.uri}")


# --- load and demo ---------------------------------------------------------------------------


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        print_json(report.model_dump())
        return
    if not report.ok:
        for message in report.errors[:200]:
            err.print(message, highlight=False, markup=False, style="red")
        if len(report.errors) > 200:
            err.print(f"... and {len(report.errors) - 200} more errors")
        return
    table = Table(title="dry run: nothing written" if report.dry_run else None)
    for column in ("kind", "created" if not report.dry_run else "would create",
                   "updated" if not report.dry_run else "would update", "unchanged"):
        table.add_column(column, justify="right" if column != "kind" else "left")
    for kind in report.kinds:
        table.add_row(kind.kind, str(kind.created), str(kind.updated), str(kind.unchanged))
    out.print(table)
    if report.dry_run:
        for title, listing in (("would create", report.would_create), ("would update", report.would_update)):
            for kind, ids in listing.items():
                if ids:
                    out.print(f"{title} {kind}: {', '.join(ids)}" + (" ..." if len(ids) == 50 else ""), highlight=False)
    verb = "would create" if report.dry_run else "created"
    out.print(f"{verb} {report.created}, {'would update' if report.dry_run else 'updated'} {report.updated}, "
              f"unchanged {report.unchanged} in {report.seconds:.2f}s")


def _run_load(config: Settings, store: Store, transformed: Any, *, files: list[str], source: str,
              dry_run: bool) -> Any:
    """Check references against the database, then write (or preview) with a progress bar."""
    from loaders.native.load import load_document

    with _progress() as progress:
        task = progress.add_task("checking" if dry_run else "loading", total=transformed.document.size())
        report = load_document(
            store, transformed.document, files=files, source=source, actor=config.actor, dry_run=dry_run,
            progress=lambda n: progress.advance(task, n), errors=transformed.errors, transformed=transformed,
        )
    return report


@app.command("load")
def load(
    files: Annotated[list[Path], typer.Argument(help="YAML or JSON documents, CSV files or folders")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate and show what would change; write nothing")] = False,
    source_name: Annotated[str, typer.Option("--source-name", help="recorded as each item's source")] = "native",
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable report")] = False,
    bulk: Annotated[bool | None, typer.Option(
        "--bulk/--no-bulk",
        help="stream the CSV files in batches of transactions (see docs/scale.md); on by itself when they are large",
    )] = None,
) -> None:
    """Load documents in the native format: everything or nothing; re-loading changes nothing."""
    from loaders.native.bulk import csv_bytes

    config = settings()
    if bulk is None:
        bulk = not dry_run and csv_bytes(files) > config.bulk_auto_bytes
        if bulk:
            err.print(f"the CSV files are larger than {config.bulk_auto_bytes:,} bytes: bulk load (--no-bulk to refuse)",
                      style="dim")
    if bulk:
        if dry_run:
            fail("--dry-run and --bulk do not go together: a bulk load checks everything before it writes anyway")
        report = _bulk_load(config, files, source_name)
    else:
        report = _normal_load(config, files, source_name, dry_run)
    _print_report(report, as_json)
    if not report.ok:
        fail(f"{len(report.errors)} error(s); nothing was written")


def _normal_load(config: Settings, files: list[Path], source: str, dry_run: bool) -> Any:
    from loaders.native.get import read_paths
    from loaders.native.load import LoadReport
    from loaders.native.transform import transform

    transformed = transform(read_paths(files))
    if transformed.errors:
        return LoadReport(files=[str(f) for f in files], dry_run=dry_run, ok=False,
                          errors=[str(e) for e in transformed.errors])
    with connected(config) as (target, driver):
        init_schema(driver, target.database)
        store = Store(driver, target.database, config.batch_size)
        return _run_load(config, store, transformed, files=[str(f) for f in files], source=source, dry_run=dry_run)


def _bulk_load(config: Settings, files: list[Path], source: str) -> Any:
    """Stream CSVs of any size: everything checked, then written in batches (docs/scale.md)."""
    from loaders.native.bulk import BulkLoadInterrupted, bulk_load, count_rows

    with connected(config) as (target, driver):
        init_schema(driver, target.database)
        store = Store(driver, target.database, config.batch_size)
        rows = count_rows(files)
        try:
            with _progress() as progress:
                tasks = {phase: progress.add_task(phase, total=rows) for phase in ("checking", "loading")}
                return bulk_load(store, files, source=source, actor=config.actor, batch_rows=config.bulk_batch_rows,
                                 writers=config.bulk_writers, timeout=config.import_timeout_seconds,
                                 progress=lambda phase, n: progress.advance(tasks[phase], n))
        except BulkLoadInterrupted as error:  # the driver's own words name a socket, not the server
            fail(f"Neo4j at {target.uri}: {error}")


@app.command("generate")
def generate(
    cis: Annotated[int, typer.Option("--cis", min=300, help="how many CIs (300 to millions)")],
    seed: Annotated[int, typer.Option("--seed", help="same seed and size, same enterprise, byte for byte")] = 1,
    out_dir: Annotated[Path | None, typer.Option("--out", help="write cis.csv, relationships.csv and records.json here instead of loading them")] = None,
    reset: Annotated[bool, typer.Option("--reset/--no-reset", help="empty the database before loading")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable report")] = False,
) -> None:
    """A realistic enterprise of any size (sites, network, storage, clusters, VMs, containers,
    databases, applications, services, incidents and changes), to a folder or into Neo4j."""
    import tempfile

    from cmdb_graph.generate import write_enterprise

    def write(folder: Path) -> Any:
        with _progress() as progress:
            task = progress.add_task("generating", total=None)
            return write_enterprise(folder, cis, seed, progress=lambda n: progress.advance(task, n))

    if out_dir is not None:
        generated = write(out_dir)
        if as_json:
            print_json(generated.model_dump())
        else:
            out.print(f"{generated.cis:,} CIs, {generated.relationships:,} relationships and "
                      f"{sum(generated.records.values()):,} records written to {out_dir} in {generated.seconds:.1f}s")
        return
    config = settings()
    with tempfile.TemporaryDirectory(prefix="cmdb-graph-generated-") as folder:
        generated = write(Path(folder))
        if reset:
            with connected(config) as (target, driver):
                reset_database(driver, target.database)
        report = _bulk_load(config, [Path(folder)], "generated")
    _print_report(report, as_json)
    if not report.ok:
        fail("the generated enterprise could not be loaded")


@app.command("demo")
def demo(
    seed: Annotated[int, typer.Option(help="same seed, same enterprise")] = 42,
    out_file: Annotated[Path | None, typer.Option("--out", help="write the document here instead of loading it")] = None,
    reset: Annotated[bool, typer.Option("--reset/--no-reset", help="empty the database first")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable report")] = False,
    traces: Annotated[bool, typer.Option("--traces/--no-traces", help="also import the demo's last hour of traces")] = True,
    traces_out: Annotated[Path | None, typer.Option(
        "--traces-out", help="write the demo's trace export (OTLP JSON, the last hour) here and stop")] = None,
) -> None:
    """Load the demo enterprise: two data centres, 300+ CIs, services with SLAs and a history,
    and an hour of the online shop's traces."""
    from cmdb_graph.demo import build_demo
    from cmdb_graph.demo_traces import build_demo_traces
    from loaders.native.get import read_mapping
    from loaders.native.transform import transform

    if traces_out is not None:
        traces_out.write_text(json.dumps(build_demo_traces(seed=seed)), encoding="utf-8")
        out.print(f"demo trace export written to {traces_out}")
        return
    document = build_demo(seed=seed)
    if out_file is not None:
        import yaml

        out_file.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
        out.print(f"demo enterprise written to {out_file} ({len(document['cis'])} CIs)")
        return
    transformed = transform(read_mapping(f"demo(seed={seed})", document))
    if transformed.errors:
        fail("the demo document is invalid: " + "; ".join(str(e) for e in transformed.errors[:5]))
    config = settings()
    with connected(config) as (target, driver):
        init_schema(driver, target.database)
        if reset:
            reset_database(driver, target.database)
        store = Store(driver, target.database, config.batch_size)
        report = _run_load(config, store, transformed, files=[f"demo(seed={seed})"], source="demo", dry_run=False)
        if report.ok and traces:
            observed = _import_demo_traces(store, seed, config.actor)
    _print_report(report, as_json)
    if not report.ok:
        fail("the demo could not be loaded")
    if traces and not as_json:
        out.print(f"demo traces: {observed.spans} spans, {len(observed.calls)} calls observed, "
                  f"{observed.confirmed} declared dependencies confirmed", highlight=False)
    if not as_json:
        out.print(f"demo enterprise loaded into {target.uri} ({target.origin} Neo4j)")


def _import_demo_traces(store: Store, seed: int, actor: str) -> Any:
    from cmdb_graph.demo_traces import build_demo_traces
    from loaders.traces.get import from_text
    from loaders.traces.load import import_traces

    export = from_text(f"demo-traces(seed={seed})", json.dumps(build_demo_traces(seed=seed)))
    return import_traces(store, [export], actor=actor)


# --- serve -----------------------------------------------------------------------------------


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default 127.0.0.1, or CMDB_GRAPH_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on (default 8000, or CMDB_GRAPH_API_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(
        help="service processes (default 1, or CMDB_GRAPH_API_WORKERS); one per core beside Neo4j's")] = None,
) -> None:
    """Serve the GraphQL API (/graphql, with GraphiQL in a browser), /healthz, /readyz, /metrics."""
    import uvicorn

    from cmdb_graph.api.app import create_app

    config = settings()
    host = host or config.api_host
    port = port or config.api_port
    workers = workers or config.api_workers
    with connected(config) as (target, driver):
        init_schema(driver, target.database)
        out.print(f"cmdb-graph serving http://{host}:{port}/graphql on {target.uri} ({target.origin} Neo4j"
                  f"{f', {workers} processes' if workers > 1 else ''}); Ctrl-C stops it", highlight=False)
        from cmdb_graph import web

        map_state = "" if web.PAGE.is_file() else " (not built: bash scripts/bootstrap.sh builds it)"
        out.print(f"the impact map: http://{host}:{port}/{map_state}", highlight=False)
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the
        # handler it found; ours turns that into a clean exit (status 0, no traceback).
        previous = {sig: signal.signal(sig, _stop_serving) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if workers > 1:
                # each process builds its own app and drivers, on the server resolved here
                os.environ.update(NEO4J_URI=target.uri, NEO4J_USER=target.user, NEO4J_PASSWORD=target.password,
                                  CMDB_GRAPH_NEO4J_DATABASE=target.database)
                uvicorn.run("cmdb_graph.api.app:create_app", factory=True, host=host, port=port, workers=workers,
                            log_level="warning")
            else:
                uvicorn.run(create_app(config, target), host=host, port=port, log_level="warning")
        except _StopServing:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    out.print("cmdb-graph stopped")


class _StopServing(Exception):
    """Raised by the signal handler once uvicorn has finished its graceful shutdown."""


def _stop_serving(signum: int, frame: object) -> None:
    raise _StopServing


# --- ci --------------------------------------------------------------------------------------


@ci_app.command("show")
def ci_show(
    ci_id: str,
    as_of: Annotated[str | None, typer.Option("--as-of", help="as it was then (ISO time; UTC if no offset), "
                                                              "rebuilt from the audit trail")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One CI with its bookkeeping; with --as-of, its fields and relationships as they were then."""
    if as_of is not None:
        _ci_as_of(ci_id, as_of, as_json)
        return
    config = settings()
    with connected(config) as (target, driver):
        stored = Store(driver, target.database).get_ci(ci_id)
    if stored is None:
        fail(f"no CI with id {ci_id!r}")
    if as_json:
        print_json(stored.model_dump(mode="json", by_alias=True))
        return
    table = Table(show_header=False)
    for key, value in stored.ci.model_dump(by_alias=True).items():
        if value not in (None, [], {}):
            table.add_row(key, str(value.value if hasattr(value, "value") else value))
    for key in ("layer", "version", "created_at", "updated_at", "source"):
        table.add_row(key, str(getattr(stored, key)))
    out.print(table)


def _ci_as_of(ci_id: str, as_of: str, as_json: bool) -> None:
    from cmdb_graph.cli_analyses import instant
    from impact.history import graph_as_of

    at = instant(as_of)
    config = settings()
    with connected(config) as (target, driver):
        try:
            graph = graph_as_of(Store(driver, target.database), at)  # type: ignore[arg-type]
        except ValueError as error:
            fail(str(error))
    props = graph.cis.get(ci_id)
    if props is None:
        fail(f"no CI with id {ci_id!r} as of {graph.at.isoformat()}")
    needs = [(e.type.value, e.target, e.strength.value) for e in graph.topology.out.get(ci_id, [])]
    needed_by = [(e.type.value, source, e.strength.value) for source, e in graph.topology.incoming.get(ci_id, [])]
    if as_json:
        print_json({"as_of": graph.at.isoformat(), "ci": {k: v for k, v in sorted(props.items())},
                    "depends_on": [{"type": t, "to": c, "strength": s} for t, c, s in sorted(needs)],
                    "dependents": [{"type": t, "from": c, "strength": s} for t, c, s in sorted(needed_by)]})
        return
    table = Table(show_header=False, title=f"{ci_id} as of {graph.at.isoformat()}", title_justify="left")
    for key, value in sorted(props.items()):
        if value not in (None, [], {}, ""):
            table.add_row(key, str(value))
    for t, c, s in sorted(needs):
        table.add_row(f"-[{t}]->", f"{c} ({s})")
    for t, c, s in sorted(needed_by):
        table.add_row(f"<-[{t}]-", f"{c} ({s})")
    out.print(table)


@ci_app.command("history")
def ci_history(
    item_id: Annotated[str, typer.Argument(help="a CI or record id")],
    limit: int = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Audit entries for one item, newest first."""
    config = settings()
    with connected(config) as (target, driver):
        entries = Store(driver, target.database).history(item_id, limit)
    if as_json:
        print_json([e.model_dump(mode="json") for e in entries])
        return
    table = Table("at", "actor", "action", "version", "changed")
    for entry in entries:
        table.add_row(entry.at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"), entry.actor, entry.action,
                      str(entry.version), ", ".join(entry.changed))
    out.print(table)


# the analysis, knowledge, import and export commands register themselves on `app`
from cmdb_graph import cli_access, cli_analyses, cli_backup, cli_knowledge, cli_processes, cli_sync  # noqa: E402,F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()
