"""CLI commands for the analyses: a table for people by default, `--json` for scripts (the
analysis's typed result, as JSON)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.table import Table

from cmdb_graph.cli import app, connected, fail, out, print_json, settings
from cmdb_graph.model import RelType
from cmdb_graph.store import NotFoundError, Store
from impact.topology import AnalysisError

Json = Annotated[bool, typer.Option("--json", help="print the result as JSON")]


def _analyse(run: Callable[[Store], Any]) -> Any:
    config = settings()
    with connected(config) as (target, driver):
        try:
            return run(Store(driver, target.database))
        except (AnalysisError, NotFoundError) as error:
            fail(str(error))


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
    as_json: Json = False,
) -> None:
    """What goes down or degrades when the given CIs fail."""
    from impact.impact import analyse_impact

    result = _analyse(lambda store: analyse_impact(store, failed, max_depth, relationship_type))

    def render(r: Any) -> None:
        table = _table(f"Impact of {', '.join(r.failed)}: {len(r.impacted)} CIs", "CI", "class", "state", "hops", "path")
        for row in r.impacted:
            table.add_row(row.ci.id, row.ci.ci_class.value, row.state.value, str(row.distance), _path(row.path))
        out.print(table)
        services = _table("Business services", "service", "state", "criticality", "SLA")
        for s in r.business_services:
            services.add_row(s.ci.id, s.state.value, str(s.criticality or ""), f"{s.sla.availability_target:.3%}" if s.sla else "")
        out.print(services)
        out.print("by layer: " + ", ".join(f"{k} {v}" for k, v in r.counts_by_layer.items()))

    _emit(result, as_json, render)


@app.command("dependencies")
def dependencies_command(
    ci_id: Annotated[str, typer.Argument(metavar="ID")],
    max_depth: Annotated[int | None, typer.Option()] = None,
    change_window_days: Annotated[float, typer.Option(help="recent changes: this many days back")] = 30,
    as_json: Json = False,
) -> None:
    """What a CI needs, nearest first, with open incidents, recent changes and known errors."""
    from impact.dependencies import analyse_dependencies

    result = _analyse(lambda store: analyse_dependencies(store, ci_id, max_depth, change_window_days))

    def render(rows: Any) -> None:
        table = _table(f"{ci_id} needs {len(rows)} CIs", "CI", "class", "hops", "incidents", "changes", "problems",
                       "known errors")
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
def change_impact_command(change_id: Annotated[str, typer.Argument(metavar="CHG")], as_json: Json = False) -> None:
    """What a change puts at risk, its approval route and its collisions."""
    from impact.change_impact import analyse_change_impact

    r = _analyse(lambda store: analyse_change_impact(store, change_id))

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
    as_json: Json = False,
) -> None:
    """CMDB health: orphans, stale items, missing attributes, duplicates, cycles, unmanaged devices."""
    from impact.health import analyse_health

    r = _analyse(lambda store: analyse_health(store, stale_days))

    def render(r: Any) -> None:
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

    _emit(r, as_json, render)
