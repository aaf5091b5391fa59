"""Issue 19 item 4: the alert rules and the dashboard in deploy/ are what Prometheus and
Grafana accept, and the alerts fire when they should.

promtool comes with Debian's ``prometheus`` package (``docker/devstack/devstack install``
installs it); with ``CI=true`` a missing promtool fails these tests. That every metric and
label they read is one the service exports is tests/db/test_monitoring_metrics.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import need
from tests.monitoring import (
    PROMETHEUS_CONFIG,
    RULE_TESTS,
    RULES,
    dashboard,
    dashboard_queries,
    panels,
    rules,
)


@pytest.fixture
def promtool() -> str:
    path = shutil.which("promtool")
    need(path is not None, "promtool missing (Debian package prometheus)")
    assert path is not None
    return path


def run(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, cwd=cwd, check=False)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_the_rules_and_the_example_config_load(promtool: str) -> None:
    out = run(promtool, "check", "rules", str(RULES))
    assert f"SUCCESS: {sum(len(g['rules']) for g in rules()['groups'])} rules found" in out
    run(promtool, "check", "config", str(PROMETHEUS_CONFIG))


def test_each_alert_fires_when_it_should_and_not_before(promtool: str, tmp_path: Path) -> None:
    """tests/packaging/promtool/cti-alerts_test.yml, on the rules without their
    descriptions (prose, which promtool would otherwise compare word for word)."""
    stripped = rules()
    for group in stripped["groups"]:
        for rule in group["rules"]:
            rule.get("annotations", {}).pop("description", None)
    (tmp_path / "cti-alerts.yml").write_text(yaml.safe_dump(stripped, sort_keys=False))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)

    tested = {
        t["alertname"]
        for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for t in case.get("alert_rule_test", [])
        if t["exp_alerts"]
    }
    alerts = {r["alert"] for g in rules()["groups"] for r in g["rules"] if "alert" in r}
    assert alerts - tested == set(), "alerts no test sees firing"


def test_every_operator_condition_has_an_alert() -> None:
    """Issue 19: AMI down, database down, jobs backing up, webhooks failing, recordings
    disk filling."""
    exprs = {r["alert"]: r["expr"] for g in rules()["groups"] for r in g["rules"]}
    assert 'cti_ready{check="ami"} == 0' in exprs["CtiAmiDown"]
    assert 'cti_ready{check="database"} == 0' in exprs["CtiDatabaseDown"]
    assert "cti_jobs_oldest_due_seconds" in exprs["CtiJobsBackingUp"]
    assert "cti_webhook_failures_total" in exprs["CtiWebhooksFailing"]
    assert "cti_recordings_root_free_bytes" in exprs["CtiRecordingsDiskFilling"]


def test_every_dashboard_query_is_promql_prometheus_accepts(promtool: str, tmp_path: Path) -> None:
    """Each panel's and variable's query (Grafana's variables filled in) as a recording
    rule: ``promtool check rules`` parses every one."""
    queries = dashboard_queries()
    group = {
        "name": "dashboard",
        "rules": [
            {"record": f"dashboard:query_{i}", "expr": q.expr} for i, q in enumerate(queries)
        ],
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(json.dumps({"groups": [group]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        # Name the panels whose query promtool refused.
        said = proc.stdout + proc.stderr
        bad = [q.where for i, q in enumerate(queries) if f'"dashboard:query_{i}"' in said]
        pytest.fail(f"promtool refused {bad or 'a query'}:\n{said}")


def test_the_dashboard_is_one_grafana_imports() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    every = list(panels(board))
    ids = [p["id"] for p in every]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    taken: set[tuple[int, int]] = set()
    for panel in every:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, f"{panel['title']} is wider than the grid"
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                 for y in range(pos["y"], pos["y"] + pos["h"])}  # fmt: skip
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
        if panel["type"] != "row":
            # One Prometheus picked when importing serves every panel.
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"] and panel.get("description"), panel["title"]
