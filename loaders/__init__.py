"""Importers. Each source has a folder with the same two source-specific steps, get (read
files) and transform (pure, to the source's view as model objects); load and cleanup are one
shared step for every source (`loaders/sync/`). `native/` is the native document format."""

from __future__ import annotations

import importlib

from loaders.sync.importer import Importer

SOURCES = ("servicenow", "backstage", "kubernetes", "compose", "netbox", "csv")


def importer(name: str) -> Importer:
    """The importer for one of `SOURCES`."""
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; one of {', '.join(SOURCES)}")
    return importlib.import_module(f"loaders.{name}").IMPORTER
