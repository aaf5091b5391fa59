"""Staffing with Erlang C: how many agents a queue needs for a target service level.

Pure: numbers in, numbers out. ``cti staffing`` (what-if questions) and the staffing
route (measured arrival rate and AHT of an interval) both call :func:`staffing` and
print :func:`staffing_json`, so the two always agree.

The model is M/M/n (Poisson arrivals, exponential handle times, callers who never
hang up, one queue). With offered traffic ``A = λ·AHT`` Erlang and ``n`` agents:

- probability of waiting ``P_w = C(n, A) = n·B / (n − A·(1 − B))`` for ``n > A``, where
  ``B = B(n, A)`` is Erlang B; ``P_w = 1`` for ``n ≤ A`` (the queue grows without end);
- service level ``SL = 1 − P_w·exp(−(n − A)·T / AHT)`` (answered within ``T`` seconds);
- average speed of answer ``ASA = P_w·AHT / (n − A)``;
- occupancy ``A / n``.

Erlang B comes from the recursion ``B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1))``: every
step stays in [0, 1], so thousands of agents cost no factorial overflow and no loss of
precision (the textbook ``A^n / n!`` overflows a float from n = 171 on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from cti.errors import InvalidInput

# What a call centre can mean; beyond these the input is a typo (or a request meant to
# keep the search busy: the search is linear in the number of agents).
MAX_TRAFFIC_ERLANG = 100_000.0
MAX_SECONDS = 86_400.0
MAX_INTERVAL_MIN = 1_440.0

DEFAULT_MAX_OCCUPANCY = 0.85
DEFAULT_SHRINKAGE = 0.0


class StaffingInputError(InvalidInput, ValueError):
    """An input the staffing calculation cannot use; ``message`` says which and why.

    A :class:`ValueError` for plain Python callers, and an ``InvalidInput`` (422) so
    the API maps it without a translation of its own.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, details=[{"field": field}])
        self.field = field


@dataclass(frozen=True)
class StaffingInput:
    calls_per_hour: float
    aht_s: float
    target_sl: float
    threshold_s: float
    max_occupancy: float = DEFAULT_MAX_OCCUPANCY
    shrinkage: float = DEFAULT_SHRINKAGE

    @property
    def traffic_erlang(self) -> float:
        """Offered traffic: calls per second times seconds per call."""
        # Multiplied first: 170 calls/hour x 180 s is exactly 8.5 Erlang this way, and
        # 8.500000000000002 the other, which would fail an 85% cap with 10 agents.
        return self.calls_per_hour * self.aht_s / 3600.0


@dataclass(frozen=True)
class StaffingRow:
    """What ``agents`` agents on the phones give.

    ``asa_s`` is None when ``agents ≤ A``: the queue then grows without end, so nobody
    is sure to be answered (``P_w`` 1, service level 0) and the average wait is
    infinite. Occupancy is then 1 (every agent busy all the time), not ``A/n > 1``.
    """

    agents: int
    probability_of_waiting: float
    service_level: float
    asa_s: float | None
    occupancy: float
    meets_target: bool


LimitedBy = Literal["service_level", "occupancy"]


@dataclass(frozen=True)
class StaffingResult:
    """The recommendation and the rows for ``agents − 1``, ``agents`` and ``agents + 1``.

    ``agents`` is the smallest number on the phones that meets both the service level
    target and the occupancy cap; ``limited_by`` says which of the two decided it.
    ``scheduled_agents`` adds shrinkage (breaks, training, absence):
    ``ceil(agents / (1 − shrinkage))``. The ``agents − 1`` row is left out when that
    would be no agent at all.
    """

    inputs: StaffingInput
    traffic_erlang: float
    agents: int
    scheduled_agents: int
    limited_by: LimitedBy
    rows: tuple[StaffingRow, ...]


def calls_per_hour(calls: float, interval_min: float) -> float:
    """The hourly rate of ``calls`` counted over an interval of ``interval_min`` minutes."""
    _check_finite("calls", calls, "the number of calls")
    _check_finite("interval_min", interval_min, "the interval length")
    if calls < 0:
        raise StaffingInputError(
            "calls", f"the number of calls must not be negative (got {calls:g})"
        )
    if not 0 < interval_min <= MAX_INTERVAL_MIN:
        raise StaffingInputError(
            "interval_min",
            f"the interval must be more than 0 and at most {MAX_INTERVAL_MIN:g} minutes "
            f"(got {interval_min:g})",
        )
    return calls * 60.0 / interval_min


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability of ``agents`` lines offered ``traffic`` Erlang (no queue)."""
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a caller waits: 1 when ``agents ≤ traffic``."""
    return _c_from_b(agents, traffic, erlang_b(agents, traffic))


def _c_from_b(agents: int, traffic: float, b: float) -> float:
    if agents <= traffic:
        return 1.0
    return agents * b / (agents - traffic * (1.0 - b))


def _row(agents: int, b: float, inputs: StaffingInput) -> StaffingRow:
    traffic = inputs.traffic_erlang
    p_wait = _c_from_b(agents, traffic, b)
    if agents <= traffic:
        return StaffingRow(agents, 1.0, 0.0, None, 1.0, meets_target=False)
    spare = agents - traffic
    sl = 1.0 - p_wait * math.exp(-spare * inputs.threshold_s / inputs.aht_s)
    occupancy = traffic / agents
    return StaffingRow(
        agents=agents,
        probability_of_waiting=p_wait,
        service_level=sl,
        asa_s=p_wait * inputs.aht_s / spare,
        occupancy=occupancy,
        # A hair of tolerance: A/n equal to the cap must not fail on the last float bit.
        meets_target=sl >= inputs.target_sl and occupancy <= inputs.max_occupancy + 1e-12,
    )


def row_for(agents: int, inputs: StaffingInput) -> StaffingRow:
    """The figures for a given number of agents (what-if: "and with 12 agents?")."""
    validate(inputs)
    if agents < 1:
        raise StaffingInputError(
            "agents", f"the number of agents must be at least 1 (got {agents})"
        )
    return _row(agents, erlang_b(agents, inputs.traffic_erlang), inputs)


def staffing(inputs: StaffingInput) -> StaffingResult:
    """The agents needed for ``inputs`` and the rows around that number."""
    validate(inputs)
    traffic = inputs.traffic_erlang
    # One pass of the recursion: B for every n on the way up, kept for n − 1 and n.
    b_by_agents = {0: 1.0}
    b, agents = 1.0, 0
    while True:
        agents += 1
        b = traffic * b / (agents + traffic * b)
        b_by_agents[agents] = b
        if agents > traffic and _row(agents, b, inputs).meets_target:
            break
    previous = _row(agents - 1, b_by_agents[agents - 1], inputs)
    # The occupancy cap decided it when one agent fewer already met the service level.
    limited_by: LimitedBy = (
        "occupancy" if previous.service_level >= inputs.target_sl else "service_level"
    )
    b_next = traffic * b / (agents + 1 + traffic * b)
    rows = tuple(
        _row(n, b_n, inputs)
        for n, b_n in ((agents - 1, b_by_agents[agents - 1]), (agents, b), (agents + 1, b_next))
        if n >= 1
    )
    return StaffingResult(
        inputs=inputs,
        traffic_erlang=traffic,
        agents=agents,
        scheduled_agents=scheduled(agents, inputs.shrinkage),
        limited_by=limited_by,
        rows=rows,
    )


def scheduled(agents: int, shrinkage: float) -> int:
    """Agents to schedule so that ``agents`` are on the phones after shrinkage."""
    # Rounded before the ceiling: 14 / (1 − 0.3) is 20.000000000000004 in floats, and
    # 21 people for a need of exactly 20 would be a wrong answer.
    return math.ceil(round(agents / (1.0 - shrinkage), 9))


def validate(inputs: StaffingInput) -> None:
    """Raise :class:`StaffingInputError` for the first input the model cannot use."""
    _check_finite("calls_per_hour", inputs.calls_per_hour, "calls per hour")
    _check_finite("aht_s", inputs.aht_s, "the average handle time")
    _check_finite("target_sl", inputs.target_sl, "the target service level")
    _check_finite("threshold_s", inputs.threshold_s, "the threshold")
    _check_finite("max_occupancy", inputs.max_occupancy, "the maximum occupancy")
    _check_finite("shrinkage", inputs.shrinkage, "the shrinkage")
    if inputs.calls_per_hour <= 0:
        raise StaffingInputError(
            "calls_per_hour",
            f"calls per hour must be more than 0 (got {inputs.calls_per_hour:g}); "
            "with no calls no agent is needed",
        )
    if not 0 < inputs.aht_s <= MAX_SECONDS:
        raise StaffingInputError(
            "aht_s",
            f"the average handle time must be more than 0 and at most {MAX_SECONDS:g} seconds "
            f"(got {inputs.aht_s:g})",
        )
    if not 0 < inputs.target_sl < 1:
        hint = (
            f"; write {inputs.target_sl / 100:g} for {inputs.target_sl:g}%"
            if 1 < inputs.target_sl < 100
            else ""
        )
        raise StaffingInputError(
            "target_sl",
            "the target service level is a fraction between 0 and 1, e.g. 0.8 for 80% "
            f"(got {inputs.target_sl:g}{hint}); no number of agents can promise 100%",
        )
    if not 0 <= inputs.threshold_s <= MAX_SECONDS:
        raise StaffingInputError(
            "threshold_s",
            f"the threshold must be from 0 to {MAX_SECONDS:g} seconds (got {inputs.threshold_s:g})",
        )
    if not 0 < inputs.max_occupancy <= 1:
        raise StaffingInputError(
            "max_occupancy",
            "the maximum occupancy is a fraction above 0 and at most 1, e.g. 0.85 for 85% "
            f"(got {inputs.max_occupancy:g})",
        )
    if not 0 <= inputs.shrinkage < 1:
        raise StaffingInputError(
            "shrinkage",
            "the shrinkage is a fraction from 0 up to (not including) 1, e.g. 0.3 for 30% "
            f"(got {inputs.shrinkage:g})",
        )
    if inputs.traffic_erlang > MAX_TRAFFIC_ERLANG:
        raise StaffingInputError(
            "calls_per_hour",
            f"the traffic is {inputs.traffic_erlang:g} Erlang (calls per hour × AHT / 3600); "
            f"at most {MAX_TRAFFIC_ERLANG:g} is supported",
        )


def _check_finite(field: str, value: float, what: str) -> None:
    if not math.isfinite(value):
        raise StaffingInputError(field, f"{what} must be a finite number (got {value})")


def staffing_json(result: StaffingResult) -> dict[str, Any]:
    """The JSON body of the staffing answer, for ``cti staffing --json`` and the API."""
    inputs = result.inputs
    return {
        "calls_per_hour": inputs.calls_per_hour,
        "aht_s": inputs.aht_s,
        "traffic_erlang": result.traffic_erlang,
        "target_sl": inputs.target_sl,
        "threshold_s": inputs.threshold_s,
        "max_occupancy": inputs.max_occupancy,
        "shrinkage": inputs.shrinkage,
        "agents": result.agents,
        "scheduled_agents": result.scheduled_agents,
        "limited_by": result.limited_by,
        "rows": [
            {
                "agents": row.agents,
                "probability_of_waiting": row.probability_of_waiting,
                "service_level": row.service_level,
                # None: the queue grows without end, the average wait is infinite.
                "asa_s": row.asa_s,
                "occupancy": row.occupancy,
                "meets_target": row.meets_target,
            }
            for row in result.rows
        ],
    }
