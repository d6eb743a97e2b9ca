"""deploy/k8s: every manifest is valid against the Kubernetes schemas (offline, kubernetes-validate),
the kustomizations render, and the pod is shaped as the sidecar needs (native sidecar, loopback gRPC,
probes on the pod IP, hardening, config the sidecar itself accepts)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from sidecar import config as sidecar_config

from .conftest import ALERTS, K8S, KUSTOMIZATIONS, ROOT, kustomize_render

# Native sidecars (initContainers with restartPolicy: Always) are on by default from 1.29.
K8S_VERSIONS = ["1.29", kubernetes_validate.latest_version()]
OTLP_GRPC_PORT = 4317
# Custom resources: no schema ships with kubernetes-validate, so the test checks what the CRD requires.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", kind) for kind in ("PodMonitor", "ServiceMonitor", "PrometheusRule")}


def _kustomization(directory: Path) -> dict:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def _manifest_files() -> list[Path]:
    """Files a kustomization lists as resources (not patches, generator inputs or other kustomizations)."""
    files = []
    for directory in KUSTOMIZATIONS:
        for entry in _kustomization(directory).get("resources", []):
            path = (directory / entry).resolve()
            if path.is_file():
                files.append(path)
    return files


def _validate(doc: dict) -> None:
    if (doc.get("apiVersion"), doc.get("kind")) in CUSTOM_KINDS:
        _check_monitor(doc)
        return
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(doc, version, strict=True)


def _check_monitor(doc: dict) -> None:
    """The fields the Prometheus Operator CRDs require, and the ones a monitor is useless without."""
    assert doc["metadata"]["name"]
    spec = doc["spec"]
    if doc["kind"] == "PrometheusRule":
        for group in spec["groups"]:
            assert group["name"] and group["rules"]
            for rule in group["rules"]:
                assert rule["expr"] and ("alert" in rule) != ("record" in rule), rule
        return
    selector = spec["selector"]
    assert selector.get("matchLabels") or selector.get("matchExpressions"), "an empty selector would match every pod"
    endpoints = spec["podMetricsEndpoints" if doc["kind"] == "PodMonitor" else "endpoints"]
    assert endpoints, f"{doc['kind']} has no endpoints"
    for endpoint in endpoints:
        assert endpoint.get("port") or endpoint.get("targetPort"), "each endpoint names a port"
        assert endpoint.get("path", "/metrics") == "/metrics"


def _by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def _one(docs: list[dict], kind: str) -> dict:
    found = _by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _sidecar_container(pod: dict) -> dict:
    return next(c for c in pod.get("initContainers", []) if c["name"] == "authsidecar")


@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_each_manifest_file_is_valid(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        _validate(doc)


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(K8S)))
def test_kustomization_references_exist(directory: Path) -> None:
    """Structural check that needs no kubectl: every file a kustomization names is there and parses."""
    kustomization = _kustomization(directory)
    assert kustomization["kind"] == "Kustomization"
    named = list(kustomization.get("resources", []))
    named += [p["path"] for p in kustomization.get("patches", []) if "path" in p]
    for generator in kustomization.get("configMapGenerator", []) + kustomization.get("secretGenerator", []):
        named += [f.split("=", 1)[-1] for f in generator.get("files", [])]
    for entry in named:
        target = directory / entry
        assert target.exists(), f"{directory.relative_to(ROOT)} names {entry}, which does not exist"
        if target.is_file():
            list(yaml.safe_load_all(target.read_text()))


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(K8S)))
def test_rendered_kustomization_is_valid(directory: Path) -> None:
    docs = kustomize_render(directory)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ConfigMap", "NetworkPolicy", "PodMonitor", "PrometheusRule", "ServiceAccount"} <= kinds
    for doc in docs:
        _validate(doc)


def test_schema_validation_catches_mistakes() -> None:
    """The validator really checks: a misspelt field and a missing required one are refused."""
    good = yaml.safe_load((K8S / "base" / "deployment.yaml").read_text())
    typo = yaml.safe_load(yaml.safe_dump(good))
    typo["spec"]["template"]["spec"]["initContainers"][0]["imagePullPolcy"] = "Always"
    missing = yaml.safe_load(yaml.safe_dump(good))
    del missing["spec"]["template"]["spec"]["containers"][0]["name"]
    for bad in (typo, missing):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, K8S_VERSIONS[-1], strict=True)


@pytest.fixture(scope="module", params=KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(K8S)))
def rendered(request) -> list[dict]:
    return kustomize_render(request.param)


def test_authsidecar_is_a_native_sidecar(rendered: list[dict]) -> None:
    pod = _one(rendered, "Deployment")["spec"]["template"]["spec"]
    sidecar = _sidecar_container(pod)
    assert sidecar["restartPolicy"] == "Always"
    assert all(c["name"] != "authsidecar" for c in pod["containers"])
    probes = {kind: sidecar[kind]["httpGet"] for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes["startupProbe"]["path"] == "/readyz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    port_names = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
    for probe in probes.values():
        assert "host" not in probe, "the kubelet must probe the pod IP"
        assert probe["port"] in port_names


def test_every_container_is_hardened_and_bounded(rendered: list[dict]) -> None:
    pod = _one(rendered, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    for container in pod.get("initContainers", []) + pod["containers"]:
        ctx = container["securityContext"]
        assert ctx["runAsNonRoot"] is True, container["name"]
        assert ctx["readOnlyRootFilesystem"] is True, container["name"]
        assert ctx["allowPrivilegeEscalation"] is False, container["name"]
        assert ctx["capabilities"]["drop"] == ["ALL"], container["name"]
        assert not ctx.get("capabilities", {}).get("add"), container["name"]
        assert ctx["seccompProfile"]["type"] == "RuntimeDefault", container["name"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), container["name"]
        assert "memory" in container["resources"]["limits"], container["name"]


def _sidecar_settings(rendered: list[dict], tmp_path: Path) -> sidecar_config.Settings:
    """Load the ConfigMap's config.yaml with the sidecar's own loader, secrets from the pod's *_FILE env."""
    pod = _one(rendered, "Deployment")["spec"]["template"]["spec"]
    sidecar = _sidecar_container(pod)
    mount = next(m for m in sidecar["volumeMounts"] if m["mountPath"] == "/etc/authsidecar")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    config_map = next(
        d for d in _by_kind(rendered, "ConfigMap") if d["metadata"]["name"] == volume["configMap"]["name"]
    )
    (tmp_path / "config.yaml").write_text(config_map["data"]["config.yaml"])
    env = {}
    for var in sidecar["env"]:
        assert "value" in var or "valueFrom" in var
        if var["name"].endswith("_FILE"):
            secret_file = tmp_path / Path(var["value"]).name
            secret_file.write_text(SECRET_PLACEHOLDERS.get(var["name"], "not-a-real-secret"))
            env[var["name"]] = str(secret_file)
        elif var["name"].startswith("AUTHSIDECAR_") and "value" in var:
            env[var["name"]] = var["value"]
    return sidecar_config.load(tmp_path / "config.yaml", env)


# Secret files whose content has a shape the config checks (a URL, not just any string).
SECRET_PLACEHOLDERS = {"AUTHSIDECAR_LEDGER_URL_FILE": "rediss://authsidecar:not-a-real-secret@redis.invalid:6380/0"}


def test_configmap_is_a_config_the_sidecar_accepts(rendered: list[dict], tmp_path: Path) -> None:
    settings = _sidecar_settings(rendered, tmp_path)
    assert settings.platform.api_key and settings.challenges.secret_key, "secrets come from the Secret files"
    assert not settings.uses_emulator
    for address in settings.listen:
        host = address.rsplit(":", 1)[0]
        assert address.startswith("unix:") or ipaddress.ip_address(host).is_loopback, address
    sidecar = _sidecar_container(_one(rendered, "Deployment")["spec"]["template"]["spec"])
    metrics_port = next(p["containerPort"] for p in sidecar["ports"] if p["name"] == "metrics")
    assert settings.ops_listen == f"0.0.0.0:{metrics_port}"


def test_secrets_come_from_a_secret_not_the_configmap(rendered: list[dict]) -> None:
    pod = _one(rendered, "Deployment")["spec"]["template"]["spec"]
    assert not _by_kind(rendered, "Secret"), "secrets are created out of band, never committed"
    secret_volumes = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    sidecar = _sidecar_container(pod)
    mounted = {m["mountPath"]: m["name"] for m in sidecar["volumeMounts"]}
    for var in sidecar["env"]:
        if var["name"].endswith("_FILE"):
            directory = str(Path(var["value"]).parent)
            assert mounted.get(directory) in secret_volumes, f"{var['name']} does not point into a Secret volume"


def test_pod_monitor_scrapes_the_sidecar_metrics_port(rendered: list[dict]) -> None:
    template = _one(rendered, "Deployment")["spec"]["template"]
    monitor = _one(rendered, "PodMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items(), "the PodMonitor must select the app's pods"
    sidecar_ports = {p["name"] for p in _sidecar_container(template["spec"])["ports"]}
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} <= sidecar_ports


def test_network_policy_admits_only_named_ports_and_upstream_egress(rendered: list[dict], tmp_path: Path) -> None:
    pod = _one(rendered, "Deployment")["spec"]["template"]["spec"]
    policy = _one(rendered, "NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    pod_labels = _one(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    declared = {p["name"] for c in pod.get("initContainers", []) + pod["containers"] for p in c.get("ports", [])}
    admitted = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    assert "metrics" in admitted
    assert admitted <= declared, f"ingress names ports no container declares: {admitted - declared}"
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    # The shared ledger overlay adds Redis (TLS port); trace export (the Envoy overlay) adds OTLP to the
    # collector's namespace only.
    ledger = {6380} if _sidecar_settings(rendered, tmp_path).ledger.backend == "redis" else set()
    assert egress_ports - {OTLP_GRPC_PORT} == {53, 443} | ledger
    for rule in policy["egress"]:
        if any(p["port"] == OTLP_GRPC_PORT for p in rule["ports"]):
            assert rule["to"] and all("namespaceSelector" in peer for peer in rule["to"])


def test_envoy_overlay_checks_requests_with_the_sidecar(tmp_path: Path) -> None:
    docs = kustomize_render(K8S / "overlays" / "envoy-ext-authz")
    envoy_config = next(d for d in docs if d["metadata"]["name"].startswith("envoy-config"))
    envoy = yaml.safe_load(envoy_config["data"]["envoy.yaml"])
    manager = envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    http_filters = manager["typed_config"]["http_filters"]
    ext_authz = next(f for f in http_filters if f["name"] == "envoy.filters.http.ext_authz")["typed_config"]
    assert ext_authz["failure_mode_allow"] is False, "fail closed when the sidecar cannot answer"
    cluster_name = ext_authz["grpc_service"]["envoy_grpc"]["cluster_name"]
    cluster = next(c for c in envoy["static_resources"]["clusters"] if c["name"] == cluster_name)
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    settings = _sidecar_settings(docs, tmp_path)
    assert f"{address['address']}:{address['port_value']}" in settings.listen
    assert "http2_protocol_options" in str(cluster), "gRPC needs HTTP/2 to the sidecar"
    admitted = {p["port"] for rule in _one(docs, "NetworkPolicy")["spec"]["ingress"] for p in rule["ports"]}
    assert "http" not in admitted, "with Envoy in front, the app's own port is not reachable from outside"
    # The app must see the path the rules saw, and no header a backend reads as an identity header.
    manager = envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    assert manager["normalize_path"] is True and manager["merge_slashes"] is True
    assert manager["path_with_escaped_slashes_action"] == "REJECT_REQUEST"
    assert manager["common_http_protocol_options"]["headers_with_underscores_action"] == "REJECT_REQUEST"


def test_shared_ledger_overlay_claims_in_redis_with_the_url_from_a_secret(tmp_path: Path) -> None:
    docs = kustomize_render(K8S / "overlays" / "shared-ledger")
    settings = _sidecar_settings(docs, tmp_path)
    assert settings.ledger.backend == "redis" and settings.ledger.url.startswith("rediss://")
    pod = _one(docs, "Deployment")["spec"]["template"]["spec"]
    url_file = next(v["value"] for v in _sidecar_container(pod)["env"] if v["name"] == "AUTHSIDECAR_LEDGER_URL_FILE")
    volume = next(
        m["name"] for m in _sidecar_container(pod)["volumeMounts"] if m["mountPath"] == str(Path(url_file).parent)
    )
    assert next(v for v in pod["volumes"] if v["name"] == volume)["secret"]["secretName"] == "authsidecar-ledger"


def test_prometheus_rule_carries_the_alert_rules_file(rendered: list[dict]) -> None:
    """The Operator's PrometheusRule and deploy/prometheus/alerts.yaml (checked by promtool) are the same rules."""
    assert _one(rendered, "PrometheusRule")["spec"] == yaml.safe_load(ALERTS.read_text())


def test_live_reload_overlay_keeps_the_configmap_name_so_a_change_reloads() -> None:
    live, rendered = kustomize_render(K8S / "overlays" / "live-reload"), kustomize_render(K8S / "base")
    (config,) = [d for d in live if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("authsidecar-config")]
    assert config["metadata"]["name"] == "authsidecar-config", "no hash suffix: an update keeps the name"
    (based,) = [
        d for d in rendered if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("authsidecar-config")
    ]
    assert based["metadata"]["name"] != "authsidecar-config", "the base still rolls pods on a change (hash suffix)"
    assert config["data"] == based["data"]
    pod = _one(live, "Deployment")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v.get("configMap", {}).get("name") == "authsidecar-config")
    mount = next(m for m in _sidecar_container(pod)["volumeMounts"] if m["name"] == volume["name"])
    assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates"
    settings = yaml.safe_load(config["data"]["config.yaml"])
    assert settings.get("config_poll_seconds", 2.0) > 0, "the sidecar must poll the file to see the swap"


def test_envoy_overlay_traces_and_passes_the_trace_on(tmp_path: Path) -> None:
    docs = kustomize_render(K8S / "overlays" / "envoy-ext-authz")
    envoy_config = next(d for d in docs if d["metadata"]["name"].startswith("envoy-config"))
    envoy = yaml.safe_load(envoy_config["data"]["envoy.yaml"])
    manager = envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    provider = manager["tracing"]["provider"]
    assert provider["name"] == "envoy.tracers.opentelemetry"
    collector = provider["typed_config"]["grpc_service"]["envoy_grpc"]["cluster_name"]
    cluster = next(c for c in envoy["static_resources"]["clusters"] if c["name"] == collector)
    assert "http2_protocol_options" in str(cluster), "OTLP/gRPC needs HTTP/2"
    ext_authz = next(f for f in manager["http_filters"] if f["name"] == "envoy.filters.http.ext_authz")["typed_config"]
    assert "allowed_headers" not in ext_authz, "the CheckRequest must carry traceparent"
    sidecar = _sidecar_container(_one(docs, "Deployment")["spec"]["template"]["spec"])
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    assert env["OTEL_TRACES_EXPORTER"] == "otlp" and env["OTEL_EXPORTER_OTLP_PROTOCOL"] in ("grpc", "http/protobuf")
    assert any(e["name"].endswith("_FILE") for e in sidecar["env"]), "the base's env is kept, not replaced"
    port = int(env["OTEL_EXPORTER_OTLP_ENDPOINT"].rsplit(":", 1)[1])
    egress_ports = {p["port"] for rule in _one(docs, "NetworkPolicy")["spec"]["egress"] for p in rule["ports"]}
    assert {port, 443, 53} <= egress_ports
