"""The errors the lease services raise; ``str()`` of each is shown to the user as is."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.upstream.client import UpstreamError, UpstreamRefusal


class ServiceError(Exception):
    """An action that cannot be done; ``str()`` is shown to the user as is."""


class AmbiguousLease(ServiceError):
    pass


def upstream_error(exc: UpstreamError) -> ServiceError:
    if isinstance(exc, UpstreamRefusal):
        return ServiceError(exc.msg)
    return ServiceError(_("The upstream could not be reached: %(reason)s") % {"reason": exc})


_AMBIGUOUS = gettext_noop(
    "The upstream did not answer clearly, so numbers may have been leased and charged. "
    "The request was not repeated. The console frees them by itself (release all) as soon "
    "as this account holds no numbers; a manager can release all now."
)
