"""The webhooks page: one registration per URL, a failing delivery shown as failing, a private
address named once, a test event, removal asked first, and links to it from the account."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from leases.webhooks.delivery import deliver
from leases.webhooks.models import Webhook, WebhookDelivery

from .conftest import SECRET


def page(account):
    return reverse("leases-webhooks", args=[account.pk])


def add(c, account, url, **kw):
    return c.post(page(account), {"url": url, "events": ["lease.ended"], "secret": SECRET, **kw})


def test_the_same_url_is_registered_once(as_, account):
    c = as_("owner")
    assert add(c, account, "https://ci.example.com/zhima").status_code == 201
    r = add(c, account, "https://ci.example.com/zhima")
    assert r.status_code == 400
    assert "is already registered for this account" in r.content.decode()
    assert Webhook.objects.count() == 1


def test_a_private_address_is_named_once(as_, account):
    r = add(as_("owner"), account, "http://10.1.2.3/hook")
    html = r.content.decode()
    assert r.status_code == 400 and "10.1.2.3 is a loopback, private or reserved address." in html
    assert html.count("10.1.2.3") == 2  # the message and the URL field's value, no more


def test_a_failing_delivery_shows_as_retrying_with_its_status(as_, account, hook, receiver):
    receiver.statuses = [500]
    WebhookDelivery.objects.create(
        webhook=hook,
        event_id="evt_1",
        event="lease.ended",
        subject="lease:1",
        body="{}",
        next_attempt_at=timezone.now(),
    )
    d = WebhookDelivery.objects.get()
    assert deliver(d.pk) == "pending"  # to be retried
    html = as_("owner").get(page(account)).content.decode()
    row = html.split("<code>evt_1</code>")[1].split("</tr>")[0]
    assert '<span class="state s-failed">retrying</span>' in row and "HTTP 500" in row
    assert ">pending<" not in row


def test_a_manager_sends_a_test_event(as_, account, hook, receiver, sync_tasks):
    r = as_("owner").post(reverse("leases-webhook-test", args=[hook.pk]), follow=True)
    assert "A test event is on its way" in r.content.decode()
    (event,) = receiver.events("webhook.test")
    assert event["data"] == {"account": account.name, "webhook": hook.pk, "test": True}
    assert receiver.requests[0]["verified"]
    assert WebhookDelivery.objects.get().state == "delivered"
    assert as_("member").post(reverse("leases-webhook-test", args=[hook.pk])).status_code == 403


def test_removing_a_webhook_asks_first(as_, account, hook):
    c = as_("owner")
    listing = c.get(page(account)).content.decode()
    url = reverse("leases-webhook-remove", args=[hook.pk])
    assert f'href="{url}"' in listing and f'action="{url}"' not in listing
    ask = c.get(url)
    assert ask.status_code == 200 and 'role="alertdialog"' in ask.content.decode()
    assert Webhook.objects.filter(pk=hook.pk).exists()
    c.post(url)
    assert not Webhook.objects.filter(pk=hook.pk).exists()


def test_the_page_is_linked_from_the_account(as_, personas, account):
    c = as_("owner")
    link = f'href="{page(account)}"'
    assert link in c.get("/").content.decode()  # the overview's account card
    assert link in c.get(reverse("accounts-members", args=[account.pk])).content.decode()
    personas["member"].memberships.update(role=Role.OPERATOR)
    assert link not in as_("member").get("/").content.decode()
