"""A date drill-down for large tables: periods come from the calendar, never from a scan of the rows.

Django's ``date_hierarchy`` tag lists the years, months or days that hold rows with ``SELECT DISTINCT``
over the (filtered) table. This one reads only the first and last ``created_at`` (two index look-ups) and
offers every calendar period between them; an empty period simply lists nothing.
"""

from __future__ import annotations

import calendar
import datetime
from typing import Any

from django import template
from django.utils import formats
from django.utils.text import capfirst

from opsconsole import selectors

register = template.Library()


@register.inclusion_tag("admin/date_hierarchy.html")
def bounded_date_hierarchy(cl: Any) -> dict[str, Any]:
    if not cl.date_hierarchy:
        return {"show": False}
    name = cl.date_hierarchy
    fields = {part: f"{name}__{part}" for part in ("year", "month", "day")}
    year, month, day = (cl.params.get(fields[part]) for part in ("year", "month", "day"))

    def link(filters: dict[str, Any]) -> str:
        return str(cl.get_query_string(filters, [f"{name}__"]))

    if not (year or month or day):
        span = selectors.date_span(cl.queryset, name)
        if span is None:
            return {"show": True, "back": None, "choices": []}
        first, last = span
        if first.year != last.year:
            years = range(first.year, last.year + 1)
            return {
                "show": True,
                "back": None,
                "choices": [{"link": link({fields["year"]: str(y)}), "title": str(y)} for y in years],
            }
        year, month = str(first.year), (str(first.month) if first.month == last.month else None)
    if year and month and day:
        date = datetime.date(int(year), int(month), int(day))
        return {
            "show": True,
            "back": {
                "link": link({fields["year"]: year, fields["month"]: month}),
                "title": capfirst(formats.date_format(date, "YEAR_MONTH_FORMAT")),
            },
            "choices": [{"title": capfirst(formats.date_format(date, "MONTH_DAY_FORMAT"))}],
        }
    if year and month:
        days = calendar.monthrange(int(year), int(month))[1]
        return {
            "show": True,
            "back": {"link": link({fields["year"]: year}), "title": str(year)},
            "choices": [
                {
                    "link": link({fields["year"]: year, fields["month"]: month, fields["day"]: d}),
                    "title": capfirst(formats.date_format(datetime.date(int(year), int(month), d), "MONTH_DAY_FORMAT")),
                }
                for d in range(1, days + 1)
            ],
        }
    return {
        "show": True,
        "back": {"link": link({}), "title": "All dates"},
        "choices": [
            {
                "link": link({fields["year"]: year, fields["month"]: m}),
                "title": capfirst(formats.date_format(datetime.date(int(year), m, 1), "YEAR_MONTH_FORMAT")),
            }
            for m in range(1, 13)
        ],
    }
