"""A synthetic CSV pair: services on applications on servers in two data centres."""

from __future__ import annotations

import csv
import random
from pathlib import Path


def generate(directory: Path, rows: int, seed: int = 7) -> Path:
    """About `rows` rows: two fifths CIs, three fifths relationships."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    n_cis = max(10, rows * 2 // 5)
    n_servers = n_cis // 2
    n_apps = n_cis - n_servers - 2
    cis = [("dc-1", "Datacenter", "DC 1", "", ""), ("dc-2", "Datacenter", "DC 2", "", "")]
    cis += [(f"srv-{i:06d}", "Server", f"srv-{i:06d}", f"SER{i:08d}", f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}")
            for i in range(n_servers)]
    cis += [(f"app-{i:06d}", "Application", f"app {i}", "", "") for i in range(n_apps)]
    rels = [(f"srv-{i:06d}", f"dc-{1 + i % 2}", "LOCATED_IN") for i in range(n_servers)]
    budget = rows - len(cis) - len(rels)
    for i in range(n_apps):
        rels.append((f"app-{i:06d}", f"srv-{rng.randrange(n_servers):06d}", "RUNS_ON"))
    budget -= n_apps
    while budget > 0:
        a, b = rng.randrange(n_apps), rng.randrange(n_apps)
        if a < b:  # acyclic: an app depends only on apps numbered after it
            rels.append((f"app-{a:06d}", f"app-{b:06d}", "DEPENDS_ON"))
            budget -= 1
    rels = list(dict.fromkeys(rels))
    with (directory / "cis.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "class", "name", "serial_number", "ip_addresses"])
        writer.writerows(cis)
    with (directory / "relationships.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["from", "to", "type"])
        writer.writerows(rels)
    return directory
