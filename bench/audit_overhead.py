"""Audit overhead: time per upstream call with the audit log on ÷ with a no-op hook.

    .venv/bin/python bench/audit_overhead.py [--calls 300] [--runs 5] [--latency-ms 5]

The same client calls ``sms/get.php`` on a simulator answering in 5 ms (``--latency-ms``),
alternating runs with the database audit hook (a pending ``ApiCall`` row before each call,
completed with its running totals after it; DEBUG off, as in production) and with a hook that
does nothing. Prints the median time per call of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import fresh_database, machine, setup_django, start_simulator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--latency-ms", type=int, default=5)
    args = ap.parse_args()
    sim, base = start_simulator(latency_ms=args.latency_ms, auto_sms="false")
    try:
        # Production settings: with DEBUG on, Django's cursor wrapper formats and keeps every
        # query, which would be measured as part of the audit log's cost.
        setup_django(
            fresh_database("bench_audit"),
            DJANGO_DEBUG="false",
            DJANGO_SECURE="false",
            DJANGO_SECRET_KEY="bench-only-" + "x" * 50,
        )
        from accounts.audit import CallContext, DbAudit
        from accounts.models import DeveloperAccount
        from accounts.upstream.client import ZhimaClient

        account = DeveloperAccount(name="Bench", upstream_account="demo", base_url=base)
        account.set_pkey("demo-pkey")
        account.save()
        audited = ZhimaClient(base, "demo", "demo-pkey", audit=DbAudit(account.pk))
        bare = ZhimaClient(base, "demo", "demo-pkey", audit=lambda event: None)
        phone = bare.get_numbers("1001")[0]
        ctx = CallContext.for_task("bench", phone=phone)
        results: dict[str, list[float]] = {"audited": [], "no-op": []}
        for client in (audited, bare):  # warm both: session, connections
            for _ in range(20):
                client.get_sms("1001", phone, context=ctx)
        for _ in range(args.runs):
            for name, client in (("audited", audited), ("no-op", bare)):
                t = time.perf_counter()
                for _ in range(args.calls):
                    client.get_sms("1001", phone, context=ctx)
                results[name].append((time.perf_counter() - t) / args.calls * 1000)
    finally:
        sim.terminate()
    a, b = statistics.median(results["audited"]), statistics.median(results["no-op"])
    print(
        f"Audit overhead, simulator at {args.latency_ms} ms, "
        f"{args.runs} runs of {args.calls} calls — {machine()}"
    )
    print(
        f"audited {a:.2f} ms/call (runs {min(results['audited']):.2f}–"
        f"{max(results['audited']):.2f}); no-op {b:.2f} ms/call (runs "
        f"{min(results['no-op']):.2f}–{max(results['no-op']):.2f}); ratio {a / b:.3f}"
    )


if __name__ == "__main__":
    main()
