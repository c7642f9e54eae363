"""CLI commands for the analyses: a table for people by default, `--json` for scripts (the
analysis's typed result, as JSON)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.table import Table

from cmdb_graph.cli import app, connected, fail, out, print_json, settings
from cmdb_graph.model import RelType, as_utc
from cmdb_graph.store import NotFoundError, Store
from impact.topology import AnalysisError, whole_graph

Json = Annotated[bool, typer.Option("--json", help="print the result as JSON")]
AsOf = Annotated[str | None, typer.Option(
    "--as-of", help="answer on the graph as it was then (ISO time, e.g. 2026-11-24T03:10:00Z; UTC if no offset)")]
WhatIf = Annotated[Path | None, typer.Option(
    "--what-if", help="a YAML or JSON file of hypothetical edits (a list, or under 'whatIf'), applied in memory; "
                      "nothing is written")]


def _analyse(run: Callable[[Store], Any], edits_file: EditsFile | None = None) -> Any:
    config = settings()
    with connected(config) as (target, driver):
        try:
            return run(Store(driver, target.database))
        except (AnalysisError, NotFoundError) as error:
            fail(edits_file.locate(str(error)) if edits_file else str(error))


def instant(text: str | None, option: str = "--as-of") -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"{option}: not an ISO date or time: {text!r}")
    return as_utc(moment)


class EditsFile:
    """A what-if plan read from a file; the analyses' messages name an edit by its position
    (`whatIf[2].target: ...`), which `locate` turns into the file and the line of that field
    (of the edit, where the field is not written)."""

    def __init__(self, path: Path) -> None:
        from impact.what_if import parse_edits
        from loaders.sync.files import FIELD_LINES_KEY, LINE_KEY, SourceReadError, strip_lines, yaml_documents

        self.path = path
        try:
            documents = yaml_documents(path)
        except SourceReadError as error:
            fail(str(error))
        body = documents[0] if len(documents) == 1 else None
        if isinstance(body, dict) and set(body) - {LINE_KEY, FIELD_LINES_KEY} <= {"whatIf", "what_if"}:
            body = body.get("whatIf", body.get("what_if"))
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            fail(f"{path}: expected a list of edits (or a mapping with a 'whatIf' list), each a mapping")
        self.lines = [(item.get(LINE_KEY), item.get(FIELD_LINES_KEY) or {}) for item in body]
        try:
            self.edits = parse_edits([strip_lines(item) for item in body])
        except AnalysisError as error:
            fail(self.locate(str(error)))

    def locate(self, message: str) -> str:
        def where(match: re.Match[str]) -> str:
            i, field_name = int(match.group(1)), match.group(2)
            item_line, field_lines = self.lines[i] if i < len(self.lines) else (None, {})
            line = field_lines.get(field_name) or item_line
            return f"{self.path}:{line}: {match.group(0)}" if line else f"{self.path}: {match.group(0)}"

        return re.sub(r"whatIf\[(\d+)\](?:\.(\w+))?", where, message)


def _edits(path: Path | None) -> EditsFile | None:
    return EditsFile(path) if path is not None else None


def _emit(result: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        if isinstance(result, list):
            print_json([r.model_dump(mode="json") for r in result])
        else:
            print_json(result.model_dump(mode="json") if isinstance(result, BaseModel) else result)
        return
    render(result)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    return table


def _path(ids: list[str]) -> str:
    return " -> ".join(ids)


@app.command("impact")
def impact_command(
    failed: Annotated[list[str], typer.Argument(help="ids of the CIs assumed failed")],
    max_depth: Annotated[int | None, typer.Option(help="follow at most this many hops")] = None,
    relationship_type: Annotated[list[RelType] | None, typer.Option("--type", help="follow only these types")] = None,
    as_of: AsOf = None,
    what_if: WhatIf = None,
    min_confidence: Annotated[float | None, typer.Option(
        help="leave out impacted CIs whose best path's confidence is below this (0-1)")] = None,
    as_json: Json = False,
) -> None:
    """What goes down or degrades when the given CIs fail; as of a past time, or with a what-if plan."""
    from impact.confidence import policy_from
    from impact.impact import analyse_impact

    at, plan, policy = instant(as_of), _edits(what_if), policy_from(settings())
    result = _analyse(lambda store: analyse_impact(
        store, failed, max_depth, relationship_type, as_of=at, what_if=plan.edits if plan else None,
        min_confidence=min_confidence, policy=policy), plan)
    _emit(result, as_json, _render_impact)


def _render_impact(r: Any, title: str = "Impact") -> None:
    when = f" as of {r.as_of.isoformat()}" if getattr(r, "as_of", None) else ""
    plan = f" with {r.what_if} what-if edit(s)" if getattr(r, "what_if", 0) else ""
    sure = f" (paths of confidence {r.min_confidence:g} or more)" if getattr(r, "min_confidence", None) else ""
    table = _table(f"{title} of {', '.join(r.failed)}{when}{plan}: {len(r.impacted)} CIs{sure}", "CI", "class",
                   "state", "hops", "confidence", "path")
    for row in r.impacted:
        confidence = f"{row.confidence:.2f}" if row.confidence is not None else ""
        table.add_row(row.ci.id, row.ci.ci_class.value, row.state.value, str(row.distance), confidence, _path(row.path))
    out.print(table)
    services = _table("Business services", "service", "state", "criticality", "SLA", "confidence")
    for s in r.business_services:
        services.add_row(s.ci.id, s.state.value, str(s.criticality or ""),
                         f"{s.sla.availability_target:.3%}" if s.sla else "",
                         f"{s.confidence:.2f}" if s.confidence is not None else "")
    out.print(services)
    out.print("by layer: " + ", ".join(f"{k} {v}" for k, v in r.counts_by_layer.items()))


@app.command("impact-diff")
def impact_diff_command(
    failed: Annotated[list[str], typer.Argument(help="ids of the CIs assumed failed")],
    what_if: Annotated[Path, typer.Option("--what-if", help="a YAML or JSON file of hypothetical edits")],
    max_depth: Annotated[int | None, typer.Option(help="follow at most this many hops")] = None,
    as_of: AsOf = None,
    as_json: Json = False,
) -> None:
    """impact without and with a what-if plan, side by side; nothing is written."""
    from impact.confidence import policy_from
    from impact.impact_diff import analyse_impact_diff

    at, plan, policy = instant(as_of), EditsFile(what_if), policy_from(settings())
    result = _analyse(lambda store: analyse_impact_diff(store, failed, plan.edits, max_depth, as_of=at, policy=policy),
                      plan)

    def render(r: Any) -> None:
        out.print(f"before: {len(r.before.impacted)} CIs impacted; after: {len(r.after.impacted)}; newly impacted "
                  f"{r.newly_impacted}, no longer {r.no_longer_impacted}, state changed {r.state_changed}",
                  highlight=False)
        for title, rows in (("Business services that differ", r.business_services), ("CIs that differ", r.cis)):
            if not rows:
                out.print(f"{title}: none")
                continue
            table = _table(title, "CI", "before", "after")
            for row in rows:
                table.add_row(row.ci.id, row.before.value if row.before else "up", row.after.value if row.after else "up")
            out.print(table)

    _emit(result, as_json, render)


@app.command("dependencies")
def dependencies_command(
    ci_id: Annotated[str, typer.Argument(metavar="ID")],
    max_depth: Annotated[int | None, typer.Option()] = None,
    change_window_days: Annotated[float, typer.Option(help="recent changes: this many days back")] = 30,
    as_of: AsOf = None,
    as_json: Json = False,
) -> None:
    """What a CI needs, nearest first, with open incidents, recent changes and known errors."""
    from impact.dependencies import analyse_dependencies

    at = instant(as_of)
    result = _analyse(lambda store: analyse_dependencies(store, ci_id, max_depth, change_window_days, as_of=at))

    def render(rows: Any) -> None:
        when = f" as of {at.isoformat()}" if at else ""
        table = _table(f"{ci_id} needs {len(rows)} CIs{when}", "CI", "class", "hops", "incidents", "changes",
                       "problems", "known errors")
        for d in rows:
            e = d.evidence
            table.add_row(d.ci.id, d.ci.ci_class.value, str(d.distance), *(" ".join(r.id for r in refs) for refs in
                          (e.open_incidents, e.recent_changes, e.open_problems, e.known_errors)))
        out.print(table)

    _emit(result, as_json, render)


@app.command("blast-radius")
def blast_radius_command(
    ci_id: Annotated[str, typer.Argument(metavar="ID")],
    expected_recovery_hours: Annotated[float | None, typer.Option(help="instead of the RTOs")] = None,
    as_json: Json = False,
) -> None:
    """impact of one CI, summarised, with the severity level of the event."""
    from impact.blast_radius import analyse_blast_radius

    r = _analyse(lambda store: analyse_blast_radius(store, ci_id, expected_recovery_hours))

    def render(r: Any) -> None:
        out.print(f"[bold]Severity level {r.severity_level.value}[/]: {r.reason}")
        out.print(f"{r.impacted_count} CIs impacted ({r.down_count} down); core services down "
                  f"{r.core_services_down} of {r.core_services_total}; recovery {r.expected_recovery_hours} h "
                  f"({r.recovery_hours_from})", highlight=False)
        table = _table("Business services", "service", "state", "criticality")
        for s in r.business_services:
            table.add_row(s.ci.id, s.state.value, str(s.criticality or ""))
        out.print(table)

    _emit(r, as_json, render)


@app.command("root-cause")
def root_cause_command(
    symptoms: Annotated[list[str], typer.Argument(help="ids of the CIs observed failing")],
    top: Annotated[int, typer.Option()] = 5,
    as_json: Json = False,
) -> None:
    """The CIs whose single failure best explains the symptoms."""
    from impact.root_cause import analyse_root_cause

    rows = _analyse(lambda store: analyse_root_cause(store, symptoms, top))

    def render(rows: Any) -> None:
        table = _table("Root-cause candidates", "CI", "score", "explains", "unseen", "why", "with")
        for c in rows:
            table.add_row(c.ci.id, f"{c.score:.1f}", f"{len(c.explained)}/{len(symptoms)}",
                          str(c.predicted_but_not_observed), c.explanation,
                          " + ".join(x.id for x in c.cause_set) if c.cause_set else "")
        out.print(table)

    _emit(rows, as_json, render)


@app.command("change-impact")
def change_impact_command(
    change_id: Annotated[str, typer.Argument(metavar="CHG")], what_if: WhatIf = None, as_json: Json = False,
) -> None:
    """What a change puts at risk, its approval route and its collisions; with --what-if, after a plan."""
    from impact.change_impact import analyse_change_impact

    plan = _edits(what_if)
    r = _analyse(lambda store: analyse_change_impact(store, change_id, plan.edits if plan else None), plan)

    def render(r: Any) -> None:
        out.print(f"[bold]{r.change_id}[/] {r.title}: risk {r.risk_score:.0f}/100, route {r.approval_route} "
                  f"({r.approval_reason})", highlight=False)
        out.print(f"outside maintenance window: {r.outside_maintenance_window}; in blackout: {r.in_blackout}"
                  + (f" ({', '.join(r.blackouts)})" if r.blackouts else ""), highlight=False)
        factors = _table("Risk factors", "factor", "weight", "value", "points", "reason")
        for f in r.risk_factors:
            factors.add_row(f.name, f"{f.weight:g}", f"{f.value:g}", f"{f.contribution:g}", f.reason)
        out.print(factors)
        impacted = _table(f"{len(r.impacted)} CIs impacted", "CI", "state", "hops")
        for row in r.impacted:
            impacted.add_row(row.ci.id, row.state.value, str(row.distance))
        out.print(impacted)
        for c in r.conflicts:
            out.print(f"[bold red]conflict[/] with {c.change_id}: {c.reason}", highlight=False)

    _emit(r, as_json, render)


@app.command("continuity")
def continuity_command(
    service_id: Annotated[str, typer.Argument(metavar="SVC")],
    max_size: Annotated[int, typer.Option(help="largest cut set to look for (1-3)")] = 2,
    as_json: Json = False,
) -> None:
    """Single points of failure, cut sets, RTO/RPO violations and availability of a service."""
    from impact.continuity import analyse_continuity

    r = _analyse(lambda store: analyse_continuity(store, service_id, max_size))

    def render(r: Any) -> None:
        a = r.availability
        if a.estimate is not None:
            out.print(f"availability {a.estimate:.5%} (between {a.low:.5%} and {a.high:.5%}; {a.method})", highlight=False)
        out.print(f"SLA: {r.sla_verdict}", highlight=False)
        out.print("single points of failure: " + ", ".join(c.id for c in r.single_points_of_failure), highlight=False)
        cuts = _table(f"Minimal cut sets up to {r.max_cut_size}", "CIs")
        for cut in r.minimal_cut_sets:
            if len(cut) > 1:
                cuts.add_row(" + ".join(c.id for c in cut))
        out.print(cuts)
        for v in r.rto_violations:
            out.print(f"RTO: {v.ci.id} recovers in {v.rto_minutes} min, the service allows {v.service_rto_minutes} "
                      f"({_path(v.path)})", highlight=False)
        for v in r.rpo_violations:
            out.print(f"RPO: {v.ci.id} may lose {v.rpo_minutes} min of data, the service allows {v.service_rpo_minutes}",
                      highlight=False)

    _emit(r, as_json, render)


@app.command("bia")
def bia_command(first: Annotated[int | None, typer.Option()] = None, as_json: Json = False) -> None:
    """Business services ranked for a business impact analysis."""
    from impact.bia import analyse_bia

    rows = _analyse(lambda store: analyse_bia(store, first))

    def render(rows: Any) -> None:
        names = [p.name for p in rows[0].parts] if rows else []
        table = _table("BIA ranking", "rank", "service", "score", *names)
        for e in rows:
            table.add_row(str(e.rank), e.ci.id, f"{e.score:.1f}", *(f"{p.contribution:g}" for p in e.parts))
        out.print(table)

    _emit(rows, as_json, render)


@app.command("health")
def health_command(
    stale_days: Annotated[float, typer.Option(help="not seen by its source for this many days")] = 30,
    unobserved_days: Annotated[float | None, typer.Option(
        help="a traced CI's declared dependency no trace showed for this many days (default: the "
             "traces_unobserved_days setting)")] = None,
    as_json: Json = False,
) -> None:
    """CMDB health: orphans, stale items, missing attributes, duplicates, cycles, unmanaged devices,
    and dependencies traces observed but the CMDB does not declare, or the other way round."""
    from impact.health import analyse_health
    from impact.observed import undeclared_dependencies, unobserved_dependencies

    days = settings().traces_unobserved_days if unobserved_days is None else unobserved_days
    def analyse(store: Store) -> tuple[Any, Any, Any]:
        graph = whole_graph(store)  # read once for the three
        return (analyse_health(store, stale_days, graph=graph), undeclared_dependencies(store, graph),
                unobserved_dependencies(store, days, graph=graph))

    r, undeclared, unobserved = _analyse(analyse)
    if as_json:
        print_json({**r.model_dump(mode="json"), "undeclared_dependencies": [u.model_dump(mode="json") for u in undeclared],
                    "unobserved_dependencies": [u.model_dump(mode="json") for u in unobserved],
                    "unobserved_days": days})
        return
    share = f"{r.managed_share:.1%}" if r.managed_share is not None else "n/a"
    out.print(f"{r.ci_count} CIs, {r.relationship_count} relationships; servers and network devices under "
              f"management: {r.managed_count}/{r.manageable_count} ({share})", highlight=False)
    table = _table("Findings", "finding", "count", "examples")
    table.add_row("orphans", str(len(r.orphans)), " ".join(c.id for c in r.orphans[:8]))
    table.add_row(f"stale (> {r.stale_days:g} days)", str(len(r.stale)), " ".join(s.ci.id for s in r.stale[:8]))
    for m in r.missing_attributes:
        table.add_row(f"{m.ci_class.value} without {m.attribute}", str(m.count), " ".join(m.cis[:8]))
    for d in r.duplicate_candidates:
        table.add_row(f"same {d.key} {d.value}", str(len(d.cis)), " ".join(d.cis))
    for cycle in r.cycles:
        table.add_row("dependency cycle", str(len(cycle)), " ".join(cycle[:8]))
    for u in r.unmanaged:
        table.add_row("not under management", "1", f"{u.ci.id}: {', '.join(u.reasons)}")
    for g in r.group_problems:
        table.add_row("group cannot hold", "1", f"{g.ci.id}: needs {g.min_members}, has {g.members}")
    out.print(table)
    seen = _table("Observed in traces, not declared", "caller", "callee", "calls", "errors", "last seen", "why")
    for u in undeclared:
        seen.add_row(u.caller_ci.id if u.caller_ci else u.caller, u.callee_ci.id if u.callee_ci else u.callee,
                     str(u.calls), str(u.errors), u.last_seen.isoformat(timespec="seconds"),
                     u.reason + (" (reachable through other CIs)" if u.declared_indirectly else ""))
    out.print(seen)
    declared = _table(f"Declared, not seen in traces for {days:g} days", "CI", "needs", "declared by", "last observed")
    for d in unobserved:
        declared.add_row(d.source.id, d.target.id, d.data_source or "",
                         d.observed_at.isoformat(timespec="seconds") if d.observed_at else "never")
    out.print(declared)
