"""The pkey is written nowhere in clear: pages, logs, audit rows, task arguments and results,
exception texts."""

import io
import json
import logging
from io import StringIO

import pytest
from django.core.management import call_command
from django_q.models import Schedule, Task
from django_q.tasks import async_task

from accounts.models import ApiCall
from leases import services
from leases.errors import ServiceError
from leases.models import Lease
from leases.poller import Poller

PKEY = "demo-pkey"


@pytest.fixture
def console_log():
    """The configured console handler, writing to a buffer, with urllib3 at DEBUG (which
    logs request URLs, the verification's pkey included)."""
    root = logging.getLogger()
    handler = next(h for h in root.handlers if h.get_name() == "console")
    buf = io.StringIO()
    old_stream = handler.setStream(buf)
    old_levels = (root.level, logging.getLogger("urllib3").level)
    root.setLevel(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    yield buf
    handler.setStream(old_stream)
    root.setLevel(old_levels[0])
    logging.getLogger("urllib3").setLevel(old_levels[1])


def test_the_pkey_appears_nowhere(client, personas, items, sim, account, settings, console_log):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    settings.ZHIMA_POLL_INTERVAL = 0.2
    seen = []
    # work: lease, poll, receive, release, tasks, the command line, failures
    req = services.lease_numbers(personas["member"], items["1003"], key="s" * 32)
    lease = Lease.objects.get(request=req)
    Lease.objects.filter(pk=lease.pk).update(next_poll_at=lease.leased_at)
    sim.deliver(lease.phone, f"验证码 1234 {PKEY}?")  # even an upstream that echoes it
    Poller(run_seconds=0.8).run()
    services.release(personas["member"], [lease])
    async_task("leases.tasks.refresh_quotas", sync=True)
    async_task("leases.tasks.check_alerts", sync=True)
    out = StringIO()
    call_command("zhima", "--dev-account", "Sandbox", "--json", "verify", stdout=out)
    seen.append(out.getvalue())
    sim.config(error_rate=1.0)
    with pytest.raises(ServiceError) as info:
        services.release_all(personas["owner"], account)
    seen.append(str(info.value) + repr(info.value))
    sim.config(error_rate=0.0)
    sim.state.accounts["demo"].pkey = "changed"
    with pytest.raises(SystemExit):
        call_command("zhima", "--dev-account", "Sandbox", "verify", stdout=out, stderr=out)
    seen.append(out.getvalue())
    # pages
    client.force_login(personas["owner"])
    for url in ["/", f"/leases/{lease.pk}/", "/history/", "/audit/", "/operations/", "/items/"]:
        seen.append(client.get(url).content.decode())
    for url in ["/history.csv", "/audit.csv"]:
        seen.append(b"".join(client.get(url).streaming_content).decode())
    for call in ApiCall.objects.all():
        seen.append(client.get(f"/audit/{call.pk}/raw/").content.decode())
    # the database: audit rows, tasks and schedules
    seen += [json.dumps(list(ApiCall.objects.values()), default=str, ensure_ascii=False)]
    seen += [repr(list(Task.objects.values("func", "args", "kwargs", "result")))]
    seen += [repr(list(Schedule.objects.values()))]
    seen.append(console_log.getvalue())
    text = "\n".join(seen)
    assert ApiCall.objects.filter(endpoint="verify").count() >= 3
    assert Task.objects.count() >= 2
    assert "verification.php" in console_log.getvalue()  # urllib3 did log the request
    assert PKEY not in text
