"""The demo enterprise: a retailer with two data centres, built deterministically from a seed.

It is produced as a native-format document (plain dicts), so it goes through exactly the same
validation and load as a user's file, and `cmdb-graph demo --out FILE` shows the format at
full size.

Shape (edges point from the dependent to what it needs):
business service -> applications -> (web tier, app tier groups of VMs | containers on a
Kubernetes cluster) -> hypervisor cluster -> hypervisors -> access switches -> core network
group; databases (HA pairs across data centres as redundancy groups) -> database servers ->
storage groups; shared middleware and technical services (SSO, DNS, messaging, monitoring).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

DEMO_SEED = 42
# A fixed anchor keeps the demo identical run to run; records are dated relative to it.
DEMO_ANCHOR = datetime(2026, 11, 16, tzinfo=timezone.utc)

DATACENTERS = (("fra", "Frankfurt"), ("ams", "Amsterdam"))

TEAMS = (
    ("team-network", "Network operations"),
    ("team-storage", "Storage and backup"),
    ("team-platform", "Compute platform"),
    ("team-dba", "Database administration"),
    ("team-web", "Web and e-commerce"),
    ("team-payments", "Payments"),
    ("team-erp", "ERP and finance applications"),
    ("team-logistics", "Logistics applications"),
    ("team-workplace", "Workplace and collaboration"),
    ("team-data", "Data and analytics"),
    ("team-security", "Security operations"),
    ("team-service-desk", "Service desk"),
)

# business service id, name, criticality, RTO, RPO, SLA availability, response, resolution, team,
# applications: (app id, name, web VMs, web min, app VMs, app min, containers, databases)
BUSINESS_SERVICES: tuple[tuple[Any, ...], ...] = (
    ("svc-online-shop", "Online shop", 1, 60, 5, 0.999, 15, 240, "team-web", (
        ("app-storefront", "Storefront", 4, 2, 0, 0, 8, ("db-catalog", "db-sessions")),
        ("app-checkout", "Checkout", 0, 0, 3, 2, 6, ("db-orders",)),
        ("app-search", "Product search", 0, 0, 3, 2, 0, ("db-catalog",)),
    )),
    ("svc-payments", "Payments", 1, 30, 0, 0.9995, 10, 120, "team-payments", (
        ("app-payment-gateway", "Payment gateway", 0, 0, 4, 2, 3, ("db-payments",)),
        ("app-fraud", "Fraud scoring", 0, 0, 2, 1, 2, ("db-payments",)),
    )),
    ("svc-order-management", "Order management", 1, 120, 15, 0.999, 15, 240, "team-erp", (
        ("app-oms", "Order management system", 2, 1, 3, 2, 0, ("db-orders",)),
    )),
    ("svc-warehouse", "Warehouse logistics", 2, 240, 60, 0.995, 30, 480, "team-logistics", (
        ("app-wms", "Warehouse management", 2, 1, 2, 1, 0, ("db-wms",)),
        ("app-shipping", "Shipping labels", 0, 0, 2, 1, 2, ("db-wms",)),
    )),
    ("svc-customer-support", "Customer support", 2, 240, 60, 0.995, 30, 480, "team-service-desk", (
        ("app-crm", "CRM", 2, 1, 2, 1, 0, ("db-crm",)),
        ("app-ticketing", "Ticketing", 2, 1, 0, 0, 0, ("db-crm",)),
    )),
    ("svc-finance", "Finance and accounting", 2, 480, 60, 0.99, 60, 960, "team-erp", (
        ("app-erp", "ERP", 2, 1, 3, 2, 0, ("db-erp",)),
    )),
    ("svc-hr-payroll", "HR and payroll", 3, 1440, 240, 0.99, 60, 1440, "team-erp", (
        ("app-hr", "HR suite", 2, 1, 2, 1, 0, ("db-hr",)),
    )),
    ("svc-collaboration", "Email and collaboration", 2, 240, 60, 0.995, 30, 480, "team-workplace", (
        ("app-mail", "Mail platform", 2, 1, 2, 1, 0, ("db-mail",)),
        ("app-intranet", "Intranet", 2, 1, 0, 0, 0, ("db-intranet",)),
    )),
    ("svc-analytics", "Analytics and reporting", 3, 1440, 1440, 0.98, 120, 2880, "team-data", (
        ("app-dwh", "Data warehouse", 0, 0, 2, 1, 0, ("db-dwh",)),
        ("app-bi", "BI dashboards", 2, 1, 0, 0, 2, ("db-dwh",)),
    )),
    ("svc-loyalty", "Loyalty programme", 3, 480, 60, 0.99, 60, 960, "team-web", (
        ("app-loyalty", "Loyalty points", 0, 0, 2, 1, 4, ("db-loyalty",)),
    )),
)

# database id, name, highly available across both data centres, team
DATABASES = (
    ("db-catalog", "Catalogue database", True),
    ("db-sessions", "Session store", False),
    ("db-orders", "Orders database", True),
    ("db-payments", "Payments database", True),
    ("db-wms", "Warehouse database", True),
    ("db-crm", "CRM database", False),
    ("db-erp", "ERP database", True),
    ("db-hr", "HR database", False),
    ("db-mail", "Mail store", False),
    ("db-intranet", "Intranet database", False),
    ("db-dwh", "Data warehouse store", False),
    ("db-loyalty", "Loyalty database", False),
)

TECHNICAL_SERVICES = (
    ("ts-sso", "Single sign-on", "team-security"),
    ("ts-dns", "DNS", "team-network"),
    ("ts-messaging", "Message bus", "team-platform"),
    ("ts-monitoring", "Monitoring", "team-platform"),
    ("ts-backup", "Backup", "team-storage"),
    ("ts-api-gateway", "API gateway", "team-platform"),
    ("ts-smtp-relay", "SMTP relay", "team-workplace"),
)

CLOUD_RESOURCES = (
    ("cloud-cdn", "Content delivery network", "team-web"),
    ("cloud-psp", "External payment service provider", "team-payments"),
    ("cloud-backup-bucket", "Off-site backup bucket", "team-storage"),
    ("cloud-email-filter", "E-mail filtering service", "team-workplace"),
    ("cloud-carrier-api", "Parcel carrier API", "team-logistics"),
)


class _Builder:
    def __init__(self, seed: int, anchor: datetime) -> None:
        self.rng = random.Random(seed)
        self.anchor = anchor
        self.cis: list[dict[str, Any]] = []
        self.relationships: list[dict[str, Any]] = []
        self.ids: set[str] = set()

    def ci(self, id: str, ci_class: str, name: str, owner: str, **fields: Any) -> str:
        assert id not in self.ids, id
        self.ids.add(id)
        self.cis.append({"id": id, "class": ci_class, "name": name, "owner": owner, **fields})
        return id

    def rel(self, source: str, target: str, type: str = "DEPENDS_ON", strength: str = "hard") -> None:
        entry = {"from": source, "to": target, "type": type}
        if strength != "hard":
            entry["strength"] = strength
        self.relationships.append(entry)

    def group(self, id: str, name: str, members: list[str], min_members: int, owner: str,
              ci_class: str = "RedundancyGroup", **fields: Any) -> str:
        self.ci(id, ci_class, name, owner, min_members=min_members, **fields)
        for member in members:
            self.rel(id, member, "HAS_MEMBER")
        return id

    def when(self, days_ago: float, hour: int | None = None) -> str:
        moment = self.anchor - timedelta(days=days_ago)
        if hour is not None:
            moment = moment.replace(hour=hour, minute=0)
        return moment.isoformat().replace("+00:00", "Z")

    def after(self, start: str, hours: float) -> str:
        moment = datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(hours=hours)
        return moment.isoformat().replace("+00:00", "Z")

    def ip(self, dc_index: int, host: int) -> str:
        return f"10.{dc_index + 1}.{host // 250}.{host % 250 + 1}"


def build_demo(seed: int = DEMO_SEED, anchor: datetime = DEMO_ANCHOR) -> dict[str, Any]:
    """The demo enterprise as a native-format document."""
    b = _Builder(seed, anchor)
    site = _build_sites(b)
    shared = _build_shared_services(b, site)
    apps = _build_business_services(b, site, shared)
    records = _build_records(b, apps)
    return {
        "teams": [{"id": t, "name": n, "email": f"{t}@example.org",
                   "escalation_contacts": [f"lead.{t.removeprefix('team-')}@example.org"]} for t, n in TEAMS],
        "cis": b.cis,
        "relationships": b.relationships,
        **records,
    }


def _build_sites(b: _Builder) -> dict[str, dict[str, Any]]:
    site: dict[str, dict[str, Any]] = {}
    host = 10
    for index, (code, city) in enumerate(DATACENTERS):
        dc = b.ci(f"dc-{code}", "Datacenter", f"Data centre {city}", "team-platform",
                  criticality=1, attributes={"city": city, "tier": "III"})
        cores = []
        for n in (1, 2):
            core = b.ci(f"core-{code}-{n}", "NetworkDevice", f"Core router {code.upper()}-{n}", "team-network",
                        criticality=1, availability=0.9995, serial_number=f"CR{index}{n}{b.rng.randint(1000, 9999)}",
                        ip_addresses=[b.ip(index, n)], attributes={"vendor": "Juniper", "model": "MX204", "role": "core"})
            b.rel(core, dc, "LOCATED_IN")
            cores.append(core)
        core_group = b.group(f"net-core-{code}", f"Core network {city}", cores, 1, "team-network", criticality=1)
        fws = []
        for n in (1, 2):
            fw = b.ci(f"fw-{code}-{n}", "Firewall", f"Firewall {code.upper()}-{n}", "team-security",
                      criticality=1, availability=0.999, serial_number=f"FW{index}{n}{b.rng.randint(1000, 9999)}",
                      ip_addresses=[b.ip(index, 10 + n)], attributes={"vendor": "Palo Alto", "model": "PA-3220"})
            b.rel(fw, dc, "LOCATED_IN")
            b.rel(fw, core_group, "CONNECTED_VIA")
            fws.append(fw)
        fw_group = b.group(f"fw-pair-{code}", f"Firewall pair {city}", fws, 1, "team-security", criticality=1)
        switches = []
        for n in range(1, 5):
            sw = b.ci(f"sw-{code}-{n}", "NetworkDevice", f"Access switch {code.upper()}-{n}", "team-network",
                      criticality=2, availability=0.999, serial_number=f"SW{index}{n}{b.rng.randint(1000, 9999)}",
                      ip_addresses=[b.ip(index, 20 + n)], attributes={"vendor": "Arista", "model": "7050X3", "role": "access"})
            b.rel(sw, dc, "LOCATED_IN")
            b.rel(sw, core_group, "CONNECTED_VIA")
            switches.append(sw)
        lbs = []
        for n in (1, 2):
            lb = b.ci(f"lb-{code}-{n}", "LoadBalancer", f"Load balancer {code.upper()}-{n}", "team-network",
                      criticality=1, availability=0.999, serial_number=f"LB{index}{n}{b.rng.randint(1000, 9999)}",
                      ip_addresses=[b.ip(index, 30 + n)], attributes={"vendor": "F5", "model": "BIG-IP i5800"})
            b.rel(lb, dc, "LOCATED_IN")
            b.rel(lb, fw_group, "CONNECTED_VIA")
            lbs.append(lb)
        lb_group = b.group(f"lb-pair-{code}", f"Load balancer pair {city}", lbs, 1, "team-network", criticality=1)
        arrays = []
        for n in (1, 2):
            arr = b.ci(f"san-{code}-{n}", "StorageDevice", f"Storage array {code.upper()}-{n}", "team-storage",
                       criticality=1, availability=0.9999, serial_number=f"SA{index}{n}{b.rng.randint(1000, 9999)}",
                       ip_addresses=[b.ip(index, 40 + n)], rpo_minutes=15,
                       attributes={"vendor": "NetApp", "model": "AFF A400", "capacity_tb": 120})
            b.rel(arr, dc, "LOCATED_IN")
            b.rel(arr, switches[n - 1], "CONNECTED_VIA")
            arrays.append(arr)
        san = b.group(f"san-{code}", f"Storage {city}", arrays, 1, "team-storage", criticality=1)
        hypervisors = []
        for n in range(1, 7):
            hv = b.ci(f"esx-{code}-{n}", "Server", f"Hypervisor {code.upper()}-{n}", "team-platform",
                      criticality=2, availability=0.995, rto_minutes=240,
                      serial_number=f"HV{index}{n:02d}{b.rng.randint(1000, 9999)}", fqdn=f"esx-{code}-{n}.dc.example.org",
                      ip_addresses=[b.ip(index, 50 + n)],
                      attributes={"vendor": "Dell", "model": "PowerEdge R750", "cpu": 64, "ram_gb": 1024, "os": "ESXi 8"})
            b.rel(hv, dc, "LOCATED_IN")
            b.rel(hv, switches[n % 4], "CONNECTED_VIA")
            b.rel(hv, san, "STORED_ON")
            hypervisors.append(hv)
        vmw = b.group(f"vmw-{code}", f"Virtualisation cluster {city}", hypervisors, 4, "team-platform",
                      ci_class="Cluster", criticality=1, attributes={"product": "vSphere 8"})
        k8s_nodes = []
        for n in range(1, 5):
            node = b.ci(f"k8s-{code}-{n}", "Server", f"Kubernetes node {code.upper()}-{n}", "team-platform",
                        criticality=2, availability=0.995,
                        serial_number=f"KN{index}{n}{b.rng.randint(1000, 9999)}", fqdn=f"k8s-{code}-{n}.dc.example.org",
                        ip_addresses=[b.ip(index, 70 + n)],
                        attributes={"vendor": "HPE", "model": "ProLiant DL380", "cpu": 48, "ram_gb": 512, "os": "Debian 12"})
            b.rel(node, dc, "LOCATED_IN")
            b.rel(node, switches[(n + 1) % 4], "CONNECTED_VIA")
            k8s_nodes.append(node)
        k8s = b.group(f"k8s-{code}", f"Kubernetes cluster {city}", k8s_nodes, 3, "team-platform",
                      ci_class="Cluster", criticality=1, attributes={"distribution": "Kubernetes 1.31"})
        db_servers = []
        for n in range(1, 5):
            srv = b.ci(f"dbsrv-{code}-{n}", "Server", f"Database server {code.upper()}-{n}", "team-dba",
                       criticality=1, availability=0.998, rto_minutes=120,
                       serial_number=f"DS{index}{n}{b.rng.randint(1000, 9999)}", fqdn=f"dbsrv-{code}-{n}.dc.example.org",
                       ip_addresses=[b.ip(index, 90 + n)],
                       attributes={"vendor": "Dell", "model": "PowerEdge R760", "cpu": 32, "ram_gb": 768, "os": "RHEL 9"})
            b.rel(srv, dc, "LOCATED_IN")
            b.rel(srv, switches[n - 1], "CONNECTED_VIA")
            b.rel(srv, san, "STORED_ON")
            db_servers.append(srv)
        for role in ("bastion-1", "bastion-2", "ntp", "syslog", "patch", "vcenter"):
            vm = b.ci(f"{role}-{code}", "VirtualMachine", f"{role} {city}", "team-platform", criticality=3,
                      availability=0.99, fqdn=f"{role}-{code}.dc.example.org",
                      attributes={"os": "Debian 12", "vcpu": 2, "ram_gb": 8, "role": role})
            b.rel(vm, vmw, "HOSTED_ON")
        b.ci(f"doc-network-{code}", "Document", f"Network diagram {city}", "team-network",
             attributes={"kind": "network design", "site": dc})
        host += 100
        site[code] = {"index": index, "dc": dc, "vmw": vmw, "k8s": k8s, "lb": lb_group, "db_servers": db_servers,
                      "san": san, "core": core_group, "fw": fw_group}
    return site


def _build_shared_services(b: _Builder, site: dict[str, dict[str, Any]]) -> dict[str, Any]:
    shared: dict[str, Any] = {}
    for ts_id, name, team in TECHNICAL_SERVICES:
        b.ci(ts_id, "TechnicalService", name, team, criticality=1 if ts_id in {"ts-sso", "ts-dns"} else 2,
             rto_minutes=60 if ts_id in {"ts-sso", "ts-dns"} else 240)
    for cloud_id, name, team in CLOUD_RESOURCES:
        b.ci(cloud_id, "CloudResource", name, team, criticality=2, availability=0.9995,
             attributes={"provider": "external", "contract": f"C-{b.rng.randint(10000, 99999)}"})
    # DNS and SSO: one VM pair per data centre behind a redundancy group.
    for ts_id, prefix, team in (("ts-dns", "dns", "team-network"), ("ts-sso", "sso", "team-security")):
        members = []
        for code, data in site.items():
            for n in (1, 2):
                vm = b.ci(f"{prefix}-{code}-{n}", "VirtualMachine", f"{prefix.upper()} server {code.upper()}-{n}", team,
                          criticality=1, availability=0.995, fqdn=f"{prefix}-{code}-{n}.example.org",
                          ip_addresses=[b.ip(data["index"], 120 + len(members) + (10 if prefix == "sso" else 0))],
                          attributes={"os": "Debian 12", "vcpu": 4, "ram_gb": 16})
                b.rel(vm, data["vmw"], "HOSTED_ON")
                members.append(vm)
        group = b.group(f"{prefix}-farm", f"{prefix.upper()} farm", members, 1, team, criticality=1)
        b.rel(ts_id, group)
    # Kafka brokers across both sites.
    brokers = []
    for code, data in site.items():
        for n in (1, 2):
            broker = b.ci(f"kafka-{code}-{n}", "Middleware", f"Kafka broker {code.upper()}-{n}", "team-platform",
                          criticality=1, availability=0.995, rpo_minutes=0,
                          attributes={"product": "Apache Kafka", "version": "3.8"})
            b.rel(broker, data["k8s"], "HOSTED_ON")
            brokers.append(broker)
    kafka = b.group("kafka-cluster", "Kafka cluster", brokers, 3, "team-platform", ci_class="Cluster", criticality=1)
    b.rel("ts-messaging", kafka)
    rabbits = []
    for n in (1, 2, 3):
        rabbit = b.ci(f"rabbitmq-{n}", "Middleware", f"RabbitMQ node {n}", "team-platform", criticality=2,
                      attributes={"product": "RabbitMQ", "version": "4.0"})
        b.rel(rabbit, site["ams"]["k8s"], "HOSTED_ON")
        rabbits.append(rabbit)
    shared["rabbitmq"] = b.group("rabbitmq-cluster", "RabbitMQ cluster", rabbits, 2, "team-platform",
                                 ci_class="Cluster", criticality=2)
    # Redis cache, monitoring, backup, API gateway, SMTP relay.
    redis = b.ci("redis-cache", "Middleware", "Redis cache", "team-platform", criticality=2,
                 attributes={"product": "Redis", "version": "7.4"})
    b.rel(redis, site["fra"]["k8s"], "HOSTED_ON")
    for ts_id, code, count in (("ts-monitoring", "fra", 2), ("ts-backup", "ams", 2), ("ts-api-gateway", "fra", 3),
                               ("ts-smtp-relay", "ams", 2)):
        prefix = ts_id.removeprefix("ts-")
        members = []
        for n in range(1, count + 1):
            vm = b.ci(f"{prefix}-vm-{n}", "VirtualMachine", f"{prefix} VM {n}", dict((t[0], t[2]) for t in TECHNICAL_SERVICES)[ts_id],
                      criticality=2, availability=0.99, fqdn=f"{prefix}-vm-{n}.example.org",
                      attributes={"os": "Debian 12", "vcpu": 4, "ram_gb": 16})
            b.rel(vm, site[code]["vmw"], "HOSTED_ON")
            b.rel(vm, "ts-dns", "DEPENDS_ON", "soft")
            members.append(vm)
        group = b.group(f"{prefix}-pool", f"{prefix} pool", members, max(1, count - 1),
                        dict((t[0], t[2]) for t in TECHNICAL_SERVICES)[ts_id], criticality=2)
        b.rel(ts_id, group)
    b.rel("ts-backup", "cloud-backup-bucket")
    b.rel("ts-smtp-relay", "cloud-email-filter", "DEPENDS_ON", "soft")
    b.rel("ts-api-gateway", site["fra"]["lb"])
    # Databases: HA ones are a primary in Frankfurt and a replica in Amsterdam.
    for db_id, name, ha in DATABASES:
        servers = [site["fra"]["db_servers"][b.rng.randrange(4)]]
        if ha:
            servers.append(site["ams"]["db_servers"][b.rng.randrange(4)])
        instances = []
        for role, server in zip(("primary", "replica"), servers):
            code = server.split("-")[1]
            instance = b.ci(f"{db_id}-{role}", "Database", f"{name} ({role})", "team-dba",
                            criticality=1 if ha else 2, availability=0.999, rto_minutes=60 if ha else 240,
                            rpo_minutes=5 if ha else 60,
                            attributes={"engine": b.rng.choice(["PostgreSQL 16", "PostgreSQL 15", "Oracle 19c"]),
                                        "size_gb": b.rng.randint(50, 4000)})
            b.rel(instance, server, "RUNS_ON")
            b.rel(instance, site[code]["san"], "STORED_ON")
            instances.append(instance)
        if ha:
            b.group(db_id, name, instances, 1, "team-dba", criticality=1, rto_minutes=30, rpo_minutes=5)
        else:
            # a single instance: the logical database is a group of one, so that apps point at
            # the same kind of id whichever way it is built
            b.group(db_id, name, instances, 1, "team-dba", criticality=2, rto_minutes=240, rpo_minutes=60)
        b.rel(db_id, "ts-backup", "DEPENDS_ON", "soft")
    shared["redis"] = redis
    return shared


def _build_business_services(b: _Builder, site: dict[str, dict[str, Any]], shared: dict[str, Any]) -> dict[str, Any]:
    apps: dict[str, Any] = {"services": [], "apps": [], "by_service": {}, "documents": []}
    for (svc_id, name, crit, rto, rpo, target, response, resolution, team, applications) in BUSINESS_SERVICES:
        b.ci(svc_id, "BusinessService", name, team, criticality=crit, rto_minutes=rto, rpo_minutes=rpo,
             availability=target)
        apps["services"].append((svc_id, target, response, resolution, team))
        apps["by_service"][svc_id] = []
        for app_id, app_name, web, web_min, app_vms, app_min, containers, databases in applications:
            b.ci(app_id, "Application", app_name, team, criticality=crit, rto_minutes=rto, rpo_minutes=rpo,
                 attributes={"language": b.rng.choice(["Java", "Go", "Python", "C#", "TypeScript"]),
                             "version": f"{b.rng.randint(1, 9)}.{b.rng.randint(0, 20)}.{b.rng.randint(0, 9)}"})
            b.rel(svc_id, app_id)
            apps["apps"].append((app_id, team))
            apps["by_service"][svc_id].append(app_id)
            code = "fra" if b.rng.random() < 0.7 else "ams"
            for tier, count, minimum in (("web", web, web_min), ("app", app_vms, app_min)):
                if count == 0:
                    continue
                vms = []
                for n in range(1, count + 1):
                    vm_code = code if n % 2 else ("ams" if code == "fra" else "fra")
                    vm = b.ci(f"{app_id.removeprefix('app-')}-{tier}-{n}", "VirtualMachine",
                              f"{app_name} {tier} {n}", "team-platform", criticality=crit, availability=0.99,
                              fqdn=f"{app_id.removeprefix('app-')}-{tier}-{n}.example.org",
                              attributes={"os": b.rng.choice(["Debian 12", "RHEL 9", "Windows Server 2022"]),
                                          "vcpu": b.rng.choice([2, 4, 8]), "ram_gb": b.rng.choice([8, 16, 32])})
                    b.rel(vm, site[vm_code]["vmw"], "HOSTED_ON")
                    vms.append(vm)
                pool = b.group(f"{app_id.removeprefix('app-')}-{tier}-pool", f"{app_name} {tier} pool", vms,
                               minimum, "team-platform", criticality=crit)
                b.rel(app_id, pool)
                if tier == "web":
                    b.rel(pool, site[code]["lb"], "CONNECTED_VIA")
            if containers:
                pods = []
                for n in range(1, containers + 1):
                    pod = b.ci(f"{app_id.removeprefix('app-')}-pod-{n}", "Container", f"{app_name} pod {n}", team,
                               criticality=crit, availability=0.99,
                               attributes={"image": f"registry.example.org/{app_id}:{b.rng.randint(100, 999)}"})
                    b.rel(pod, site["fra" if n % 2 else "ams"]["k8s"], "HOSTED_ON")
                    pods.append(pod)
                deployment = b.group(f"{app_id.removeprefix('app-')}-deployment", f"{app_name} deployment", pods,
                                     max(1, containers // 2), team, criticality=crit)
                b.rel(app_id, deployment)
            for db in databases:
                b.rel(app_id, db)
            b.rel(app_id, "ts-dns")
            b.rel(app_id, "ts-monitoring", "DEPENDS_ON", "soft")
            if svc_id not in {"svc-online-shop", "svc-loyalty"}:
                b.rel(app_id, "ts-sso")
            else:
                b.rel(app_id, "ts-sso", "DEPENDS_ON", "soft")
        doc = b.ci(f"doc-dr-{svc_id.removeprefix('svc-')}", "Document", f"DR plan: {name}", team,
                   criticality=crit, attributes={"kind": "disaster recovery plan", "service": svc_id})
        b.rel(doc, svc_id, "DEPENDS_ON", "soft")
        apps["documents"].append(doc)
    # Cross-service dependencies that make impact interesting.
    b.rel("app-checkout", "app-payment-gateway")
    b.rel("app-checkout", "ts-messaging")
    b.rel("app-oms", "ts-messaging")
    b.rel("app-wms", "ts-messaging")
    b.rel("app-storefront", shared["redis"], "DEPENDS_ON", "soft")
    b.rel("app-storefront", "cloud-cdn", "DEPENDS_ON", "soft")
    b.rel("app-storefront", "app-search", "DEPENDS_ON", "soft")
    b.rel("app-storefront", "app-loyalty", "DEPENDS_ON", "soft")
    b.rel("app-payment-gateway", "cloud-psp")
    b.rel("app-payment-gateway", "app-fraud", "DEPENDS_ON", "soft")
    b.rel("app-payment-gateway", "ts-api-gateway")
    b.rel("app-shipping", "cloud-carrier-api")
    b.rel("app-shipping", shared["rabbitmq"])
    b.rel("app-wms", shared["rabbitmq"], "DEPENDS_ON", "soft")
    b.rel("app-crm", "app-oms", "DEPENDS_ON", "soft")
    b.rel("app-erp", "app-oms", "DEPENDS_ON", "soft")
    b.rel("app-mail", "ts-smtp-relay")
    b.rel("app-dwh", "db-orders", "DEPENDS_ON", "soft")
    b.rel("app-dwh", "db-erp", "DEPENDS_ON", "soft")
    b.rel("app-loyalty", "ts-api-gateway")
    return apps


INCIDENT_TEMPLATES = (
    ("hardware", "Disk failure on {name}", "Server", "Replaced failed disk; RAID rebuilt."),
    ("hardware", "Power supply alarm on {name}", "Server", "Replaced PSU under maintenance contract."),
    ("network", "Packet loss through {name}", "NetworkDevice", "Replaced faulty optic."),
    ("network", "Firewall session table exhausted on {name}", "Firewall", "Raised session limit; tuned timeouts."),
    ("software", "{name} responding slowly", "Application", "Recycled application pool; memory leak tracked in problem."),
    ("software", "Errors after deployment of {name}", "Application", "Rolled back to previous build."),
    ("software", "Replication lag on {name}", "Database", "Rebuilt replica from snapshot."),
    ("software", "Connection pool exhausted on {name}", "Database", "Increased max connections; killed idle sessions."),
    ("software", "{name} out of memory", "VirtualMachine", "Added memory and restarted service."),
    ("software", "Pod crash loop for {name}", "Container", "Fixed liveness probe configuration."),
    ("security", "Suspicious logins against {name}", "TechnicalService", "Blocked source addresses; reset credentials."),
    ("hardware", "Controller failover on {name}", "StorageDevice", "Vendor replaced controller."),
    ("network", "Load balancer health checks flapping on {name}", "LoadBalancer", "Adjusted health check interval."),
)

PROBLEMS = (
    ("PRB-1001", "Memory leak in storefront session handling", "app-storefront", "software",
     "Session objects are never evicted after checkout", "Restart the storefront pods nightly", True),
    ("PRB-1002", "Replica lag on the orders database under batch load", "db-orders-replica", "capacity",
     "Nightly ERP export runs a full-table scan on the replica", "Move the export to the DWH copy", True),
    ("PRB-1003", "Flapping optics on Frankfurt access switch 2", "sw-fra-2", "hardware",
     "A batch of SFP28 optics with a firmware defect", "Fail traffic over to the other uplink", True),
    ("PRB-1004", "Payment gateway timeouts at peak", "app-payment-gateway", "capacity",
     "Thread pool sized for half the current peak", "Scale the app pool to four VMs before campaigns", True),
    ("PRB-1005", "Kafka consumer lag after broker restarts", "kafka-cluster", "software",
     "Rebalance storms caused by a short session timeout", "Restart brokers one at a time, 10 minutes apart", True),
    ("PRB-1006", "SSO token signing key rotation breaks sessions", "ts-sso", "process",
     "Key rotation runbook lacks the overlap step", "Publish the new key 24 h before switching", True),
    ("PRB-1007", "Hypervisor purple screens on ESXi 8 build", "vmw-fra", "software",
     "Known driver defect in the NIC firmware", "Pin the previous driver version", True),
    ("PRB-1008", "Session store evictions during sales", "db-sessions", "capacity", None, None, False),
    ("PRB-1009", "Intermittent DNS resolution failures", "ts-dns", "software", None, None, False),
    ("PRB-1010", "Warehouse label printing delays", "app-shipping", "software",
     "Carrier API rate limit reached by retries without backoff", "Queue labels and retry with backoff", True),
    ("PRB-1011", "Storage latency spikes during snapshot windows", "san-fra", "hardware",
     "Snapshot schedule overlaps backup window", "Stagger snapshot schedules", True),
    ("PRB-1012", "Mail delivery delays to external domains", "ts-smtp-relay", "software", None, None, False),
)

CHANGE_TEMPLATES = (
    ("standard", "Reset service account password for {name}", "account management", "low"),
    ("standard", "Upgrade agent on {name} (test)", "non-production software", "low"),
    ("normal", "Patch operating system on {name}", "patching", "medium"),
    ("normal", "Firmware upgrade on {name}", "firmware", "medium"),
    ("normal", "Increase capacity of {name}", "capacity", "medium"),
    ("normal", "Migrate {name} to new storage tier", "migration", "high"),
    ("emergency", "Emergency fix for {name}", "fix", "high"),
    ("normal", "Certificate renewal on {name}", "security", "low"),
)


def _build_records(b: _Builder, apps: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    by_class: dict[str, list[dict[str, Any]]] = {}
    for ci in b.cis:
        by_class.setdefault(ci["class"], []).append(ci)
    slas = [
        {"id": f"sla-{svc.removeprefix('svc-')}", "service": svc, "name": f"SLA {svc.removeprefix('svc-')}",
         "availability_target": target, "response_minutes": response, "resolution_minutes": resolution,
         "service_hours": "24x7" if response <= 15 else "mon-sat 06:00-22:00"}
        for svc, target, response, resolution, _team in apps["services"]
    ]

    knowledge: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for pid, title, ci_id, category, cause, workaround, known in PROBLEMS:
        kb_id = f"KB-{pid.removeprefix('PRB-')}"
        problem: dict[str, Any] = {
            "id": pid, "title": title, "category": category, "root_cause_in": [ci_id],
            "symptoms": f"Users and monitoring report: {title.lower()}.",
            "status": "known_error" if known else b.rng.choice(["open", "investigating"]),
            "known_error": known, "opened_at": b.when(b.rng.uniform(20, 200)),
        }
        if known:
            problem.update(root_cause=cause, workaround=workaround, documented_in=[kb_id])
            knowledge.append({"id": kb_id, "title": f"Known error: {title}", "about": [ci_id],
                              "tags": ["known-error", category],
                              "body": f"Symptoms: {title.lower()}.\nRoot cause: {cause}.\nWorkaround: {workaround}."})
        problems.append(problem)
    for ci in by_class["Database"] + by_class["Application"] + by_class["TechnicalService"]:
        knowledge.append({
            "id": f"KB-RB-{ci['id']}", "title": f"Runbook: {ci['name']}", "about": [ci["id"]],
            "tags": ["runbook", ci["class"].lower()],
            "body": (f"Health checks, restart order and escalation for {ci['name']}. "
                     f"Owner: {ci['owner']}. Check dependencies before restarting; page the owner team "
                     "if the service does not recover within its RTO."),
        })

    releases = []
    for n in range(1, 9):
        app_id, _team = apps["apps"][(n * 3) % len(apps["apps"])]
        start = b.when(60 - n * 9, hour=22)
        releases.append({
            "id": f"REL-{n:03d}", "version": f"2026.{n}", "name": f"{app_id} release 2026.{n}",
            "type": "major" if n % 4 == 0 else "emergency" if n == 5 else "routine",
            "state": "deployed" if n < 7 else "scheduled", "deploys": [app_id],
            "window_start": start, "window_end": b.after(start, 4),
        })

    targetable = by_class["Server"] + by_class["Database"] + by_class["Application"] + by_class["NetworkDevice"] \
        + by_class["VirtualMachine"] + by_class["Firewall"] + by_class["StorageDevice"]
    changes = []
    for n in range(1, 49):
        kind, title, category, risk = b.rng.choice(CHANGE_TEMPLATES)
        target = b.rng.choice(targetable)
        days = b.rng.uniform(-21, 80)  # negative: in the future
        start = b.when(days, hour=b.rng.choice([1, 2, 22, 23]))
        end = (datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(hours=b.rng.choice([1, 2, 4])))
        if days < 0:
            state = "scheduled" if kind != "emergency" else "approved"
        else:
            state = b.rng.choices(["closed", "implemented", "failed", "rolled_back"], [6, 2, 1, 1])[0]
        change: dict[str, Any] = {
            "id": f"CHG-{n:04d}", "title": title.format(name=target["name"]), "type": kind, "category": category,
            "risk": risk, "state": state, "targets": [target["id"]], "requested_by": target["owner"],
            "planned_start": start, "planned_end": end.isoformat().replace("+00:00", "Z"),
            "rollback_plan": "Restore the previous configuration from the pre-change snapshot.",
        }
        if state in {"closed", "implemented", "failed", "rolled_back"}:
            change["implemented_at"] = start
            change["outcome"] = {"closed": "successful", "implemented": "successful",
                                 "failed": "failed", "rolled_back": "rolled back"}[state]
        if kind == "standard":
            change["state"] = "closed" if days >= 0 else "scheduled"
        if n % 8 == 0:
            release = releases[(n // 8) % len(releases)]
            change["part_of"] = release["id"]
            change["targets"] = release["deploys"]
        changes.append(change)
    failed_changes = [c for c in changes if c["state"] in {"failed", "rolled_back"}]

    incidents = []
    known_problems = {p[2]: p[0] for p in PROBLEMS}
    for n in range(1, 73):
        category, title, ci_class, resolution = b.rng.choice(INCIDENT_TEMPLATES)
        ci = b.rng.choice(by_class[ci_class])
        days = b.rng.uniform(0.05, 90)
        opened = b.when(days)
        status = "closed" if days > 10 else b.rng.choice(["received", "assigned", "in_progress", "resolved", "closed"])
        incident: dict[str, Any] = {
            "id": f"INC-{n:05d}", "title": title.format(name=ci["name"]), "category": category,
            "impact": b.rng.choice(["local", "local", "department", "global"]),
            "urgency": b.rng.choice(["low", "medium", "medium", "high", "critical"]),
            "status": status, "opened_at": opened, "affects": [ci["id"]],
            "reported_via": b.rng.choice(["monitoring", "monitoring", "user report", "inspection"]),
            "escalation_level": b.rng.choice([0, 0, 0, 1, 2]),
            "assignee": ci["owner"],
        }
        opened_at = datetime.fromisoformat(opened.replace("Z", "+00:00"))
        if status != "received":
            incident["responded_at"] = (opened_at + timedelta(minutes=b.rng.randint(3, 90))).isoformat().replace("+00:00", "Z")
        if status in {"resolved", "closed"}:
            incident["resolved_at"] = (opened_at + timedelta(hours=b.rng.uniform(0.5, 30))).isoformat().replace("+00:00", "Z")
            incident["resolution"] = resolution
        if ci["id"] in known_problems:
            incident["caused_by"] = known_problems[ci["id"]]
        if failed_changes and n % 9 == 0:
            change = failed_changes[n % len(failed_changes)]
            incident["caused_by_change"] = change["id"]
            incident["affects"] = change["targets"]
            incident["title"] = f"Service degradation after {change['id']}"
        incidents.append(incident)

    infra_by_dc: dict[str, list[str]] = {code: [] for code, _ in DATACENTERS}
    for rel in b.relationships:
        if rel["type"] == "LOCATED_IN":
            infra_by_dc[rel["to"].removeprefix("dc-")].append(rel["from"])
    maintenance_windows = [
        {"id": f"MW-{code.upper()}-INFRA", "name": f"Weekly infrastructure window {city}",
         "applies_to": sorted(infra_by_dc[code]), "recurrence": "weekly",
         "start": b.when(1 if code == "fra" else 0, hour=1), "end": b.after(b.when(1 if code == "fra" else 0, hour=1), 4)}
        for code, city in DATACENTERS
    ]
    maintenance_windows.append({
        "id": "MW-DB-MONTHLY", "name": "Monthly database patch window", "recurrence": "monthly",
        "applies_to": sorted(ci["id"] for ci in by_class["Database"]),
        "start": b.when(14, hour=0), "end": b.after(b.when(14, hour=0), 4),
    })
    maintenance_windows.append({
        "id": "MW-APPS-WEEKLY", "name": "Weekly application release window", "recurrence": "weekly",
        "applies_to": sorted(app for app, _ in apps["apps"]),
        "start": b.when(3, hour=22), "end": b.after(b.when(3, hour=22), 4),
    })
    blackouts = [{
        "id": "BO-PEAK-SEASON", "name": "Black Friday and Cyber Monday freeze",
        "reason": "Peak trading: no changes to customer-facing services",
        "applies_to": ["svc-online-shop", "svc-payments", "svc-order-management", "svc-warehouse"],
        "start": b.when(-10, hour=0), "end": b.when(-15, hour=0),
    }, {
        "id": "BO-YEAR-END", "name": "Financial year-end close",
        "reason": "Finance closes the books",
        "applies_to": ["svc-finance", "svc-hr-payroll"],
        "start": b.when(-42, hour=0), "end": b.when(-49, hour=0),
    }]
    return {
        "slas": slas, "knowledge_articles": knowledge, "problems": problems, "releases": releases,
        "changes": changes, "incidents": incidents, "maintenance_windows": maintenance_windows,
        "blackouts": blackouts,
    }
