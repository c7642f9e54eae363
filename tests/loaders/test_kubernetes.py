"""The Kubernetes importer without a database: manifests in, the source's view out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmdb_graph.model import CIClass, Environment
from loaders.kubernetes import IMPORTER
from loaders.kubernetes.get import read
from loaders.kubernetes.transform import cluster_service, transform, workload_class
from loaders.sync.addresses import image_repository
from loaders.sync.addresses import variable_hosts as hosts_in
from loaders.sync.files import SourceReadError
from loaders.sync.model import DANGLING, SKIPPED, UNKNOWN_VALUE, Finding, SourceBatch, SourceCI

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kubernetes"
CLUSTER = FIXTURES / "cluster"
WEB = str(CLUSTER / "shop" / "web.yaml")
CATALOG = str(CLUSTER / "shop" / "catalog.yaml")
SHOP_INGRESS = str(CLUSTER / "shop" / "ingress.yaml")
PAYMENTS = str(CLUSTER / "payments" / "all.yaml")
PAYMENTS_INGRESS = str(CLUSTER / "payments" / "ingress.yml")
DATA = str(CLUSTER / "data" / "data.json")
BROKEN = FIXTURES / "broken.yaml"


@pytest.fixture(scope="module")
def batch() -> SourceBatch:
    return transform(read(CLUSTER))


def edges(batch: SourceBatch) -> set[tuple[str, str, str]]:
    return {(rel.source_key, rel.type.value, rel.target_key) for rel in batch.relationships}


def edge_line(batch: SourceBatch, source: str, target: str) -> tuple[str, int | None]:
    [rel] = [rel for rel in batch.relationships if (rel.source_key, rel.target_key) == (source, target)]
    return rel.location.file, rel.location.line


def ci(batch: SourceBatch, key: str) -> SourceCI:
    [found] = [source_ci for source_ci in batch.cis if source_ci.key == key]
    return found


def findings(batch: SourceBatch, kind: str) -> list[Finding]:
    return [finding for finding in batch.findings if finding.kind == kind]


def where(finding: Finding) -> tuple[str, int | None]:
    return finding.location.file, finding.location.line


def manifests(tmp_path: Path, text: str, name: str = "manifests.yaml") -> SourceBatch:
    (tmp_path / name).write_text(text)
    return transform(read(tmp_path))


def test_the_importer_is_registered_under_its_name():
    assert IMPORTER.name == "kubernetes"
    assert IMPORTER.get is read and IMPORTER.transform is transform
    assert not IMPORTER.keys_are_ids


# --- the fixture cluster: CIs and edges --------------------------------------------------------


def test_workloads_services_and_ingresses_become_cis(batch: SourceBatch):
    assert batch.errors == []
    assert {(c.key, c.ci.ci_class.value, c.ci.name) for c in batch.cis} == {
        ("shop/deployment/web", "Application", "web"),
        ("shop/deployment/web-canary", "Application", "web-canary"),
        ("shop/deployment/catalog", "Application", "catalog"),
        ("shop/deployment/errors", "Application", "errors"),
        ("shop/statefulset/db", "Database", "db"),
        ("shop/service/web", "LoadBalancer", "web"),
        ("shop/service/catalog", "LoadBalancer", "catalog"),
        ("shop/service/db", "LoadBalancer", "db"),
        ("shop/service/errors", "LoadBalancer", "errors"),
        ("shop/service/legacy", "LoadBalancer", "legacy"),
        ("shop/service/stripe", "LoadBalancer", "stripe"),
        ("shop/ingress/shop", "LoadBalancer", "shop"),
        ("payments/deployment/api", "Application", "api"),
        ("payments/statefulset/db", "Database", "db"),
        ("payments/service/api", "LoadBalancer", "api"),
        ("payments/service/db", "LoadBalancer", "db"),
        ("payments/ingress/payments", "LoadBalancer", "payments"),
        ("data/statefulset/kafka", "Middleware", "kafka"),
        ("data/statefulset/search", "Database", "search"),
        ("data/daemonset/log-agent", "Application", "log-agent"),
        ("data/service/kafka", "LoadBalancer", "kafka"),
        ("data/service/search", "LoadBalancer", "search"),
    }


def test_cis_come_sorted_by_key_with_placeholder_ids_and_no_external_ids(batch: SourceBatch):
    keys = [c.key for c in batch.cis]
    assert keys == sorted(keys)
    assert all(c.ci.id == c.key and c.ci.external_ids == {} for c in batch.cis)


def test_edges_point_from_the_dependent_to_what_it_needs(batch: SourceBatch):
    assert edges(batch) == {
        # a Service needs the workloads its selector picks
        ("shop/service/web", "DEPENDS_ON", "shop/deployment/web"),
        ("shop/service/web", "DEPENDS_ON", "shop/deployment/web-canary"),
        ("shop/service/catalog", "DEPENDS_ON", "shop/deployment/catalog"),
        ("shop/service/db", "DEPENDS_ON", "shop/statefulset/db"),
        ("shop/service/errors", "DEPENDS_ON", "shop/deployment/errors"),
        ("payments/service/api", "DEPENDS_ON", "payments/deployment/api"),
        ("payments/service/db", "DEPENDS_ON", "payments/statefulset/db"),
        ("data/service/kafka", "DEPENDS_ON", "data/statefulset/kafka"),
        ("data/service/search", "DEPENDS_ON", "data/statefulset/search"),
        # an Ingress needs the Services its backends name
        ("shop/ingress/shop", "DEPENDS_ON", "shop/service/errors"),
        ("shop/ingress/shop", "DEPENDS_ON", "shop/service/web"),
        ("shop/ingress/shop", "DEPENDS_ON", "shop/service/catalog"),
        ("payments/ingress/payments", "DEPENDS_ON", "payments/service/api"),
        # a workload needs the Services its environment names
        ("shop/deployment/web", "DEPENDS_ON", "shop/service/catalog"),
        ("shop/deployment/web", "DEPENDS_ON", "payments/service/api"),
        ("shop/deployment/web", "DEPENDS_ON", "shop/service/db"),
        ("shop/deployment/web", "DEPENDS_ON", "data/service/search"),
        ("shop/deployment/web-canary", "DEPENDS_ON", "data/service/search"),
        ("shop/deployment/catalog", "DEPENDS_ON", "shop/service/db"),
        ("payments/deployment/api", "DEPENDS_ON", "payments/service/db"),
        ("payments/deployment/api", "DEPENDS_ON", "shop/service/catalog"),
        ("payments/deployment/api", "DEPENDS_ON", "data/service/kafka"),
        ("data/daemonset/log-agent", "DEPENDS_ON", "data/service/search"),
    }


def test_every_edge_joins_two_cis_of_the_batch_once_in_sorted_order(batch: SourceBatch):
    keys = {c.key for c in batch.cis}
    pairs = [(rel.source_key, rel.target_key) for rel in batch.relationships]
    assert all(source in keys and target in keys for source, target in pairs)
    assert pairs == sorted(set(pairs))


def test_the_findings_are_exactly_the_expected_ones(batch: SourceBatch):
    """Among others: the external `api.stripe.com`, `localhost` and the ExternalName Service
    are not reported."""
    assert [(f.kind, *where(f)) for f in batch.findings] == [
        (SKIPPED, DATA, None),
        (SKIPPED, PAYMENTS, 73),
        (UNKNOWN_VALUE, WEB, 67),
        (DANGLING, CATALOG, 81),
        (DANGLING, SHOP_INGRESS, 42),
        (DANGLING, DATA, None),
        (DANGLING, WEB, 43),
    ]


def test_workload_attributes_carry_namespace_kind_images_replicas_and_recommended_labels(batch: SourceBatch):
    assert ci(batch, "shop/deployment/web").ci.attributes == {
        "namespace": "shop", "kind": "Deployment", "images": ["registry.example.com:5000/shop/web:1.4.2"],
        "replicas": 3, "app": "web", "part_of": "shop",
    }
    assert ci(batch, "shop/statefulset/db").ci.attributes["images"] == [
        "docker.io/library/postgres:16.2@sha256:4aea012537edfad80f98d870a36e6b90b4c09b27be7f4b4759d72db863baeebb",
        "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
    ]


def test_a_daemonset_has_no_replicas(batch: SourceBatch):
    assert "replicas" not in ci(batch, "data/daemonset/log-agent").ci.attributes


def test_service_attributes_carry_type_ports_as_kubectl_shows_them_and_selector(batch: SourceBatch):
    assert ci(batch, "shop/service/catalog").ci.attributes == {
        "namespace": "shop", "kind": "Service", "type": "NodePort", "ports": ["8080:30080/TCP"],
        "selector": "app=catalog",
    }


def test_a_cluster_ip_is_an_attribute_not_an_address_and_a_headless_service_has_none(batch: SourceBatch):
    """Cluster IPs repeat from cluster to cluster: as ip_addresses they would merge Services."""
    web = ci(batch, "shop/service/web").ci
    assert web.ip_addresses == [] and web.attributes["cluster_ip"] == "10.96.12.40"
    assert "cluster_ips" not in web.attributes
    search = ci(batch, "data/service/search").ci
    assert search.ip_addresses == [] and search.attributes["cluster_ip"] == "10.96.7.9"
    assert search.attributes["cluster_ips"] == ["10.96.7.9", "fd00:10:96::7:9"]
    headless = ci(batch, "shop/service/db").ci
    assert headless.ip_addresses == [] and headless.attributes["headless"] is True
    assert "cluster_ip" not in headless.attributes


def test_an_external_name_service_keeps_its_name_and_has_no_edges(batch: SourceBatch):
    stripe = ci(batch, "shop/service/stripe").ci
    assert stripe.attributes["external_name"] == "api.stripe.com"
    assert stripe.attributes["type"] == "ExternalName"
    assert not any("shop/service/stripe" in pair for pair in edges(batch))


def test_ingress_attributes_carry_hosts_and_class_in_either_form(batch: SourceBatch):
    assert ci(batch, "shop/ingress/shop").ci.attributes == {
        "namespace": "shop", "kind": "Ingress", "hosts": ["admin.shop.example.com", "shop.example.com"],
        "ingress_class": "nginx",
    }
    assert ci(batch, "payments/ingress/payments").ci.attributes["ingress_class"] == "nginx"  # the annotation


def test_environment_comes_from_an_environment_env_or_tier_label(batch: SourceBatch):
    assert ci(batch, "shop/deployment/web").ci.environment is Environment.PRODUCTION  # environment: production
    assert ci(batch, "payments/deployment/api").ci.environment is Environment.STAGING  # env: stage
    assert ci(batch, "data/statefulset/search").ci.environment is Environment.PRODUCTION  # tier: backend


def test_an_environment_label_that_is_no_environment_is_reported_and_production_assumed(batch: SourceBatch):
    assert ci(batch, "shop/deployment/web-canary").ci.environment is Environment.PRODUCTION
    [finding] = findings(batch, UNKNOWN_VALUE)
    assert where(finding) == (WEB, 67)
    assert "metadata.labels" in finding.message and "environment=canary" in finding.message


def test_each_ci_remembers_its_file_kind_index_and_line(batch: SourceBatch):
    location = ci(batch, "shop/service/web").location
    assert (location.file, location.line, location.section, location.index) == (WEB, 86, "Service", 2)
    in_list = ci(batch, "payments/statefulset/db").location
    assert (in_list.file, in_list.line, in_list.section, in_list.index) == (PAYMENTS, 45, "StatefulSet", 2)


def test_an_object_of_a_json_file_is_known_by_file_and_index_without_a_line(batch: SourceBatch):
    location = ci(batch, "data/daemonset/log-agent").location
    assert (location.file, location.line, location.section, location.index) == (DATA, None, "DaemonSet", 5)


# --- the tricky cases ---------------------------------------------------------------------------


def test_a_kind_list_is_read_item_by_item(batch: SourceBatch):
    from_list = {c.key for c in batch.cis if c.location.file == PAYMENTS}
    assert from_list == {"payments/deployment/api", "payments/service/api", "payments/statefulset/db",
                         "payments/service/db"}


def test_a_service_name_resolves_in_the_workloads_own_namespace(batch: SourceBatch):
    """`db` exists in shop and in payments: each workload reaches its own."""
    assert ("payments/deployment/api", "DEPENDS_ON", "payments/service/db") in edges(batch)
    assert ("payments/deployment/api", "DEPENDS_ON", "shop/service/db") not in edges(batch)
    assert ("shop/deployment/catalog", "DEPENDS_ON", "shop/service/db") in edges(batch)  # jdbc:postgresql://db


def test_service_dot_namespace_crosses_namespaces(batch: SourceBatch):
    assert edge_line(batch, "payments/deployment/api", "shop/service/catalog") == (PAYMENTS, 31)  # catalog.shop:8080
    assert ("shop/deployment/web", "DEPENDS_ON", "payments/service/api") in edges(batch)  # .svc.cluster.local


def test_a_config_map_key_ref_value_is_resolved(batch: SourceBatch):
    """DATABASE_URL (line 47) comes from ConfigMap shop-config: a URL with credentials. The
    init container's DB_ADDR names the same Service later; the edge keeps the first line."""
    assert edge_line(batch, "shop/deployment/web", "shop/service/db") == (WEB, 47)


def test_env_from_a_config_map_reads_every_key_with_its_prefix(batch: SourceBatch):
    assert edge_line(batch, "shop/deployment/web", "data/service/search") == (WEB, 58)  # SHOP_SEARCH_ENDPOINT
    assert edge_line(batch, "shop/deployment/web-canary", "data/service/search") == (WEB, 83)  # no prefix


def test_a_comma_separated_list_of_statefulset_pods_reaches_their_service(batch: SourceBatch):
    assert edge_line(batch, "payments/deployment/api", "data/service/kafka") == (PAYMENTS, 33)


def test_a_dangling_host_is_a_finding_naming_workload_variable_and_host(batch: SourceBatch):
    [finding] = [f for f in findings(batch, DANGLING) if where(f) == (WEB, 43)]
    assert finding.message.startswith("spec.template.spec.containers[0].env[3]: shop/deployment/web: REDIS_HOST")
    assert "'cache'" in finding.message and "shop/service/cache" in finding.message


def test_a_cluster_host_in_a_namespace_not_in_the_input_is_dangling_too(batch: SourceBatch):
    [finding] = [f for f in findings(batch, DANGLING) if where(f) == (DATA, None)]
    assert "data/daemonset/log-agent: LOKI_URL" in finding.message
    assert "monitoring/service/loki" in finding.message


def test_a_service_selecting_two_workloads_depends_on_both(batch: SourceBatch):
    assert edge_line(batch, "shop/service/web", "shop/deployment/web") == (WEB, 92)
    assert edge_line(batch, "shop/service/web", "shop/deployment/web-canary") == (WEB, 92)


def test_a_service_selecting_nothing_is_a_finding(batch: SourceBatch):
    [finding] = [f for f in findings(batch, DANGLING) if where(f) == (CATALOG, 81)]
    assert finding.message.startswith("spec.selector: Service shop/service/legacy fronts no workload")
    assert "app=legacy-billing" in finding.message
    assert not any(source == "shop/service/legacy" for source, _type, _target in edges(batch))


def test_an_ingress_needs_its_default_backend_and_every_rule_backend(batch: SourceBatch):
    assert edge_line(batch, "shop/ingress/shop", "shop/service/errors") == (SHOP_INGRESS, 10)
    assert edge_line(batch, "shop/ingress/shop", "shop/service/web") == (SHOP_INGRESS, 25)
    assert edge_line(batch, "shop/ingress/shop", "shop/service/catalog") == (SHOP_INGRESS, 32)


def test_an_ingress_backend_naming_a_missing_service_is_a_finding(batch: SourceBatch):
    [finding] = [f for f in findings(batch, DANGLING) if where(f) == (SHOP_INGRESS, 42)]
    assert finding.message.startswith("spec.rules[1].http.paths[0].backend: Ingress shop/ingress/shop")
    assert "Service admin" in finding.message


def test_an_old_style_ingress_backend_is_read(batch: SourceBatch):
    """extensions/v1beta1: `serviceName`, and `spec.backend` as the default backend."""
    assert edge_line(batch, "payments/ingress/payments", "payments/service/api") == (PAYMENTS_INGRESS, 10)


def test_other_kinds_are_skipped_with_one_finding_per_kind_and_a_count(batch: SourceBatch):
    assert [(f.message, *where(f)) for f in findings(batch, SKIPPED)] == [
        ("kind: Namespace (v1) is not read; 3 objects skipped", DATA, None),
        ("kind: Secret (v1) is not read; 2 objects skipped", PAYMENTS, 73),
    ]


def test_a_workload_does_not_depend_on_the_service_that_fronts_only_itself(batch: SourceBatch):
    """kafka advertises itself as kafka-0.kafka.data.svc.cluster.local."""
    assert ("data/statefulset/kafka", "DEPENDS_ON", "data/service/kafka") not in edges(batch)


def test_an_init_container_image_does_not_make_a_workload_a_database(batch: SourceBatch):
    assert ci(batch, "shop/deployment/web").ci.ci_class is CIClass.APPLICATION  # init: postgres:16-alpine


def test_the_same_manifests_give_the_same_batch(batch: SourceBatch):
    again = transform(read(CLUSTER))
    assert again.cis == batch.cis
    assert again.relationships == batch.relationships
    assert again.findings == batch.findings


def test_one_multi_document_file_can_be_read_on_its_own():
    single = transform(read(Path(WEB)))
    assert {c.key for c in single.cis} == {"shop/deployment/web", "shop/deployment/web-canary", "shop/service/web"}
    assert edges(single) == {
        ("shop/service/web", "DEPENDS_ON", "shop/deployment/web"),
        ("shop/service/web", "DEPENDS_ON", "shop/deployment/web-canary"),
    }


# --- the rules, one by one ----------------------------------------------------------------------


@pytest.mark.parametrize(("image", "repository"), [
    ("postgres", "postgres"),
    ("postgres:16-alpine", "postgres"),
    ("docker.io/bitnami/postgresql:15.3.0", "postgresql"),
    ("registry.example.com:5000/team/Redis:7@sha256:abc", "redis"),
    ("quay.io/prometheuscommunity/postgres-exporter:v0.15.0", "postgres-exporter"),
])
def test_an_image_is_known_by_its_repository_name_without_registry_and_tag(image: str, repository: str):
    assert image_repository(image) == repository


@pytest.mark.parametrize(("images", "ci_class"), [
    (["nginx:1.25"], CIClass.APPLICATION),
    (["mongo:7", "bitnami/mongodb-exporter:0.40"], CIClass.DATABASE),
    (["rabbitmq:3-management"], CIClass.MIDDLEWARE),
    (["confluentinc/cp-kafka:7.6.0", "redis:7"], CIClass.DATABASE),
    (["redis_exporter:v1.58"], CIClass.APPLICATION),
    ([], CIClass.APPLICATION),
])
def test_a_workload_class_follows_its_images_databases_first(images: list[str], ci_class: CIClass):
    assert workload_class(images) is ci_class


@pytest.mark.parametrize(("variable", "value", "hosts"), [
    ("DB_HOST", "db", ["db"]),
    ("DB_HOST", "localhost", []),
    ("DB_HOST", "10.0.0.5", []),
    ("GREETING", "db", []),
    ("GREETING", "db:5432", ["db"]),
    ("TIME", "12:30", []),
    ("DATABASE_URL", "postgres://shop:s3cret@db:5432/shop?sslmode=require", ["db"]),
    ("REDIS", "redis://:p4ss@cache.shop.svc.cluster.local:6379/0", ["cache.shop.svc.cluster.local"]),
    ("JDBC", "jdbc:postgresql://Catalog-DB:5432/catalog", ["catalog-db"]),
    ("BROKERS", "kafka-0:9092,kafka-1:9092", ["kafka-0", "kafka-1"]),
    ("MONGO_URI", "mongodb://u:p@mongo-0.mongo:27017,mongo-1.mongo:27017/app?replicaSet=rs0",
     ["mongo-0.mongo", "mongo-1.mongo"]),
    ("STRIPE_URL", "https://api.stripe.com/v1", ["api.stripe.com"]),
    ("TZ", "Europe/Paris", []),
    ("FEATURES", "search,recommendations", []),
])
def test_hosts_are_found_in_bare_names_host_ports_urls_and_lists(variable: str, value: str, hosts: list[str]):
    assert hosts_in(variable, value) == hosts


@pytest.mark.parametrize(("host", "key"), [
    ("db", "shop/service/db"),
    ("db.payments", "payments/service/db"),
    ("db.payments.svc", "payments/service/db"),
    ("db.payments.svc.cluster.local", "payments/service/db"),
    ("db.elsewhere.svc", "elsewhere/service/db"),  # cluster form: dangling, not outside
    ("kafka-0.kafka", "shop/service/kafka"),  # a StatefulSet pod behind a headless Service
    ("kafka-0.kafka.data.svc.cluster.local", "data/service/kafka"),
    ("db.elsewhere", None),  # no such namespace: an outside host
    ("api.stripe.com", None),
    ("node-1.cluster.local", None),
    ("a.b.c.d.svc.cluster.local", None),
])
def test_a_host_names_a_service_in_each_kubernetes_dns_form(host: str, key: str | None):
    namespaces = frozenset({"shop", "payments", "data"})
    services = frozenset({"shop/service/db", "payments/service/db", "shop/service/kafka", "data/service/kafka"})
    assert cluster_service(host, "shop", namespaces, services) == key


def test_a_prefix_of_env_from_makes_a_bare_name_a_host(tmp_path: Path):
    batch = manifests(tmp_path, DB + """
---
apiVersion: v1
kind: ConfigMap
metadata: {name: db-env}
data:
  HOST: db
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: with-prefix}
spec:
  template:
    spec:
      containers:
        - name: app
          envFrom:
            - prefix: DB_
              configMapRef: {name: db-env}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: without-prefix}
spec:
  template:
    spec:
      containers:
        - name: app
          envFrom:
            - configMapRef: {name: db-env}
""")
    assert ("default/deployment/with-prefix", "DEPENDS_ON", "default/service/db") in edges(batch)
    assert not any(source == "default/deployment/without-prefix" for source, _type, _target in edges(batch))


DB = """apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  selector: {app: db}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  template:
    metadata:
      labels: {app: db}
    spec:
      containers: [{name: postgres, image: "postgres:16"}]"""


def test_a_missing_config_map_or_key_is_a_finding_unless_optional(tmp_path: Path):
    batch = manifests(tmp_path, """apiVersion: v1
kind: ConfigMap
metadata: {name: present}
data: {A: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  template:
    spec:
      containers:
        - name: app
          envFrom:
            - configMapRef: {name: absent}
            - configMapRef: {name: also-absent, optional: true}
          env:
            - name: B
              valueFrom:
                configMapKeyRef: {name: present, key: B}
            - name: C
              valueFrom:
                configMapKeyRef: {name: present, key: C, optional: true}
""")
    assert batch.errors == []
    assert [(f.kind, f.location.line, f.message) for f in batch.findings] == [
        (DANGLING, 18, "spec.template.spec.containers[0].env[0]: default/deployment/app: B reads key 'B' "
                       "of ConfigMap present, which has no such key"),
        (DANGLING, 15, "spec.template.spec.containers[0].envFrom[0]: default/deployment/app reads ConfigMap "
                       "absent, which is not in default"),
    ]


def test_an_invalid_cluster_ip_is_a_finding_and_left_out(tmp_path: Path):
    batch = manifests(tmp_path, """apiVersion: v1
kind: Service
metadata: {name: odd, namespace: shop}
spec:
  clusterIP: 10.96.0.300
""")
    odd = ci(batch, "shop/service/odd").ci
    assert odd.ip_addresses == [] and "cluster_ip" not in odd.attributes
    [finding] = batch.findings
    assert (finding.kind, finding.location.line) == (UNKNOWN_VALUE, 5)
    assert finding.message.startswith("spec.clusterIP: shop/service/odd: '10.96.0.300'")


def test_a_service_without_selector_has_no_edges_and_no_finding(tmp_path: Path):
    batch = manifests(tmp_path, """apiVersion: v1
kind: Service
metadata: {name: manual}
spec:
  ports: [{port: 5432}]
""")
    assert [c.key for c in batch.cis] == ["default/service/manual"]
    assert batch.relationships == [] and batch.findings == []


def test_a_resource_backend_is_skipped_with_a_finding(tmp_path: Path):
    batch = manifests(tmp_path, """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: assets}
spec:
  defaultBackend:
    resource: {apiGroup: k8s.example.com, kind: StorageBucket, name: static-assets}
""")
    [finding] = batch.findings
    assert (finding.kind, finding.location.line) == (SKIPPED, 5)
    assert finding.message.startswith("spec.defaultBackend: default/ingress/assets")


def test_a_kind_of_another_api_group_is_not_read(tmp_path: Path):
    """Knative's Service is no Kubernetes Service."""
    batch = manifests(tmp_path, """apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: hello}
spec:
  template:
    spec:
      containers: [{image: gcr.io/knative-samples/helloworld-go}]
""")
    assert batch.cis == []
    [finding] = batch.findings
    assert finding.message == "kind: Service (serving.knative.dev/v1) is not read; 1 object skipped"


def test_the_items_of_a_typed_list_take_its_kind(tmp_path: Path):
    listing = {"apiVersion": "apps/v1", "kind": "DeploymentList", "items": [
        {"apiVersion": "apps/v1", "metadata": {"name": "web", "namespace": "shop"},
         "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "shop/web:1"}]}}}},
    ]}
    batch = manifests(tmp_path, json.dumps(listing), "deployments.json")
    assert [(c.key, c.location.section, c.location.index, c.location.line) for c in batch.cis] == [
        ("shop/deployment/web", "Deployment", 0, None),
    ]


def test_an_empty_list_holds_nothing_and_a_kind_ending_in_list_without_items_is_an_object(tmp_path: Path):
    batch = manifests(tmp_path, """apiVersion: v1
kind: List
items: []
---
apiVersion: v1
kind: List
---
apiVersion: security.example.com/v1
kind: IPAllowList
metadata: {name: office}
spec:
  cidrs: [192.0.2.0/24]
""")
    assert batch.errors == [] and batch.cis == []
    [finding] = batch.findings
    assert finding.message == "kind: IPAllowList (security.example.com/v1) is not read; 1 object skipped"


def test_null_fields_read_as_absent(tmp_path: Path):
    batch = manifests(tmp_path, """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace:
  labels:
spec:
  replicas:
  template:
    metadata:
    spec:
      containers:
        - name: web
          image: shop/web:1
          env:
""")
    assert batch.errors == []
    assert ci(batch, "default/deployment/web").ci.attributes == {
        "namespace": "default", "kind": "Deployment", "images": ["shop/web:1"],
    }


# --- errors ---------------------------------------------------------------------------------------


def test_a_document_without_name_or_kind_is_an_error_naming_file_line_and_field():
    batch = transform(read(BROKEN))
    assert [(e.location.file, e.location.line, e.location.section, e.location.index, e.field, e.message)
            for e in batch.errors] == [
        (str(BROKEN), 16, "Service", 1, "metadata.name", "Field required"),
        (str(BROKEN), 24, "object", 2, "kind", "Field required"),
    ]
    assert [c.key for c in batch.cis] == ["shop/deployment/web"]  # the rest is still read


def test_a_duplicate_object_is_an_error_naming_the_first(tmp_path: Path):
    batch = manifests(tmp_path, DB + "\n---\n" + DB)
    file = tmp_path / "manifests.yaml"
    assert [(e.location.line, e.field, e.message) for e in batch.errors] == [
        (19, "metadata.name", f"duplicate default/service/db; first defined at {file}:1"),
        (25, "metadata.name", f"duplicate default/statefulset/db; first defined at {file}:7"),
    ]
    assert [c.key for c in batch.cis] == ["default/service/db", "default/statefulset/db"]


@pytest.mark.parametrize(("body", "line", "field", "message"), [
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: many\n"
     "  template: {}\n", 5, "spec.replicas", "Input should be a valid integer, unable to parse string as an integer"),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n", 1, "spec", "Field required"),
    ("apiVersion: v1\nkind: Secret\ntype: Opaque\n", 1, "metadata", "Field required"),
    ("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    canary: true\n", 6,
     "metadata.labels.canary", "Input should be a valid string"),
    ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n"
     "    - http:\n        paths:\n          - path: /\n            backend: {}\n", 9,
     "spec.rules[0].http.paths[0].backend",
     "a backend names a service (service.name, or serviceName before networking.k8s.io/v1)"),
    ("apiVersion: v1\nkind: List\nitems: web\n", 3, "items",
     "a List's objects are read from its `items` list, at the top of a document"),
])
def test_an_object_that_does_not_fit_its_shape_is_an_error_on_its_line(
        tmp_path: Path, body: str, line: int, field: str, message: str):
    batch = manifests(tmp_path, body)
    [error] = batch.errors
    assert (error.location.line, error.field, error.message) == (line, field, message)


def test_a_document_that_is_no_mapping_is_an_error(tmp_path: Path):
    batch = manifests(tmp_path, "- just\n- a list\n")
    [error] = batch.errors
    assert (error.location.section, error.location.index, error.message) == (
        "object", 0, "a manifest is a mapping (apiVersion, kind, metadata...)")


def test_a_file_that_is_not_yaml_cannot_be_read(tmp_path: Path):
    (tmp_path / "broken.yaml").write_text("kind: Service\nmetadata: [unclosed\n")
    with pytest.raises(SourceReadError) as raised:
        read(tmp_path)
    [error] = raised.value.errors
    assert error.location.file == str(tmp_path / "broken.yaml")


def test_a_folder_without_manifests_cannot_be_read(tmp_path: Path):
    (tmp_path / "README.md").write_text("nothing here")
    with pytest.raises(SourceReadError):
        read(tmp_path)
