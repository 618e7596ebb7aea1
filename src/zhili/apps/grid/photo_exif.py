"""What a photo's EXIF says about where and when it was taken.

Phones write GPS as degrees, minutes and seconds (rationals) with an N/S/E/W reference,
and ``DateTimeOriginal`` as the camera's local clock with no zone. Both are only hints
from the photographer's device: anything out of range or unreadable is dropped, so a
scrambled tag costs the location, never the photo.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from PIL import ExifTags, Image

from zhili.clock import CITY_TZ, utcnow


def exif_facts(im: Image.Image) -> dict[str, Any]:
    """``lon``, ``lat`` and ``taken_at`` from a decoded image's EXIF, each None when absent.

    A malformed EXIF block is metadata gone wrong, not a bad photo: it yields nothing.
    """
    facts: dict[str, Any] = {"lon": None, "lat": None, "taken_at": None}
    try:
        exif = im.getexif()
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        details = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # Pillow raises many kinds on a broken EXIF block
        return facts
    lat = gps_degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), 90)
    lon = gps_degrees(
        gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), 180
    )
    if lat is not None and lon is not None and (lat, lon) != (0.0, 0.0):  # (0, 0): no fix
        facts["lat"], facts["lon"] = lat, lon
    facts["taken_at"] = exif_time(
        details.get(ExifTags.Base.DateTimeOriginal), details.get(ExifTags.Base.OffsetTimeOriginal)
    )
    return facts


def gps_degrees(value: Any, ref: Any, limit: int) -> float | None:
    """Signed decimal degrees from EXIF (degrees, minutes, seconds) and its N/S/E/W ref."""
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "ignore")
    ref = str(ref or "").strip("\x00 ").upper()
    sign = {"N": 1, "E": 1, "S": -1, "W": -1}.get(ref)
    if sign is None or ref not in ("NS" if limit == 90 else "EW"):
        return None
    try:
        parts = [float(p) for p in value]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not 1 <= len(parts) <= 3 or not all(math.isfinite(p) and p >= 0 for p in parts):
        return None
    degrees, minutes, seconds = [*parts, 0.0, 0.0][:3]
    if minutes >= 60 or seconds >= 60:
        return None
    total = degrees + minutes / 60 + seconds / 3600
    if total > limit:
        return None
    return round(sign * total, 7)


def exif_time(value: Any, offset: Any = None) -> dt.datetime | None:
    """``DateTimeOriginal`` ("2024:05:01 08:30:00") as aware UTC.

    A camera writes its local clock; without ``OffsetTimeOriginal`` that is taken to be
    the city's time (Asia/Shanghai). Unreadable or future times give None.
    """
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    try:
        local = dt.datetime.strptime(str(value).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    zone: dt.tzinfo = CITY_TZ
    if isinstance(offset, bytes):
        offset = offset.decode("ascii", "ignore")
    match = re.fullmatch(r"([+-])(\d\d):(\d\d)", str(offset or "").strip("\x00 "))
    if match and int(match.group(2)) <= 14 and int(match.group(3)) < 60:
        delta = dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
        zone = dt.timezone(-delta if match.group(1) == "-" else delta)
    taken = local.replace(tzinfo=zone).astimezone(dt.UTC)
    if taken.year < 1990 or taken > utcnow() + dt.timedelta(days=1):
        return None
    return taken
