"""rootCause(S): given CIs observed failing, which single failure explains them best.

Every CI that some symptom needs is a candidate. One propagation pass over everything that
needs a candidate (one scenario bit per candidate) gives, for each, the symptoms its failure
explains and the failures it predicts that nobody reported. The score (0-100) is

    70 x coverage   (share of symptoms explained: 1 for each it takes down, 0.5 for each it
                     only degrades)
  + 10 x precision  (explained symptoms / (explained + predicted but not observed))
  + 20 x evidence   (recent change on it 0.4, open problem 0.3, known error 0.5; at most 1)

so a common upstream of all symptoms outranks a CI with a fresh change that explains one, and
among candidates that explain everything, the one predicting fewest unseen failures wins.
Where no candidate explains every symptom, each candidate also carries `cause_set`: it and the
fewest others (greedy set cover) that together explain them all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import networkx as nx
from pydantic import BaseModel

from cmdb_graph.store import Store
from impact.evidence import Evidence, evidence_on
from impact.propagation import Propagation, propagate
from impact.topology import AnalysisError, CIRef, Topology, dependencies_region, dependents_region, require_cis

WEIGHTS = {"coverage": 70.0, "precision": 10.0, "evidence": 20.0}
EVIDENCE_POINTS = {"recent_change": 0.4, "open_problem": 0.3, "known_error": 0.5}
DEFAULT_LOOKBACK = timedelta(days=7)


class RootCauseCandidate(BaseModel):
    ci: CIRef
    score: float
    coverage: float
    precision: float
    evidence_score: float
    explained: list[str]
    unexplained: list[str]
    predicted_but_not_observed: int
    evidence: Evidence
    explanation: str
    cause_set: list[CIRef] | None = None  # when this CI alone does not explain every symptom


def _evidence_score(evidence: Evidence) -> float:
    points = (EVIDENCE_POINTS["recent_change"] * bool(evidence.recent_changes)
              + EVIDENCE_POINTS["open_problem"] * bool(evidence.open_problems)
              + EVIDENCE_POINTS["known_error"] * bool(evidence.known_errors))
    return min(1.0, points)


def _explanation(symptoms: Sequence[str], down: list[str], degraded: list[str], unseen: int, evidence: Evidence) -> str:
    parts = [f"explains {len(down) + len(degraded)} of {len(symptoms)} symptoms"
             + (f" ({len(down)} down, {len(degraded)} degraded)" if degraded else "")]
    if unseen:
        parts.append(f"would also take down {unseen} CI{'s' if unseen != 1 else ''} not reported failing")
    for change in evidence.recent_changes[:3]:
        parts.append(f"recent change {change.id} ({change.title})")
    for problem in evidence.known_errors[:3]:
        parts.append(f"known error {problem.id} ({problem.title})")
    for problem in evidence.open_problems[:3]:
        parts.append(f"open problem {problem.id} ({problem.title})")
    return "; ".join(parts)


def _greedy_cover(first: int, explained: list[set[str]], symptoms: set[str], order: list[int]) -> list[int] | None:
    chosen, covered = [first], set(explained[first])
    while covered != symptoms:
        best = max(order, key=lambda i: len(explained[i] - covered))  # `order` is best-first: ties keep it
        if not explained[best] - covered:
            return None
        chosen.append(best)
        covered |= explained[best]
    return chosen


def deepest(region: Topology) -> list[str]:
    """One CI per bottom strongly connected component of `region` (what needs nothing else in
    it). Whatever needs any CI of the region needs one of these, so their dependents are the
    dependents of the whole region: one traversal from a data centre, not one per candidate
    that sits on it."""
    graph = nx.DiGraph()
    graph.add_nodes_from(region.nodes)
    graph.add_edges_from((source, edge.target) for source, edges in region.out.items()
                         for edge in edges if edge.target in region.nodes)
    condensed = nx.condensation(graph)
    return sorted(min(condensed.nodes[c]["members"]) for c in condensed if condensed.out_degree(c) == 0)


def analyse_root_cause(
    store: Store, symptoms: Sequence[str], top: int = 5, since: datetime | None = None, now: datetime | None = None,
) -> list[RootCauseCandidate]:
    if top < 1:
        raise AnalysisError("top: give 1 or more")
    symptoms = require_cis(store, symptoms, "symptoms")
    until = now or datetime.now(timezone.utc)
    since = since or until - DEFAULT_LOOKBACK
    needed = dependencies_region(store, symptoms)
    candidates = sorted(needed.nodes)
    region = dependents_region(store, deepest(needed))
    scenarios = {c: 1 << i for i, c in enumerate(candidates)}
    # A symptom's state depends only on what it needs: the small region answers what each
    # candidate explains; the dependents region (the whole site, when a data centre is a
    # candidate) is walked only for what goes down, to count failures nobody reported.
    outcome: Propagation = propagate(needed, scenarios)
    predicted = propagate(region, scenarios, down_only=True)

    observed = set(symptoms)
    unseen: Counter[int] = Counter()
    for ci_id, bits in predicted.down.items():
        if ci_id not in observed:
            while bits:
                low = bits & -bits
                unseen[low.bit_length() - 1] += 1
                bits ^= low
    evidence = evidence_on(store, candidates, since, until)

    rows: list[tuple[float, int, RootCauseCandidate, set[str]]] = []
    for i, c in enumerate(candidates):
        bit = 1 << i
        down = [s for s in symptoms if outcome.down.get(s, 0) & bit]
        degraded = [s for s in symptoms if not outcome.down.get(s, 0) & bit and outcome.impacted.get(s, 0) & bit]
        explained = set(down) | set(degraded)
        not_seen = unseen[i] - (0 if c in observed else 1)  # its own failure is the hypothesis, not a prediction
        coverage = (len(down) + 0.5 * len(degraded)) / len(symptoms)
        precision = len(explained) / (len(explained) + not_seen) if explained else 0.0
        found = evidence.get(c, Evidence())
        ev = _evidence_score(found)
        score = WEIGHTS["coverage"] * coverage + WEIGHTS["precision"] * precision + WEIGHTS["evidence"] * ev
        rows.append((score, i, RootCauseCandidate(
            ci=region.nodes[c].ref(), score=round(score, 2), coverage=round(coverage, 4), precision=round(precision, 4),
            evidence_score=ev, explained=[s for s in symptoms if s in explained],
            unexplained=[s for s in symptoms if s not in explained], predicted_but_not_observed=not_seen,
            evidence=found, explanation=_explanation(symptoms, down, degraded, not_seen, found),
        ), explained))
    rows.sort(key=lambda row: (-row[0], len(row[2].unexplained), row[2].predicted_but_not_observed, row[2].ci.id))

    best = rows[:top]
    if best and best[0][2].unexplained:
        explained_by = [row[3] for row in rows]
        order = list(range(len(rows)))
        for position, (_score, _i, candidate, _explained) in enumerate(best):
            cover = _greedy_cover(position, explained_by, observed, order)
            if cover is not None:
                candidate.cause_set = [rows[k][2].ci for k in cover]
    return [row[2] for row in best]
