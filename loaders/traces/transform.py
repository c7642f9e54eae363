"""From spans to observed calls, without a database.

A call from service A to B is seen when
- a span of B has its parent in a span of A (the propagated context crossed the services);
- a client or producer span of A has no child in another service but names its peer:
  `peer.service`, else `server.address` (`net.peer.name` in older conventions);
- a span of A carries `db.system`: a call to the database named by `db.namespace` (`db.name`
  in older conventions), else `server.address`, else the `db.system` itself.
One operation is counted once: calls are keyed by (trace, calling span, callee), so a client
span and the server span below it are one call, not two. Times are the spans' end times."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel

from loaders.native.get import Location
from loaders.native.transform import LoadError
from loaders.sync.reconcile import StoredIdentity, identifying_value
from loaders.traces.get import TraceFile, TraceRequest

CallKind = Literal["service", "database"]
CLIENT_KINDS = frozenset({3, 4})  # SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER
KIND_NAMES = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
              "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
ERROR_CODES = (2, "2", "STATUS_CODE_ERROR")
UNKNOWN_SERVICE = "unknown_service"  # the SDKs' name for a service that set none


class ObservedCall(BaseModel):
    kind: CallKind
    caller: str  # the calling service's service.name
    callee: str  # the called service's name, or the database's
    calls: int
    errors: int
    first_seen: datetime
    last_seen: datetime

    @property
    def key(self) -> str:
        """Unique however the names are spelled (a name may hold "|")."""
        return json.dumps([self.kind, self.caller, self.callee], ensure_ascii=False)


class TraceSummary(BaseModel):
    calls: list[ObservedCall]
    services: dict[str, datetime]  # each instrumented service, with its last span's end
    traces: int
    spans: int
    unattributed: int  # spans of a service with no service.name: no call can name them
    orphans: int  # spans whose parent is not in the export: any call into them is not counted
    errors: list[LoadError]


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    kind: int
    attributes: dict[str, Any]
    end: datetime
    failed: bool


def transform(files: list[TraceFile]) -> TraceSummary:
    spans, errors, unattributed = [], [], 0
    for file in files:
        for request in file.requests:
            found, bad, unnamed = spans_of(request)
            spans += found
            errors += bad
            unattributed += unnamed
    calls, orphans = observed_calls(spans)
    services: dict[str, datetime] = {}
    for span in spans:
        if span.service not in services or span.end > services[span.service]:
            services[span.service] = span.end
    return TraceSummary(calls=calls, services=dict(sorted(services.items())), traces=len({s.trace_id for s in spans}),
                        spans=len(spans) + unattributed, unattributed=unattributed, orphans=orphans, errors=errors)


def spans_of(request: TraceRequest) -> tuple[list[Span], list[LoadError], int]:
    """The request's spans with their service, the structural errors, and the count of spans
    whose service has no name."""
    spans, errors, unnamed = [], [], 0

    def error(section: str, index: int | None, field: str | None, message: str) -> None:
        errors.append(LoadError(Location(request.file, request.line, section, index), field, message))

    for r, resource_spans in enumerate(request.body["resourceSpans"]):
        where = f"resourceSpans[{r}]"
        if not isinstance(resource_spans, dict):
            error("resourceSpans", r, None, "expected an object")
            continue
        resource = resource_spans.get("resource") or {}
        if not isinstance(resource, dict):
            error(where, None, "resource", "expected an object")
            continue
        service = attributes(resource.get("attributes")).get("service.name")
        if not isinstance(service, str) or not service.strip() or service.startswith(UNKNOWN_SERVICE):
            service = None
        scopes = resource_spans.get("scopeSpans", resource_spans.get("instrumentationLibrarySpans", []))
        if not isinstance(scopes, list):
            error(where, None, "scopeSpans", "expected a list")
            continue
        for s, scope in enumerate(scopes):
            raw_spans = scope.get("spans", []) if isinstance(scope, dict) else None
            if not isinstance(raw_spans, list):
                error(f"{where}.scopeSpans", s, "spans", "expected a list")
                continue
            for i, raw in enumerate(raw_spans):
                section = f"{where}.scopeSpans[{s}].spans"
                if service is None:
                    unnamed += 1
                    continue
                span, problem = parse_span(raw, service.strip())
                if problem:
                    error(section, i, problem[0], problem[1])
                elif span is not None:
                    spans.append(span)
    return spans, errors, unnamed


def parse_span(raw: Any, service: str) -> tuple[Span | None, tuple[str | None, str] | None]:
    if not isinstance(raw, dict):
        return None, (None, "expected an object")
    trace_id, span_id = raw.get("traceId"), raw.get("spanId")
    for field, value in (("traceId", trace_id), ("spanId", span_id)):
        if not isinstance(value, str) or not value:
            return None, (field, "missing: every span needs its trace and span id")
    parent = raw.get("parentSpanId") or None
    if parent is not None and not isinstance(parent, str):
        return None, ("parentSpanId", "expected a string")
    kind = raw.get("kind", 0)
    kind = KIND_NAMES.get(kind, kind) if isinstance(kind, str) else kind
    if not isinstance(kind, int) or isinstance(kind, bool):
        return None, ("kind", f"not a span kind: {raw.get('kind')!r}")
    end = _time(raw.get("endTimeUnixNano")) or _time(raw.get("startTimeUnixNano"))
    if end is None:
        return None, ("endTimeUnixNano", "missing or not a time in nanoseconds since 1970")
    status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
    return Span(trace_id, span_id, parent, service, kind, attributes(raw.get("attributes")), end,
                status.get("code") in ERROR_CODES), None


def attributes(raw: Any) -> dict[str, Any]:
    """OTLP's `[{"key": k, "value": {"stringValue": v}}]` as `{k: v}`; what is not that shape
    is left out (an attribute is evidence, never a reason to refuse an export)."""
    found: dict[str, Any] = {}
    for item in raw if isinstance(raw, list) else ():
        if isinstance(item, dict) and isinstance(item.get("key"), str) and isinstance(item.get("value"), dict):
            for kind in ("stringValue", "intValue", "boolValue", "doubleValue"):
                if kind in item["value"]:
                    found[item["key"]] = item["value"][kind]
                    break
    return found


def _time(value: Any) -> datetime | None:
    try:
        nanos = int(value)
    except (TypeError, ValueError):
        return None
    if not 0 < nanos < 32_503_680_000 * 10**9:  # before the year 3000
        return None
    seconds, rest = divmod(nanos, 10**9)  # exact to the microsecond, as a float of nanoseconds is not
    return datetime.fromtimestamp(seconds, tz=timezone.utc) + timedelta(microseconds=rest // 1000)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def called(span: Span, crossed: bool) -> tuple[CallKind, str] | None:
    """Whom a span calls by its own attributes; `crossed`: a child of it is in another service,
    which names the callee better than any attribute."""
    a = span.attributes
    if _text(a.get("db.system")):
        name = (_text(a.get("db.namespace")) or _text(a.get("db.name")) or _text(a.get("server.address"))
                or _text(a.get("net.peer.name")) or _text(a.get("db.system")))
        return "database", name  # type: ignore[return-value]
    if span.kind in CLIENT_KINDS and not crossed:
        name = _text(a.get("peer.service")) or _text(a.get("server.address")) or _text(a.get("net.peer.name"))
        if name and name != span.service:
            return "service", name
    return None


def observed_calls(spans: list[Span]) -> tuple[list[ObservedCall], int]:
    """Each call seen, aggregated by (kind, caller, callee); and the spans whose parent is
    missing from the export."""
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    crossed = {(s.trace_id, s.parent_id) for s in spans if s.parent_id
               and (p := by_id.get((s.trace_id, s.parent_id))) is not None and p.service != s.service}
    seen: dict[tuple[str, str, str, str], tuple[CallKind, str, str, datetime, bool]] = {}
    orphans = 0
    for span in spans:
        if span.parent_id:
            parent = by_id.get((span.trace_id, span.parent_id))
            if parent is None:
                orphans += 1
            elif parent.service != span.service:
                key = (span.trace_id, parent.span_id, "service", span.service)
                _keep(seen, key, ("service", parent.service, span.service, span.end, span.failed or parent.failed))
        target = called(span, (span.trace_id, span.span_id) in crossed)
        if target is not None:
            key = (span.trace_id, span.span_id, *target)
            _keep(seen, key, (target[0], span.service, target[1], span.end, span.failed))
    totals: dict[tuple[CallKind, str, str], list[Any]] = defaultdict(lambda: [0, 0, None, None])
    for kind, caller, callee, end, failed in seen.values():
        total = totals[(kind, caller, callee)]
        total[0] += 1
        total[1] += int(failed)
        total[2] = end if total[2] is None or end < total[2] else total[2]
        total[3] = end if total[3] is None or end > total[3] else total[3]
    calls = [ObservedCall(kind=kind, caller=caller, callee=callee, calls=n, errors=e, first_seen=first, last_seen=last)
             for (kind, caller, callee), (n, e, first, last) in sorted(totals.items())]
    return calls, orphans


def _keep(seen: dict[Any, Any], key: Any, call: tuple[Any, ...]) -> None:
    earlier = seen.get(key)
    if earlier is None:
        seen[key] = call
    else:  # the same call through both spans: keep the later end, and an error on either
        seen[key] = (*call[:3], max(earlier[3], call[3]), earlier[4] or call[4])


# --- names to CIs ------------------------------------------------------------------------------

TRACE_KEYS = ("traces", "otel", "service.name")  # where a CI may hold the name its telemetry reports


class Resolution(BaseModel):
    ci: str | None  # the CI's id; None when no CI, or more than one, answers to the name
    reason: str  # how it was found, or why not


def resolve_names(names: list[str], identities: Iterable[StoredIdentity]) -> dict[str, Resolution]:
    """Each telemetry name's CI, by the first of these that matches: a CI's external id under
    one of TRACE_KEYS, its id, its name (any case), its FQDN (any case), one of its IP
    addresses. Two CIs matching at the same step is ambiguous: no CI, and the reason says
    which."""
    steps: list[tuple[str, dict[str, set[str]]]] = [(why, defaultdict(set)) for why in (
        "external id", "id", "name", "fqdn", "ip address")]
    for stored in identities:
        for key in TRACE_KEYS:
            if stored.external_ids.get(key):
                steps[0][1][stored.external_ids[key]].add(stored.id)
        steps[1][1][stored.id].add(stored.id)
        for step, field_name in ((2, "name"), (3, "fqdn"), (4, "ip_addresses")):
            for normalised in identifying_value(field_name, getattr(stored, field_name)):
                steps[step][1][normalised].add(stored.id)
    found = {}
    for name in names:
        found[name] = Resolution(ci=None, reason="no CI has this id, name, FQDN or address")
        keys = [[name], [name], identifying_value("name", name), identifying_value("fqdn", name),
                identifying_value("ip_addresses", [name])]
        for (why, index), key in zip(steps, keys):
            matches = index.get(key[0]) if key else None
            if matches:
                found[name] = (Resolution(ci=next(iter(matches)), reason=why) if len(matches) == 1 else
                               Resolution(ci=None, reason=f"ambiguous: {why} of {', '.join(sorted(matches)[:5])}"))
                break
    return found
