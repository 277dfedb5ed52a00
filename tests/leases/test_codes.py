"""Verification-code extraction: real-shaped texts, distractors, and per-item regexes."""

import random

import pytest

from accounts.upstream import smsgen
from leases.codes import best_code, candidates

CASES = [
    ("【微信】您的验证码是123456，5分钟内有效，请勿泄露。", "123456"),
    ("【淘宝】验证码：8842。您正在登录，若非本人操作请忽略。客服电话4008123123", "8842"),
    ("739104是您的京东验证码，10分钟内有效。", "739104"),
    ("【抖音】您于11月28日申请注册，验证码5521，有效期30分钟。", "5521"),
    ("【支付宝】您的订单金额¥25.80，动态码 90817，请在5分钟内完成支付。", "90817"),
    ("[Steam] Your verification code is 66120. It expires in 10 minutes.", "66120"),
    ("【美团】校验码 4471（切勿告知他人），如有疑问请致电13800138000。", "4471"),
    ("【哔哩哔哩】尊敬的用户，您的短信验证码为230915，有效期3分钟，编号07。", "230915"),
    ("【小红书】您正在绑定手机号13912345678，验证码9090，15分钟内有效。", "9090"),
    ("【滴滴出行】验证码 A7K9Q2，5分钟内有效", "A7K9Q2"),
    ("Your code is 4X8Y2Z. Valid for 10 min.", "4X8Y2Z"),
    ("【京东】2026-11-28 12:30 登录验证码 384756", "384756"),
    ("【银行】您尾号8888的卡验证码 556677，金额1200元", "556677"),
    ("【微信】验证码 12345678 ，30秒后可重新获取", "12345678"),
    ("您的登录码是 7788，请在 5 分钟内输入", "7788"),
    ("【快手】动态密码：963852，切勿泄露", "963852"),
    ("Use 482913 as your Microsoft account security code", "482913"),
    ("【网易】验证码 2468，有效期 10 min，订单号 20261128", "2468"),
    ("【携程】确认码 135790，请于2026年12月1日前使用", "135790"),
    ("G-804213 is your Google verification code.", "804213"),
    ("【饿了么】验证码5566，3分钟内有效，客服10086", "5566"),
    ("【拼多多】您的验证码为 1029，5分钟有效，请勿告知他人", "1029"),
    ("【知乎】激活码 Q1W2E3，仅用于激活账户", "Q1W2E3"),
    ("【百度】验证码：864213。如非本人操作请致电 95105。", "864213"),
    ("Telegram code: 71234", "71234"),
    ("【苹果】您的 Apple ID 验证码是：938201。", "938201"),
    ("【腾讯】验证码 7391，有效期5分钟，第2次发送", "7391"),
    ("【顺丰】取件码 6612，请于18:00前取件", "6612"),
    ("【工商银行】动态码 520131，交易金额 99.00 元，尾号 1234", "520131"),
    ("【中国移动】您的校验码为 0815，有效期 2 小时", "0815"),
    ("【携程】验证码 4040，请勿转发，编号 3", "4040"),
    # Codes split by the sender: one code, the digits joined.
    ("WhatsApp code 123-456", "123456"),
    ("Your WhatsApp code: 481-209. Don't share this code with others.", "481209"),
    ("481 209 is your WhatsApp Business code", "481209"),
    ("【美团】您的验证码是 92 81 37，请在5分钟内完成验证", "928137"),
    ("【美团】92 81 37（美团验证码，请勿泄露），5分钟内有效", "928137"),
    ("Your Instagram code is 592 614.", "592614"),
    ("Telegram code: 12-34-56-78", "12345678"),
    ("WhatsApp 代码：481‑209，请勿与他人分享", "481209"),
    ("【饿了么】验证码 92 81 37，客服电话 400-812-3123", "928137"),
    ("【京东】验证码 604 218，订单 2026-11-28 送达，客服 400-606-5500", "604218"),
    ("【银行】动态码 330 914，交易金额 1 200 元，尾号 1234", "330914"),
    ("Call 0755-12345678 for help; your code is 44-55-66", "445566"),
]


@pytest.mark.parametrize(("text", "code"), CASES)
def test_it_finds_the_real_code(text, code):
    assert best_code(text) == code


# Grouped digits that are not codes: phone numbers, dates, times, amounts.
NOT_CODES = [
    "【顺丰】快递员 138 0013 8000 已取件，请保持电话畅通",
    "【顺丰】快递员电话 138-0013-8000",
    "+86 138 0013 8000 给您来电，请回拨",
    "客服热线 400-812-3123，工作日 9:00-18:00",
    "如有疑问请致电 0755-12345678",
    "订单 2026-11-28 已发货",
    "您的会员将于 26-11-28 到期",
    "您的会员将于 28-11-2026 到期",
    "请于 10:30-11:45 到店",
    "本月消费 12 500.00 元",
    "到账 480 000 元",
    "余额 ¥ 120 350",
    "会议时间 12:30，地点 3 号楼",
]


@pytest.mark.parametrize("text", NOT_CODES)
def test_grouped_numbers_that_are_not_codes_yield_none(text):
    assert best_code(text) is None, candidates(text)


def test_it_lists_every_candidate_best_first():
    ranked = candidates("【京东】订单金额¥35.20，验证码 604218，5分钟内有效，客服电话4008123123")
    assert ranked[0].code == "604218"
    assert {c.code for c in ranked} >= {"604218"}


def test_digits_only_when_letters_are_not_allowed():
    assert best_code("验证码 A7K9Q2，5分钟内有效", alphanumeric=False) is None


def test_an_item_regex_overrides_ranking():
    text = "【App】ref 1234 code=X-9988 valid 5 min"
    assert best_code(text, regex=r"code=X-(\d+)") == "9988"
    assert best_code(text, regex=r"ref \d+") == "ref 1234"
    assert best_code(text, regex=r"([") == "1234"  # a broken regex falls back to ranking


def test_it_is_right_on_thousands_of_generated_texts():
    rng = random.Random(2026)
    wrong = [
        (t, c) for t, c in (smsgen.verification_sms(rng) for _ in range(2000)) if best_code(t) != c
    ]
    assert wrong == []


def test_no_code_in_no_text():
    assert best_code("") is None
    assert best_code("您好，欢迎使用") is None
