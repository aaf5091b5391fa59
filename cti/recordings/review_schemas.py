"""What the QA routes take and give."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints

from cti.bounds import MULTI_LINE, ONE_LINE
from cti.recordings.reviews import Average, AverageBy, ReviewView
from cti.recordings.scoresheets import (
    MAX_CRITERIA,
    MAX_POINTS,
    CriterionKey,
    ScoreSheet,
    SheetId,
)

COMMENT_MAX = 4000

Points = Annotated[int, Strict(), Field(ge=0, le=MAX_POINTS)]
Comment = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=COMMENT_MAX, pattern=MULTI_LINE)
]


class CriterionOut(BaseModel):
    key: str
    label: str
    weight: float = Field(description="share of the total; a sheet's weights add up to 1")
    max: int = Field(description="points a reviewer can give, 0 to max")


class ScoreSheetOut(BaseModel):
    id: str
    name: str
    criteria: list[CriterionOut]

    @classmethod
    def of(cls, sheet: ScoreSheet) -> ScoreSheetOut:
        return cls(
            id=sheet.id,
            name=sheet.name,
            criteria=[
                CriterionOut(key=c.key, label=c.label, weight=c.weight, max=c.max)
                for c in sheet.criteria
            ],
        )


class ScoreSheetList(BaseModel):
    sheets: list[ScoreSheetOut]


class ReviewIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sheet": "hotline",
                    "scores": {
                        "greeting": 9,
                        "knowledge": 8,
                        "resolution": 10,
                        "attitude": 9,
                        "closing": 8,
                    },
                    "comment": "开场规范，问题一次解决。",
                }
            ]
        },
    )

    sheet: SheetId
    scores: dict[CriterionKey, Points] = Field(
        max_length=MAX_CRITERIA, description="a score for every criterion of the sheet, no other"
    )
    comment: Comment = ""
    corrects: Annotated[str, StringConstraints(max_length=40, pattern=ONE_LINE)] | None = Field(
        default=None,
        description="id of an earlier review of this recording that this one replaces",
    )


class ScoredCriterionOut(CriterionOut):
    score: int


class ReviewOut(BaseModel):
    id: str
    recording_id: str
    sheet: str
    criteria: list[ScoredCriterionOut]
    total: float = Field(description="weighted score, 0 to 100")
    comment: str
    reviewer: str
    agent: str | None
    queue: str | None
    corrects: str | None = Field(description="the review this one corrects")
    corrected_by: str | None = Field(description="the review that corrects this one")
    current: bool = Field(description="counts in averages (not corrected)")
    created_at: datetime

    @classmethod
    def of(cls, view: ReviewView) -> ReviewOut:
        r = view.review
        return cls(
            id=r.public_id,
            recording_id=view.recording_id,
            sheet=r.sheet,
            criteria=[ScoredCriterionOut.model_validate(c) for c in r.criteria],
            total=r.total,
            comment=r.comment,
            reviewer=r.reviewer,
            agent=r.agent,
            queue=r.queue,
            corrects=view.corrects,
            corrected_by=view.corrected_by,
            current=view.current,
            created_at=r.created_at,
        )


class ReviewList(BaseModel):
    items: list[ReviewOut]


class AverageOut(BaseModel):
    key: str | None = Field(description="the agent or queue (null: the recording had none)")
    count: int
    average: float = Field(description="mean total, 0 to 100")

    @classmethod
    def of(cls, a: Average) -> AverageOut:
        return cls(key=a.key, count=a.count, average=a.average)


class AveragesOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    by: AverageBy
    since: datetime | None = Field(serialization_alias="from")
    until: datetime | None = Field(serialization_alias="to")
    items: list[AverageOut]
