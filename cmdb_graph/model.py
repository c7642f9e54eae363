"""The CMDB model: configuration items, their relationships and the service-management records.

Labels and relationship types exist only as members of the enums below; the store passes
their values to Cypher, never text that came from a user.
"""

from __future__ import annotations

import typing
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, field_validator, model_validator


class Layer(str, Enum):
    BUSINESS = "business"
    SERVICE = "service"
    INFRASTRUCTURE = "infrastructure"


class CIClass(str, Enum):
    BUSINESS_SERVICE = "BusinessService"
    TECHNICAL_SERVICE = "TechnicalService"
    APPLICATION = "Application"
    DATABASE = "Database"
    MIDDLEWARE = "Middleware"
    SERVER = "Server"
    VIRTUAL_MACHINE = "VirtualMachine"
    CONTAINER = "Container"
    CLUSTER = "Cluster"
    REDUNDANCY_GROUP = "RedundancyGroup"
    NETWORK_DEVICE = "NetworkDevice"
    LOAD_BALANCER = "LoadBalancer"
    FIREWALL = "Firewall"
    STORAGE_DEVICE = "StorageDevice"
    DATACENTER = "Datacenter"
    CLOUD_RESOURCE = "CloudResource"
    DOCUMENT = "Document"

    @property
    def layer(self) -> Layer:
        return CLASS_LAYER[self]

    @property
    def is_group(self) -> bool:
        return self in GROUP_CLASSES


CLASS_LAYER: dict[CIClass, Layer] = {
    CIClass.BUSINESS_SERVICE: Layer.BUSINESS,
    CIClass.TECHNICAL_SERVICE: Layer.SERVICE,
    CIClass.APPLICATION: Layer.SERVICE,
    CIClass.DATABASE: Layer.SERVICE,
    CIClass.MIDDLEWARE: Layer.SERVICE,
    CIClass.DOCUMENT: Layer.SERVICE,
    CIClass.SERVER: Layer.INFRASTRUCTURE,
    CIClass.VIRTUAL_MACHINE: Layer.INFRASTRUCTURE,
    CIClass.CONTAINER: Layer.INFRASTRUCTURE,
    CIClass.CLUSTER: Layer.INFRASTRUCTURE,
    CIClass.REDUNDANCY_GROUP: Layer.INFRASTRUCTURE,
    CIClass.NETWORK_DEVICE: Layer.INFRASTRUCTURE,
    CIClass.LOAD_BALANCER: Layer.INFRASTRUCTURE,
    CIClass.FIREWALL: Layer.INFRASTRUCTURE,
    CIClass.STORAGE_DEVICE: Layer.INFRASTRUCTURE,
    CIClass.DATACENTER: Layer.INFRASTRUCTURE,
    CIClass.CLOUD_RESOURCE: Layer.INFRASTRUCTURE,
}
GROUP_CLASSES = frozenset({CIClass.CLUSTER, CIClass.REDUNDANCY_GROUP})
SERVICE_CLASSES = frozenset({CIClass.BUSINESS_SERVICE, CIClass.TECHNICAL_SERVICE})


class RelType(str, Enum):
    """CI-to-CI relationships; every one points from the dependent to what it needs."""

    DEPENDS_ON = "DEPENDS_ON"
    RUNS_ON = "RUNS_ON"
    HOSTED_ON = "HOSTED_ON"
    CONNECTED_VIA = "CONNECTED_VIA"
    STORED_ON = "STORED_ON"
    LOCATED_IN = "LOCATED_IN"
    HAS_MEMBER = "HAS_MEMBER"


class Strength(str, Enum):
    HARD = "hard"
    SOFT = "soft"


class CIStatus(str, Enum):
    PLANNED = "planned"
    DESIGN = "design"
    IMPLEMENTING = "implementing"
    OPERATIONAL = "operational"
    RETIRED = "retired"


class Environment(str, Enum):
    PRODUCTION = "production"
    STAGING = "staging"
    TEST = "test"
    DEVELOPMENT = "development"


class Label(str, Enum):
    """Every node label the store writes."""

    CI = "CI"
    TEAM = "Team"
    SLA = "SLA"
    INCIDENT = "Incident"
    PROBLEM = "Problem"
    KNOWLEDGE_ARTICLE = "KnowledgeArticle"
    CHANGE = "Change"
    RELEASE = "Release"
    MAINTENANCE_WINDOW = "MaintenanceWindow"
    BLACKOUT = "Blackout"
    AUDIT_ENTRY = "AuditEntry"
    SYNC_RUN = "SyncRun"
    API_KEY = "ApiKey"
    OBSERVED_CALL = "ObservedCall"
    TRACE_IMPORT = "TraceImport"


class RecordRel(str, Enum):
    """Relationships from a record (or a CI's owner) to what it concerns."""

    OWNED_BY = "OWNED_BY"
    COVERS = "COVERS"
    AFFECTS = "AFFECTS"
    CAUSED_BY = "CAUSED_BY"
    CAUSED_BY_CHANGE = "CAUSED_BY_CHANGE"
    ROOT_CAUSE_IN = "ROOT_CAUSE_IN"
    DOCUMENTED_IN = "DOCUMENTED_IN"
    ABOUT = "ABOUT"
    TARGETS = "TARGETS"
    PART_OF = "PART_OF"
    DEPLOYS = "DEPLOYS"
    APPLIES_TO = "APPLIES_TO"


# Properties the store maintains itself; a document cannot set them.
BOOKKEEPING = ("version", "created_at", "updated_at", "source", "first_seen", "last_seen", "sync_tag", "reported_by",
               "observed_at", "observed_calls", "traced_at")
# Kept as they are when an item changes: the importers' claims (see loaders/sync/).
SYNC_BOOKKEEPING = ("sync_tag", "reported_by", "observed_at", "observed_calls", "traced_at")


_STRIPPED = TypeAdapter(typing.Annotated[str, StringConstraints(strip_whitespace=True)])


def stored_text(text: str) -> str:
    """A text as the models keep it: surrounding whitespace stripped the way pydantic strips it
    (Unicode White_Space; `str.strip` also drops control characters such as \\x1f), so an id
    read back after a write is the id that was written."""
    return _STRIPPED.validate_python(text)


class ModelBase(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, str_strip_whitespace=True, coerce_numbers_to_str=True
    )


def from_neo4j_text(text: str, kind: type = datetime) -> Any:
    """A date or instant that a query sent as `toString(...)`. A value with a named zone reads
    `...+01:00[Europe/Paris]`; the offset already fixes the instant."""
    return kind.fromisoformat(text.split("[", 1)[0])


def as_utc(value: datetime | None) -> datetime | None:
    """Naive timestamps in a document are taken as UTC, so that the same file means the same
    instant on every machine."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


Identifier = Field(min_length=1, max_length=200, pattern=r"^[^\s\x00-\x1f]+$")


class CI(ModelBase):
    id: str = Identifier
    ci_class: CIClass = Field(alias="class")
    name: str = Field(default="", max_length=500)
    status: CIStatus = CIStatus.OPERATIONAL
    environment: Environment = Environment.PRODUCTION
    criticality: int | None = Field(default=None, ge=1, le=4, description="1 mission critical .. 4 low")
    owner: str | None = Field(default=None, min_length=1, max_length=200)
    rto_minutes: int | None = Field(default=None, ge=0)
    rpo_minutes: int | None = Field(default=None, ge=0)
    availability: float | None = Field(default=None, ge=0.0, le=1.0)
    min_members: int | None = Field(default=None, ge=1)
    serial_number: str | None = Field(default=None, max_length=200)
    fqdn: str | None = Field(default=None, max_length=255)
    ip_addresses: list[str] = Field(default_factory=list)
    external_ids: dict[str, str] = Field(default_factory=dict)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @property
    def layer(self) -> Layer:
        return self.ci_class.layer

    @field_validator("ip_addresses")
    @classmethod
    def _valid_ips(cls, values: list[str]) -> list[str]:
        import ipaddress

        for value in values:
            ipaddress.ip_address(value)
        return sorted(set(values))

    @model_validator(mode="after")
    def _groups_and_names(self) -> CI:
        if self.min_members is not None and not self.ci_class.is_group:
            raise ValueError(f"min_members is only for Cluster and RedundancyGroup, not {self.ci_class.value}")
        if self.ci_class.is_group and self.min_members is None:
            self.min_members = 1
        if not self.name:
            self.name = self.id
        return self


class Relationship(ModelBase):
    source: str = Field(alias="from", min_length=1, max_length=200)
    target: str = Field(alias="to", min_length=1, max_length=200)
    type: RelType = RelType.DEPENDS_ON
    strength: Strength = Strength.HARD

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.type.value, self.target)

    @model_validator(mode="after")
    def _no_self_loop(self) -> Relationship:
        if self.source == self.target:
            raise ValueError(f"a CI cannot depend on itself ({self.source})")
        return self


# --- service-management records ---------------------------------------------------------


class Record(ModelBase):
    """A service-management record; subclasses declare their label and their edges as data."""

    label: ClassVar[Label]
    # input key -> (relationship type, label of the target)
    edges: ClassVar[dict[str, tuple[RecordRel, Label]]] = {}

    id: str = Identifier

    def edge_targets(self) -> dict[str, list[str]]:
        targets: dict[str, list[str]] = {}
        for key in self.edges:
            value = getattr(self, key)
            if value is None:
                targets[key] = []
            elif isinstance(value, str):
                targets[key] = [value]
            else:
                targets[key] = sorted(set(value))
        return targets

    def properties(self) -> dict[str, Any]:
        """The node's own properties: scalars and lists of scalars, timestamps in UTC."""
        props = self.model_dump(exclude=set(self.edges) | {"id"}, exclude_none=True, mode="python")
        return {key: (value.value if isinstance(value, Enum) else value) for key, value in props.items()}

    @field_validator("*", mode="after")
    @classmethod
    def _timestamps_in_utc(cls, value: Any) -> Any:
        return as_utc(value) if isinstance(value, datetime) else value


class Team(Record):
    label = Label.TEAM
    name: str = Field(min_length=1, max_length=200)
    email: str | None = None
    escalation_contacts: list[str] = Field(default_factory=list)


class SLA(Record):
    label = Label.SLA
    edges = {"service": (RecordRel.COVERS, Label.CI)}
    service: str = Field(min_length=1)
    name: str | None = None
    availability_target: float = Field(gt=0.0, le=1.0)
    response_minutes: int | None = Field(default=None, ge=0)
    resolution_minutes: int | None = Field(default=None, ge=0)
    service_hours: str | None = Field(default=None, description="e.g. 24x7 or mon-fri 08:00-18:00")
    exclude_maintenance: bool = Field(default=True, description="downtime inside the service's maintenance windows does not count")

    @field_validator("service_hours")
    @classmethod
    def _readable_hours(cls, value: str | None) -> str | None:
        from cmdb_graph.processes.service_hours import parse_service_hours

        parse_service_hours(value)
        return value


class IncidentCategory(str, Enum):
    HARDWARE = "hardware"
    SOFTWARE = "software"
    NETWORK = "network"
    SECURITY = "security"


class Impact(str, Enum):
    """Impact scope. `low`, `medium` and `high` are accepted as `local`, `department`, `global`."""

    LOCAL = "local"
    DEPARTMENT = "department"
    GLOBAL = "global"


IMPACT_ALIASES = {"low": "local", "medium": "department", "high": "global"}


class Urgency(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class IncidentStatus(str, Enum):
    """The lifecycle; `open` is accepted as `received`."""

    RECEIVED = "received"
    ASSESSED = "assessed"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_INCIDENT_STATUSES = ("received", "assessed", "assigned", "in_progress")

# Priority matrix: impact scope x urgency -> P1 (highest) .. P4.
PRIORITY_MATRIX: dict[tuple[Impact, Urgency], int] = {
    (Impact.GLOBAL, Urgency.CRITICAL): 1,
    (Impact.GLOBAL, Urgency.HIGH): 1,
    (Impact.GLOBAL, Urgency.MEDIUM): 2,
    (Impact.GLOBAL, Urgency.LOW): 3,
    (Impact.DEPARTMENT, Urgency.CRITICAL): 1,
    (Impact.DEPARTMENT, Urgency.HIGH): 2,
    (Impact.DEPARTMENT, Urgency.MEDIUM): 3,
    (Impact.DEPARTMENT, Urgency.LOW): 4,
    (Impact.LOCAL, Urgency.CRITICAL): 2,
    (Impact.LOCAL, Urgency.HIGH): 3,
    (Impact.LOCAL, Urgency.MEDIUM): 4,
    (Impact.LOCAL, Urgency.LOW): 4,
}


class SeverityLevel(str, Enum):
    I = "I"  # noqa: E741 - the level's name in the seed
    II = "II"
    III = "III"
    NONE = "NONE"


class EscalationKind(str, Enum):
    """Functional: to a more specialised group; hierarchical: up the management line."""

    FUNCTIONAL = "functional"
    HIERARCHICAL = "hierarchical"


class Incident(Record):
    label = Label.INCIDENT
    edges = {
        "affects": (RecordRel.AFFECTS, Label.CI),
        "caused_by": (RecordRel.CAUSED_BY, Label.PROBLEM),
        "caused_by_change": (RecordRel.CAUSED_BY_CHANGE, Label.CHANGE),
    }
    title: str = Field(min_length=1, max_length=500)
    description: str | None = None
    category: IncidentCategory = IncidentCategory.SOFTWARE
    impact: Impact = Impact.LOCAL
    urgency: Urgency = Urgency.MEDIUM
    priority: int | None = Field(default=None, ge=1, le=4)
    status: IncidentStatus = IncidentStatus.RECEIVED
    severity_level: SeverityLevel | None = None
    severity_reason: str | None = Field(default=None, description="why the severity level is what it is")
    reported_via: str | None = Field(default=None, description="monitoring, user report, inspection")
    outage: bool = Field(default=False, description="its CIs were down, not merely impaired: counts as downtime")
    opened_at: datetime
    responded_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    response_due: datetime | None = Field(default=None, description="from the strictest SLA of the services it touches")
    resolution_due: datetime | None = None
    escalation_level: int = Field(default=0, ge=0, description="0 none, 1 functional, 2 and up hierarchical")
    escalation_kind: EscalationKind | None = None
    escalation_reason: str | None = None
    escalated_at: datetime | None = None
    assignee: str | None = None
    resolution: str | None = None
    affects: list[str] = Field(default_factory=list)
    caused_by: str | None = None
    caused_by_change: str | None = None

    @field_validator("impact", mode="before")
    @classmethod
    def _impact_alias(cls, value: Any) -> Any:
        return IMPACT_ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator("status", mode="before")
    @classmethod
    def _open_is_received(cls, value: Any) -> Any:
        return "received" if value == "open" else value

    @model_validator(mode="after")
    def _lifecycle(self) -> Incident:
        if self.priority is None:
            self.priority = PRIORITY_MATRIX[(self.impact, self.urgency)]
        if self.status == IncidentStatus.CLOSED and not self.resolution:
            raise ValueError("a closed incident needs a resolution")
        _not_before(self.opened_at, self.responded_at, "responded_at", "opened_at")
        _not_before(self.opened_at, self.resolved_at, "resolved_at", "opened_at")
        return self


class ProblemStatus(str, Enum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    KNOWN_ERROR = "known_error"
    RESOLVED = "resolved"
    CLOSED = "closed"


class CauseCategory(str, Enum):
    """Fishbone branches for IT root causes."""

    PEOPLE = "people"
    PROCESS = "process"
    TECHNOLOGY = "technology"
    HARDWARE = "hardware"
    SOFTWARE = "software"
    NETWORK = "network"
    CAPACITY = "capacity"
    SUPPLIER = "supplier"
    ENVIRONMENT = "environment"
    SECURITY = "security"


class AnalysisMethod(str, Enum):
    FIVE_WHYS = "five_whys"
    FISHBONE = "fishbone"
    CAUSE_TREE = "cause_tree"
    DATA_ANALYSIS = "data_analysis"


class Problem(Record):
    label = Label.PROBLEM
    edges = {
        "root_cause_in": (RecordRel.ROOT_CAUSE_IN, Label.CI),
        "documented_in": (RecordRel.DOCUMENTED_IN, Label.KNOWLEDGE_ARTICLE),
    }
    title: str = Field(min_length=1, max_length=500)
    status: ProblemStatus = ProblemStatus.OPEN
    category: str | None = None
    symptoms: str | None = None
    root_cause: str | None = None
    workaround: str | None = None
    solution: str | None = None
    known_error: bool = False
    analysis_method: AnalysisMethod | None = None
    five_whys: list[str] = Field(default_factory=list, max_length=10, description="each answer, first why first")
    cause_categories: list[CauseCategory] = Field(default_factory=list)
    opened_at: datetime | None = None
    resolved_at: datetime | None = None
    root_cause_in: list[str] = Field(default_factory=list)
    documented_in: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_error_has_workaround(self) -> Problem:
        if self.known_error and not self.workaround:
            raise ValueError("a known error needs a workaround")
        if self.root_cause and self.workaround:
            self.known_error = True  # a problem with both is a known error
        if self.five_whys and self.analysis_method is None:
            self.analysis_method = AnalysisMethod.FIVE_WHYS
        return self


class KnowledgeArticle(Record):
    label = Label.KNOWLEDGE_ARTICLE
    edges = {"about": (RecordRel.ABOUT, Label.CI)}
    title: str = Field(min_length=1, max_length=500)
    body: str = ""
    tags: list[str] = Field(default_factory=list)
    about: list[str] = Field(default_factory=list)


class ChangeType(str, Enum):
    STANDARD = "standard"
    NORMAL = "normal"
    EMERGENCY = "emergency"


class ChangeState(str, Enum):
    REQUESTED = "requested"
    ASSESSED = "assessed"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    IMPLEMENTING = "implementing"
    IMPLEMENTED = "implemented"
    REVIEWED = "reviewed"
    CLOSED = "closed"
    REJECTED = "rejected"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"


class Risk(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Change(Record):
    label = Label.CHANGE
    edges = {
        "targets": (RecordRel.TARGETS, Label.CI),
        "part_of": (RecordRel.PART_OF, Label.RELEASE),
    }
    title: str = Field(min_length=1, max_length=500)
    description: str | None = None
    type: ChangeType = ChangeType.NORMAL
    category: str | None = None
    state: ChangeState = ChangeState.REQUESTED
    risk: Risk | None = None
    requested_by: str | None = None
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    implemented_at: datetime | None = None
    outcome: str | None = None
    rollback_plan: str | None = None
    # the change-impact analysis attached when the change is assessed
    impact_assessed_at: datetime | None = None
    risk_score: float | None = Field(default=None, ge=0, le=100)
    approval_route: str | None = Field(default=None, description="PRE_APPROVED, CAB or EMERGENCY_CAB")
    impacted_services: list[str] = Field(default_factory=list)
    notify: list[str] = Field(default_factory=list, description="owners of the impacted business services")
    outside_maintenance_window: bool | None = None
    in_blackout: bool | None = None
    override_reason: str | None = Field(default=None, description="why it may run outside its windows or in a blackout")
    approved_by: str | None = None
    approved_at: datetime | None = None
    review: str | None = Field(default=None, description="the post-implementation review")
    targets: list[str] = Field(default_factory=list)
    part_of: str | None = None

    @field_validator("state", mode="before")
    @classmethod
    def _verified_is_reviewed(cls, value: Any) -> Any:
        return "reviewed" if value == "verified" else value

    @model_validator(mode="after")
    def _window(self) -> Change:
        _not_before(self.planned_start, self.planned_end, "planned_end", "planned_start")
        return self


class ReleaseType(str, Enum):
    MAJOR = "major"
    ROUTINE = "routine"
    EMERGENCY = "emergency"


class ReleaseState(str, Enum):
    PLANNED = "planned"
    BUILDING = "building"
    TESTING = "testing"
    SCHEDULED = "scheduled"
    DEPLOYED = "deployed"
    VERIFIED = "verified"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"


class Release(Record):
    label = Label.RELEASE
    edges = {"deploys": (RecordRel.DEPLOYS, Label.CI)}
    # `version` is the store's optimistic-lock counter on every node, so the release's own
    # version string is kept as `release_version`; documents still say `version`.
    release_version: str = Field(alias="version", min_length=1, max_length=100)
    name: str | None = None
    type: ReleaseType = ReleaseType.ROUTINE
    state: ReleaseState = ReleaseState.PLANNED
    window_start: datetime | None = None
    window_end: datetime | None = None
    verified_at: datetime | None = None
    rollback_reason: str | None = None
    deploys: list[str] = Field(default_factory=list)

    @field_validator("release_version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        # `version: 2.1` in YAML is a number; a release version is text.
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _window(self) -> Release:
        _not_before(self.window_start, self.window_end, "window_end", "window_start")
        return self


class Recurrence(str, Enum):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class MaintenanceWindow(Record):
    label = Label.MAINTENANCE_WINDOW
    edges = {"applies_to": (RecordRel.APPLIES_TO, Label.CI)}
    name: str | None = None
    start: datetime
    end: datetime
    recurrence: Recurrence = Recurrence.NONE
    applies_to: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _window(self) -> MaintenanceWindow:
        _not_before(self.start, self.end, "end", "start", strictly=True)
        return self


class Blackout(Record):
    label = Label.BLACKOUT
    edges = {"applies_to": (RecordRel.APPLIES_TO, Label.CI)}
    name: str | None = None
    reason: str | None = None
    start: datetime
    end: datetime
    applies_to: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _window(self) -> Blackout:
        _not_before(self.start, self.end, "end", "start", strictly=True)
        return self


def _not_before(
    earlier: datetime | date | None,
    later: datetime | date | None,
    later_name: str,
    earlier_name: str,
    strictly: bool = False,
) -> None:
    if earlier is None or later is None:
        return
    if later < earlier or (strictly and later == earlier):
        raise ValueError(f"{later_name} must be after {earlier_name}")


# Document section -> record model, in the order a load writes them (targets before edges).
RECORD_SECTIONS: dict[str, type[Record]] = {
    "teams": Team,
    "slas": SLA,
    "knowledge_articles": KnowledgeArticle,
    "problems": Problem,
    "releases": Release,
    "changes": Change,
    "incidents": Incident,
    "maintenance_windows": MaintenanceWindow,
    "blackouts": Blackout,
}
SECTIONS = ("cis", "relationships", *RECORD_SECTIONS)


def temporal_fields(model: type[BaseModel]) -> list[str]:
    """The fields of a model that hold a date or a timestamp (readers convert these)."""
    names = []
    for name, field in model.model_fields.items():
        args = typing.get_args(field.annotation) or (field.annotation,)
        if any(isinstance(arg, type) and issubclass(arg, (date, datetime)) for arg in args):
            names.append(name)
    return names
