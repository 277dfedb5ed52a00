"""Realistic verification SMS texts for the simulator, each with the code it carries.

The shapes follow what Chinese platforms send: a 【brand】 signature, the code somewhere in
the sentence, and often other numbers that a naive extractor would take for the code — a
validity in minutes, a date, a price, a hotline or the receiving number (masked). The brand is
the item's when its name names one (item 微信注册 receives 【微信】 texts), and the only mobile
number a text names is the one it was sent to.
"""

from __future__ import annotations

import random
import string

APPS = ["微信", "淘宝", "抖音", "京东", "支付宝", "美团", "小红书", "哔哩哔哩", "滴滴出行", "Steam"]

TEMPLATES = [
    "【{app}】您的验证码是{code}，5分钟内有效，请勿泄露给他人。",
    "【{app}】验证码：{code}。您正在登录，若非本人操作请忽略。客服电话4008123123",
    "{code}是您的{app}验证码，10分钟内有效。",
    "【{app}】您于{date}申请注册，验证码{code}，有效期30分钟。",
    "【{app}】您的订单金额¥{price}，动态码{code}，请在5分钟内完成支付。",
    "[{app}] Your verification code is {code}. It expires in 10 minutes.",
    "【{app}】校验码 {code}（切勿告知他人），如有疑问请致电95188。",
    "【{app}】尊敬的用户，您的短信验证码为{code}，有效期3分钟，编号{serial}。",
    "【{app}】您正在绑定手机号{masked}，验证码{code}，15分钟内有效。",
]


def brand_for(item_name: str) -> str | None:
    """The app an item's name names (``微信注册（类型1）`` → ``微信``), if any."""
    return next((app for app in APPS if app in item_name), None)


def make_code(rng: random.Random) -> str:
    length = rng.randint(4, 8)
    if rng.random() < 0.15:
        alphabet = string.ascii_uppercase + string.digits
        while True:
            code = "".join(rng.choice(alphabet) for _ in range(max(length, 5)))
            if any(c.isalpha() for c in code) and any(c.isdigit() for c in code):
                return code
    return "".join(rng.choice(string.digits) for _ in range(length))


def verification_sms(
    rng: random.Random, app: str | None = None, phone: str = ""
) -> tuple[str, str]:
    """A text and its code, from ``app`` (a random one if None) to ``phone``."""
    code = make_code(rng)
    phone = phone or f"1{rng.randint(30, 89)}{rng.randint(0, 99999999):08d}"
    text = rng.choice(TEMPLATES).format(
        app=app or rng.choice(APPS),
        code=code,
        date=f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
        price=f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}",
        serial=f"{rng.randint(1, 99):02d}",
        masked=f"{phone[:3]}****{phone[-4:]}",
    )
    return text, code
