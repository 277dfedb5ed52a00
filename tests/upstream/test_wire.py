"""Table-driven tests of the wire parser: every body form of docs/upstream-api.md §11."""

from decimal import Decimal

import pytest

from accounts.upstream import wire

GBK_MSG = "号码余量不足".encode("gbk")

# (body, expected fields) — the forms of §11, for every endpoint's fields.
FIELD_CASES = [
    # JSON, string values
    (b'{"valid":"Y","leftQuantity":"158"}', {"valid": "Y", "leftQuantity": "158"}),
    (
        b'{"valid":"N","msg":"\xe8\xb4\xa6\xe6\x88\xb7\xe5\xbc\x82\xe5\xb8\xb8"}',
        {"valid": "N", "msg": "账户异常"},
    ),
    # JSON, number values
    (b'{"valid":1,"leftQuantity":158}', {"valid": "1", "leftQuantity": "158"}),
    (b'{"valid":true,"leftQuantity":158.0}', {"valid": "true", "leftQuantity": "158"}),
    # keys in any case
    (b'{"VALID":"Y","LEFTQUANTITY":"9"}', {"valid": "Y", "leftQuantity": "9"}),
    (b'{"PhoneNos":"13800000000,13900000000"}', {"phoneNos": "13800000000,13900000000"}),
    (b'{"Status":"2","SM":"code 1234"}', {"status": "2", "sm": "code 1234"}),
    # stray text before the first brace (a PHP notice)
    (
        b'<b>Notice</b>: Undefined index: x in /var/www/get.php on line 3\n{"msg":"OK"}',
        {"msg": "OK"},
    ),
    (b'Warning: session_start()\r\n{"status":"1"}', {"status": "1"}),
    # BOM, whitespace, CR/LF
    (b'\xef\xbb\xbf{"msg":"OK"}', {"msg": "OK"}),
    (b'\r\n  {"msg":"OK"}  \r\n', {"msg": "OK"}),
    # key=value bodies
    (b"valid=Y&leftQuantity=158", {"valid": "Y", "leftQuantity": "158"}),
    (b"valid=Y\nleftQuantity=158\n", {"valid": "Y", "leftQuantity": "158"}),
    (b"valid=Y\r\nleftQuantity=158\r\n", {"valid": "Y", "leftQuantity": "158"}),
    (
        b"msg=%E5%8F%B7%E7%A0%81%E4%BD%99%E9%87%8F%E4%B8%8D%E8%B6%B3",
        {"msg": "号码余量不足"},
    ),
    (b"phoneNos=13800000000%2C13900000000", {"phoneNos": "13800000000,13900000000"}),
    (b"status=2&sm=%E9%AA%8C%E8%AF%81%E7%A0%81+1234", {"status": "2", "sm": "验证码 1234"}),
    (b"STATUS=1", {"status": "1"}),
    # bare text read as msg
    (b"OK", {"msg": "OK"}),
    (b" ok \r\n", {"msg": "ok"}),
    ("号码余量不足".encode(), {"msg": "号码余量不足"}),
    (b"\xef\xbb\xbfOK", {"msg": "OK"}),
    # GBK / GB18030 when not UTF-8
    (GBK_MSG, {"msg": "号码余量不足"}),
    (b'{"msg":"' + GBK_MSG + b'"}', {"msg": "号码余量不足"}),
    (b"msg=" + "账户异常".encode("gb18030"), {"msg": "账户异常"}),
    # JSON null and nested values do not crash
    (b'{"msg":null,"status":"1"}', {"msg": "", "status": "1"}),
    (b'{"phoneNos":["13800000000","13900000000"]}', {"phoneNos": "13800000000,13900000000"}),
]


@pytest.mark.parametrize(("body", "expected"), FIELD_CASES)
def test_it_reads_every_body_form(body, expected):
    assert wire.parse_fields(body) == expected


UNREADABLE = [
    b"",
    b"   \r\n",
    b'{"valid":"Y","leftQuan',
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b"\x00\x9f\x92\x96\xff\xfe garbage \x01\x02",
    b"[1, 2, 3] {",
    b"x" * 600,
]


@pytest.mark.parametrize("body", UNREADABLE)
def test_it_refuses_unreadable_bodies_and_keeps_them(body):
    with pytest.raises(wire.UnreadableResponse) as info:
        wire.parse_fields(body)
    assert len(info.value.raw) <= wire.RAW_BODY_LIMIT + 40


def test_it_truncates_huge_raw_bodies():
    body = b"{" + b"x" * 100_000
    with pytest.raises(wire.UnreadableResponse) as info:
        wire.parse_fields(body)
    assert info.value.raw.startswith("{xxx")
    assert "more characters" in info.value.raw
    assert len(info.value.raw) < 2100


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Y", True),
        ("y", True),
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("N", False),
        ("0", False),
        ("false", False),
        ("maybe", None),
        ("", None),
    ],
)
def test_it_normalises_valid(raw, expected):
    assert wire.parse_valid(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", 1), ("2", 2), (" 3 ", 3), ("4.0", 4), ("9", 9), ("unknown", "unknown"), ("", "")],
)
def test_it_keeps_unknown_status_raw(raw, expected):
    assert wire.int_or_raw(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800000000,13900000000", ["13800000000", "13900000000"]),
        ("13800000000;13900000000|13700000000", ["13800000000", "13900000000", "13700000000"]),
        ("13800000000 13900000000\n13700000000", ["13800000000", "13900000000", "13700000000"]),
        ("+447700900123, 13800000000", ["+447700900123", "13800000000"]),
        ("abc,13800000000,,", ["13800000000"]),
        ("", []),
    ],
)
def test_it_splits_phone_numbers(raw, expected):
    assert wire.parse_phone_nos(raw) == expected


def test_it_reads_the_documents_price_example():
    tiers = wire.parse_price("0.1(10000), 0.01(10001-30000), 0.08(+)")
    assert tiers == [
        wire.Tier(Decimal("0.1"), 1, 10000),
        wire.Tier(Decimal("0.01"), 10001, 30000),
        wire.Tier(Decimal("0.08"), 30001, None),
    ]
    assert wire.unit_price(tiers, 1) == Decimal("0.1")
    assert wire.unit_price(tiers, 10000) == Decimal("0.1")
    assert wire.unit_price(tiers, 10001) == Decimal("0.01")
    assert wire.unit_price(tiers, 30000) == Decimal("0.01")
    assert wire.unit_price(tiers, 30001) == Decimal("0.08")
    assert wire.unit_price(tiers, 10**9) == Decimal("0.08")


def test_it_reads_a_plain_price_and_full_width_brackets():
    assert wire.parse_price("0.5") == [wire.Tier(Decimal("0.5"), 1, None)]
    tiers = wire.parse_price("0.2（100），0.15（+）")
    assert [t.price for t in tiers] == [Decimal("0.2"), Decimal("0.15")]
    # past the last closed tier, its price holds
    assert wire.unit_price(wire.parse_price("0.3(50)"), 51) == Decimal("0.3")


@pytest.mark.parametrize("raw", ["", "abc", "0.1(x)", "0.1(+), 0.2(5)", "0.1(10-5)", "(10)"])
def test_it_rejects_malformed_prices(raw):
    with pytest.raises(wire.PriceFormatError):
        wire.parse_price(raw)


def test_it_reads_each_endpoint_and_requires_its_fields():
    v = wire.read_verify({"valid": "Y", "leftQuantity": "158"})
    assert v.valid and v.left_quantity == 158
    with pytest.raises(wire.UnreadableResponse):
        wire.read_verify({"msg": "hello"})
    with pytest.raises(wire.UnreadableResponse):
        wire.read_verify({"valid": "perhaps"})
    d = wire.read_details(
        "1001", {"status": "1", "name": "x", "price": "0.1(10), 0.2(+)", "type": "5"}
    )
    assert d.status == 1 and d.type == 5 and len(d.tiers) == 2
    odd = wire.read_details("1001", {"status": "7", "price": "free!", "type": "x"})
    assert odd.status == 7 and odd.tiers == [] and odd.price == "free!" and odd.type == "x"
    with pytest.raises(wire.UnreadableResponse):
        wire.read_details("1001", {"name": "x"})
    assert wire.read_sms({"status": "1"}).status == 1
    assert wire.read_sms({"sm": "code 1234"}).status == 2
    assert wire.read_sms({"status": "weird"}).status == "weird"
    assert wire.read_sms({"msg": "号码未获取或已释放"}).status == ""
    with pytest.raises(wire.UnreadableResponse):
        wire.read_sms({"foo": "bar"})
    assert wire.read_msg({"msg": " ok "}) == " ok "
    assert wire.is_ok(" ok ") and wire.is_ok("OK") and not wire.is_ok("号码未获取")
    with pytest.raises(wire.UnreadableResponse):
        wire.read_msg({"status": "1"})


def test_nul_bytes_never_reach_a_text_column():
    with pytest.raises(wire.UnreadableResponse) as info:
        wire.parse_fields(b"\x00\x01garbage")
    assert "\x00" not in info.value.raw and "\\x00" in info.value.raw
    assert wire.parse_fields(b'{"msg":"O\\u0000K"}') == {"msg": "OK"}
    assert wire.parse_fields(b"msg=O%00K") == {"msg": "OK"}
