"""A synthetic NetBox export for timing the importer: one JSON file per endpoint, paged at 1,000
objects as the REST API pages them (`devices.json`, `devices-2.json`, ...), in NetBox 4.x shapes.
Shaped like a leaf-spine estate: per site two spines behind two firewalls; per rack two leaves
uplinked to both spines and sixteen dual-homed servers, four of them a KVM cluster hosting
twenty VMs. A few servers have a role the importer does not know, and a few cables are
planned or end on a circuit, as in a real NetBox."""

from __future__ import annotations

import ipaddress
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

API = "https://netbox.example.com/api"
PAGE_SIZE = 1000  # NetBox's default MAX_PAGE_SIZE
SERVERS_PER_RACK = 16
HYPERVISORS_PER_RACK = 4
VMS_PER_CLUSTER = 20
RACKS_PER_SITE = 400
SERVER_ROLES = (("server", 90), ("nas", 5), ("compute", 4), ("console-server", 1))  # the last is not mapped
SERVER_MODELS = (("HPE", "ProLiant DL380 Gen10"), ("Dell", "PowerEdge R750"), ("Lenovo", "ThinkSystem SR650 V2"))
FIRST_SERVER_ADDRESS = int(ipaddress.ip_address("10.0.0.10"))
FIRST_VM_ADDRESS = int(ipaddress.ip_address("172.16.0.10"))


def nested(path: str, netbox_id: int, name: str, **fields: Any) -> dict[str, Any]:
    """A reference as the API nests it: `{"id", "url", "display", "name"}`."""
    return {"id": netbox_id, "url": f"{API}/{path}/{netbox_id}/", "display": name, "name": name, **fields}


def choice(value: str) -> dict[str, str]:
    return {"value": value, "label": value.replace("-", " ").capitalize()}


@dataclass
class _Export:
    rng: random.Random
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {
        e: [] for e in ("sites", "racks", "devices", "clusters", "virtual-machines", "interfaces", "cables",
                        "ip-addresses")})
    rows: int = 0  # CIs plus the edges the importer makes of them

    def add(self, endpoint: str, obj: dict[str, Any], rows: int = 0) -> dict[str, Any]:
        netbox_id = len(self.objects[endpoint]) + 1
        obj = {"id": netbox_id, "url": f"{API}/{_path(endpoint)}/{netbox_id}/", **obj}
        self.objects[endpoint].append(obj)
        self.rows += rows
        return obj

    def device(self, name: str, role: str, site: dict[str, Any], rack: dict[str, Any] | None,
               manufacturer: str, model: str, **fields: Any) -> dict[str, Any]:
        """A device and its LOCATED_IN edge (an unmapped role still becomes a CI)."""
        return self.add("devices", {
            "display": name, "name": name,
            "device_type": nested("dcim/device-types", 1, model, manufacturer=nested(
                "dcim/manufacturers", 1, manufacturer, slug=manufacturer.lower()), model=model),
            "role": nested("dcim/device-roles", 1, role.capitalize(), slug=role),
            "tenant": None, "platform": None, "serial": f"{self.rng.getrandbits(40):010X}", "asset_tag": None,
            "site": nested("dcim/sites", site["id"], site["name"], slug=site["slug"]),
            "rack": nested("dcim/racks", rack["id"], rack["name"]) if rack else None,
            "status": choice("active"), "primary_ip4": None, "primary_ip6": None, "cluster": None,
            "tags": [], "custom_fields": {}, **fields,
        }, rows=2)

    def interface(self, device: dict[str, Any], name: str) -> dict[str, Any]:
        return self.add("interfaces", {
            "display": name, "device": nested("dcim/devices", device["id"], device["name"]), "name": name,
            "type": choice("25gbase-x-sfp28"), "enabled": True, "mgmt_only": False,
        })

    def cable(self, a: dict[str, Any], b: dict[str, Any], status: str = "connected") -> None:
        """A cable between two interfaces; a connected one is one edge."""
        def end(interface: dict[str, Any]) -> list[dict[str, Any]]:
            return [{"object_type": "dcim.interface", "object_id": interface["id"], "object": {
                "id": interface["id"], "url": interface["url"], "display": interface["name"],
                "device": interface["device"], "name": interface["name"], "_occupied": True}}]
        self.add("cables", {"a_terminations": end(a), "b_terminations": end(b), "status": choice(status),
                            "type": "dac-passive", "label": "", "tags": []}, rows=1 if status == "connected" else 0)

    def address(self, address: str, dns_name: str, assigned_type: str, assigned: dict[str, Any]) -> dict[str, Any]:
        return self.add("ip-addresses", {
            "display": address, "family": {"value": 4, "label": "IPv4"}, "address": address, "vrf": None,
            "status": choice("active"), "assigned_object_type": assigned_type, "assigned_object_id": assigned["id"],
            "assigned_object": assigned, "dns_name": dns_name, "tags": [],
        })


def _path(endpoint: str) -> str:
    prefix = {"clusters": "virtualization", "virtual-machines": "virtualization", "ip-addresses": "ipam"}
    return f"{prefix.get(endpoint, 'dcim')}/{endpoint}"


def generate(directory: Path, rows: int, seed: int = 7) -> Path:
    """About `rows` rows (CIs plus relationships) in `directory`, the same for the same seed;
    returns the directory, which is what the importer reads."""
    export = _Export(random.Random(seed))
    sites: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    racks = 0
    while export.rows < rows:
        if racks % RACKS_PER_SITE == 0:
            sites.append(_site(export, len(sites) + 1))
        site, spines = sites[-1]
        _rack(export, site, spines, racks)
        racks += 1
    directory.mkdir(parents=True, exist_ok=True)
    for endpoint, objects in export.objects.items():
        _write_pages(directory, endpoint, objects)
    return directory


def _site(export: _Export, n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A site with its two firewalls and two spines, each spine cabled to each firewall."""
    site = export.add("sites", {"display": f"DC{n}", "name": f"DC{n}", "slug": f"dc{n}", "status": choice("active"),
                                "facility": f"Hall {n}", "region": nested("dcim/regions", 1, "Europe", slug="europe"),
                                "physical_address": f"Datacenter Street {n}, Frankfurt"}, rows=1)
    firewalls = [export.device(f"dc{n}-fw-{i:02d}", "firewall", site, None, "Palo Alto Networks", "PA-5220")
                 for i in (1, 2)]
    spines = [export.device(f"dc{n}-spine-{i:02d}", "spine", site, None, "Arista", "DCS-7280CR3-32P4")
              for i in (1, 2)]
    for spine in spines:
        for firewall in firewalls:
            export.cable(export.interface(spine, f"Ethernet32/{firewall['id']}"),
                         export.interface(firewall, f"ethernet1/{spine['id']}"))
    return site, spines


def _rack(export: _Export, site: dict[str, Any], spines: list[dict[str, Any]], n: int) -> None:
    """Two leaves uplinked to both spines; sixteen servers cabled to both leaves; the first four
    a KVM cluster with its VMs."""
    rng = export.rng
    rack = export.add("racks", {"display": f"R{n:04d}", "name": f"R{n:04d}",
                                "site": nested("dcim/sites", site["id"], site["name"], slug=site["slug"])})
    leaves = [export.device(f"{site['slug']}-r{n:04d}-leaf-{i}", "leaf", site, rack, "Arista", "DCS-7050SX3-48YC8")
              for i in (1, 2)]
    for leaf in leaves:
        for spine in spines:
            export.cable(export.interface(leaf, f"Ethernet49/{spine['id']}"),
                         export.interface(spine, f"Ethernet{leaf['id']}/1"))
    cluster = export.add("clusters", {
        "display": f"kvm-{n:04d}", "name": f"kvm-{n:04d}", "type": nested("virtualization/cluster-types", 1, "KVM"),
        "group": None, "status": choice("active"), "scope_type": "dcim.site", "scope_id": site["id"],
        "scope": nested("dcim/sites", site["id"], site["name"], slug=site["slug"]),
    }, rows=2)
    for slot in range(SERVERS_PER_RACK):
        number = n * SERVERS_PER_RACK + slot
        hypervisor = slot < HYPERVISORS_PER_RACK
        role = "hypervisor" if hypervisor else rng.choices(*zip(*SERVER_ROLES))[0]
        manufacturer, model = rng.choice(SERVER_MODELS)
        name = f"srv-{number:06d}"
        server = export.device(name, role, site, rack, manufacturer, model,
                               cluster=nested("virtualization/clusters", cluster["id"], cluster["name"])
                               if hypervisor else None)
        if hypervisor:
            export.rows += 1  # the cluster's HAS_MEMBER edge
        ports = [export.interface(server, f"eth{i}") for i in (0, 1)]
        for port, leaf in zip(ports, leaves):
            status = "planned" if rng.random() < 0.01 else "connected"
            export.cable(port, export.interface(leaf, f"Ethernet{slot + 1}"), status)
        address = export.address(f"{ipaddress.ip_address(FIRST_SERVER_ADDRESS + number)}/24",
                                 f"{name}.{site['slug']}.example.com", "dcim.interface", {
                                     "id": ports[0]["id"], "url": ports[0]["url"], "display": "eth0",
                                     "device": ports[0]["device"], "name": "eth0"})
        server["primary_ip4"] = {"id": address["id"], "url": address["url"], "display": address["address"],
                                 "family": {"value": 4, "label": "IPv4"}, "address": address["address"]}
    for slot in range(VMS_PER_CLUSTER):
        _virtual_machine(export, site, cluster, n * VMS_PER_CLUSTER + slot)


def _virtual_machine(export: _Export, site: dict[str, Any], cluster: dict[str, Any], number: int) -> None:
    """A VM on its cluster (a CI and a HOSTED_ON edge), with its primary address."""
    name = f"vm-{number:06d}"
    vm = export.add("virtual-machines", {
        "display": name, "name": name, "status": choice(export.rng.choices(("active", "staged", "offline"),
                                                                           (94, 3, 3))[0]),
        "site": nested("dcim/sites", site["id"], site["name"], slug=site["slug"]),
        "cluster": nested("virtualization/clusters", cluster["id"], cluster["name"]), "device": None,
        "role": None, "tenant": None, "platform": nested("dcim/platforms", 1, "Ubuntu 22.04", slug="ubuntu-22-04"),
        "vcpus": float(export.rng.choice((2, 4, 8))), "memory": export.rng.choice((4096, 8192, 16384)),
        "disk": 40960, "primary_ip4": None, "primary_ip6": None, "tags": [], "custom_fields": {},
    }, rows=2)
    address = export.address(f"{ipaddress.ip_address(FIRST_VM_ADDRESS + number)}/24", f"{name}.example.com",
                             "virtualization.vminterface", {
                                 "id": vm["id"], "url": f"{API}/virtualization/interfaces/{vm['id']}/",
                                 "display": "ens3", "name": "ens3",
                                 "virtual_machine": nested("virtualization/virtual-machines", vm["id"], name)})
    vm["primary_ip4"] = {"id": address["id"], "url": address["url"], "display": address["address"],
                         "family": {"value": 4, "label": "IPv4"}, "address": address["address"]}


def _write_pages(directory: Path, endpoint: str, objects: list[dict[str, Any]]) -> None:
    """`endpoint.json`, `endpoint-2.json`, ...: the pages a client that follows `next` saves."""
    pages = [objects[start:start + PAGE_SIZE] for start in range(0, len(objects), PAGE_SIZE)] or [[]]
    url = f"{API}/{_path(endpoint)}/?limit={PAGE_SIZE}"
    for number, results in enumerate(pages, start=1):
        page = {
            "count": len(objects),
            "next": f"{url}&offset={number * PAGE_SIZE}" if number < len(pages) else None,
            "previous": (f"{url}&offset={(number - 2) * PAGE_SIZE}" if number > 2 else url) if number > 1 else None,
            "results": results,
        }
        name = f"{endpoint}.json" if number == 1 else f"{endpoint}-{number}.json"
        (directory / name).write_text(json.dumps(page, separators=(",", ":")), encoding="utf-8")
