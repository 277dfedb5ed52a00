"""A small client of the console's API (``/api/v1/``), plain ``requests``: no Django."""

from __future__ import annotations

import time
from typing import Any

import requests

MAX_WAIT = 120  # the API holds a long-poll at most this long

# The API's ``end_reason`` codes, as a sentence for a failing test's message.
END_REASONS = {
    "user": "released by a member",
    "admin": "released by an administrator",
    "release_all": "released by a release-all",
    "blacklisted": "the number was blacklisted",
    "code": "released when its code arrived (the item receives a single SMS)",
    "deadline": "released before the upstream's forced release (30 minutes after leasing)",
    "wait_limit": "no SMS arrived within the item's wait limit",
    "held": "held for the item's wait limit after the last SMS",
    "lost": "the upstream lost the SMS (status 3)",
    "timeout": "the upstream timed out waiting for the SMS (status 4)",
    "status": "the upstream reported an unexpected SMS status",
    "gone": "the upstream released the number on its own",
    "recovered": "released after an interrupted blacklisting",
}


def end_reason_text(reason: str) -> str:
    return END_REASONS.get(reason, reason or "no reason recorded")


class ZhimaApiError(Exception):
    """The API answered with an error: ``status``, ``code`` and ``message`` from its body."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class CodeTimeout(AssertionError):
    """No (new) SMS arrived in time. An AssertionError: the test fails, it does not error."""


class LeaseEnded(AssertionError):
    """The lease ended (released, expired…) before a (new) SMS arrived: ``state`` and
    ``end_reason`` are the API's, the message says why in words."""

    def __init__(self, message: str, state: str = "", end_reason: str = ""):
        super().__init__(message)
        self.state, self.end_reason = state, end_reason


def api_base(url: str) -> str:
    """``ZHIMA_API_URL`` is the console's base URL; its API is under ``/api/v1``."""
    url = url.rstrip("/")
    return url if url.endswith("/api/v1") else url + "/api/v1"


class ZhimaApi:
    def __init__(self, url: str, token: str, *, timeout: float = 30.0):
        self.base = api_base(url)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers["User-Agent"] = "pytest-zhima/0.2"

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path: str, *, retries: int = 3, **kw: Any) -> requests.Response:
        """One API call. Repeated (with the same headers, so the same Idempotency-Key) only
        when no answer came, on a 409 with Retry-After (the same key still in progress) and on
        429 (after its Retry-After): the server never leases twice for one key."""
        kw.setdefault("timeout", self.timeout)
        for attempt in range(retries + 1):
            try:
                r = self.session.request(method, self.base + path, **kw)
            except (requests.ConnectionError, requests.Timeout):
                if attempt == retries:
                    raise
                time.sleep(0.5 * 2**attempt)
                continue
            busy = r.status_code == 429 or (r.status_code == 409 and "Retry-After" in r.headers)
            if busy and attempt < retries:
                time.sleep(_retry_after(r, 0.5 * 2**attempt))
                continue
            return r
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, ok: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        if r.status_code not in ok:
            raise _error(r)
        return r.json() if r.content else None

    def items(self) -> list[dict]:
        return self.json("GET", "/items")

    def lease_many(self, item: str, *, key: str, quantity: int = 1, tag: str = "", **params: Any):
        """``quantity`` numbers in one request (items that lease several at once)."""
        body = {"item": str(item), "tag": tag, **{k: v for k, v in params.items() if v}}
        if quantity != 1:
            body["quantity"] = quantity
        data = self.json("POST", "/leases", json=body, headers={"Idempotency-Key": key})
        return [Number(self, lease) for lease in data["leases"]]

    def lease(self, item: str, *, key: str, tag: str = "", **params: Any) -> Number:
        return self.lease_many(item, key=key, tag=tag, **params)[0]


class Number:
    """One leased number: its phone, its codes as they arrive, its release. ``numbers`` is
    every number the test leased (this one first)."""

    def __init__(self, api: ZhimaApi, lease: dict):
        self.api = api
        self.lease = lease
        self.id: int = lease["id"]
        self.phone: str = lease["phone"]
        self.item: str = lease.get("item", "")
        self.tag: str = lease.get("tag", "")
        self.last_message: dict | None = None
        self.released = False
        self.numbers: list[Number] = [self]

    def __repr__(self) -> str:
        return f"<Number {self.phone} lease {self.id}>"

    def wait_code(self, timeout: float = 60) -> str:
        """The code of the first SMS this number received (waiting for it if need be)."""
        return self._wait(0, timeout)

    def wait_next_code(self, timeout: float = 60) -> str:
        """The code of an SMS newer than the last one read here: never a stale code. After a
        code was read, the console is asked to keep waiting for another SMS on the number
        (items that receive several: types 3 to 6), then the wait starts after that code."""
        if self.last_message is None:
            return self._wait(0, timeout)
        refused = self.keep_waiting()
        return self._wait(self.last_message["message_id"], timeout, refused)

    def keep_waiting(self) -> str:
        """Ask the console to poll for another SMS; returns its refusal message, if any (the
        number is already waiting, or its item receives a single SMS)."""
        r = self.api.request("POST", f"/leases/{self.id}/keep-waiting")
        if r.status_code == 200:
            self.lease = r.json()
            return ""
        if r.status_code == 409:
            return _error(r).message
        raise _error(r)

    def _wait(self, after: int, timeout: float, refused: str = "") -> str:
        deadline = time.monotonic() + timeout
        while True:
            wait = max(0, min(MAX_WAIT, deadline - time.monotonic()))
            r = self.api.request(
                "GET",
                f"/leases/{self.id}/code",
                params={"wait": f"{wait:.1f}", "after": after},
                timeout=wait + 15,
            )
            if r.status_code == 200:
                self.last_message = r.json()
                return self.last_message["code"]
            if r.status_code == 410:
                raise self._ended(refused)
            if r.status_code != 204:
                raise _error(r)
            if time.monotonic() >= deadline:
                raise CodeTimeout(
                    f"no {'new ' if after else ''}SMS for {self.phone} (lease {self.id}) "
                    f"within {timeout:g} s"
                )

    def _ended(self, refused: str) -> LeaseEnded:
        lease = self.api.json("GET", f"/leases/{self.id}")
        self.lease = {k: v for k, v in lease.items() if k != "messages"}
        state, reason = lease.get("state", ""), lease.get("end_reason", "")
        why = end_reason_text(reason)
        if refused:
            why += f"; keep-waiting was refused: {refused}"
        return LeaseEnded(
            f"lease {self.id} ({self.phone}) ended with no new SMS: {why}",
            state,
            reason,
        )

    def release(self) -> None:
        """Release the number; one already ended (released, expired) is fine."""
        if self.released:
            return
        r = self.api.request("POST", f"/leases/{self.id}/release")
        # 409: no longer held; 502 release_pending: the console retries the release itself.
        if r.status_code not in (200, 409) and _error(r).code != "release_pending":
            raise _error(r)
        self.released = True


def _retry_after(r: requests.Response, default: float) -> float:
    try:
        return min(float(r.headers.get("Retry-After", default)), 30.0)
    except ValueError:
        return default


def _error(r: requests.Response) -> ZhimaApiError:
    try:
        err = r.json()["error"]
        return ZhimaApiError(r.status_code, err.get("code", ""), err.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return ZhimaApiError(r.status_code, "http_error", r.text[:200])
