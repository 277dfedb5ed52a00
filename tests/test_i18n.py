"""Chinese and English: every string translated, the switcher, the upstream msg as is."""

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse

PO = Path(__file__).resolve().parents[1] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_every_string_has_a_chinese_translation():
    text = PO.read_text(encoding="utf-8")
    entries = text.split("\n\n")[1:]
    empty = [
        e
        for e in entries
        if re.search(r'msgstr(\[0\])? ""\n?$', e.strip() + "\n") and "#, fuzzy" not in e
    ]
    assert empty == []
    assert "#, fuzzy" not in text.split("\n\n", 1)[1]


def catalogue(mo: Path) -> dict:
    with mo.open("rb") as f:
        return dict(gettext.GNUTranslations(f)._catalog)  # type: ignore[attr-defined]


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="needs gettext's msgfmt")
def test_the_compiled_catalogue_is_the_po_file_compiled(tmp_path):
    """The committed .mo says what the .po says: compiled afresh here and compared entry by
    entry (a file's modification time says nothing in a fresh clone)."""
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(fresh), str(PO)], check=True)
    assert catalogue(PO.with_suffix(".mo")) == catalogue(fresh)


def test_the_switcher_turns_the_pages_chinese_and_back(client, personas, items):
    client.force_login(personas["member"])
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    page = client.get(reverse("leases-new")).content.decode()
    assert "获取号码" in page and "运营商" in page and 'lang="zh-hans"' in page
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert "Lease a number" in client.get(reverse("leases-new")).content.decode()


def test_the_upstream_msg_stays_chinese_in_english(client, personas, items):
    client.force_login(personas["member"])
    r = client.post(
        reverse("leases-new"), {"item": items["1007"].pk, "quantity": 1, "key": "e" * 32}
    )
    assert "项目已过期" in r.content.decode()


def test_the_sign_in_page_switches_language_before_signing_in(client):
    r = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/login/"})
    assert r.status_code == 302 and r["Location"] == "/login/"
    page = client.get("/login/").content.decode()
    assert 'lang="zh-hans"' in page and "登录" in page
    # Nowhere else to go through it: an outside "next" lands on the site's root.
    r = client.post(reverse("set_language"), {"language": "en", "next": "https://evil.example/"})
    assert r.status_code == 302 and r["Location"] == "/"
