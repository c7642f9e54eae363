"""What importers of deployment descriptions (Docker Compose, Kubernetes) share: the class a
container image says, and the host names an environment variable points at.

Pure functions over text. What a host name resolves to is each importer's own business:
Compose matches it against service names, hostnames and aliases, Kubernetes against cluster
DNS forms of its Services.
"""

from __future__ import annotations

import re

from cmdb_graph.model import CIClass

# --- images ------------------------------------------------------------------------------------

# Image repository name (see image_repository) -> class: datastores are Databases, brokers and
# caches in front of them Middleware. Names match exactly, so `postgres-exporter` or
# `redis_exporter` are not in it. Any other image is what the importer says by default.
IMAGE_CLASSES: dict[str, CIClass] = {
    **dict.fromkeys((
        "postgres", "postgresql", "postgis", "timescaledb", "mysql", "mysql-server", "percona-server",
        "mariadb", "mongo", "mongodb", "mongodb-community-server", "redis", "redis-stack-server", "valkey",
        "keydb", "cassandra", "scylla", "elasticsearch", "opensearch", "clickhouse", "clickhouse-server",
        "cockroach", "influxdb", "couchdb", "couchbase", "neo4j", "etcd", "minio",
    ), CIClass.DATABASE),
    **dict.fromkeys((
        "rabbitmq", "kafka", "cp-kafka", "cp-server", "redpanda", "nats", "nats-streaming", "zookeeper",
        "cp-zookeeper", "memcached", "activemq", "activemq-artemis", "pulsar", "eclipse-mosquitto", "emqx",
    ), CIClass.MIDDLEWARE),
}


def image_repository(image: str) -> str:
    """The last part of an image reference, without registry, path, tag or digest, in lower
    case: `registry.example.com:5000/library/postgres:16-alpine@sha256:...` -> `postgres`."""
    return image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0].lower()


def image_class(image: str) -> CIClass | None:
    """The class IMAGE_CLASSES gives the image, or None."""
    return IMAGE_CLASSES.get(image_repository(image))


# --- host-style variables ----------------------------------------------------------------------

# A variable whose name ends in `_` + one of these (`DB_HOST`, `REDIS_URL`,
# `KAFKA_BOOTSTRAP_SERVERS`), or is one of HOST_VARIABLES, holds a host even when its value is
# a bare name (`DB_HOST=db`). Any other variable holds one only as a URL or `host:port`.
HOST_SUFFIXES = ("HOST", "HOSTNAME", "HOSTS", "ADDR", "ADDRESS", "URL", "URI", "DSN", "SERVER", "SERVERS",
                 "ENDPOINT", "BROKERS")
HOST_VARIABLES = frozenset({"PGHOST"})


def is_host_variable(name: str, *, suffix_alone: bool = True) -> bool:
    """Whether `name` is host-style. `suffix_alone`: a name that is only the suffix (`HOST`,
    `HOSTNAME`, `URL`) counts too; Kubernetes says no, since there `HOSTNAME` is the pod's own
    name and an `envFrom` prefix is what makes a ConfigMap's `HOST` a `DB_HOST`."""
    upper = name.upper()
    if upper in HOST_VARIABLES:
        return True
    _head, underscore, last = upper.rpartition("_")
    return last in HOST_SUFFIXES and (bool(underscore) or suffix_alone)


# --- hosts in a value --------------------------------------------------------------------------

LOCAL_HOSTS = frozenset({"localhost"})

LIST_SEPARATORS = re.compile(r"[\s,;]+")  # `a:1,b:2`, `a:1 b:2`, JDBC's `;property=value`
AUTHORITY_END = re.compile(r"[/?#]")
PORT = re.compile(r"^[0-9]{1,5}$")
# Labels of letters, digits, `-` and `_` (Compose allows it in service names), neither
# starting nor ending with `-`; the first starts with a letter, as a Kubernetes Service name
# does, so an IP address, a number (`12:30`) or a date (`2024-01-01T12:30`) is no host. An
# FQDN's final dot is dropped before.
HOST_NAME = re.compile(r"^[a-z](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$")
NUMERIC_LABEL = re.compile(r"^[0-9]+$")  # a last label of digits only: a version (`v1.2:80`), no host
# Oracle's thin driver has no `//` before its host: `jdbc:oracle:thin:[user/pass]@db:1521:ORCL`,
# or `...@//db:1521/service`.
ORACLE_THIN = re.compile(r"^jdbc:oracle:[a-z0-9]+:[^@]*@(?://)?(?P<address>.*)$", re.IGNORECASE)


def hosts_in(value: str, bare: bool) -> list[str]:
    """The host names a value names, lower case, each once, in order. The value is split on
    commas, semicolons and white space (`kafka-1:9092,kafka-2:9092`, a MongoDB seed list), and
    each part read as a URL (`postgres://user:pass@db:5432/x`, `jdbc:postgresql://db/x`, also
    inside an option: `-Durl=http://api`), as `[user:pass@]host:port[/...]`, or, where `bare`
    (the variable is host-style), as a bare host name. Outside a URL, what follows a `:` must be
    a port. `localhost`, IP addresses and numbers (`12:30`) are no host names."""
    hosts = []
    for part in LIST_SEPARATORS.split(value):
        host = _host(part, bare)
        if host is not None and host not in hosts:
            hosts.append(host)
    return hosts


def variable_hosts(name: str, value: str, *, suffix_alone: bool = True) -> list[str]:
    """The host names the value of variable `name` names: hosts_in, bare names counting for a
    host-style variable (is_host_variable)."""
    return hosts_in(value, is_host_variable(name, suffix_alone=suffix_alone))


def _host(part: str, bare: bool) -> str | None:
    oracle = ORACLE_THIN.match(part)
    _scheme, is_url, rest = part.partition("://")
    if oracle is not None:
        rest, is_url = oracle["address"], "oracle"
    address = AUTHORITY_END.split(rest if is_url else part, maxsplit=1)[0].rpartition("@")[2]
    host, colon, port = address.partition(":")
    if not is_url and (PORT.match(port) is None if colon else not bare):
        return None
    host = host.lower().removesuffix(".")
    if not HOST_NAME.match(host) or host in LOCAL_HOSTS or NUMERIC_LABEL.match(host.rpartition(".")[2]):
        return None
    return host
