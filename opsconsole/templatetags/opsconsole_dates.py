"""A date drill-down for large tables: periods come from the calendar, never from a scan of the rows.

Django's ``date_hierarchy`` tag lists the years, months or days that hold rows with ``SELECT DISTINCT``
over the (filtered) table. This one reads the first and last value (two index look-ups) for the years, and
finds the months of a year and the days of a month that hold rows by a loose index scan
(``selectors.periods_with_rows``: one index look-up per period listed), so it offers only periods with data.
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
        first_day = datetime.date(int(year), int(month), 1)
        following = first_day + datetime.timedelta(days=calendar.monthrange(first_day.year, first_day.month)[1])
        days = selectors.periods_with_rows(cl.queryset, name, first_day, following, "day")
        return {
            "show": True,
            "back": {"link": link({fields["year"]: year}), "title": str(year)},
            "choices": [
                {
                    "link": link({fields["year"]: year, fields["month"]: month, fields["day"]: str(d.day)}),
                    "title": capfirst(formats.date_format(d, "MONTH_DAY_FORMAT")),
                }
                for d in days
            ],
        }
    months = selectors.periods_with_rows(
        cl.queryset, name, datetime.date(int(year), 1, 1), datetime.date(int(year) + 1, 1, 1), "month"
    )
    return {
        "show": True,
        "back": {"link": link({}), "title": "All dates"},
        "choices": [
            {
                "link": link({fields["year"]: year, fields["month"]: str(m.month)}),
                "title": capfirst(formats.date_format(m, "YEAR_MONTH_FORMAT")),
            }
            for m in months
        ],
    }
