"""Chinese and English: every string translated, the switcher, the upstream msg as is."""

import ast
import gettext
from pathlib import Path

from django.urls import reverse

PO = Path(__file__).resolve().parents[1] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def po_entries(text: str) -> list[tuple[list[str], dict[str, str]]]:
    """The entries of a .po file as ``msgfmt`` reads them (a blank line between entries is
    usual, not needed): each one's flag lines and its fields, strings joined and unescaped."""
    entries: list[tuple[list[str], dict[str, str]]] = []
    flags: list[str] = []
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        starts = line.startswith("#") or line.startswith(("msgctxt ", "msgid "))
        if starts and any(k.startswith("msgstr") for k in fields):
            entries.append((flags, fields))
            flags, fields = [], {}
        if line.startswith("#,"):
            flags.append(line)
        elif line.startswith('"'):
            fields[key] += ast.literal_eval(line)
        elif line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            fields[key] = ast.literal_eval(value)
    if fields:
        entries.append((flags, fields))
    return entries


def po_catalog(text: str) -> dict:
    """The messages ``msgfmt`` compiles from a .po file, keyed as ``gettext`` reads them from
    the .mo: translated, not fuzzy, the header left out; ``ctxt\x04id`` for a context and
    ``(id, n)`` for plural forms."""
    catalog: dict = {}
    for flags, fields in po_entries(text):
        msgid = fields.get("msgid", "")
        if not msgid or any("fuzzy" in line for line in flags):
            continue
        if "msgctxt" in fields:
            msgid = fields["msgctxt"] + "\x04" + msgid
        if "msgid_plural" in fields:
            forms = {k: v for k, v in fields.items() if k.startswith("msgstr[")}
            if all(forms.values()):
                catalog.update({(msgid, int(k[7:-1])): v for k, v in forms.items()})
        elif fields.get("msgstr"):
            catalog[msgid] = fields["msgstr"]
    return catalog


def test_every_string_has_a_chinese_translation():
    entries = [(f, e) for f, e in po_entries(PO.read_text(encoding="utf-8")) if e.get("msgid")]
    assert len(entries) > 500
    untranslated = [
        e["msgid"]
        for _f, e in entries
        if not all(v for k, v in e.items() if k.startswith("msgstr"))
    ]
    fuzzy = [e["msgid"] for f, e in entries if any("fuzzy" in line for line in f)]
    assert untranslated == [] and fuzzy == []


def test_the_compiled_catalogue_is_the_po_files():
    """The committed .mo holds exactly the .po's translations (``compilemessages`` was run
    after the last change)."""
    with PO.with_suffix(".mo").open("rb") as mo:
        catalog = gettext.GNUTranslations(mo)._catalog
    compiled = {k: v for k, v in catalog.items() if k != ""}
    expected = po_catalog(PO.read_text(encoding="utf-8"))
    assert len(expected) > 500
    missing = {k: v for k, v in expected.items() if compiled.get(k) != v}
    extra = sorted(str(k) for k in compiled.keys() - expected.keys())
    assert missing == {} and extra == []


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


def test_the_background_tasks_are_named_in_the_readers_language():
    from django.utils import translation

    from accounts.templatetags.labels import actor_label

    with translation.override("zh-hans"):
        assert actor_label("task:poller") == "自动（轮询）"
        assert actor_label("task:auto-release") == "自动（释放任务）"
        assert actor_label("task:something-new") == "自动（something-new）"
        assert actor_label("alice") == "alice"
    with translation.override("en"):
        assert actor_label("task:poller") == "automatically (poller)"
        assert actor_label("task:quota") == "automatically (quota refresh)"
