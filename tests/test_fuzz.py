"""Property-based fuzzing of the GraphQL API: operations generated from the schema by
hypothesis-graphql, sent over HTTP (FastAPI's TestClient) to the real service on the real
Neo4j, with authentication on, against the shop graph (tests/data/shop.yaml). ID, String and
Int arguments are drawn partly from the graph's real ids (and cursors), so resolvers reach
real data and mutations really write.

Properties of every case:
- the answer is HTTP 200 (every operation generated is valid against the schema);
- every error carries an `extensions.code` of the stable set, never INTERNAL;
- after an admin's mutation, `tests.invariants.check_invariants` finds nothing;
- a viewer's mutation is refused (FORBIDDEN, or another client error) and leaves the graph as
  it was.

Failures are collected rather than raised at the first, so a run reports how many cases failed
and how; each test prints its cases, failures and error codes at the end (see them with -s).

Sizes: the default run is a CI sample (~300 cases, `CMDB_GRAPH_FUZZ_QUERIES`,
`CMDB_GRAPH_FUZZ_MUTATIONS`, `CMDB_GRAPH_FUZZ_VIEWER`). The `long` tests (`pytest -m long
tests/test_fuzz.py -s`) run `CMDB_GRAPH_FUZZ_LONG_QUERIES` + `CMDB_GRAPH_FUZZ_LONG_MUTATIONS`
(6,000 + 4,000) cases, each test within `CMDB_GRAPH_FUZZ_LONG_SECONDS` (1,500 s): past it, the
remaining examples are skipped and the count says how far it got.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import graphql
import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from cmdb_graph.access.keys import create_key
from cmdb_graph.access.roles import Role
from cmdb_graph.api.app import create_app
from cmdb_graph.api.reads import encode_cursor
from cmdb_graph.api.schema import schema
from cmdb_graph.connection import Neo4jTarget
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store
from loaders.native import load_paths
from tests.conftest import DATA, graph_counts
from tests.invariants import check_invariants

STABLE_CODES = frozenset({"NOT_FOUND", "VALIDATION", "CONFLICT", "LIMIT", "FORBIDDEN", "UNAVAILABLE"})
CLIENT_ERRORS = frozenset({"FORBIDDEN", "VALIDATION", "LIMIT", "NOT_FOUND", "CONFLICT"})


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


QUERY_CASES = _env_int("CMDB_GRAPH_FUZZ_QUERIES", 180)
MUTATION_CASES = _env_int("CMDB_GRAPH_FUZZ_MUTATIONS", 90)
VIEWER_CASES = _env_int("CMDB_GRAPH_FUZZ_VIEWER", 30)
LONG_QUERY_CASES = _env_int("CMDB_GRAPH_FUZZ_LONG_QUERIES", 6000)
LONG_MUTATION_CASES = _env_int("CMDB_GRAPH_FUZZ_LONG_MUTATIONS", 4000)
LONG_SECONDS = float(os.environ.get("CMDB_GRAPH_FUZZ_LONG_SECONDS", "1500"))


# --- what the generated arguments are drawn from ----------------------------------------------


def _shop_ids() -> list[str]:
    """Every id in the shop document: CIs and records."""
    document = yaml.safe_load((DATA / "shop.yaml").read_text(encoding="utf-8"))
    return sorted({item["id"] for section, items in document.items() if section != "relationships" for item in items})


EXISTING_IDS = _shop_ids()
FRESH_IDS = [f"fz-{n}" for n in range(1, 7)]  # created by one case, found by the next
KNOWN_IDS = EXISTING_IDS + FRESH_IDS

_text = st.text(max_size=40)
_ids = st.one_of(st.sampled_from(EXISTING_IDS), st.sampled_from(FRESH_IDS), st.sampled_from(FRESH_IDS), _text)
_words = st.sampled_from(["10.0.0.7", "2001:db8::1", "team-web", "24x7", "mon-fri 08:00-18:00", "restart", "a@b.org"])
_strings = st.one_of(_text, _text, st.sampled_from(KNOWN_IDS), _words,
                     st.sampled_from(KNOWN_IDS).map(encode_cursor))
_ints = st.one_of(st.integers(1, 4), st.integers(1, 4), st.integers(0, 5), st.integers(-(2**31), 2**31 - 1),
                  st.sampled_from([1, 50, 500, 501]))
_instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(timezone.utc))
_datetimes = st.one_of(*[_instants.map(lambda d: d.isoformat())] * 6, st.sampled_from(["2026-11-01", "yesterday", ""]))
_json_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_json_leaves = st.one_of(st.text(max_size=20).map(nodes.String), st.integers(-1000, 1000).map(nodes.Int),
                         st.booleans().map(nodes.Boolean))


def _json_object(fields: dict[str, graphql.ValueNode]) -> graphql.ObjectValueNode:
    return nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v) for k, v in fields.items()])


CUSTOM_SCALARS = {
    "ID": st.one_of(_ids.map(nodes.String), st.integers(0, 9).map(nodes.Int)),
    "String": _strings.map(nodes.String),
    "Int": _ints.map(nodes.Int),
    "DateTime": _datetimes.map(nodes.String),
    "JSON": st.one_of(*[st.dictionaries(_json_names, st.text(max_size=20).map(nodes.String), max_size=4).map(_json_object)] * 3,
                      st.dictionaries(_json_names, _json_leaves, max_size=4).map(_json_object),
                      st.text(max_size=20).map(nodes.String)),
}
SCHEMA_SDL = schema.as_str()


def operations(make: Any, root: graphql.GraphQLObjectType) -> st.SearchStrategy[str]:
    """Mostly operations on one root field (each field as likely as any other, and cheap to
    generate), sometimes on several at once."""
    one_field = st.sampled_from(sorted(root.fields)).flatmap(
        lambda name: make(SCHEMA_SDL, fields=[name], custom_scalars=CUSTOM_SCALARS))
    return st.one_of(one_field, one_field, one_field, make(SCHEMA_SDL, custom_scalars=CUSTOM_SCALARS))


QUERIES = operations(queries, schema._schema.query_type)
MUTATIONS = operations(mutations, schema._schema.mutation_type)


# --- the service, the graph and the keys -------------------------------------------------------


@pytest.fixture(scope="module")
def service(neo4j_target: Neo4jTarget, driver) -> Iterator[TestClient]:
    settings_ = Settings(api_auth=True, api_key_cache_seconds=300)
    with TestClient(create_app(settings_, target=neo4j_target)) as client:
        yield client


@dataclass
class Fuzzed:
    store: Store
    keys: dict[Role, str]


@pytest.fixture
def shop_graph(store: Store) -> Fuzzed:
    """The shop, an admin key and a viewer key."""
    assert load_paths(store, [DATA / "shop.yaml"], actor="loader").ok
    keys = {role: create_key(store.driver, store.database, f"fuzz-{role.value}", role, "test").secret
            for role in (Role.ADMIN, Role.VIEWER)}
    assert check_invariants(store.driver, store.database) == []
    return Fuzzed(store, keys)


# --- one case, and the tally of a run -------------------------------------------------------------


@dataclass
class Tally:
    """What a run did: cases, failures (with the operation), and the error codes seen."""

    name: str
    budget_seconds: float | None = None
    cases: int = 0
    skipped: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)  # the most frequent refusals, for tuning
    failures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def out_of_time(self) -> bool:
        if self.budget_seconds is not None and time.monotonic() - self.started > self.budget_seconds:
            self.skipped += 1
            return True
        return False

    def fail(self, operation: str, problems: list[str]) -> None:
        self.failures.append(f"{operation}\n  -> " + "\n  -> ".join(problems))

    def report(self) -> str:
        seconds = time.monotonic() - self.started
        codes = ", ".join(f"{code}={n}" for code, n in self.codes.most_common())
        skipped = f", {self.skipped} skipped past the time budget" if self.skipped else ""
        return (f"\n[fuzz] {self.name}: {self.cases} cases in {seconds:.0f} s, {len(self.failures)} failures{skipped}; "
                f"outcomes: {codes}")

    def finish(self, minimum: int = 1) -> None:
        print(self.report())
        for message, n in self.messages.most_common(6):
            print(f"[fuzz]   {n:5} x {message!r}")
        for failure in self.failures[:5]:
            print("[fuzz] FAILED:", failure[:3000])
        assert self.cases >= minimum, f"only {self.cases} cases ran"
        assert not self.failures, f"{len(self.failures)} of {self.cases} cases failed; first:\n{self.failures[0][:3000]}"


def post(client: TestClient, key: str, operation: str) -> tuple[int, dict[str, Any] | None]:
    response = client.post("/graphql", json={"query": operation}, headers={"Authorization": f"Bearer {key}"})
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def answer_problems(status: int, body: dict[str, Any] | None, tally: Tally, allowed: frozenset[str]) -> list[str]:
    """The properties every answer has: HTTP 200, and each error with a code in `allowed`."""
    if status != 200 or body is None:
        return [f"HTTP {status}: {str(body)[:1000]}"]
    problems = []
    errors = body.get("errors") or []
    if not errors:
        tally.codes["ok"] += 1
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        tally.codes[str(code)] += 1
        tally.messages[f"{code}: {str(error.get('message'))[:90]}"] += 1
        if code not in allowed:
            problems.append(f"error code {code!r}: {error.get('message')!r} at {error.get('path')}")
    return problems


def fuzz_case(client: TestClient, fuzzed: Fuzzed, operation: str, tally: Tally, *, mutation: bool) -> None:
    """An admin's operation: a stable answer, and after a mutation every invariant holds."""
    if tally.out_of_time():
        return
    tally.cases += 1
    status, body = post(client, fuzzed.keys[Role.ADMIN], operation)
    problems = answer_problems(status, body, tally, STABLE_CODES)
    if mutation:
        problems += [f"invariant: {v}" for v in check_invariants(fuzzed.store.driver, fuzzed.store.database)]
    if problems:
        tally.fail(operation, problems)


def viewer_case(client: TestClient, fuzzed: Fuzzed, operation: str, tally: Tally) -> None:
    """A viewer's mutation: refused with a client error, nothing written."""
    tally.cases += 1
    before = graph_counts(fuzzed.store.driver)
    status, body = post(client, fuzzed.keys[Role.VIEWER], operation)
    problems = answer_problems(status, body, tally, CLIENT_ERRORS)
    if body is not None and not body.get("errors"):
        problems.append("a viewer's mutation answered without an error")
    written = {name: value for name, value in ((body or {}).get("data") or {}).items() if value is not None}
    if written:
        problems.append(f"a viewer's mutation returned data: {str(written)[:500]}")
    if graph_counts(fuzzed.store.driver) != before:
        problems.append("a viewer's mutation changed the graph")
    if problems:
        tally.fail(operation, problems)


def fuzz_settings(cases: int) -> settings:
    # failures are collected, not raised: nothing to shrink, so only generate
    return settings(max_examples=cases, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))


# --- the CI sample ---------------------------------------------------------------------------------


# What the long run found (INTERNAL errors, fixed): a date without a zone as a period bound,
# and day counts so large that a timestamp minus them overflowed. Run first, every time.
FOUND = [
    '{ slaAttainment(from: "2026-11-01", to: null) { servicesMeasured } }',
    '{ acceptanceReport(from: "2026-11-01", to: null) { passed } }',
    '{ kpiReport(from: "2020-01-01T00:00:00+00:00", to: "2026-11-01") { __typename } }',
    "{ cmdbHealth(staleDays: 1.8737129725544878e+247) { relationshipCount } }",
    '{ dependencies(id: "web-1", changeWindowDays: 1e300) { __typename } }',
]


def test_generated_queries_get_stable_answers(service: TestClient, shop_graph: Fuzzed):
    tally = Tally("queries (admin)")

    @fuzz_settings(QUERY_CASES)
    @given(operation=QUERIES)
    @example(operation=FOUND[0])
    @example(operation=FOUND[1])
    @example(operation=FOUND[2])
    @example(operation=FOUND[3])
    @example(operation=FOUND[4])
    def case(operation: str) -> None:
        fuzz_case(service, shop_graph, operation, tally, mutation=False)

    case()
    tally.finish(minimum=QUERY_CASES // 2)


def test_generated_mutations_get_stable_answers_and_keep_the_invariants(service: TestClient, shop_graph: Fuzzed):
    tally = Tally("mutations (admin)")

    @fuzz_settings(MUTATION_CASES)
    @given(operation=MUTATIONS)
    def case(operation: str) -> None:
        fuzz_case(service, shop_graph, operation, tally, mutation=True)

    case()
    assert tally.codes["ok"] + tally.codes["CONFLICT"] + tally.codes["VALIDATION"] > 0
    tally.finish(minimum=MUTATION_CASES // 2)


def test_a_viewers_generated_mutations_are_refused_and_write_nothing(service: TestClient, shop_graph: Fuzzed):
    tally = Tally("mutations (viewer)")

    @fuzz_settings(VIEWER_CASES)
    @given(operation=MUTATIONS)
    def case(operation: str) -> None:
        viewer_case(service, shop_graph, operation, tally)

    case()
    assert tally.codes["FORBIDDEN"] > 0, tally.codes
    tally.finish(minimum=VIEWER_CASES // 2)


# --- the long run ------------------------------------------------------------------------------------


@pytest.mark.long
def test_long_generated_queries(service: TestClient, shop_graph: Fuzzed):
    tally = Tally("long queries (admin)", budget_seconds=LONG_SECONDS)

    @fuzz_settings(LONG_QUERY_CASES)
    @given(operation=QUERIES)
    def case(operation: str) -> None:
        fuzz_case(service, shop_graph, operation, tally, mutation=False)

    case()
    tally.finish()


@pytest.mark.long
def test_long_generated_mutations(service: TestClient, shop_graph: Fuzzed):
    tally = Tally("long mutations (admin)", budget_seconds=LONG_SECONDS)

    @fuzz_settings(LONG_MUTATION_CASES)
    @given(operation=MUTATIONS)
    def case(operation: str) -> None:
        fuzz_case(service, shop_graph, operation, tally, mutation=True)

    case()
    tally.finish()
