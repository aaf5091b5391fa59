"""What the Grafana dashboard and the Prometheus rules in deploy/ ask of /metrics.

Read by tests/packaging/test_monitoring.py (promtool) and tests/db/test_monitoring_metrics.py
(every metric and label they use is one the service exports).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from tests.conftest import REPO

DASHBOARD = REPO / "deploy" / "grafana" / "cti.json"
RULES = REPO / "deploy" / "prometheus" / "cti-alerts.yml"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
RULE_TESTS = REPO / "tests" / "packaging" / "promtool" / "cti-alerts_test.yml"

# What Grafana puts in for its variables before the query reaches Prometheus.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "6h",
    "${datasource}": "prometheus",
    "$instance": ".*",
    "$queue": ".*",
}

_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")
_SELECTOR = re.compile(r"\b(?P<name>cti_[a-z0-9_]+|up)\b(?:\s*\{(?P<matchers>[^}]*)\})?")
_MATCHER = re.compile(r'(?P<label>[a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')
_GROUPING = re.compile(r"\b(?:by|without)\s*\((?P<labels>[^)]*)\)")


@dataclass(frozen=True, slots=True)
class Query:
    where: str
    """Which panel, variable or rule: for the failure message."""
    expr: str
    """PromQL, with Grafana's variables filled in."""

    def selectors(self) -> Iterator[tuple[str, set[str]]]:
        """Each metric the query reads, with the label names its matchers name."""
        for m in _SELECTOR.finditer(self.expr):
            labels = {x.group("label") for x in _MATCHER.finditer(m.group("matchers") or "")}
            yield m.group("name"), labels

    def grouping(self) -> set[str]:
        """Label names in ``by (...)`` / ``without (...)``."""
        return {
            label.strip()
            for m in _GROUPING.finditer(self.expr)
            for label in m.group("labels").split(",")
            if label.strip()
        }


def fill(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    if "$" in expr:
        raise AssertionError(f"a Grafana variable no test knows in {expr!r}")
    return expr


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries() -> list[Query]:
    board = dashboard()
    queries = []
    for panel in panels(board):
        for target in panel.get("targets", []):
            queries.append(Query(f"panel {panel['title']!r}", fill(target["expr"])))
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        m = _LABEL_VALUES.match(variable["query"]["query"])
        assert m, f"variable {variable['name']}: not label_values(selector, label)"
        selector = m.group("selector")
        queries.append(Query(f"variable {variable['name']!r}", fill(selector)))
        # The label it lists must be on that metric: "by" says so to the checks.
        queries.append(
            Query(f"variable {variable['name']!r}", f"count by ({m.group('label')}) ({selector})")
        )
    return [Query(q.where, fill(q.expr)) for q in queries]


def rules() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return data


def rule_queries() -> list[Query]:
    return [
        Query(f"rule {rule.get('alert') or rule.get('record')}", rule["expr"])
        for group in rules()["groups"]
        for rule in group["rules"]
    ]
