"""The Zhima upstream client: one method per endpoint, typed results, typed errors.

Rules this client keeps (docs/upstream-api.md §11):

1. One ``requests.Session`` per developer account: pooled keep-alive connections and the PHP
   session cookie.
2. It verifies the key on first use and again before the 15-minute session lapses. When an
   answer says the session is missing or expired it verifies once more and repeats that call
   once (a definite refusal leased nothing, so even get-numbers may be repeated then).
3. It never repeats a call after a transport failure. In particular ``get_numbers`` after a
   read timeout or a dropped connection may have leased and charged numbers: the error says so
   with ``ambiguous=True`` and the caller decides.
4. Every HTTP request, success or failure, implicit verifications included, is reported to one
   audit hook, with the pkey redacted from parameters, body and message — twice: once *before*
   it is sent (outcome ``pending``; the hook may set ``event.ticket`` to find the record again,
   and if it raises, nothing is sent), and once with its outcome. A process killed mid-call so
   leaves a record of the call, its outcome unknown, instead of no record at all.
5. The pkey appears in no exception text, repr or log record: exceptions are built from our own
   words, never from ``requests``' messages (which carry the URL and so the pkey).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from . import hooks, wire
from .errors import (
    ConnectionDropped,
    ConnectRefused,
    ConnectTimedOut,
    HttpStatusError,
    NoAnswer,
    SessionExpired,
    TransportError,
    UnreadableResponse,
    UpstreamError,
    UpstreamRefusal,
    refusal,
)
from .hooks import PENDING, AuditEvent, AuditHook, SessionStore
from .redact import REDACTED, register_secret

log = logging.getLogger(__name__)

SESSION_TTL = 15 * 60
SESSION_MARGIN = 60
"""Re-verify this many seconds before the upstream's 15 minutes run out."""

# Answers that mean "verify first". The simulator says 会话已过期，请重新验证密钥; the others are
# the spellings comparable platforms use.
SESSION_EXPIRED = re.compile(
    r"会话已过期|会话失效|请先验证|重新验证|未验证|未登录|登录已过期|登录超时|session", re.I
)

ENDPOINTS = {
    "verify": "pkey/verification.php",
    "details": "items/details.php",
    "get_numbers": "phoneNos/get.php",
    "get_sms": "sms/get.php",
    "send_sms": "sms/send.php",
    "send_status": "sms/send.php",
    "release": "sms/release.php",
    "release_all": "sms/releaseAll.php",
    "block": "sms/block.php",
}


Fields = dict[str, str]  # an answer's fields, as ``wire.parse_fields`` reads them


def _no_audit(event: AuditEvent) -> None:
    return None


# ---------------------------------------------------------------------------------------------
# The client


class ZhimaClient:
    def __init__(
        self,
        base_url: str,
        account: str,
        pkey: str,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        lease_read_timeout: float | None = None,
        audit: AuditHook | None = None,
        session_store: SessionStore | None = None,
        pool_size: int = 32,
        clock: Callable[[], float] = time.time,
        proxy: str = "",
    ):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.account = account
        self._pkey = pkey
        register_secret(pkey)
        self.timeout = (connect_timeout, read_timeout)
        # A lease is money: waiting longer for its answer turns most late answers into known
        # numbers instead of numbers leased, charged and unknown (rule 3).
        self.lease_timeout = (connect_timeout, max(read_timeout, lease_read_timeout or 0))
        self.audit = audit if audit is not None else _no_audit
        self.store = session_store or SessionStore()
        self.clock = clock
        self._verify_lock = threading.Lock()
        self.http = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        self.http.headers["User-Agent"] = "zhima-console/1"
        # No proxy or .netrc lookups from the environment on every request (they cost more
        # CPU than the call itself at the poller's rate); a proxy is configured explicitly.
        self.http.trust_env = False
        if proxy:
            self.http.proxies = {"http": proxy, "https": proxy}
        cookies, _ = self.store.load()
        self.http.cookies.update(cookies)

    def __repr__(self) -> str:
        return f"<ZhimaClient {self.account}@{self.base_url}>"

    def close(self) -> None:
        self.http.close()

    # -- plumbing --------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return text.replace(self._pkey, REDACTED) if self._pkey and text else text

    def _fetch(self, name: str, params: dict[str, str], event: AuditEvent) -> dict[str, str]:
        """One HTTP GET; returns the parsed fields or raises a transport or unreadable error."""
        url = self.base_url + ENDPOINTS[name]
        timeout = self.lease_timeout if name == "get_numbers" else self.timeout
        try:
            with hooks.network_wait():
                resp = self.http.get(url, params=params, timeout=timeout)
                body = resp.content
        except requests.ConnectTimeout:
            raise ConnectTimedOut(name) from None
        except requests.ReadTimeout:
            raise NoAnswer(name, timeout[1]) from None
        except requests.ConnectionError as exc:
            if _is_connect_failure(exc):
                raise ConnectRefused(name) from None
            raise ConnectionDropped(name) from None
        except requests.RequestException as exc:
            reason = f"request failed ({type(exc).__name__})"
            raise TransportError(name, reason, ambiguous=True) from None
        event.http_status = resp.status_code
        text = self._redact(wire.decode_body(body))
        event.raw_body = wire.truncate(text)
        if resp.status_code != 200:
            raise HttpStatusError(name, resp.status_code)
        fields = wire.parse_fields(text)
        return {k: self._redact(v) for k, v in fields.items()}

    def _exchange[T](
        self, name: str, params: dict[str, str], context: Any, read: Callable[[Fields], T]
    ) -> T:
        """One audited request: fetch, read with ``read(fields)``, report the outcome.

        ``read`` returns the typed result, or raises ``UpstreamRefusal`` (including
        ``SessionExpired``) or ``wire.UnreadableResponse``.
        """
        shown = {k: (REDACTED if k == "pkey" else v) for k, v in params.items()}
        event = AuditEvent(endpoint=name, params=shown, outcome=PENDING, context=context)
        self.audit(event)  # write-ahead: an error here propagates, and nothing is sent
        event.outcome = "transport"
        start = time.perf_counter()
        try:
            fields = self._fetch(name, params, event)
            event.msg = fields.get("msg", "")
            result = read(fields)
            if isinstance(result, list):  # get_numbers: record what was leased
                event.phones = result
            event.outcome = "ok"
            return result
        except TransportError as exc:
            event.msg = exc.reason
            raise
        except UpstreamRefusal as exc:
            event.outcome, event.msg = "refused", exc.msg
            raise
        except wire.UnreadableResponse as exc:
            event.outcome, event.msg = "unreadable", exc.reason
            raise UnreadableResponse(name, exc.reason, event.raw_body or exc.raw) from None
        finally:
            event.latency_ms = round((time.perf_counter() - start) * 1000)
            try:
                self.audit(event)
            except Exception:
                # The audit hook must never turn a finished upstream call into an error that
                # the caller might retry (a lease would be paid twice); it logs instead.
                log.exception("audit hook failed for %s", name)

    # -- session ---------------------------------------------------------------------------

    def _fresh(self, verified_at: float | None) -> bool:
        return verified_at is not None and self.clock() - verified_at < SESSION_TTL - SESSION_MARGIN

    def _session_fresh(self) -> bool:
        return self._fresh(self.store.load()[1])

    def ensure_session(self, context: Any = None) -> float | None:
        """Verify first when the session is due; returns the verification time in use."""
        verified_at = self.store.load()[1]
        if self._fresh(verified_at):
            return verified_at
        # Waiting for another thread's verification is a wait on the network too.
        with hooks.network_wait(), self._verify_lock:
            verified_at = self.store.load()[1]
            if not self._fresh(verified_at):
                self.verify(context=context)
                verified_at = self.store.load()[1]
        return verified_at

    def verify(self, context: Any = None) -> wire.VerifyResult:
        def read(fields: Fields) -> wire.VerifyResult:
            result = wire.read_verify(fields)
            if not result.valid:
                raise UpstreamRefusal("verify", result.msg or "密钥验证失败")
            return result

        params = {"account": self.account, "pkey": self._pkey}
        try:
            result = self._exchange("verify", params, context, read)
        except UpstreamError:
            self.store.save({}, None)
            raise
        self.store.save(self.http.cookies.get_dict(), self.clock())
        return result

    def _call[T](
        self, name: str, params: dict[str, str], context: Any, read: Callable[[Fields], T]
    ) -> T:
        """A session-bound call: verify first when due; after a session-expired answer,
        verify and repeat that call once."""

        def read_checked(fields: Fields) -> T:
            msg = fields.get("msg", "")
            if SESSION_EXPIRED.search(msg):
                raise SessionExpired(name, msg)
            return read(fields)

        verified_at = self.ensure_session(context)
        try:
            return self._exchange(name, params, context, read_checked)
        except SessionExpired:
            with hooks.network_wait(), self._verify_lock:
                if self.store.load()[1] == verified_at:  # not verified again meanwhile
                    self.verify(context=context)
        return self._exchange(name, params, context, read_checked)

    # -- endpoints -------------------------------------------------------------------------

    def item_details(self, item_id: str, context: Any = None) -> wire.ItemDetails:
        def read(fields: Fields) -> wire.ItemDetails:
            details = wire.read_details(str(item_id), fields)
            if details.status != 1 and not details.name and not details.price:
                raise UpstreamRefusal("details", details.msg or f"项目状态 {details.status}")
            return details

        return self._call("details", {"itemId": str(item_id)}, context, read)

    def get_numbers(
        self,
        item_id: str,
        quantity: int = 1,
        *,
        phone_no: str = "",
        area_code: str = "",
        international: bool = False,
        carrier: str | int = "",
        context: Any = None,
    ) -> list[str]:
        def read(fields: Fields) -> list[str]:
            numbers = wire.parse_phone_nos(fields.get("phoneNos", ""))
            if numbers:
                return numbers
            if fields.get("msg"):
                raise UpstreamRefusal("get_numbers", fields["msg"])
            raise wire.UnreadableResponse("answer without 'phoneNos' or 'msg'")

        params = {
            "itemId": str(item_id),
            "quantity": str(int(quantity)),
            "phoneNo": phone_no,
            "areaCode": area_code,
            "international": "Y" if international else "N",
            "type": str(carrier or ""),
        }
        return self._call("get_numbers", params, context, read)

    def get_sms(self, item_id: str, phone_no: str, context: Any = None) -> wire.SmsResult:
        def read(fields: Fields) -> wire.SmsResult:
            result = wire.read_sms(fields)
            if result.status == "":
                raise refusal("get_sms", result.msg)
            return result

        return self._call("get_sms", {"itemId": str(item_id), "phoneNo": phone_no}, context, read)

    def _ok_call(self, name: str, params: dict[str, str], context: Any) -> str:
        def read(fields: Fields) -> str:
            msg = wire.read_msg(fields)
            if not wire.is_ok(msg):
                raise refusal(name, msg)
            return msg.strip()

        return self._call(name, params, context, read)

    def send_sms(self, item_id: str, phone_no: str, text: str, context: Any = None) -> str:
        if not text.strip():
            raise ValueError("the SMS text must not be empty")
        params = {"itemId": str(item_id), "phoneNo": phone_no, "smcontent": text, "querys": "N"}
        return self._ok_call("send_sms", params, context)

    def send_status(self, item_id: str, phone_no: str, context: Any = None) -> str:
        """``OK`` once delivered; the upstream's "sending" text (``wire.is_sending``) while the
        SMS is on its way, which is an answer like ``OK``; any other text is a refusal."""
        params = {"itemId": str(item_id), "phoneNo": phone_no, "querys": "Y"}

        def read(fields: Fields) -> str:
            msg = wire.read_msg(fields)
            if not (wire.is_ok(msg) or wire.is_sending(msg)):
                raise UpstreamRefusal("send_status", msg)
            return msg.strip()

        return self._call("send_status", params, context, read)

    def release(self, phone_nos: Iterable[str], item_id: str = "", context: Any = None) -> str:
        params = {"phoneNo": ",".join(phone_nos), "itemId": str(item_id or "")}
        return self._ok_call("release", params, context)

    def release_all(self, context: Any = None) -> str:
        return self._ok_call("release_all", {}, context)

    def block(self, item_id: str, phone_no: str, context: Any = None) -> str:
        return self._ok_call("block", {"itemId": str(item_id), "phoneNo": phone_no}, context)


def _is_connect_failure(exc: requests.ConnectionError) -> bool:
    """True when the connection was never made, so the request was never sent: urllib3's
    connect errors (name resolution included) or a refused connection, anywhere in the
    chain of causes."""
    seen = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, (NewConnectionError, ConnectTimeoutError, ConnectionRefusedError)):
            return True
        nxt = getattr(cur, "reason", None)
        cur = nxt if isinstance(nxt, BaseException) else (cur.__cause__ or cur.__context__)
    return False
