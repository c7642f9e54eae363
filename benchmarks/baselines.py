"""What cmdb-graph is measured against, in the same process and the same run.

- `InMemoryGraph`: the generated enterprise read from its CSV files into networkx, and the
  propagation rule of `impact.propagation` written plainly with networkx calls. It answers
  impact(F) as `analyse_impact` does (every CI that needs F, DOWN or DEGRADED, its distance
  and one shortest chain), from a graph already in memory: no database, no network.
- `naive_dependents`: what a Cypher user writes first for "what depends on f, how far":
  `MATCH p = (x)-[*]->(f) RETURN x, min(length(p))`, which enumerates every path; it finds
  the dependents and their distance, without states, so it does less than the analysis.
- `per_row_merge`: one `MERGE` per CI and per relationship, each its own transaction, as a
  script calling `session.run` in a loop does."""

from __future__ import annotations

import csv
import random
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import networkx as nx
from neo4j import Driver
from neo4j.exceptions import ClientError, TransientError

from cmdb_graph.model import GROUP_CLASSES, RelType
from cmdb_graph.store import Store

GROUPS = {c.value for c in GROUP_CLASSES}


class InMemoryGraph:
    def __init__(self, folder: Path) -> None:
        self.graph = nx.MultiDiGraph()
        with (folder / "cis.csv").open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                min_members = row.get("min_members")
                self.graph.add_node(row["id"], cls=row["class"], min_members=int(min_members) if min_members else None)
        with (folder / "relationships.csv").open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                self.graph.add_edge(row["from"], row["to"], type=row.get("type") or "DEPENDS_ON",
                                    strength=row.get("strength") or "hard")

    def impact(self, failed: Iterable[str]) -> dict[str, tuple[str, int, list[str]]]:
        """CI -> (state, distance, chain to a failed CI), by the rule in docs/model.md."""
        graph = self.graph
        failed = sorted(set(failed))
        # breadth-first against the edges: distance and the next hop towards a failure
        layers = list(nx.bfs_layers(graph.reverse(copy=False), failed))
        distance = {ci: depth for depth, layer in enumerate(layers) for ci in layer}
        next_hop: dict[str, str | None] = dict.fromkeys(failed)
        for ci, depth in distance.items():
            if depth:
                next_hop[ci] = min(t for t in graph.successors(ci) if distance.get(t) == depth - 1)
        down = set(failed)
        queue = deque(failed)
        while queue:
            for dependent in set(graph.predecessors(queue.popleft())):
                if dependent not in down and self._down(dependent, down):
                    down.add(dependent)
                    queue.append(dependent)
        answer = {}
        for ci in distance:
            chain = [ci]
            while next_hop[chain[-1]] is not None:
                chain.append(next_hop[chain[-1]])
            answer[ci] = ("DOWN" if ci in down else "DEGRADED", distance[ci], chain)
        return answer

    def _down(self, ci: str, down: set[str]) -> bool:
        node = self.graph.nodes[ci]
        group = node["cls"] in GROUPS
        members = lost = 0
        for _, target, data in self.graph.out_edges(ci, data=True):
            if group and data["type"] == RelType.HAS_MEMBER.value:
                members += 1
                lost += target in down
            elif data["strength"] == "hard" and target in down:
                return True
        return lost >= 1 and members - lost < (node["min_members"] or 1)

    def dependents_count(self, ci: str, cap: int) -> int:
        """How many CIs need `ci`, transitively; counting stops past `cap`."""
        seen = {ci}
        queue = deque([ci])
        while queue and len(seen) <= cap:
            for dependent in self.graph.predecessors(queue.popleft()):
                if dependent not in seen:
                    seen.add(dependent)
                    queue.append(dependent)
        return len(seen) - 1

    def sample_by_dependents(self, targets: list[int], per_target: int, seed: int) -> dict[int, list[tuple[str, int]]]:
        """For each target count, up to `per_target` CIs with about that many dependents
        (within -30%/+50%, else the nearest), from the most depended-on CIs and a random sample."""
        rng = random.Random(seed)
        nodes = list(self.graph.nodes)
        by_fan_in = sorted(nodes, key=lambda n: (-self.graph.in_degree(n), n))[:400]
        pool = list(dict.fromkeys(by_fan_in + rng.sample(nodes, min(len(nodes), 3000))))
        cap = max(targets) * 3
        counts = [(ci, self.dependents_count(ci, cap)) for ci in pool]
        chosen: dict[int, list[tuple[str, int]]] = {}
        for target in targets:
            near = [(ci, n) for ci, n in counts if 0.7 * target <= n <= 1.5 * target]
            if len(near) < per_target:
                near = sorted(counts, key=lambda item: (abs(item[1] - target), item[0]))[:per_target]
            rng.shuffle(near)
            chosen[target] = sorted(near[:per_target], key=lambda item: item[0])
        return chosen


def naive_dependents(store: Store, ci_id: str, timeout_s: float) -> float | None:
    """Milliseconds of the variable-length query, or None when it runs past `timeout_s`."""
    query = ("MATCH p = (x:CI)-[*]->(f:CI {id: $id}) "
             "WITH x, min(length(p)) AS distance RETURN count(x) AS dependents, max(distance) AS depth")
    started = time.perf_counter()
    try:
        store.in_transaction(lambda tx: tx.run(query, id=ci_id).single(), write=False, timeout=timeout_s)
    except (ClientError, TransientError) as error:
        if "Terminated" in str(error.code) or "TransactionTimedOut" in str(error.code) or "timeout" in str(error).lower():
            return None
        raise
    return (time.perf_counter() - started) * 1000


MERGE_CI = "MERGE (n:CI {id: $id}) SET n += $props"
MERGE_RELATIONSHIP = {
    t: f"MATCH (a:CI {{id: $source}}) MATCH (b:CI {{id: $target}}) MERGE (a)-[r:{t.value}]->(b) SET r.strength = $strength"
    for t in RelType
}


def per_row_sample(folder: Path, elements: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The first CIs of the file and the relationships among them, `elements` in all (about
    one CI to four relationships, as in the file)."""
    cis: list[dict[str, Any]] = []
    with (folder / "cis.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            cis.append({"id": row["id"], "props": {k: v for k, v in row.items() if v and k != "id" and "." not in k}})
            if len(cis) >= elements // 2:
                break
    ids = {ci["id"] for ci in cis}
    rels: list[dict[str, Any]] = []
    with (folder / "relationships.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["from"] in ids and row["to"] in ids:
                rels.append({"source": row["from"], "target": row["to"], "type": row.get("type") or "DEPENDS_ON",
                             "strength": row.get("strength") or "hard"})
    keep_cis = max(elements - len(rels), elements // 5)
    cis = cis[:keep_cis]
    ids = {ci["id"] for ci in cis}
    rels = [r for r in rels if r["source"] in ids and r["target"] in ids][: elements - len(cis)]
    return cis, rels


def per_row_merge(driver: Driver, database: str, cis: list[dict[str, Any]], rels: list[dict[str, Any]]) -> float:
    """Elements per second, one auto-commit `MERGE` per element."""
    started = time.perf_counter()
    with driver.session(database=database) as session:
        for ci in cis:
            session.run(MERGE_CI, id=ci["id"], props=ci["props"]).consume()
        for rel in rels:
            session.run(MERGE_RELATIONSHIP[RelType(rel["type"])], source=rel["source"], target=rel["target"],
                        strength=rel["strength"]).consume()
    return (len(cis) + len(rels)) / (time.perf_counter() - started)
