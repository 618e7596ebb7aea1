"""The working-day calendar (工作日历): holidays and 调休 as data, plus working-time arithmetic.

Years are seeded from the ``chinesecalendar`` package and extended by admins from the State
Council's yearly notice; a date in a year nobody loaded is an explicit error, never a guess.
"""

from zhili.calendar.notice import (
    decode_notice,
    export_year,
    load_notice,
    parse_notice,
    remove_day,
    set_day,
)
from zhili.calendar.seed import package_years, seed_from_package
from zhili.calendar.service import (
    DEFAULT_WORKING_HOURS,
    MonthDay,
    WorkCalendar,
    unknown_year,
)

__all__ = [
    "DEFAULT_WORKING_HOURS",
    "MonthDay",
    "WorkCalendar",
    "decode_notice",
    "export_year",
    "load_notice",
    "package_years",
    "parse_notice",
    "remove_day",
    "seed_from_package",
    "set_day",
    "unknown_year",
]
