"""Online backup, restore into an empty database, and a canonical hash of the whole graph.

A backup file is gzip-compressed JSON lines: one header (format and version, cmdb-graph
version, when, counts, the canonical hashes), then every node, then every relationship.
Strings, numbers, booleans and lists are plain JSON; temporal values travel as Neo4j's own
text (`toString`) tagged with their type (`{"$": "datetime", "v": "2024-05-01T10:00:00Z"}`)
and Cypher parses them back, so a restore brings back the same DateTime (zone or offset
included), Date, LocalDateTime, Time, LocalTime or Duration, to the nanosecond. Reading the
text is also some fifty times faster than letting the driver decode a zoned DateTime.

Neo4j's read transactions are read-committed, not snapshots, so a backup is made consistent
optimistically: a fingerprint of the database (the last committed transaction's bookmark,
node and relationship counts, AuditEntry count and latest `at`) is read before and after the
dump, and the whole dump is taken again if it changed.

Labels and relationship types reach Cypher text only as members of the model's enums; every
value is a parameter.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import IO, Any

from neo4j import READ_ACCESS, Driver, unit_of_work
from pydantic import BaseModel, ConfigDict, ValidationError, computed_field

from cmdb_graph import __version__
from cmdb_graph.model import CIClass, Label, RecordRel, RelType
from cmdb_graph.schema import init_schema, reset_database

FORMAT = "cmdb-graph-backup"
FORMAT_VERSION = 1

# Properties that say when an item was written, not what it is: two loads of the same data at
# different times differ in these and nothing else. `sync_tag` names an import run by its
# start time (`netbox-20240501T100000-1a2b3c4d`).
TIME_OF_WRITE = ("created_at", "updated_at", "first_seen", "last_seen", "sync_tag")
# Nodes that record that something was written, when and by whom.
RUN_LABELS = frozenset({Label.AUDIT_ENTRY.value, Label.SYNC_RUN.value})

NODE_LABELS: dict[str, Label | CIClass] = {**{m.value: m for m in Label}, **{m.value: m for m in CIClass}}
RELATIONSHIP_TYPES: dict[str, RelType | RecordRel] = {**{m.value: m for m in RelType}, **{m.value: m for m in RecordRel}}

# Neo4j value type -> the tag a backup gives it, which is also the Cypher function that parses
# its `toString()` back into the same value.
TEMPORAL_TAGS = {
    "ZONED DATETIME": "datetime",
    "LOCAL DATETIME": "localdatetime",
    "DATE": "date",
    "ZONED TIME": "time",
    "LOCAL TIME": "localtime",
    "DURATION": "duration",
}
SCALAR_TEMPORAL_TYPES = {f"{name} NOT NULL": tag for name, tag in TEMPORAL_TAGS.items()}
LIST_TEMPORAL_TYPES = {f"LIST<{name} NOT NULL> NOT NULL": f"{tag}[]" for name, tag in TEMPORAL_TAGS.items()}
TAGS = frozenset(SCALAR_TEMPORAL_TYPES.values()) | frozenset(LIST_TEMPORAL_TYPES.values())
INT64 = (-(2**63), 2**63 - 1)

Progress = Callable[[str, int, int], None]  # (phase, done, total)
PROGRESS_EVERY = 2000
CHANGE_CHECK_SECONDS = 1.0  # how often a dump asks whether something was committed meanwhile
RETRY_FIRST_WAIT, RETRY_MAX_WAIT = 0.25, 8.0  # seconds between attempts: 0.25, 0.5, 1, ... 8


class BackupError(Exception):
    """A backup could not be taken, or a restore failed; the message says why and what was left."""


class BackupFileError(BackupError):
    """The backup file is not one this version can restore; nothing was written."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


class RestoreRefused(BackupError):
    """The database is not empty; nothing was written."""


# --- reading the graph: one rendering for backups and hashes ----------------------------------


def _properties(var: str) -> str:
    """Cypher: the properties of `var` (a variable of this module's queries) as [key, value]
    pairs, temporal values as [key, text, value type]."""
    value = f"{var}[k]"
    return (f"[k IN keys({var}) | CASE "
            f"WHEN valueType({value}) IN $scalar_temporal THEN [k, toString({value}), valueType({value})] "
            f"WHEN valueType({value}) IN $list_temporal THEN [k, [x IN {value} | toString(x)], valueType({value})] "
            f"ELSE [k, {value}] END]")


TYPE_PARAMETERS = {"scalar_temporal": list(SCALAR_TEMPORAL_TYPES), "list_temporal": list(LIST_TEMPORAL_TYPES)}

DUMP_NODES = f"MATCH (n) RETURN labels(n) AS labels, {_properties('n')} AS props"

# An end without `id` (the store writes none) is keyed by its properties instead.
DUMP_RELATIONSHIPS = f"""
MATCH (a)-[r]->(b)
RETURN type(r) AS type, labels(a) AS a_labels, a.id AS a_id, labels(b) AS b_labels, b.id AS b_id,
       CASE WHEN a.id IS NULL THEN {_properties('a')} END AS a_props,
       CASE WHEN b.id IS NULL THEN {_properties('b')} END AS b_props,
       {_properties('r')} AS props
"""


def _decoded(pairs: list[list[Any]]) -> dict[str, Any]:
    """Properties as a backup writes them: plain JSON, temporal values tagged."""
    props: dict[str, Any] = {}
    for pair in pairs:
        if len(pair) == 3:
            key, text, value_type = pair
            props[key] = {"$": SCALAR_TEMPORAL_TYPES.get(value_type) or LIST_TEMPORAL_TYPES[value_type], "v": text}
            continue
        key, value = pair
        problem = _plain_problem(value)
        if problem:
            raise BackupError(f"property {key!r} holds {problem}, which backups do not carry (the model stores none)")
        props[key] = value
    return props


def _node_key(labels: list[str], node_id: Any, pairs: list[list[Any]] | None) -> list[Any]:
    key: list[Any] = [sorted(labels), node_id]
    if node_id is None:
        key.append(_decoded(pairs or []))
    return key


def read_graph(driver: Driver, database: str, *, timeout: float = 3600.0,
               on_phase: Callable[[str], None] | None = None) -> Iterator[dict[str, Any]]:
    """Every node, then every relationship, as backup lines, streamed from one read
    transaction (read-committed: see `backup` for how a backup is made consistent)."""
    with driver.session(database=database, default_access_mode=READ_ACCESS) as session:
        with session.begin_transaction(timeout=timeout) as tx:
            if on_phase:
                on_phase("nodes")
            for record in tx.run(DUMP_NODES, TYPE_PARAMETERS):
                yield {"labels": sorted(record["labels"]), "props": _decoded(record["props"])}
            if on_phase:
                on_phase("relationships")
            for record in tx.run(DUMP_RELATIONSHIPS, TYPE_PARAMETERS):
                yield {
                    "type": record["type"],
                    "start": _node_key(record["a_labels"], record["a_id"], record["a_props"]),
                    "end": _node_key(record["b_labels"], record["b_id"], record["b_props"]),
                    "props": _decoded(record["props"]),
                }


# --- the canonical hash ---------------------------------------------------------------------


class _MultisetHash:
    """An order-independent hash of a multiset of items without sorting them: each item's
    2048-bit SHAKE-256 digest is added modulo 2^2048 (AdHash), and the sum and count are
    hashed with SHA-256. Any difference in any item shows; it is not a signature."""

    BITS = 2048

    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def add(self, item: bytes) -> None:
        digest = int.from_bytes(hashlib.shake_256(item).digest(self.BITS // 8), "big")
        self.total = (self.total + digest) % (1 << self.BITS)
        self.count += 1

    def hexdigest(self) -> str:
        summary = f"{FORMAT}/canonical/{FORMAT_VERSION}\n{self.count}\n".encode()
        return hashlib.sha256(summary + self.total.to_bytes(self.BITS // 8, "big")).hexdigest()


def _canonical(item: dict[str, Any]) -> bytes:
    """One item as canonical JSON: keys sorted, no spaces, UTF-8 (a float as Python's
    shortest round-trip text, so 1 and 1.0 differ as in Neo4j)."""
    return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


def _content(props: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in props.items() if key not in TIME_OF_WRITE}


def _content_key(key: list[Any]) -> list[Any]:
    return key if len(key) == 2 else [key[0], key[1], _content(key[2])]


class GraphHashes(BaseModel):
    hash: str
    content_hash: str


class CanonicalHasher:
    """Both canonical hashes, fed one backup line at a time (from the database or a file)."""

    def __init__(self) -> None:
        self.exact = _MultisetHash()
        self.content = _MultisetHash()

    def add(self, line: dict[str, Any]) -> bytes:
        """Count one node or relationship line in; return its canonical rendering, which is
        also what a backup writes."""
        content: dict[str, Any] | None = None
        if "labels" in line:
            item = {"labels": sorted(line["labels"]), "props": line["props"]}
            if RUN_LABELS.isdisjoint(item["labels"]):
                content = {**item, "props": _content(item["props"])}
        else:
            start, end = line["start"], line["end"]
            item = {"type": line["type"], "start": [sorted(start[0]), *start[1:]], "end": [sorted(end[0]), *end[1:]],
                    "props": line["props"]}
            if RUN_LABELS.isdisjoint(item["start"][0]) and RUN_LABELS.isdisjoint(item["end"][0]):
                content = {**item, "start": _content_key(item["start"]), "end": _content_key(item["end"]),
                           "props": _content(item["props"])}
        exact = _canonical(item)
        self.exact.add(exact)
        if content is not None:
            self.content.add(_canonical(content))
        return exact

    def hashes(self) -> GraphHashes:
        return GraphHashes(hash=self.exact.hexdigest(), content_hash=self.content.hexdigest())


def graph_hashes(driver: Driver, database: str, *, timeout: float = 3600.0) -> GraphHashes:
    hasher = CanonicalHasher()
    for line in read_graph(driver, database, timeout=timeout):
        hasher.add(line)
    return hasher.hashes()


def canonical_hash(driver: Driver, database: str, *, content_only: bool = False) -> str:
    """SHA-256 (hex) of every node and relationship, whatever Neo4j's internal ids and
    storage order: a node is its sorted labels and its typed properties, a relationship its
    type, the keys of its ends (labels and `id`; labels and properties for a node without
    `id`) and its properties. Equal hashes mean equal graphs, so a restore can prove itself.

    `content_only` leaves out what differs between two loads of the same data at different
    times: AuditEntry and SyncRun nodes (and any relationship touching them) and the
    time-of-write properties `created_at`, `updated_at`, `first_seen`, `last_seen` (the
    store's and the bulk load's bookkeeping) and `sync_tag` (an import run, named by its time).
    `version` and `source` stay: the same data loaded the same way gives the same ones.
    """
    hashes = graph_hashes(driver, database)
    return hashes.content_hash if content_only else hashes.hash


# --- backup -----------------------------------------------------------------------------------

FINGERPRINT = f"""
CALL () {{ MATCH (n) RETURN count(n) AS nodes }}
CALL () {{ MATCH ()-[r]->() RETURN count(r) AS relationships }}
CALL () {{ MATCH (e:{Label.AUDIT_ENTRY.value}) RETURN count(e) AS audit_entries, toString(max(e.at)) AS last_audit }}
RETURN nodes, relationships, audit_entries, last_audit
"""


class Fingerprint(BaseModel):
    """What changes when anything is committed: the bookmark of the last committed
    transaction; the rest catches writes where bookmarks say nothing (a cluster's secondary).
    Every store write also writes an AuditEntry in the same transaction."""

    model_config = ConfigDict(frozen=True)

    nodes: int
    relationships: int
    audit_entries: int
    last_audit: str | None
    bookmark: tuple[str, ...]


def fingerprint(driver: Driver, database: str) -> Fingerprint:
    with driver.session(database=database, default_access_mode=READ_ACCESS) as session:
        counts = session.execute_read(lambda tx: tx.run(FINGERPRINT).single(strict=True).data())
        bookmark = tuple(sorted(session.last_bookmarks().raw_values))
    return Fingerprint(**counts, bookmark=bookmark)


def last_commit(driver: Driver, database: str) -> tuple[str, ...]:
    """The bookmark of the last committed transaction: the cheap half of the fingerprint,
    read during a dump to give up on it as soon as something is written."""
    with driver.session(database=database, default_access_mode=READ_ACCESS) as session:
        session.execute_read(lambda tx: tx.run("RETURN 1").consume())
        return tuple(sorted(session.last_bookmarks().raw_values))


class _Changed(Exception):
    """The database changed during a dump; the dump is worthless."""


class BackupCounts(BaseModel):
    nodes: int = 0
    relationships: int = 0
    labels: dict[str, int] = {}
    types: dict[str, int] = {}


class BackupHeader(BaseModel):
    format: str
    format_version: int
    cmdb_graph_version: str
    taken_at: datetime
    database: str
    counts: BackupCounts
    hash: str
    content_hash: str


class BackupSummary(BaseModel):
    file: str
    bytes: int
    seconds: float
    attempts: int
    taken_at: datetime
    counts: BackupCounts
    hash: str
    content_hash: str


def _check_backup_line(line: dict[str, Any]) -> None:
    """A backup must be restorable: refuse now what a restore would refuse later."""
    if "labels" in line:
        unknown = [label for label in line["labels"] if label not in NODE_LABELS]
        if unknown or not any(isinstance(NODE_LABELS[label], Label) for label in line["labels"]):
            raise BackupError(f"a node with labels {line['labels']} is not in the model "
                              "(a restore would refuse it); remove or relabel it first")
        return
    if line["type"] not in RELATIONSHIP_TYPES:
        raise BackupError(f"relationship type {line['type']!r} is not in the model (a restore would refuse it)")
    for end in (line["start"], line["end"]):
        if end[1] is None:
            raise BackupError(f"a {line['type']} relationship touches a node without id, which a restore cannot find")


def _dump(driver: Driver, database: str, body: IO[bytes], before: Fingerprint, timeout: float,
          progress: Progress) -> tuple[BackupCounts, GraphHashes]:
    """Every line into `body`, counted and hashed; _Changed as soon as a commit is seen."""
    hasher = CanonicalHasher()
    total = before.nodes + before.relationships
    next_check = time.monotonic() + CHANGE_CHECK_SECONDS
    labels: Counter[str] = Counter()
    types: Counter[str] = Counter()
    phase = {"name": "nodes"}
    done = 0

    def on_phase(name: str) -> None:
        phase["name"] = name
        progress(name, done, total)

    for line in read_graph(driver, database, timeout=timeout, on_phase=on_phase):
        _check_backup_line(line)
        body.write(hasher.add(line) + b"\n")
        if "labels" in line:
            labels.update(line["labels"])
        else:
            types[line["type"]] += 1
        done += 1
        if done % PROGRESS_EVERY == 0:
            progress(phase["name"], done, total)
            if time.monotonic() >= next_check:
                if last_commit(driver, database) != before.bookmark:
                    raise _Changed
                next_check = time.monotonic() + CHANGE_CHECK_SECONDS
    progress(phase["name"], done, total)
    relationships = sum(types.values())
    counts = BackupCounts(nodes=done - relationships, relationships=relationships,
                          labels=dict(sorted(labels.items())), types=dict(sorted(types.items())))
    return counts, hasher.hashes()


def _publish(path: Path, header: BackupHeader, body_path: Path) -> int:
    """Header member, then the body's gzip member, into a temporary file renamed over `path`:
    a reader never sees half a backup under its name."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(gzip.compress(_canonical(header.model_dump(mode="json")) + b"\n", compresslevel=6))
            with body_path.open("rb") as body:
                shutil.copyfileobj(body, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return path.stat().st_size


def backup(driver: Driver, database: str, path: Path, *, attempts: int = 5, timeout: float = 3600.0,
           progress: Progress | None = None) -> BackupSummary:
    """Write a consistent backup of everything to `path` while the service may be writing.

    The dump is kept only if the database's fingerprint is the same after it as before;
    otherwise it is taken again, up to `attempts` times, waiting longer each time for a burst
    of writes to pass. A dump that sees a commit on its way gives up at once."""
    started = time.perf_counter()
    report = progress or (lambda phase, done, total: None)
    path = Path(path)
    if path.is_dir():
        raise BackupError(f"{path} is a folder; name the backup file")
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent} does not exist")
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            time.sleep(min(RETRY_FIRST_WAIT * 2 ** (attempt - 2), RETRY_MAX_WAIT))
        before = fingerprint(driver, database)
        taken_at = datetime.now(timezone.utc)
        fd, body_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".body")
        body_path = Path(body_name)
        try:
            with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as body:
                try:
                    counts, hashes = _dump(driver, database, body, before, timeout, report)
                except _Changed:
                    continue
            if fingerprint(driver, database) != before:
                continue
            header = BackupHeader(format=FORMAT, format_version=FORMAT_VERSION, cmdb_graph_version=__version__,
                                  taken_at=taken_at, database=database, counts=counts, **hashes.model_dump())
            size = _publish(path, header, body_path)
        finally:
            body_path.unlink(missing_ok=True)
        return BackupSummary(file=str(path), bytes=size, seconds=round(time.perf_counter() - started, 3),
                             attempts=attempt, taken_at=taken_at, counts=counts, **hashes.model_dump())
    raise BackupError(f"the database changed during each of {attempts} attempts to back it up; nothing was "
                      "written. Try again when writes are quieter (e.g. with the service stopped).")


# --- reading and checking a backup file -------------------------------------------------------


def _file_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, parsed line), with every way a file can be damaged reported at its line."""
    number = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for number, text in enumerate(lines, 1):
                try:
                    data = json.loads(text)
                except json.JSONDecodeError as error:
                    raise BackupFileError(path, number, f"not a JSON line ({error.msg}): damaged file") from None
                if not isinstance(data, dict):
                    raise BackupFileError(path, number, "not a JSON object: damaged file")
                yield number, data
    except FileNotFoundError:
        raise BackupFileError(path, None, "no such file") from None
    except EOFError:
        raise BackupFileError(path, number + 1, "the file ends early: truncated") from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise BackupFileError(path, number + 1, f"not a readable gzip file ({error}): damaged or not a backup") from None
    except UnicodeDecodeError:
        raise BackupFileError(path, number + 1, "not UTF-8 text: damaged file") from None


def _plain_problem(value: Any) -> str | None:
    """Why a plain JSON value cannot be a Neo4j property, or None."""
    if isinstance(value, (bool, str, float)):
        return None
    if isinstance(value, int):
        return None if INT64[0] <= value <= INT64[1] else "an integer outside 64 bits"
    if isinstance(value, list):
        if len({type(item) for item in value}) > 1:
            return "a list of mixed types"
        for item in value:
            problem = "a nested list" if isinstance(item, list) else _plain_problem(item)
            if problem:
                return problem
        return None
    return "null" if value is None else f"a {type(value).__name__}"


def _value_problem(value: Any) -> str | None:
    if isinstance(value, dict):
        if set(value) != {"$", "v"} or value["$"] not in TAGS:
            return "an unknown tagged value"
        wants_list = value["$"].endswith("[]")
        text = value["v"]
        if wants_list and not (isinstance(text, list) and all(isinstance(t, str) for t in text)):
            return "a temporal list that is not a list of text"
        if not wants_list and not isinstance(text, str):
            return "a temporal value that is not text"
        return None
    return _plain_problem(value)


def _props_problem(props: Any) -> str | None:
    if not isinstance(props, dict):
        return "props is not an object"
    for key, value in props.items():
        if not key:
            return "an empty property name"
        problem = _value_problem(value)
        if problem:
            return f"property {key!r} holds {problem}"
    return None


def node_labels(labels: Any) -> tuple[Label | CIClass, ...]:
    """The enum members a node's labels name, or ValueError naming the first that is not one."""
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ValueError("labels is not a list of names")
    for label in labels:
        if label not in NODE_LABELS:
            raise ValueError(f"unknown node label {label!r}")
    members = tuple(NODE_LABELS[label] for label in sorted(set(labels)))
    if not any(isinstance(member, Label) for member in members):
        raise ValueError(f"labels {sorted(labels)} name no kind of node (one of {', '.join(m.value for m in Label)})")
    return members


def primary_label(members: tuple[Label | CIClass, ...]) -> Label:
    """The label a node is found by (its class label, for a CI, is not unique)."""
    return next(member for member in members if isinstance(member, Label))


def relationship_type(name: Any) -> RelType | RecordRel:
    if not isinstance(name, str) or name not in RELATIONSHIP_TYPES:
        raise ValueError(f"unknown relationship type {name!r}")
    return RELATIONSHIP_TYPES[name]


def _end(end: Any, which: str) -> tuple[tuple[Label | CIClass, ...], Any]:
    if not isinstance(end, list) or len(end) != 2 or isinstance(end[1], list) or _plain_problem(end[1]):
        raise ValueError(f"{which} is not [labels, id]")
    return node_labels(end[0]), end[1]


def _check_line(line: dict[str, Any], seen_relationship: bool) -> str:
    """'node' or 'relationship'; ValueError says what is wrong."""
    if set(line) == {"labels", "props"}:
        if seen_relationship:
            raise ValueError("a node after the relationships")
        node_labels(line["labels"])
        kind = "node"
    elif set(line) == {"type", "start", "end", "props"}:
        relationship_type(line["type"])
        _end(line["start"], "start")
        _end(line["end"], "end")
        kind = "relationship"
    else:
        raise ValueError(f"not a node or relationship line (keys {sorted(line)})")
    problem = _props_problem(line["props"])
    if problem:
        raise ValueError(problem)
    return kind


def check_backup(path: Path, progress: Progress | None = None) -> BackupHeader:
    """Read the whole file and refuse it (BackupFileError, with file and line) unless every
    line is a node or relationship this model knows, the counts are the header's, and the
    lines hash to the header's hash."""
    report = progress or (lambda phase, done, total: None)
    path = Path(path)
    lines = _file_lines(path)
    header = _header(path, next(lines, None))
    total = header.counts.nodes + header.counts.relationships
    hasher = CanonicalHasher()
    counts = Counter[str]()
    for number, line in lines:
        try:
            kind = _check_line(line, counts["relationship"] > 0)
        except ValueError as error:
            raise BackupFileError(path, number, str(error)) from None
        counts[kind] += 1
        hasher.add(line)
        if number % PROGRESS_EVERY == 0:
            report("checking", number, total)
    if (counts["node"], counts["relationship"]) != (header.counts.nodes, header.counts.relationships):
        raise BackupFileError(path, None, f"{counts['node']} nodes and {counts['relationship']} relationships, but the "
                              f"header says {header.counts.nodes} and {header.counts.relationships}: truncated or altered")
    if hasher.hashes() != GraphHashes(hash=header.hash, content_hash=header.content_hash):
        raise BackupFileError(path, None, "the lines do not hash to the header's hash: altered or damaged")
    report("checking", total, total)
    return header


def _header(path: Path, first: tuple[int, dict[str, Any]] | None) -> BackupHeader:
    if first is None:
        raise BackupFileError(path, 1, "empty file: not a backup")
    number, data = first
    if data.get("format") != FORMAT:
        raise BackupFileError(path, number, f"not a {FORMAT} file (no such header)")
    if data.get("format_version") != FORMAT_VERSION:
        raise BackupFileError(path, number, f"format version {data.get('format_version')!r}; this cmdb-graph "
                              f"({__version__}) reads version {FORMAT_VERSION}")
    try:
        return BackupHeader.model_validate(data)
    except ValidationError as error:
        raise BackupFileError(path, number, f"invalid header: {error.errors()[0]['msg']} "
                              f"({'.'.join(str(p) for p in error.errors()[0]['loc'])})") from None


# --- restore ----------------------------------------------------------------------------------


def create_nodes_query(labels: tuple[Label | CIClass, ...]) -> str:
    return f"""
UNWIND $rows AS row
CREATE (n:{':'.join(label.value for label in labels)})
SET n = row.props
RETURN elementId(n) AS element, row.temporal AS temporal
"""


def create_relationships_query(rel_type: RelType | RecordRel, start: Label, end: Label) -> str:
    return f"""
UNWIND $rows AS row
MATCH (a:{start.value} {{id: row.start}})
MATCH (b:{end.value} {{id: row.end}})
CREATE (a)-[r:{rel_type.value}]->(b)
SET r = row.props
RETURN elementId(a) AS start, elementId(r) AS element, row.temporal AS temporal
"""


def _set_temporal_query(match: str) -> str:
    """Cypher: set each [key, tag, text] of `row.temporal` on `x`, parsed by its tag's
    function. One query for all nodes and one for all relationships, not a copy in every
    create query: Neo4j takes longer to plan this than to run a batch of it."""
    cases = " ".join(f"WHEN '{tag}' THEN {tag}(t[2]) WHEN '{tag}[]' THEN [v IN t[2] | {tag}(v)]"
                     for tag in TEMPORAL_TAGS.values())
    return f"""
UNWIND $rows AS row
{match}
FOREACH (t IN row.temporal | SET x[t[0]] = CASE t[1] {cases} END)
RETURN count(*) AS written
"""


SET_NODE_TEMPORAL = _set_temporal_query("MATCH (x) WHERE elementId(x) = row.element")
# Found from its start node: planned while the database is still empty, a relationship found
# by element id alone is looked for with a scan of all relationships.
SET_RELATIONSHIP_TEMPORAL = _set_temporal_query(
    "MATCH (a) WHERE elementId(a) = row.start\n"
    "CALL (a, row) { MATCH (a)-[x]->() WHERE elementId(x) = row.element RETURN x }")


COUNT_NODES = "MATCH (n) RETURN count(n) AS n"


def count_nodes(driver: Driver, database: str) -> int:
    records, _, _ = driver.execute_query(COUNT_NODES, database_=database, routing_="r")
    return records[0]["n"]


def _row(props: dict[str, Any]) -> dict[str, Any]:
    plain = {key: value for key, value in props.items() if not isinstance(value, dict)}
    temporal = [[key, value["$"], value["v"]] for key, value in props.items() if isinstance(value, dict)]
    return {"props": plain, "temporal": temporal}


class _Batches:
    """Rows grouped by query, each group written when it is full (and all at the end)."""

    def __init__(self, driver: Driver, database: str, path: Path, batch_rows: int, timeout: float,
                 advance: Callable[[int], None]) -> None:
        self.driver, self.database, self.path = driver, database, path
        self.batch_rows, self.timeout, self.advance = batch_rows, timeout, advance
        self.groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.buffered = 0

    def add(self, query: str, number: int, row: dict[str, Any]) -> None:
        group = self.groups.setdefault(query, [])
        group.append((number, row))
        self.buffered += 1
        if len(group) >= self.batch_rows:
            self.flush(query)
        elif self.buffered >= 4 * self.batch_rows:
            self.flush_all()

    def flush_all(self) -> None:
        for query in list(self.groups):
            self.flush(query)

    def flush(self, query: str) -> None:
        group = self.groups.pop(query, [])
        if not group:
            return
        self.buffered -= len(group)
        rows = [row for _, row in group]
        set_temporal = SET_NODE_TEMPORAL if "CREATE (n:" in query else SET_RELATIONSHIP_TEMPORAL

        def work(tx: Any) -> int:
            created = [record.data() for record in tx.run(query, rows=rows)]
            typed = [row for row in created if row["temporal"]]
            if typed:
                tx.run(set_temporal, rows=typed).consume()
            return len(created)

        with self.driver.session(database=self.database) as session:
            try:
                written = session.execute_write(unit_of_work(timeout=self.timeout)(work))
            except Exception as error:
                raise _BatchFailed(self.path, group[0][0], group[-1][0], str(error)) from error
        if written != len(rows):
            raise _BatchFailed(self.path, group[0][0], group[-1][0],
                               f"{len(rows) - written} of {len(rows)} relationships name an end the backup does not hold")
        self.advance(len(rows))


class _BatchFailed(Exception):
    def __init__(self, path: Path, first: int, last: int, reason: str) -> None:
        super().__init__(f"{path}:{first}-{last}: {reason}")


def _write_file(driver: Driver, database: str, path: Path, batch_rows: int, timeout: float,
                advance: Callable[[int], None]) -> None:
    """Pass two: the lines, already checked, grouped by label set and relationship type."""
    batches = _Batches(driver, database, path, batch_rows, timeout, advance)
    node_queries: dict[tuple[Enum, ...], str] = {}
    rel_queries: dict[tuple[Enum, ...], str] = {}
    nodes_done = False
    lines = _file_lines(path)
    next(lines)  # the header
    for number, line in lines:
        if "labels" in line:
            labels = node_labels(line["labels"])
            query = node_queries.get(labels) or node_queries.setdefault(labels, create_nodes_query(labels))
            batches.add(query, number, _row(line["props"]))
            continue
        if not nodes_done:  # relationships need both their ends written
            batches.flush_all()
            nodes_done = True
        rel_type = relationship_type(line["type"])
        (start_labels, start_id), (end_labels, end_id) = _end(line["start"], "start"), _end(line["end"], "end")
        key = (rel_type, primary_label(start_labels), primary_label(end_labels))
        query = rel_queries.get(key) or rel_queries.setdefault(key, create_relationships_query(*key))
        batches.add(query, number, {**_row(line["props"]), "start": start_id, "end": end_id})
    batches.flush_all()


class RestoreSummary(BaseModel):
    file: str
    nodes: int
    relationships: int
    seconds: float
    taken_at: datetime
    expected_hash: str
    restored_hash: str
    expected_content_hash: str
    restored_content_hash: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def matches(self) -> bool:
        return self.expected_hash == self.restored_hash and self.expected_content_hash == self.restored_content_hash


def restore(driver: Driver, database: str, path: Path, *, batch_rows: int = 5000, timeout: float = 3600.0,
            progress: Progress | None = None) -> RestoreSummary:
    """Restore a backup into an empty database: the whole file is checked first (nothing is
    written if any line is wrong), then written in batches; if that fails midway the database
    is emptied again, so a failed restore leaves it as it found it. The restored graph's
    canonical hash is computed and returned beside the file's."""
    started = time.perf_counter()
    report = progress or (lambda phase, done, total: None)
    path = Path(path)
    _refuse_unless_empty(driver, database)
    header = check_backup(path, report)
    total = header.counts.nodes + header.counts.relationships
    _refuse_unless_empty(driver, database)
    init_schema(driver, database)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        report("restoring", done, total)

    report("restoring", 0, total)
    try:
        _write_file(driver, database, path, batch_rows, timeout, advance)
    except BaseException as error:
        reason = str(error) if isinstance(error, (_BatchFailed, BackupFileError)) else f"{type(error).__name__}: {error}"
        try:
            reset_database(driver, database)
        except Exception as cleanup:
            raise BackupError(f"restore failed ({reason}), and emptying the database again failed too ({cleanup}): "
                              "empty it with `cmdb-graph db reset --yes` before trying again") from error
        if not isinstance(error, Exception):  # Ctrl-C: emptied again, and still an interrupt
            raise
        raise BackupError(f"restore failed ({reason}); the database was emptied again") from error
    report("verifying", 0, 0)
    restored = graph_hashes(driver, database, timeout=timeout)
    return RestoreSummary(file=str(path), nodes=header.counts.nodes, relationships=header.counts.relationships,
                          seconds=round(time.perf_counter() - started, 3), taken_at=header.taken_at,
                          expected_hash=header.hash, restored_hash=restored.hash,
                          expected_content_hash=header.content_hash, restored_content_hash=restored.content_hash)


def _refuse_unless_empty(driver: Driver, database: str) -> None:
    nodes = count_nodes(driver, database)
    if nodes:
        raise RestoreRefused(f"the database holds {nodes:,} nodes; a restore goes into an empty database only "
                             "(empty it with `cmdb-graph db reset --yes`, or back it up first); nothing was written")
