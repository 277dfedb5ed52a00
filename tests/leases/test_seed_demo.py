"""``seed_demo`` (the page benchmarks' history) keeps up with the models: it fills every
required column, and the seeded history is what the pages show."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import ApiCall
from leases.models import Lease, Message


def test_seeded_history_is_complete_and_shown(client, django_user_model):
    call_command("seed_demo", leases=300, audit=500, stdout=io.StringIO())
    demo = Lease.objects.filter(phone__startswith="199")
    assert demo.count() == 300 and ApiCall.objects.count() >= 500
    coded = demo.exclude(code="")
    assert coded.exists() and Message.objects.filter(lease__in=coded).count() == coded.count()
    one = coded.first()
    client.force_login(django_user_model.objects.get(username="demo0"))  # a seeded manager
    for name, query in (
        ("leases-history", f"?q={one.phone}"),
        ("accounts-audit", ""),
        ("leases-overview", ""),
    ):
        r = client.get(reverse(name) + query)
        assert r.status_code == 200, name
    assert one.code in client.get(reverse("leases-history") + f"?q={one.phone}").content.decode()
    Lease.objects.create(
        account=one.account, item=one.item, phone="13800138000", release_deadline=one.leased_at
    )  # the ORM's next id follows the seeded ones (PostgreSQL's sequence was moved on)
    with pytest.raises(CommandError, match="already seeded"):
        call_command("seed_demo", leases=1, audit=1)
