"""Template helpers of the pages (``{% load wlm %}``): sort headers and status badges."""

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

register = template.Library()


@register.inclusion_tag("includes/sort_header.html", takes_context=True)
def sort_header(context, field: str, label: str):
    """A column header that sorts by ``field``; a second click reverses the order."""
    current = context.get("ordering") or ""
    ascending = current == field
    descending = current == f"-{field}"
    return {
        "request": context["request"],
        "label": label,
        "next": f"-{field}" if ascending else field,
        "arrow": "▲" if ascending else "▼" if descending else "",
        "sorted": "ascending" if ascending else "descending" if descending else "none",
    }


@register.simple_tag
def status_badge(status: str, label: str = ""):
    """A license or request status as a coloured badge (the colour is the CSS class).
    Written here rather than by a template: lists show one on every row."""
    return format_html(
        '<span class="badge status-{}" data-status="{}">{}</span>', status, status, label or status
    )


@register.filter
def yes_no(value) -> str:
    return _("yes") if value else _("no")
