"""Which stored CI each item of a source is, and what the CI holds once several sources
describe it. Pure: the load step reads the stored identities and passes them in.

Identification, for each item, in this order:
1. the CI that already holds this source's key in `external_ids[<source name>]`;
2. with `keys_are_ids` (the native CSV pair), the CI whose id is the key;
3. the CIs of the same class that share an identifying value (the rules below, per class),
   leaving out CIs another item of this run already claims. One candidate: a match. Two or
   more, or two items wanting the same CI: ambiguous, reported, and the item is held back.
   A value shared with a CI of another class is reported, never merged.
4. otherwise a new CI, with the id `<source name>:<key>` (or the key, with `keys_are_ids`).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cmdb_graph.model import CI, CIClass, CIStatus
from loaders.sync.model import AMBIGUOUS, Finding, SourceCI, safe_id

HARDWARE = (CIClass.SERVER, CIClass.NETWORK_DEVICE, CIClass.LOAD_BALANCER, CIClass.FIREWALL, CIClass.STORAGE_DEVICE)

# Identifying values per class, strongest first. A VM's serial is its hypervisor's UUID
# format and too often cloned with templates; software is known by its FQDN at most; a data
# centre by its name. Other classes are known only by the source's own key.
IDENTIFICATION_RULES: dict[CIClass, tuple[str, ...]] = {
    **{ci_class: ("serial_number", "fqdn", "ip_addresses") for ci_class in HARDWARE},
    CIClass.VIRTUAL_MACHINE: ("fqdn", "ip_addresses"),
    CIClass.DATABASE: ("fqdn",),
    CIClass.MIDDLEWARE: ("fqdn",),
    CIClass.APPLICATION: ("fqdn",),
    CIClass.DATACENTER: ("name",),
}

# Which source's value wins for a field when several sources describe one CI, by importer.
# Discovered facts (serials, addresses) trust the inventory; business facts trust the
# service catalogue. A source absent from a list ranks after every listed one.
PRECEDENCE: dict[str, tuple[str, ...]] = {
    "serial_number": ("netbox", "servicenow", "csv"),
    "fqdn": ("netbox", "servicenow", "kubernetes", "compose", "csv"),
    "ip_addresses": ("netbox", "servicenow", "kubernetes", "compose", "csv"),
    "attributes": ("netbox", "servicenow", "kubernetes", "backstage", "compose", "csv"),
    "owner": ("csv", "backstage", "servicenow", "netbox", "kubernetes", "compose"),
}
IDENTIFYING_FIELDS = frozenset(f for rules in IDENTIFICATION_RULES.values() for f in rules)
DEFAULT_PRECEDENCE = ("csv", "servicenow", "netbox", "backstage", "kubernetes", "compose")


@dataclass(frozen=True)
class StoredIdentity:
    """What identification needs of a stored CI."""

    id: str
    ci_class: CIClass
    name: str = ""
    serial_number: str | None = None
    fqdn: str | None = None
    ip_addresses: tuple[str, ...] = ()
    external_ids: dict[str, str] = field(default_factory=dict)
    reported_by: tuple[str, ...] = ()


@dataclass
class Identification:
    ids: dict[str, str]  # source key -> CI id, for every item that is not held back
    new: set[str]  # keys whose CI does not exist yet
    held_back: set[str]  # keys left out: ambiguous
    findings: list[Finding]


def identifying_value(field_name: str, value: Any) -> list[str]:
    """Values compared for identification, normalised: serials upper-case, FQDNs lower-case
    without the final dot, IP addresses in canonical form, names case-folded."""
    if value is None or value == "":
        return []
    if field_name == "ip_addresses":
        out = []
        for address in value:
            try:
                out.append(str(ipaddress.ip_address(address)))
            except ValueError:
                continue
        return out
    if field_name == "serial_number":
        return [str(value).strip().upper()]
    if field_name == "fqdn":
        return [str(value).strip().lower().rstrip(".")]
    return [str(value).strip().casefold()]


def _values(item: CI | StoredIdentity, field_name: str) -> list[str]:
    return identifying_value(field_name, getattr(item, field_name))


def identify(
    items: list[SourceCI], stored: Iterable[StoredIdentity], source: str, keys_are_ids: bool = False
) -> Identification:
    stored_by_id = {s.id: s for s in stored}
    run_keys = {item.key for item in items}
    own = {s.external_ids[source]: s.id for s in stored_by_id.values() if source in s.external_ids}
    # CIs this source reports under a key that is still in this run belong to that item.
    claimed = {ci_id for key, ci_id in own.items() if key in run_keys}
    index: dict[tuple[str, str], list[str]] = defaultdict(list)
    for s in stored_by_id.values():
        for field_name in IDENTIFYING_FIELDS:
            for value in _values(s, field_name):
                index[(field_name, value)].append(s.id)

    ids: dict[str, str] = {}
    new: set[str] = set()
    held_back: set[str] = set()
    findings: list[Finding] = []
    wanted_by: dict[str, list[SourceCI]] = defaultdict(list)

    for item in items:
        if item.key in own:
            ids[item.key] = own[item.key]
            continue
        if keys_are_ids and item.key in stored_by_id:
            ids[item.key] = item.key
            continue
        candidates: dict[str, list[str]] = defaultdict(list)  # CI id -> what matched
        other_class: dict[str, list[str]] = defaultdict(list)
        for field_name in IDENTIFICATION_RULES.get(item.ci.ci_class, ()):
            for value in _values(item.ci, field_name):
                for ci_id in index.get((field_name, value), ()):
                    if ci_id in claimed:
                        continue
                    target = candidates if stored_by_id[ci_id].ci_class is item.ci.ci_class else other_class
                    target[ci_id].append(f"{field_name}={value}")
        if len(candidates) == 1:
            wanted_by[next(iter(candidates))].append(item)
            continue
        if len(candidates) > 1:
            held_back.add(item.key)
            findings.append(Finding(item.location, AMBIGUOUS, f"{item.key!r} matches several CIs: " + "; ".join(
                f"{ci_id} ({', '.join(why)})" for ci_id, why in sorted(candidates.items())) + "; not merged, not loaded"))
            continue
        for ci_id, why in sorted(other_class.items()):
            findings.append(Finding(item.location, AMBIGUOUS, (
                f"{item.key!r} ({item.ci.ci_class.value}) shares {', '.join(why)} with {ci_id} "
                f"({stored_by_id[ci_id].ci_class.value}); a different class, so not merged")))
        new_id = item.key if keys_are_ids else safe_id(f"{source}:{item.key}")
        if new_id in stored_by_id:
            held_back.add(item.key)
            findings.append(Finding(item.location, AMBIGUOUS, (
                f"{item.key!r} would be created as {new_id!r}, but a CI with that id exists and is not "
                f"{source}'s {item.key!r}; not loaded")))
            continue
        ids[item.key] = new_id
        new.add(item.key)

    for ci_id, wanting in wanted_by.items():
        if len(wanting) == 1:
            ids[wanting[0].key] = ci_id
            continue
        keys = ", ".join(repr(w.key) for w in wanting)
        for item in wanting:
            held_back.add(item.key)
            findings.append(Finding(item.location, AMBIGUOUS,
                                    f"{keys} all match {ci_id}; none merged, none loaded"))
    return Identification(ids, new, held_back, findings)


# --- merging one source's view into the stored CI ---------------------------------------

MERGED_FIELDS = ("ci_class", "name", "status", "environment", "criticality", "owner", "rto_minutes",
                 "rpo_minutes", "availability", "min_members", "serial_number", "fqdn", "ip_addresses")


def rank(importer: str, field_name: str) -> int:
    order = PRECEDENCE.get(field_name, DEFAULT_PRECEDENCE)
    return order.index(importer) if importer in order else len(order)


def reported_fields(item: SourceCI) -> set[str]:
    """The fields the source said something about (a default is not a statement)."""
    ci = item.ci
    said = {name for name in ci.model_fields_set if getattr(ci, name) not in (None, "", [], {})}
    if ci.name == ci.id:
        said.discard("name")  # the placeholder the model gives a nameless CI
    return said


def merge(
    item: SourceCI,
    ci_id: str,
    stored: CI | None,
    source: str,
    importer: str,
    other_importers: Iterable[str],
) -> CI:
    """The CI after this source's report: each field the source reports replaces the stored
    value unless another source still reporting this CI ranks higher for that field; a field
    the source does not report keeps its value; `external_ids` gains this source's key."""
    said = reported_fields(item)
    incoming = item.ci.model_dump(by_alias=False)
    if stored is None:
        data = {**incoming, "id": ci_id, "external_ids": {source: item.key}}
        return CI.model_validate({("class" if k == "ci_class" else k): v for k, v in data.items()})
    others = list(other_importers)

    def wins(field_name: str) -> bool:
        mine = rank(importer, field_name)
        return all(rank(other, field_name) >= mine for other in others)

    data = stored.model_dump(by_alias=False)
    for name in MERGED_FIELDS:
        if name in said and (data.get(name) in (None, "", []) or wins(name)):
            data[name] = incoming[name]
    attributes = dict(data.get("attributes") or {})
    attributes_win = wins("attributes")
    for key, value in (incoming.get("attributes") or {}).items():
        if key not in attributes or attributes_win:
            attributes[key] = value
    data["attributes"] = attributes
    if "status" not in said and data["status"] is CIStatus.RETIRED:
        data["status"] = incoming["status"]  # reported again: no longer retired
    data["external_ids"] = {**(data.get("external_ids") or {}), source: item.key}
    if not CIClass(data["ci_class"]).is_group:
        data["min_members"] = None
    data["id"] = ci_id
    return CI.model_validate({("class" if k == "ci_class" else k): v for k, v in data.items()})
