"""The simulator's knobs and its seed data (accounts, items, leases as it keeps them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any


@dataclass
class SimConfig:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 15.0
    error_rate: float = 0.0
    garbage_rate: float = 0.0
    fault_endpoints: str = ""  # comma-separated client endpoint names; empty: every endpoint
    wire_format: str = "json"  # json | kv | text
    time_scale: float = 1.0
    seed: int | None = None
    session_minutes: float = 15.0
    force_release_minutes: float = 30.0
    sms_delay_min: float = 3.0
    sms_delay_max: float = 12.0
    sms_lost_rate: float = 0.02
    sms_timeout_rate: float = 0.02
    sms_timeout_after: float = 180.0
    auto_sms: bool = True
    extra_sms_rate: float = 0.5
    pool_per_carrier: int = 3000
    pool_international: int = 500

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **overrides: object) -> SimConfig:
        cfg = cls()
        for f in fields(cls):
            value = environ.get("ZHIMA_SIM_" + f.name.upper())
            if value is not None:
                cfg.update({f.name: value})
        cfg.update({k: v for k, v in overrides.items() if v is not None})
        return cfg

    def update(self, values: Mapping[str, Any]) -> None:
        for f in fields(self):
            if f.name not in values:
                continue
            raw = values[f.name]
            if f.name == "fault_endpoints":
                setattr(self, f.name, str(raw or ""))
            elif f.name == "wire_format":
                if raw not in {"json", "kv", "text"}:
                    raise ValueError("wire_format must be json, kv or text")
                setattr(self, f.name, raw)
            elif f.name == "auto_sms":
                setattr(self, f.name, str(raw).lower() in {"1", "true", "yes", "on"})
            elif f.name == "seed":
                setattr(self, f.name, None if raw in ("", None) else int(raw))
            elif f.name.startswith("pool_"):
                setattr(self, f.name, int(raw))
            else:
                value = float(raw)
                if value < 0 or (f.name.endswith("_rate") and value > 1):
                    raise ValueError(f"{f.name} out of range")
                setattr(self, f.name, value)
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")


@dataclass
class SimAccount:
    pkey: str
    balance: Decimal
    abnormal: bool = False
    leased_per_item: dict[str, int] = field(default_factory=dict)


@dataclass
class SimItem:
    name: str
    status: int
    price: str
    type: int
    msg: str = ""


@dataclass
class SimLease:
    account: str
    item: str
    phone: str
    leased_at: float
    token: int
    fate: str  # sms | lost | timeout
    fate_at: float
    inbox: list[tuple[float, str, str]] = field(default_factory=list)  # (at, text, code)
    sent: list[tuple[float, str]] = field(default_factory=list)


def default_items() -> dict[str, SimItem]:
    tiers = "0.1(10000), 0.01(10001-30000), 0.08(+)"
    return {
        "1001": SimItem("微信注册（类型1）", 1, tiers, 1),
        "1002": SimItem("淘宝批量（类型2）", 1, "0.2(100), 0.15(+)", 2),
        "1003": SimItem("抖音发一条（类型3）", 1, "0.3", 3),
        "1004": SimItem("京东发多条（类型4）", 1, "0.3(50), 0.25(+)", 4),
        "1005": SimItem("支付宝收发（类型5）", 1, "0.5(20), 0.4(21-100), 0.35(+)", 5),
        "1006": SimItem("美团收发（类型6）", 1, "0.5", 6),
        "1007": SimItem("已过期项目", 2, "0.1", 1, "项目已过期"),
        "1008": SimItem("异常项目", 3, "0.1", 1, "项目异常，请联系客服"),
    }
