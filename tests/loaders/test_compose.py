"""The Docker Compose importer without a database: compose files in, the source's view out."""

from __future__ import annotations

from pathlib import Path

import pytest

from loaders.compose import IMPORTER
from loaders.compose.get import read
from loaders.compose.transform import interpolate, named_volume, transform
from loaders.sync.addresses import hosts_in, image_repository, is_host_variable
from loaders.sync.files import SourceReadError
from loaders.sync.model import DANGLING, SKIPPED, UNKNOWN_VALUE, Finding, SourceBatch

FIXTURES = Path(__file__).parents[1] / "fixtures" / "compose"
SHOP = str(FIXTURES / "shop" / "compose.yaml")


@pytest.fixture(scope="module")
def shop() -> SourceBatch:
    return transform(read(FIXTURES / "shop"))


def edges(batch: SourceBatch) -> set[tuple[str, str, str, str]]:
    return {(rel.source_key, rel.type.value, rel.target_key, rel.strength.value) for rel in batch.relationships}


def where(finding: Finding) -> tuple[str, int | None]:
    return finding.location.file, finding.location.line


def project_of(tmp_path: Path, text: str) -> SourceBatch:
    (tmp_path / "compose.yaml").write_text(text)
    return transform(read(tmp_path / "compose.yaml"))


def test_the_importer_is_registered_under_its_name():
    assert IMPORTER.name == "compose"
    assert IMPORTER.get is read and IMPORTER.transform is transform
    assert not IMPORTER.keys_are_ids


def test_services_are_classed_by_image_and_named_volumes_are_storage(shop: SourceBatch):
    assert shop.errors == []
    assert {(ci.key, ci.ci.ci_class.value, ci.ci.name) for ci in shop.cis} == {
        ("shop/proxy", "LoadBalancer", "shop/proxy"),
        ("shop/web", "Application", "shop/web"),
        ("shop/api", "Application", "shop/api"),
        ("shop/analytics", "Application", "shop/analytics"),
        ("shop/search", "Database", "shop/search"),
        ("shop/db", "Database", "shop/db"),
        ("shop/cache", "Database", "shop/cache"),
        ("shop/kafka-1", "Middleware", "shop/kafka-1"),
        ("shop/kafka-2", "Middleware", "shop/kafka-2"),
        ("shop/worker", "Application", "shop/worker"),
        ("shop/volume/pgdata", "StorageDevice", "shop_pgdata"),
        ("shop/volume/uploads", "StorageDevice", "shop_uploads"),
        ("shop/volume/kafka-data", "StorageDevice", "shared-kafka-data"),
    }


def test_edges_point_from_the_service_to_what_it_needs(shop: SourceBatch):
    assert edges(shop) == {
        # depends_on, list form
        ("shop/proxy", "DEPENDS_ON", "shop/web", "hard"),
        ("shop/proxy", "DEPENDS_ON", "shop/api", "hard"),
        ("shop/api", "DEPENDS_ON", "shop/db", "hard"),  # also links: db:database, and DATABASE_URL
        # depends_on, map form; required: false is soft
        ("shop/web", "DEPENDS_ON", "shop/api", "hard"),
        ("shop/web", "DEPENDS_ON", "shop/analytics", "soft"),
        # environment
        ("shop/web", "DEPENDS_ON", "shop/cache", "hard"),  # SESSION_STORE=redis:6379, cache's hostname
        ("shop/api", "DEPENDS_ON", "shop/search", "hard"),  # SEARCH_HOST: ${SEARCH_HOST:-search}
        ("shop/api", "DEPENDS_ON", "shop/kafka-1", "hard"),  # KAFKA_BOOTSTRAP_SERVERS, comma-separated
        ("shop/api", "DEPENDS_ON", "shop/kafka-2", "hard"),
        ("shop/analytics", "DEPENDS_ON", "shop/db", "hard"),  # REPORTING_DSN=postgres://reporting@db/reports
        ("shop/worker", "DEPENDS_ON", "shop/kafka-1", "hard"),  # BROKERS, space-separated
        ("shop/worker", "DEPENDS_ON", "shop/kafka-2", "hard"),
        # network_mode: service:api
        ("shop/worker", "DEPENDS_ON", "shop/api", "hard"),
        # named volumes; uploads is mounted by two services
        ("shop/api", "STORED_ON", "shop/volume/uploads", "hard"),
        ("shop/worker", "STORED_ON", "shop/volume/uploads", "hard"),
        ("shop/db", "STORED_ON", "shop/volume/pgdata", "hard"),
        ("shop/kafka-1", "STORED_ON", "shop/volume/kafka-data", "hard"),
    }


def test_every_edge_joins_two_cis_of_the_batch_once(shop: SourceBatch):
    keys = {ci.key for ci in shop.cis}
    triples = [(rel.source_key, rel.type.value, rel.target_key) for rel in shop.relationships]
    assert len(triples) == len(set(triples))
    assert all(rel.source_key in keys and rel.target_key in keys for rel in shop.relationships)


def test_a_service_remembers_the_line_of_its_name(shop: SourceBatch):
    api = next(ci for ci in shop.cis if ci.key == "shop/api")
    assert (api.location.file, api.location.line, api.location.section) == (SHOP, 29, "services")


def test_service_attributes_carry_project_image_ports_replicas_and_profiles(shop: SourceBatch):
    attributes = {ci.key: ci.ci.attributes for ci in shop.cis}
    assert attributes["shop/proxy"] == {"project": "shop", "service": "proxy", "image": "nginx:1.27-alpine",
                                        "ports": ["80:80", "8443:443"]}
    assert attributes["shop/api"] == {"project": "shop", "service": "api", "image": "ghcr.io/acme/shop-api:2.3.1",
                                      "replicas": 3}
    assert attributes["shop/analytics"]["profiles"] == ["analytics"]
    assert attributes["shop/cache"]["hostname"] == "redis"


def test_a_service_built_from_source_without_image_is_an_application(shop: SourceBatch):
    cis = {ci.key: ci.ci for ci in shop.cis}
    assert (cis["shop/web"].ci_class.value, cis["shop/web"].attributes["build"]) == ("Application", "./web")
    assert (cis["shop/worker"].ci_class.value, cis["shop/worker"].attributes["build"]) == ("Application", "./worker")
    assert "image" not in cis["shop/web"].attributes


def test_an_external_volume_is_a_ci_under_its_own_name(shop: SourceBatch):
    volume = next(ci.ci for ci in shop.cis if ci.key == "shop/volume/kafka-data")
    assert volume.name == "shared-kafka-data"
    assert volume.attributes == {"project": "shop", "volume": "kafka-data", "external": True}


def test_bind_mounts_and_anonymous_volumes_are_not_cis(shop: SourceBatch):
    volumes = {ci.key for ci in shop.cis if ci.ci.ci_class.value == "StorageDevice"}
    assert volumes == {"shop/volume/pgdata", "shop/volume/uploads", "shop/volume/kafka-data"}


def test_a_dangling_depends_on_is_a_finding_and_no_edge(shop: SourceBatch):
    dangling = [f for f in shop.findings if f.kind == DANGLING and "depends_on" in f.message]
    assert [(where(f), f.message) for f in dangling] == [
        ((SHOP, 46), "api.depends_on: 'migrations' is not a service of project shop")]


def test_only_a_host_style_variable_naming_an_unknown_single_label_host_is_reported(shop: SourceBatch):
    # LEGACY_HOST: inventory is; PAYMENT_GATEWAY_URL (dotted), CACHE_ADDR (unset) and
    # NODE_ENV=production (not host-style) are not
    environment = [f for f in shop.findings if "environment" in f.message]
    assert [(where(f), f.kind, f.message) for f in environment] == [
        ((SHOP, 37), DANGLING, "api.environment.LEGACY_HOST: 'inventory' is not a service of project shop")]
    assert len(shop.findings) == 2


def test_a_directory_holds_one_project_per_folder_named_after_it():
    stacks = transform(read(FIXTURES / "stacks"))
    assert stacks.errors == []
    assert {(ci.key, ci.ci.ci_class.value, ci.ci.name) for ci in stacks.cis} == {
        ("blog/wordpress", "Application", "blog/wordpress"),
        ("blog/mysql", "Database", "blog/mysql"),
        ("blog/volume/wp-content", "StorageDevice", "blog_wp-content"),
        ("blog/volume/db-data", "StorageDevice", "blog_db-data"),
        ("wiki/wiki", "Application", "wiki/wiki"),
        ("wiki/postgres", "Database", "wiki/postgres"),
        ("wiki/volume/wiki-db", "StorageDevice", "wiki_wiki-db"),
    }
    assert edges(stacks) == {
        ("blog/wordpress", "DEPENDS_ON", "blog/mysql", "hard"),  # WORDPRESS_DB_HOST: mysql:3306
        ("blog/wordpress", "STORED_ON", "blog/volume/wp-content", "hard"),
        ("blog/mysql", "STORED_ON", "blog/volume/db-data", "hard"),
        ("wiki/wiki", "DEPENDS_ON", "wiki/postgres", "hard"),  # links: postgres:wikidb
        ("wiki/postgres", "STORED_ON", "wiki/volume/wiki-db", "hard"),
    }


def test_a_second_compose_file_in_a_folder_is_skipped_like_compose_does():
    stacks = transform(read(FIXTURES / "stacks"))
    # wiki's DB_HOST: wikidb is its link alias: resolved, so not reported
    [finding] = stacks.findings
    assert finding.kind == SKIPPED
    assert where(finding) == (str(FIXTURES / "stacks" / "blog" / "docker-compose.yml"), None)
    assert finding.message == (f"docker-compose.yml: not read; Compose reads "
                               f"{FIXTURES / 'stacks' / 'blog' / 'compose.yaml'} in this folder")


def test_a_link_alias_is_a_host_only_for_the_linking_service(tmp_path: Path):
    result = project_of(tmp_path, """\
name: pair
services:
  app:
    image: acme/app
    links: ["db:database"]
    environment: [DB_HOST=database]
  reporting:
    image: acme/reporting
    environment: [DB_HOST=database]
  db:
    image: mariadb:11
""")
    assert edges(result) == {("pair/app", "DEPENDS_ON", "pair/db", "hard")}
    [finding] = result.findings
    assert (finding.location.line, finding.message) == (
        9, "reporting.environment.DB_HOST: 'database' is not a service of project pair")


def test_environment_urls_with_credentials_name_their_host(tmp_path: Path):
    result = project_of(tmp_path, """\
name: creds
services:
  app:
    image: acme/app
    environment:
      - SPRING_DATASOURCE_URL=jdbc:postgresql://db:5432/app
      - AMQP=amqp://guest:guest@mq:5672/%2f
      - CACHE=redis://:s3cret@cache:6379/0
      - MODE=db
  db: {image: postgres}
  mq: {image: rabbitmq:3-management}
  cache: {image: memcached}
""")
    assert edges(result) == {
        ("creds/app", "DEPENDS_ON", "creds/db", "hard"),
        ("creds/app", "DEPENDS_ON", "creds/mq", "hard"),
        ("creds/app", "DEPENDS_ON", "creds/cache", "hard"),
    }
    assert {ci.key: ci.ci.ci_class.value for ci in result.cis}["creds/mq"] == "Middleware"


def test_a_project_name_comes_from_the_folder_normalised_like_compose(tmp_path: Path):
    folder = tmp_path / "My Shop.v2"
    folder.mkdir()
    (folder / "docker-compose.yml").write_text("services:\n  web:\n    image: nginx\n")
    assert [ci.key for ci in transform(read(folder)).cis] == ["myshopv2/web"]


def test_an_unknown_depends_on_condition_is_reported_and_still_an_edge(tmp_path: Path):
    result = project_of(tmp_path, """\
services:
  app:
    image: acme/app
    depends_on:
      db:
        condition: service_ready
  db: {image: postgres}
""")
    assert edges(result) == {(f"{tmp_path.name.lower()}/app", "DEPENDS_ON", f"{tmp_path.name.lower()}/db", "hard")}
    [finding] = result.findings
    assert (finding.kind, finding.location.line) == (UNKNOWN_VALUE, 5)
    assert finding.message.startswith("app.depends_on.db.condition: 'service_ready' is not one of")


def test_an_undeclared_named_volume_is_dangling(tmp_path: Path):
    result = project_of(tmp_path,
                        "name: vols\nservices:\n  app:\n    image: acme/app\n    volumes: [cache:/tmp/cache]\n")
    assert edges(result) == set()
    [finding] = result.findings
    assert (finding.kind, finding.location.line) == (DANGLING, 5)
    assert finding.message == "app.volumes: volume 'cache' is not declared under the top-level volumes:"


# --- values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("postgres", "postgres"),
        ("postgres:16-alpine", "postgres"),
        ("bitnami/kafka:3.7", "kafka"),
        ("registry.example.com:5000/library/redis:7@sha256:0123abcd", "redis"),
        ("docker.elastic.co/elasticsearch/elasticsearch:8.14.1", "elasticsearch"),
        ("ghcr.io/acme/Shop-API", "shop-api"),
    ],
)
def test_the_image_repository_is_its_last_path_part_without_tag_or_digest(image: str, repository: str):
    assert image_repository(image) == repository


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("db", "db"),
        ("${DB_HOST:-db}", "db"),
        ("${DB_HOST-db}:5432", "db:5432"),
        ("postgres://${USER:-app}@${HOST:-db}/x", "postgres://app@db/x"),
        ("cost: $$5", "cost: $5"),
        ("${DB_HOST}", None),
        ("$DB_HOST", None),
        ("${DB_HOST:?set it}", None),
        ("${A:-${B:-x}}", None),
    ],
)
def test_interpolation_uses_defaults_and_leaves_the_rest_unresolved(text: str, expected: str | None):
    assert interpolate(text) == expected


@pytest.mark.parametrize(
    ("value", "bare", "hosts"),
    [
        ("db", True, ["db"]),
        ("db", False, []),
        ("db:5432", False, ["db"]),
        ("postgres://user:p%40ss@DB:5432/app?ssl=true", False, ["db"]),
        ("mongodb://u:p@mongo-1:27017,mongo-2:27017/app?replicaSet=rs0", False, ["mongo-1", "mongo-2"]),
        ("kafka-1:9092, kafka-2:9092", False, ["kafka-1", "kafka-2"]),
        ("-Dspring.url=http://api:8080", False, ["api"]),
        ("localhost:5432", True, []),
        ("10.0.0.5:5432", True, []),
        ("https://payments.example.com/api", True, ["payments.example.com"]),
        ("/api/v1", True, []),
        ("production", False, []),
    ],
)
def test_hosts_are_read_from_urls_host_port_pairs_and_bare_names(value: str, bare: bool, hosts: list[str]):
    assert hosts_in(value, bare) == hosts


@pytest.mark.parametrize(
    ("name", "host_style"),
    [("DB_HOST", True), ("redis_url", True), ("KAFKA_BOOTSTRAP_SERVERS", True), ("PGHOST", True),
     ("SENTRY_DSN", True), ("HOSTNAME", True), ("GHOST", False), ("NODE_ENV", False), ("HOST_PORT", False)],
)
def test_host_style_variables_are_known_by_their_suffix(name: str, host_style: bool):
    assert is_host_variable(name) is host_style


@pytest.mark.parametrize(
    ("mount", "volume"),
    [
        ("data:/var/lib/data", "data"),
        ("data:/var/lib/data:ro", "data"),
        ("./data:/data", None),
        ("/srv/data:/data", None),
        ("~/data:/data", None),
        ("C:\\data:/data", None),
        ("/data", None),
        ({"type": "volume", "source": "data", "target": "/data"}, "data"),
        ({"type": "bind", "source": "./data", "target": "/data"}, None),
        ({"type": "tmpfs", "target": "/tmp"}, None),
        ({"type": "volume", "target": "/anonymous"}, None),
        ("${DATA_VOLUME:-data}:/data", "data"),
    ],
)
def test_a_mount_names_a_volume_only_when_it_is_a_named_volume(mount, volume):
    assert named_volume(mount) == volume


# --- errors -----------------------------------------------------------------------------


def test_invalid_yaml_cannot_be_read_and_names_the_line():
    with pytest.raises(SourceReadError) as caught:
        read(FIXTURES / "broken" / "invalid")
    [error] = caught.value.errors
    assert (error.location.file, error.location.line) == (str(FIXTURES / "broken" / "invalid" / "compose.yaml"), 6)


def test_a_service_that_is_not_a_mapping_is_an_error_naming_file_line_and_field():
    result = transform(read(FIXTURES / "broken" / "not-a-mapping"))
    [error] = result.errors
    assert (error.location.file, error.location.line, error.location.section, error.field) == (
        str(FIXTURES / "broken" / "not-a-mapping" / "compose.yaml"), 4, "services", "worker")
    assert [ci.key for ci in result.cis] == ["not-a-mapping/web"]


def test_a_service_with_neither_image_nor_build_is_an_error(tmp_path: Path):
    result = project_of(tmp_path, "name: bare\nservices:\n  app:\n    ports: ['80:80']\n")
    [error] = result.errors
    assert (error.location.line, error.field) == (3, "app.image")


def test_references_to_an_invalid_service_or_volume_are_not_reported_again(tmp_path: Path):
    result = project_of(tmp_path, """\
name: shop
services:
  app:
    image: acme/app
    depends_on: [db]
    environment: [DB_HOST=db]
    volumes: [data:/data]
  db:
    ports: ['5432:5432']
volumes:
  data: [local]
""")
    assert [error.field for error in result.errors] == ["data", "db.image"]
    assert result.findings == [] and result.relationships == []
    assert [ci.key for ci in result.cis] == ["shop/app"]


def test_two_files_of_the_same_project_are_an_error(tmp_path: Path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "compose.yaml").write_text("name: shop\nservices:\n  web: {image: nginx}\n")
    result = transform(read(tmp_path))
    [error] = result.errors
    assert (error.location.file, error.location.line, error.field) == (str(tmp_path / "b" / "compose.yaml"), 1, "name")


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("name: Shop\nservices: {}\n", 1, "name"),
        ("services: [web]\n", 1, "services"),
        ("services:\n  web:\n    image: nginx\n    depends_on: db\n", 4, "web.depends_on"),
        ("services:\n  web:\n    image: nginx\n    environment: FOO=bar\n", 4, "web.environment"),
        ("services:\n  web:\n    image: nginx\n    ports: '80:80'\n", 4, "web.ports"),
        ("volumes:\n  data: [local]\n", 2, "data"),
    ],
)
def test_a_malformed_value_is_an_error_on_its_line(tmp_path: Path, text: str, line: int, field: str):
    result = project_of(tmp_path, text)
    [error] = result.errors
    assert (error.location.line, error.field) == (line, field)


@pytest.mark.parametrize("text", ["", "- web\n- db\n", "services: {}\n---\nservices: {}\n"])
def test_a_file_that_is_not_one_compose_mapping_cannot_be_read(tmp_path: Path, text: str):
    (tmp_path / "compose.yaml").write_text(text)
    with pytest.raises(SourceReadError):
        read(tmp_path)


def test_a_folder_without_compose_files_cannot_be_read(tmp_path: Path):
    (tmp_path / "values.yaml").write_text("a: 1\n")
    with pytest.raises(SourceReadError):
        read(tmp_path)


def test_the_same_files_give_the_same_batch(shop: SourceBatch):
    again = transform(read(FIXTURES / "shop"))
    assert [ci.key for ci in again.cis] == [ci.key for ci in shop.cis]
    assert again.relationships == shop.relationships
    assert again.findings == shop.findings
