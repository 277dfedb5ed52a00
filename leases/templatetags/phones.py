"""Phone numbers in templates: ``phone_parts`` and ``phone_grouped`` for the eye,
``phone_digits`` for the clipboard (see ``leases.phones``)."""

from django import template

from leases import phones

register = template.Library()


@register.filter
def phone_grouped(value) -> str:
    return phones.grouped(str(value or ""))


@register.filter
def phone_digits(value) -> str:
    return phones.digits(str(value or ""))


@register.filter
def phone_parts(value) -> list[str]:
    """Rendered as adjacent spans spaced by CSS: the number reads grouped, while its text (what
    a selection copies, what find-in-page matches) stays the bare digits."""
    return phones.parts(str(value or ""))
