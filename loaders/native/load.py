"""Check a transformed document against the database and write it in one transaction."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from cmdb_graph.model import GROUP_CLASSES, Label, RelType
from cmdb_graph.store import Store, WritePlan
from loaders.native.get import read_paths
from loaders.native.transform import (
    ONLY_GROUPS,
    Document,
    LoadError,
    Transformed,
    labels_to_look_up,
    resolve_references,
    transform,
)


class KindCounts(BaseModel):
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class LoadReport(BaseModel):
    files: list[str]
    dry_run: bool
    ok: bool
    errors: list[str] = []
    kinds: list[KindCounts] = []
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    seconds: float = 0.0
    # For --dry-run: the ids that would be created or updated, per kind (first 50 each).
    would_create: dict[str, list[str]] = {}
    would_update: dict[str, list[str]] = {}


def check_against_database(store: Store, transformed: Transformed) -> list[LoadError]:
    wanted = labels_to_look_up(transformed.references)
    in_document = {ci.id for ci in transformed.document.cis}
    stored_classes = store.ci_classes(wanted.get(Label.CI, set()) - in_document)
    stored_ids = {
        label: store.existing_ids(label, ids) for label, ids in wanted.items() if label is not Label.CI
    }
    return resolve_references(transformed.references, transformed.document, stored_classes, stored_ids) + \
        groups_keeping_members(store, transformed)


STORED_MEMBERS = f"""
UNWIND $ids AS id
MATCH (g:{Label.CI.value} {{id: id}})-[:{RelType.HAS_MEMBER.value}]->(m)
RETURN g.id AS id, collect(m.id) AS members
"""


def groups_keeping_members(store: Store, transformed: Transformed) -> list[LoadError]:
    """A CI whose class stops being a group while it still has members would leave
    HAS_MEMBER relationships that the model allows only on groups."""
    no_longer_groups = [ci.id for ci in transformed.document.cis if ci.ci_class not in GROUP_CLASSES]
    if not no_longer_groups:
        return []
    return [
        LoadError(transformed.ci_locations[row["id"]], "class",
                  f"{ONLY_GROUPS}, and this CI has {len(row['members'])} "
                  f"({', '.join(sorted(row['members'])[:5])}{'...' if len(row['members']) > 5 else ''}); "
                  "remove its HAS_MEMBER relationships first")
        for row in store.rows(STORED_MEMBERS, ids=no_longer_groups)
    ]


def _report(files: list[str], dry_run: bool, plan: WritePlan, started: float) -> LoadReport:
    kinds = [
        KindCounts(kind=kind, created=c["create"], updated=c["update"], unchanged=c["unchanged"])
        for kind, c in plan.counts().items()
    ]
    report = LoadReport(
        files=files, dry_run=dry_run, ok=True, kinds=kinds,
        created=plan.total("create"), updated=plan.total("update"), unchanged=plan.total("unchanged"),
        seconds=round(time.perf_counter() - started, 3),
    )
    if dry_run:
        for change in plan.changes:
            target = report.would_create if change.action == "create" else report.would_update if change.action == "update" else None
            if target is not None and len(target.setdefault(change.kind, [])) < 50:
                target[change.kind].append(change.key)
    return report


def load_document(
    store: Store,
    document: Document,
    *,
    files: list[str],
    source: str,
    actor: str,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    errors: list[LoadError] | None = None,
    transformed: Transformed | None = None,
) -> LoadReport:
    started = time.perf_counter()
    problems = list(errors or [])
    if transformed is not None:
        problems += check_against_database(store, transformed)
    if problems:
        return LoadReport(files=files, dry_run=dry_run, ok=False, errors=[str(e) for e in problems],
                          seconds=round(time.perf_counter() - started, 3))
    if dry_run:
        plan = store.preview(document, source)
    else:
        plan = store.apply(document, source, actor, progress)
    return _report(files, dry_run, plan, started)


def load_paths(
    store: Store,
    paths: list[Path],
    *,
    source: str = "native",
    actor: str,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Validate every file first; write nothing unless all of it is valid; then write it all
    in one transaction."""
    transformed = transform(read_paths(paths))
    return load_document(
        store, transformed.document, files=[str(p) for p in paths], source=source, actor=actor,
        dry_run=dry_run, progress=progress, errors=transformed.errors, transformed=transformed,
    )
