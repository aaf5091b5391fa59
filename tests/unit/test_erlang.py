"""Staffing with Erlang C: published values, an exact cross-check, large centres, the CLI."""

from __future__ import annotations

import json
import math
from decimal import Decimal, getcontext
from fractions import Fraction
from typing import Any

import pytest
from typer.testing import CliRunner

from cti.cli import app
from cti.errors import InvalidInput
from cti.stats.erlang import (
    StaffingInput,
    StaffingInputError,
    calls_per_hour,
    erlang_b,
    erlang_c,
    row_for,
    scheduled,
    staffing,
    staffing_json,
)


def exact_c(agents: int, traffic: Fraction) -> Fraction:
    """Erlang C from the textbook closed form, in exact rationals (no float anywhere).

    C = (Aⁿ/n! · n/(n−A)) / (Σ_{k<n} Aᵏ/k! + Aⁿ/n! · n/(n−A)), independent of the
    recursion the module uses.
    """
    term, total = Fraction(1), Fraction(0)
    for k in range(agents):
        total += term
        term = term * traffic / (k + 1)
    top = term * agents / (agents - traffic)
    return top / (total + top)


def exact_service_level(agents: int, traffic: Fraction, aht_s: int, threshold_s: int) -> Decimal:
    getcontext().prec = 50
    p_wait = Decimal(exact_c(agents, traffic).numerator) / Decimal(
        exact_c(agents, traffic).denominator
    )
    spare = Decimal(traffic.numerator) / Decimal(traffic.denominator)
    exponent = -(Decimal(agents) - spare) * Decimal(threshold_s) / Decimal(aht_s)
    return 1 - p_wait * exponent.exp()


# --- published values, to 3 decimals ------------------------------------------------------


def test_call_centre_helper_worked_example() -> None:
    # Call Centre Helper, "Erlang C Formula – Made Simple With an Easy Worked Example":
    # 100 calls in 30 minutes, AHT 180 s (10 Erlang), 80% within 20 s, maximum occupancy
    # 85%, shrinkage 30% → 14 agents: service level 88.8%, probability of waiting 17.4%,
    # occupancy 71.4%; 14 / (1 − 0.3) = 20 agents to schedule.
    result = staffing(
        StaffingInput(
            calls_per_hour=calls_per_hour(100, 30),
            aht_s=180,
            target_sl=0.8,
            threshold_s=20,
            max_occupancy=0.85,
            shrinkage=0.3,
        )
    )
    assert result.traffic_erlang == 10
    assert result.agents == 14
    assert result.scheduled_agents == 20
    assert result.limited_by == "service_level"
    assert [row.agents for row in result.rows] == [13, 14, 15]
    needed = result.rows[1]
    assert round(needed.service_level, 3) == 0.888
    assert round(needed.probability_of_waiting, 3) == 0.174
    assert round(needed.occupancy, 3) == 0.714
    assert needed.meets_target
    # One agent fewer misses the target: 79.6% < 80%.
    assert not result.rows[0].meets_target
    assert round(result.rows[0].service_level, 3) == 0.796


def test_call_centre_helper_first_step_with_eleven_agents() -> None:
    # The same worked example starts from N = A + 1 = 11 agents (probability of waiting
    # 68.2%, service level 39.0% as we recall the page; it could not be re-read offline,
    # so these figures are also checked against exact rationals below).
    row = row_for(11, StaffingInput(200, 180, 0.8, 20))
    assert round(row.probability_of_waiting, 3) == 0.682
    assert round(row.service_level, 3) == 0.390
    assert round(row.occupancy, 3) == 0.909


def test_two_erlang_on_three_agents_wait_four_ninths() -> None:
    # The classic M/M/3 example with load 2 (utilisation 2/3), e.g. Kleinrock, Queueing
    # Systems vol. 1, M/M/m: P_w = 4/9 = 0.4444; by hand B(3, 2) = 4/19, C = 12/27.
    assert round(erlang_c(3, 2.0), 4) == 0.4444
    assert exact_c(3, Fraction(2)) == Fraction(4, 9)
    # ASA = P_w · AHT / (n − A) = 4/9 · 60 s.
    row = row_for(3, StaffingInput(calls_per_hour=120, aht_s=60, target_sl=0.8, threshold_s=0))
    assert round(row.asa_s or 0, 3) == round(4 / 9 * 60, 3) == 26.667
    # With no threshold, the service level is the share answered at once.
    assert round(row.service_level, 3) == 0.556


@pytest.mark.parametrize(
    ("agents", "p_wait", "asa_s"),
    [
        # Hillier & Lieberman, Introduction to Operations Research, the County Hospital
        # emergency room (M/M/s, λ = 2 patients/hour, μ = 3/hour): one doctor, Wq = 2/3
        # hour; two doctors, Wq = 1/24 hour (P0 = 1/2, P_w = 1/6).
        (1, 2 / 3, 2 / 3 * 3600),
        (2, 1 / 6, 3600 / 24),
    ],
)
def test_hillier_lieberman_county_hospital(agents: int, p_wait: float, asa_s: float) -> None:
    row = row_for(agents, StaffingInput(calls_per_hour=2, aht_s=1200, target_sl=0.8, threshold_s=0))
    assert round(row.probability_of_waiting, 3) == round(p_wait, 3)
    assert round(row.asa_s or 0, 3) == round(asa_s, 3)


@pytest.mark.parametrize(
    ("traffic", "blocking"),
    # Any Erlang B table, 10 lines: 4.461 Erlang at 1% blocking, 5.084 at 2%, 6.216 at 5%.
    [(4.461, 0.010), (5.084, 0.020), (6.216, 0.050)],
)
def test_erlang_b_table_for_ten_lines(traffic: float, blocking: float) -> None:
    assert round(erlang_b(10, traffic), 3) == blocking


def test_one_agent_matches_the_m_m_1_closed_form() -> None:
    # M/M/1 (every queueing text): P_w = ρ, P(wait > t) = ρ·e^{−(μ−λ)t}, Wq = ρ/(μ−λ).
    # 30 calls/hour of 60 s: ρ = 0.5; within 60 s: 1 − 0.5·e^{−0.5} = 0.697; Wq = 60 s.
    row = row_for(1, StaffingInput(calls_per_hour=30, aht_s=60, target_sl=0.5, threshold_s=60))
    assert round(row.probability_of_waiting, 3) == 0.5
    assert round(row.service_level, 3) == round(1 - 0.5 * math.exp(-0.5), 3) == 0.697
    assert round(row.asa_s or 0, 3) == 60.0


# --- an independent exact computation ----------------------------------------------------


@pytest.mark.parametrize(
    ("calls_hour", "aht_s", "agents", "threshold_s"),
    [
        (200, 180, 14, 20),  # the worked example above
        (200, 180, 11, 20),  # its first step
        # The inputs of Westbay Engineers' Erlang-C page (360 calls per half hour of 4
        # minutes, 55 agents, 15 s); its published figures are not asserted here.
        (720, 240, 55, 15),
        (3600, 100, 110, 20),  # 100 Erlang
    ],
)
def test_agrees_with_exact_rationals(
    calls_hour: int, aht_s: int, agents: int, threshold_s: int
) -> None:
    traffic = Fraction(calls_hour * aht_s, 3600)
    row = row_for(agents, StaffingInput(calls_hour, aht_s, 0.8, threshold_s))
    assert row.probability_of_waiting == pytest.approx(float(exact_c(agents, traffic)), rel=1e-12)
    assert row.service_level == pytest.approx(
        float(exact_service_level(agents, traffic, aht_s, threshold_s)), rel=1e-12
    )


# --- large centres ------------------------------------------------------------------------


def test_a_thousand_erlang_stays_finite_and_exact() -> None:
    # 20,000 calls/hour of 180 s: 1000 Erlang. A^n/n! would overflow a float from n = 171.
    inputs = StaffingInput(calls_per_hour=20_000, aht_s=180, target_sl=0.8, threshold_s=20)
    row = row_for(1050, inputs)
    for value in (row.probability_of_waiting, row.service_level, row.occupancy):
        assert math.isfinite(value) and 0 <= value <= 1
    assert row.asa_s is not None and math.isfinite(row.asa_s)
    exact = exact_c(1050, Fraction(1000))
    assert row.probability_of_waiting == pytest.approx(float(exact), rel=1e-9)

    result = staffing(inputs)
    # Large centres pool well: a few percent above the traffic, capped by occupancy.
    assert 1000 < result.agents <= math.ceil(1000 / 0.85)
    assert result.rows[1].meets_target and not result.rows[0].meets_target
    assert all(0 <= r.probability_of_waiting <= 1 for r in result.rows)


def test_ten_thousand_erlang_is_answered() -> None:
    result = staffing(StaffingInput(200_000, 180, 0.8, 20, max_occupancy=1.0))
    assert 10_000 < result.agents < 10_200
    assert all(math.isfinite(r.service_level) for r in result.rows)


# --- the shape of the answer --------------------------------------------------------------


def test_n_minus_one_at_or_below_the_traffic_has_no_asa() -> None:
    # 10 Erlang and a modest target: 11 agents; with 10 the queue only grows.
    result = staffing(StaffingInput(200, 180, 0.1, 0, max_occupancy=1.0))
    assert result.agents == 11
    endless = result.rows[0]
    assert (endless.agents, endless.probability_of_waiting, endless.service_level) == (10, 1, 0)
    assert endless.asa_s is None
    assert endless.occupancy == 1.0
    assert staffing_json(result)["rows"][0]["asa_s"] is None


def test_no_row_for_zero_agents() -> None:
    result = staffing(StaffingInput(calls_per_hour=1, aht_s=180, target_sl=0.8, threshold_s=20))
    assert result.agents == 1
    assert [row.agents for row in result.rows] == [1, 2]


def test_occupancy_cap_can_decide() -> None:
    # 10 Erlang, 50% within 20 s is met by 13 agents, but at most 60% busy needs 17.
    result = staffing(StaffingInput(200, 180, 0.5, 20, max_occupancy=0.6))
    assert result.agents == 17
    assert result.limited_by == "occupancy"
    assert result.rows[0].service_level >= 0.5 and not result.rows[0].meets_target


def test_occupancy_exactly_at_the_cap_is_allowed() -> None:
    # 170 calls/hour x 180 s = 8.5 Erlang; 10 agents are 85% busy, not a float bit over.
    result = staffing(StaffingInput(170, 180, 0.01, 0, max_occupancy=0.85))
    assert result.agents == 10


def test_shrinkage_rounds_up_but_not_on_float_noise() -> None:
    assert scheduled(14, 0.3) == 20  # 14 / 0.7 is 20.000000000000004 in floats
    assert scheduled(15, 0.3) == 22
    assert scheduled(14, 0.0) == 14


def test_more_agents_never_serve_worse() -> None:
    inputs = StaffingInput(200, 180, 0.8, 20)
    rows = [row_for(n, inputs) for n in range(9, 30)]
    levels = [row.service_level for row in rows]
    assert levels == sorted(levels)
    waits = [row.probability_of_waiting for row in rows]
    assert waits == sorted(waits, reverse=True)


def test_json_is_the_answer_in_plain_types() -> None:
    body = staffing_json(staffing(StaffingInput(200, 180, 0.8, 20, shrinkage=0.3)))
    assert json.loads(json.dumps(body)) == body
    assert set(body) == {
        "calls_per_hour",
        "aht_s",
        "traffic_erlang",
        "target_sl",
        "threshold_s",
        "max_occupancy",
        "shrinkage",
        "agents",
        "scheduled_agents",
        "limited_by",
        "rows",
    }
    assert (body["agents"], body["scheduled_agents"]) == (14, 20)
    assert set(body["rows"][0]) == {
        "agents",
        "probability_of_waiting",
        "service_level",
        "asa_s",
        "occupancy",
        "meets_target",
    }


# --- bad input ----------------------------------------------------------------------------

GOOD: dict[str, Any] = {
    "calls_per_hour": 200,
    "aht_s": 180,
    "target_sl": 0.8,
    "threshold_s": 20,
    "max_occupancy": 0.85,
    "shrinkage": 0.0,
}


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("calls_per_hour", 0, "calls per hour must be more than 0"),
        ("calls_per_hour", -5, "calls per hour must be more than 0"),
        ("calls_per_hour", math.inf, "must be a finite number"),
        ("aht_s", 0, "average handle time must be more than 0"),
        ("aht_s", math.nan, "must be a finite number"),
        ("target_sl", 80, "write 0.8 for 80%"),
        ("target_sl", 1, "no number of agents can promise 100%"),
        ("target_sl", 0, "a fraction between 0 and 1"),
        ("threshold_s", -1, "threshold must be from 0"),
        ("max_occupancy", 0, "maximum occupancy is a fraction"),
        ("max_occupancy", 1.2, "maximum occupancy is a fraction"),
        ("shrinkage", 1, "shrinkage is a fraction"),
        ("shrinkage", -0.1, "shrinkage is a fraction"),
        ("calls_per_hour", 10_000_000, "at most 100000 is supported"),
    ],
)
def test_bad_input_is_refused_with_a_reason(field: str, value: float, says: str) -> None:
    with pytest.raises(StaffingInputError) as caught:
        staffing(StaffingInput(**(GOOD | {field: value})))
    assert caught.value.field == field
    assert says in caught.value.message
    # Plain callers catch ValueError; the API maps InvalidInput to 422 on its own.
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, InvalidInput)
    assert caught.value.status == 422


def test_bad_interval_and_agent_count() -> None:
    with pytest.raises(StaffingInputError, match="interval must be more than 0"):
        calls_per_hour(100, 0)
    with pytest.raises(StaffingInputError, match="must not be negative"):
        calls_per_hour(-1, 30)
    with pytest.raises(StaffingInputError, match="at least 1"):
        row_for(0, StaffingInput(**GOOD))


# --- the command ---------------------------------------------------------------------------

BASE = ["staffing", "--aht", "180", "--target-sl", "0.8", "--threshold", "20"]


def test_cli_table_for_the_worked_example() -> None:
    result = CliRunner().invoke(
        app, [*BASE, "--calls", "100", "--interval-min", "30", "--shrinkage", "0.3"]
    )
    assert result.exit_code == 0, result.output
    assert "traffic 10.00 Erlang" in result.output
    assert "agents needed: 14" in result.output
    assert "30% shrinkage: 20" in result.output
    lines = result.output.splitlines()
    needed = next(line for line in lines if line.startswith(">"))
    assert needed.split()[1:4] == ["14", "0.174", "0.888"] and "71.4%" in needed


def test_cli_json_is_what_the_api_will_return() -> None:
    result = CliRunner().invoke(app, [*BASE, "--calls-per-hour", "200", "--json"])
    assert result.exit_code == 0, result.output
    expected = staffing_json(staffing(StaffingInput(200, 180, 0.8, 20)))
    assert json.loads(result.output) == expected


def test_cli_shows_an_endless_queue_in_words() -> None:
    modest = ["--target-sl", "0.1", "--threshold", "0", "--max-occupancy", "1"]
    result = CliRunner().invoke(app, [*BASE, "--calls-per-hour", "200", *modest])
    assert result.exit_code == 0, result.output
    assert "endless" in result.output and "the queue only grows" in result.output


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--calls-per-hour", "200", "--target-sl", "80"], "write 0.8 for 80%"),
        (["--calls-per-hour", "200", "--shrinkage", "1"], "shrinkage is a fraction"),
        (["--calls-per-hour", "0"], "calls per hour must be more than 0"),
        (["--calls-per-hour", "nan"], "finite number"),
        ([], "give --calls-per-hour, or --calls with --interval-min"),
        (["--calls-per-hour", "200", "--calls", "100"], "give --calls-per-hour, or --calls"),
        (["--calls-per-hour", "200", "--interval-min", "30"], "--interval-min goes with --calls"),
        (["--calls", "100", "--interval-min", "0"], "interval must be more than 0"),
        # typer's own check; its message sits in a box whose width follows the terminal.
        (["--calls-per-hour", "lots"], "Invalid value"),
    ],
)
def test_cli_bad_values_exit_2(extra: list[str], says: str) -> None:
    result = CliRunner().invoke(app, [*BASE, *extra])
    assert result.exit_code == 2
    assert says in result.output
