"""Prometheus bucketing of the audit rows: running totals by endpoint and outcome, latency and
poll-lateness histograms (``Tally``; ``/metrics`` reads them)."""

from __future__ import annotations

from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LATE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


def _bucket(value: float, buckets) -> str:
    for le in buckets:
        if value <= le:
            return str(le)
    return "+Inf"


def call_tallies(rows) -> dict[str, int]:
    """Running totals for the metrics: calls by endpoint and outcome, latency histogram."""
    out: dict[str, int] = defaultdict(int)
    for row in rows:
        out[f"calls|{row.endpoint}|{row.outcome}"] += 1
        out[f"latency|{row.endpoint}|{_bucket(row.latency_ms / 1000, LATENCY_BUCKETS)}"] += 1
        out[f"latency_sum_ms|{row.endpoint}"] += row.latency_ms
    return out


def lateness_tallies(seconds: list[float]) -> dict[str, int]:
    """How late polls start against their cadence, as a histogram."""
    out: dict[str, int] = defaultdict(int)
    for late in seconds:
        out[f"poll_late|{_bucket(max(late, 0), LATE_BUCKETS)}"] += 1
        out["poll_late_sum_ms"] += int(max(late, 0) * 1000)
    return out
