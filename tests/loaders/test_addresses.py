"""What the Compose and Kubernetes importers share: image classes, host-style variables, and
the host names an environment value names. Pure functions, no files."""

from __future__ import annotations

import pytest

from cmdb_graph.model import CIClass
from loaders.sync.addresses import (
    IMAGE_CLASSES,
    LOCAL_HOSTS,
    hosts_in,
    image_class,
    image_repository,
    is_host_variable,
    variable_hosts,
)

# --- images ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("image", "repository"), [
    ("postgres", "postgres"),
    ("postgres:16-alpine", "postgres"),
    ("bitnami/kafka:3.7", "kafka"),
    ("registry.example.com:5000/library/Redis:7@sha256:0123abcd", "redis"),
    ("docker.io/library/mongo@sha256:0123abcd", "mongo"),
])
def test_an_image_is_known_by_its_repository_name(image: str, repository: str):
    assert image_repository(image) == repository


@pytest.mark.parametrize(("image", "ci_class"), [
    ("postgres:16", CIClass.DATABASE),
    ("confluentinc/cp-kafka:7.6.0", CIClass.MIDDLEWARE),
    ("quay.io/prometheuscommunity/postgres-exporter:v0.15.0", None),  # exact names only
    ("nginx:1.27", None),  # a reverse proxy is each importer's own call
    ("ghcr.io/acme/shop-api:2.3.1", None),
])
def test_an_image_class_comes_from_the_one_table(image: str, ci_class: CIClass | None):
    assert image_class(image) is ci_class


def test_the_table_holds_datastores_and_brokers_only():
    assert set(IMAGE_CLASSES.values()) == {CIClass.DATABASE, CIClass.MIDDLEWARE}


# --- host-style variables ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "host_style"), [
    ("DB_HOST", True), ("redis_url", True), ("KAFKA_BOOTSTRAP_SERVERS", True), ("SMTP_HOSTNAME", True),
    ("SENTRY_DSN", True), ("PGHOST", True), ("HOST", True), ("GHOST", False), ("HOST_PORT", False),
    ("NODE_ENV", False), ("DB_HOST_", False),
])
def test_a_host_style_variable_is_known_by_its_suffix(name: str, host_style: bool):
    assert is_host_variable(name) is host_style


@pytest.mark.parametrize(("name", "host_style"), [
    ("HOST", False), ("HOSTNAME", False), ("URL", False), ("DB_HOST", True), ("_HOST", True), ("PGHOST", True),
])
def test_without_suffix_alone_the_bare_suffix_is_not_host_style(name: str, host_style: bool):
    assert is_host_variable(name, suffix_alone=False) is host_style


# --- hosts in a value --------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "bare", "hosts"), [
    # a bare host, for a host-style variable only
    ("db", True, ["db"]),
    ("db", False, []),
    ("Catalog-DB", True, ["catalog-db"]),
    ("db.shop.svc.cluster.local.", True, ["db.shop.svc.cluster.local"]),
    # host:port, with or without credentials and a path
    ("db:5432", False, ["db"]),
    ("user:pw@db:5432/app", False, ["db"]),
    ("db:abc", True, []),  # no port after the colon: not an address
    ("fd00::1", True, []),
    # URLs with credentials
    ("postgres://shop:s3cret@db:5432/shop?sslmode=require", False, ["db"]),
    ("redis://:p4ss@cache:6379/0", False, ["cache"]),
    ("postgres://user:p%40ss@DB/app", False, ["db"]),
    ("https://api.stripe.com/v1", False, ["api.stripe.com"]),
    ("-Dspring.url=http://api:8080", False, ["api"]),  # a URL inside an option
    # lists
    ("kafka-0:9092,kafka-1:9092", False, ["kafka-0", "kafka-1"]),
    ("kafka-0:9092, kafka-1:9092 kafka-2:9092", False, ["kafka-0", "kafka-1", "kafka-2"]),
    ("db1,db2", True, ["db1", "db2"]),
    ("db:5432,db:5433", False, ["db"]),  # each host once
    ("search,recommendations", False, []),
    # JDBC URLs
    ("jdbc:postgresql://Catalog-DB:5432/catalog", False, ["catalog-db"]),
    ("jdbc:mysql://db-1:3306,db-2:3306/app", False, ["db-1", "db-2"]),
    ("jdbc:sqlserver://mssql:1433;databaseName=app;encrypt=true", False, ["mssql"]),
    ("jdbc:oracle:thin:@ora:1521:ORCL", False, ["ora"]),
    ("jdbc:oracle:thin:scott/tiger@//ora.shop:1521/svc", False, ["ora.shop"]),
    # MongoDB seed lists
    ("mongodb://u:p@mongo-0.mongo:27017,mongo-1.mongo:27017/app?replicaSet=rs0", False,
     ["mongo-0.mongo", "mongo-1.mongo"]),
    ("mongodb+srv://u:p@cluster0.example.net/app", False, ["cluster0.example.net"]),
    # localhost is ignored
    ("localhost", True, []),
    ("localhost:5432", False, []),
    ("http://LOCALHOST:8080/health", False, []),
    # an IP address, a number, a date or a version is no host name
    ("10.0.0.5", True, []),
    ("10.0.0.5:5432", False, []),
    ("postgres://u:p@10.0.0.5:5432/x", False, []),
    ("12:30", False, []),
    ("2024-01-01T12:30", False, []),
    ("v1.2:80", False, []),
    # neither a URL nor host:port
    ("Europe/Paris", False, []),
    ("/api/v1", True, []),
    ("production", False, []),
    ("", True, []),
])
def test_hosts_are_read_from_each_form_of_value(value: str, bare: bool, hosts: list[str]):
    assert hosts_in(value, bare) == hosts


def test_local_hosts_are_localhost():
    assert "localhost" in LOCAL_HOSTS


@pytest.mark.parametrize(("name", "value", "suffix_alone", "hosts"), [
    ("DB_HOST", "db", True, ["db"]),
    ("GREETING", "db", True, []),
    ("GREETING", "db:5432", True, ["db"]),
    ("HOST", "db", True, ["db"]),
    ("HOST", "db", False, []),
    ("HOST", "db:5432", False, ["db"]),  # a port makes any value an address
    ("PGHOST", "db", False, ["db"]),
])
def test_a_variable_makes_a_bare_name_a_host_when_it_is_host_style(
        name: str, value: str, suffix_alone: bool, hosts: list[str]):
    assert variable_hosts(name, value, suffix_alone=suffix_alone) == hosts
