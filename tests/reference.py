"""Plain reference implementations the analyses are checked against: written straight from
the rule in docs/model.md with networkx, slow and obvious on purpose."""

from __future__ import annotations

import itertools

import networkx as nx

GROUP_CLASSES = {"Cluster", "RedundancyGroup"}


def build(cis: list[dict], relationships: list[dict]) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    for ci in cis:
        graph.add_node(ci["id"], cls=ci["class"], min_members=ci.get("min_members", 1 if ci["class"] in GROUP_CLASSES else None),
                       availability=ci.get("availability"))
    for rel in relationships:
        graph.add_edge(rel["from"], rel["to"], type=rel.get("type", "DEPENDS_ON"), strength=rel.get("strength", "hard"))
    return graph


def states(graph: nx.MultiDiGraph, failed: set[str], max_depth: int | None = None,
           types: set[str] | None = None) -> dict[str, str]:
    """CI -> DOWN or DEGRADED, by fixpoint iteration over the whole graph."""
    edges = [(s, t, d) for s, t, d in graph.edges(data=True) if types is None or d["type"] in types]
    followed = nx.MultiDiGraph()
    followed.add_nodes_from(graph.nodes(data=True))
    followed.add_edges_from(edges)
    if max_depth is None:
        region = set(graph.nodes)
    else:
        distance = nx.multi_source_dijkstra_path_length(followed.reverse(copy=False), failed, cutoff=max_depth)
        region = {n for n, d in distance.items() if d <= max_depth}
    down = set(failed) & region
    changed = True
    while changed:
        changed = False
        for v in region - down:
            group = graph.nodes[v]["cls"] in GROUP_CLASSES
            out = [(t, d) for _, t, d in followed.out_edges(v, data=True)]
            members = [t for t, d in out if group and d["type"] == "HAS_MEMBER"]
            hard_down = any(t in down for t, d in out if d["strength"] == "hard" and not (group and d["type"] == "HAS_MEMBER"))
            lost = sum(1 for t in members if t in down)
            # fewer than min_members up; a group that could never hold falls at its first loss
            group_down = bool(members) and lost >= 1 and len(members) - lost < (graph.nodes[v]["min_members"] or 1)
            if hard_down or group_down:
                down.add(v)
                changed = True
    degraded: set[str] = set()
    changed = True
    while changed:
        changed = False
        for v in region - down - degraded:
            if any(t in down or t in degraded for _, t in followed.out_edges(v)):
                degraded.add(v)
                changed = True
    return {**{v: "DOWN" for v in down}, **{v: "DEGRADED" for v in degraded}}


def single_points_of_failure(graph: nx.MultiDiGraph, service: str) -> set[str]:
    return {c for c in nx.descendants(graph, service) if states(graph, {c}).get(service) == "DOWN"}


def exact_availability(graph: nx.MultiDiGraph, service: str) -> float:
    components = sorted(c for c in nx.descendants(graph, service)
                        if graph.nodes[c]["availability"] is not None and graph.nodes[c]["availability"] < 1)
    total = 0.0
    for states_of in itertools.product((True, False), repeat=len(components)):
        probability = 1.0
        failed = set()
        for c, up in zip(components, states_of):
            a = graph.nodes[c]["availability"]
            probability *= a if up else 1 - a
            if not up:
                failed.add(c)
        if states(graph, failed).get(service) != "DOWN":
            total += probability
    return total
