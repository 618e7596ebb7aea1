"""The platform's notion of now (UTC), and the city's local time zone for working hours."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

CITY_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> dt.datetime:
    """Timezone-aware current UTC time."""
    return dt.datetime.now(dt.UTC)
