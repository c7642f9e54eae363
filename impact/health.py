"""cmdbHealth: how far the CMDB can be trusted. Orphans, stale items, missing required
attributes, duplicate candidates, dependency cycles, servers and network devices not under
management, and groups whose redundancy cannot hold.

"Under management" follows the acceptance rule of the deployment guide (000 3.5.4.3: every
server and network device is under management): the device has an owner and supports at least
one business or technical service (some service needs it, transitively)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import networkx as nx
from pydantic import BaseModel

from cmdb_graph.model import SERVICE_CLASSES, CIClass, RelType, from_neo4j_text
from cmdb_graph.store import Store
from impact.propagation import chains_from
from impact.topology import AnalysisError, CIRef, Topology, whole_graph

MANAGED_CLASSES = frozenset({
    CIClass.SERVER, CIClass.VIRTUAL_MACHINE, CIClass.NETWORK_DEVICE, CIClass.LOAD_BALANCER, CIClass.FIREWALL,
})
# what a CI of each class must carry to be useful to the analyses and to the service desk
REQUIRED_ATTRIBUTES: dict[CIClass, tuple[str, ...]] = {
    CIClass.BUSINESS_SERVICE: ("owner", "criticality", "rto_minutes"),
    CIClass.TECHNICAL_SERVICE: ("owner", "criticality"),
    CIClass.APPLICATION: ("owner", "criticality"),
    CIClass.DATABASE: ("owner", "rpo_minutes"),
    CIClass.SERVER: ("owner", "serial_number", "ip_addresses"),
    CIClass.VIRTUAL_MACHINE: ("owner", "ip_addresses"),
    CIClass.NETWORK_DEVICE: ("owner", "serial_number", "ip_addresses"),
    CIClass.LOAD_BALANCER: ("owner", "serial_number", "ip_addresses"),
    CIClass.FIREWALL: ("owner", "serial_number", "ip_addresses"),
    CIClass.STORAGE_DEVICE: ("owner", "serial_number"),
    CIClass.CLUSTER: ("owner",),
    CIClass.REDUNDANCY_GROUP: ("owner",),
}


class StaleCI(BaseModel):
    ci: CIRef
    source: str | None
    last_seen: datetime | None
    days_unseen: float | None


class MissingAttributes(BaseModel):
    ci_class: CIClass
    attribute: str
    count: int
    cis: list[str]


class DuplicateCandidate(BaseModel):
    key: str  # serial_number, fqdn or ip_address
    value: str
    cis: list[str]
    sources: list[str]


class UnmanagedCI(BaseModel):
    ci: CIRef
    reasons: list[str]


class GroupProblem(BaseModel):
    ci: CIRef
    min_members: int
    members: int


class CmdbHealth(BaseModel):
    ci_count: int
    relationship_count: int
    orphans: list[CIRef]
    stale: list[StaleCI]
    stale_days: float
    missing_attributes: list[MissingAttributes]
    duplicate_candidates: list[DuplicateCandidate]
    cycles: list[list[str]]
    unmanaged: list[UnmanagedCI]
    managed_share: float | None
    managed_count: int
    manageable_count: int
    group_problems: list[GroupProblem]


CI_FACTS = """
MATCH (c:CI)
WITH c ORDER BY c.id
RETURN collect([c.id, c.source, toString(c.last_seen), c.serial_number, c.fqdn, c.ip_addresses, c.owner,
                c.criticality, c.rto_minutes, c.rpo_minutes]) AS rows
"""


def digraph_of(graph: Topology) -> nx.DiGraph:
    """The CI graph's edges, every type, for networkx's global algorithms."""
    return nx.DiGraph((s, e.target) for s, edges in graph.out.items() for e in edges)


def _cycles(graph: Topology) -> list[list[str]]:
    return sorted(sorted(c) for c in nx.strongly_connected_components(digraph_of(graph)) if len(c) > 1)


MAX_DAYS = 36_500


def analyse_health(store: Store, stale_days: float = 30, now: datetime | None = None,
                   graph: Topology | None = None) -> CmdbHealth:
    if not 0 < stale_days <= MAX_DAYS:  # beyond, `now - days` overflows (an INTERNAL error)
        raise AnalysisError(f"staleDays: give a positive number of days, at most {MAX_DAYS:,}")
    now = now or datetime.now(timezone.utc)
    graph = graph or whole_graph(store)
    rows = store.rows(CI_FACTS)[0]["rows"]
    touched = {s for s, edges in graph.out.items() if edges} | {e.target for edges in graph.out.values() for e in edges}

    stale, by_key = [], defaultdict(list)
    missing: dict[tuple[CIClass, str], list[str]] = defaultdict(list)
    facts = {}
    for ci_id, source, last_seen, serial, fqdn, ips, owner, criticality, rto, rpo in rows:
        node = graph.nodes[ci_id]
        facts[ci_id] = {"owner": owner, "serial_number": serial, "ip_addresses": ips, "criticality": criticality,
                        "rto_minutes": rto, "rpo_minutes": rpo, "fqdn": fqdn}
        seen = from_neo4j_text(last_seen) if last_seen else None
        if seen is None or now - seen > timedelta(days=stale_days):
            stale.append(StaleCI(ci=node.ref(), source=source, last_seen=seen,
                                 days_unseen=round((now - seen).total_seconds() / 86400, 1) if seen else None))
        for attribute in REQUIRED_ATTRIBUTES.get(node.ci_class, ()):
            if facts[ci_id][attribute] in (None, "", []):
                missing[(node.ci_class, attribute)].append(ci_id)
        for key, values in (("serial_number", [serial]), ("fqdn", [fqdn.lower() if fqdn else None]),
                            ("ip_address", ips or [])):
            for value in values:
                if value:
                    by_key[(key, value)].append((ci_id, source or "unknown"))

    duplicates = [
        DuplicateCandidate(key=key, value=value, cis=sorted({c for c, _ in found}), sources=sorted({s for _, s in found}))
        for (key, value), found in sorted(by_key.items())
        if len({c for c, _ in found}) > 1 and len({s for _, s in found}) > 1
    ]

    serving: set[str] = set()
    for ci_id, node in graph.nodes.items():
        if node.ci_class in SERVICE_CLASSES and ci_id not in serving:
            serving |= set(chains_from(graph, ci_id).distance)
    unmanaged = []
    manageable = [c for c, n in sorted(graph.nodes.items()) if n.ci_class in MANAGED_CLASSES]
    for ci_id in manageable:
        reasons = []
        if not facts[ci_id]["owner"]:
            reasons.append("no owner")
        if ci_id not in serving:
            reasons.append("supports no service")
        if reasons:
            unmanaged.append(UnmanagedCI(ci=graph.nodes[ci_id].ref(), reasons=reasons))

    group_problems = []
    for ci_id, node in sorted(graph.nodes.items()):
        if node.is_group:
            members = sum(1 for e in graph.out.get(ci_id, []) if e.type is RelType.HAS_MEMBER)
            if members < (node.min_members or 1):
                group_problems.append(GroupProblem(ci=node.ref(), min_members=node.min_members or 1, members=members))

    return CmdbHealth(
        ci_count=len(graph.nodes), relationship_count=sum(len(e) for e in graph.out.values()),
        orphans=[graph.nodes[c].ref() for c in sorted(graph.nodes) if c not in touched],
        stale=stale, stale_days=stale_days,
        missing_attributes=[MissingAttributes(ci_class=cls, attribute=attr, count=len(ids), cis=ids)
                            for (cls, attr), ids in sorted(missing.items(), key=lambda kv: (kv[0][0].value, kv[0][1]))],
        duplicate_candidates=duplicates, cycles=_cycles(graph), unmanaged=unmanaged,
        managed_share=round(1 - len(unmanaged) / len(manageable), 4) if manageable else None,
        managed_count=len(manageable) - len(unmanaged), manageable_count=len(manageable),
        group_problems=group_problems,
    )
