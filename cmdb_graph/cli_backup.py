"""`cmdb-graph backup FILE`, `cmdb-graph restore FILE` and `cmdb-graph db hash`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cmdb_graph.backup import BackupError, backup, canonical_hash, restore
from cmdb_graph.cli import app, connected, db_app, err, fail, out, print_json, settings


@contextmanager
def _phases() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on standard error, one task per phase (a retried backup starts again)."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        tasks: dict[str, int] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total or None)
            progress.update(tasks[phase], completed=done, total=total or None)

        yield update


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"


@app.command("backup")
def backup_command(
    file: Annotated[Path, typer.Argument(help="the backup to write (gzip-compressed JSON lines), e.g. cmdb.jsonl.gz")],
    attempts: Annotated[int, typer.Option(min=1, max=100, help="dumps to try while the database keeps changing")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable summary")] = False,
) -> None:
    """Back up everything (CIs, relationships, records, audit trail, import runs, API keys)
    consistently, while the service may be writing; FILE appears only when it is complete."""
    config = settings()
    with connected(config) as (target, driver):
        try:
            with _phases() as progress:
                summary = backup(driver, target.database, file, attempts=attempts,
                                 timeout=config.import_timeout_seconds, progress=progress)
        except BackupError as error:
            fail(escape(str(error)))
    if as_json:
        print_json(summary.model_dump(mode="json"))
        return
    retried = f", {summary.attempts} attempts" if summary.attempts > 1 else ""
    out.print(f"backed up {summary.counts.nodes:,} nodes and {summary.counts.relationships:,} relationships to "
              f"{escape(summary.file)} ({_megabytes(summary.bytes)}) in {summary.seconds:.1f}s{retried}; "
              f"hash {summary.hash}", highlight=False, soft_wrap=True)


@app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="a file written by `cmdb-graph backup`")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable summary")] = False,
) -> None:
    """Restore a backup into an empty database (`cmdb-graph db reset --yes` empties one). The
    whole file is checked before anything is written; a restore that fails midway empties
    the database again. Exit 1 if the restored graph's hash is not the backup's."""
    config = settings()
    with connected(config) as (target, driver):
        try:
            with _phases() as progress:
                summary = restore(driver, target.database, file, batch_rows=config.bulk_batch_rows,
                                  timeout=config.import_timeout_seconds, progress=progress)
        except BackupError as error:
            fail(escape(str(error)))
    if as_json:
        print_json(summary.model_dump(mode="json"))
    else:
        out.print(f"restored {summary.nodes:,} nodes and {summary.relationships:,} relationships from "
                  f"{escape(summary.file)} (taken {summary.taken_at:%Y-%m-%d %H:%M:%S}Z) in {summary.seconds:.1f}s",
                  highlight=False, soft_wrap=True)
        out.print(f"backup hash   {summary.expected_hash}\nrestored hash {summary.restored_hash}", highlight=False)
    if not summary.matches:
        fail("the restored graph's hash differs from the backup's: the restore is not faithful")


@db_app.command("hash")
def db_hash(
    content_only: Annotated[bool, typer.Option(
        "--content-only", help="leave out audit entries, import runs and time-of-write properties, to compare two loads")] = False,
) -> None:
    """The canonical SHA-256 of every node and relationship (independent of Neo4j's ids and order)."""
    config = settings()
    with connected(config) as (target, driver):
        try:
            value = canonical_hash(driver, target.database, content_only=content_only)
        except BackupError as error:
            fail(escape(str(error)))
    typer.echo(value)
