"""``{% icon "name" %}``: an icon of the sprite ``static/img/icons.svg``, decorative (hidden
from assistive technology: the text next to it says what it means)."""

from django import template
from django.templatetags.static import static
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def icon(name: str, extra: str = "") -> str:
    return format_html(
        '<svg class="icon{}" aria-hidden="true" focusable="false"><use href="{}#i-{}"></use></svg>',
        f" {extra}" if extra else "",
        static("img/icons.svg"),
        name,
    )
