"""The Backstage importer without a database: catalog YAML in, the source's view out."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmdb_graph.model import CIStatus, Environment, Team
from loaders.backstage import IMPORTER
from loaders.backstage.get import read
from loaders.backstage.transform import parse_reference, transform
from loaders.sync.files import SourceReadError
from loaders.sync.model import DANGLING, SKIPPED, UNKNOWN_CLASS, UNKNOWN_VALUE, Finding, SourceBatch

FIXTURES = Path(__file__).parents[1] / "fixtures" / "backstage"
CATALOG = FIXTURES / "catalog"
SHOP = str(CATALOG / "shop.yaml")
ORG = str(CATALOG / "org.yaml")
OTHER = str(CATALOG / "other.yml")
BILLING = str(CATALOG / "billing" / "catalog-info.yaml")


@pytest.fixture(scope="module")
def batch() -> SourceBatch:
    return transform(read(CATALOG))


def edges(batch: SourceBatch) -> set[tuple[str, str, str]]:
    return {(rel.source_key, rel.type.value, rel.target_key) for rel in batch.relationships}


def findings(batch: SourceBatch, kind: str) -> list[Finding]:
    return [finding for finding in batch.findings if finding.kind == kind]


def where(finding: Finding) -> tuple[str, int | None]:
    return finding.location.file, finding.location.line


def catalog_of(tmp_path: Path, text: str) -> SourceBatch:
    (tmp_path / "catalog-info.yaml").write_text(text)
    return transform(read(tmp_path))


def test_the_importer_is_registered_under_its_name():
    assert IMPORTER.name == "backstage"
    assert IMPORTER.get is read and IMPORTER.transform is transform
    assert not IMPORTER.keys_are_ids


def test_catalog_entities_become_cis_by_kind_and_type(batch: SourceBatch):
    assert batch.errors == []
    assert {(ci.key, ci.ci.ci_class.value, ci.ci.name) for ci in batch.cis} == {
        ("domain:default/commerce", "BusinessService", "Commerce"),
        ("system:default/webshop", "TechnicalService", "webshop"),
        ("component:default/storefront", "Application", "Storefront"),
        ("component:default/catalog-service", "Application", "catalog-service"),
        ("component:default/legacy-catalog", "Application", "legacy-catalog"),
        ("component:default/catalog-indexer", "Application", "catalog-indexer"),
        ("api:default/catalog-api", "TechnicalService", "catalog-api"),
        ("api:default/search-api", "TechnicalService", "search-api"),
        ("resource:default/catalog-db", "Database", "catalog-db"),
        ("resource:default/sessions-cache", "CloudResource", "sessions-cache"),
        ("resource:default/assets-bucket", "StorageDevice", "assets-bucket"),
        ("component:payments/payments-api", "Application", "Payments API service"),
        ("component:payments/billing", "Application", "billing"),
        ("api:payments/payments-api", "TechnicalService", "payments-api"),
        ("resource:payments/ledger-db", "Database", "ledger-db"),
    }


def test_cis_come_sorted_by_key_with_placeholder_ids_and_no_external_ids(batch: SourceBatch):
    keys = [ci.key for ci in batch.cis]
    assert keys == sorted(keys)
    assert all(ci.ci.id == ci.key and ci.ci.external_ids == {} for ci in batch.cis)


def test_edges_point_from_the_dependent_to_what_it_needs(batch: SourceBatch):
    assert edges(batch) == {
        # spec.dependsOn
        ("component:default/storefront", "DEPENDS_ON", "resource:default/sessions-cache"),
        ("component:default/catalog-service", "DEPENDS_ON", "resource:default/catalog-db"),
        ("component:default/legacy-catalog", "DEPENDS_ON", "resource:default/catalog-db"),
        ("component:payments/payments-api", "DEPENDS_ON", "component:payments/billing"),
        ("component:payments/billing", "DEPENDS_ON", "resource:payments/ledger-db"),
        # spec.dependencyOf on assets-bucket: the storefront needs it
        ("component:default/storefront", "DEPENDS_ON", "resource:default/assets-bucket"),
        # consumesApis: the consumer needs every provider; an API nobody provides itself
        ("component:default/storefront", "DEPENDS_ON", "component:default/catalog-service"),
        ("component:default/storefront", "DEPENDS_ON", "component:default/legacy-catalog"),
        ("component:default/storefront", "DEPENDS_ON", "component:payments/payments-api"),
        ("component:default/storefront", "DEPENDS_ON", "api:default/search-api"),
        # providesApis: the API needs its providers
        ("api:default/catalog-api", "DEPENDS_ON", "component:default/catalog-service"),
        ("api:default/catalog-api", "DEPENDS_ON", "component:default/legacy-catalog"),
        ("api:payments/payments-api", "DEPENDS_ON", "component:payments/payments-api"),
        # spec.system: the System needs its parts; spec.domain: the Domain needs its System
        ("system:default/webshop", "DEPENDS_ON", "component:default/storefront"),
        ("system:default/webshop", "DEPENDS_ON", "component:default/catalog-service"),
        ("system:default/webshop", "DEPENDS_ON", "api:default/catalog-api"),
        ("system:default/webshop", "DEPENDS_ON", "resource:default/catalog-db"),
        ("domain:default/commerce", "DEPENDS_ON", "system:default/webshop"),
        # subcomponentOf: the parent needs its subcomponent
        ("component:default/catalog-service", "DEPENDS_ON", "component:default/catalog-indexer"),
    }
    assert all(rel.strength.value == "hard" for rel in batch.relationships)


def test_every_edge_joins_two_cis_of_the_batch_once(batch: SourceBatch):
    keys = {ci.key for ci in batch.cis}
    triples = [(rel.source_key, rel.type.value, rel.target_key) for rel in batch.relationships]
    assert len(triples) == len(set(triples))
    assert all(rel.source_key in keys and rel.target_key in keys for rel in batch.relationships)


def test_an_edge_remembers_the_line_of_the_field_it_came_from(batch: SourceBatch):
    rel = next(rel for rel in batch.relationships
               if (rel.source_key, rel.target_key) == ("domain:default/commerce", "system:default/webshop"))
    assert (rel.location.file, rel.location.line, rel.location.section, rel.location.index) == (SHOP, 16, "System", 1)


def test_each_ci_remembers_its_file_document_and_line(batch: SourceBatch):
    locations = {ci.key: (ci.location.file, ci.location.line, ci.location.section, ci.location.index)
                 for ci in batch.cis}
    assert locations["domain:default/commerce"] == (SHOP, 1, "Domain", 0)
    assert locations["system:default/webshop"] == (SHOP, 9, "System", 1)
    assert locations["resource:default/assets-bucket"] == (SHOP, 124, "Resource", 11)
    assert locations["component:payments/billing"] == (BILLING, 16, "Component", 1)


def test_groups_become_teams_named_by_their_profile(batch: SourceBatch):
    assert batch.teams == [
        Team(id="platform-team", name="Platform Team", email="platform@example.com"),
        Team(id="payments/billing-team", name="billing-team"),
    ]


def test_a_group_owner_becomes_the_ci_owner_whatever_its_case(batch: SourceBatch):
    owners = {ci.key: ci.ci.owner for ci in batch.cis}
    assert owners["component:default/storefront"] == "platform-team"  # Group:Platform-Team
    assert owners["system:default/webshop"] == "platform-team"  # group:platform-team
    assert owners["component:payments/billing"] == "payments/billing-team"  # group:payments/billing-team
    assert owners["component:payments/payments-api"] == "payments/billing-team"  # billing-team, in payments
    assert {owner for owner in owners.values() if owner} <= {team.id for team in batch.teams}


def test_a_user_owner_is_kept_as_an_attribute_not_as_a_team(batch: SourceBatch):
    service = next(ci.ci for ci in batch.cis if ci.key == "component:default/catalog-service")
    assert service.owner is None
    assert service.attributes["owner_user"] == "user:default/jdoe"


def test_lifecycle_sets_status_and_environment_and_is_kept_as_an_attribute(batch: SourceBatch):
    cis = {ci.key: ci.ci for ci in batch.cis}
    storefront, indexer, legacy = (cis["component:default/storefront"], cis["component:default/catalog-indexer"],
                                   cis["component:default/legacy-catalog"])
    assert (storefront.status, storefront.environment) == (CIStatus.OPERATIONAL, Environment.PRODUCTION)
    assert indexer.status is CIStatus.IMPLEMENTING
    assert legacy.status is CIStatus.OPERATIONAL
    assert (storefront.attributes["lifecycle"], indexer.attributes["lifecycle"], legacy.attributes["lifecycle"]) == (
        "production", "experimental", "deprecated")


def test_attributes_carry_namespace_kind_type_tags_and_source_location(batch: SourceBatch):
    cis = {ci.key: ci.ci for ci in batch.cis}
    assert cis["component:default/storefront"].attributes == {
        "namespace": "default", "kind": "Component", "type": "website", "lifecycle": "production",
        "tags": ["frontend", "web"], "source_location": "url:https://github.com/acme/storefront/tree/main/",
    }
    assert cis["system:default/webshop"].attributes == {
        "namespace": "default", "kind": "System", "description": "Everything a customer sees when buying"}
    assert cis["resource:payments/ledger-db"].attributes == {
        "namespace": "payments", "kind": "Resource", "type": "postgres"}


@pytest.mark.parametrize(
    ("value", "default_kind", "namespace", "key"),
    [
        ("catalog-api", "api", "default", "api:default/catalog-api"),
        ("API:payments/Payments-API", "api", "default", "api:payments/payments-api"),
        ("component:billing", "component", "payments", "component:payments/billing"),
        ("payments/billing", "component", "default", "component:payments/billing"),
        ("Group:Platform-Team", "group", "default", "group:default/platform-team"),
        ({"kind": "Group", "name": "pet-managers"}, "group", "external", "group:external/pet-managers"),
        ({"name": "artists-db", "namespace": "music"}, "resource", "default", "resource:music/artists-db"),
    ],
)
def test_a_reference_fills_in_the_fields_kind_and_the_referring_namespace(value, default_kind, namespace, key):
    assert parse_reference(value, default_kind, namespace) == key


@pytest.mark.parametrize(
    "value", ["", "component:", "a/b/c", "has space", "component:default/", "x" * 64, 42, None, {"kind": "API"}])
def test_a_value_that_is_no_reference_parses_to_nothing(value):
    assert parse_reference(value, "component", "default") is None


def test_a_reference_without_namespace_stays_in_the_referring_entitys_namespace(batch: SourceBatch):
    # payments-api lives in `payments` and says `dependsOn: [component:billing]`
    assert ("component:payments/payments-api", "DEPENDS_ON", "component:payments/billing") in edges(batch)


def test_a_consumer_of_an_api_with_two_providers_depends_on_both(batch: SourceBatch):
    needed = {target for source, _type, target in edges(batch) if source == "component:default/storefront"}
    assert {"component:default/catalog-service", "component:default/legacy-catalog"} <= needed
    assert "api:default/catalog-api" not in needed


def test_an_api_nobody_provides_is_depended_on_itself_with_a_finding(batch: SourceBatch):
    assert ("component:default/storefront", "DEPENDS_ON", "api:default/search-api") in edges(batch)
    [finding] = [f for f in findings(batch, DANGLING) if "search-api" in f.message]
    assert where(finding) == (SHOP, 31)
    assert finding.message.startswith("spec.consumesApis: no component provides api:default/search-api")


def test_a_dangling_depends_on_is_a_finding_and_no_edge(batch: SourceBatch):
    [finding] = [f for f in findings(batch, DANGLING) if "ghost-service" in f.message]
    assert where(finding) == (SHOP, 35)
    assert finding.message == "spec.dependsOn: component:default/ghost-service is not in the catalog"
    assert not any("ghost-service" in target for _source, _type, target in edges(batch))


def test_a_library_component_is_skipped_and_a_dependency_on_it_says_so(batch: SourceBatch):
    assert "component:default/shared-utils" not in {ci.key for ci in batch.cis}
    library = [f for f in findings(batch, SKIPPED) if f.message.startswith("spec.type:")]
    assert [(where(f), f.message) for f in library] == [
        ((SHOP, 79), "spec.type: component:default/shared-utils is a library, not a running CI")]
    [dependency] = [f for f in findings(batch, SKIPPED) if f.message.startswith("spec.dependsOn:")]
    assert where(dependency) == (SHOP, 49)
    assert "shared-utils is not imported (a library)" in dependency.message


def test_unmapped_types_fall_back_to_the_documented_default_with_a_finding(batch: SourceBatch):
    [component] = findings(batch, UNKNOWN_VALUE)
    assert where(component) == (SHOP, 69)
    assert component.message == "spec.type: component type 'ml-pipeline' is not mapped; read as Application"
    [resource] = findings(batch, UNKNOWN_CLASS)
    assert where(resource) == (SHOP, 121)
    assert resource.message == "spec.type: resource type 'memorystore' is not mapped; read as CloudResource"


def test_locations_templates_users_and_unknown_kinds_are_counted_once_per_kind(batch: SourceBatch):
    kinds = [(where(f), f.message) for f in findings(batch, SKIPPED) if f.message.startswith("kind:")]
    assert kinds == [
        ((ORG, 42), "kind: 1 Location entity skipped: it points at more catalog files"),
        ((OTHER, 9), "kind: 1 Template entity skipped: it is a scaffolder template"),
        ((ORG, 25), "kind: 2 User entities skipped: people are not configuration items"),
        ((OTHER, 19), "kind: 1 Workflow entity skipped: unknown kind"),
    ]


def test_a_document_that_is_not_a_backstage_entity_is_skipped(batch: SourceBatch):
    [finding] = [f for f in findings(batch, SKIPPED) if f.message.startswith("apiVersion:")]
    assert where(finding) == (OTHER, 2)
    assert (finding.location.section, finding.location.index) == ("document", 0)
    assert "'v1' is not a Backstage entity's" in finding.message


def test_the_same_catalog_gives_the_same_batch(batch: SourceBatch):
    again = transform(read(CATALOG))
    assert [ci.key for ci in again.cis] == [ci.key for ci in batch.cis]
    assert again.relationships == batch.relationships
    assert again.findings == batch.findings


def test_one_file_can_be_read_on_its_own():
    single = transform(read(CATALOG / "billing" / "catalog-info.yaml"))
    assert {ci.key for ci in single.cis} == {
        "component:payments/payments-api", "component:payments/billing", "api:payments/payments-api",
        "resource:payments/ledger-db"}
    # its owner group is in another file: reported, not invented
    assert {f.message for f in findings(single, DANGLING)} == {
        "spec.owner: group:payments/billing-team is not in the catalog"}
    assert all(ci.ci.owner is None for ci in single.cis)


# --- errors -----------------------------------------------------------------------------


def test_an_entity_without_a_name_is_an_error_naming_file_line_and_field():
    result = transform(read(FIXTURES / "broken"))
    [error] = result.errors
    assert (error.location.file, error.location.line, error.field) == (
        str(FIXTURES / "broken" / "missing-name.yaml"), 12, "metadata.name")
    assert (error.location.section, error.location.index) == ("Component", 1)
    assert [ci.key for ci in result.cis] == ["component:default/fine-service"]


def test_a_duplicate_entity_is_an_error(tmp_path: Path):
    result = catalog_of(tmp_path, """\
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: orders-db}
spec: {type: database, owner: dba}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: Orders-DB
spec: {type: database, owner: dba}
""")
    [error] = result.errors
    assert (error.location.line, error.field) == (9, "metadata.name")
    assert "duplicate entity resource:default/orders-db; first defined at" in error.message


def test_a_malformed_reference_is_an_error(tmp_path: Path):
    result = catalog_of(tmp_path, """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
spec:
  type: service
  owner: team-a
  dependsOn:
    - "component:default/"
""")
    [error] = result.errors
    assert (error.location.line, error.field) == (8, "spec.dependsOn")
    assert "is not an entity reference" in error.message


@pytest.mark.parametrize(
    ("body", "line", "field"),
    [
        ("kind: Component\nmetadata:\n  name: has space\n", 4, "metadata.name"),
        ("kind: Component\nmetadata:\n  name: ok\n  namespace: not/one\n", 5, "metadata.namespace"),
        ("kind: Component\nmetadata:\n  name: ok\nspec: [service]\n", 5, "spec"),
        ("kind: 42\nmetadata:\n  name: ok\n", 2, "kind"),
        ("metadata:\n  name: ok\n", 1, "kind"),
    ],
)
def test_an_invalid_envelope_is_an_error_on_its_line(tmp_path: Path, body: str, line: int, field: str):
    result = catalog_of(tmp_path, f"apiVersion: backstage.io/v1alpha1\n{body}")
    [error] = result.errors
    assert (error.location.line, error.field) == (line, field)
    assert result.cis == []


def test_a_file_that_is_not_yaml_cannot_be_read(tmp_path: Path):
    (tmp_path / "catalog-info.yaml").write_text("apiVersion: backstage.io/v1alpha1\nkind: [Component\n")
    with pytest.raises(SourceReadError) as caught:
        read(tmp_path)
    [error] = caught.value.errors
    assert error.location.file == str(tmp_path / "catalog-info.yaml")
    assert error.location.line is not None


def test_a_folder_without_catalog_files_cannot_be_read(tmp_path: Path):
    with pytest.raises(SourceReadError):
        read(tmp_path)
