"""An importer is a source name, its get step and its transform step; load and cleanup are the
same for every source (`load.py`, `cleanup.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loaders.sync.model import SourceBatch


@dataclass(frozen=True)
class Importer:
    name: str
    description: str
    get: Callable[[Path], Any]  # read the file or directory; raises SourceReadError
    transform: Callable[[Any], SourceBatch]  # pure: raw input -> the source's view
    # True when the source's keys are CMDB ids already (the native CSV pair); otherwise a CI
    # that matches nothing stored gets the id `<source name>:<key>`.
    keys_are_ids: bool = False
