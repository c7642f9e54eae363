"""CLI for the service-management processes and their reports:

- `cmdb-graph report acceptance|kpi|sla [--from --to] [--format ...]`
- `cmdb-graph scenarios [--key K] [--recovery-hours KEY=H]`
- `cmdb-graph incident deadlines ID`, `cmdb-graph incident escalate [--dry-run]`
- `cmdb-graph problem candidates [--from --to] [--min-incidents N]`"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any

import typer

from cmdb_graph.cli import app, out, print_json
from cmdb_graph.cli_analyses import _analyse, _emit, _table
from cmdb_graph.model import as_utc

report_app = typer.Typer(help="Process reports: deployment acceptance, KPIs, SLA attainment.", no_args_is_help=True)
incident_app = typer.Typer(help="Incident deadlines and escalation.", no_args_is_help=True)
problem_app = typer.Typer(help="Problem management: candidates from repeated incidents.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(incident_app, name="incident")
app.add_typer(problem_app, name="problem")

From = Annotated[datetime | None, typer.Option("--from", help="period start (ISO date or time, UTC); default 30 days before --to")]
To = Annotated[datetime | None, typer.Option("--to", help="period end, exclusive (default: now)")]


class TableOrJson(str, Enum):
    TABLE = "table"
    JSON = "json"


class TableCsvOrJson(str, Enum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


@report_app.command("acceptance")
def acceptance_command(
    start: From = None, end: To = None,
    output: Annotated[TableOrJson, typer.Option("--format", help="table or json")] = TableOrJson.TABLE,
) -> None:
    """The deployment acceptance criteria, each passed or failed with its figures (exit 1 when
    one fails)."""
    from impact.acceptance import analyse_acceptance

    report = _analyse(lambda store: analyse_acceptance(store, as_utc(start), as_utc(end)))

    def render(r: Any) -> None:
        table = _table(f"Deployment acceptance {r.start:%Y-%m-%d %H:%M} to {r.end:%Y-%m-%d %H:%M} UTC: "
                       f"{'PASS' if r.passed else 'FAIL'}", "criterion", "required", "value", "result", "figures")
        for c in r.criteria:
            value = f"{c.value:g}" if c.key == "knowledge_entries" else _percent(c.value)
            required = f"{c.comparison.value} {c.threshold:g}" if c.key == "knowledge_entries" else \
                f"{c.comparison.value} {c.threshold:.0%}"
            table.add_row(c.title, required, value, "pass" if c.passed else "FAIL", c.figures)
        out.print(table)
        for c in r.criteria:
            if not c.passed and c.details:
                out.print(f"{c.key}: " + "; ".join(c.details[:10]))

    _emit(report, output is TableOrJson.JSON, render)
    if not report.passed:
        raise typer.Exit(1)


@report_app.command("kpi")
def kpi_command(
    start: From = None, end: To = None,
    output: Annotated[TableCsvOrJson, typer.Option("--format", help="table, csv or json")] = TableCsvOrJson.TABLE,
) -> None:
    """Process KPIs for a period: counts, rates, mean times, change success, SLA attainment."""
    from impact.kpi import analyse_kpi

    report = _analyse(lambda store: analyse_kpi(store, as_utc(start), as_utc(end)))
    if output is TableCsvOrJson.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["area", "kpi", "value", "unit", "detail", "from", "to"])
        for k in report.kpis:
            value = "" if k.value is None else int(k.value) if k.unit == "count" else k.value
            writer.writerow([k.area, k.name, value, k.unit, k.detail,
                             report.start.isoformat(), report.end.isoformat()])
        typer.echo(buffer.getvalue(), nl=False)
        return

    def render(r: Any) -> None:
        table = _table(f"Process KPIs {r.start:%Y-%m-%d %H:%M} to {r.end:%Y-%m-%d %H:%M} UTC", "area", "kpi", "value", "detail")
        for k in r.kpis:
            value = "-" if k.value is None else _percent(k.value) if k.unit == "ratio" else \
                f"{k.value:g} min" if k.unit == "minutes" else f"{k.value:g}"
            table.add_row(k.area, k.name, value, k.detail)
        out.print(table)

    _emit(report, output is TableCsvOrJson.JSON, render)


@report_app.command("sla")
def sla_command(
    start: From = None, end: To = None,
    output: Annotated[TableOrJson, typer.Option("--format", help="table or json")] = TableOrJson.TABLE,
) -> None:
    """SLA attainment per business service: availability from incident downtime through the
    graph, response and resolution attainment, misses and the trend against the period before."""
    from impact.acceptance import period
    from impact.service_levels import analyse_sla_attainment

    first, last = period(as_utc(start), as_utc(end))
    report = _analyse(lambda store: analyse_sla_attainment(store, first, last))

    def render(r: Any) -> None:
        table = _table(f"SLA attainment {r.start:%Y-%m-%d} to {r.end:%Y-%m-%d}: {r.services_meeting_availability} of "
                       f"{r.services_measured} services met their availability target",
                       "service", "target", "availability", "down min", "response", "resolution", "trend", "misses")
        for s in r.services:
            c = s.current
            table.add_row(s.service.id, f"{s.availability_target:.2%}",
                          "-" if c.availability is None else f"{c.availability:.4%}", f"{c.downtime_minutes:g}",
                          f"{c.response.met}/{c.response.counted}", f"{c.resolution.met}/{c.resolution.counted}",
                          s.trend.value.lower(), "; ".join(s.misses))
        out.print(table)

    _emit(report, output is TableOrJson.JSON, render)


@app.command("scenarios")
def scenarios_command(
    key: Annotated[list[str] | None, typer.Option("--key", help="only these scenario kinds")] = None,
    recovery_hours: Annotated[list[str] | None, typer.Option(
        "--recovery-hours", help="KIND=HOURS: the recovery time to plan a kind of scenario with")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """The seed's emergency scenarios run through the impact analysis: services down, severity
    level and the RTOs that would be missed."""
    from cmdb_graph.cli import fail
    from impact.scenarios import run_scenarios

    hours: dict[str, float] = {}
    for item in recovery_hours or []:
        name, _, value = item.partition("=")
        try:
            hours[name] = float(value)
        except ValueError:
            fail(f"--recovery-hours {item!r}: write KIND=HOURS, e.g. site-loss=48")
    results = _analyse(lambda store: run_scenarios(store, hours or None, key or None))

    def render(rows: Any) -> None:
        table = _table("Continuity scenarios", "scenario", "failed CIs", "services down", "severity", "missed RTOs")
        for r in rows:
            table.add_row(r.title, str(len(r.failed)), ", ".join(s.ci.id for s in r.services_down) or "none",
                          r.severity_level.value, ", ".join(f"{m.ci.id} ({m.rto_minutes} min)" for m in r.missed_rtos) or "none")
        out.print(table)

    _emit(results, as_json, render)


@incident_app.command("deadlines")
def deadlines_command(
    incident_id: Annotated[str, typer.Argument(help="the incident")],
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """An incident's response and resolution deadlines from its services' SLAs, with breaches."""
    from cmdb_graph.processes.incidents import incident_deadlines

    result = _analyse(lambda store: incident_deadlines(store, incident_id, datetime.now(timezone.utc)))

    def render(d: Any) -> None:
        out.print(f"{d.incident_id} (P{d.priority}) touches {', '.join(d.services) or 'no business service'}")
        for name in ("response", "resolution"):
            due, sla, late = getattr(d, f"{name}_due"), getattr(d, f"{name}_sla"), getattr(d, f"{name}_breached")
            state = "no SLA" if due is None else "breached" if late else "met" if late is False else "running"
            out.print(f"  {name}: due {due:%Y-%m-%d %H:%M} UTC under {sla}: {state}" if due else f"  {name}: {state}")
        if d.escalation_level:
            out.print(f"  escalated to level {d.escalation_level}: {d.escalation_reason}")

    _emit(result, as_json, render)


@incident_app.command("escalate")
def escalate_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would be escalated; write nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Escalate every open incident whose deadlines call for it, recorded with level and reason."""
    from cmdb_graph.processes.incidents import escalate_incidents

    run = _analyse(lambda store: escalate_incidents(store, datetime.now(timezone.utc), "cli", dry_run))
    if as_json:
        print_json(run.model_dump(mode="json"))
        return
    out.print(f"{run.checked} open incidents checked, {len(run.escalated)} {'to escalate' if dry_run else 'escalated'}")
    for d in run.escalated:
        out.print(f"  {d.incident_id}: {d.escalation_reason}")


@problem_app.command("candidates")
def candidates_command(
    start: From = None, end: To = None,
    min_incidents: Annotated[int, typer.Option(help="incidents needed to call it a pattern")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """CIs behind repeated incidents that no problem explains yet: the same CI, or a CI that
    incidents on several CIs all need."""
    from cmdb_graph.processes.problems import problem_candidates
    from impact.acceptance import period

    first, last = period(as_utc(start), as_utc(end))
    rows = _analyse(lambda store: problem_candidates(store, first, last, min_incidents))

    def render(items: Any) -> None:
        table = _table("Problem candidates", "CI", "kind", "incidents", "reason")
        for c in items:
            table.add_row(c.ci.id, c.kind.value, ", ".join(c.incidents), c.reason)
        out.print(table)

    _emit(rows, as_json, render)


