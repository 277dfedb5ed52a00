"""Keyset pagination and streamed CSV, for lists that reach millions of rows.

A page is the rows strictly older than a cursor ``<epoch microseconds>.<id>`` in the order
``(-time, -id)``: every page costs one index range scan, however deep; no COUNT(*) is run.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice

from asgiref.sync import sync_to_async
from django.db.models import Q
from django.http import HttpResponseBadRequest, StreamingHttpResponse

from . import csvvalues

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)


def decode_cursor(raw: str | None):
    if not raw:
        return None
    stamp, _, pk = raw.partition(".")
    try:
        return EPOCH + int(stamp) * MICRO, int(pk)
    except (ValueError, OverflowError, OSError):
        return None


def encode_cursor(when: datetime, pk: int) -> str:
    return f"{(when - EPOCH) // MICRO}.{pk}"


def page(qs, field: str, cursor: str | None, size: int = 50):
    """One page of ``qs`` ordered by ``(-field, -id)``; returns ``(rows, next_cursor)``."""
    qs = qs.order_by(f"-{field}", "-id")
    decoded = decode_cursor(cursor)
    if decoded:
        when, pk = decoded
        # "(field, id) < (when, pk)", written as one index range (field <= when) less the
        # rows of the same instant at or after pk: an OR of two ranges would make the
        # planner walk the whole index from the top.
        qs = qs.filter(**{f"{field}__lte": when}).exclude(Q(**{field: when}) & Q(id__gte=pk))
    rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    nxt = encode_cursor(getattr(rows[-1], field), rows[-1].pk) if more and rows else None
    return rows, nxt


class _Echo:
    def write(self, value):
        return value


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Signs a spreadsheet reads as the start of a formula after any leading blanks, the
# fullwidth forms (＝＋－＠) included: WPS and Excel with a Chinese input method take them too.
FORMULA_SIGNS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value):
    """A cell a spreadsheet shows as text: one that begins like a formula (``=``, ``+``,
    ``-``, ``@``, tab, CR, or one of those signs in fullwidth or after blanks) gets a
    leading ``'``. Item names, SMS and upstream messages come from outside, and the people
    this console is for open exports in Excel or WPS."""
    if isinstance(value, str) and (
        value.startswith(FORMULA_STARTS) or value.lstrip().startswith(FORMULA_SIGNS)
    ):
        return "'" + value
    return value


class CsvResponse(StreamingHttpResponse):
    """A streamed CSV served row batch by row batch under ASGI too.

    Django's ASGI handler reads a response with a synchronous iterator into a list before it
    sends the first byte (and warns): a million-row export would sit whole in memory. Here the
    batches are pulled from the synchronous generator on the request's thread-sensitive
    thread, the one that holds its database connection (and, on PostgreSQL, the cursor).
    """

    BATCH = 500

    async def __aiter__(self):
        content = self.streaming_content
        assert isinstance(content, Iterator)  # stream_csv builds it from a generator
        parts = content
        take = sync_to_async(lambda: list(islice(parts, self.BATCH)), thread_sensitive=True)
        while batch := await take():
            for part in batch:
                yield part


def stream_csv(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def generate():
        yield "\ufeff"  # a BOM, so spreadsheet programs read the Chinese text as UTF-8
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([safe_cell(cell) for cell in row])

    response = CsvResponse(generate(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def export_csv(filename: str, filtered, order: tuple[str, ...], columns: list[tuple[str, str]]):
    """Stream a filtered list as CSV, rows fetched in chunks. ``filtered`` is the list's
    (filter form, queryset): a bound form that does not validate is a 400, refused before a
    byte is streamed. ``columns`` pairs a header with a field."""
    form, qs = filtered
    if form.is_bound and not form.is_valid():
        return HttpResponseBadRequest(form.errors_text(), content_type="text/plain")
    values = qs.order_by(*order).values_list(*[f for _, f in columns])
    # The first row is read before the response starts: a query that fails is an error page,
    # not a 200 with a header and nothing after it. It is read with a plain query, not from
    # the stream's iterator: on PostgreSQL that iterator holds a server-side cursor, and one
    # opened here and never streamed (a client gone before the body) would be closed by the
    # garbage collector in the middle of a later query on the same connection, which then
    # waits forever.
    list(values[:1])
    rows = values.iterator(chunk_size=2000)  # opened only when the body is streamed
    return stream_csv(filename, [h for h, _ in columns], map(csvvalues.row, rows))
