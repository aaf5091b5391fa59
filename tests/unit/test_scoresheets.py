"""QA score sheets: the built-in one, the configured file, and what a wrong file says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cti.cli import app
from cti.recordings.scoresheets import DEFAULT_SHEET, load_scoresheets
from cti.settings import SettingsError


def sheet(**over: Any) -> dict[str, Any]:
    return {
        "id": "complaints",
        "name": "投诉处理评分表",
        "criteria": [
            {"key": "apology", "label": "致歉与安抚", "weight": 2, "max": 10},
            {"key": "solution", "label": "解决方案", "weight": 6, "max": 20},
        ],
    } | over


def write(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "sheets.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def test_without_a_file_the_built_in_hotline_sheet_is_in_force() -> None:
    sheets = load_scoresheets("")
    assert sheets.all() == [DEFAULT_SHEET]
    assert [c.label for c in DEFAULT_SHEET.criteria] == [
        "开场问好与电话礼仪",
        "业务知识准确",
        "问题解决（服务有效性）",
        "服务态度",
        "核实与告别（服务规范性）",
    ]
    assert sum(c.weight for c in DEFAULT_SHEET.criteria) == pytest.approx(1.0)
    assert DEFAULT_SHEET.total({c.key: c.max for c in DEFAULT_SHEET.criteria}) == 100.0
    assert DEFAULT_SHEET.total({c.key: 0 for c in DEFAULT_SHEET.criteria}) == 0.0


def test_a_file_adds_sheets_with_normalised_weights_and_may_replace_the_built_in(
    tmp_path: Path,
) -> None:
    replaced = sheet(id="hotline", name="新版热线评分表")
    sheets = load_scoresheets(write(tmp_path, {"sheets": [sheet(), replaced]}))
    assert [s.id for s in sheets.all()] == ["hotline", "complaints"]
    hotline = sheets.get("hotline")
    assert hotline is not None and hotline.name == "新版热线评分表"
    complaints = sheets.get("complaints")
    assert complaints is not None
    assert [c.weight for c in complaints.criteria] == [0.25, 0.75]
    # 25% x 10/10 + 75% x 5/20
    assert complaints.total({"apology": 10, "solution": 5}) == pytest.approx(43.75)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"sheets": [sheet(criteria=[{"key": "a", "label": "甲", "weight": 0, "max": 5}])]},
         "sheets[0].criteria[0].weight: Input should be greater than 0"),
        ({"sheets": [sheet(), sheet(criteria=[{"key": "a", "label": "甲", "weight": 1}])]},
         "sheets[1].criteria[0].max: Field required"),
        ({"sheets": [sheet(id="Bad Id")]}, "sheets[0].id: String should match pattern"),
        ({"sheets": [sheet(name="")]}, "sheets[0].name: String should have at least 1"),
        ({"sheets": [sheet(criteria=[])]}, "sheets[0].criteria: List should have at least 1"),
        ({"sheets": [sheet(colour="red")]}, "sheets[0].colour: Extra inputs are not permitted"),
        ({"sheets": [sheet(), sheet()]}, "sheet id(s) complaints used twice"),
        ({"sheets": [sheet(criteria=[sheet()["criteria"][0]] * 2)]},
         "criterion key(s) apology used twice"),
        ({"sheet": []}, "sheets: Field required"),
        ("{not json", "Invalid JSON"),
        ([sheet()], "Input should be an object"),
    ],
)  # fmt: skip
def test_a_wrong_file_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, data: Any, says: str
) -> None:
    path = write(tmp_path, data)
    with pytest.raises(SettingsError) as err:
        load_scoresheets(path)
    assert path in str(err.value) and "CTI_RECORDINGS_SCORESHEETS_FILE" in str(err.value)
    assert says in str(err.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"cannot read score sheets file .*nope\.json"):
        load_scoresheets(str(tmp_path / "nope.json"))


def test_cti_refuses_to_start_with_a_wrong_sheets_file(tmp_path: Path) -> None:
    # ``cti serve`` checks its settings the same way before it starts anything; ``db
    # upgrade`` is used here because it ends by itself if the check were missing.
    bad = write(tmp_path, {"sheets": [sheet(criteria=[{"key": "a", "label": "甲", "max": 5}])]})
    env = {"CTI_DATA_DIR": str(tmp_path), "CTI_RECORDINGS_SCORESHEETS_FILE": bad}
    result = CliRunner().invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 2
    assert f"{bad}" in result.output and "sheets[0].criteria[0].weight: Field required" in (
        result.output
    )
