"""Verification-code extraction from SMS text: pure functions, no Django.

Every candidate is found and scored; the best one is the code. Candidates are runs of 4–8
digits (and, where the item allows, 4–8 letters and digits mixed), never part of a longer run.
Scoring, in words:

1. A keyword just before the candidate (验证码, 校验码, 动态码, code…) or a "是您的…验证码" just
   after it makes it likely.
2. A unit after it (5分钟, 10 min, 30秒), a date or time around it (11月28日, 2026-11-28, 12:30),
   money around it (¥25.80, 30元) or a serial label before it (编号, 尾号) make it unlikely.
3. Ties go to the earlier candidate; six digits win a close call.

A per-item regex overrides all of this: its first group (or whole match) is the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = re.compile(
    r"(验证码|校验码|动态码|确认码|激活码|安全码|登录码|动态密码|口令|verification code|"
    r"security code|code|otp|pin)\s*(是|为|:|：|is)?\s*[\"'“”「」【】\[\]]*\s*$",
    re.I,
)
AFTER_KEYWORD = re.compile(
    r"^\s*(是|为)?\s*(您的|你的|your)?.{0,12}?(验证码|校验码|动态码|code)", re.I
)
UNIT_AFTER = re.compile(
    r"^\s*(分钟|分|秒|小时|天|个月|月|日|号|年|min|mins|minutes|s\b|sec|h\b)", re.I
)
DATE_AROUND_BEFORE = re.compile(r"(\d[-/.:]|年|月)\s*$")
DATE_AROUND_AFTER = re.compile(r"^([-/.:]\d)")
MONEY_BEFORE = re.compile(r"(¥|￥|\$|rmb|金额)\s*$", re.I)
MONEY_AFTER = re.compile(r"^\s*(元|块|\.\d)")
SERIAL_BEFORE = re.compile(r"(编号|序号|尾号|订单号|手机号|电话|致电|热线|号码)\s*$")

DIGITS = re.compile(r"(?<![0-9A-Za-z])\d{4,8}(?![0-9A-Za-z])")
ALNUM = re.compile(
    r"(?<![0-9A-Za-z])(?=[0-9A-Za-z]*\d)(?=[0-9A-Za-z]*[A-Za-z])[0-9A-Za-z]{4,8}(?![0-9A-Za-z])"
)


@dataclass(frozen=True)
class Candidate:
    code: str
    score: int
    start: int


def _score(text: str, start: int, end: int, code: str) -> int:
    before, after = text[max(0, start - 16) : start], text[end : end + 16]
    score = 0
    if KEYWORDS.search(before):
        score += 10
    if AFTER_KEYWORD.match(after):
        score += 6
    if UNIT_AFTER.match(after):
        score -= 20
    if DATE_AROUND_BEFORE.search(before) or DATE_AROUND_AFTER.match(after):
        score -= 15
    if MONEY_BEFORE.search(before) or MONEY_AFTER.match(after):
        score -= 20
    if SERIAL_BEFORE.search(before):
        score -= 12
    if code.isdigit() and len(code) == 6:
        score += 1
    if not code.isdigit():
        score -= 1  # a mixed token wins only with a keyword beside it
    return score


def candidates(text: str, *, alphanumeric: bool = True, regex: str = "") -> list[Candidate]:
    """Every candidate code in ``text``, best first."""
    text = text or ""
    if regex:
        try:
            pattern = re.compile(regex)
        except re.error:
            pattern = None
        if pattern is not None:
            matched = []
            for m in pattern.finditer(text):
                code = m.group(1) if m.groups() and m.group(1) else m.group(0)
                if code:
                    matched.append(Candidate(code, 100, m.start()))
            return matched
    found: dict[int, Candidate] = {}
    for m in DIGITS.finditer(text):
        found[m.start()] = Candidate(
            m.group(), _score(text, m.start(), m.end(), m.group()), m.start()
        )
    if alphanumeric:
        for m in ALNUM.finditer(text):
            if m.start() not in found:
                code = m.group()
                found[m.start()] = Candidate(
                    code, _score(text, m.start(), m.end(), code), m.start()
                )
    return sorted(found.values(), key=lambda c: (-c.score, c.start))


def best_code(text: str, *, alphanumeric: bool = True, regex: str = "") -> str | None:
    ranked = candidates(text, alphanumeric=alphanumeric, regex=regex)
    return ranked[0].code if ranked else None
