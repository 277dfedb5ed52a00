"""The API's errors: every failure is ``{"error": {"code", "message"}}`` with a fitting status;
the upstream's ``msg`` is the message, verbatim, where there is one."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from ninja.errors import AuthenticationError, ValidationError

from ..errors import AmbiguousLease, ServiceError


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers=None) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


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
