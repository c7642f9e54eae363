"""The demo enterprise: a retailer with two data centres, built deterministically from a seed.

It is produced as a native-format document (plain dicts), so it goes through exactly the same
validation and load as a user's file, and `cmdb-graph demo --out FILE` shows the format at
full size.

Shape (edges point from the dependent to what it needs):
business service -> applications -> (web tier, app tier groups of VMs | containers on a
Kubernetes cluster) -> hypervisor cluster -> hypervisors -> access switches -> core network
group; databases (HA pairs across data centres as redundancy groups) -> database servers ->
storage groups; shared middleware and technical services (SSO, DNS, messaging, monitoring).

On top of the CIs: SLAs, problems with their root-cause analyses, a knowledge base about real
CIs (runbooks, failover procedures, major-incident playbooks, supplier escalation, restores,
how-tos), releases, changes and incidents with response, resolution and escalation times.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

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
        attributes: dict[str, Any] = {}
        for role, server in zip(("primary", "replica"), servers):
            code = server.split("-")[1]
            # both draws happen for every instance (the seed's stream stays as it was), but a
            # replica replicates its primary: same engine, same size
            drawn = {"engine": b.rng.choice(["PostgreSQL 16", "PostgreSQL 15", "Oracle 19c"]),
                     "size_gb": b.rng.randint(50, 4000)}
            attributes = attributes or drawn
            instance = b.ci(f"{db_id}-{role}", "Database", f"{name} ({role})", "team-dba",
                            criticality=1 if ha else 2, availability=0.999, rto_minutes=60 if ha else 240,
                            rpo_minutes=5 if ha else 60, attributes=dict(attributes))
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
    # a database server no instance landed on is the backup service's staging host, so that
    # every server in the demo is under management (it has an owner and supports a service)
    hosting = {rel["to"] for rel in b.relationships if rel["type"] == "RUNS_ON"}
    for code in ("fra", "ams"):
        for server in site[code]["db_servers"]:
            if server not in hosting:
                b.rel("ts-backup", server, "DEPENDS_ON", "soft")
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


# category, title, class of the CI, resolution, outage (the CI was down, not merely impaired)
INCIDENT_TEMPLATES = (
    ("hardware", "Disk failure on {name}", "Server", "Replaced failed disk; RAID rebuilt.", True),
    ("hardware", "Power supply alarm on {name}", "Server", "Replaced PSU under maintenance contract.", False),
    ("network", "Packet loss through {name}", "NetworkDevice", "Replaced faulty optic.", False),
    ("network", "Firewall session table exhausted on {name}", "Firewall", "Raised session limit; tuned timeouts.", True),
    ("software", "{name} responding slowly", "Application", "Recycled application pool; memory leak tracked in problem.", False),
    ("software", "Errors after deployment of {name}", "Application", "Rolled back to previous build.", True),
    ("software", "Replication lag on {name}", "Database", "Rebuilt replica from snapshot.", False),
    ("software", "Connection pool exhausted on {name}", "Database", "Increased max connections; killed idle sessions.", True),
    ("software", "{name} out of memory", "VirtualMachine", "Added memory and restarted service.", True),
    ("software", "Pod crash loop for {name}", "Container", "Fixed liveness probe configuration.", True),
    ("security", "Suspicious logins against {name}", "TechnicalService", "Blocked source addresses; reset credentials.", False),
    ("hardware", "Controller failover on {name}", "StorageDevice", "Vendor replaced controller.", False),
    ("network", "Load balancer health checks flapping on {name}", "LoadBalancer", "Adjusted health check interval.", False),
)

# Escalations: functional ones go to whoever holds the missing skill, per incident category;
# hierarchical ones go up the management line.
FUNCTIONAL_ESCALATIONS = {
    "hardware": "Needs a vendor field engineer: part replacement under the maintenance contract",
    "network": "First-line checks exhausted; handed to network engineering for packet captures",
    "software": "Not reproducible by application support; handed to the development team",
    "security": "Possible compromise; handed to security operations for forensic analysis",
}
HIERARCHICAL_ESCALATIONS = (
    "Resolution deadline at risk: duty manager and service owner informed",
    "Customer-facing impact continues: IT operations manager informed, supplier escalated",
    "Recurring failure on the same CI: head of IT operations and problem manager informed",
)


class ProblemRow(NamedTuple):
    """A problem of the demo; with a root cause and a workaround it is a known error, which
    then also carries its root-cause analysis (five whys, fishbone branches) and, where one is
    decided, the permanent fix."""

    id: str
    title: str
    ci: str
    category: str
    cause: str | None = None
    workaround: str | None = None
    method: str | None = None
    whys: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    solution: str | None = None


PROBLEMS = (
    ProblemRow(
        "PRB-1001", "Memory leak in storefront session handling", "app-storefront", "software",
        "Session objects are never evicted after checkout", "Restart the storefront pods nightly", "five_whys", (
            "Storefront pods are OOM-killed every two to three days at peak",
            "The JVM heap grows by about 2 GB a day and is never reclaimed",
            "Session objects pile up in the in-process session cache",
            "Sessions are only evicted at logout, and most customers never log out",
            "Checkout takes over the basket but nothing ends the storefront session afterwards",
        ), ("software", "process"),
        "End the session when Checkout confirms the order and add a 30-minute idle expiry to the cache"),
    ProblemRow(
        "PRB-1002", "Replica lag on the orders database under batch load", "db-orders-replica", "capacity",
        "Nightly ERP export runs a full-table scan on the replica", "Move the export to the DWH copy",
        "data_analysis", (
            "The orders replica falls up to 40 minutes behind between 01:00 and 02:00",
            "Replay on the replica stalls behind a long-running read query",
            "The long-running query is the nightly ERP export",
            "The export reads the whole orders table every night instead of the day's changes",
        ), ("capacity", "process")),
    ProblemRow(
        "PRB-1003", "Flapping optics on Frankfurt access switch 2", "sw-fra-2", "hardware",
        "A batch of SFP28 optics with a firmware defect", "Fail traffic over to the other uplink", "fishbone", (
            "Uplinks of Access switch FRA-2 go down for 2-5 seconds several times a day",
            "The optics report loss of receive power although the fibre measures clean",
            "Every failing optic comes from the same delivery batch",
            "That batch ships a transceiver firmware with a defect in loss-of-signal detection (vendor advisory)",
        ), ("hardware", "supplier"),
        "Replace the whole optics batch with fixed units through the vendor RMA; check batch numbers at goods receipt"),
    ProblemRow(
        "PRB-1004", "Payment gateway timeouts at peak", "app-payment-gateway", "capacity",
        "Thread pool sized for half the current peak", "Scale the app pool to four VMs before campaigns", "five_whys", (
            "Payments fail because gateway calls exceed the 10-second timeout of the shop",
            "Requests queue inside the gateway waiting for a free worker thread",
            "All 200 worker threads per VM are busy at peak",
            "The pool was sized in 2023 for half of today's peak traffic",
            "Capacity reviews look at CPU and memory, never at application thread pools",
        ), ("capacity", "process"),
        "Size the pool from measured peak concurrency and add thread-pool saturation to the capacity review"),
    ProblemRow(
        "PRB-1005", "Kafka consumer lag after broker restarts", "kafka-cluster", "software",
        "Rebalance storms caused by a short session timeout", "Restart brokers one at a time, 10 minutes apart",
        "cause_tree", (
            "Consumer lag of checkout, order and warehouse groups grows for 20 minutes after a broker restart",
            "The consumer groups stop fetching while they rebalance, again and again",
            "Consumers miss heartbeats while partition leadership moves and are expelled from the group",
            "session.timeout.ms is 6 seconds, shorter than a leadership move takes during a restart",
        ), ("software", "technology")),
    ProblemRow(
        "PRB-1006", "SSO token signing key rotation breaks sessions", "ts-sso", "process",
        "Key rotation runbook lacks the overlap step", "Publish the new key 24 h before switching", "five_whys", (
            "All users are logged out of the intranet, ERP and CRM right after the key rotation",
            "The applications reject tokens signed with the new key",
            "Their cached key set (JWKS) does not contain the new key yet",
            "The caches refresh every 12 hours, but the key was published and used at the same moment",
            "The rotation runbook has no step that publishes the next key ahead of its use",
        ), ("process", "people"),
        "Rotation runbook amended with a 24-hour overlap and an automated check that every relying "
        "application sees the next key"),
    ProblemRow(
        "PRB-1007", "Hypervisor purple screens on ESXi 8 build", "vmw-fra", "software",
        "Known driver defect in the NIC firmware", "Pin the previous driver version", "data_analysis", (
            "Frankfurt hypervisors stop with a purple diagnostic screen about once a fortnight",
            "Every core dump shows the crash inside the network driver after a NIC reset",
            "The NIC resets when its receive queue overflows under backup traffic",
            "The firmware bundled with the ESXi 8 update has a reset defect the vendor published after certifying it",
        ), ("software", "supplier")),
    ProblemRow("PRB-1008", "Session store evictions during sales", "db-sessions", "capacity"),
    ProblemRow("PRB-1009", "Intermittent DNS resolution failures", "ts-dns", "software"),
    ProblemRow(
        "PRB-1010", "Warehouse label printing delays", "app-shipping", "software",
        "Carrier API rate limit reached by retries without backoff", "Queue labels and retry with backoff",
        "five_whys", (
            "Shipping labels print minutes late and parcels miss the carrier pick-up",
            "Label requests wait for the parcel carrier API",
            "The carrier API answers HTTP 429: the account's rate limit is reached",
            "Failed requests are retried at once, multiplying the traffic",
            "The shipping client retries in a tight loop without backoff or jitter",
        ), ("software", "supplier")),
    ProblemRow(
        "PRB-1011", "Storage latency spikes during snapshot windows", "san-fra", "hardware",
        "Snapshot schedule overlaps backup window", "Stagger snapshot schedules", "data_analysis", (
            "Read latency of Storage Frankfurt jumps from 1 ms to 25 ms around 02:00",
            "Snapshots of all volumes start at 02:00",
            "The backup jobs read the same volumes at the same time",
            "Snapshot and backup schedules belong to different teams and were never compared",
        ), ("process", "capacity")),
    ProblemRow("PRB-1012", "Mail delivery delays to external domains", "ts-smtp-relay", "software"),
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

    problems = [_problem(b, row) for row in PROBLEMS]
    topo = _Topology(b.cis, b.relationships)
    knowledge = build_knowledge(topo, problems)

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
    known_problems = {row.ci: row.id for row in PROBLEMS}
    for n in range(1, 73):
        category, title, ci_class, resolution, outage = b.rng.choice(INCIDENT_TEMPLATES)
        ci = b.rng.choice(by_class[ci_class])
        # every twelfth incident is from the last two days, so the service desk's board is never empty
        days = b.rng.uniform(0.05, 90) if n % 12 else b.rng.uniform(0.05, 2)
        status = "closed" if days > 10 else b.rng.choice(["received", "assigned", "in_progress", "resolved", "closed"])
        incident: dict[str, Any] = {
            "id": f"INC-{n:05d}", "title": title.format(name=ci["name"]), "category": category,
            "impact": b.rng.choice(["local", "local", "department", "global"]),
            "urgency": b.rng.choice(["low", "medium", "medium", "high", "critical"]),
            "status": status, "affects": [ci["id"]], "outage": outage,
            "reported_via": b.rng.choice(["monitoring", "monitoring", "user report", "inspection"]),
            "assignee": ci["owner"],
        }
        if failed_changes and n % 9 == 0:
            change = failed_changes[n % len(failed_changes)]
            incident["caused_by_change"] = change["id"]
            incident["affects"] = change["targets"]
            incident["title"] = f"Service degradation after {change['id']}"
        incident.update(_incident_timeline(b, incident, days, _sla_targets(topo, incident["affects"], slas)))
        if status in {"resolved", "closed"}:
            incident["resolution"] = resolution
        if ci["id"] in known_problems:
            incident["caused_by"] = known_problems[ci["id"]]
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


# --- problems and incidents ------------------------------------------------------------------


def _problem(b: _Builder, row: ProblemRow) -> dict[str, Any]:
    """A problem record; a known error documents its root-cause analysis in KB-<number>."""
    known = bool(row.cause and row.workaround)
    problem: dict[str, Any] = {
        "id": row.id, "title": row.title, "category": row.category, "root_cause_in": [row.ci],
        "symptoms": f"Users and monitoring report: {row.title.lower()}.",
        "status": "known_error" if known else b.rng.choice(["open", "investigating"]),
        "known_error": known, "opened_at": b.when(b.rng.uniform(20, 200)),
    }
    if known:
        problem.update(root_cause=row.cause, workaround=row.workaround, documented_in=[_known_error_kb(row.id)],
                       analysis_method=row.method, five_whys=list(row.whys), cause_categories=list(row.causes))
        if row.solution:
            problem["solution"] = row.solution
    return problem


def _known_error_kb(problem_id: str) -> str:
    return f"KB-{problem_id.removeprefix('PRB-')}"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


NO_SLA_TARGETS = (120, 2880)  # a CI behind no business service gets the loosest terms of the demo


def _sla_targets(topo: _Topology, affects: list[str], slas: list[dict[str, Any]]) -> tuple[int, int]:
    """Response and resolution minutes of the strictest SLA among the business services the
    affected CIs support through the graph: the deadlines the service desk works to."""
    by_service = {sla["service"]: sla for sla in slas}
    services = {svc for ci in affects for svc in [ci, *topo.upstream_of_class(ci, "BusinessService")]
                if svc in by_service}
    if not services:
        return NO_SLA_TARGETS
    return (min(by_service[svc]["response_minutes"] for svc in services),
            min(by_service[svc]["resolution_minutes"] for svc in services))


def _response_minutes(rng: random.Random, target: int) -> float:
    """Monitoring pages the on-call engineer, who picks most incidents up within ten minutes
    and inside the SLA; a tail (nights, user reports routed through the desk) takes up to two
    hours."""
    if rng.random() < 0.8:
        return rng.uniform(2, max(3.0, min(10.0, 0.9 * target)))
    return target / 2 + (120 - target / 2) * rng.random() ** 3


def _resolution_hours(rng: random.Random, target: int, response_minutes: float) -> float:
    """Half an hour to four hours for most incidents, inside the SLA's resolution time; a tail
    (parts, suppliers, hard bugs) up to 30 hours. Never before the response plus a quarter of
    an hour of work."""
    usual = max(1.0, min(4.0, 0.9 * target / 60))
    hours = rng.uniform(0.5, usual) if rng.random() < 0.88 else usual + (30 - usual) * rng.random() ** 2
    return max(hours, response_minutes / 60 + 0.25)


def _escalation(
    rng: random.Random, incident: dict[str, Any], hours: float, target: int
) -> tuple[int, str | None, float]:
    """Level, reason and when (as a share of the time from response to resolution).
    Management is pulled in when an incident drags past sixteen hours or a global one misses
    its resolution time; specialists when first-line work does not fix it within the
    resolution time (four hours at most), and now and then straight away because the assignee
    lacks the skill."""
    late = hours > target / 60
    if hours > 16 or (late and incident["impact"] == "global"):
        return 2, rng.choice(HIERARCHICAL_ESCALATIONS), rng.uniform(0.4, 0.7)
    if late or hours > 4 or rng.random() < 0.02:
        return 1, FUNCTIONAL_ESCALATIONS[incident["category"]], rng.uniform(0.15, 0.5)
    return 0, None, 0.0


def _incident_timeline(b: _Builder, incident: dict[str, Any], days: float, targets: tuple[int, int]) -> dict[str, Any]:
    """Opened, responded, resolved and escalated times that agree with the status and the SLA
    targets: an open incident was opened recently enough to still be open, a resolved one was
    resolved before the anchor, an escalation falls between response and resolution."""
    response = _response_minutes(b.rng, targets[0])
    hours = _resolution_hours(b.rng, targets[1], response)
    level, reason, share = _escalation(b.rng, incident, hours, targets[1])
    status = incident["status"]
    if status == "received":  # not picked up yet
        elapsed = response / 60 * b.rng.uniform(0.2, 0.9)
    elif status in {"assigned", "in_progress"}:  # being worked on
        elapsed = response / 60 + (hours - response / 60) * b.rng.uniform(0.1, 0.9)
    else:
        elapsed = max(days * 24, hours + 0.5)
    opened = b.anchor - timedelta(hours=elapsed)
    times: dict[str, Any] = {"opened_at": _iso(opened), "escalation_level": 0}
    if status == "received":
        return times
    responded = opened + timedelta(minutes=response)
    resolved = opened + timedelta(hours=hours)
    times["responded_at"] = _iso(responded)
    if status in {"resolved", "closed"}:
        times["resolved_at"] = _iso(resolved)
    escalated = responded + (resolved - responded) * share
    if level and escalated < b.anchor:
        times.update(escalation_level=level, escalation_kind="functional" if level == 1 else "hierarchical",
                     escalation_reason=reason, escalated_at=_iso(escalated))
    return times


# --- knowledge base ------------------------------------------------------------------------
#
# Every article is about real CIs of the demo and names what is really connected to them, read
# from the finished graph; the texts that do not follow from the graph (vendor commands,
# supplier contacts, procedures) are the tables below.

TEAM_NAMES = dict(TEAMS)

ENGINE_GUIDES = {
    "PostgreSQL": {
        "checks": "pg_isready; SELECT client_addr, state, replay_lag FROM pg_stat_replication (on the primary); "
                  "SELECT state, count(*) FROM pg_stat_activity GROUP BY state against max_connections; "
                  "free space on the data and WAL volumes",
        "switchover": "patronictl switchover --candidate {replica} (planned, no data loss)",
        "failover": "patronictl failover --candidate {replica} (primary lost; check replay_lag first)",
        "restore": "pgbackrest --stanza={db} --type=time --target='<timestamp>' --delta restore, "
                   "then start PostgreSQL and let recovery reach the target",
    },
    "Oracle": {
        "checks": "SELECT name, value FROM v$dataguard_stats (transport and apply lag); "
                  "SELECT status, count(*) FROM v$session GROUP BY status against the processes limit; "
                  "ORA- errors in the alert log; dba_tablespace_usage_metrics",
        "switchover": "DGMGRL> SWITCHOVER TO {replica} (planned, no data loss)",
        "failover": "DGMGRL> FAILOVER TO {replica} (primary lost; check apply lag first)",
        "restore": "RMAN> RESTORE DATABASE UNTIL TIME '<timestamp>'; RECOVER DATABASE UNTIL TIME '<timestamp>'; "
                   "ALTER DATABASE OPEN RESETLOGS",
    },
}
RESTORE_GB_PER_HOUR = 600  # measured in the last restore test from the backup pool

# model -> what the hardware runbook of such a device says
HARDWARE_GUIDES = {
    "MX204": {
        "symptoms": "BGP or OSPF neighbours flapping, chassis alarms, packet loss between data-centre segments",
        "checks": "show chassis alarms; show system alarms; show interfaces diagnostics optics; "
                  "show bgp summary; show ospf neighbor; show chassis environment",
        "firmware": "Junos on the JTAC-recommended release; request system snapshot before any upgrade; "
                    "upgrade one router of the pair per weekly infrastructure window",
        "steps": "Set the overload bit (or raise the OSPF metric) so the partner carries the traffic; "
                 "replace the faulty optic, PSU or fan tray (hot-swappable); reboot the routing engine only as "
                 "last resort",
        "vendor": "Juniper JTAC",
    },
    "7050X3": {
        "symptoms": "Ports err-disabled or flapping, CRC errors, servers losing one of their two uplinks",
        "checks": "show interfaces status errdisabled; show interfaces counters errors; "
                  "show interfaces transceiver detail; show logging last 1 hours; show environment all",
        "firmware": "EOS on the vendor's recommended release; a reload interrupts single-homed ports, "
                    "so confirm every server behind it is dual-homed before upgrading",
        "steps": "Shut the flapping port, swap the optic or cable, clear counters and watch for ten minutes; "
                 "if several optics of one batch fail, open a problem (compare PRB-1003)",
        "vendor": "Arista TAC",
    },
    "PA-3220": {
        "symptoms": "New sessions refused, session table near its limit, HA state changes, dataplane CPU above 80 %",
        "checks": "show high-availability state; show session info; show system resources; "
                  "show system environmentals; show counter global filter severity drop",
        "firmware": "PAN-OS: upgrade the passive member first, fail over, then the other; "
                    "content and threat updates install automatically every day",
        "steps": "Session table exhausted: find the top sources with show session all filter, shorten the idle "
                 "timeout of the offending application; hardware fault: suspend HA on the member and open an RMA",
        "vendor": "Palo Alto Networks support",
    },
    "BIG-IP i5800": {
        "symptoms": "Health monitors flapping, pool members marked down, config sync status 'changes pending'",
        "checks": "tmsh show sys failover; tmsh show cm sync-status; tmsh show ltm pool members; "
                  "tmsh show sys hardware; tmsh show net interface",
        "firmware": "TMOS: install to the inactive boot volume of the standby, reboot into it, fail over, "
                    "then the other member; keep the configuration in sync before and after",
        "steps": "Flapping monitors: compare the monitor interval and timeout with the application's response time; "
                 "hardware fault: tmsh run sys failover standby on this unit, then open a case",
        "vendor": "F5 support",
    },
    "AFF A400": {
        "symptoms": "Rising volume latency, controller takeover events, failed disks, aggregates above 85 %",
        "checks": "system health alert show; storage failover show; storage aggregate show-space; "
                  "qos statistics volume latency show; event log show -severity ERROR",
        "firmware": "ONTAP non-disruptive upgrade (cluster image update), one controller at a time; "
                    "disk and shelf firmware update automatically",
        "steps": "Controller fault: storage failover takeover -ofnode <node>, repair, storage failover giveback; "
                 "latency during snapshots: check the snapshot and backup schedules (compare PRB-1011)",
        "vendor": "NetApp support",
    },
    "PowerEdge R760": {
        "symptoms": "Predictive disk failure, PSU or fan alarms in iDRAC, multipath paths down, kernel I/O errors",
        "checks": "racadm getsel; racadm storage get pdisks -o; racadm getsensorinfo; "
                  "multipath -ll; journalctl -k -p err",
        "firmware": "Dell quarterly firmware baseline (BIOS, iDRAC, NIC, HBA) in the monthly database patch window, "
                    "after the database instances were switched over",
        "steps": "Switch the database instances over or stop them cleanly first; hot-swap disks and PSUs; "
                 "anything needing a power-off goes through a change",
        "vendor": "Dell ProSupport",
    },
}

MIDDLEWARE_GUIDES = {
    "Apache Kafka": {
        "checks": "kafka-topics.sh --bootstrap-server localhost:9092 --describe --under-replicated-partitions "
                  "(must be empty); kafka-consumer-groups.sh --describe --all-groups (lag); "
                  "kafka-metadata-quorum.sh describe --status; free space of the log directories",
        "steps": "Restart one broker at a time and wait until no partition is under-replicated before the next; "
                 "never restart two brokers together: the cluster needs at least {min_members} of {count}",
    },
    "RabbitMQ": {
        "checks": "rabbitmq-diagnostics check_running; rabbitmqctl cluster_status; "
                  "rabbitmq-queues check_if_node_is_quorum_critical; rabbitmqctl list_queues name messages consumers; "
                  "memory and disk alarms",
        "steps": "Stop or restart only when check_if_node_is_quorum_critical passes; the cluster needs at least "
                 "{min_members} of {count} nodes for its quorum queues",
    },
    "Redis": {
        "checks": "redis-cli ping; redis-cli info memory (used_memory against maxmemory, evicted_keys); "
                  "redis-cli --latency; redis-cli info clients",
        "steps": "A cache only: flushing or restarting is safe, but a cold cache raises the load on the databases "
                 "behind the applications for about 20 minutes; restart outside peak hours",
    },
}

TECHNICAL_SERVICE_CHECKS = {
    "ts-sso": "curl https://sso.example.org/.well-known/openid-configuration; the JWKS must hold the current "
              "and the next signing key; synthetic login in Monitoring; signature errors in the IdP log",
    "ts-dns": "dig @<member> example.org SOA on every farm member (same serial everywhere); "
              "SERVFAIL ratio and query rate per resolver",
    "ts-messaging": "under-replicated partitions 0, exactly one active controller, consumer lag of the "
                    "checkout, order-management and warehouse consumer groups",
    "ts-monitoring": "the watchdog alert must arrive every minute; share of scrape targets up; free space "
                     "of the time-series store; the notification queue is empty",
    "ts-backup": "last successful backup of every database within its RPO; catalogue consistency check; "
                 "replication of the night's copies to the off-site bucket",
    "ts-api-gateway": "5xx ratio per route; upstream health; certificate expiry dates; rate-limit rejections",
    "ts-smtp-relay": "postqueue -p | tail -1 (queue length); deferral reasons in the mail log; "
                     "blocklist status of the sending addresses; reachability of the e-mail filter",
}

# cloud resource -> supplier, support channel, support hours and response commitment, fallback
SUPPLIERS = {
    "cloud-cdn": ("CDN provider", "support portal, severity 1 by phone +49 69 5550 1100", "24x7, 15 min for severity 1",
                  "serve static assets from the storefront web pool (switch the asset CNAME to the origin); "
                  "expect higher load on the load balancers"),
    "cloud-psp": ("Payment service provider", "merchant hotline +31 20 5550 2200 with the merchant id", "24x7, 10 min",
                  "switch the gateway to the secondary acquirer route; if both fail, enable 'payment pending' "
                  "(orders accepted, captured later; risk accepted by Payments up to 2 hours)"),
    "cloud-backup-bucket": ("Object storage provider", "support portal, priority case", "business hours, 4 h",
                            "backups stay on premises; the off-site copy ages, so inform the storage lead after 24 h"),
    "cloud-email-filter": ("E-mail security provider", "support portal and +44 20 5550 3300", "24x7, 30 min",
                           "route inbound MX directly to the SMTP relay only with security operations' approval"),
    "cloud-carrier-api": ("Parcel carrier", "key-account desk +49 228 5550 4400", "mon-sat 06:00-22:00, 1 h",
                          "queue labels and print in batches once the API answers; express parcels go to the "
                          "alternate carrier's web portal"),
}

# group kind -> how it fails over
FAILOVER_GUIDES = {
    "core-network": "Routing reconverges by itself (BFD detects a lost router within a second). To drain a router "
                    "deliberately, set the overload bit and check with show route summary that its partner carries "
                    "every prefix.",
    "firewall": "Active/passive with session synchronisation. Manual failover: request high-availability state "
                "suspend on the active member; check show high-availability state on the partner; return with "
                "request high-availability state functional.",
    "load-balancer": "Active/standby with configuration sync. Manual failover: tmsh run sys failover standby on the "
                     "active unit; check tmsh show sys failover and that every virtual address answers.",
    "storage": "Controllers take over for each other. Planned: storage failover takeover -ofnode <node>, then "
               "storage failover giveback; I/O pauses for under 30 seconds and hosts ride through on multipathing.",
    "vsphere": "vSphere HA restarts the VMs of a failed host on the others; admission control keeps room for that. "
               "For maintenance, put one host at a time into maintenance mode and let DRS move its VMs.",
    "kubernetes": "The scheduler moves pods off a failed node once it is NotReady (about 5 minutes). For maintenance: "
                  "kubectl cordon, then kubectl drain --ignore-daemonsets --delete-emptydir-data; "
                  "PodDisruptionBudgets keep every deployment above its minimum.",
    "kafka": "Partitions are replicated three times (min.insync.replicas 2); leaders move automatically. Restart "
             "brokers one at a time and wait for zero under-replicated partitions before the next.",
    "rabbitmq": "Quorum queues survive the loss of one node. Never stop two nodes; after a restart wait until "
                "rabbitmq-queues check_if_node_is_quorum_critical passes on every node.",
    "database": "Primary in Frankfurt, replica in Amsterdam.",
    "vm-farm": "Every member serves on its own; clients use all of them. Take a member out of rotation, repair "
               "it and put it back; one healthy member carries the load at night, not at peak.",
}
FAILOVER_KIND_BY_MEMBER = {"NetworkDevice": "core-network", "Firewall": "firewall", "LoadBalancer": "load-balancer",
                           "StorageDevice": "storage", "Database": "database", "VirtualMachine": "vm-farm"}
FAILOVER_KIND_BY_PRODUCT = {"vSphere": "vsphere", "Kubernetes": "kubernetes", "Apache": "kafka",
                            "RabbitMQ": "rabbitmq"}

# id suffix, title, about, tags, steps: procedures the graph cannot say
HOWTO_ARTICLES = (
    ("esx-maintenance", "How to put a hypervisor into maintenance mode", ("vmw-fra", "vmw-ams"),
     ("how-to", "vsphere", "maintenance"),
     "1. Check in vCenter that the cluster has no other host in maintenance: it needs at least 4 of its 6 hosts. "
     "2. Enter maintenance mode; DRS migrates the running VMs (10-20 minutes). "
     "3. Do the work; put the host back; check that HA reports it protected. "
     "4. Outside the weekly infrastructure window this needs a normal change."),
    ("k8s-drain", "How to drain a Kubernetes node", ("k8s-fra", "k8s-ams"), ("how-to", "kubernetes", "maintenance"),
     "1. kubectl get nodes: at least 3 of the 4 nodes must stay Ready. "
     "2. kubectl cordon <node>; kubectl drain <node> --ignore-daemonsets --delete-emptydir-data --timeout=10m. "
     "3. A drain stuck on a PodDisruptionBudget means a deployment would drop below its minimum: fix that first. "
     "4. After the work: kubectl uncordon <node>."),
    ("optic-replacement", "How to replace an SFP28 optic on an access switch",
     ("sw-fra-1", "sw-fra-2", "sw-fra-3", "sw-fra-4", "sw-ams-1", "sw-ams-2", "sw-ams-3", "sw-ams-4"),
     ("how-to", "network", "hardware", "optics"),
     "1. show interfaces transceiver detail: note the receive power and the batch number of the optic. "
     "2. Check the server behind the port is dual-homed; shut the port. "
     "3. Swap the optic (a spare of a different batch, see known error KB-1003), clean the fibre ends. "
     "4. No shutdown; watch show interfaces counters errors for ten minutes; record the swap on the incident."),
    ("firewall-rule", "How to request and apply a firewall rule change", ("fw-pair-fra", "fw-pair-ams"),
     ("how-to", "firewall", "security", "change"),
     "1. Raise a standard change naming source, destination, port and the business reason. "
     "2. Security operations adds the rule on the active member in Panorama and commits to both data centres. "
     "3. Verify with test security-policy-match and the application owner. "
     "4. Rules without a change reference are removed at the quarterly review."),
    ("lb-certificate", "How to renew a TLS certificate on the load balancers",
     ("lb-pair-fra", "lb-pair-ams", "ts-api-gateway"), ("how-to", "load-balancer", "certificates"),
     "1. Monitoring warns 30 days before expiry; order the certificate from the internal CA or the public CA. "
     "2. Import key and certificate on the active unit; update the client SSL profile; sync to the standby. "
     "3. Check with openssl s_client -connect <vip>:443 -servername <name> from outside. "
     "4. The API gateway's upstream trust store needs the new chain too."),
    ("sso-key-rotation", "How to rotate the SSO token signing key", ("ts-sso", "sso-farm"),
     ("how-to", "sso", "security", "certificates"),
     "1. Generate the next key and publish it in the JWKS without using it. "
     "2. Wait 24 hours: every relying application refreshes its key cache within 12 hours (known error KB-1006). "
     "3. Switch signing to the new key; keep the old key published for another 24 hours. "
     "4. Remove the old key; check the synthetic login in Monitoring after each step."),
    ("kafka-rolling-restart", "How to restart Kafka brokers safely", ("kafka-cluster", "ts-messaging"),
     ("how-to", "kafka", "maintenance"),
     "1. Under-replicated partitions must be 0 before you start. "
     "2. Restart one broker; wait until it has rejoined the ISR of all its partitions. "
     "3. Wait 10 minutes before the next broker to avoid consumer rebalance storms (known error KB-1005). "
     "4. Watch the consumer lag of the checkout, order-management and warehouse groups throughout."),
    ("cdn-purge", "How to purge the CDN cache after a catalogue change", ("cloud-cdn", "app-storefront"),
     ("how-to", "cdn", "storefront"),
     "1. Purge by surrogate key (product or category id), never the whole cache at peak. "
     "2. A full purge sends all requests to the storefront web pool for 10-15 minutes: only at night. "
     "3. Check the cache hit ratio in the CDN console recovers above 90 %."),
    ("scale-app-pool", "How to add a VM to an application pool",
     ("payment-gateway-app-pool", "checkout-app-pool", "vmw-fra", "vmw-ams"), ("how-to", "capacity", "vsphere"),
     "1. Clone from the pool's current template in vCenter; alternate data centres so the pool stays split. "
     "2. Register the VM in the CMDB as a member of the pool before it takes traffic. "
     "3. Add it to the load-balancer pool disabled, run the smoke test, enable it. "
     "4. Payment gateway: scale to four VMs before campaigns (known error KB-1004)."),
    ("restore-test", "How to run the quarterly restore test", ("ts-backup", "backup-pool", "cloud-backup-bucket"),
     ("how-to", "backup", "restore", "continuity"),
     "1. Pick one highly available and one single-instance database per quarter (rotate through all). "
     "2. Restore last night's backup from the off-site bucket into the test environment. "
     "3. Measure the restore time against the database's RTO and record it in the restore article. "
     "4. Have the application owner confirm the data; file a problem for any gap."),
    ("dns-change", "How to change a DNS record safely", ("ts-dns", "dns-farm"), ("how-to", "dns", "change"),
     "1. Lower the record's TTL to 300 seconds a day before the change. "
     "2. Change the record in the zone repository; the pipeline checks the zone and bumps the serial. "
     "3. Check every farm member answers the new value: dig @<member> <name>. "
     "4. Restore the TTL after a day."),
    ("snapshot-schedule", "How to schedule storage snapshots outside the backup window",
     ("san-fra", "san-ams", "ts-backup"), ("how-to", "storage", "backup"),
     "1. Read the backup window of every database from the backup catalogue. "
     "2. Place volume snapshots at least 30 minutes before or after those windows (known error KB-1011). "
     "3. Stagger snapshots over the hour instead of one start time for all volumes. "
     "4. Watch volume latency the first night."),
)


class _Topology:
    """Read-only indexes over the finished CI graph, so that articles name what is really
    connected to their CIs."""

    def __init__(self, cis: list[dict[str, Any]], relationships: list[dict[str, Any]]) -> None:
        self.ci = {ci["id"]: ci for ci in cis}
        self.out: dict[str, list[tuple[str, str, str]]] = {}
        self.inbound: dict[str, list[tuple[str, str, str]]] = {}
        for rel in relationships:
            strength = rel.get("strength", "hard")
            self.out.setdefault(rel["from"], []).append((rel["type"], rel["to"], strength))
            self.inbound.setdefault(rel["to"], []).append((rel["type"], rel["from"], strength))

    def of_class(self, *classes: str) -> list[dict[str, Any]]:
        return [ci for ci in self.ci.values() if ci["class"] in classes]

    def needs(self, ci_id: str, *types: str, strength: str | None = None) -> list[str]:
        return [target for type, target, s in self.out.get(ci_id, ())
                if (not types or type in types) and strength in (None, s)]

    def needed_by(self, ci_id: str, *types: str) -> list[str]:
        return [source for type, source, _ in self.inbound.get(ci_id, ()) if not types or type in types]

    def members(self, group_id: str) -> list[str]:
        return self.needs(group_id, "HAS_MEMBER")

    def groups_of(self, ci_id: str) -> list[str]:
        return self.needed_by(ci_id, "HAS_MEMBER")

    def upstream(self, ci_id: str) -> list[str]:
        """Everything that needs the CI, directly or through others, nearest first."""
        seen, queue = {ci_id}, [ci_id]
        for current in queue:
            for source in self.needed_by(current):
                if source not in seen:
                    seen.add(source)
                    queue.append(source)
        return queue[1:]

    def upstream_of_class(self, ci_id: str, *classes: str) -> list[str]:
        return [other for other in self.upstream(ci_id) if self.ci[other]["class"] in classes]

    def select(self, ids: list[str], *classes: str) -> list[str]:
        return [i for i in ids if self.ci[i]["class"] in classes]

    def member_class(self, group_id: str) -> str | None:
        members = self.members(group_id)
        return self.ci[members[0]]["class"] if members else None

    def name(self, ci_id: str) -> str:
        return self.ci[ci_id]["name"]

    def names(self, ids: list[str], limit: int = 8) -> str:
        """'A, B and C' (with 'and N more' past the limit); 'none' for nothing."""
        labels = [self.name(i) for i in dict.fromkeys(ids)]
        if not labels:
            return "none"
        if len(labels) > limit:
            return ", ".join(labels[:limit]) + f" and {len(labels) - limit} more"
        return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def build_knowledge(topo: _Topology, problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The knowledge base: known-error articles, runbooks, failover procedures, major-incident
    playbooks, supplier escalation, restore procedures, site outage plans and how-tos."""
    known = [p for p in problems if p["known_error"]]
    articles = [_known_error_article(p) for p in known]
    articles += [_database_runbook(ci, topo, known) for ci in topo.of_class("Database")]
    articles += [_application_runbook(ci, topo, known) for ci in topo.of_class("Application")]
    articles += [_technical_service_runbook(ci, topo, known) for ci in topo.of_class("TechnicalService")]
    articles += [_hardware_runbook(ci, topo, known) for ci in topo.of_class(
        "NetworkDevice", "Firewall", "LoadBalancer", "StorageDevice") + _database_servers(topo)]
    articles += [_middleware_runbook(ci, topo, known) for ci in topo.of_class("Middleware")]
    articles += [_failover_article(group, topo) for group in _failover_groups(topo)]
    articles += [_major_incident_playbook(svc, topo) for svc in topo.of_class("BusinessService")]
    articles += [_supplier_article(ci, topo) for ci in topo.of_class("CloudResource")]
    articles += [_restore_article(group, topo) for group in topo.of_class("RedundancyGroup")
                 if topo.member_class(group["id"]) == "Database"]
    articles += [_site_article(dc, topo) for dc in topo.of_class("Datacenter")]
    articles += [_howto_article(*row) for row in HOWTO_ARTICLES]
    return articles


def _article(id: str, title: str, about: list[str], tags: list[str], sections: list[tuple[str, str]]) -> dict[str, Any]:
    """An article whose body is one 'Heading: text' paragraph per non-empty section."""
    body = "\n".join(f"{heading}: {text.rstrip('.')}." for heading, text in sections if text)
    return {"id": id, "title": title, "about": list(dict.fromkeys(about)), "tags": list(dict.fromkeys(tags)),
            "body": body}


def _tag(text: str) -> str:
    return text.lower().replace(" ", "-")


def _escalation_text(team: str, minutes: int | None) -> str:
    lead = f"lead.{team.removeprefix('team-')}@example.org"
    within = f"within {minutes} minutes" if minutes else "within an hour"
    return (f"{TEAM_NAMES[team]} on call ({team}@example.org). Not recovered {within}: the team lead ({lead}) "
            "and the duty manager; a business service down means a major incident.")


def _known_errors_text(ci_ids: list[str], known: list[dict[str, Any]]) -> str:
    related = [p for p in known if set(p["root_cause_in"]) & set(ci_ids)]
    return "; ".join(f"{_known_error_kb(p['id'])} ({p['title']}: {p['workaround']})" for p in related)


def _services_text(ci_id: str, topo: _Topology) -> str:
    return topo.names(topo.upstream_of_class(ci_id, "BusinessService"), limit=10)


def _known_error_article(problem: dict[str, Any]) -> dict[str, Any]:
    whys = " ".join(f"{n}. {why}." for n, why in enumerate(problem["five_whys"], 1))
    return _article(
        _known_error_kb(problem["id"]), f"Known error: {problem['title']}", problem["root_cause_in"],
        ["known-error", problem["category"], *problem["cause_categories"]], [
            ("Symptoms", f"{problem['title']}."),
            ("Root cause", f"{problem['root_cause']}."),
            (f"Analysis ({problem['analysis_method'].replace('_', ' ')})", whys),
            ("Cause categories", ", ".join(problem["cause_categories"]) + "."),
            ("Workaround", f"{problem['workaround']}."),
            ("Permanent fix", f"{problem['solution']}." if problem.get("solution") else "not decided yet; tracked in "
             f"problem {problem['id']}."),
        ])


def _database_runbook(ci: dict[str, Any], topo: _Topology, known: list[dict[str, Any]]) -> dict[str, Any]:
    """Per instance: where it runs, its partner, the applications behind its logical database."""
    engine = ci["attributes"]["engine"]
    guide = ENGINE_GUIDES[engine.split()[0]]
    group = topo.groups_of(ci["id"])[0]
    partners = [m for m in topo.members(group) if m != ci["id"]]
    server, storage = topo.needs(ci["id"], "RUNS_ON")[0], topo.needs(ci["id"], "STORED_ON")[0]
    apps = topo.select(topo.needed_by(group), "Application")
    role = "replica" if ci["id"].endswith("-replica") else "primary"
    redundancy = (f"{role} of {topo.name(group)}; partner {topo.names(partners)} (failover: KB-FO-{group})"
                  if partners else f"single instance of {topo.name(group)}: no failover, restore from backup "
                  f"(KB-RS-{group})")
    return _article(f"KB-RB-{ci['id']}", f"Runbook: {ci['name']}", [ci["id"]],
                    ["runbook", "database", _tag(engine.split()[0])], [
        ("Instance", f"{engine}, {ci['attributes']['size_gb']} GB, on {topo.name(server)} with storage "
                     f"{topo.name(storage)}; RTO {ci['rto_minutes']} min, RPO {ci['rpo_minutes']} min."),
        ("Redundancy", redundancy + "."),
        ("Used by", f"{topo.names(apps)} (business services: {_services_text(group, topo)})."),
        ("Symptoms", "slow queries or timeouts in those applications, connection pool exhaustion, "
                     "replication lag alarms, disk-full alarms."),
        ("Checks", guide["checks"] + "."),
        ("Steps", f"Kill idle sessions before raising connection limits; restart the instance only after the "
                  f"owners of {topo.names(apps)} have stopped their writers; the monthly database patch window "
                  "is for planned restarts."),
        ("Known errors", _known_errors_text([ci["id"], group], known)),
        ("Escalation", _escalation_text(ci["owner"], ci.get("rto_minutes"))),
    ])


def _application_needs(app_id: str, topo: _Topology) -> dict[str, list[str]]:
    """What an application needs, sorted into tiers, databases, applications, platform and suppliers."""
    needs: dict[str, list[str]] = {"tiers": [], "databases": [], "applications": [], "platform": [],
                                   "soft": [], "suppliers": []}
    for target in topo.needs(app_id, "DEPENDS_ON", strength="hard"):
        kind = topo.ci[target]["class"]
        member = topo.member_class(target)
        if member in ("VirtualMachine", "Container"):
            needs["tiers"].append(target)
        elif member == "Database":
            needs["databases"].append(target)
        elif kind == "Application":
            needs["applications"].append(target)
        elif kind == "CloudResource":
            needs["suppliers"].append(target)
        else:
            needs["platform"].append(target)
    needs["soft"] = topo.needs(app_id, "DEPENDS_ON", strength="soft")
    return needs


def _tier_text(group_id: str, topo: _Topology) -> str:
    group = topo.ci[group_id]
    return f"{group['name']} ({len(topo.members(group_id))} members, at least {group['min_members']} needed)"


def _application_runbook(ci: dict[str, Any], topo: _Topology, known: list[dict[str, Any]]) -> dict[str, Any]:
    needs = _application_needs(ci["id"], topo)
    attrs = ci["attributes"]
    restart = []
    if any(topo.member_class(t) == "VirtualMachine" for t in needs["tiers"]):
        restart.append("restart VM tier members one at a time, never below the pool minimum, app tier before web tier")
    if any(topo.member_class(t) == "Container" for t in needs["tiers"]):
        slug = ci["id"].removeprefix("app-")
        restart.append(f"pods: kubectl rollout restart deployment/{slug} and watch kubectl rollout status")
    return _article(f"KB-RB-{ci['id']}", f"Runbook: {ci['name']}", [ci["id"]], ["runbook", "application",
                    _tag(attrs["language"])], [
        ("Application", f"{ci['name']} {attrs['version']} ({attrs['language']}), serving "
                        f"{_services_text(ci['id'], topo)}; criticality {ci['criticality']}, RTO "
                        f"{ci['rto_minutes']} min, RPO {ci['rpo_minutes']} min."),
        ("Runs on", "; ".join(_tier_text(t, topo) for t in needs["tiers"]) or "no own tier"),
        ("Needs", f"databases {topo.names(needs['databases'])}; applications {topo.names(needs['applications'])}; "
                  f"platform {topo.names(needs['platform'])}; suppliers {topo.names(needs['suppliers'])}; "
                  f"degrades without {topo.names(needs['soft'])}."),
        ("Used by", topo.names(topo.select(topo.needed_by(ci["id"]), "Application", "BusinessService"))),
        ("Checks", "synthetic transaction and error rate in Monitoring; healthy members of every tier; "
                   f"connections to {topo.names(needs['databases'])}; recent deployments in the release calendar."),
        ("Restart order", "confirm databases and platform services are healthy first; " + "; ".join(restart)
         + "; after a failed deployment roll back instead of restarting."),
        ("Known errors", _known_errors_text([ci["id"]], known)),
        ("Escalation", _escalation_text(ci["owner"], ci.get("rto_minutes"))),
    ])


def _technical_service_runbook(ci: dict[str, Any], topo: _Topology, known: list[dict[str, Any]]) -> dict[str, Any]:
    backing = topo.needs(ci["id"])
    members = [m for group in backing for m in topo.members(group)]
    users = topo.select(topo.needed_by(ci["id"]), "Application")
    hard_users = [u for u in users if (("DEPENDS_ON", ci["id"], "hard") in topo.out.get(u, ()))]
    return _article(f"KB-RB-{ci['id']}", f"Runbook: {ci['name']}", [ci["id"]],
                    ["runbook", "technical-service", ci["id"].removeprefix("ts-")], [
        ("Service", f"{ci['name']}, criticality {ci['criticality']}, RTO {ci['rto_minutes']} min; "
                    f"runs on {topo.names(backing)} ({topo.names(members)})."),
        ("Used by", f"{len(users)} applications; these stop without it: {topo.names(hard_users, limit=10)}; "
                    "the others degrade."),
        ("Checks", TECHNICAL_SERVICE_CHECKS[ci["id"]] + "."),
        ("Steps", "take a failing member out of rotation before restarting it; restart members one at a time; "
                  "check the dependent applications' error rates after each step."),
        ("Known errors", _known_errors_text([ci["id"], *backing], known)),
        ("Escalation", _escalation_text(ci["owner"], ci.get("rto_minutes"))),
    ])


def _database_servers(topo: _Topology) -> list[dict[str, Any]]:
    return [ci for ci in topo.of_class("Server") if ci["attributes"].get("model") in HARDWARE_GUIDES]


def _hardware_runbook(ci: dict[str, Any], topo: _Topology, known: list[dict[str, Any]]) -> dict[str, Any]:
    """Vendor checks and firmware policy for a device, with its pair and what runs through it."""
    attrs = ci["attributes"]
    guide = HARDWARE_GUIDES[attrs["model"]]
    groups = topo.groups_of(ci["id"])
    peers = [m for g in groups for m in topo.members(g) if m != ci["id"]]
    through = [source for target in [ci["id"], *groups]
               for source in topo.needed_by(target, "CONNECTED_VIA", "RUNS_ON", "STORED_ON")]
    site = topo.needs(ci["id"], "LOCATED_IN")
    redundancy = "; ".join(f"member of {topo.name(g)} (at least {topo.ci[g]['min_members']} of "
                           f"{len(topo.members(g))}; failover KB-FO-{g})" for g in groups)
    if peers:
        redundancy += f"; partner {topo.names(peers)}"
    return _article(f"KB-RB-{ci['id']}", f"Runbook: {ci['name']} ({attrs['vendor']} {attrs['model']})", [ci["id"]],
                    ["runbook", "hardware", "firmware", _tag(ci["class"]), _tag(attrs["vendor"])], [
        ("Device", f"{attrs['vendor']} {attrs['model']}, serial {ci['serial_number']}, "
                   f"{', '.join(ci['ip_addresses'])}, in {topo.names(site)}."),
        ("Redundancy", redundancy or "no partner device: what runs on it relies on its own failover "
                                     "(see the failover articles of those CIs)"),
        ("Runs through it", f"{topo.names(through, limit=10)}; business services behind it: "
                            f"{_services_text(ci['id'], topo)}."),
        ("Symptoms", guide["symptoms"] + "."),
        ("Checks", guide["checks"] + "."),
        ("Firmware", guide["firmware"] + "."),
        ("Steps", guide["steps"] + "."),
        ("Known errors", _known_errors_text([ci["id"], *groups], known)),
        ("Escalation", f"{_escalation_text(ci['owner'], ci.get('rto_minutes'))} Hardware faults: "
                       f"{guide['vendor']} with serial {ci['serial_number']}."),
    ])


def _middleware_runbook(ci: dict[str, Any], topo: _Topology, known: list[dict[str, Any]]) -> dict[str, Any]:
    attrs = ci["attributes"]
    guide = MIDDLEWARE_GUIDES[attrs["product"]]
    groups = topo.groups_of(ci["id"])
    group = topo.ci[groups[0]] if groups else None
    steps = guide["steps"].format(min_members=group["min_members"] if group else 1,
                                  count=len(topo.members(group["id"])) if group else 1)
    users = topo.upstream_of_class(ci["id"], "Application", "TechnicalService")
    peers = [m for m in topo.members(group["id"]) if m != ci["id"]] if group else []
    return _article(f"KB-RB-{ci['id']}", f"Runbook: {ci['name']}", [ci["id"]],
                    ["runbook", "middleware", _tag(attrs["product"].split()[-1])], [
        ("Node", f"{attrs['product']} {attrs['version']} on {topo.names(topo.needs(ci['id'], 'HOSTED_ON'))}"
                 + (f", member of {group['name']} with {topo.names(peers)}"
                    if group else ", a single instance") + "."),
        ("Used by", f"{topo.names(users, limit=10)}; business services: {_services_text(ci['id'], topo)}."),
        ("Checks", guide["checks"] + "."),
        ("Steps", steps + "."),
        ("Known errors", _known_errors_text([ci["id"], *groups], known)),
        ("Escalation", _escalation_text(ci["owner"], ci.get("rto_minutes"))),
    ])


def _failover_groups(topo: _Topology) -> list[dict[str, Any]]:
    """Groups with a real failover to describe: two or more members, and not an application's
    own VM or container tier (those are in the application's runbook)."""
    groups = []
    for group in topo.of_class("Cluster", "RedundancyGroup"):
        members = topo.members(group["id"])
        app_tier = topo.member_class(group["id"]) in ("VirtualMachine", "Container") and \
            topo.select(topo.needed_by(group["id"]), "Application")
        if len(members) >= 2 and not app_tier:
            groups.append(group)
    return groups


def _failover_kind(group: dict[str, Any], topo: _Topology) -> str:
    members = topo.members(group["id"])
    attrs = {**topo.ci[members[0]].get("attributes", {}), **group.get("attributes", {})}
    label = attrs.get("product") or attrs.get("distribution") or ""
    by_product = FAILOVER_KIND_BY_PRODUCT.get(label.split()[0]) if label else None
    return by_product or FAILOVER_KIND_BY_MEMBER[topo.ci[members[0]]["class"]]


def _failover_article(group: dict[str, Any], topo: _Topology) -> dict[str, Any]:
    """How a group fails over, naming its members and what needs it."""
    members = topo.members(group["id"])
    kind = _failover_kind(group, topo)
    procedure = FAILOVER_GUIDES[kind]
    if kind == "database":
        engine = topo.ci[members[0]]["attributes"]["engine"]
        guide = ENGINE_GUIDES[engine.split()[0]]
        replica = members[-1]
        procedure += (f" {engine}. Planned: {guide['switchover'].format(replica=replica)}. Unplanned: "
                      f"{guide['failover'].format(replica=replica)}; RPO {group['rpo_minutes']} min. "
                      "Applications reconnect through the database service name; restart their connection pools "
                      "if they keep stale connections.")
    dependents = [d for d in topo.needed_by(group["id"]) if d not in members]
    sites = sorted({site for m in members for site in topo.needs(m, "LOCATED_IN")})
    return _article(f"KB-FO-{group['id']}", f"Failover: {group['name']}", [group["id"], *members],
                    ["failover", "redundancy", kind], [
        ("Members", f"{topo.names(members, limit=12)}; at least {group['min_members']} of {len(members)} must "
                    f"run{(' (sites: ' + topo.names(sites) + ')') if sites else ''}."),
        ("Needed by", f"{topo.names(dependents, limit=10)}; business services: {_services_text(group['id'], topo)}."),
        ("Procedure", procedure),
        ("Before and after", "announce planned failovers in the change; check every member is healthy before "
                             "and after; a group running on its last member is a priority 2 incident."),
        ("Escalation", _escalation_text(group["owner"], group.get("rto_minutes"))),
    ])


def _service_row(service_id: str) -> tuple[Any, ...]:
    return next(row for row in BUSINESS_SERVICES if row[0] == service_id)


def _major_incident_playbook(svc: dict[str, Any], topo: _Topology) -> dict[str, Any]:
    """What to check, in which order, and whom to call when a business service is down."""
    _id, _name, crit, rto, rpo, target, response, resolution, team, _apps = _service_row(svc["id"])
    apps = topo.select(topo.needs(svc["id"]), "Application")
    needs = [_application_needs(app, topo) for app in apps]
    databases = list(dict.fromkeys(d for n in needs for d in n["databases"]))
    platform = list(dict.fromkeys(p for n in needs for p in n["platform"]))
    suppliers = list(dict.fromkeys(s for n in needs for s in n["suppliers"]))
    other_apps = list(dict.fromkeys(a for n in needs for a in n["applications"] if a not in apps))
    dr_plans = topo.select(topo.needed_by(svc["id"]), "Document")
    single = [d for d in databases if len(topo.members(d)) == 1]
    cadence = 30 if crit == 1 else 60
    return _article(f"KB-MI-{svc['id']}", f"Major incident playbook: {svc['name']}", [svc["id"], *apps, *databases],
                    ["major-incident", "playbook", f"criticality-{crit}", svc["id"].removeprefix("svc-")], [
        ("Service", f"{svc['name']}, criticality {crit}; RTO {rto} min, RPO {rpo} min, availability target "
                    f"{target * 100:g} %; SLA response {response} min, resolution {resolution} min."),
        ("Declare when", f"{svc['name']} is down or unusable for a whole user group, or a fix will not meet the "
                         f"{resolution}-minute resolution target."),
        ("Needs", f"applications {topo.names(apps)}; databases {topo.names(databases)}; other applications "
                  f"{topo.names(other_apps)}; platform {topo.names(platform)}; suppliers {topo.names(suppliers)}."),
        ("Triage order", "1. data centre, network and firewall alarms (KB-DC-dc-fra, KB-DC-dc-ams); 2. databases "
                         f"({', '.join(f'KB-RB-{d}-primary' for d in databases)}); 3. platform services; "
                         f"4. application tiers ({', '.join(f'KB-RB-{a}' for a in apps)}); 5. suppliers."),
        ("Single points of failure", f"{topo.names(single)} (single-instance databases: restore, do not fail over)."
         if single else "none among the databases; all fail over across data centres."),
        ("Roles", f"incident manager: the duty manager; technical lead: {TEAM_NAMES[team]}; status updates to "
                  f"the service desk and the business every {cadence} minutes."),
        ("Recovery", f"not restored within {rto // 2} minutes: prepare the disaster recovery plan "
                     f"({topo.names(dr_plans)}); invoke it before {rto} minutes are gone."),
        ("Escalation", _escalation_text(team, rto)),
    ])


def _supplier_article(ci: dict[str, Any], topo: _Topology) -> dict[str, Any]:
    supplier, channel, hours, fallback = SUPPLIERS[ci["id"]]
    users = topo.needed_by(ci["id"])
    lead = f"lead.{ci['owner'].removeprefix('team-')}@example.org"
    return _article(f"KB-SUP-{ci['id']}", f"Supplier escalation: {ci['name']}", [ci["id"], *users],
                    ["supplier", "escalation", "contact", ci["id"].removeprefix("cloud-")], [
        ("Supplier", f"{supplier}, contract {ci['attributes']['contract']}; availability commitment "
                     f"{ci['availability'] * 100:g} %."),
        ("Used by", f"{topo.names(users)}; business services: {_services_text(ci['id'], topo)}."),
        ("Before calling", "check the supplier's status page and our own side first (DNS, firewall egress, "
                           "certificates, API credentials)."),
        ("Contact", f"{channel}; support hours and first response: {hours}; quote the contract number."),
        ("Fallback", fallback + "."),
        ("Escalation", f"{TEAM_NAMES[ci['owner']]} owns the contract ({ci['owner']}@example.org); no answer "
                       f"within the committed response time: the team lead ({lead}) calls the supplier's "
                       "account manager."),
    ])


def _restore_article(group: dict[str, Any], topo: _Topology) -> dict[str, Any]:
    """Restore from backup, with the restore time weighed against the RTO."""
    members = topo.members(group["id"])
    primary = topo.ci[members[0]]
    engine, size = primary["attributes"]["engine"], primary["attributes"]["size_gb"]
    guide = ENGINE_GUIDES[engine.split()[0]]
    minutes = round(size / RESTORE_GB_PER_HOUR * 60)
    rto = group["rto_minutes"]
    verdict = (f"within the RTO of {rto} min" if minutes <= rto else
               f"longer than the RTO of {rto} min: start at once and tell the service owners")
    apps = topo.select(topo.needed_by(group["id"]), "Application")
    when = ("only for logical corruption or loss of both instances; otherwise fail over "
            f"(KB-FO-{group['id']})" if len(members) > 1 else "any loss of the single instance")
    return _article(f"KB-RS-{group['id']}", f"Restore: {group['name']}", [group["id"], *members],
                    ["restore", "backup", "database", _tag(engine.split()[0])], [
        ("Database", f"{engine}, {size} GB; RPO {group['rpo_minutes']} min; backups by the Backup service, "
                     "copied nightly to the Off-site backup bucket."),
        ("When", when + "."),
        ("Duration", f"about {minutes} min at {RESTORE_GB_PER_HOUR} GB/h, {verdict}."),
        ("Steps", f"1. Stop the writers: {topo.names(apps)}. 2. {guide['restore'].format(db=group['id'])}. "
                  "3. Check row counts and the latest business timestamps with the application owners. "
                  "4. Start the applications" + ("; rebuild the replica from the restored primary" if len(members) > 1
                                                    else "")),
        ("Escalation", _escalation_text(group["owner"], rto)),
    ])


def _site_article(dc: dict[str, Any], topo: _Topology) -> dict[str, Any]:
    """Loss of a whole data centre: what is there, which databases move, which lose their
    replica and which have no second copy."""
    located = topo.needed_by(dc["id"], "LOCATED_IN")
    servers = set(topo.select(located, "Server"))
    instances = [ci["id"] for ci in topo.of_class("Database") if set(topo.needs(ci["id"], "RUNS_ON")) & servers]
    placed = [(topo.groups_of(i)[0], i) for i in instances]
    moving = [g for g, i in placed if len(topo.members(g)) > 1 and topo.members(g)[0] == i]
    unprotected = [g for g, i in placed if len(topo.members(g)) > 1 and topo.members(g)[0] != i]
    stranded = [g for g, _ in placed if len(topo.members(g)) == 1]
    clusters = [g["id"] for g in topo.of_class("Cluster") if set(topo.members(g["id"])) & servers]
    return _article(f"KB-DC-{dc['id']}", f"Site outage: {dc['name']}", [dc["id"], *clusters],
                    ["site-outage", "continuity", "datacenter", dc["id"].removeprefix("dc-")], [
        ("Site", f"{dc['name']} ({dc['attributes']['city']}, tier {dc['attributes']['tier']}): {len(located)} "
                 f"devices and servers, clusters {topo.names(clusters)}."),
        ("Confirm", "call the facility desk (power, cooling, fire alarm); check core routers and firewalls of "
                    "the site from the other data centre."),
        ("Databases to fail over", topo.names(moving) + (" (" + ", ".join(f"KB-FO-{g}" for g in moving) + ")"
                                                          if moving else "")),
        ("Databases losing their replica", (topo.names(unprotected) + ": they keep running unprotected; rebuild "
                                            "the replicas when the site is back") if unprotected else "none"),
        ("Databases without a second copy", (topo.names(stranded) + ": restore in the other site (" +
                                             ", ".join(f"KB-RS-{g}" for g in stranded) + ")") if stranded else "none"),
        ("Steps", "declare a major incident; " + ("fail over the databases above; " if moving else "")
         + "move load-balancer virtual addresses and DNS entries to the other site; restart VMs there in "
           "criticality order; follow the services' disaster recovery plans."),
        ("Escalation", _escalation_text(dc["owner"], 60)),
    ])


def _howto_article(slug: str, title: str, about: tuple[str, ...], tags: tuple[str, ...], steps: str) -> dict[str, Any]:
    return _article(f"KB-HT-{slug}", title, list(about), list(tags), [("Steps", steps)])
