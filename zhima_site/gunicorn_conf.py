"""gunicorn's settings for the console, for a team (README "Running for a team"):

    gunicorn -c python:zhima_site.gunicorn_conf zhima_site.asgi:application -b … -w 4

The worker timeout follows the upstream timeouts instead of being kept in step by hand. A lease
is made in the request, so a worker must outlive a lease request's longest chain of upstream
calls (``leases.timing.lease_chain``: 82 s with the defaults), or gunicorn kills it mid-call and
a charged number is left that no one can name. And a worker gone past its timeout must be
older than the age at which the console takes a pending lease request for an orphan and
reconciles it (``reconcile_hold``: the chain + 15 s). The timeout sits halfway in that margin
(90 s with the defaults); the graceful timeout, which bounds a restart, is the same.

The worker is uvicorn's with its proxy-header handling off. Left on, it takes the client's
address from ``X-Forwarded-For`` for any loopback peer (gunicorn's ``forwarded_allow_ips``)
before the console sees the request; the console reads that header itself, in
``zhima_site.clientip``, as ``TRUSTED_PROXIES`` says, and nowhere else.
"""

from __future__ import annotations

import math
import os
import warnings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhima_site.settings")

import django

django.setup()  # no database is opened here; the workers connect after the fork

from leases.timing import RECONCILE_MARGIN, lease_chain  # noqa: E402

with warnings.catch_warnings():  # the module says it moves to a package of its own one day
    warnings.simplefilter("ignore", DeprecationWarning)
    from uvicorn.workers import UvicornWorker


class Worker(UvicornWorker):
    """ASGI (the API's long-polls), and the peer's address as it is: no proxy headers."""

    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "proxy_headers": False}


worker_class = "zhima_site.gunicorn_conf.Worker"
timeout = math.ceil((lease_chain() + RECONCILE_MARGIN / 2).total_seconds())
graceful_timeout = timeout
