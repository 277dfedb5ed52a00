"""For the people who run the console: health checks and Prometheus metrics.

``/healthz`` answers while the process runs. ``/readyz`` checks the database, the broker and
the poller's heartbeat, each named, and answers 503 when one fails. ``/metrics`` is the
Prometheus text format, for a token (``Authorization: Bearer …``) or an allowed address; a
scrape reads running totals and index ranges only, never a full table.
"""

from __future__ import annotations

import hmac
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from accounts.audit import abandoned_after
from accounts.metrics import LATE_BUCKETS, LATENCY_BUCKETS
from accounts.models import ApiCall, DeveloperAccount, Outcome, Tally
from leases.models import HELD_STATES, Lease, LeaseState, PollerHeartbeat, held_rows

from .clientip import client_ip, in_networks
from .http import AuthenticatedHttpRequest

HEARTBEAT_MAX_AGE = 30


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


def _check(fn) -> dict:
    start = time.perf_counter()
    try:
        detail = fn()
        ok = True
    except Exception as exc:  # every failure is a named, failed check, never a 500
        ok, detail = False, f"{type(exc).__name__}: {str(exc)[:200]}"
    return {"ok": ok, "detail": detail, "ms": round((time.perf_counter() - start) * 1000, 1)}


def _database() -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()
    return connection.vendor


def _broker() -> str:
    from django_q.brokers import get_broker

    broker = get_broker()
    if broker.ping() is False:
        raise ConnectionError("the broker does not answer")
    return f"{broker.info()}, {broker.queue_size() or 0} queued"


def _poller() -> str:
    beat = PollerHeartbeat.objects.filter(beat_at__isnull=False).order_by("-beat_at").first()
    if beat is None or beat.beat_at is None:
        raise RuntimeError("no poller has beaten yet")
    age = (timezone.now() - beat.beat_at).total_seconds()
    if age > HEARTBEAT_MAX_AGE:
        raise RuntimeError(f"the last poller heartbeat is {age:.0f} s old")
    return f"slot {beat.slot} beat {age:.1f} s ago"


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    checks = {"database": _check(_database), "broker": _check(_broker), "poller": _check(_poller)}
    ready = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


# -- metrics ---------------------------------------------------------------------------------


def _histogram(name, doc, tallies, prefix, sum_key, buckets, labels=None, label_values=()):
    counts = [tallies.get(f"{prefix}|{le}", 0) for le in buckets]
    counts.append(tallies.get(f"{prefix}|+Inf", 0))
    cumulative, total = [], 0
    for le, n in zip([*map(str, buckets), "+Inf"], counts, strict=True):
        total += n
        cumulative.append((le, total))
    family = HistogramMetricFamily(name, doc, labels=labels)
    family.add_metric(list(label_values), cumulative, tallies.get(sum_key, 0) / 1000)
    return family


class ConsoleCollector:
    def collect(self):
        tallies = dict(Tally.objects.values_list("key", "value"))
        calls = CounterMetricFamily(
            "zhima_upstream_calls",
            "Upstream calls by endpoint and outcome",
            labels=["endpoint", "outcome"],
        )
        endpoints = set()
        for key, value in tallies.items():
            if key.startswith("calls|"):
                _, endpoint, outcome = key.split("|")
                endpoints.add(endpoint)
                calls.add_metric([endpoint, outcome], value)
        yield calls
        for endpoint in sorted(endpoints):
            yield _histogram(
                "zhima_upstream_latency_seconds",
                "Upstream call latency",
                tallies,
                f"latency|{endpoint}",
                f"latency_sum_ms|{endpoint}",
                LATENCY_BUCKETS,
                ["endpoint"],
                [endpoint],
            )
        yield CounterMetricFamily("zhima_polls", "SMS polls made", value=tallies.get("polls", 0))
        yield _histogram(
            "zhima_poll_lateness_seconds",
            "How late polls start against the 5 s cadence",
            tallies,
            "poll_late",
            "poll_late_sum_ms",
            LATE_BUCKETS,
        )
        now = timezone.now()
        oldest = Lease.objects.due(now).aggregate(m=Min("next_poll_at"))["m"]
        yield GaugeMetricFamily(
            "zhima_poll_overdue_seconds",
            "How long the most overdue waiting lease has waited for its poll",
            value=(now - oldest).total_seconds() if oldest else 0,
        )
        yield CounterMetricFamily(
            "zhima_codes_received", "Verification SMS received", value=tallies.get("codes", 0)
        )
        released = CounterMetricFamily(
            "zhima_releases", "Numbers released, by why", labels=["kind"]
        )
        for key, value in tallies.items():
            if key.startswith("released|"):
                released.add_metric([key.split("|", 1)[1]], value)
        yield released
        held = GaugeMetricFamily(
            "zhima_leases_held", "Leases holding a number, by state", labels=["state"]
        )
        counts = Counter(state for (state,) in held_rows("state"))
        for state in HELD_STATES:
            held.add_metric([state], counts.get(state, 0))
        yield held
        held_ids = [pk for (pk,) in held_rows("pk")]  # few; read by the index (held_rows)
        oldest_held = (
            Lease.objects.filter(pk__in=held_ids).aggregate(m=Min("leased_at"))["m"]
            if held_ids
            else None
        )
        yield GaugeMetricFamily(
            "zhima_lease_oldest_held_seconds",
            "Age of the oldest lease still holding a number (0: none)",
            value=(now - oldest_held).total_seconds() if oldest_held else 0,
        )
        yield GaugeMetricFamily(
            "zhima_upstream_force_release_seconds",
            "The upstream's forced release of a leased number",
            value=settings.ZHIMA_UPSTREAM_FORCE_RELEASE_MINUTES * 60,
        )
        quota = GaugeMetricFamily(
            "zhima_account_quota", "Cached upstream quota per account", labels=["account"]
        )
        threshold = GaugeMetricFamily(
            "zhima_account_quota_threshold",
            "Low-quota threshold per account (an alert below it)",
            labels=["account"],
        )
        for name, left, low in DeveloperAccount.objects.filter(quota__isnull=False).values_list(
            "name", "quota", "low_quota_threshold"
        ):
            quota.add_metric([name], left or 0)
            threshold.add_metric([name], low)
        yield quota
        yield threshold
        pending = ApiCall.objects.filter(outcome=Outcome.PENDING).aggregate(m=Min("created_at"))
        yield GaugeMetricFamily(
            "zhima_audit_pending_oldest_seconds",
            "Age of the oldest audit row still waiting for its call's outcome (0: none)",
            value=(now - pending["m"]).total_seconds() if pending["m"] else 0,
        )
        yield GaugeMetricFamily(
            "zhima_audit_settle_after_seconds",
            "Age at which the every-minute task settles a pending audit row as unknown",
            value=abandoned_after(),
        )
        for family, doc, label in (
            ("webhook_attempts", "Webhook POSTs, by result", "result"),
            ("webhook_deliveries", "Webhook deliveries ended, by state", "state"),
        ):
            counter = CounterMetricFamily(f"zhima_{family}", doc, labels=[label])
            for kind in ("delivered", "failed") if label == "state" else ("ok", "failed"):
                counter.add_metric([kind], tallies.get(f"{family}|{kind}", 0))
            yield counter
        beats = GaugeMetricFamily(
            "zhima_poller_heartbeat_age_seconds",
            "Seconds since each poller slot beat",
            labels=["slot"],
        )
        for slot, at in PollerHeartbeat.objects.filter(beat_at__isnull=False).values_list(
            "slot", "beat_at"
        ):
            if at is not None:  # always, by the filter; the column is nullable
                beats.add_metric([str(slot)], (now - at).total_seconds())
        yield beats
        try:
            from django_q.brokers import get_broker

            depth: float = get_broker().queue_size() or 0
        except Exception:  # the broker's own health is /readyz's business
            depth = float("nan")
        yield GaugeMetricFamily(
            "zhima_task_queue_depth", "Tasks waiting in the broker", value=depth
        )


def _token_matches(given: str, token: str) -> bool:
    """A header reaches Django as the latin-1 reading of the bytes sent; those bytes are
    compared with the token's UTF-8 bytes (``compare_digest`` refuses non-ASCII text)."""
    try:
        sent = given.encode("latin-1")
    except UnicodeEncodeError:
        return False  # not a reading of bytes: no server passes such a header on
    return hmac.compare_digest(sent, token.encode("utf-8", "surrogatepass"))


def _allowed(request: HttpRequest) -> bool:
    """The token, or the client's address (not the proxy's: ``clientip``) in an allow-list
    that was set explicitly; none is allowed by default."""
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and given and _token_matches(given, token):
        return True
    allowed = settings.METRICS_ALLOW_IPS
    return bool(allowed) and in_networks(client_ip(request), allowed)


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConsoleCollector())
    return HttpResponse(
        generate_latest(registry), content_type="text/plain; version=0.0.4; charset=utf-8"
    )


# -- the operator page --------------------------------------------------------------------------


@require_GET
def status(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Worker heartbeats, poll lag, error rate per endpoint over the last hour, last alerts:
    for the managers of an account (about their accounts) and for staff (about all)."""
    from django.core.exceptions import PermissionDenied
    from django.shortcuts import render

    from accounts import permissions
    from accounts.models import Alert, ApiCall

    if not permissions.manages_any(request.user):
        raise PermissionDenied("The operator page is for managers")
    accounts = permissions.managed_accounts(request.user)
    now = timezone.now()
    mine = set(accounts.values_list("pk", flat=True))
    hour = ApiCall.objects.filter(account__in=accounts, created_at__gte=now - timedelta(hours=1))
    rows: dict[str, dict[str, Any]] = {}
    for endpoint, outcome, n in hour.values_list("endpoint", "outcome").annotate(n=Count("id")):
        row = rows.setdefault(endpoint, {"endpoint": endpoint, "total": 0, "failed": 0})
        row["total"] += n
        if outcome in ("transport", "unreadable"):
            row["failed"] += n
    for row in rows.values():
        row["rate"] = 100 * row["failed"] / row["total"] if row["total"] else 0
    oldest = (
        Lease.objects.due(now).filter(account__in=accounts).aggregate(m=Min("next_poll_at"))["m"]
    )
    ctx = {
        "beats": [
            {
                "slot": b.slot,
                "age": (now - b.beat_at).total_seconds() if b.beat_at else None,
                "polls": b.polls,
                "alive": b.beat_at is not None
                and (now - b.beat_at).total_seconds() <= HEARTBEAT_MAX_AGE,
            }
            for b in PollerHeartbeat.objects.order_by("slot")
        ],
        "lag": (now - oldest).total_seconds() if oldest else 0,
        "waiting": sum(
            1
            for state, account_id in held_rows("state", "account_id")
            if state == LeaseState.WAITING and account_id in mine
        ),
        "endpoints": sorted(rows.values(), key=lambda r: r["endpoint"]),
        "alerts": Alert.objects.filter(account__in=accounts)
        .exclude(raised_at=None)
        .select_related("account")
        .order_by("-raised_at")[:20],
    }
    return render(request, "ops/status.html", ctx)
