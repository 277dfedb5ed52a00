"""Verification-code extraction from SMS text: pure functions, no Django.

Every candidate is found and scored; the best one is the code. Candidates are runs of 4–8
digits (and, where the item allows, 4–8 letters and digits mixed), never part of a longer run.
Scoring, in words:

1. A keyword just before the candidate (验证码, 校验码, 动态码, code…) or a "是您的…验证码" just
   after it makes it likely.
2. A unit after it (5分钟, 10 min, 30秒), a date or time around it (11月28日, 2026-11-28, 12:30),
   money around it (¥25.80, 30元) or a serial label before it (编号, 尾号) make it unlikely.
3. Ties go to the earlier candidate; six digits win a close call.

Some senders split the code (WhatsApp ``481-209``, 美团 ``92 81 37``): a run of two to four
groups of the same size (2 or 3 digits, 6 to 8 in all) joined by a dash or a space is one
candidate, the digits joined, kept only when nothing around it speaks against it. Grouped
numbers that read as a phone number (``138 0013 8000``, ``400-812-3123``) or a date
(``2026-11-28``, ``26-11-28``) yield no candidate at all, neither whole nor in parts.

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


SEP = "-\u2010-\u2013 \u00a0"  # dashes, a space, a no-break space
GROUPS = re.compile(
    rf"(?<![0-9A-Za-z])(?<!\d[{SEP}.,:/])"
    rf"(?>\d+(?:[{SEP}]\d+)+)"
    r"(?![0-9A-Za-z]|[.,:/]\d)"
)
SPLIT = re.compile(rf"[{SEP}]")
# Group sizes of phone numbers as they are written: mobile 3-4-4 (with +86: 2-3-4-4), service
# numbers 3-3-4, landlines with their area code 3-8 / 4-7 / 4-8.
PHONE_SHAPES = {(3, 4, 4), (2, 3, 4, 4), (3, 3, 4), (2, 3, 3, 4), (3, 8), (4, 7), (4, 8)}


def _is_date(groups: list[str], seps: set[str]) -> bool:
    """Dashed dates: 2026-11-28, 2026-11, 26-11-28, 28-11-2026."""
    if seps - {"-", "\u2010", "\u2011", "\u2012", "\u2013"}:
        return False
    shape, n = tuple(len(g) for g in groups), [int(g) for g in groups]
    if shape in {(4, 2, 2), (4, 2)}:
        return 1 <= n[1] <= 12
    if shape == (2, 2, 4):
        return 1 <= n[0] <= 12 or 1 <= n[1] <= 12
    if shape == (2, 2, 2):
        return 1 <= n[1] <= 12
    return False


def _grouped(text: str) -> tuple[list[tuple[int, int, str]], list[tuple[int, int]]]:
    """Grouped digits: the split codes (start, end, digits), and the spans of phone numbers
    and dates, where no candidate may be found."""
    codes, blocked = [], []
    for m in GROUPS.finditer(text):
        groups = SPLIT.split(m.group())
        seps = set(SPLIT.findall(m.group()))
        shape = tuple(len(g) for g in groups)
        if shape in PHONE_SHAPES or _is_date(groups, seps):
            blocked.append((m.start(), m.end()))
        elif len(seps) == 1 and len(set(shape)) == 1 and shape[0] in (2, 3):
            digits = "".join(groups)
            if 6 <= len(digits) <= 8:
                codes.append((m.start(), m.end(), digits))
    return codes, blocked


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
    codes, blocked = _grouped(text)
    for start, end, digits in codes:
        score = _score(text, start, end, digits)
        if score >= 0:  # a split code, unless a unit, date or amount says otherwise
            found[start] = Candidate(digits, score, start)
        blocked.append((start, end))  # its parts are not codes of their own

    def free(m) -> bool:
        return m.start() not in found and not any(a <= m.start() < b for a, b in blocked)

    for m in DIGITS.finditer(text):
        if free(m):
            found[m.start()] = Candidate(
                m.group(), _score(text, m.start(), m.end(), m.group()), m.start()
            )
    if alphanumeric:
        for m in ALNUM.finditer(text):
            if free(m):
                code = m.group()
                found[m.start()] = Candidate(
                    code, _score(text, m.start(), m.end(), code), m.start()
                )
    return sorted(found.values(), key=lambda c: (-c.score, c.start))


def best_code(text: str, *, alphanumeric: bool = True, regex: str = "") -> str | None:
    ranked = candidates(text, alphanumeric=alphanumeric, regex=regex)
    return ranked[0].code if ranked else None
