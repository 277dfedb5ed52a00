"""Run the embedded Zhima upstream simulator (the sandbox upstream)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from accounts.upstream.simulator import SimConfig, SimServer, SimState


class Command(BaseCommand):
    help = "Serve the simulated Zhima API under /zsmcode/ (control endpoints under /_sim/)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument(
            "--account",
            action="append",
            default=[],
            metavar="NAME:PKEY:QUOTA",
            help="an extra developer account (repeatable); demo/demo-pkey/1000 always exists",
        )
        parser.add_argument("--latency-ms", type=float)
        parser.add_argument("--jitter-ms", type=float)
        parser.add_argument("--timeout-rate", type=float)
        parser.add_argument("--timeout-seconds", type=float)
        parser.add_argument("--error-rate", type=float)
        parser.add_argument("--garbage-rate", type=float)
        parser.add_argument("--wire-format", choices=["json", "kv", "text"])
        parser.add_argument("--time-scale", type=float)
        parser.add_argument("--session-minutes", type=float)
        parser.add_argument("--seed", type=int)

    def handle(self, *args, **opts):
        accounts = {"demo": ("demo-pkey", Decimal(1000))}
        for spec in opts["account"]:
            try:
                name, pkey, quota = spec.split(":")
                accounts[name] = (pkey, Decimal(quota))
            except (ValueError, InvalidOperation):
                raise CommandError(f"--account wants NAME:PKEY:QUOTA, not {spec!r}") from None
        knobs = {
            k: opts[k]
            for k in (
                "latency_ms",
                "jitter_ms",
                "timeout_rate",
                "timeout_seconds",
                "error_rate",
                "garbage_rate",
                "wire_format",
                "time_scale",
                "session_minutes",
                "seed",
            )
        }
        try:
            config = SimConfig.from_env(**knobs)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        try:
            server = SimServer((opts["host"], opts["port"]), SimState(config, accounts))
        except OSError as exc:
            raise CommandError(f"cannot listen on {opts['host']}:{opts['port']}: {exc}") from None
        self.stdout.write(
            f"Zhima simulator at {server.base_url} (format {config.wire_format}, "
            f"time x{config.time_scale:g}); control under /_sim/. Ctrl-C stops."
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
