"""Problems: candidates surfaced from repeated incidents, and the knowledge article a known
error or a resolved problem leaves behind.

A problem candidate is a CI behind several incidents not yet linked to a problem: either the
same CI again and again, or a CI that the affected CIs of incidents on different CIs all need
(their likely shared upstream cause). A shared CI counts only where the incidents concentrate
on it: at least `min_share` (20%) of the CIs that need it had incidents, so a hypervisor that
130 CIs run on is not named for incidents on 13 of them. Of the CIs that explain the same
incidents, the most specific one is named: the one with the fewest dependents."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from enum import Enum

from pydantic import BaseModel

from cmdb_graph.model import OPEN_INCIDENT_STATUSES, KnowledgeArticle, Problem, ProblemStatus
from cmdb_graph.processes.incidents import incidents_between
from cmdb_graph.processes.records import RuleError
from cmdb_graph.store import Store
from impact.propagation import chains_from, chains_to
from impact.topology import AnalysisError, CIRef, whole_graph


class CandidateKind(str, Enum):
    SAME_CI = "SAME_CI"
    SHARED_UPSTREAM = "SHARED_UPSTREAM"


class ProblemCandidate(BaseModel):
    kind: CandidateKind
    ci: CIRef
    incidents: list[str]
    affected: list[str]
    open_incidents: int
    dependents: int
    open_problems: list[str]
    reason: str


OPEN_PROBLEMS_ON = """
MATCH (p:Problem)-[:ROOT_CAUSE_IN]->(c:CI)
WHERE c.id IN $ids AND p.status IN ['open', 'investigating', 'known_error']
RETURN c.id AS ci, collect(p.id) AS problems
"""


def problem_candidates(
    store: Store, start: datetime | None, end: datetime | None, min_incidents: int = 3, top: int = 20,
    min_share: float = 0.2,
) -> list[ProblemCandidate]:
    """CIs behind at least `min_incidents` incidents opened in [start, end) that no problem
    explains yet, most incidents first."""
    if min_incidents < 2:
        raise AnalysisError("minIncidents: give 2 or more (one incident is not a pattern)")
    incidents = [i for i in incidents_between(store, start, end) if i.caused_by is None and i.affects]
    if not incidents:
        return []
    graph = whole_graph(store)
    on_ci: dict[str, set[str]] = defaultdict(set)
    for incident in incidents:
        for ci_id in incident.affects:
            if ci_id in graph.nodes:
                on_ci[ci_id].add(incident.id)
    below: dict[str, set[str]] = defaultdict(set)  # upstream CI -> incidents whose CIs need it
    for ci_id, ids in on_ci.items():
        for upstream in chains_from(graph, ci_id).distance:
            below[upstream] |= ids
    opened = {i.id: i for i in incidents}

    def affected_of(ids: set[str]) -> list[str]:
        return sorted({c for i in ids for c in opened[i].affects if c in on_ci})

    found: dict[frozenset[str], ProblemCandidate] = {}
    for ci_id, ids in below.items():
        affected = affected_of(ids)
        same_ci = affected == [ci_id]
        if len(ids) < min_incidents or (not same_ci and len(affected) < 2):
            continue
        dependents = len(chains_to(graph, [ci_id]).distance) - 1
        if not same_ci and len(affected) < min_share * dependents:
            continue
        key = frozenset(ids)
        held = found.get(key)
        if held is not None and (held.kind is CandidateKind.SAME_CI or held.dependents <= dependents):
            continue
        kind = CandidateKind.SAME_CI if same_ci else CandidateKind.SHARED_UPSTREAM
        open_count = sum(1 for i in ids if opened[i].status.value in OPEN_INCIDENT_STATUSES)
        reason = (f"{len(ids)} incidents on {ci_id} with no problem linked" if same_ci else
                  f"{len(ids)} incidents on {len(affected)} CIs that all need {ci_id} "
                  f"({len(affected)} of the {dependents} CIs that depend on it; the most specific CI they share)")
        found[key] = ProblemCandidate(kind=kind, ci=graph.nodes[ci_id].ref(), incidents=sorted(ids), affected=affected,
                                      open_incidents=open_count, dependents=dependents, open_problems=[], reason=reason)
    ranked = sorted(found.values(), key=lambda c: (-len(c.incidents), c.kind is not CandidateKind.SAME_CI,
                                                    c.dependents, c.ci.id))[:top]
    problems = {r["ci"]: sorted(r["problems"]) for r in store.rows(OPEN_PROBLEMS_ON, ids=[c.ci.id for c in ranked])}
    for candidate in ranked:
        candidate.open_problems = problems.get(candidate.ci.id, [])
        if candidate.open_problems:
            candidate.reason += f"; open problem(s) on it: {', '.join(candidate.open_problems)} (link the incidents)"
    return ranked


def knowledge_article_id(problem: Problem) -> str:
    return problem.documented_in[0] if problem.documented_in else f"KB-{problem.id}"


def knowledge_from_problem(problem: Problem, existing: KnowledgeArticle | None) -> dict:
    """The article a known error or a resolved problem documents itself in: its symptoms,
    root cause, analysis, workaround and solution, about the CIs of the root cause. An
    existing article keeps its own CIs and tags and gains the problem's."""
    sections = [
        ("Symptoms", problem.symptoms),
        ("Root cause", problem.root_cause),
        ("Cause categories", ", ".join(c.value for c in problem.cause_categories) or None),
        ("Five whys", "\n".join(f"{n}. {why}" for n, why in enumerate(problem.five_whys, start=1)) or None),
        ("Workaround", problem.workaround),
        ("Solution", problem.solution),
    ]
    body = "\n\n".join(f"{title}: {text}" for title, text in sections if text)
    body += f"\n\nProblem: {problem.id} ({problem.status.value})."
    tags = ["known-error" if problem.known_error else "problem", *(c.value for c in problem.cause_categories)]
    title = f"{'Known error' if problem.known_error else 'Resolved problem'}: {problem.title}"
    about = set(problem.root_cause_in)
    if existing is not None:
        tags = [*existing.tags, *tags]
        about |= set(existing.about)
    return {"id": knowledge_article_id(problem), "title": title, "body": body,
            "tags": list(dict.fromkeys(tags)), "about": sorted(about)}


def problem_rules(store: Store, before: Problem | None, data: dict, now: datetime) -> dict[str, list[dict]]:
    """A known error names its root cause and workaround; a resolved problem its root cause
    and a solution or workaround; either writes its knowledge article in the same
    transaction and links it (`documented_in`)."""
    if before is None:
        return {}
    wanted = ProblemStatus(getattr(data.get("status"), "value", data.get("status")) or before.status.value)
    if wanted is before.status or wanted not in (ProblemStatus.KNOWN_ERROR, ProblemStatus.RESOLVED):
        return {}
    if not data.get("root_cause"):
        raise RuleError("rootCause", f"a {wanted.value.replace('_', ' ')} names its root cause: give rootCause")
    if wanted is ProblemStatus.KNOWN_ERROR and not data.get("workaround"):
        raise RuleError("workaround", "a known error has a workaround: give workaround")
    if wanted is ProblemStatus.RESOLVED:
        if not (data.get("solution") or data.get("workaround")):
            raise RuleError("solution", "a resolved problem records its solution: give solution")
        if data.get("resolved_at") is None:
            data["resolved_at"] = now
    problem = Problem.model_validate(data)
    existing = store.get_record(KnowledgeArticle, knowledge_article_id(problem))
    article = knowledge_from_problem(problem, existing[0] if existing else None)  # type: ignore[arg-type]
    data["documented_in"] = sorted(set(data.get("documented_in") or []) | {article["id"]})
    return {"knowledge_articles": [article]}
