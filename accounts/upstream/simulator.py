"""An in-memory stand-in for the Zhima upstream (docs/upstream-api.md), on stdlib HTTP only.

It is the development and test upstream and the product's sandbox mode. It keeps the rules the
document states — the 15-minute session cookie, quantities by item type, specific numbers,
area/carrier/international filters, tiered prices charged against the quota, blacklists,
release per item or across items, release all, the forced release after 30 minutes — and
delivers realistic verification SMS after a random delay, sometimes losing one (status 3) or
timing out (status 4).

Decisions the document leaves open, made here and mirrored by the client:

* ``sms/get.php`` answers the *latest* SMS that reached the number (status 2) on every poll
  until a newer one arrives, so a poll whose answer is lost loses no SMS.
* A fault of kind "timeout" takes effect and then answers later than the client waits (the
  ambiguous case of a real network); an HTTP 500 or a garbage body takes no effect.
* The quota (``leftQuantity``) is a balance in the price's unit; it is shown rounded down.

Knobs (``SimConfig``) come from flags of ``manage.py runsimulator``, ``ZHIMA_SIM_*`` environment
variables, or ``POST /_sim/config`` at run time. Control endpoints: ``POST /_sim/sms``,
``GET /_sim/stats``, ``GET|POST /_sim/config``, ``GET /_sim/leases``, ``GET /_sim/ledger``,
``POST /_sim/reset`` (back to the state it started in: seed, knobs, clock, accounts, counters).
"""

from __future__ import annotations

import heapq
import json
import random
import secrets
import threading
import time
from dataclasses import asdict, replace
from decimal import ROUND_DOWN, Decimal
from http import cookies
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypedDict, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from . import smsgen
from .simdata import SimAccount, SimConfig, SimLease, default_items
from .wire import parse_price, unit_price

API_PREFIX = "/zsmcode/"
CARRIERS = {
    "1": ["134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159"],
    "2": ["130", "131", "132", "155", "156", "185", "186"],
    "3": ["133", "153", "180", "181", "189"],
}
AREAS = ["010", "021", "020", "0755", "028", "0571", "027", "025"]
COUNTRY_PREFIXES = ["+44", "+1", "+63", "+66", "+84"]
MAX_PER_REQUEST = 10

MSG_SESSION = "会话已过期，请重新验证密钥"
MSG_NOT_LEASED = "号码未获取或已释放"

Query = dict[str, str]  # an endpoint's parameters, as parsed from the query string
Answer = dict[str, Any]  # the fields of an answer, before ``render`` puts them on the wire


class SimFaults(TypedDict):
    timeout: int
    error: int
    garbage: int


class SimStats(TypedDict):
    """``GET /_sim/stats``: requests per endpoint and what happened."""

    requests: dict[str, int]
    numbers_leased: int
    released_by_caller: int
    force_released: int
    blacklisted: int
    sms_delivered: int
    sms_sent: int
    faults: SimFaults


class SimState:
    """Everything the simulated upstream knows; every method runs under ``self.lock``."""

    def __init__(self, config: SimConfig, accounts: dict[str, tuple[str, Decimal]] | None = None):
        # What ``reset`` goes back to: the knobs and accounts it was started with.
        self._start = (replace(config), dict(accounts) if accounts else None)
        self.config = config
        self.rng = random.Random(config.seed)
        self.lock = threading.RLock()
        self._t0 = time.monotonic()
        self._sim0 = 0.0
        self._scale = config.time_scale
        accounts = accounts or {"demo": ("demo-pkey", Decimal(1000))}
        self.accounts = {n: SimAccount(p, Decimal(q)) for n, (p, q) in accounts.items()}
        self.accounts.setdefault("frozen", SimAccount("frozen-pkey", Decimal(10), abnormal=True))
        self.items = default_items()
        self.numbers: dict[str, tuple[str, str, bool]] = {}  # phone -> (carrier, area, intl)
        self._build_pool()
        self.leases: dict[tuple[str, str], SimLease] = {}  # (phone, item) -> lease
        self.by_item: dict[str, set[str]] = {}
        self.blacklist: set[tuple[str, str]] = set()
        self.sessions: dict[str, tuple[str, float]] = {}
        self.expiry: list[tuple[float, int, str, str]] = []
        self._token = 0
        # Every number ever leased, by token, with what the caller could know of it: whether
        # the answer that leased it reached the caller, the SMS texts answers carried, and how
        # it ended. The fault soak checks the console against it (``GET /_sim/ledger``).
        self.ledger: dict[int, dict[str, Any]] = {}
        self.answer_lost = False  # set around each call whose answer a timeout will swallow
        self.stats: SimStats = {
            "requests": {},
            "numbers_leased": 0,
            "released_by_caller": 0,
            "force_released": 0,
            "blacklisted": 0,
            "sms_delivered": 0,
            "sms_sent": 0,
            "faults": {"timeout": 0, "error": 0, "garbage": 0},
        }

    def reset(self) -> None:
        """Forget everything since the start: knobs, seed, clock, accounts, number pool,
        leases, sessions, ledger and counters are as a new simulator's (a long-lived server
        serves one test after another without carrying anything over)."""
        config, accounts = self._start
        fresh = SimState(replace(config), accounts)
        with self.lock:
            lock = self.lock
            self.__dict__.update(fresh.__dict__)
            self.lock = lock

    # -- clock -------------------------------------------------------------------------------

    def now(self) -> float:
        """Simulated seconds since start; the time scale may change at run time."""
        return self._sim0 + (time.monotonic() - self._t0) * self._scale

    def set_scale(self, scale: float) -> None:
        self._sim0, self._t0, self._scale = self.now(), time.monotonic(), scale

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward at once (SMS arrive, sessions and leases lapse)."""
        with self.lock:
            self._sim0 += seconds

    def _build_pool(self) -> None:
        rng = random.Random(self.config.seed if self.config.seed is not None else 7)
        for carrier, prefixes in CARRIERS.items():
            made = 0
            while made < self.config.pool_per_carrier:
                phone = rng.choice(prefixes) + f"{rng.randrange(10**8):08d}"
                if phone not in self.numbers:
                    self.numbers[phone] = (carrier, rng.choice(AREAS), False)
                    made += 1
        for _ in range(self.config.pool_international):
            prefix = rng.choice(COUNTRY_PREFIXES)
            self.numbers[prefix + f"{rng.randrange(10**9):09d}"] = ("", "", True)
        self.pool = list(self.numbers)
        rng.shuffle(self.pool)

    # -- housekeeping ------------------------------------------------------------------------

    def sweep(self) -> None:
        """Force-release every lease past its 30 minutes."""
        now = self.now()
        while self.expiry and self.expiry[0][0] <= now:
            _, token, phone, item = heapq.heappop(self.expiry)
            lease = self.leases.get((phone, item))
            if lease and lease.token == token:
                self._drop(lease)
                self.stats["force_released"] += 1
                self.ledger[token]["ended"] = "forced"

    def _drop(self, lease: SimLease, how: str = "forced") -> None:
        self.ledger[lease.token]["ended"] = how
        del self.leases[(lease.phone, lease.item)]
        self.by_item.get(lease.item, set()).discard(lease.phone)

    def session_account(self, sid: str | None) -> str | None:
        if not sid or sid not in self.sessions:
            return None
        account, at = self.sessions[sid]
        if self.now() - at > self.config.session_minutes * 60:
            del self.sessions[sid]
            return None
        return account

    # -- endpoints ---------------------------------------------------------------------------

    def verify(self, q: Query) -> tuple[Answer, str | None]:
        acc = self.accounts.get(q.get("account", ""))
        if acc is None or not secrets.compare_digest(acc.pkey, q.get("pkey", "")):
            return {"valid": "N", "msg": "开发者账号或密钥错误"}, None
        if acc.abnormal:
            return {"valid": "N", "msg": "账户异常"}, None
        sid = secrets.token_hex(16)
        self.sessions[sid] = (q["account"], self.now())
        return {"valid": "Y", "leftQuantity": str(self._quota(acc))}, sid

    @staticmethod
    def _quota(acc: SimAccount) -> int:
        return int(acc.balance.to_integral_value(rounding=ROUND_DOWN))

    def details(self, account: str, q: Query) -> Answer:
        item = self.items.get(q.get("itemId", ""))
        if item is None:
            return {"status": "3", "msg": "项目编号不存在"}
        out = {"name": item.name, "status": str(item.status), "price": item.price}
        out["type"] = str(item.type)
        if item.msg:
            out["msg"] = item.msg
        return out

    def get_numbers(self, account: str, q: Query) -> Answer:
        item_id = q.get("itemId", "")
        item = self.items.get(item_id)
        if item is None:
            return {"msg": "项目编号不存在"}
        if item.status != 1:
            return {"msg": item.msg or "项目不可用"}
        try:
            quantity = int(q.get("quantity") or 1)
        except ValueError:
            return {"msg": "获取数量错误"}
        limit = MAX_PER_REQUEST if item.type in (2, 5, 6) else 1
        if not 1 <= quantity <= limit:
            return {"msg": f"该项目每次可获取1-{limit}个号码"}
        acc = self.accounts[account]
        taken = self.by_item.setdefault(item_id, set())
        wanted = q.get("phoneNo", "").strip()
        if wanted:
            if wanted not in self.numbers:
                return {"msg": "指定号码不存在"}
            if (wanted, item_id) in self.blacklist:
                return {"msg": "该号码已被拉黑"}
            if wanted in taken:
                return {"msg": "号码已被占用"}
            chosen = [wanted][:quantity]
        else:
            chosen = self._pick(item_id, taken, quantity, q)
            if len(chosen) < quantity:
                return {"msg": "号码余量不足"}
        tiers = parse_price(item.price)
        n0 = acc.leased_per_item.get(item_id, 0)
        cost = sum(unit_price(tiers, n0 + i + 1) for i in range(len(chosen)))
        if acc.balance < cost:
            return {"msg": "余额不足，请充值"}
        acc.balance -= cost
        acc.leased_per_item[item_id] = n0 + len(chosen)
        for phone in chosen:
            self._lease(account, item_id, phone)
        return {"phoneNos": ",".join(chosen)}

    def _pick(self, item_id: str, taken: set[str], quantity: int, q: Query) -> list[str]:
        intl = q.get("international", "N").upper() == "Y"
        area, carrier = q.get("areaCode", "").strip(), q.get("type", "").strip()
        start = self.rng.randrange(len(self.pool))
        chosen: list[str] = []
        for i in range(len(self.pool)):
            phone = self.pool[(start + i) % len(self.pool)]
            c, a, is_intl = self.numbers[phone]
            if is_intl != intl or phone in taken or (phone, item_id) in self.blacklist:
                continue
            if not intl and ((area and a != area) or (carrier and c != carrier)):
                continue
            chosen.append(phone)
            if len(chosen) == quantity:
                break
        return chosen

    def _lease(self, account: str, item_id: str, phone: str) -> None:
        cfg, now = self.config, self.now()
        self._token += 1
        roll = self.rng.random()
        if roll < cfg.sms_lost_rate:
            fate, at = "lost", now + self.rng.uniform(cfg.sms_delay_min, cfg.sms_delay_max)
        elif roll < cfg.sms_lost_rate + cfg.sms_timeout_rate:
            fate, at = "timeout", now + cfg.sms_timeout_after
        else:
            fate, at = "sms", now + self.rng.uniform(cfg.sms_delay_min, cfg.sms_delay_max)
        lease = SimLease(account, item_id, phone, now, self._token, fate, at)
        if fate == "sms" and cfg.auto_sms:
            self._arrive(lease, at)
            if self.items[item_id].type in (5, 6) and self.rng.random() < cfg.extra_sms_rate:
                self._arrive(lease, at + self.rng.uniform(60, 120))
        self.leases[(phone, item_id)] = lease
        self.ledger[self._token] = {
            "account": account,
            "itemId": item_id,
            "phoneNo": phone,
            "answered": not self.answer_lost,
            "sms": [],
            "ended": "",
        }
        self.by_item.setdefault(item_id, set()).add(phone)
        force_at = now + cfg.force_release_minutes * 60
        heapq.heappush(self.expiry, (force_at, self._token, phone, item_id))
        self.stats["numbers_leased"] += 1

    def _arrive(self, lease: SimLease, at: float, text: str | None = None) -> None:
        if text is None:
            item = self.items.get(lease.item)
            app = smsgen.brand_for(item.name) if item else None
            text, code = smsgen.verification_sms(self.rng, app, lease.phone)
        else:
            code = ""
        lease.inbox.append((at, text, code))
        lease.inbox.sort()

    def _own(self, account: str, item_id: str, phone: str) -> SimLease | None:
        lease = self.leases.get((phone, item_id))
        return lease if lease and lease.account == account else None

    def get_sms(self, account: str, q: Query) -> Answer:
        lease = self._own(account, q.get("itemId", ""), q.get("phoneNo", ""))
        if lease is None:
            return {"msg": MSG_NOT_LEASED}
        now = self.now()
        arrived = [m for m in lease.inbox if m[0] <= now]
        if arrived:
            delivered = getattr(lease, "_counted", 0)
            if len(arrived) > delivered:
                self.stats["sms_delivered"] += len(arrived) - delivered
                lease._counted = len(arrived)  # type: ignore[attr-defined]
            seen = self.ledger[lease.token]["sms"]
            if not self.answer_lost and arrived[-1][1] not in seen:
                seen.append(arrived[-1][1])
            return {"status": "2", "sm": arrived[-1][1]}
        if lease.fate == "lost" and now >= lease.fate_at:
            return {"status": "3", "msg": "短信丢失"}
        if lease.fate == "timeout" and now >= lease.fate_at:
            return {"status": "4", "msg": "接收超时"}
        return {"status": "1"}

    def send(self, account: str, q: Query) -> Answer:
        item = self.items.get(q.get("itemId", ""))
        lease = self._own(account, q.get("itemId", ""), q.get("phoneNo", ""))
        if item is None or lease is None:
            return {"msg": MSG_NOT_LEASED}
        if item.type < 3:
            return {"msg": "该项目不支持发送短信"}
        if q.get("querys", "N").upper() == "Y":
            if not lease.sent:
                return {"msg": "没有发送记录"}
            return {"msg": "OK" if self.now() - lease.sent[-1][0] >= 2 else "发送中"}
        text = q.get("smcontent", "")
        if not text.strip():
            return {"msg": "短信内容不能为空"}
        if item.type == 3 and lease.sent:
            return {"msg": "该项目只能发送一条短信"}
        lease.sent.append((self.now(), text))
        self.stats["sms_sent"] += 1
        return {"msg": "OK"}

    def release(self, account: str, q: Query) -> Answer:
        item_id = q.get("itemId", "").strip()
        released = 0
        for phone in [p for p in q.get("phoneNo", "").split(",") if p.strip()]:
            items = [item_id] if item_id else list(self.items)
            for iid in items:
                lease = self._own(account, iid, phone.strip())
                if lease:
                    self._drop(lease, "released")
                    released += 1
        self.stats["released_by_caller"] += released
        return {"msg": "OK"} if released else {"msg": MSG_NOT_LEASED}

    def release_all(self, account: str, q: Query) -> Answer:
        mine = [lease for lease in self.leases.values() if lease.account == account]
        for lease in mine:
            self._drop(lease, "released")
        self.stats["released_by_caller"] += len(mine)
        return {"msg": "OK"}

    def block(self, account: str, q: Query) -> Answer:
        item_id, phone = q.get("itemId", ""), q.get("phoneNo", "")
        lease = self._own(account, item_id, phone)
        if lease is None:
            return {"msg": MSG_NOT_LEASED}
        self._drop(lease, "blocked")
        self.blacklist.add((phone, item_id))
        self.stats["blacklisted"] += 1
        return {"msg": "OK"}

    # -- control -----------------------------------------------------------------------------

    def inject_sms(self, phone: str, text: str, item_id: str = "") -> int:
        targets = [
            lease
            for (p, iid), lease in self.leases.items()
            if p == phone and (not item_id or iid == item_id)
        ]
        for lease in targets:
            self._arrive(lease, self.now(), text)
        return len(targets)

    def snapshot_leases(self) -> list[Answer]:
        now = self.now()
        return [
            {
                "account": lease.account,
                "itemId": lease.item,
                "phoneNo": lease.phone,
                "age": round(now - lease.leased_at, 1),
                "fate": lease.fate,
                "sms": [{"text": t, "code": c} for at, t, c in lease.inbox if at <= now],
                "sent": [t for _, t in lease.sent],
            }
            for lease in self.leases.values()
        ]


ENDPOINTS = {
    "pkey/verification.php": "verify",
    "items/details.php": "details",
    "phoneNos/get.php": "get_numbers",
    "sms/get.php": "get_sms",
    "sms/send.php": "send",
    "sms/release.php": "release",
    "sms/releaseAll.php": "release_all",
    "sms/block.php": "block",
}

GARBAGE = [
    b'{"valid":"Y","leftQuan',
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b"\x00\x9f\x92\x96\xff\xfe garbage \x01\x02",
    b"",
]


def render(fields_: Answer, wire_format: str) -> bytes:
    if wire_format == "kv":
        return urlencode(fields_).encode()
    if wire_format == "text" and set(fields_) == {"msg"}:
        return str(fields_["msg"]).encode()
    return json.dumps(fields_, ensure_ascii=False).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stall
    server: SimServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: bytes, ctype: str, cookie: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if cookie:
            self.send_header("Set-Cookie", f"PHPSESSID={cookie}; Path=/; HttpOnly")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: object) -> None:
        body = json.dumps(data, ensure_ascii=False, default=str).encode()
        self._send(status, body, "application/json; charset=utf-8")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith(API_PREFIX):
            return self._api(url.path[len(API_PREFIX) :], dict(parse_qsl(url.query)))
        state = self.server.state
        with state.lock:
            if url.path == "/_sim/stats":
                return self._json(200, state.stats)
            if url.path == "/_sim/config":
                return self._json(200, asdict(state.config))
            if url.path == "/_sim/leases":
                state.sweep()
                return self._json(200, state.snapshot_leases())
            if url.path == "/_sim/ledger":
                state.sweep()
                return self._json(200, list(state.ledger.values()))
        return self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        ctype = self.headers.get("Content-Type", "")
        data = json.loads(raw or "{}") if "json" in ctype else dict(parse_qsl(raw))
        state = self.server.state
        with state.lock:
            if url.path == "/_sim/sms":
                phone, text = data.get("phoneNo", ""), data.get("text", "")
                if not phone or not text:
                    return self._json(400, {"error": "phoneNo and text are required"})
                state.sweep()
                n = state.inject_sms(phone, text, data.get("itemId", ""))
                return self._json(200 if n else 404, {"delivered_to": n})
            if url.path == "/_sim/config":
                try:
                    state.config.update(data)
                except (ValueError, TypeError) as exc:
                    return self._json(400, {"error": str(exc)})
                if state._scale != state.config.time_scale:
                    state.set_scale(state.config.time_scale)
                if "seed" in data:
                    state.rng.seed(state.config.seed)
                return self._json(200, asdict(state.config))
            if url.path == "/_sim/reset":
                state.reset()
                return self._json(200, asdict(state.config))
        return self._json(404, {"error": "not found"})

    def _api(self, path: str, q: Query) -> None:
        state, cfg = self.server.state, self.server.state.config
        name = ENDPOINTS.get(path)
        stat = name if name != "send" else ("send_status" if q.get("querys") == "Y" else "send_sms")
        with state.lock:
            state.stats["requests"][stat or "unknown"] = (
                state.stats["requests"].get(stat or "unknown", 0) + 1
            )
            roll = state.rng.random()
            if cfg.fault_endpoints and stat not in cfg.fault_endpoints.split(","):
                roll = 1.0  # faults apply to the named endpoints only
            delay = cfg.latency_ms + (state.rng.uniform(0, cfg.jitter_ms) if cfg.jitter_ms else 0)
        if delay:
            time.sleep(delay / 1000)
        if roll < cfg.error_rate:
            with state.lock:
                state.stats["faults"]["error"] += 1
            return self._send(500, b"Internal Server Error", "text/plain")
        if roll < cfg.error_rate + cfg.garbage_rate:
            with state.lock:
                state.stats["faults"]["garbage"] += 1
                body = state.rng.choice(GARBAGE)
            return self._send(200, body, "text/html")
        if name is None:
            return self._send(404, b"Not Found", "text/html")
        jar = cookies.SimpleCookie(self.headers.get("Cookie", ""))
        sid = jar["PHPSESSID"].value if "PHPSESSID" in jar else None
        new_sid = None
        timed_out = roll < cfg.error_rate + cfg.garbage_rate + cfg.timeout_rate
        with state.lock:
            state.sweep()
            state.answer_lost = timed_out
            try:
                if name == "verify":
                    out, new_sid = state.verify(q)
                else:
                    account = state.session_account(sid)
                    out = (
                        {"msg": MSG_SESSION}
                        if account is None
                        else getattr(state, name)(account, q)
                    )
            finally:
                state.answer_lost = False
            if timed_out:
                state.stats["faults"]["timeout"] += 1
        if timed_out:
            time.sleep(cfg.timeout_seconds)
        self._send(200, render(out, cfg.wire_format), "text/html; charset=utf-8", new_sid)


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], state: SimState):
        self.state = state
        super().__init__(address, Handler)

    @property
    def base_url(self) -> str:
        host, port = cast(tuple[str, int], self.server_address[:2])  # AF_INET: never bytes
        return f"http://{host}:{port}{API_PREFIX}"


def start_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    config: SimConfig | None = None,
    accounts: dict[str, tuple[str, Decimal]] | None = None,
) -> SimServer:
    """Start a simulator on a background thread (port 0: a free port); ``.shutdown()`` stops."""
    server = SimServer((host, port), SimState(config or SimConfig(), accounts))
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="zhima-sim", daemon=True
    ).start()
    return server


__all__ = ["SimConfig", "SimServer", "SimState", "start_in_thread"]
