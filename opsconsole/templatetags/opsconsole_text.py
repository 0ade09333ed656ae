"""Small display filters of the console's templates."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def short_name(dotted: str) -> str:
    """``checkout.delivery_assigned.step.NoCourierAvailable`` → ``NoCourierAvailable``."""
    return str(dotted).rsplit(".", 1)[-1]
