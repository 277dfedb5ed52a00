"""Every page in Chinese: a crawl of the URL configuration in ``zh-hans`` that fails on any
English word from the UI's own vocabulary (the msgids of the catalogue) left on a page.

Data that comes from outside (usernames, account names, the upstream's item names, phone
numbers) is allowed to be English; the UI's words are not. A new page is crawled because
its URL is in the URL configuration; a new English word fails because it is in a msgid.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.urls import reverse

from accounts import tokens
from accounts.audit import CallContext
from accounts.registry import client_for
from leases import services
from leases.models import Lease, LeaseState
from leases.webhooks import delivery as webhooks

from .hardening.test_crawl import objects, url_names

PO = Path(__file__).resolve().parents[1] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"

# Words that are the same in both languages here: names of things, formats, units.
SAME_IN_BOTH = {
    "sms", "pkey", "csv", "api", "json", "url", "ids", "htmx", "zhima", "sandbox", "ttl",
    "utc", "ok", "http", "https", "ip", "id", "ascii", "utf", "iso", "sha", "hmac", "token",
    "django", "admin", "redis", "postgresql", "sqlite", "prometheus", "cny",
    "english",  # the language switcher names each language in itself
    "webhook", "post", "openapi",  # protocol names Chinese documentation keeps as they are
}  # fmt: skip
# Data of the test world that happens to be English.
DATA = {"owner", "member", "viewer", "outsider", "other", "demo", "example", "com", "test"}
DATA |= {"nightly"}  # the token form's example name, nightly-ci
# Identifiers are not words: header names (X-Zhima-Event-Id), event names (lease.ended),
# endpoint and field names (get_numbers).
IDENTIFIER = re.compile(r"X-[\w-]+|[\w-]+(?:\.[\w-]+)+|\w+_\w+")
# Half-width punctuation right after a Chinese character (full-width belongs there).
HALF_WIDTH = re.compile(r"[\u4e00-\u9fff](?: \d+)?[,:;!?](?=\s|$)")


def vocabulary() -> set[str]:
    words: set[str] = set()
    for msgid in re.findall(r'^msgid "(.*)"$', PO.read_text(encoding="utf-8"), re.M):
        text = re.sub(r"%\(\w+\)s|%s|%d|\{[^}]*\}|<[^>]+>", " ", msgid)
        words.update(w.lower() for w in re.findall(r"[A-Za-z]{3,}", text))
    return words - SAME_IN_BOTH - DATA


class VisibleText(HTMLParser):
    """The text a user reads: element text, and titles, placeholders, labels and values of
    buttons; not scripts, styles or the content of ``<code>``/``<pre>`` (data)."""

    SKIP = {"script", "style", "code", "pre", "kbd", "samp", "bdi"}
    ATTRS = {"title", "placeholder", "aria-label", "alt"}

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        for name, value in attrs:
            if value and (name in self.ATTRS or (name == "value" and tag == "button")):
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(parser.parts)


def english_words(text: str, vocab: set[str]) -> set[str]:
    text = IDENTIFIER.sub(" ", text)
    return {w for w in re.findall(r"[A-Za-z]{3,}", text) if w.lower() in vocab}


@pytest.fixture
def world(personas, items, sim, account):
    """Leases in every state the pages show, an audit log, a received code."""
    member = personas["member"]
    services.lease_numbers(member, items["1003"], key="z" * 32)
    req = services.lease_numbers(member, items["1002"], key="y" * 32, quantity=2)
    leases = list(Lease.objects.filter(request=req))
    sim.deliver(leases[0].phone, "【测试】您的验证码是 481209，5分钟内有效。")
    services.release(member, [leases[1]])
    client_for(account).verify(context=CallContext.for_user(personas["owner"]))
    tokens.issue(personas["owner"], "ci")
    webhooks.add_webhook(account, "http://127.0.0.1:9/hook", ["lease.ended"])
    assert Lease.objects.filter(state=LeaseState.RELEASED).exists()
    return personas


def test_every_page_in_chinese_has_no_english_ui_word(client, world, account):
    vocab = vocabulary()
    assert len(vocab) > 200  # the catalogue was read
    found = objects(account)
    client.force_login(world["owner"])
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    leftovers: dict[str, set[str]] = {}
    pages = 0
    for name, params in url_names():
        if name in ("logout", "set_language") or name.endswith(("-csv", "-raw")):
            continue
        if name.startswith("api:"):  # JSON, not pages
            continue
        url = reverse(name, args=[found[name]()]) if params else reverse(name)
        r = client.get(url)
        if r.status_code != 200 or "html" not in r.get("Content-Type", ""):
            continue
        pages += 1
        text = visible_text(r.content.decode())
        words = english_words(text, vocab) | set(HALF_WIDTH.findall(text))
        if words:
            leftovers[url] = words
    assert pages >= 10
    report = "\n".join(f"{url}: {sorted(words)}" for url, words in leftovers.items())
    assert not leftovers, "English left on Chinese pages:\n" + report
