"""Histograms and gauges read from a service's ``/metrics`` (Prometheus text format).

The benchmarks that drive a real ``cti serve`` scrape it before and after a step and
take quantiles of the difference, as ``histogram_quantile(0.99, rate(...))`` would:
linear interpolation inside the bucket the quantile falls in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts by upper bound (``+Inf`` last), the count and the sum."""

    buckets: tuple[tuple[float, float], ...]
    count: float
    sum: float

    def __sub__(self, before: Histogram) -> Histogram:
        earlier = dict(before.buckets)
        return Histogram(
            tuple((le, n - earlier.get(le, 0.0)) for le, n in self.buckets),
            self.count - before.count,
            self.sum - before.sum,
        )

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile in seconds (None without observations); a quantile in the
        ``+Inf`` bucket is reported as the highest finite bound."""
        if self.count <= 0:
            return None
        rank = q * self.count
        lower, below = 0.0, 0.0
        for le, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(le):
                    return lower
                inside = cumulative - below
                return lower + (le - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = le, cumulative
        return lower

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None


EMPTY = Histogram((), 0.0, 0.0)


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample by its full name (``cti_agi_seconds_bucket``), with its labels."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def _matches(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def histogram(text: str, name: str, **labels: str) -> Histogram:
    """The histogram ``name`` with ``labels`` (summed over any other labels)."""
    samples = parse(text)
    buckets: dict[float, float] = {}
    for sample_labels, value in samples.get(f"{name}_bucket", []):
        if _matches(sample_labels, labels):
            le = float(sample_labels["le"])
            buckets[le] = buckets.get(le, 0.0) + value
    count = sum(v for lb, v in samples.get(f"{name}_count", []) if _matches(lb, labels))
    total = sum(v for lb, v in samples.get(f"{name}_sum", []) if _matches(lb, labels))
    return Histogram(tuple(sorted(buckets.items())), count, total)


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` with ``labels`` (0 when there is none)."""
    return sum(v for lb, v in parse(text).get(name, []) if _matches(lb, labels))
