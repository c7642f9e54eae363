"""Hostile strings through every String and ID argument of the GraphQL schema and through the
importers, on the real Neo4j: never a 500 or INTERNAL, never executed, stored verbatim or
refused cleanly.

The catalogue (`PAYLOADS`): Cypher fragments, quotes, backticks, backslashes, NUL and control
characters, unicode (RTL override, combining marks, emoji, the characters around the
surrogate range, homoglyphs), JSON- and GraphQL-looking text, CSV with embedded newlines,
and a 100 KB string. A 1 MB string is refused by the body limit (413, LIMIT).

The API: every String/ID argument of every query and mutation field, and every String/ID
field of their input objects (CIInput.name, RecordFilter.text, IncidentPatch.title, ...),
found by walking the schema; JSON inputs (`attributes`, `externalIds`) get the payload as a
value. One request per argument, the payloads as aliases of the same field. Other required
arguments get valid values, so what decides the outcome is the payload.

What is asserted, per case (argument x payload):
- HTTP 200, every error's code in the stable set (never INTERNAL);
- a write that succeeds stored the payload verbatim: the answer (read back from Neo4j) holds
  exactly `model_strip(payload)` (the model strips surrounding whitespace, `str_strip_whitespace`);
- nothing was executed: after each request the canary subgraph is unchanged, every node or
  relationship created or removed belongs to an item the request's audit entries name, and
  `check_invariants` holds (labels and relationship types only from the model's enums).

How the catalogue fares (the outcome, documented): ids are refused when they hold whitespace
or control characters (`Identifier`: VALIDATION); every other text field stores NUL, control
characters and everything else verbatim, after stripping surrounding whitespace; lengths are
refused where the model bounds them (VALIDATION). Counts are printed at the end (-s).
"""

from __future__ import annotations

import csv
import json
import typing
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import graphql
import pytest
import yaml
from pydantic import StringConstraints, TypeAdapter
from fastapi.testclient import TestClient

from cmdb_graph.access.keys import create_key
from cmdb_graph.access.roles import Role
from cmdb_graph.api.app import create_app
from cmdb_graph.api.schema import schema
from cmdb_graph.connection import Neo4jTarget
from cmdb_graph.model import BOOKKEEPING, RECORD_SECTIONS
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store
from loaders import importer as source_importer
from loaders.native import load_paths
from loaders.native.get import read_mapping
from loaders.native.load import check_against_database
from loaders.native.transform import transform
from loaders.sync.load import SyncOptions
from loaders.sync.run import read_source, run_import
from tests.invariants import check_invariants

FIXTURES = Path(__file__).parent / "fixtures"
STABLE_CODES = frozenset({"NOT_FOUND", "VALIDATION", "CONFLICT", "LIMIT", "FORBIDDEN", "UNAVAILABLE"})

PAYLOADS: dict[str, str] = {
    "cypher-detach-delete": "x' }) MATCH (n) DETACH DELETE n //",
    "cypher-or": '" OR 1=1 //',
    "cypher-relationship": "}]->(x) DELETE x",
    "cypher-labels": "`a`:`b`",
    "cypher-param": "$param",
    "cypher-map": "{id: 1}",
    "cypher-call": "') CALL db.labels() YIELD label RETURN label //",
    "quotes": "'\"'' \"\" ‘’“”",
    "backticks": "``` `x` `` ```",
    "backslashes": "\\ \\\\ \\' \\\" \\u0041 \\n",
    "nul": "a\x00b",
    "controls": "a\x01\x07\x08\x1b[31mred\x7f\x1f",
    "newlines-inside": "line1\nline2\r\nline3\ttab",
    "surrounding-whitespace": "  \t padded \n ",
    "rtl-override": "abc\u202edcba\u202c",
    "combining-marks": "e\u0301\u0301\u0301 Z\u0336\u0353",
    "emoji": "🔥💥👩\u200d💻🇫🇷",
    "around-surrogates": "\ud7ff\ue000\ufffd\uffff\U00010000\U0010ffff",
    "homoglyphs": "wеb-1 ѕhop",  # Cyrillic е and ѕ
    "json": '{"query": "mutation { deleteCI(id: \\"web-1\\", expectedVersion: 1) { deleted } }"}',
    "graphql": "query { __schema { types { name } } } mutation { escalateIncidents { checked } }",
    "csv-injection": '=cmd|"/C calc"!A0\n"x",y,,z\r\nid,class',
    "lucene": "ORA-01555 AND *:* OR title:(x~) \\ NOT",
    "id-like": "t-ci2",  # an existing id, where a text is expected
    "long-100k": "L" * 100_000,
}
ONE_MEGABYTE = "M" * 1_048_576
MAX_ALIASES = len(PAYLOADS)

# The canary subgraph: created first, named by no argument, checked after every request.
CANARY = {
    "teams": [{"id": "canary-team", "name": "Canary team"}],
    "cis": [{"id": "canary-ci", "class": "Server", "name": "canary", "owner": "canary-team"},
            {"id": "canary-svc", "class": "BusinessService", "name": "canary service"}],
    "relationships": [{"from": "canary-svc", "to": "canary-ci", "type": "DEPENDS_ON"}],
    "incidents": [{"id": "canary-inc", "title": "canary", "affects": ["canary-ci"], "opened_at": "2026-11-01T00:00:00Z"}],
}
# What the other required arguments name: targets, never the canary.
TARGETS = {
    "teams": [{"id": "t-team", "name": "Target team"}],
    "cis": [{"id": "t-ci", "class": "Server"}, {"id": "t-ci2", "class": "Database"},
            {"id": "t-svc", "class": "BusinessService"}],
    "relationships": [{"from": "t-svc", "to": "t-ci"}, {"from": "t-ci", "to": "t-ci2"}],
}
TARGET_ID = {"CI": "t-ci", "Team": "t-team", "SLA": "t-sla", "KnowledgeArticle": "t-kb", "Problem": "t-prb",
             "Release": "t-rel", "Change": "t-chg", "Incident": "t-inc", "MaintenanceWindow": "t-mw",
             "Blackout": "t-bo", "ChangeImpact": "t-chg", "Continuity": "t-svc"}
RECORD_TARGETS = {
    "slas": {"service": "t-svc", "availability_target": 0.99},
    "knowledge_articles": {"title": "kb", "about": ["t-ci"]},
    "problems": {"title": "problem", "root_cause_in": ["t-ci"]},
    "releases": {"version": "1.0", "deploys": ["t-svc"]},
    "changes": {"title": "change", "targets": ["t-ci"]},
    "incidents": {"title": "incident", "affects": ["t-ci"], "opened_at": "2026-11-01T00:00:00Z"},
    "maintenance_windows": {"start": "2026-12-01T00:00:00Z", "end": "2026-12-01T04:00:00Z", "applies_to": ["t-ci"]},
    "blackouts": {"start": "2026-12-24T00:00:00Z", "end": "2026-12-25T00:00:00Z", "applies_to": ["t-svc"]},
}
SECTION_OF_LABEL = {model.label.value: section for section, model in RECORD_SECTIONS.items()}
TARGET_PREFIX = {label: TARGET_ID[label] for label in SECTION_OF_LABEL}


def _target_document() -> dict[str, list[dict[str, Any]]]:
    """The targets: one record of each kind per payload (updates each write their own), and
    the ones other arguments name."""
    document: dict[str, list[dict[str, Any]]] = {key: [dict(item) for item in items] for key, items in TARGETS.items()}
    for label, section in SECTION_OF_LABEL.items():
        base = {"name": "team"} if section == "teams" else RECORD_TARGETS[section]
        ids = [TARGET_PREFIX[label]] + [f"{TARGET_PREFIX[label]}-{i}" for i in range(MAX_ALIASES)]
        document.setdefault(section, [])
        document[section] += [{"id": record_id, **base} for record_id in ids if record_id != "t-team"]
    return document


# --- walking the schema ----------------------------------------------------------------------------

TEXT_SCALARS = ("String", "ID")


@dataclass(frozen=True)
class Leaf:
    """One place a payload goes: a root field, the path to a String/ID (or JSON) value among
    its arguments, and whether that value is a list."""

    operation: str  # "query" or "mutation"
    field: str
    path: tuple[str, ...]
    scalar: str
    in_list: bool

    @property
    def name(self) -> str:
        return f"{self.field}({'.'.join(self.path)})"


def _unwrap(type_: graphql.GraphQLType) -> tuple[graphql.GraphQLNamedType, bool]:
    in_list = False
    while isinstance(type_, (graphql.GraphQLNonNull, graphql.GraphQLList)):
        in_list = in_list or isinstance(type_, graphql.GraphQLList)
        type_ = type_.of_type
    return type_, in_list


def _leaves_of(type_: graphql.GraphQLType, path: tuple[str, ...], seen: frozenset[str]) -> Iterator[tuple[tuple[str, ...], str, bool]]:
    named, in_list = _unwrap(type_)
    if isinstance(named, graphql.GraphQLScalarType) and named.name in (*TEXT_SCALARS, "JSON"):
        yield path, named.name, in_list
    elif isinstance(named, graphql.GraphQLInputObjectType) and named.name not in seen:
        for name, input_field in named.fields.items():
            yield from _leaves_of(input_field.type, (*path, name), seen | {named.name})


def schema_leaves() -> list[Leaf]:
    """Every String/ID/JSON argument and input field of every root field."""
    leaves = []
    gql = schema._schema
    for operation, root in (("query", gql.query_type), ("mutation", gql.mutation_type)):
        for field_name, root_field in sorted(root.fields.items()):
            for arg_name, argument in root_field.args.items():
                for path, scalar, in_list in _leaves_of(argument.type, (arg_name,), frozenset()):
                    leaves.append(Leaf(operation, field_name, path, scalar, in_list))
    return leaves


LEAVES = schema_leaves()


# --- valid values for everything else ---------------------------------------------------------------


def _baseline(type_: graphql.GraphQLType, name: str, owner: str, fresh_id: str, target: str) -> Any:
    """A valid value for an argument or input field, when it is required."""
    named, in_list = _unwrap(type_)
    value: Any
    if isinstance(named, graphql.GraphQLInputObjectType):
        value = {n: _baseline(f.type, n, named.name, fresh_id, target) for n, f in named.fields.items()
                 if graphql.is_required_input_field(f)}
        value.update(INPUT_EXTRAS.get(named.name, {}))
    elif isinstance(named, graphql.GraphQLEnumType):
        value = next(iter(named.values))
    elif named.name == "ID":
        value = fresh_id if name == "id" and owner.endswith("Input") else ID_ARGUMENTS.get(name, target)
    elif named.name == "Int":
        value = 1
    elif named.name == "Float":
        value = 0.99 if name == "availabilityTarget" else 1.0
    elif named.name == "Boolean":
        value = False
    elif named.name == "DateTime":
        value = "2026-12-01T04:00:00+00:00" if name in ("end", "windowEnd", "plannedEnd") else "2026-12-01T00:00:00+00:00"
    else:
        value = {"version": "1.0"}.get(name, "x")
    return [value] if in_list and not isinstance(value, list) else value


ID_ARGUMENTS = {"failed": "t-ci", "symptoms": "t-ci", "changeId": "t-chg", "serviceId": "t-svc",
                "source": "t-ci", "target": "t-ci2", "service": "t-svc"}
INPUT_EXTRAS: dict[str, dict[str, Any]] = {"SLAInput": {"service": "t-svc"}, "RelationshipInput": {"type": "DEPENDS_ON"}}
# CIInput's class defaults to the first enum value, a BusinessService; a Server takes every field
INPUT_EXTRAS["CIInput"] = {"ciClass": "SERVER"}


def _set_path(container: Any, path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        if isinstance(container, list):
            container = container[0]
        container = container.setdefault(part, {})
        if isinstance(container, list):
            container = container[0]
    container[path[-1]] = value


def _fill_optional_inputs(variables: dict[str, Any], root_field: graphql.GraphQLField, path: tuple[str, ...],
                          fresh_id: str, target: str) -> None:
    """An optional input object on the way to the leaf (`whatIf[0].ci`) gets its own required
    fields, so the payload is the only thing the server can object to."""
    container: Any = variables
    fields: Any = root_field.args
    for part in path[:-1]:
        field_type = fields[part].type
        named, _ = _unwrap(field_type)
        if isinstance(container, list):
            container = container[0]
        if part not in container:
            container[part] = _baseline(field_type, part, named.name, fresh_id, target)
        container = container[part]
        fields = named.fields


def _variable_type(type_: graphql.GraphQLType) -> str:
    return str(type_)


@dataclass
class Case:
    alias: str
    payload_name: str
    payload: str
    variables: dict[str, Any]


def operation_for(leaf: Leaf, payloads: dict[str, str], versions: dict[str, int]) -> tuple[str, list[Case]]:
    """One operation: the leaf's field once per payload, as aliases, each with its own
    variables; the selection asks back for the field the payload went into, where the answer
    has it."""
    gql = schema._schema
    root = gql.query_type if leaf.operation == "query" else gql.mutation_type
    root_field = root.fields[leaf.field]
    returns, _ = _unwrap(root_field.type)
    target_label = returns.name
    cases, definitions, selections = [], [], []
    for index, (payload_name, payload) in enumerate(payloads.items()):
        alias = f"a{index}"
        target = TARGET_ID.get(target_label, "t-ci")
        if leaf.field.startswith("update") and target_label in SECTION_OF_LABEL:
            target = f"{TARGET_PREFIX[target_label]}-{index}"
        fresh = f"inj-{leaf.field}-{'-'.join(leaf.path)}-{index}"
        variables: dict[str, Any] = {}
        for arg_name, argument in root_field.args.items():
            required = isinstance(argument.type, graphql.GraphQLNonNull) or arg_name == leaf.path[0]
            if required:
                variables[arg_name] = _baseline(argument.type, arg_name, "", fresh, target)
        if "expectedVersion" in root_field.args and leaf.path != ("expectedVersion",):
            variables["expectedVersion"] = versions.get(target, 1)
        _fill_optional_inputs(variables, root_field, leaf.path, fresh, target)
        value: Any = {"p": payload} if leaf.scalar == "JSON" else payload
        _set_path(variables, leaf.path, [value] if leaf.in_list and leaf.scalar != "JSON" else value)
        names = {arg: f"{alias}_{arg}" for arg in variables}
        definitions += [f"${names[arg]}: {_variable_type(root_field.args[arg].type)}" for arg in variables]
        arguments = ", ".join(f"{arg}: ${names[arg]}" for arg in variables)
        selections.append(f"{alias}: {leaf.field}({arguments}){_selection(returns, leaf)}")
        cases.append(Case(alias, payload_name, payload, {names[arg]: v for arg, v in variables.items()}))
    text = f"{leaf.operation} Injection({', '.join(definitions)}) {{\n  " + "\n  ".join(selections) + "\n}"
    return text, cases


def _echo_field(returns: graphql.GraphQLNamedType, leaf: Leaf) -> str | None:
    """The answer's field that holds what the payload was written to, if any."""
    if leaf.operation != "mutation" or not isinstance(returns, graphql.GraphQLObjectType):
        return None
    name = leaf.path[-1]
    if name in returns.fields and len(leaf.path) >= 2 and leaf.path[0] in ("input", "patch"):
        named, _ = _unwrap(returns.fields[name].type)
        if isinstance(named, graphql.GraphQLScalarType):
            return name
    return None


def _selection(returns: graphql.GraphQLNamedType, leaf: Leaf) -> str:
    if not isinstance(returns, (graphql.GraphQLObjectType, graphql.GraphQLInterfaceType, graphql.GraphQLUnionType)):
        return ""
    echo = _echo_field(returns, leaf)
    return " { __typename" + (f" {echo}" if echo else "") + " }"


# --- the graph, before and after ------------------------------------------------------------------


def snapshot(store: Store) -> tuple[dict[tuple[str, str], str], set[tuple[str, str, str]], set[str]]:
    """Every node but audit entries (labels, id -> properties), every relationship, and the
    audit entries' ids."""
    nodes, _, _ = store.driver.execute_query(
        "MATCH (n) WHERE NOT (n:AuditEntry OR n:SyncRun) RETURN labels(n) AS labels, n.id AS id, properties(n) AS props",
        database_=store.database, routing_="r")
    rels, _, _ = store.driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN type(r) AS type, a.id AS a, b.id AS b", database_=store.database, routing_="r")
    audits, _, _ = store.driver.execute_query("MATCH (e:AuditEntry) RETURN e.id AS id", database_=store.database,
                                              routing_="r")
    # bookkeeping (versions, timestamps, an import's stamps) changes with every write or sync;
    # content is what an injection would change
    content = {(":".join(sorted(r["labels"])), str(r["id"])):
               repr(sorted((k, v) for k, v in r["props"].items() if k not in BOOKKEEPING)) for r in nodes}
    return (content,
            {(r["type"], str(r["a"]), str(r["b"])) for r in rels}, {r["id"] for r in audits})


def touched_since(store: Store, audit_ids: set[str]) -> set[str]:
    """The ids the audit entries written since `audit_ids` name (a relationship key names its
    two ends)."""
    rows, _, _ = store.driver.execute_query("MATCH (e:AuditEntry) RETURN e.id AS id, e.entity_id AS entity",
                                            database_=store.database, routing_="r")
    touched = set()
    for row in rows:
        if row["id"] not in audit_ids:
            touched.add(row["entity"])
            touched.update(str(row["entity"]).split("|")[::2])
    return touched


def unexplained_changes(store: Store, before: tuple[Any, Any, set[str]]) -> list[str]:
    """Nodes and relationships that appeared, vanished or changed without an audit entry of
    this request naming them; and any change to the canary."""
    nodes_before, rels_before, audits_before = before
    nodes_after, rels_after, _ = snapshot(store)
    touched = touched_since(store, audits_before)
    problems = []
    for key in nodes_before.keys() | nodes_after.keys():
        if nodes_before.get(key) == nodes_after.get(key):
            continue
        if key[1].startswith("canary"):
            problems.append(f"the canary {key} changed")
        elif key[1] not in touched:
            problems.append(f"node {key} changed without an audit entry naming it")
    for rel in rels_before ^ rels_after:
        if any(end.startswith("canary") for end in rel[1:]):
            problems.append(f"a canary relationship {rel} changed")
        elif rel[1] not in touched and rel[2] not in touched:
            problems.append(f"relationship {rel} changed without an audit entry naming its ends")
    return problems


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(neo4j_target: Neo4jTarget, driver) -> Iterator[TestClient]:
    settings = Settings(api_auth=True, api_max_aliases=200, api_max_cost=10_000_000, api_key_cache_seconds=300)
    with TestClient(create_app(settings, target=neo4j_target)) as client:
        yield client


@pytest.fixture
def graph(store: Store) -> tuple[Store, str]:
    """The canary, the targets, and an admin key (every mutation is reached)."""
    for number, document in enumerate((CANARY, _target_document())):
        path = _write_yaml(document, f"inj-setup-{number}")
        report = load_paths(store, [path], actor="setup")
        path.unlink()
        assert report.ok, report.errors
    key = create_key(store.driver, store.database, "injection-admin", Role.ADMIN, "test").secret
    assert check_invariants(store.driver, store.database) == []
    return store, key


_STRIPPED = TypeAdapter(Annotated[str, StringConstraints(strip_whitespace=True)])


def model_strip(text: str) -> str:
    """What the model keeps of a text: surrounding whitespace as pydantic strips it (Unicode
    White_Space, which leaves control characters such as \\x1f that `str.strip` removes)."""
    return _STRIPPED.validate_python(text)


def _write_yaml(document: dict[str, Any], name: str, folder: Path | None = None) -> Path:
    import tempfile

    folder = folder or Path(tempfile.mkdtemp(prefix="fz_injection_"))
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


# --- the tally ----------------------------------------------------------------------------------------


@dataclass
class Outcomes:
    name: str
    cases: int = 0
    stored: int = 0  # written, and read back verbatim
    answered: int = 0  # a query, or a write whose answer does not echo the field
    refused: Counter[str] = field(default_factory=Counter)
    refused_payloads: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def finish(self) -> None:
        print(f"\n[injection] {self.name}: {self.cases} cases (argument x payload): {self.stored} stored verbatim, "
              f"{self.answered} answered, refused {dict(self.refused)}; {len(self.failures)} failures")
        print(f"[injection]   refusals per payload: {dict(self.refused_payloads.most_common())}")
        for failure in self.failures[:10]:
            print("[injection] FAILED:", failure[:1500])
        assert self.cases > 0
        assert not self.failures, f"{len(self.failures)} failures; first: {self.failures[0][:1500]}"


def _post(client: TestClient, key: str, query: str, variables: dict[str, Any]) -> tuple[int, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables},
                           headers={"Authorization": f"Bearer {key}"})
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def _errors_by_alias(body: dict[str, Any]) -> tuple[dict[str, list[dict]], list[dict]]:
    by_alias: dict[str, list[dict]] = {}
    whole = []
    for error in body.get("errors") or []:
        path = error.get("path") or []
        if path:
            by_alias.setdefault(str(path[0]), []).append(error)
        else:
            whole.append(error)
    return by_alias, whole


def _versions(store: Store) -> dict[str, int]:
    rows, _, _ = store.driver.execute_query("MATCH (n) WHERE n.id STARTS WITH 't-' RETURN n.id AS id, n.version AS v",
                                            database_=store.database, routing_="r")
    return {r["id"]: r["v"] for r in rows}


def _echoed(value: Any, scalar: str) -> Any:
    if isinstance(value, list):
        return value[0] if len(value) == 1 else value
    if scalar == "JSON" and isinstance(value, dict):
        return value.get("p")
    return value


def run_leaf(client: TestClient, store: Store, key: str, leaf: Leaf, outcomes: Outcomes) -> None:
    query, cases = operation_for(leaf, PAYLOADS, _versions(store))
    variables = {name: value for case in cases for name, value in case.variables.items()}
    before = snapshot(store)
    status, body = _post(client, key, query, variables)
    outcomes.cases += len(cases)
    if status != 200 or not isinstance(body, dict):
        outcomes.failures.append(f"{leaf.name}: HTTP {status}: {str(body)[:500]}")
        return
    by_alias, whole = _errors_by_alias(body)
    if whole:
        outcomes.failures.append(f"{leaf.name}: the whole operation failed: {whole[0]}")
        return
    data = body.get("data") or {}
    for case in cases:
        errors = by_alias.get(case.alias)
        if errors:
            codes = {(e.get("extensions") or {}).get("code") for e in errors}
            bad = codes - STABLE_CODES
            if bad:
                outcomes.failures.append(f"{leaf.name} <- {case.payload_name}: codes {bad}: {errors[0].get('message')}")
            outcomes.refused[",".join(sorted(map(str, codes)))] += 1
            outcomes.refused_payloads[case.payload_name] += 1
            continue
        answer = data.get(case.alias)
        echo = None
        if isinstance(returns_object := answer, list) and returns_object:
            answer = returns_object[0]
        if isinstance(answer, dict):
            echo_name = next((k for k in answer if k != "__typename"), None)
            echo = answer.get(echo_name) if echo_name else None
            if echo_name is not None:
                stripped = leaf.scalar != "JSON" or leaf.path[-1] == "externalIds"  # dict[str, str] values are
                expected = model_strip(case.payload) if stripped else case.payload
                if _echoed(echo, leaf.scalar) != expected:
                    outcomes.failures.append(f"{leaf.name} <- {case.payload_name}: stored {str(echo)[:200]!r}, "
                                             f"sent {case.payload[:200]!r}")
                else:
                    outcomes.stored += 1
                continue
        outcomes.answered += 1
    outcomes.failures += [f"{leaf.name}: {p}" for p in unexplained_changes(store, before)]


# --- the API --------------------------------------------------------------------------------------------


def test_the_schema_walk_finds_the_arguments_that_matter():
    names = {leaf.name for leaf in LEAVES}
    for expected in ("upsertCIs(input.name)", "upsertCIs(input.attributes)", "createIncident(input.title)",
                     "cis(filter.nameContains)", "searchKnowledge(text)", "incidents(filter.text)",
                     "updateIncident(patch.description)", "deleteCI(id)", "ci(id)", "createApiKey(name)"):
        assert expected in names, expected
    assert len(LEAVES) > 100


def test_hostile_strings_through_every_query_argument(service: TestClient, graph: tuple[Store, str]):
    store, key = graph
    outcomes = Outcomes("queries")
    for leaf in [leaf for leaf in LEAVES if leaf.operation == "query"]:
        run_leaf(service, store, key, leaf, outcomes)
    outcomes.failures += check_invariants(store.driver, store.database)
    outcomes.finish()


def test_hostile_strings_through_every_mutation_argument(service: TestClient, graph: tuple[Store, str]):
    store, key = graph
    outcomes = Outcomes("mutations")
    for leaf in [leaf for leaf in LEAVES if leaf.operation == "mutation"]:
        run_leaf(service, store, key, leaf, outcomes)
    outcomes.failures += check_invariants(store.driver, store.database)
    # the catalogue is stored somewhere, and refused somewhere: both outcomes are exercised
    assert outcomes.stored > 0 and sum(outcomes.refused.values()) > 0
    outcomes.finish()


def test_a_megabyte_argument_is_refused_by_the_body_limit(service: TestClient, graph: tuple[Store, str]):
    store, key = graph
    before = snapshot(store)
    for query, variables in (
        ("mutation($v: String) { upsertCIs(input: [{id: \"inj-mb\", ciClass: SERVER, name: $v}]) { id } }", {"v": ONE_MEGABYTE}),
        ("query($v: String!) { searchKnowledge(text: $v) { id } }", {"v": ONE_MEGABYTE}),
    ):
        status, body = _post(service, key, query, variables)
        assert status == 413, (status, str(body)[:300])
        assert body["errors"][0]["extensions"]["code"] == "LIMIT"
    assert unexplained_changes(store, before) == []


# --- the importers ------------------------------------------------------------------------------------


def _text_fields(model: Any) -> list[tuple[str, bool]]:
    """The fields of a model that hold text (str, optional str, list of str), links included,
    by their document key, with whether each is a list."""
    names = []
    for name, info in model.model_fields.items():
        annotation, args = info.annotation, typing.get_args(info.annotation)
        if annotation is str or set(args) == {str, type(None)}:
            names.append((info.alias or name, False))
        elif typing.get_origin(annotation) is list and args == (str,):
            names.append((info.alias or name, True))
    return names


CI_BASE = {"class": "Server"}
RECORD_BASE = {"teams": {"name": "team"}, **RECORD_TARGETS}


def native_document(payloads: dict[str, str]) -> tuple[dict[str, list[dict]], list[tuple[str, int, str, str]]]:
    """Every text field of every section, once per payload: the document, and per item
    (section, index, field, payload name)."""
    from cmdb_graph.model import CI

    document: dict[str, list[dict[str, Any]]] = {"cis": [], "relationships": []}
    places: list[tuple[str, int, str, str]] = []

    def add(section: str, item: dict[str, Any], field_name: str, payload_name: str) -> None:
        document.setdefault(section, []).append(item)
        places.append((section, len(document[section]) - 1, field_name, payload_name))

    for number, (payload_name, payload) in enumerate(payloads.items()):
        for name, is_list in [*_text_fields(CI), ("attributes", False), ("external_ids", False)]:
            if name == "ip_addresses":
                continue  # validated as addresses: refused, and checked through the API
            value: Any = {"attributes": {"p": payload}, "external_ids": {"src": payload}}.get(name, payload)
            add("cis", {"id": f"imp-ci-{name}-{number}", **CI_BASE, name: [value] if is_list else value}, name, payload_name)
        add("relationships", {"from": payload, "to": "t-ci2"}, "from", payload_name)
        add("relationships", {"from": "t-ci", "to": payload}, "to", payload_name)
        for section, model in RECORD_SECTIONS.items():
            for name, is_list in _text_fields(model):
                item = {"id": f"imp-{section}-{name}-{number}", **RECORD_BASE[section]}
                item[name] = [payload] if is_list else payload
                add(section, item, name, payload_name)
    return document, places


def _refused_items(store: Store, document: dict[str, list[dict]]) -> set[tuple[str, int]]:
    transformed = transform(read_mapping("injection", document))
    errors = list(transformed.errors)
    if not errors:
        errors = check_against_database(store, transformed)
    unplaced = [str(e) for e in errors if e.location.index is None]
    assert not unplaced, unplaced[:3]
    return {(e.location.section, e.location.index) for e in errors}


def _stored_value(store: Store, section: str, item: dict[str, Any], name: str) -> Any:
    item_id = model_strip(item["id"])  # stored as the model keeps it
    if section == "cis":
        stored = store.get_ci(item_id)
        return None if stored is None else stored.ci.model_dump(by_alias=True).get(name)
    model = RECORD_SECTIONS[section]
    record = store.records_by_id(model, [item_id]).get(item_id)
    if record is None:
        return None
    dumped = record.model_dump(by_alias=True)
    return dumped.get(name, dumped.get("version") if name == "version" else None)


def _expected(value: Any, name: str = "") -> Any:
    if name == "attributes":
        return value  # a free map: its values are kept as they are
    if isinstance(value, str):
        return model_strip(value)
    if isinstance(value, list):
        return [_expected(v) for v in value]
    if isinstance(value, dict):
        return {k: _expected(v) for k, v in value.items()}
    return value


def test_hostile_strings_through_every_native_import_field(store: Store, tmp_path: Path):
    for number, document in enumerate((CANARY, _target_document())):
        assert load_paths(store, [_write_yaml(document, f"setup-{number}", tmp_path)], actor="setup").ok
    document, places = native_document(PAYLOADS)
    # what the model or the references refuse, item by item, the way a load reports it
    refused: set[tuple[str, int]] = set()
    for _round in range(4):
        kept = {section: [item for i, item in enumerate(items) if (section, i) not in refused]
                for section, items in document.items()}
        newly = _refused_items(store, kept)
        if not newly:
            break
        # kept positions back to the document's, as they were before this round's refusals
        positions = {section: [i for i, _ in enumerate(items) if (section, i) not in refused]
                     for section, items in document.items()}
        refused |= {(section, positions[section][index]) for section, index in newly}
    accepted = {section: [item for i, item in enumerate(items) if (section, i) not in refused]
                for section, items in document.items()}
    before = snapshot(store)
    yaml_report = load_paths(store, [_write_yaml(accepted, "hostile", tmp_path)], actor="injection")
    assert yaml_report.ok, yaml_report.errors[:5]
    # the same items as JSON: read to exactly the same content, so nothing changes
    json_path = tmp_path / "hostile.json"
    json_path.write_text(json.dumps(accepted, ensure_ascii=False), encoding="utf-8")
    json_report = load_paths(store, [json_path], actor="injection")
    assert json_report.ok and (json_report.created, json_report.updated) == (0, 0), json_report
    outcomes = Outcomes("native import (YAML, then the same as JSON and CSV)")
    for section, index, name, payload_name in places:
        outcomes.cases += 1
        if (section, index) in refused:
            outcomes.refused["error"] += 1
            outcomes.refused_payloads[payload_name] += 1
            continue
        item = document[section][index]
        if section == "relationships":
            outcomes.stored += 1  # both ends are fixed ids: a relationship stored is the one sent
            continue
        sent = item[name]
        got = _stored_value(store, section, item, name if name != "class" else "class")
        if got != _expected(sent, name):
            outcomes.failures.append(f"{section}.{name} <- {payload_name}: stored {str(got)[:200]!r}, sent {str(sent)[:200]!r}")
        else:
            outcomes.stored += 1
    csv_report = load_paths(store, _write_csv_pair(accepted, tmp_path), actor="injection")
    # CSV cannot carry every text unchanged (a cell's line breaks and control characters are
    # the CSV reader's): it must load, never execute anything; what it re-reads differently is
    # an update like any other, checked by the invariants below
    assert csv_report.ok and csv_report.created == 0, csv_report
    print(f"\n[injection] the hostile CIs re-read from CSV: {csv_report.updated} updated, {csv_report.unchanged} unchanged")
    problems = unexplained_changes(store, before) + check_invariants(store.driver, store.database)
    outcomes.failures += problems
    outcomes.finish()


def _write_csv_pair(document: dict[str, list[dict]], folder: Path) -> list[Path]:
    """The document's CIs and relationships as the native CSV pair (maps as JSON cells)."""
    cis = folder / "cis.csv"
    rows = []
    for item in document["cis"]:
        row = {k: v for k, v in item.items() if k != "external_ids"}
        row.update({f"external_ids.{k}": v for k, v in (item.get("external_ids") or {}).items()})
        rows.append({k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else ";".join(v) if isinstance(v, list) else v
                     for k, v in row.items()})
    columns = sorted({key for row in rows for key in row})
    with cis.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    relationships = folder / "relationships.csv"
    with relationships.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["from", "to"])
        writer.writeheader()
        writer.writerows(document["relationships"])
    return [cis, relationships]


# One text field per other importer: the fixture, with one value replaced by the payload.
IMPORTER_PAYLOADS = {name: PAYLOADS[name] for name in (
    "cypher-detach-delete", "quotes", "backslashes", "nul", "rtl-override", "emoji", "csv-injection", "json")}


def _servicenow(folder: Path, payload: str) -> Path:
    source = FIXTURES / "servicenow" / "estate"
    rows = list(csv.DictReader((source / "cmdb_ci.csv").open(encoding="utf-8")))
    rows[0]["short_description"] = payload
    target = folder / "servicenow"
    target.mkdir()
    with (target / "cmdb_ci.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(rows)
    (target / "cmdb_rel_ci.csv").write_text((source / "cmdb_rel_ci.csv").read_text(encoding="utf-8"), encoding="utf-8")
    return target


def _backstage(folder: Path, payload: str) -> Path:
    import shutil

    target = folder / "backstage"
    shutil.copytree(FIXTURES / "backstage" / "catalog", target)
    shop = target / "shop.yaml"
    documents = list(yaml.safe_load_all(shop.read_text(encoding="utf-8")))
    documents[0]["metadata"]["description"] = payload
    shop.write_text(yaml.safe_dump_all(documents, allow_unicode=True), encoding="utf-8")
    return target


def _netbox(folder: Path, payload: str) -> Path:
    import shutil

    target = folder / "netbox"
    shutil.copytree(FIXTURES / "netbox" / "main", target)
    devices = json.loads((target / "devices.json").read_text(encoding="utf-8"))
    listing = devices["results"] if isinstance(devices, dict) else devices
    listing[0]["name"] = payload
    (target / "devices.json").write_text(json.dumps(devices, ensure_ascii=False), encoding="utf-8")
    return target


def _compose(folder: Path, payload: str) -> Path:
    target = folder / "compose"
    target.mkdir()
    body = yaml.safe_load((FIXTURES / "compose" / "shop" / "compose.yaml").read_text(encoding="utf-8"))
    service = next(iter(body["services"].values()))
    service.setdefault("labels", {})["description"] = payload
    service["image"] = payload if "\n" not in payload else service.get("image", "nginx")
    (target / "compose.yaml").write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    return target


def _kubernetes(folder: Path, payload: str) -> Path:
    target = folder / "kubernetes"
    target.mkdir()
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "inj-app", "namespace": "inj", "annotations": {"description": payload}},
                "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "app", "image": payload}]}}}}
    (target / "app.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True), encoding="utf-8")
    return target


def _csv(folder: Path, payload: str) -> Path:
    target = folder / "csv"
    target.mkdir()
    _write_csv_pair({"cis": [{"id": "inj-csv-1", "class": "Server", "name": payload}], "relationships": []}, target)
    return target


SOURCE_FILES = {"servicenow": _servicenow, "backstage": _backstage, "netbox": _netbox, "compose": _compose,
                "kubernetes": _kubernetes, "csv": _csv}


def _holds_somewhere(store: Store, expected: str) -> bool:
    """Some CI holds the text as a property, or as a value of its attributes."""
    rows, _, _ = store.driver.execute_query("MATCH (n:CI) RETURN properties(n) AS p", database_=store.database,
                                            routing_="r")
    for row in rows:
        for name, value in row["p"].items():
            if value == expected or (isinstance(value, list) and expected in value):
                return True
            if name in ("attributes", "external_ids") and isinstance(value, str) and expected in json.loads(value).values():
                return True
    return False


def test_hostile_strings_through_one_field_of_every_other_importer(store: Store, tmp_path: Path):
    assert load_paths(store, [_write_yaml(CANARY, "canary", tmp_path)], actor="setup").ok
    outcomes = Outcomes("other importers (one field each)")
    for source, make in SOURCE_FILES.items():
        for number, (payload_name, payload) in enumerate(IMPORTER_PAYLOADS.items()):
            outcomes.cases += 1
            folder = tmp_path / f"{source}-{number}"
            folder.mkdir()
            path = make(folder, payload)
            imp = source_importer(source)
            before = snapshot(store)
            batch = read_source(imp, path)
            report = run_import(store, imp, path, SyncOptions(source=source, importer=imp.name, actor="injection",
                                                              keys_are_ids=source == "csv", allow_large_cleanup=True),
                                batch=batch)
            if not report.ok:
                outcomes.refused["error"] += 1
                outcomes.refused_payloads[payload_name] += 1
                assert report.errors, report
            elif _holds_somewhere(store, model_strip(payload)):
                outcomes.stored += 1
            else:
                outcomes.answered += 1  # imported, the value normalised (e.g. an image reference parsed)
            outcomes.failures += [f"{source} <- {payload_name}: {p}" for p in unexplained_changes(store, before)]
    outcomes.failures += check_invariants(store.driver, store.database)
    outcomes.finish()


def _trace_export(payload: str) -> dict[str, Any]:
    def text(key: str, value: str) -> dict[str, Any]:
        return {"key": key, "value": {"stringValue": value}}

    spans = [{"traceId": "7" * 32, "spanId": "1" * 16, "name": payload, "kind": 3, "endTimeUnixNano": "1796205600000000000",
              "attributes": [text("peer.service", payload)]},
             {"traceId": "7" * 32, "spanId": "2" * 16, "parentSpanId": "1" * 16, "kind": 3,
              "endTimeUnixNano": "1796205601000000000", "attributes": [text("db.system", payload), text("db.namespace", payload)]}]
    return {"resourceSpans": [{"resource": {"attributes": [text("service.name", f"caller {payload}")]},
                               "scopeSpans": [{"spans": spans[:1]}]},
                              {"resource": {"attributes": [text("service.name", payload)]},
                               "scopeSpans": [{"spans": spans[1:]}]}]}


def test_hostile_strings_through_the_trace_importer_are_stored_verbatim_as_names(store: Store, tmp_path: Path):
    """service.name, peer.service and db.namespace: the telemetry names an ObservedCall keeps."""
    from loaders.traces.get import read as read_traces
    from loaders.traces.load import import_traces

    assert load_paths(store, [_write_yaml(CANARY, "canary", tmp_path)], actor="setup").ok
    outcomes = Outcomes("trace importer (service.name, peer.service, db.namespace)")
    for number, (payload_name, payload) in enumerate(IMPORTER_PAYLOADS.items()):
        outcomes.cases += 1
        path = tmp_path / f"traces-{number}.json"
        path.write_text(json.dumps(_trace_export(payload), ensure_ascii=False), encoding="utf-8")
        nodes_before, rels_before, _ = snapshot(store)
        report = import_traces(store, read_traces(path), actor="injection", record_relationships=True)
        if not report.ok:
            outcomes.refused["error"] += 1
            outcomes.refused_payloads[payload_name] += 1
            assert report.errors, report
            continue
        name = payload.strip()
        calls = {(r["caller"], r["callee"]) for r in store.rows(
            "MATCH (o:ObservedCall) RETURN o.caller AS caller, o.callee AS callee")}
        if (f"caller {payload}".strip(), name) in calls and (name, name) in calls:
            outcomes.stored += 1
        else:
            outcomes.failures.append(f"traces <- {payload_name}: names not kept verbatim: {sorted(calls)[:4]}")
        nodes_after, rels_after, _ = snapshot(store)
        other = {k: v for k, v in nodes_after.items() if not {"ObservedCall", "TraceImport"} & set(k[0].split(":"))}
        other_before = {k: v for k, v in nodes_before.items() if not {"ObservedCall", "TraceImport"} & set(k[0].split(":"))}
        if other != other_before or rels_after != rels_before:
            outcomes.failures.append(f"traces <- {payload_name}: CIs, records or relationships changed")
    outcomes.failures += check_invariants(store.driver, store.database)
    outcomes.finish()
