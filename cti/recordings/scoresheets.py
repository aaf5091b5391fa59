"""QA score sheets: named, weighted criteria a reviewer scores a recording by.

A centre gets one built-in sheet for its hotline, in the words quality control
(质控) uses when it replays calls: the greeting and telephone manners, knowing the
business, solving the caller's problem, attitude, and checking and saying goodbye
("评价服务规范性与有效性"). More sheets, or a replacement for the built-in one (same
id), come from the JSON file named by ``CTI_RECORDINGS_SCORESHEETS_FILE``, checked
when the service starts: a wrong file stops it with a message naming the file and the
field, never half-loaded sheets.

Weights are relative (any positive numbers) and normalised on loading, so a sheet's
weights always add up to 1 and a review's total is on 0-100 whatever the scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from cti.bounds import ONE_LINE
from cti.settings import SettingsError

SHEET_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
CRITERION_KEY = r"^[a-z][a-z0-9_]{0,39}$"
MAX_SHEETS = 50
MAX_CRITERIA = 30
MAX_POINTS = 100
MAX_FILE_BYTES = 1024 * 1024

SheetId = Annotated[str, StringConstraints(pattern=SHEET_ID)]
CriterionKey = Annotated[str, StringConstraints(pattern=CRITERION_KEY)]
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80, pattern=ONE_LINE)
]


@dataclass(frozen=True, slots=True)
class Criterion:
    key: str
    label: str
    weight: float
    """Normalised: the weights of a sheet add up to 1."""
    max: int
    """Points a reviewer can give, 0 to ``max``."""


@dataclass(frozen=True, slots=True)
class ScoreSheet:
    id: str
    name: str
    criteria: tuple[Criterion, ...]

    def total(self, scores: Mapping[str, int]) -> float:
        """The weighted score on 0-100 of complete, in-range ``scores``."""
        return round(sum(c.weight * scores[c.key] / c.max for c in self.criteria) * 100, 2)

    def problems(self, scores: Mapping[str, int]) -> list[str]:
        """Why ``scores`` are not a complete scoring of this sheet (empty when they are)."""
        known = {c.key for c in self.criteria}
        out = [
            f"score for {c.key!r} ({c.label}) is missing"
            for c in self.criteria
            if c.key not in scores
        ]
        out += [f"{k!r} is not a criterion of sheet {self.id!r}" for k in scores if k not in known]
        out += [
            f"score for {c.key!r} must be between 0 and {c.max}, not {scores[c.key]}"
            for c in self.criteria
            if c.key in scores and not 0 <= scores[c.key] <= c.max
        ]
        return out


# --- the file ---------------------------------------------------------------------------


class CriterionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: CriterionKey
    label: Label
    weight: float = Field(gt=0, le=1000, allow_inf_nan=False)
    max: int = Field(ge=1, le=MAX_POINTS)


class SheetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: SheetId
    name: Label
    criteria: list[CriterionIn] = Field(min_length=1, max_length=MAX_CRITERIA)


class SheetsFile(BaseModel):
    """``{"sheets": [{"id", "name", "criteria": [{"key", "label", "weight", "max"}]}]}``."""

    model_config = ConfigDict(extra="forbid")

    sheets: list[SheetIn] = Field(min_length=1, max_length=MAX_SHEETS)


def sheet_of(data: SheetIn) -> ScoreSheet:
    keys = [c.key for c in data.criteria]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"sheet {data.id!r}: criterion key(s) {', '.join(twice)} used twice")
    weights = math.fsum(c.weight for c in data.criteria)
    return ScoreSheet(
        id=data.id,
        name=data.name,
        criteria=tuple(
            Criterion(key=c.key, label=c.label, weight=c.weight / weights, max=c.max)
            for c in data.criteria
        ),
    )


DEFAULT_SHEET = sheet_of(
    SheetIn(
        id="hotline",
        name="热线服务质检评分表",
        criteria=[
            CriterionIn(key="greeting", label="开场问好与电话礼仪", weight=15, max=10),
            CriterionIn(key="knowledge", label="业务知识准确", weight=25, max=10),
            CriterionIn(key="resolution", label="问题解决（服务有效性）", weight=30, max=10),
            CriterionIn(key="attitude", label="服务态度", weight=20, max=10),
            CriterionIn(key="closing", label="核实与告别（服务规范性）", weight=10, max=10),
        ],
    )
)


class ScoreSheets:
    """The sheets in force, by id, the built-in one first."""

    def __init__(self, sheets: Sequence[ScoreSheet]) -> None:
        self._by_id = {s.id: s for s in sheets}

    def get(self, sheet_id: str) -> ScoreSheet | None:
        return self._by_id.get(sheet_id)

    def all(self) -> list[ScoreSheet]:
        return list(self._by_id.values())


def _where(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the whole file)"


def parse_scoresheets(text: str, source: str) -> list[ScoreSheet]:
    """The sheets of a JSON document; :class:`SettingsError` naming ``source`` and the field."""
    prefix = f"invalid score sheets file {source} (CTI_RECORDINGS_SCORESHEETS_FILE)"
    try:
        data = SheetsFile.model_validate_json(text)
    except ValidationError as exc:
        lines = [f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise SettingsError(f"{prefix}: {'; '.join(lines)}") from None
    ids = [s.id for s in data.sheets]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise SettingsError(f"{prefix}: sheet id(s) {', '.join(twice)} used twice")
    try:
        return [sheet_of(s) for s in data.sheets]
    except ValueError as exc:
        raise SettingsError(f"{prefix}: {exc}") from None


def load_scoresheets(path: str) -> ScoreSheets:
    """The built-in sheet and those of the file at ``path`` (none when empty).

    A sheet of the file with the built-in sheet's id replaces it.
    """
    sheets = [DEFAULT_SHEET]
    if path:
        file = Path(path)
        try:
            raw = file.read_bytes()[: MAX_FILE_BYTES + 1]
        except OSError as exc:
            raise SettingsError(
                f"cannot read score sheets file {path} (CTI_RECORDINGS_SCORESHEETS_FILE): "
                f"{exc.strerror}"
            ) from None
        if len(raw) > MAX_FILE_BYTES:
            raise SettingsError(f"score sheets file {path} is larger than {MAX_FILE_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SettingsError(f"score sheets file {path} is not UTF-8 text") from None
        loaded = parse_scoresheets(text, path)
        by_id = {s.id: s for s in loaded}
        sheets = [by_id.pop(DEFAULT_SHEET.id, DEFAULT_SHEET), *by_id.values()]
    return ScoreSheets(sheets)
