"""Labels: the Metrics catalog states each metric's labels as sidecar/observability/metrics.py defines them, and the
dashboard and alert rules select and group only by labels their metrics carry (or that the scrape
adds). A query grouping by a label that does not exist returns one flat series and hides the problem."""

from __future__ import annotations

import re

import pytest
from prometheus_client.metrics import MetricWrapperBase

import sidecar.observability.metrics

from .sources import alert_queries, catalog, dashboard_queries

# Added by Prometheus (job, instance) or by the PodMonitor/Kubernetes discovery (namespace, pod…).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "container", "endpoint_name"}
SUFFIXES = ("_bucket", "_sum", "_count")
SELECTOR = re.compile(r"\b(authsidecar_\w+)\s*\{([^}]*)\}")
MATCHER_LABEL = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
METRIC = re.compile(r"\bauthsidecar_\w+")


def _family(sample_name: str) -> str:
    for suffix in SUFFIXES:
        if sample_name.endswith(suffix) and sample_name.removesuffix(suffix) in catalog():
            return sample_name.removesuffix(suffix)
    return sample_name


def _labels_of(sample_name: str) -> set[str]:
    extra = {"le"} if sample_name.endswith("_bucket") else set()
    return set(catalog().get(_family(sample_name), set())) | extra | TARGET_LABELS


def test_catalog_labels_are_the_defined_labels() -> None:
    documented = catalog()
    for collector in vars(sidecar.observability.metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        name = collector._name + {"counter": "_total", "info": "_info"}.get(collector._type, "")
        assert name in documented, f"{name} is defined in sidecar/observability/metrics.py but not in the catalog"
        if collector._type != "info":  # an Info's labels are the keys it is given at run time
            assert documented[name] == set(collector._labelnames), name


@pytest.mark.parametrize("expr", dashboard_queries() + alert_queries())
def test_queries_use_only_labels_their_metrics_carry(expr: str) -> None:
    for name, matchers in SELECTOR.findall(expr):
        unknown = set(MATCHER_LABEL.findall(matchers)) - _labels_of(name)
        assert not unknown, f"{name} has no label {sorted(unknown)} in: {expr}"
    available = set().union(*(_labels_of(n) for n in METRIC.findall(expr)))
    for group in GROUPING.findall(expr):
        unknown = {label.strip() for label in group.split(",") if label.strip()} - available
        assert not unknown, f"groups by {sorted(unknown)}, which no metric in the query carries: {expr}"
