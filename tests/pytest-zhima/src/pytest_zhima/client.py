"""A small client of the console's API (``/api/v1/``), plain ``requests``: no Django."""

from __future__ import annotations

import time
from typing import Any

import requests

MAX_WAIT = 120  # the API holds a long-poll at most this long


class ZhimaApiError(Exception):
    """The API answered with an error: ``status``, ``code`` and ``message`` from its body."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class CodeTimeout(AssertionError):
    """No (new) SMS arrived in time. An AssertionError: the test fails, it does not error."""


class LeaseEnded(AssertionError):
    """The lease ended (released, expired…) before a (new) SMS arrived."""


class ZhimaApi:
    def __init__(self, url: str, token: str, *, timeout: float = 30.0):
        url = url.rstrip("/")
        self.base = url if url.endswith("/api/v1") else url + "/api/v1"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers["User-Agent"] = "pytest-zhima/0.1"

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path: str, *, retries: int = 3, **kw) -> requests.Response:
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

    def json(self, method: str, path: str, ok=(200, 201), **kw) -> Any:
        r = self.request(method, path, **kw)
        if r.status_code not in ok:
            raise _error(r)
        return r.json() if r.content else None

    def lease(self, item: str, *, key: str, tag: str = "", **params) -> Number:
        body = {"item": str(item), "tag": tag, **{k: v for k, v in params.items() if v}}
        data = self.json("POST", "/leases", json=body, headers={"Idempotency-Key": key})
        return Number(self, data["leases"][0])


class Number:
    """One leased number: its phone, its codes as they arrive, its release."""

    def __init__(self, api: ZhimaApi, lease: dict):
        self.api = api
        self.lease = lease
        self.id: int = lease["id"]
        self.phone: str = lease["phone"]
        self.item: str = lease.get("item", "")
        self.tag: str = lease.get("tag", "")
        self.last_message: dict | None = None
        self.released = False

    def __repr__(self) -> str:
        return f"<Number {self.phone} lease {self.id}>"

    def wait_code(self, timeout: float = 60) -> str:
        """The code of the first SMS this number received (waiting for it if need be)."""
        return self._wait(0, timeout)

    def wait_next_code(self, timeout: float = 60) -> str:
        """The code of an SMS newer than the last one read here: never a stale code."""
        after = self.last_message["message_id"] if self.last_message else 0
        return self._wait(after, timeout)

    def _wait(self, after: int, timeout: float) -> str:
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
                raise LeaseEnded(f"lease {self.id} ({self.phone}) ended: {_error(r).message}")
            if r.status_code != 204:
                raise _error(r)
            if time.monotonic() >= deadline:
                raise CodeTimeout(
                    f"no {'new ' if after else ''}SMS for {self.phone} (lease {self.id}) "
                    f"within {timeout:g} s"
                )

    def release(self) -> None:
        """Release the number; one already ended (released, expired) is fine."""
        if self.released:
            return
        r = self.api.request("POST", f"/leases/{self.id}/release")
        if r.status_code not in (200, 409):
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
