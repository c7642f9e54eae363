"""Read the CSV pair with the native reader, which keeps each row's file and line."""

from __future__ import annotations

from pathlib import Path

from loaders.native.get import RawDocument, read_paths
from loaders.sync.files import files_in


def read(path: Path) -> RawDocument:
    """`path`: a directory holding `cis*.csv` and `relationships*.csv`, or one such file."""
    return read_paths(files_in(path, [".csv"]))
