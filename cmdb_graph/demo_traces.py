"""The demo's trace export: an hour of OpenTelemetry spans (OTLP JSON) from four of the online
shop's applications, as a collector's file exporter would write them. Most calls confirm what
the demo CMDB declares; three do not (the storefront calls the checkout and the checkout credits
loyalty points, which nobody declared, and the storefront calls a recommendations service the
CMDB has never heard of), and some declared dependencies never show up (the storefront's session
store and loyalty points, the payment gateway's fraud check)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

# service.name as each application reports it: by its CI's name or id, as teams name them
STOREFRONT, CHECKOUT, SEARCH, PAYMENTS = "storefront", "checkout", "app-search", "app-payment-gateway"


class _Spans:
    def __init__(self, seed: int, end: datetime) -> None:
        self.rng = random.Random(seed)
        self.end = end
        self.by_service: dict[str, list[dict[str, Any]]] = {}

    def id(self, digits: int) -> str:
        return f"{self.rng.getrandbits(digits * 4):0{digits}x}"

    def span(self, service: str, trace: str, parent: str | None, name: str, kind: int, start: datetime,
             millis: float, error: bool = False, **attributes: str) -> str:
        span_id = self.id(16)
        finish = start + timedelta(milliseconds=millis)
        span: dict[str, Any] = {
            "traceId": trace, "spanId": span_id, "name": name, "kind": kind,
            "startTimeUnixNano": str(_nanos(start)), "endTimeUnixNano": str(_nanos(finish)),
            "attributes": [{"key": k.replace("__", "."), "value": {"stringValue": v}} for k, v in attributes.items()],
            "status": {"code": 2, "message": "deadline exceeded"} if error else {},
        }
        if parent:
            span["parentSpanId"] = parent
        self.by_service.setdefault(service, []).append(span)
        return span_id


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def build_demo_traces(now: datetime | None = None, seed: int = 42, requests: int = 120) -> dict[str, Any]:
    end = (now or datetime.now(timezone.utc)) - timedelta(minutes=1)
    s = _Spans(seed, end)
    for n in range(requests):
        trace = s.id(32)
        start = end - timedelta(minutes=60) + timedelta(seconds=n * 3600 / requests)
        page = s.span(STOREFRONT, trace, None, "GET /product", 2, start, 180)
        s.span(STOREFRONT, trace, page, "SELECT products", 3, start, 12, db__system="postgresql",
               db__namespace="db-catalog", server__address="db-catalog-primary.example.org")
        call = s.span(STOREFRONT, trace, page, "GET /search", 3, start, 60, peer__service="app-search")
        handler = s.span(SEARCH, trace, call, "GET /search", 2, start, 55)
        s.span(SEARCH, trace, handler, "SELECT products", 3, start, 20, db__system="postgresql", db__namespace="db-catalog")
        if n % 4 == 0:
            s.span(STOREFRONT, trace, page, "GET /recommendations", 3, start, 40, error=n % 20 == 0,
                   peer__service="recommendations")
        if n % 6 == 0:  # a purchase
            trace = s.id(32)
            post = s.span(STOREFRONT, trace, None, "POST /checkout", 2, start, 900)
            client = s.span(STOREFRONT, trace, post, "POST checkout", 3, start, 850, peer__service="checkout")
            order = s.span(CHECKOUT, trace, client, "POST /orders", 2, start, 800)
            s.span(CHECKOUT, trace, order, "INSERT orders", 3, start, 15, db__system="postgresql", db__namespace="db-orders")
            pay = s.span(CHECKOUT, trace, order, "POST /authorise", 3, start, 400, error=n % 30 == 0,
                         peer__service="app-payment-gateway")
            gateway = s.span(PAYMENTS, trace, pay, "POST /authorise", 2, start, 380, error=n % 30 == 0)
            s.span(PAYMENTS, trace, gateway, "INSERT payments", 3, start, 10, db__system="postgresql",
                   db__namespace="db-payments")
            s.span(CHECKOUT, trace, order, "POST /points", 3, start, 30, peer__service="Loyalty points")
    return {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}},
                                     {"key": "deployment.environment", "value": {"stringValue": "production"}}]},
         "scopeSpans": [{"scope": {"name": "io.opentelemetry.demo"}, "spans": spans}]}
        for service, spans in sorted(s.by_service.items())
    ]}
