"""One import, end to end: get -> transform -> load (with cleanup), for any importer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cmdb_graph.store import Store
from loaders.sync.files import SourceReadError
from loaders.sync.importer import Importer
from loaders.sync.load import SyncOptions, SyncReport, sync_batch
from loaders.sync.model import SourceBatch

# Errors listed in a report; a source with thousands of bad rows needs the first ones fixed.
MAX_ERRORS = 200


def read_source(importer: Importer, path: Path) -> SourceBatch:
    """The source's view of `path`; a source that cannot be read is a batch of errors."""
    try:
        raw = importer.get(path)
    except SourceReadError as error:
        return SourceBatch(errors=list(error.errors))
    return importer.transform(raw)


def run_import(
    store: Store,
    importer: Importer,
    path: Path,
    options: SyncOptions,
    progress: Callable[[int], None] | None = None,
    batch: SourceBatch | None = None,
) -> SyncReport:
    """Import `path`: nothing is written unless every row of it is valid (`batch`: the
    result of `read_source`, when the caller read it already to size a progress bar)."""
    batch = batch if batch is not None else read_source(importer, path)
    if batch.errors:
        return failed_report(batch, importer, path, options)
    return sync_batch(store, batch, options, str(path), progress)


def failed_report(batch: SourceBatch, importer: Importer, path: Path, options: SyncOptions) -> SyncReport:
    return SyncReport(
        source=options.source, importer=importer.name, path=str(path), sync_tag="", dry_run=options.dry_run,
        ok=False, errors=[str(e) for e in batch.errors[:MAX_ERRORS]],
        findings=[str(f) for f in batch.findings[:MAX_ERRORS]],
        rows=len(batch.cis) + len(batch.relationships),
    )
