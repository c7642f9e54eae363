"""NetBox's view of the estate as CIs: sites are data centres, devices are classed by their
role, virtual machines and clusters keep their hosting, and the cables between device
interfaces become the network path. Pure: raw API objects in, a `SourceBatch` out.

Keys are NetBox's content type and numeric id (`dcim.device:12`), stable across exports."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cmdb_graph.model import CIClass, CIStatus, RelType, Strength
from loaders.native.get import Location
from loaders.netbox.get import ENDPOINTS, RawNetBox, RawObject
from loaders.sync.model import DANGLING, SKIPPED, UNKNOWN_CLASS, UNKNOWN_VALUE, SourceBatch, safe_id

SITE = "dcim.site"
DEVICE = "dcim.device"
VIRTUAL_MACHINE = "virtualization.virtualmachine"
CLUSTER = "virtualization.cluster"

# Device role slug -> CI class. NetBox roles are free-form; these are the common slugs.
ROLE_CLASSES: dict[str, CIClass] = {
    "server": CIClass.SERVER,
    "compute": CIClass.SERVER,
    "hypervisor": CIClass.SERVER,
    "host": CIClass.SERVER,
    "switch": CIClass.NETWORK_DEVICE,
    "access-switch": CIClass.NETWORK_DEVICE,
    "leaf": CIClass.NETWORK_DEVICE,
    "distribution": CIClass.NETWORK_DEVICE,
    "distribution-switch": CIClass.NETWORK_DEVICE,
    "core": CIClass.NETWORK_DEVICE,
    "core-switch": CIClass.NETWORK_DEVICE,
    "spine": CIClass.NETWORK_DEVICE,
    "router": CIClass.NETWORK_DEVICE,
    "wan-router": CIClass.NETWORK_DEVICE,
    "firewall": CIClass.FIREWALL,
    "load-balancer": CIClass.LOAD_BALANCER,
    "lb": CIClass.LOAD_BALANCER,
    "storage": CIClass.STORAGE_DEVICE,
    "san": CIClass.STORAGE_DEVICE,
    "nas": CIClass.STORAGE_DEVICE,
}
DEFAULT_CLASS = CIClass.SERVER  # for a role not above, with an UNKNOWN_CLASS finding

# The classes on the network side of a cable.
NETWORK_CLASSES = frozenset({CIClass.NETWORK_DEVICE, CIClass.FIREWALL})

# Tier of each network role: a cable between two network devices points from the lower tier
# to the higher (the access layer reaches the rest of the network through its uplinks).
NETWORK_TIERS: dict[str, int] = {
    "switch": 1,
    "access-switch": 1,
    "leaf": 1,
    "distribution": 2,
    "distribution-switch": 2,
    "core": 2,
    "core-switch": 2,
    "spine": 2,
    "router": 3,
    "wan-router": 3,
    "firewall": 4,
}

# NetBox status (sites, devices, virtual machines, clusters) -> CI status. The NetBox value
# itself is kept as `attributes.netbox_status`, since several share one CI status.
STATUSES: dict[str, CIStatus] = {
    "active": CIStatus.OPERATIONAL,
    "offline": CIStatus.OPERATIONAL,
    "failed": CIStatus.OPERATIONAL,
    "planned": CIStatus.PLANNED,
    "inventory": CIStatus.PLANNED,
    "staged": CIStatus.IMPLEMENTING,
    "staging": CIStatus.IMPLEMENTING,
    "decommissioning": CIStatus.RETIRED,
    "retired": CIStatus.RETIRED,
}
DEFAULT_STATUS = CIStatus.OPERATIONAL  # for a status not above, with an UNKNOWN_VALUE finding

# Cable terminations that carry a device's traffic; a cable with any other end (a circuit,
# a power port or outlet, a front or rear port, a console port) is skipped.
CONNECTING_TERMINATIONS = frozenset({"dcim.interface"})
# Cable statuses that carry no traffic yet.
SKIPPED_CABLE_STATUSES = frozenset({"planned"})

# The interface kinds an IP address can be assigned to, and the field of the nested
# interface that names its owner.
ADDRESS_OWNERS: dict[str, tuple[str, str]] = {
    "dcim.interface": ("device", DEVICE),
    "virtualization.vminterface": ("virtual_machine", VIRTUAL_MACHINE),
}
PRIMARY_IPS = ("primary_ip4", "primary_ip6")


@dataclass(frozen=True)
class Addresses:
    """What the ip-addresses endpoint tells about hosts: the addresses on each device's or
    VM's interfaces (by CI key), and each address and its DNS name by address id."""

    by_owner: dict[str, list[str]] = field(default_factory=dict)
    by_id: dict[int, str] = field(default_factory=dict)
    dns_names: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    """A relationship this export implies, emitted once both ends are known to be CIs."""

    source: str
    target: str
    type: RelType
    location: Location
    field_name: str  # the field naming the other end, for a dangling finding


@dataclass(frozen=True)
class CableEnd:
    key: str
    ci_class: CIClass
    role: str | None


@dataclass(frozen=True)
class Termination:
    """One end of a cable, in either API shape."""

    object_type: str | None
    object_id: int | None
    object: dict[str, Any]
    where: str  # the cable's field for it: `a_terminations[0]`, `termination_b`


def netbox_key(kind: str, netbox_id: int) -> str:
    return f"{kind}:{netbox_id}"


def transform(raw: RawNetBox) -> SourceBatch:
    """CIs first, then the edges between them, so that an edge to something the export does
    not hold is reported instead of emitted."""
    batch = SourceBatch()
    for file in raw.unknown_files:
        batch.report(Location(file, None, "file", None), SKIPPED,
                     f"not a NetBox endpoint this importer reads ({', '.join(ENDPOINTS)})")
    objects = {endpoint: by_id(raw.objects.get(endpoint, []), batch) for endpoint in ENDPOINTS}
    interface_devices = interface_owners(objects["interfaces"], batch)
    addresses = host_addresses(objects["ip-addresses"], interface_devices, batch)

    links: list[Link] = []
    for obj in objects["sites"].values():
        site_ci(obj, batch)
    for obj in objects["clusters"].values():
        links += cluster_ci(obj, batch)
    for obj in objects["devices"].values():
        links += device_ci(obj, addresses, batch)
    for obj in objects["virtual-machines"].values():
        links += virtual_machine_ci(obj, addresses, batch)

    known = {ci.key for ci in batch.cis}
    for link in links:
        missing = [end for end in (link.source, link.target) if end not in known]
        if missing:
            batch.report(link.location, DANGLING, f"{link.field_name}: {missing[0]} is not in the export; "
                                                  f"no {link.type.value} edge")
        else:
            batch.depends(link.source, link.target, link.location, link.type)

    ends = {ci.key: CableEnd(ci.key, ci.ci.ci_class, ci.ci.attributes.get("role"))
            for ci in batch.cis if ci.key.startswith(f"{DEVICE}:")}
    cable_links(objects["cables"].values(), interface_devices, ends, batch)
    return batch


# --- reading objects ---------------------------------------------------------------------


def by_id(objects: list[RawObject], batch: SourceBatch) -> dict[int, RawObject]:
    """An endpoint's objects by NetBox id, in id order. An entry that is not an object or has
    no integer id is an error; so is a second, different object with the same id (an exact
    repeat is what paging through a changing list produces, and is dropped)."""
    found: dict[int, RawObject] = {}
    for obj in objects:
        if not isinstance(obj.data, dict):
            batch.error(obj.location, None, "not an object")
            continue
        netbox_id = ref_id(obj.data)
        if netbox_id is None:
            batch.error(obj.location, "id", "missing or not an integer: every NetBox object has a numeric id")
        elif (first := found.get(netbox_id)) is None:
            found[netbox_id] = obj
        elif first.data != obj.data:
            batch.error(obj.location, "id", f"duplicate id {netbox_id}; first at {first.location}")
    return dict(sorted(found.items()))


def ref_id(value: Any) -> int | None:
    """The id of a nested object (`{"id": 1, "url": ..., "name": ...}`) or a bare id."""
    if type(value) is dict:
        value = value.get("id")
    return value if type(value) is int else None  # not isinstance: True is no id


def nested_object(value: Any) -> dict[str, Any]:
    """A nested object, or an empty one where the export has none."""
    return value if isinstance(value, dict) else {}


def reference(obj: RawObject, field_name: str, batch: SourceBatch) -> int | None:
    """The id a reference field names; None when unset. A value that names nothing is an error."""
    value = obj.data.get(field_name)
    if value is None:
        return None
    netbox_id = ref_id(value)
    if netbox_id is None:
        batch.error(obj.location, field_name, "expected a nested object with an integer id")
    return netbox_id


def name_of(value: Any) -> str | None:
    """The name of a nested object (`display` where it has none), or a plain string."""
    if isinstance(value, dict):
        value = value.get("name") or value.get("display")
    return value if isinstance(value, str) and value else None


def slug_of(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("slug")
    return value.lower() if isinstance(value, str) and value else None


def choice(value: Any) -> str | None:
    """A choice field's value: `{"value": "active", "label": "Active"}`, or the bare value."""
    if isinstance(value, dict):
        value = value.get("value")
    return value if isinstance(value, str) and value else None


def number(value: Any) -> int | float | None:
    """A count or size: NetBox serialises decimals (`vcpus`) as numbers or as text."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if float(value).is_integer() else value


def host_address(text: str) -> str | None:
    """`10.0.0.1/24` -> `10.0.0.1`; None when it is not an IP address."""
    try:
        return str(ipaddress.ip_address(text.split("/", 1)[0].strip()))
    except ValueError:
        return None


def compact(values: dict[str, Any]) -> dict[str, Any]:
    """Attributes without the empty ones."""
    return {name: value for name, value in values.items() if value not in (None, "")}


# --- interfaces and addresses ------------------------------------------------------------


def interface_owners(interfaces: dict[int, RawObject], batch: SourceBatch) -> dict[int, int]:
    """Interface id -> device id, so that a cable end or an address naming only the interface
    still finds its device."""
    owners: dict[int, int] = {}
    for netbox_id, obj in interfaces.items():
        device = reference(obj, "device", batch)
        if device is not None:
            owners[netbox_id] = device
        elif obj.data.get("device") is None:
            batch.error(obj.location, "device", "missing: every interface belongs to a device")
    return owners


def host_addresses(ip_addresses: dict[int, RawObject], interface_devices: dict[int, int],
                   batch: SourceBatch) -> Addresses:
    """Every address without its prefix length, by id and by the host whose interface holds it."""
    addresses = Addresses()
    for netbox_id, obj in ip_addresses.items():
        text = obj.data.get("address")
        if not isinstance(text, str):
            batch.error(obj.location, "address", "missing: every IP address has one")
            continue
        address = host_address(text)
        if address is None:
            batch.report(obj.location, UNKNOWN_VALUE, f"address: {text!r} is not an IP address; skipped")
            continue
        addresses.by_id[netbox_id] = address
        dns_name = obj.data.get("dns_name")
        if isinstance(dns_name, str) and dns_name.strip():
            addresses.dns_names[netbox_id] = dns_name.strip()
        owner = address_owner(obj, interface_devices, batch)
        if owner is not None:
            addresses.by_owner.setdefault(owner, []).append(address)
    return addresses


def address_owner(obj: RawObject, interface_devices: dict[int, int], batch: SourceBatch) -> str | None:
    """The key of the device or VM whose interface holds an address; None when it is not on
    an interface (unassigned, or an FHRP group's virtual address)."""
    owner = ADDRESS_OWNERS.get(obj.data.get("assigned_object_type") or "")
    if owner is None:
        return None
    owner_field, kind = owner
    interface = nested_object(obj.data.get("assigned_object"))
    interface_id = ref_id(obj.data.get("assigned_object_id"))
    if interface_id is None:
        interface_id = ref_id(interface)
    owner_id = ref_id(interface.get(owner_field))
    if owner_id is None and kind == DEVICE and interface_id is not None:
        owner_id = interface_devices.get(interface_id)
    if owner_id is None:
        unknown = "and is not in interfaces.json" if kind == DEVICE else "(VM interfaces are not read)"
        batch.report(obj.location, DANGLING, f"assigned_object: interface {interface_id} names no {owner_field} "
                                             f"{unknown}; address skipped")
        return None
    return netbox_key(kind, owner_id)


def host_identity(obj: RawObject, ci_key: str, addresses: Addresses, batch: SourceBatch) -> dict[str, Any]:
    """`ip_addresses` (the primary addresses and every address on the host's interfaces) and
    `fqdn` (the DNS name of the primary address, IPv4 first)."""
    found = list(addresses.by_owner.get(ci_key, ()))
    fqdn = None
    for field_name in PRIMARY_IPS:
        primary = obj.data.get(field_name)
        if not isinstance(primary, dict):
            continue
        primary_id = ref_id(primary)
        text = primary.get("address")
        address = addresses.by_id.get(primary_id) if primary_id is not None else None
        if address is None and isinstance(text, str):
            address = host_address(text)  # the ip-addresses endpoint was not exported
        if address is None:
            batch.report(obj.location, UNKNOWN_VALUE, f"{field_name}.address: {text!r} is not an IP address; skipped")
            continue
        found.append(address)
        if fqdn is None and primary_id is not None:
            fqdn = addresses.dns_names.get(primary_id)
    return {"ip_addresses": sorted(set(found)), "fqdn": fqdn}


def status(obj: RawObject, batch: SourceBatch) -> tuple[CIStatus, str | None]:
    """The CI status and the NetBox status it came from."""
    value = choice(obj.data.get("status"))
    if value is None:
        return DEFAULT_STATUS, None
    mapped = STATUSES.get(value)
    if mapped is None:
        batch.report(obj.location, UNKNOWN_VALUE,
                     f"status: unknown NetBox status {value!r}; taken as {DEFAULT_STATUS.value}")
        return DEFAULT_STATUS, value
    return mapped, value


# --- CIs ---------------------------------------------------------------------------------


def site_ci(obj: RawObject, batch: SourceBatch) -> None:
    data = obj.data
    ci_key = netbox_key(SITE, data["id"])
    ci_status, netbox_status = status(obj, batch)
    batch.add_ci(ci_key, {
        "id": safe_id(ci_key), "class": CIClass.DATACENTER.value, "name": name_of(data) or "",
        "status": ci_status.value,
        "attributes": compact({
            "slug": slug_of(data), "facility": data.get("facility"), "region": name_of(data.get("region")),
            "physical_address": data.get("physical_address"), "tenant": name_of(data.get("tenant")),
            "netbox_status": netbox_status,
        }),
    }, obj.location)


def cluster_ci(obj: RawObject, batch: SourceBatch) -> list[Link]:
    data = obj.data
    ci_key = netbox_key(CLUSTER, data["id"])
    ci_status, netbox_status = status(obj, batch)
    site_field, site = cluster_site(obj, batch)
    batch.add_ci(ci_key, {
        "id": safe_id(ci_key), "class": CIClass.CLUSTER.value, "name": name_of(data) or "",
        "status": ci_status.value, "min_members": 1,
        "attributes": compact({
            "type": name_of(data.get("type")), "group": name_of(data.get("group")),
            "site": name_of(data.get(site_field)) if site is not None else None,
            "tenant": name_of(data.get("tenant")), "netbox_status": netbox_status,
        }),
    }, obj.location)
    if site is None:
        return []
    return [Link(ci_key, netbox_key(SITE, site), RelType.LOCATED_IN, obj.location, site_field)]


def cluster_site(obj: RawObject, batch: SourceBatch) -> tuple[str, int | None]:
    """The field naming a cluster's site, and the site's id: `site` up to NetBox 4.1, `scope`
    with `scope_type` `dcim.site` from 4.2 (a region, site group or location scope names none)."""
    if "scope_type" in obj.data:
        if obj.data["scope_type"] != SITE:
            return "scope", None
        site = reference(obj, "scope", batch)
        return "scope", site if site is not None else ref_id(obj.data.get("scope_id"))
    return "site", reference(obj, "site", batch)


def device_ci(obj: RawObject, addresses: Addresses, batch: SourceBatch) -> list[Link]:
    data = obj.data
    ci_key = netbox_key(DEVICE, data["id"])
    role_field = "device_role" if data.get("role") is None and "device_role" in data else "role"  # 3.x; 4.x
    role = slug_of(data.get(role_field))
    ci_class = ROLE_CLASSES.get(role or "")
    if ci_class is None:
        unknown = f"unknown device role {role!r}" if role else "no device role"
        batch.report(obj.location, UNKNOWN_CLASS, f"{role_field}: {unknown}; taken as {DEFAULT_CLASS.value}")
        ci_class = DEFAULT_CLASS
    ci_status, netbox_status = status(obj, batch)
    device_type = nested_object(data.get("device_type"))
    site = reference(obj, "site", batch)
    cluster = reference(obj, "cluster", batch)
    batch.add_ci(ci_key, {
        "id": safe_id(ci_key), "class": ci_class.value, "name": name_of(data) or "",
        "status": ci_status.value, "serial_number": data.get("serial") or None,
        **host_identity(obj, ci_key, addresses, batch),
        "attributes": compact({
            "role": role, "manufacturer": name_of(device_type.get("manufacturer")),
            "model": device_type.get("model"), "platform": name_of(data.get("platform")),
            "tenant": name_of(data.get("tenant")), "site": name_of(data.get("site")),
            "rack": name_of(data.get("rack")), "cluster": name_of(data.get("cluster")),
            "asset_tag": data.get("asset_tag"), "netbox_status": netbox_status,
        }),
    }, obj.location)
    links = []
    if site is not None:
        links.append(Link(ci_key, netbox_key(SITE, site), RelType.LOCATED_IN, obj.location, "site"))
    if cluster is not None:
        links.append(Link(netbox_key(CLUSTER, cluster), ci_key, RelType.HAS_MEMBER, obj.location, "cluster"))
    return links


def virtual_machine_ci(obj: RawObject, addresses: Addresses, batch: SourceBatch) -> list[Link]:
    data = obj.data
    ci_key = netbox_key(VIRTUAL_MACHINE, data["id"])
    ci_status, netbox_status = status(obj, batch)
    cluster = reference(obj, "cluster", batch)
    batch.add_ci(ci_key, {
        "id": safe_id(ci_key), "class": CIClass.VIRTUAL_MACHINE.value, "name": name_of(data) or "",
        "status": ci_status.value,
        **host_identity(obj, ci_key, addresses, batch),
        "attributes": compact({
            "role": slug_of(data.get("role")), "platform": name_of(data.get("platform")),
            "tenant": name_of(data.get("tenant")), "site": name_of(data.get("site")),
            "cluster": name_of(data.get("cluster")), "vcpus": number(data.get("vcpus")),
            "memory": number(data.get("memory")), "disk": number(data.get("disk")),
            "netbox_status": netbox_status,
        }),
    }, obj.location)
    if cluster is None:
        return []
    return [Link(ci_key, netbox_key(CLUSTER, cluster), RelType.HOSTED_ON, obj.location, "cluster")]


# --- cables ------------------------------------------------------------------------------


def cable_links(cables: Iterable[RawObject], interface_devices: dict[int, int], ends: dict[str, CableEnd],
                batch: SourceBatch) -> None:
    """One CONNECTED_VIA edge per pair of devices joined by at least one usable cable."""
    joined: set[frozenset[str]] = set()
    for obj in cables:
        sides = cable_sides(obj, batch)
        if sides is None:
            continue
        devices = [cable_side_devices(obj, side, interface_devices, ends, batch) for side in sides]
        if any(side is None for side in devices):
            continue
        for a in devices[0]:
            for b in devices[1]:
                pair = frozenset((a.key, b.key))
                if a.key == b.key or pair in joined:
                    continue
                joined.add(pair)
                dependent, needed, strength = cable_direction(a, b)
                batch.depends(dependent.key, needed.key, obj.location, RelType.CONNECTED_VIA, strength)


def cable_direction(a: CableEnd, b: CableEnd) -> tuple[CableEnd, CableEnd, Strength]:
    """(dependent end, the end it needs, strength) of a cable between devices `a` and `b`.

    A host (server, storage, load balancer) needs the network device it is cabled to. Between
    two network devices the lower tier needs the higher, softly (uplinks come in pairs); equal
    tiers go from the smaller key. Between two hosts nothing says who needs whom: soft, a to b."""
    a_network, b_network = a.ci_class in NETWORK_CLASSES, b.ci_class in NETWORK_CLASSES
    if a_network != b_network:
        return (b, a, Strength.HARD) if a_network else (a, b, Strength.HARD)
    if not a_network:
        return a, b, Strength.SOFT
    lower, higher = sorted((a, b), key=lambda end: (NETWORK_TIERS[end.role or ""], end.key))
    return lower, higher, Strength.SOFT


def cable_sides(obj: RawObject, batch: SourceBatch) -> tuple[list[Termination], list[Termination]] | None:
    """The A and B terminations of a cable that joins device interfaces; None (with a finding
    or an error) for one that cannot join two devices."""
    data = obj.data
    if "a_terminations" in data or "b_terminations" in data:  # NetBox 3.3 and later
        a_side, b_side = terminations(obj, "a_terminations", batch), terminations(obj, "b_terminations", batch)
        if a_side is None or b_side is None:
            return None
        sides = (a_side, b_side)
    elif "termination_a_type" in data or "termination_b_type" in data:  # before 3.3
        sides = ([legacy_termination(data, "a")], [legacy_termination(data, "b")])
    else:
        batch.error(obj.location, "a_terminations", "missing: a cable has a_terminations and b_terminations "
                                                    "(or termination_a and termination_b before NetBox 3.3)")
        return None
    cable_status = choice(data.get("status"))
    if cable_status in SKIPPED_CABLE_STATUSES:
        batch.report(obj.location, SKIPPED, f"status: a {cable_status} cable connects nothing yet")
        return None
    other = next((end for side in sides for end in side if end.object_type not in CONNECTING_TERMINATIONS), None)
    if other is not None:
        batch.report(obj.location, SKIPPED, f"{other.where}: ends on {other.object_type!r}, not on a device "
                                            f"interface; no network edge")
        return None
    if not sides[0] or not sides[1]:
        empty = "a_terminations" if not sides[0] else "b_terminations"
        batch.report(obj.location, SKIPPED, f"{empty}: the cable has no end here; no network edge")
        return None
    return sides


def terminations(obj: RawObject, field_name: str, batch: SourceBatch) -> list[Termination] | None:
    value = obj.data.get(field_name) or []
    if type(value) is not list or any(type(end) is not dict for end in value):
        batch.error(obj.location, field_name, "expected a list of terminations")
        return None
    return [Termination(end.get("object_type"), ref_id(end.get("object_id")), nested_object(end.get("object")),
                        f"{field_name}[{index}]")
            for index, end in enumerate(value)]


def legacy_termination(data: dict[str, Any], side: str) -> Termination:
    """One end in the shape before NetBox 3.3: `termination_a_type`, `termination_a_id`,
    `termination_a` (the nested object)."""
    nested = nested_object(data.get(f"termination_{side}"))
    object_id = ref_id(data.get(f"termination_{side}_id"))
    if object_id is None:
        object_id = ref_id(nested)
    return Termination(data.get(f"termination_{side}_type"), object_id, nested, f"termination_{side}")


def cable_side_devices(obj: RawObject, side: list[Termination], interface_devices: dict[int, int],
                       ends: dict[str, CableEnd], batch: SourceBatch) -> list[CableEnd] | None:
    """The devices on one side of a cable: from the nested interface's `device`, else from
    interfaces.json. None, with a DANGLING finding, when one of them is not a known device."""
    devices: list[CableEnd] = []
    for end in side:
        device = ref_id(end.object.get("device"))
        if device is None and end.object_id is not None:
            device = interface_devices.get(end.object_id)
        if device is None:
            batch.report(obj.location, DANGLING, f"{end.where}: interface {end.object_id} names no device and is "
                                                 f"not in interfaces.json; no network edge")
            return None
        cable_end = ends.get(netbox_key(DEVICE, device))
        if cable_end is None:
            batch.report(obj.location, DANGLING, f"{end.where}: {netbox_key(DEVICE, device)} is not in the export; "
                                                 f"no network edge")
            return None
        if cable_end not in devices:
            devices.append(cable_end)
    return devices
