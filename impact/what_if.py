"""Hypothetical edits to the graph, applied in memory and never written: a migration plan,
a decommissioning or a capacity change, seen before it exists.

Edits apply in order, each to the graph the previous ones left: a CI added by one edit can be
the end of a relationship added by the next. Every edit is checked against that graph first,
and a bad one is refused by its position (`whatIf[2].target: ...`) before anything runs."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cmdb_graph.model import CI, CIClass, RelType, Strength, stored_text
from cmdb_graph.store import ci_content
from impact.confidence import HYPOTHETICAL
from impact.graph_view import GraphView
from impact.topology import AnalysisError, CINode, Edge, Topology

MAX_EDITS = 500


class EditOp(str, Enum):
    ADD_CI = "ADD_CI"
    RETIRE_CI = "RETIRE_CI"
    ADD_RELATIONSHIP = "ADD_RELATIONSHIP"
    REMOVE_RELATIONSHIP = "REMOVE_RELATIONSHIP"
    SET_GROUP_SIZE = "SET_GROUP_SIZE"


class GraphEdit(BaseModel):
    """One edit. ADD_CI: `ci`. RETIRE_CI: `id`. ADD_/REMOVE_RELATIONSHIP: `source`, `target`,
    `type`, `strength`. SET_GROUP_SIZE: `id` and `min_members` and/or `members` (how many
    members the group has, named ones included; more than are named adds unnamed ones)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    op: EditOp
    ci: CI | None = None
    id: str | None = Field(default=None, min_length=1, max_length=200)
    source: str | None = Field(default=None, min_length=1, max_length=200, validation_alias=AliasChoices("source", "from"))
    target: str | None = Field(default=None, min_length=1, max_length=200, validation_alias=AliasChoices("target", "to"))
    type: RelType = RelType.DEPENDS_ON
    strength: Strength = Strength.HARD
    min_members: int | None = Field(default=None, ge=1, validation_alias=AliasChoices("min_members", "minMembers"))
    members: int | None = Field(default=None, ge=0, le=100_000)

    @field_validator("op", "type", "strength", mode="before")
    @classmethod
    def _any_case(cls, value: Any, info: Any) -> Any:
        """A plan file may spell them as GraphQL does (SOFT) or as the native format does (soft)."""
        if not isinstance(value, str):
            return value
        return value.lower() if info.field_name == "strength" else value.upper()

    @model_validator(mode="after")
    def _fields_of_the_op(self) -> GraphEdit:
        needs = {
            EditOp.ADD_CI: ("ci",), EditOp.RETIRE_CI: ("id",), EditOp.SET_GROUP_SIZE: ("id",),
            EditOp.ADD_RELATIONSHIP: ("source", "target"), EditOp.REMOVE_RELATIONSHIP: ("source", "target"),
        }[self.op]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.op.value} needs {' and '.join(missing)}")
        for name in ("id", "source", "target"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, stored_text(value))
        if self.op is EditOp.SET_GROUP_SIZE and self.min_members is None and self.members is None:
            raise ValueError("SET_GROUP_SIZE needs min_members or members")
        if self.source is not None and self.source == self.target:
            raise ValueError(f"a CI cannot depend on itself ({self.source})")
        return self

    @property
    def relationship(self) -> tuple[str, RelType, str]:
        assert self.source is not None and self.target is not None
        return (self.source, self.type, self.target)


def parse_edits(raw: list[Any], prefix: str = "whatIf") -> list[GraphEdit]:
    """Edits from plain data (GraphQL input, a YAML/JSON file), refused with each bad field's
    position."""
    if len(raw) > MAX_EDITS:
        raise AnalysisError(f"{prefix}: at most {MAX_EDITS} edits (got {len(raw)})")
    edits, problems = [], []
    for i, item in enumerate(raw):
        try:
            edits.append(item if isinstance(item, GraphEdit) else GraphEdit.model_validate(item))
        except ValidationError as error:
            for detail in error.errors():
                where = ".".join([f"{prefix}[{i}]", *(str(p) for p in detail["loc"])])
                problems.append(f"{where}: {detail['msg'].removeprefix('Value error, ')}")
    if problems:
        raise AnalysisError("; ".join(problems))
    return edits


def _node_of(ci: CI, members: int | None = None) -> CINode:
    return CINode(ci.id, ci.name or ci.id, ci.ci_class, ci.status.value, ci.environment.value, ci.criticality,
                  ci.owner, ci.rto_minutes, ci.rpo_minutes, ci.availability, ci.min_members, members)


class EditedGraph:
    """`base` with `edits` applied; checked on construction."""

    def __init__(self, base: GraphView, edits: list[GraphEdit]) -> None:
        self.base = base
        self.edits = edits
        self.at = base.at
        self._check()

    def _check(self) -> None:
        named = sorted({x for e in self.edits for x in (e.id, e.source, e.target) if x}
                       | {e.ci.id for e in self.edits if e.ci})
        missing = set(self.base.missing(named))
        classes = self.base.classes([n for n in named if n not in missing])
        rel_keys = [e.relationship for e in self.edits if e.op in (EditOp.ADD_RELATIONSHIP, EditOp.REMOVE_RELATIONSHIP)]
        relationships = self.base.existing_relationships(rel_keys)
        groups = [n for n, c in classes.items() if c.is_group]
        members = self.base.member_counts(groups)
        retired = [e.id for e in self.edits if e.op is EditOp.RETIRE_CI and e.id and e.id not in missing]
        groups_of = self.base.groups_of(retired)
        self._losing: dict[int, list[str]] = {}  # per RETIRE_CI edit: the groups it leaves a member short
        exists = {n: n not in missing for n in named}
        problems: list[str] = []
        for i, edit in enumerate(self.edits):
            at = f"whatIf[{i}]"

            def known(field: str, ci_id: str) -> bool:
                if not exists.get(ci_id):
                    problems.append(f"{at}.{field}: no CI with id {ci_id!r} in the graph {self._when()}"
                                    " (nor added by an earlier edit)")
                    return False
                return True

            if edit.op is EditOp.ADD_CI:
                assert edit.ci is not None
                if exists.get(edit.ci.id):
                    problems.append(f"{at}.ci.id: a CI with id {edit.ci.id!r} exists already; edit it another way")
                    continue
                exists[edit.ci.id] = True
                classes[edit.ci.id] = edit.ci.ci_class
                if edit.ci.ci_class.is_group:
                    members[edit.ci.id] = 0
            elif edit.op is EditOp.RETIRE_CI:
                if known("id", edit.id or ""):
                    gone = edit.id or ""
                    exists[gone] = False
                    losing = {k[0] for k in relationships if k[2] == gone and k[1] is RelType.HAS_MEMBER}
                    removed = {e.source for e in self.edits[:i] if e.op is EditOp.REMOVE_RELATIONSHIP
                               and e.type is RelType.HAS_MEMBER and e.target == gone}
                    losing |= {g for g in groups_of.get(gone, []) if g not in removed}
                    for key in [k for k in relationships if gone in (k[0], k[2])]:
                        relationships.discard(key)
                    for group in losing:
                        if group in members:
                            members[group] -= 1
                    self._losing[i] = sorted(losing)
            elif edit.op is EditOp.ADD_RELATIONSHIP:
                source_ok, target_ok = known("source", edit.source or ""), known("target", edit.target or "")
                if not (source_ok and target_ok):
                    continue
                key = edit.relationship
                if key in relationships:
                    problems.append(f"{at}: {key[0]} -{key[1].value}-> {key[2]} exists already")
                    continue
                if edit.type is RelType.HAS_MEMBER and not classes[key[0]].is_group:
                    problems.append(f"{at}.source: HAS_MEMBER starts at a Cluster or RedundancyGroup, "
                                    f"not a {classes[key[0]].value}")
                    continue
                relationships.add(key)
                if edit.type is RelType.HAS_MEMBER:
                    members[key[0]] = members.get(key[0], 0) + 1
            elif edit.op is EditOp.REMOVE_RELATIONSHIP:
                key = edit.relationship
                if key not in relationships:
                    problems.append(f"{at}: there is no {key[0]} -{key[1].value}-> {key[2]} to remove "
                                    f"{self._when()}")
                    continue
                relationships.discard(key)
                if edit.type is RelType.HAS_MEMBER and key[0] in members:
                    members[key[0]] -= 1
            elif edit.op is EditOp.SET_GROUP_SIZE:
                if not known("id", edit.id or ""):
                    continue
                ci_class = classes[edit.id or ""]
                if not ci_class.is_group:
                    problems.append(f"{at}.id: {edit.id} is a {ci_class.value}, not a Cluster or RedundancyGroup")
                elif edit.members is not None and edit.members < members.get(edit.id or "", 0):
                    problems.append(f"{at}.members: {edit.id} has {members[edit.id or '']} named members; "
                                    f"give at least that many (retire or remove members to shrink it)")
                elif edit.members is not None:
                    members[edit.id or ""] = edit.members
        if problems:
            raise AnalysisError("; ".join(problems))

    def _when(self) -> str:
        return f"as of {self.at.isoformat()}" if self.at else "now"

    def missing(self, ids: list[str]) -> list[str]:
        added = {e.ci.id for e in self.edits if e.ci}
        retired = {e.id for e in self.edits if e.op is EditOp.RETIRE_CI}
        unknown = set(self.base.missing([i for i in ids if i not in added]))
        return [i for i in ids if (i in unknown or i in retired) and not self._added_after_retire(i)]

    def _added_after_retire(self, ci_id: str) -> bool:
        state = None
        for edit in self.edits:
            if edit.ci and edit.ci.id == ci_id:
                state = True
            elif edit.op is EditOp.RETIRE_CI and edit.id == ci_id:
                state = False
        return bool(state)

    def dependents(self, ids: list[str], types: list[RelType] | None = None, evidence: bool = True) -> Topology:
        """The base's region around `ids` and the sources of added relationships (a new need can
        bring new dependents in), with the edits applied."""
        added = {e.ci.id for e in self.edits if e.ci}
        reach = [i for i in dict.fromkeys([*ids, *(e.source for e in self.edits if e.op is EditOp.ADD_RELATIONSHIP)])
                 if i and i not in added]
        region = self.base.dependents(reach, types, evidence) if reach else Topology({}, {})
        return self.apply(region, types)

    def apply(self, region: Topology, types: list[RelType] | None = None) -> Topology:
        allowed = set(types) if types else None
        nodes = dict(region.nodes)
        out = {k: list(v) for k, v in region.out.items()}

        def adjust_members(group: str, by: int) -> None:
            node = nodes.get(group)
            if node is not None and node.members is not None:
                nodes[group] = replace(node, members=max(0, node.members + by))

        for i, edit in enumerate(self.edits):
            if edit.op is EditOp.ADD_CI:
                assert edit.ci is not None
                nodes[edit.ci.id] = _node_of(edit.ci, 0 if edit.ci.ci_class.is_group else None)
                out[edit.ci.id] = []
            elif edit.op is EditOp.RETIRE_CI:
                gone = edit.id or ""
                nodes.pop(gone, None)
                out.pop(gone, None)
                for group in self._losing.get(i, []):
                    adjust_members(group, -1)
                for source, edges in out.items():
                    out[source] = [e for e in edges if e.target != gone]
            elif edit.op is EditOp.ADD_RELATIONSHIP:
                if allowed is not None and edit.type not in allowed:
                    continue
                source = edit.source or ""
                if source in nodes:
                    out.setdefault(source, []).append(
                        Edge(edit.target or "", edit.type, edit.strength, ((HYPOTHETICAL, None),)))
                    if edit.type is RelType.HAS_MEMBER:
                        adjust_members(source, +1)
            elif edit.op is EditOp.REMOVE_RELATIONSHIP:
                source = edit.source or ""
                if source in out:
                    out[source] = [e for e in out[source] if (e.target, e.type) != (edit.target, edit.type)]
                if edit.type is RelType.HAS_MEMBER:
                    adjust_members(source, -1)
            elif edit.op is EditOp.SET_GROUP_SIZE:
                node = nodes.get(edit.id or "")
                if node is not None:
                    nodes[node.id] = replace(
                        node, min_members=edit.min_members if edit.min_members is not None else node.min_members,
                        members=edit.members if edit.members is not None else node.members)
        return Topology(nodes, {k: sorted(v, key=lambda e: (e.target, e.type.value)) for k, v in out.items()})

    def ci_props(self) -> dict[str, dict[str, Any]]:
        props = dict(self.base.ci_props())
        for edit in self.edits:
            if edit.ci:
                props[edit.ci.id] = {**ci_content(edit.ci), "id": edit.ci.id, "version": 0, "source": HYPOTHETICAL}
        return props

    # what-if answers the impact questions; the rest is read from the base
    def classes(self, ids: list[str]) -> dict[str, CIClass]:
        return self.base.classes(ids)

    def existing_relationships(self, keys: list[tuple[str, RelType, str]]) -> set[tuple[str, RelType, str]]:
        return self.base.existing_relationships(keys)

    def member_counts(self, ids: list[str]) -> dict[str, int]:
        return self.base.member_counts(ids)

    def groups_of(self, ids: list[str]) -> dict[str, list[str]]:
        return self.base.groups_of(ids)

    def dependencies(self, ids: list[str], types: list[RelType] | None = None, evidence: bool = True) -> Topology:
        raise AnalysisError("whatIf: dependencies are answered on the graph as stored (or asOf)")


def edited(base: GraphView, edits: list[GraphEdit] | None) -> GraphView:
    return EditedGraph(base, edits) if edits else base

