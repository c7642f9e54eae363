"""The generated enterprise: exactly the size asked for, the same files for the same seed,
loadable as written, and shaped like an enterprise (acyclic, groups that can hold, a heavy
tail of dependents). Pure Python: no database."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from statistics import median

import networkx as nx
import pytest

from cmdb_graph.generate import GeneratedEnterprise, write_enterprise
from cmdb_graph.model import GROUP_CLASSES, CIClass
from loaders.native.get import read_paths
from loaders.native.transform import resolve_references, transform

GROUPS = {c.value for c in GROUP_CLASSES}


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def enterprise(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GeneratedEnterprise]:
    out = tmp_path_factory.mktemp("enterprise-10k")
    return out, write_enterprise(out, 10_000, seed=11)


@pytest.fixture(scope="module")
def graph(enterprise: tuple[Path, GeneratedEnterprise]) -> nx.DiGraph:
    out, _ = enterprise
    digraph = nx.DiGraph()
    digraph.add_nodes_from(ci["id"] for ci in rows(out / "cis.csv"))
    digraph.add_edges_from((rel["from"], rel["to"]) for rel in rows(out / "relationships.csv"))
    return digraph


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path):
    first, again, other = (write_enterprise(tmp_path / name, 2_000, seed)
                           for name, seed in (("first", 5), ("again", 5), ("other", 6)))
    for mine, same, different in zip(first.files, again.files, other.files):
        assert Path(mine).read_bytes() == Path(same).read_bytes()
        assert Path(mine).read_bytes() != Path(different).read_bytes()


@pytest.mark.parametrize("cis", [300, 2_000, 10_000])
def test_exactly_the_cis_asked_for_and_the_counts_reported(tmp_path: Path, cis: int):
    result = write_enterprise(tmp_path / "out", cis, seed=1)
    out = tmp_path / "out"
    assert result.cis == cis == len(rows(out / "cis.csv"))
    assert result.relationships == len(rows(out / "relationships.csv"))
    assert result.files == [str(out / name) for name in ("cis.csv", "relationships.csv", "records.json")]
    records = json.loads((out / "records.json").read_text(encoding="utf-8"))
    assert result.records == {section: len(items) for section, items in records.items()}
    assert all(result.records[section] for section in ("teams", "slas", "incidents", "changes"))


def test_progress_reports_every_row_written(tmp_path: Path):
    reported: list[int] = []
    result = write_enterprise(tmp_path, 10_000, seed=3, progress=reported.append)
    assert len(reported) > 1
    assert sum(reported) == result.cis + result.relationships


def test_about_four_relationships_per_ci(enterprise: tuple[Path, GeneratedEnterprise]):
    _, result = enterprise
    assert 3.5 <= result.relationships / result.cis <= 4.5


def test_loads_without_errors_and_every_reference_is_inside(enterprise: tuple[Path, GeneratedEnterprise]):
    out, result = enterprise
    transformed = transform(read_paths([out]))
    assert transformed.errors == []
    # relationship ends, owners, SLA services, incident and change targets: all in the files
    assert resolve_references(transformed.references, transformed.document, {}, {}) == []
    document = transformed.document
    assert (len(document.cis), len(document.relationships)) == (result.cis, result.relationships)
    classes = Counter(ci.ci_class for ci in document.cis)
    assert set(classes) == set(CIClass) - {CIClass.DOCUMENT}
    services = {ci.id for ci in document.cis if ci.ci_class is CIClass.BUSINESS_SERVICE}
    assert services <= {sla.service for sla in document.slas}
    assert all(ci.owner for ci in document.cis)


def test_acyclic_and_every_group_can_hold(enterprise: tuple[Path, GeneratedEnterprise], graph: nx.DiGraph):
    out, _ = enterprise
    cis = {ci["id"]: ci for ci in rows(out / "cis.csv")}
    members: Counter[str] = Counter()
    for rel in rows(out / "relationships.csv"):
        if rel["type"] == "HAS_MEMBER":
            assert cis[rel["from"]]["class"] in GROUPS, rel
            members[rel["from"]] += 1
    groups = [ci for ci in cis.values() if ci["class"] in GROUPS]
    assert groups and all(1 <= int(g["min_members"]) <= members[g["id"]] for g in groups)
    assert any(int(g["min_members"]) >= 2 for g in groups)
    assert nx.is_directed_acyclic_graph(graph)


def test_dependents_are_heavy_tailed(graph: nx.DiGraph):
    needed_by = graph.reverse(copy=False)
    dependents = sorted(len(nx.descendants(needed_by, ci)) for ci in needed_by)
    assert dependents[-1] >= 100 * max(1, median(dependents))
    for decade in (10, 100, 1_000):  # CIs with about each count, for benchmarks to sample
        assert any(decade <= count < 2 * decade for count in dependents), decade
