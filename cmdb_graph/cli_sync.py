"""`cmdb-graph import SOURCE PATH` and `cmdb-graph export`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cmdb_graph.cli import _progress, app, connected, err, fail, out, print_json, settings
from cmdb_graph.model import Strength
from cmdb_graph.schema import init_schema
from cmdb_graph.store import Store
from loaders import SOURCES
from loaders.sync.load import SyncReport

TRACES = "traces"  # not a syncing source: it reports calls, not CIs (loaders/traces/)
Source = Enum("Source", {name: name for name in (*SOURCES, TRACES)}, type=str)  # type: ignore[misc]


class ExportFormat(str, Enum):
    JSON = "json"
    GRAPHML = "graphml"


def _print_sync_report(report: SyncReport, as_json: bool) -> None:
    if as_json:
        print_json(report.model_dump())
        return
    for message in report.errors:
        err.print(message, highlight=False, markup=False, style="red")
    if not report.ok:
        return
    title = "dry run: nothing written" if report.dry_run else f"{report.source}: sync {report.sync_tag}"
    table = Table("", "created", "updated", "unchanged", "retired", "deleted / removed", title=title)
    c, r = report.cis, report.relationships
    table.add_row("CIs", *(str(c.get(k, 0)) for k in ("create", "update", "unchanged", "retired", "deleted")))
    table.add_row("relationships", *(str(r.get(k, 0)) for k in ("create", "update", "unchanged")), "",
                  str(r.get("removed", 0)))
    if report.teams:
        table.add_row("teams", *(str(report.teams.get(k, 0)) for k in ("create", "update", "unchanged")), "", "")
    out.print(table)
    if report.dry_run:
        for label, ids in (("would create", report.created), ("would retire", report.retired),
                           ("would delete", report.deleted), ("would remove", report.relationships_removed)):
            if ids:
                out.print(f"[bold]{label}[/] ({len(ids)}{'+' if len(ids) == 200 else ''}): " + ", ".join(ids),
                          highlight=False)
        for change in report.updated:
            out.print(f"[bold]would update[/] {change.id}: {', '.join(change.fields)}", highlight=False)
    if report.no_longer_reported:
        out.print(f"no longer reported by {report.source}, kept because another source still reports them: "
                  + ", ".join(report.no_longer_reported), highlight=False)
    if report.findings_by_kind:
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(report.findings_by_kind.items()))
        out.print(f"[yellow]findings:[/] {summary}", highlight=False)
        for finding in report.findings[:20]:
            out.print(f"  {finding}", highlight=False, markup=False)
        if sum(report.findings_by_kind.values()) > 20:
            out.print("  ... (all of them with --json)")
    out.print(f"{report.rows} rows in {report.seconds:.2f}s ({report.rows_per_second:,.0f} rows/s)")


@app.command("import")
def import_source(
    source: Annotated[Source, typer.Argument(help="which kind of source PATH holds")],
    path: Annotated[Path, typer.Argument(help="the export, manifest or directory to read")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be created, updated and retired; write nothing")] = False,
    source_name: Annotated[str | None, typer.Option("--source-name", help="this source's name (default: SOURCE); "
                                                    "two NetBox instances need two names")] = None,
    allow_large_cleanup: Annotated[bool, typer.Option("--allow-large-cleanup", help="retire more than the allowed share of the source's CIs")] = False,
    delete_stale: Annotated[bool, typer.Option("--delete-stale", help="delete what the source no longer reports, instead of retiring it")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable report")] = False,
    record_relationships: Annotated[bool, typer.Option(
        "--record-relationships", help="traces: write each observed call the CMDB does not declare as a DEPENDS_ON "
                                       "with source 'traces'")] = False,
    strength: Annotated[Strength, typer.Option(help="traces: the strength of the relationships recorded")] = Strength.SOFT,
) -> None:
    """Import a source: identify each item against what is stored, merge, and retire what the
    source no longer reports. All or nothing; re-running it changes nothing. `traces` reads
    OpenTelemetry trace exports (OTLP JSON) and records the calls they show."""
    from loaders import importer as importer_for
    from loaders.sync.load import CleanupRefused, SyncOptions
    from loaders.sync.run import failed_report, read_source, run_import

    if source.value == TRACES:
        given = [flag for flag, on in (("--source-name", source_name is not None),
                                       ("--allow-large-cleanup", allow_large_cleanup),
                                       ("--delete-stale", delete_stale)) if on]
        if given:  # a trace export creates and retires no CI: these would do nothing
            fail(f"{', '.join(given)}: not for traces, which create and retire no CI")
        import_traces_command(path, dry_run, record_relationships, strength, as_json)
        return
    if record_relationships or strength is not Strength.SOFT:
        fail("--record-relationships and --strength are for traces only")
    name = source_name or source.value
    if not name or len(name) > 60 or any(ch.isspace() or ch == ":" for ch in name):
        fail("--source-name: 1 to 60 characters, no spaces or ':'")
    config = settings()
    importer = importer_for(source.value)
    with _progress() as progress:
        task = progress.add_task(f"reading {path}", total=None)
        batch = read_source(importer, path)
        progress.remove_task(task)
    options = SyncOptions(source=name, importer=importer.name, keys_are_ids=importer.keys_are_ids, actor=config.actor,
                          dry_run=dry_run, delete_stale=delete_stale, allow_large_cleanup=allow_large_cleanup,
                          max_cleanup_share=config.cleanup_max_share, batch_size=config.batch_size,
                          timeout_seconds=config.import_timeout_seconds,
                          commit_rows=config.import_commit_rows)
    if batch.errors:
        _print_sync_report(failed_report(batch, importer, path, options), as_json)
        fail(f"{len(batch.errors)} error(s) in {path}; nothing was written")
    with connected(config) as (target, driver):
        init_schema(driver, target.database)
        store = Store(driver, target.database, config.batch_size)
        with _progress() as progress:
            task = progress.add_task("checking" if dry_run else "importing",
                                     total=len(batch.cis) + len(batch.relationships))
            try:
                report = run_import(store, importer, path, options, lambda n: progress.advance(task, n), batch=batch)
            except CleanupRefused as error:
                progress.stop()
                fail(str(error))
    _print_sync_report(report, as_json)


def import_traces_command(path: Path, dry_run: bool, record_relationships: bool, strength: Strength,
                          as_json: bool) -> None:
    from loaders.sync.files import SourceReadError
    from loaders.traces.get import read
    from loaders.traces.load import ImportedMeanwhile, import_traces

    config = settings()
    try:
        with _progress() as progress:
            task = progress.add_task(f"reading {path}", total=None)
            files = read(path)
            progress.remove_task(task)
    except SourceReadError as error:
        fail(f"{error}; nothing was written")
    with connected(config) as (target, driver):
        init_schema(driver, target.database)
        store = Store(driver, target.database, config.batch_size)
        try:
            report = import_traces(store, files, actor=config.actor, record_relationships=record_relationships,
                                   strength=strength, dry_run=dry_run)
        except ImportedMeanwhile as error:
            fail(str(error))
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        _print_trace_report(report)
    if not report.ok:
        shown = "" if report.error_count == len(report.errors) else f" (the first {len(report.errors)} shown)"
        fail(f"{report.error_count} error(s) in {path}{shown}; nothing was written")


def _print_trace_report(report: Any) -> None:
    for message in report.errors:
        err.print(message, highlight=False, markup=False, style="red")
    if not report.ok:
        return
    if report.already_imported:
        out.print("already imported, skipped: " + ", ".join(report.already_imported), highlight=False)
    if report.requests_skipped and len(report.already_imported) < len(report.files):  # some files only in part
        out.print(f"{report.requests_skipped} of {report.requests} export request(s) imported before or repeated, "
                  "skipped", highlight=False)
    title = "dry run: nothing written" if report.dry_run else "traces: calls observed"
    table = Table("kind", "caller", "callee", "calls", "errors", "last seen", "CIs", "in the CMDB", title=title,
                  title_justify="left")
    for c in report.calls:
        recorded = "would be recorded" if report.dry_run else "recorded now"
        state = "declared" if c.declared else (recorded if c.recorded else "not declared")
        cis = f"{c.caller_ci or '?'} -> {c.callee_ci or '?'}"
        table.add_row(c.kind, c.caller, c.callee, str(c.calls), str(c.errors), c.last_seen.isoformat(timespec="seconds"),
                      cis, state)
    out.print(table)
    for name, reason in report.unresolved.items():
        out.print(f"[yellow]no CI for[/] {name}: {reason}", highlight=False)
    out.print(f"{report.traces} traces, {report.spans} spans ({report.unattributed} without service.name, "
              f"{report.orphans} whose parent is not in the export); {report.confirmed} declared relationships "
              f"confirmed, {report.recorded} recorded; {report.seconds:.2f}s", highlight=False)


@app.command("export")
def export(
    fmt: Annotated[ExportFormat, typer.Option("--format", help="json: the native format, loadable again; graphml: for graph tools")] = ExportFormat.JSON,
    out_file: Annotated[Path | None, typer.Option("--out", help="write here instead of standard output")] = None,
) -> None:
    """Write the whole CMDB: CIs, relationships and records."""
    from loaders.native.export import export_document, to_graphml, to_json

    config = settings()
    with connected(config) as (target, driver):
        document = export_document(Store(driver, target.database, config.batch_size))
    text = to_json(document) if fmt is ExportFormat.JSON else to_graphml(document)
    if out_file is None:
        typer.echo(text, nl=False)
    else:
        out_file.write_text(text, encoding="utf-8")
        err.print(f"{len(document['cis'])} CIs, {len(document['relationships'])} relationships written to {out_file}")
