"""A stored key goes only where it was entered for: a recording fake host must never
see the stored pkey, whatever the admin changes; actions that call the upstream need the
change permission."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accounts.models import ApiCall, DeveloperAccount

CHANGE = "/admin/accounts/developeraccount/{}/change/"


class Recorder(BaseHTTPRequestHandler):
    seen: list

    def _record(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        self.seen.append(f"{self.command} {self.path}\n{self.headers}\n{body}")
        payload = b'{"code": 0, "msg": "ok", "data": {"valid": "Y", "leftQuantity": 7}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _record

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_host():
    seen = []
    handler = type("H", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/zsmcode/"
    server.seen = seen
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "", "pw-root-123")
    client.force_login(admin)
    return client


def _form(account, **changes):
    data = {
        "name": account.name,
        "upstream_account": account.upstream_account,
        "base_url": account.base_url,
        "active": "on",
        "low_quota_threshold": str(account.low_quota_threshold),
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def _verify_now(client, account):
    return client.post(
        "/admin/accounts/developeraccount/",
        {"action": "verify_now", "_selected_action": [account.pk]},
        follow=True,
    )


def test_a_new_base_url_without_the_pkey_is_refused_and_the_key_never_leaves(
    admin_client, account, fake_host
):
    page = admin_client.post(CHANGE.format(account.pk), _form(account, base_url=fake_host.url))
    assert page.status_code == 200 and "needs the pkey again" in page.content.decode()
    account.refresh_from_db()
    assert account.base_url != fake_host.url
    _verify_now(admin_client, account)
    assert not any("demo-pkey" in s for s in fake_host.seen)
    assert fake_host.seen == []


def test_a_new_base_url_with_a_new_pkey_sends_only_the_new_one(admin_client, account, fake_host):
    page = admin_client.post(
        CHANGE.format(account.pk), _form(account, base_url=fake_host.url, pkey="fresh-pkey")
    )
    assert page.status_code == 302
    account.refresh_from_db()
    assert account.base_url == fake_host.url and account.get_pkey() == "fresh-pkey"
    _verify_now(admin_client, account)
    assert fake_host.seen, "the verify call reached the new host"
    assert any("fresh-pkey" in s for s in fake_host.seen)
    assert not any("demo-pkey" in s for s in fake_host.seen)


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/zsmcode/", "file:///etc/passwd", "javascript:alert(1)", "gopher://x/"]
)
def test_base_urls_must_be_http(admin_client, account, url):
    page = admin_client.post(CHANGE.format(account.pk), _form(account, base_url=url, pkey="k"))
    assert page.status_code == 200
    account.refresh_from_db()
    assert account.base_url != url


def test_base_urls_may_be_restricted_to_allowed_hosts(admin_client, account, fake_host, settings):
    settings.ZHIMA_UPSTREAM_HOSTS = ["120.78.198.87"]
    page = admin_client.post(
        CHANGE.format(account.pk), _form(account, base_url=fake_host.url, pkey="k")
    )
    assert page.status_code == 200 and "allowed upstream hosts" in page.content.decode()
    page = admin_client.post(
        CHANGE.format(account.pk),
        _form(account, base_url="http://120.78.198.87/zsmcode/", pkey="k"),
    )
    assert page.status_code == 302


def test_verify_now_needs_the_change_permission(client, account, sim, make_user):
    from django.contrib.auth.models import Permission

    staff = make_user("auditor", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_developeraccount"))
    client.force_login(staff)
    assert client.get("/admin/accounts/developeraccount/").status_code == 200
    before = sim.stats()["requests"].get("verify", 0)
    _verify_now(client, account)
    assert ApiCall.objects.count() == 0
    assert sim.stats()["requests"].get("verify", 0) == before
    assert DeveloperAccount.objects.get(pk=account.pk).quota is None
