"""Property-based tests: no body breaks the wire parser, no input breaks a form."""

import contextlib
import json
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.upstream import wire

FIELDS = ["valid", "leftQuantity", "msg", "name", "status", "price", "type", "phoneNos", "sm"]
values = st.one_of(
    st.text(max_size=40),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.lists(st.text(max_size=12), max_size=3),
)
objects = st.dictionaries(st.sampled_from([*FIELDS, "x", "VALID", "Msg"]), values, max_size=6)


def encodings(text: str):
    return st.sampled_from(["utf-8", "gb18030", "utf-16"]).map(
        lambda enc: text.encode(enc, errors="replace")
    )


bodies = st.one_of(
    st.binary(max_size=3000),  # random bytes
    objects.map(lambda o: json.dumps(o, ensure_ascii=False).encode()),
    objects.map(lambda o: json.dumps(o).encode()).flatmap(  # truncated JSON
        lambda b: st.integers(0, len(b)).map(lambda n: b[:n])
    ),
    objects.map(lambda o: "&".join(f"{k}={v}" for k, v in o.items())).flatmap(encodings),
    st.text(max_size=600).flatmap(encodings),  # bare and mixed-encoding text
    st.tuples(st.text(max_size=30), objects).map(  # stray text before the object
        lambda t: (t[0] + json.dumps(t[1])).encode("utf-8", "replace")
    ),
    st.integers(50_000, 400_000).map(lambda n: b'{"msg":"' + b"x" * n + b'"}'),  # huge
    st.integers(50_000, 400_000).map(lambda n: b"\xff" * n),
)

READERS: list[Callable[[dict[str, str]], object]] = [
    wire.read_verify,
    lambda f: wire.read_details("1001", f),
    wire.read_sms,
    wire.read_msg,
    lambda f: wire.parse_phone_nos(f.get("phoneNos", "")),
]


def read_or_classify(body: bytes) -> None:
    try:
        fields = wire.parse_fields(body)
    except wire.UnreadableResponse as exc:
        assert "\x00" not in exc.raw and len(exc.raw) < wire.RAW_BODY_LIMIT + 60
        return
    # A field the upstream may send is named as the readers expect, whatever its case.
    assert all(wire.CANONICAL.get(k.lower(), k) == k for k in fields)
    assert all("\x00" not in v for v in fields.values())
    for read in READERS:
        with contextlib.suppress(wire.UnreadableResponse):
            read(fields)


def test_every_body_is_read_or_classified_unreadable():
    """At least 500 bodies, counted in this test itself (so it holds in any order, alone or
    under ``pytest -p randomly``)."""
    seen = []

    @settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(bodies)
    def check(body):
        seen.append(len(body))
        read_or_classify(body)

    check()
    assert len(seen) >= 500


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_every_price_is_read_or_refused(text):
    try:
        tiers = wire.parse_price(text)
    except wire.PriceFormatError:
        return
    assert tiers and wire.unit_price(tiers, 1) >= 0


form_values = st.one_of(
    st.text(max_size=60),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1e9",
            "１２３",
            "\x00",
            "' OR 1=1 --",
            "<script>",
            "9" * 400,
            "2026-13-45",
            "true",
            "on",
        ]
    ),
)


def form_data(names):
    return st.fixed_dictionaries({}, optional={n: form_values for n in names})


@pytest.mark.django_db
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_form_input_raises(personas, items, data):
    from accounts.forms import AuditFilter
    from accounts.models import DeveloperAccount
    from leases.forms import AddItemForm, HistoryFilter, LeaseForm, SendForm

    accounts = DeveloperAccount.objects.all()
    forms = [
        (LeaseForm, ["item", "quantity", "carrier", "area_code", "international", "phone", "key"]),
        (SendForm, ["text"]),
        (HistoryFilter, ["since", "until", "account", "item", "member", "state", "q"]),
        (AuditFilter, ["since", "until", "account", "endpoint", "outcome", "actor", "phone"]),
        (AddItemForm, ["account", "item_id"]),
    ]
    for form_class, names in forms:
        values = data.draw(form_data(names))
        kwargs = {} if form_class is SendForm else {"accounts": accounts}
        form = form_class(values, **kwargs)
        form.is_valid()
        # The form shown again with what was typed escapes it.
        assert "<script>" not in str(form)
