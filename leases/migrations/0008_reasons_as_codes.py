"""Explicit lease state and typed items, step 2: the stored texts become codes.

``end_reason`` held "state|kind|reason" while a release was queued, "blocking" while a
blacklisting was in flight, and otherwise a sentence written in the writer's language
(English or Chinese). Each distinct text is parsed once and its rows updated together; a text
no pattern knows is kept verbatim under the ``other`` code. Timeline details that were a reason
get the same treatment; delivery statuses and item types/statuses become codes and numbers.
"""

import re
from collections import defaultdict

from django.db import migrations

# (code, English msgid, Chinese msgstr) as the .po had them when this migration was written.
# More specific patterns first: "由 X 全部释放" must not read as "由 X 释放".
REASONS = [
    ("admin", "released by %(user)s in the admin", "%(user)s 在后台释放"),
    ("release_all", "release all by %(user)s", "由 %(user)s 全部释放"),
    ("blacklisted", "blacklisted by %(user)s", "由 %(user)s 拉黑"),
    ("user", "released by %(user)s", "由 %(user)s 释放"),
    ("code", "code received", "已收到验证码"),
    ("deadline", "released before the upstream's forced release", "在上游强制释放前释放"),
    ("wait_limit", "no SMS within the item's wait limit", "在项目等待上限内未收到短信"),
    ("held", "held for the item's wait limit after the last SMS", "最后一条短信后已保留至等待上限"),
    ("lost", "the SMS was lost (status 3)", "短信丢失（状态 3）"),
    ("timeout", "the upstream timed out waiting (status 4)", "上游接收超时（状态 4）"),
    ("gone", "released upstream: %(msg)s", "上游已释放：%(msg)s"),
    ("status", "upstream status %(s)s", "上游状态 %(s)s"),
]
KINDS = {"user", "code", "deadline", "wait_limit", "held", "lost", "timeout", "status"}
RELEASE_TARGETS = {"released", "expired", "failed"}
FINAL = {"released", "expired", "blocked", "failed"}
WAITING_DETAILS = {"waiting for another SMS", "继续等待下一条短信"}


def _regex(template: str) -> re.Pattern:
    parts = re.split(r"%\((\w+)\)s", template)
    out = []
    for i, part in enumerate(parts):
        out.append(f"(?P<{part}>.+?)" if i % 2 else re.escape(part))
    return re.compile("".join(out) + "$", re.S)


PATTERNS = [(code, _regex(t)) for code, en, zh in REASONS for t in (en, zh)]


def parse_reason(text: str) -> tuple[str, dict]:
    """A stored sentence → (code, params); a trailing " (msg)" a release appended is a note."""
    text = text.strip()
    if not text:
        return "", {}
    for candidate, note in [(text, ""), *_note_split(text)]:
        for code, rx in PATTERNS:
            m = rx.match(candidate)
            if m:
                params = dict(m.groupdict())
                if note:
                    params["note"] = note
                return code, params
    return "other", {"text": text}


def _note_split(text: str) -> list[tuple[str, str]]:
    m = re.match(r"(.*) \((.+)\)$", text, re.S)
    return [(m.group(1), m.group(2))] if m else []


def parse_lease(state: str, stored: str) -> tuple[str, str, dict]:
    """(end_state, end_reason, end_params) of a lease from its old ``end_reason``."""
    if stored == "blocking":
        return "blocked", "blacklisted", {}
    parts = stored.split("|", 2)
    if len(parts) == 3 and parts[0] in RELEASE_TARGETS:
        target, kind, text = parts
        code, params = parse_reason(text)
        if code == "other" and kind in KINDS:
            code = kind  # the kind names the reason when the sentence is unknown
        return target, code, params
    if state == "releasing":  # an odd claim: the release finishes it as "recovered"
        return "", "recovered", {}
    code, params = parse_reason(stored)
    return (state if state in FINAL else ""), code, params


def _int(value: str):
    value = (value or "").strip()
    return int(value) if value.isdigit() and int(value) <= 32767 else None


CHUNK = 5000


def _in_chunks(qs, fields):
    """Rows of ``qs`` in primary-key order, a chunk at a time: one pass over a large table
    (the history may hold millions of leases), each chunk updated group by group."""
    last = 0
    while True:
        rows = list(qs.filter(pk__gt=last).order_by("pk").values_list("pk", *fields)[:CHUNK])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def forward(apps, schema_editor):
    Lease = apps.get_model("leases", "Lease")
    LeaseEvent = apps.get_model("leases", "LeaseEvent")
    Message = apps.get_model("leases", "Message")
    Item = apps.get_model("leases", "Item")

    parsed = {}
    for rows in _in_chunks(Lease.objects.exclude(end_reason=""), ("state", "end_reason")):
        groups = defaultdict(list)
        for pk, state, stored in rows:
            groups[(state, stored)].append(pk)
        for (state, stored), pks in groups.items():
            if (state, stored) not in parsed:
                parsed[(state, stored)] = parse_lease(state, stored)
            end_state, code, params = parsed[(state, stored)]
            Lease.objects.filter(pk__in=pks).update(
                end_state=end_state, end_reason=code, end_params=params
            )

    finals = LeaseEvent.objects.filter(kind__in=FINAL).exclude(detail="")
    for rows in _in_chunks(finals, ("detail",)):
        groups = defaultdict(list)
        for pk, detail in rows:
            groups[detail].append(pk)
        for detail, pks in groups.items():
            code, params = parse_reason(detail)
            LeaseEvent.objects.filter(pk__in=pks).update(reason=code, params=params, detail="")
    LeaseEvent.objects.filter(kind="waiting", detail__in=WAITING_DETAILS).update(detail="")

    Message.objects.filter(direction="in").update(status="received")
    kept = ["", "sending", "unknown", "sent", "delivered"]  # already codes
    odd = Message.objects.filter(direction="out").exclude(status__in=kept)
    for status in list(odd.values_list("status", flat=True).distinct()):
        odd.filter(status=status).update(status="unconfirmed", status_msg=status)

    for item in Item.objects.all():
        item.type_code, item.status_code = _int(item.type), _int(item.status)
        pairs = (("status", item.status, item.status_code), ("type", item.type, item.type_code))
        odd = [f"{name} {raw}" for name, raw, code in pairs if raw.strip() and code is None]
        if odd and not item.msg:
            item.msg = "; ".join(odd)[:300]
        item.save(update_fields=["type_code", "status_code", "msg"])


def backward(apps, schema_editor):
    """Back to texts (in English) and strings; the codes' details are kept where they fit."""
    Lease = apps.get_model("leases", "Lease")
    LeaseEvent = apps.get_model("leases", "LeaseEvent")
    Message = apps.get_model("leases", "Message")
    Item = apps.get_model("leases", "Item")
    english = {code: en for code, en, _zh in REASONS}

    def text(code, params):
        if code == "other":
            return params.get("text", "")
        if code == "recovered":
            return "recovered"
        values = {"user": "", "msg": "", "s": "", **params}
        out = english.get(code, code) % values
        return f"{out} ({params['note']})" if params.get("note") else out

    for lease in Lease.objects.exclude(end_reason=""):
        reason = text(lease.end_reason, lease.end_params or {})
        if lease.state == "releasing":
            if lease.end_state == "blocked":
                reason = "blocking"
            else:
                kind = "user" if lease.end_reason == "admin" else lease.end_reason
                reason = f"{lease.end_state}|{kind}|{reason}"
        Lease.objects.filter(pk=lease.pk).update(end_reason=reason[:200])
    for ev in LeaseEvent.objects.exclude(reason=""):
        LeaseEvent.objects.filter(pk=ev.pk).update(detail=text(ev.reason, ev.params or {})[:300])
    Message.objects.filter(direction="in").update(status="2")
    for m in Message.objects.filter(status="unconfirmed"):
        Message.objects.filter(pk=m.pk).update(status=m.status_msg[:40])
    for item in Item.objects.all():
        item.type = "" if item.type_code is None else str(item.type_code)
        item.status = "" if item.status_code is None else str(item.status_code)
        item.save(update_fields=["type", "status"])


class Migration(migrations.Migration):
    dependencies = [
        ("leases", "0007_explicit_state_fields"),
    ]

    operations = [migrations.RunPython(forward, backward)]
