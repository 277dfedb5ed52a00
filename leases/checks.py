"""System checks of the poller's host (see ``leases.poller``): run by ``manage.py check``,
``migrate``, ``runserver`` and ``qcluster``, so a cluster that could not host its pollers
refuses to start."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from .poller import task_seconds


@checks.register()
def poller_host(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    q = settings.Q_CLUSTER
    slots = settings.ZHIMA_POLLER_SLOTS
    workers = q.get("workers") or 0
    timeout, retry = q.get("timeout"), q.get("retry")
    errors: list[checks.CheckMessage] = []
    if workers <= slots:
        errors.append(
            checks.Error(
                f"Q_CLUSTER workers ({workers}) must exceed ZHIMA_POLLER_SLOTS ({slots})",
                hint="Each poller loop holds a worker for its whole run; raise Q_WORKERS.",
                id="leases.E001",
            )
        )
    if timeout is None or timeout < task_seconds():
        errors.append(
            checks.Error(
                f"Q_CLUSTER timeout ({timeout}) is shorter than a poller task "
                f"({task_seconds():.0f} s)",
                hint="django-q2 kills a task past its timeout; derive it as settings.py does.",
                id="leases.E002",
            )
        )
    if timeout is not None and (retry is None or retry <= timeout):
        errors.append(
            checks.Error(
                f"Q_CLUSTER retry ({retry}) must exceed timeout ({timeout})",
                hint="Otherwise the broker hands a running poller task to a second worker.",
                id="leases.E003",
            )
        )
    return errors
