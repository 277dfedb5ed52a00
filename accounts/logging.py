"""Logging: request and lease ids on every line, JSON lines on demand, and no pkey ever.

``RequestIdMiddleware`` gives each request an id (a sane incoming ``X-Request-ID`` or a new
one), echoes it in the response and keeps it in a context variable, with the client's address
(``zhima_site.clientip``, the value the lockout and the metrics allow-list use too); the poller
sets the lease id the same way. ``ContextFilter`` copies them onto every record,
``RedactSecretsFilter`` hides pkeys, and ``JsonFormatter`` writes one JSON object per line
when ``LOG_FORMAT=json``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from accounts.upstream.redact import redact
from zhima_site.clientip import client_ip as resolve_client_ip

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
lease_id: contextvars.ContextVar[str] = contextvars.ContextVar("lease_id", default="-")
client_ip: contextvars.ContextVar[str] = contextvars.ContextVar("client_ip", default="-")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    # Async-capable, so that an ASGI server's long-polls do not run on a thread (see
    # ``zhima_site.middleware``).
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def _start(self, request) -> str:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        # Not reset on the way out: Django logs the response ("Not Found: …") after the
        # middleware returns; the next request on this thread sets its own id.
        request_id.set(rid)
        client_ip.set(resolve_client_ip(request) or "-")
        return rid

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        rid = self._start(request)
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response

    async def __acall__(self, request):
        rid = self._start(request)
        response = await self.get_response(request)
        response["X-Request-ID"] = rid
        return response


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        if not hasattr(record, "lease_id"):
            record.lease_id = lease_id.get()
        if not hasattr(record, "client_ip"):
            record.client_ip = client_ip.get()
        return True


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, redacted, so that no handler prints the raw one.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "lease_id": getattr(record, "lease_id", "-"),
            "client_ip": getattr(record, "client_ip", "-"),
        }
        if record.exc_text:
            data["exception"] = record.exc_text
        elif record.exc_info:
            data["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False, default=str)
