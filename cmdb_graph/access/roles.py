"""Roles, each including everything the ones before it may do: a CMDB's readers far outnumber
its editors, who outnumber those approving changes, who outnumber those handing out keys."""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    VIEWER = "viewer"  # read everything but the keys
    EDITOR = "editor"  # write CIs, relationships and records
    CHANGE_MANAGER = "change-manager"  # approve and reject changes
    ADMIN = "admin"  # keys; reset and restore (which the CLI does with the database's own credentials)


RANK = {role: rank for rank, role in enumerate(Role)}


def allows(role: Role, needed: Role) -> bool:
    return RANK[role] >= RANK[needed]
