"""The API's errors: every failure is ``{"error": {"code", "message"}}`` with a fitting status;
the upstream's ``msg`` is the message, verbatim, where there is one."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from ..errors import AmbiguousLease, ServiceError

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers=None) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class UnsupportedMediaType(Exception):
    """A body sent as something other than JSON."""


class JsonParser(Parser):
    """Bodies are JSON: ``Content-Type: application/json`` (or a ``+json`` type), else 415."""

    def parse_body(self, request):
        media = (request.content_type or "").lower()
        if media != "application/json" and not media.endswith("+json"):
            raise UnsupportedMediaType(media)
        return super().parse_body(request)


def no_content() -> HttpResponse:
    """A 204: no body and no Content-Type."""
    response = HttpResponse(status=204)
    del response["Content-Type"]
    return response


def not_allowed(allowed) -> JsonResponse:
    """A 405 for a method the path does not have, with ``Allow``."""
    return error_response(
        405,
        "method_not_allowed",
        _("This method is not allowed here; allowed: %(m)s.") % {"m": allowed},
        {"Allow": allowed},
    )


def not_found() -> JsonResponse:
    return error_response(404, "not_found", _("Not found."))


def ambiguous_message() -> str:
    return _(
        "The upstream did not answer clearly: a number may have been leased and charged. "
        "The request is not repeated; the console reconciles the account (releases what "
        "it may hold) by itself. Do not retry with a new Idempotency-Key."
    )


def install(api) -> None:
    @api.exception_handler(ApiError)
    def _api_error(request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @api.exception_handler(AuthenticationError)
    def _unauthorized(request, exc):
        return error_response(
            401,
            "unauthorized",
            _("A valid API token is required: Authorization: Bearer <token>."),
            {"WWW-Authenticate": "Bearer"},
        )

    @api.exception_handler(ValidationError)
    def _invalid(request, exc: ValidationError):
        key = ("header", "Idempotency-Key")
        if any(tuple(err.get("loc", ()))[:2] == key for err in exc.errors):
            return error_response(
                400,
                "idempotency_key_required",
                _(
                    "An Idempotency-Key header (1 to 200 visible ASCII characters, no spaces) "
                    "is required."
                ),
            )
        parts = []
        for err in exc.errors:
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "payload"))
            parts.append(f"{where}: {err.get('msg', '')}" if where else str(err.get("msg", "")))
        return error_response(400, "invalid_request", "; ".join(parts) or _("Invalid request."))

    @api.exception_handler(Http404)
    def _not_found(request, exc):
        return error_response(404, "not_found", str(exc) or _("Not found."))

    @api.exception_handler(PermissionDenied)
    def _forbidden(request, exc):
        return error_response(403, "forbidden", str(exc) or _("Not allowed."))

    @api.exception_handler(AmbiguousLease)
    def _ambiguous(request, exc):
        return error_response(502, "ambiguous", ambiguous_message())

    @api.exception_handler(ServiceError)
    def _refused(request, exc):
        return error_response(409, "refused", str(exc))

    @api.exception_handler(HttpError)
    def _http_error(request, exc: HttpError):
        """django-ninja's own errors: a body that is not JSON, or cannot be parsed."""
        if isinstance(exc.__cause__, UnsupportedMediaType):
            return error_response(
                415,
                "unsupported_media_type",
                _("The body must be JSON, sent as Content-Type: application/json."),
            )
        if exc.status_code == 400:
            return error_response(400, "invalid_request", _("The body is not valid JSON."))
        return error_response(exc.status_code, "invalid_request", str(exc))

    @api.exception_handler(Exception)
    def _server_error(request, exc: Exception):
        log.exception("the API failed on %s %s", request.method, request.path)
        return error_response(
            500, "server_error", _("The console failed on this request; it is logged.")
        )
