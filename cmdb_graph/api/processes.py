"""GraphQL fields for the service-management processes and their reports. The result types
are derived from the pydantic models the processes return, so the API cannot drift from
them; resolvers run the process in a worker thread and convert."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

import anyio
import strawberry
from strawberry.experimental.pydantic import type as from_model
from strawberry.types import Info

from cmdb_graph.api import reads
from cmdb_graph.api.context import Context
from cmdb_graph.api.permissions import CanEdit
from cmdb_graph.api.types import RECORD_TYPES, record_from_props
from cmdb_graph.model import Change, Label
from cmdb_graph.processes import changes, incidents, problems
from cmdb_graph.processes.records import write_records
from cmdb_graph.store import NotFoundError
from impact import acceptance, kpi, scenarios, service_levels, topology


@from_model(model=topology.CIRef, all_fields=True, description="A CI named by a report")
class CIRef:
    pass


@from_model(model=incidents.SlaTerms, all_fields=True, description="An SLA that applies to an incident through a service")
class SlaTerms:
    pass


@from_model(model=incidents.IncidentDeadlines, all_fields=True,
            description="An incident's deadlines from its services' SLAs; a breach flag is null while it can still be met")
class IncidentDeadlines:
    pass


@from_model(model=incidents.EscalationRun, all_fields=True)
class EscalationRun:
    pass


@from_model(model=problems.ProblemCandidate, all_fields=True,
            description="A CI behind repeated incidents that no problem explains yet")
class ProblemCandidate:
    pass


@from_model(model=service_levels.Downtime, all_fields=True)
class Downtime:
    pass


@from_model(model=service_levels.Attainment, all_fields=True)
class Attainment:
    pass


@from_model(model=service_levels.PeriodFigures, all_fields=True)
class PeriodFigures:
    pass


@from_model(model=service_levels.ServiceAttainment, all_fields=True,
            description="What a period delivered against a service's SLA, why it missed, and the trend")
class ServiceAttainment:
    pass


@from_model(model=service_levels.SlaReport, all_fields=True)
class SlaReport:
    pass


@from_model(model=scenarios.ScenarioService, all_fields=True)
class ScenarioService:
    pass


@from_model(model=scenarios.MissedRto, all_fields=True)
class MissedRto:
    pass


@from_model(model=scenarios.ScenarioResult, all_fields=True,
            description="An emergency scenario run through the impact analysis")
class ScenarioResult:
    pass


@from_model(model=acceptance.Criterion, all_fields=True)
class AcceptanceCriterion:
    pass


@from_model(model=acceptance.AcceptanceReport, all_fields=True,
            description="The deployment acceptance criteria, each passed or failed with its figures")
class AcceptanceReport:
    pass


@from_model(model=kpi.Kpi, all_fields=True)
class Kpi:
    pass


@from_model(model=kpi.KpiReport, all_fields=True)
class KpiReport:
    pass


@strawberry.input(description="The recovery time to plan one kind of scenario with")
class ScenarioHours:
    key: str
    hours: float


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _run(info: Info[Context, None], work: Any) -> Any:
    store = info.context.store
    return await anyio.to_thread.run_sync(lambda: work(store), limiter=info.context.analysis_slots)


From = Annotated[datetime | None, strawberry.argument(name="from", description="period start (default: 30 days before `to`)")]
To = Annotated[datetime | None, strawberry.argument(name="to", description="period end, exclusive (default: now)")]


@strawberry.type
class ProcessQuery:
    @strawberry.field(description="An incident's response and resolution deadlines, breaches and escalation")
    async def incident_deadlines(self, info: Info[Context, None], id: strawberry.ID) -> IncidentDeadlines:
        result = await _run(info, lambda store: incidents.incident_deadlines(store, str(id), _now()))
        return IncidentDeadlines.from_pydantic(result)

    @strawberry.field(description="CIs behind repeated incidents no problem explains: the same CI, or a shared upstream CI")
    async def problem_candidates(
        self, info: Info[Context, None], start: From = None, end: To = None,
        min_incidents: int = 3, first: int = 20,
    ) -> list[ProblemCandidate]:
        first_, last = acceptance.period(start, end)
        rows = await _run(info, lambda store: problems.problem_candidates(store, first_, last, min_incidents, first))
        return [ProblemCandidate.from_pydantic(r) for r in rows]

    @strawberry.field(description="Per business service: availability from incident downtime through the graph, "
                                  "response and resolution attainment, misses and trend")
    async def sla_attainment(self, info: Info[Context, None], start: From = None,
                             end: To = None) -> SlaReport:
        first_, last = acceptance.period(start, end)
        return SlaReport.from_pydantic(await _run(info, lambda s: service_levels.analyse_sla_attainment(s, first_, last)))

    @strawberry.field(description="The seed's emergency scenarios: services down, severity level, missed RTOs")
    async def continuity_scenarios(
        self, info: Info[Context, None], keys: list[str] | None = None, recovery_hours: list[ScenarioHours] | None = None,
    ) -> list[ScenarioResult]:
        hours = {h.key: h.hours for h in recovery_hours or []} or None
        rows = await _run(info, lambda store: scenarios.run_scenarios(store, hours, keys))
        return [ScenarioResult.from_pydantic(r) for r in rows]

    @strawberry.field(description="A failure set of your own run like a scenario")
    async def failure_scenario(self, info: Info[Context, None], failed: list[strawberry.ID], recovery_hours: float,
                               title: str = "custom") -> ScenarioResult:
        result = await _run(info, lambda store: scenarios.run_failure_set(store, [str(f) for f in failed], recovery_hours, title))
        return ScenarioResult.from_pydantic(result)

    @strawberry.field(description="The deployment acceptance criteria for a period, each with its figures")
    async def acceptance_report(self, info: Info[Context, None], start: From = None,
                                end: To = None) -> AcceptanceReport:
        return AcceptanceReport.from_pydantic(await _run(info, lambda s: acceptance.analyse_acceptance(s, start, end)))

    @strawberry.field(description="Process KPIs for a period: counts, rates, mean times, change success, SLA attainment")
    async def kpi_report(self, info: Info[Context, None], start: From = None, end: To = None) -> KpiReport:
        return KpiReport.from_pydantic(await _run(info, lambda s: kpi.analyse_kpi(s, start, end)))


ChangeType = RECORD_TYPES[Label.CHANGE]


@strawberry.type
class ProcessMutation:
    @strawberry.mutation(description="Escalate every open incident whose deadlines call for it, with level and reason",
                         permission_classes=[CanEdit])
    async def escalate_incidents(self, info: Info[Context, None], dry_run: bool = False) -> EscalationRun:
        run = await _run(info, lambda store: incidents.escalate_incidents(store, _now(), info.context.actor, dry_run))
        return EscalationRun.from_pydantic(run)

    @strawberry.mutation(description="Attach a fresh change-impact analysis to a change (risk, route, services, "
                                     "people to notify, windows) at the version you read", permission_classes=[CanEdit])
    async def assess_change(self, info: Info[Context, None], id: strawberry.ID, expected_version: int) -> ChangeType:  # type: ignore[valid-type]
        def write(store: Any) -> None:
            found = store.get_record(Change, str(id))
            if found is None:
                raise NotFoundError(f"id: no change with id {str(id)!r}")
            fields = changes.assess(store, found[0], _now())
            write_records(store, {"changes": [{**found[0].model_dump(mode="python"), **fields}]}, source="api",
                          actor=info.context.actor, expected={(Label.CHANGE.value, str(id)): expected_version})

        await _run(info, write)
        found = await reads.records_by_id(info.context.reader, Label.CHANGE, [str(id)])
        return record_from_props(Label.CHANGE, found[str(id)])
