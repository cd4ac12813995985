"""Calendar arithmetic for the instrument's rules ("6 months", "5.5 months after the start").

Whole months are calendar months (31 January + 1 month = 28/29 February). A fraction of a month
counts as that fraction of 30 days, rounded half up (0.5 month = 15 days).
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal


def add_months(start: dt.date, months: Decimal | int) -> dt.date:
    """``start`` plus ``months`` (calendar months, then the fraction as days)."""
    months = Decimal(months)
    whole = int(months)
    days = int(((months - whole) * 30).to_integral_value(ROUND_HALF_UP))
    month_index = start.month - 1 + whole
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day) + dt.timedelta(days=days)


def last_day_within(start: dt.date, months: Decimal | int) -> dt.date:
    """The last day of a period of ``months`` starting on ``start`` (inclusive end date):
    a placement from 15 January of at most 6 months ends on 14 July at the latest."""
    return add_months(start, months) - dt.timedelta(days=1)
