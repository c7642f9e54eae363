"""Bulk load: CSV CIs and relationships of any size, streamed, for the first load of a large
CMDB (a million CIs) and its re-loads.

A normal load plans every item against the database and writes the document in one
transaction with an audit entry per item; at a million CIs that transaction does not fit a
reasonable heap, and the plan does not fit Python's memory. The bulk path keeps what a load
promises and streams the rest:

1. check (get, transform): every CSV row is validated as it is read, errors naming file and
   line; valid rows are spilled, already in the shape the Cypher wants, to a temporary file,
   grouped per CI class and relationship type. Only each CI's id and class stay in memory, to
   check the relationships. Structured files (YAML, JSON) in the same load are read whole as
   in a normal load, and their references may name the CSV's CIs. Nothing is written unless
   all of it is valid.
2. write (load): teams first (CIs link to their owner), then CIs per class and relationships
   per type, `UNWIND $rows MERGE` in batches of `batch_rows`, one transaction per batch; each
   row's content is compared in Cypher, so an unchanged item is not touched and re-running a
   load changes nothing. The structured document follows through the normal path.

What it gives up, and says so in `docs/scale.md`: a failure while writing (the database
going away) leaves the batches committed so far; they are whole items, and re-running the
same load completes it. One audit entry records the load (files and counts), not one per
item. A relationship given twice is merged once, not reported.
"""

from __future__ import annotations

import json
import marshal
import tempfile
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from neo4j.exceptions import DatabaseUnavailable, ServiceUnavailable, SessionExpired
from pydantic import ValidationError

from cmdb_graph.model import CI, GROUP_CLASSES, CIClass, Label, Relationship, RelType
from cmdb_graph.store import Store, StoreError, ci_content
from loaders.native.get import (
    CSV_NAMES,
    Location,
    RawDocument,
    RawItem,
    csv_items,
    csv_section,
    folder_files,
    read_file,
)
from loaders.native.load import KindCounts, LoadReport
from loaders.native.transform import (
    ONLY_GROUPS,
    Document,
    LoadError,
    Reference,
    labels_to_look_up,
    resolve_references,
    transform,
    validation_errors,
)

# Neo4j gone (crashed, restarting, unreachable) once the driver's retries are spent
UNAVAILABLE = (ServiceUnavailable, SessionExpired, DatabaseUnavailable)


class BulkLoadInterrupted(StoreError):
    """Neo4j went away while a bulk load was writing: the batches committed so far stay (whole
    items), and running the same load again completes it."""


# every stored content property of a CI: a bulk row names each (None where unset), so that
# `SET n += row.props` also removes what the file no longer says
CI_CONTENT_KEYS: tuple[str, ...] = tuple(sorted({name for name in CI.model_fields if name != "id"} | {"layer"}))
MAX_ERRORS = 1000
GROUP_CLASSES_SET = frozenset(GROUP_CLASSES)


@dataclass
class CheckedCsv:
    """What the check pass leaves for the write pass."""

    # rows in batches, per kind: "ci" (per class), "owner" and "rel" (per type)
    spills: dict[str, IO[bytes]] = field(default_factory=lambda: {
        kind: tempfile.TemporaryFile(prefix=f"cmdb-graph-bulk-{kind}-") for kind in ("ci", "owner", "rel")})
    ci_classes: dict[str, CIClass] = field(default_factory=dict)
    errors: list[LoadError] = field(default_factory=list)
    # references the CSV rows cannot settle themselves, the first of each (a million CIs
    # name a few dozen owner teams)
    references: dict[tuple[Label, str, frozenset[CIClass] | None], Reference] = field(default_factory=dict)

    def refer(self, reference: Reference) -> None:
        self.references.setdefault((reference.label, reference.value, reference.classes), reference)


# --- get ------------------------------------------------------------------------------------


def split_paths(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(CSV files, structured files) named by `paths`, folders opened as `read_paths` does."""
    csvs: list[Path] = []
    structured: list[Path] = []
    for path in paths:
        for member in folder_files(path) if path.is_dir() else [path]:
            (csvs if member.suffix.lower() == ".csv" else structured).append(member)
    return csvs, structured


def _existing_csvs(paths: list[Path]) -> list[Path]:
    return [p for p in split_paths(paths)[0] if p.exists()]


def csv_bytes(paths: list[Path]) -> int:
    """The size of the CSV files a load names (a bulk load is for large ones)."""
    return sum(p.stat().st_size for p in _existing_csvs(paths))


def count_rows(paths: list[Path]) -> int:
    """Data rows in the CSV files (lines less headers), for the progress bar; a quoted cell
    spanning lines makes it an estimate."""
    total = 0
    for path in _existing_csvs(paths):
        with path.open("rb") as handle:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1
    return max(total, 0)


# --- transform ------------------------------------------------------------------------------


def ci_row(ci: CI) -> dict[str, Any]:
    props: dict[str, Any] = dict.fromkeys(CI_CONTENT_KEYS)
    props.update(ci_content(ci))
    return {"id": ci.id, "props": props}


def check_csv(paths: list[Path], batch_rows: int, progress: Callable[[int], None]) -> CheckedCsv:
    """Validate every row of the CSV files; spill the valid ones in batches per class and type."""
    checked = CheckedCsv()
    batches: dict[tuple[str, str], list[Any]] = defaultdict(list)

    def add(kind: str, name: str, row: Any) -> None:
        batch = batches[(kind, name)]
        batch.append(row)
        if len(batch) >= batch_rows:
            flush(kind, name)

    def flush(kind: str, name: str) -> None:
        if batches[(kind, name)]:
            marshal.dump((kind, name, batches.pop((kind, name))), checked.spills[kind])

    first_line: dict[str, tuple[str, int]] = {}
    # CIs first, whatever order the files come in: relationships are checked against them
    for path in sorted(paths, key=lambda p: csv_section(p.name) != "cis"):
        section = csv_section(path.name)
        if section is None or not path.exists():
            checked.errors.append(LoadError(Location(str(path), None, "file", None), None,
                                            "no such file" if section else CSV_NAMES))
            continue
        for location, item in _valid_rows(path, section, checked.errors, progress):
            if section == "cis":
                _check_ci(item, location, checked, first_line, add)
            else:
                _check_relationship(item, location, checked, add)
    for kind, name in list(batches):
        flush(kind, name)
    for spill in checked.spills.values():
        spill.seek(0)
    return checked


def _valid_rows(path: Path, section: str, errors: list[LoadError],
                progress: Callable[[int], None]) -> Iterator[tuple[Location, dict[str, Any]]]:
    """The rows of one file that could be read, until too many errors make going on pointless."""
    index = -1
    with path.open(encoding="utf-8", newline="") as lines:
        for index, (line, item, problems) in enumerate(csv_items(lines)):
            if len(errors) >= MAX_ERRORS:
                break
            location = Location(str(path), line, section, index)
            errors.extend(LoadError(location, None, problem) for problem in problems)
            if item is not None and not problems:
                yield location, item
            if index % 10_000 == 9_999:
                progress(10_000)
    progress((index + 1) % 10_000)


def _check_ci(item: dict[str, Any], location: Location, checked: CheckedCsv, first_line: dict[str, tuple[str, int]],
              add: Callable[[str, str, Any], None]) -> None:
    try:
        ci = CI.model_validate(item)
    except ValidationError as error:
        checked.errors.extend(validation_errors(error, RawItem(item, location)))
        return
    if ci.id in checked.ci_classes:
        file, line = first_line[ci.id]
        checked.errors.append(LoadError(location, "id", f"duplicate {ci.id!r}; first defined at {file}:{line}"))
        return
    checked.ci_classes[ci.id] = ci.ci_class
    first_line[ci.id] = (location.file, location.line or 0)
    if ci.owner:
        checked.refer(Reference(Label.TEAM, ci.owner, location, "owner"))
    add("ci", ci.ci_class.value, ci_row(ci))
    add("owner", "", [ci.id, ci.owner])


def _check_relationship(item: dict[str, Any], location: Location, checked: CheckedCsv,
                        add: Callable[[str, str, Any], None]) -> None:
    try:
        rel = Relationship.model_validate(item)
    except ValidationError as error:
        checked.errors.extend(validation_errors(error, RawItem(item, location)))
        return
    classes = checked.ci_classes
    source_class = classes.get(rel.source)
    if source_class is None:  # perhaps in the database, or a structured file: checked at the end
        members = rel.type is RelType.HAS_MEMBER
        checked.refer(Reference(Label.CI, rel.source, location, "from", GROUP_CLASSES_SET if members else None,
                                ONLY_GROUPS))
    elif rel.type is RelType.HAS_MEMBER and not source_class.is_group:
        checked.errors.append(LoadError(location, "from", f"{rel.source!r} is a {source_class.value}; {ONLY_GROUPS}"))
    if rel.target not in classes:
        checked.refer(Reference(Label.CI, rel.target, location, "to"))
    add("rel", rel.type.value, [rel.source, rel.target, rel.strength.value])


def check_references(store: Store, checked: CheckedCsv, document: Document, document_refs: list[Reference]) -> list[LoadError]:
    """Every reference of the CSV rows and of the structured files, against the CSV's CIs, the
    structured document and the database."""
    references = list(checked.references.values()) + document_refs
    in_hand = checked.ci_classes.keys() | {ci.id for ci in document.cis}
    wanted = labels_to_look_up([ref for ref in references if not (ref.label is Label.CI and ref.value in in_hand)])
    stored_classes = store.ci_classes(wanted.pop(Label.CI, set()))
    stored_ids = {label: store.existing_ids(label, ids) for label, ids in wanted.items()}
    return resolve_references(references, document, stored_classes | checked.ci_classes, stored_ids)


# --- load -----------------------------------------------------------------------------------


def _ci_write_query(ci_class: CIClass) -> str:
    # The label is written out from the enum; the old class's label goes when a CI changes class.
    return f"""
UNWIND $rows AS row
MERGE (n:CI {{id: row.id}})
ON CREATE SET n.version = 0, n.created_at = $now, n.first_seen = $now
WITH n, row, n.version = 0 AS created, n.ci_class AS was_class,
     any(k IN $keys WHERE NOT coalesce(n[k] = row.props[k], n[k] IS NULL AND row.props[k] IS NULL)) AS changed
CALL (n, row, changed, was_class) {{
  WITH * WHERE changed
  SET n += row.props, n:{CIClass(ci_class).value}, n.version = n.version + 1, n.updated_at = $now,
      n.last_seen = $now, n.source = $source
  REMOVE n:$(CASE WHEN was_class IS NULL OR was_class = row.props.ci_class THEN [] ELSE [was_class] END)
}}
RETURN count(*) AS written, sum(CASE WHEN created THEN 1 ELSE 0 END) AS created,
       sum(CASE WHEN changed AND NOT created THEN 1 ELSE 0 END) AS updated
"""


# A CI's OWNED_BY link, touched only when it names another team than the row. Its own pass,
# one transaction at a time: a few teams own a million CIs, and two transactions adding
# links to the same team node would deadlock.
LINK_OWNERS = """
UNWIND $rows AS row
MATCH (n:CI {id: row[0]})
OPTIONAL MATCH (n)-[owned:OWNED_BY]->(team:Team)
WITH n, row, collect(owned) AS links, collect(team.id) AS teams
WHERE teams <> CASE WHEN row[1] IS NULL THEN [] ELSE [row[1]] END
FOREACH (link IN links | DELETE link)
WITH n, row
MATCH (team:Team {id: row[1]})
CREATE (n)-[:OWNED_BY]->(team)
RETURN count(*) AS linked
"""


def _relationship_write_query(rel_type: RelType) -> str:
    # One query per type, written out: a typed MERGE expands from the sparser end.
    return f"""
UNWIND $rows AS row
MATCH (a:CI {{id: row[0]}})
MATCH (b:CI {{id: row[1]}})
MERGE (a)-[r:{RelType(rel_type).value}]->(b)
ON CREATE SET r.version = 0, r.created_at = $now, r.first_seen = $now
WITH r, row, r.version = 0 AS created, coalesce(r.strength <> row[2], true) AS changed
CALL (r, row, changed) {{
  WITH * WHERE changed
  SET r.strength = row[2], r.version = r.version + 1, r.updated_at = $now, r.last_seen = $now, r.source = $source
}}
RETURN count(*) AS written, sum(CASE WHEN created THEN 1 ELSE 0 END) AS created,
       sum(CASE WHEN changed AND NOT created THEN 1 ELSE 0 END) AS updated
"""


CI_WRITES = {ci_class.value: _ci_write_query(ci_class) for ci_class in CIClass}
RELATIONSHIP_WRITES = {rel_type.value: _relationship_write_query(rel_type) for rel_type in RelType}

WRITE_LOAD_AUDIT = """
CREATE (e:AuditEntry)
SET e = $entry
"""


def spilled_batches(spill: IO[bytes]) -> Iterator[tuple[str, str, list[Any]]]:
    while True:
        try:
            yield marshal.load(spill)
        except EOFError:
            return


def _write_batch(store: Store, kind: str, name: str, rows: list[Any], now: datetime, source: str,
                 timeout: float) -> dict[str, int]:
    if kind == "owner":
        def link(tx: Any) -> dict[str, int]:
            tx.run(LINK_OWNERS, rows=rows).consume()
            return {"written": len(rows), "created": 0, "updated": 0}

        return store.in_transaction(link, write=True, timeout=timeout)
    query = CI_WRITES[name] if kind == "ci" else RELATIONSHIP_WRITES[name]
    keys = list(CI_CONTENT_KEYS) if kind == "ci" else []

    def work(tx: Any) -> dict[str, int]:
        return tx.run(query, rows=rows, now=now, source=source, keys=keys).single().data()

    result = store.in_transaction(work, write=True, timeout=timeout)
    if result["written"] != len(rows):
        raise StoreError(f"bulk load: expected to write {len(rows)} {kind} rows but wrote {result['written']}")
    return result


def write_spilled(store: Store, checked: CheckedCsv, source: str, now: datetime, timeout: float, writers: int,
                  progress: Callable[[int], None]) -> dict[str, KindCounts]:
    """CIs, `writers` batches at a time (Neo4j runs a transaction on one core, and CIs lock
    nothing but themselves); then owner links and relationships, one batch at a time while
    the next is read: those lock shared nodes (a database thousands need), and concurrent
    batches would deadlock on them and be retried from scratch."""
    counts = {"ci": KindCounts(kind="CI"), "rel": KindCounts(kind="Relationship")}
    failed = threading.Event()
    committed = threading.Lock()

    def write(store: Store, kind: str, name: str, rows: list[Any], *rest: Any) -> dict[str, int]:
        # One failed batch fails the load: a batch queued behind it does not start (against a
        # Neo4j that is gone, each would spend the driver's retry time again).
        if failed.is_set():
            raise StoreError("bulk load: not written, an earlier batch failed")
        try:
            result = _write_batch(store, kind, name, rows, *rest)
        except BaseException:
            failed.set()
            raise
        if kind in counts:  # counted when committed, so an interrupted load reports what it kept
            with committed:
                progress(len(rows))
        return result

    for kind, parallel in (("ci", writers), ("owner", 1), ("rel", 1)):
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="bulk-writer") as pool:
            pending: deque[tuple[int, Future[dict[str, int]]]] = deque()

            def settle(limit: int) -> None:
                while len(pending) > limit:
                    size, future = pending.popleft()
                    result = future.result()
                    if kind in counts:
                        tally = counts[kind]
                        tally.created += result["created"]
                        tally.updated += result["updated"]
                        tally.unchanged += size - result["created"] - result["updated"]

            for _kind, name, rows in spilled_batches(checked.spills[kind]):
                pending.append((len(rows), pool.submit(write, store, kind, name, rows, now, source, timeout)))
                settle(parallel)
            settle(0)
    return {c.kind: c for c in counts.values()}


def bulk_load(
    store: Store,
    paths: list[Path],
    *,
    source: str,
    actor: str,
    batch_rows: int = 10_000,
    writers: int = 2,
    timeout: float = 3600,
    progress: Callable[[str, int], None] | None = None,
) -> LoadReport:
    """Check everything, then write it: CSVs streamed in batches, structured files after."""
    started = time.perf_counter()
    advance = progress or (lambda phase, n: None)
    files = [str(p) for p in paths]
    csv_paths, structured_paths = split_paths(paths)
    raw = RawDocument()
    for path in structured_paths:
        raw.extend(read_file(path))
    structured = transform(raw)
    checked = check_csv(csv_paths, batch_rows, lambda n: advance("checking", n))
    try:
        errors = (structured.errors + checked.errors
                  + check_references(store, checked, structured.document, structured.references))
        if errors:
            return LoadReport(files=files, dry_run=False, ok=False, errors=[str(e) for e in errors[:MAX_ERRORS]],
                              seconds=round(time.perf_counter() - started, 3))
        committed = 0

        def loading(n: int) -> None:
            nonlocal committed
            committed += n
            advance("loading", n)

        try:
            now = datetime.now(timezone.utc)
            kinds = _write_all(store, checked, structured.document, source, actor, now, timeout, writers, loading)
            report = LoadReport(files=files, dry_run=False, ok=True, kinds=list(kinds.values()),
                                created=sum(k.created for k in kinds.values()),
                                updated=sum(k.updated for k in kinds.values()),
                                unchanged=sum(k.unchanged for k in kinds.values()),
                                seconds=round(time.perf_counter() - started, 3))
            _audit_load(store, report, actor, now)
        except UNAVAILABLE as error:
            raise BulkLoadInterrupted(
                f"Neo4j became unavailable during the bulk load, after {committed:,} CSV rows were confirmed committed "
                f"(a batch whose commit was under way may be too: {' '.join(str(error).split())}). What was committed stays, as whole items: once Neo4j is back, "
                "run the same load again to complete it (it writes only what is missing)") from error
    finally:
        for spill in checked.spills.values():
            spill.close()
    return report


def _write_all(store: Store, checked: CheckedCsv, document: Document, source: str, actor: str, now: datetime,
               timeout: float, writers: int, progress: Callable[[int], None]) -> dict[str, KindCounts]:
    kinds: dict[str, KindCounts] = {}
    if document.teams:  # CIs link to their owner team
        _merge_counts(kinds, store.apply(Document(teams=document.teams), source, actor).counts())
        document.teams = []
    kinds.update(write_spilled(store, checked, source, now, timeout, writers, progress))
    if document.size():
        _merge_counts(kinds, store.apply(document, source, actor).counts())
    return kinds


def _merge_counts(kinds: dict[str, KindCounts], counts: dict[str, dict[str, int]]) -> None:
    for kind, c in counts.items():
        tally = kinds.setdefault(kind, KindCounts(kind=kind))
        tally.created += c["create"]
        tally.updated += c["update"]
        tally.unchanged += c["unchanged"]


def _audit_load(store: Store, report: LoadReport, actor: str, now: datetime) -> None:
    entry = {
        "id": str(uuid.uuid4()), "at": now, "actor": actor, "action": "bulk-load", "entity_kind": "Load",
        "entity_id": ", ".join(report.files)[:500], "changed": [],
        "after": json.dumps({k.kind: k.model_dump(exclude={"kind"}) for k in report.kinds}, sort_keys=True),
    }
    store.in_transaction(lambda tx: tx.run(WRITE_LOAD_AUDIT, entry=entry).consume(), write=True)
