"""Event photos: real JPEG/PNG/WebP images are stored once by content with their EXIF
location and time; everything that is not a photo, too big, lying about its type, broken
or a pixel bomb is refused with a message naming the file, and leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags, Image
from sqlalchemy import func, select

from zhili.apps.grid import attachments as photos
from zhili.apps.grid.event_models import Attachment, GridEvent
from zhili.apps.grid.models import EventCategory, GridArea
from zhili.apps.grid.photo_exif import exif_time, gps_degrees
from zhili.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType, ZhiliError
from zhili.identity.models import Organization
from zhili.settings import get_settings

MiB = 1024 * 1024


# --- images made with Pillow --------------------------------------------------------------


def image(
    fmt: str,
    size: tuple[int, int] = (64, 48),
    *,
    gps: tuple[str, tuple[float, ...], str, tuple[float, ...]] | None = None,
    taken: str | None = None,
    offset: str | None = None,
    noise: bool = False,
) -> bytes:
    """An image in ``fmt`` with an EXIF GPS IFD and DateTimeOriginal when given."""
    im = Image.effect_noise(size, 80).convert("RGB") if noise else Image.new("RGB", size, "teal")
    exif = Image.Exif()
    if gps:
        ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        lat_ref, lat, lon_ref, lon = gps
        ifd[ExifTags.GPS.GPSLatitudeRef], ifd[ExifTags.GPS.GPSLatitude] = lat_ref, lat
        ifd[ExifTags.GPS.GPSLongitudeRef], ifd[ExifTags.GPS.GPSLongitude] = lon_ref, lon
    if taken:
        ifd = exif.get_ifd(ExifTags.IFD.Exif)
        ifd[ExifTags.Base.DateTimeOriginal] = taken
        if offset:
            ifd[ExifTags.Base.OffsetTimeOriginal] = offset
    out = io.BytesIO()
    extra: dict[str, Any] = {"exif": exif.tobytes()} if gps or taken else {}
    im.save(out, fmt, **extra)
    return out.getvalue()


TIANJIN = ("N", (39.0, 7.0, 30.0), "E", (117.0, 12.0, 0.0))  # 39.125, 117.2
SANTIAGO = ("S", (33.0, 27.0, 0.0), "W", (70.0, 39.0, 36.0))  # -33.45, -70.66


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid-looking PNG of a few dozen bytes whose header claims width × height pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


# --- a minimal event ----------------------------------------------------------------------


def new_event(session, n: int = 1) -> GridEvent:
    org = session.scalar(select(Organization).where(Organization.code == "CITYMGMT"))
    if org is None:
        org = Organization(code="CITYMGMT", name="城市管理委员会", level="city", kind="department")
        session.add(org)
        session.flush()
    category = session.scalar(select(EventCategory).where(EventCategory.code == "litter"))
    if category is None:
        category = EventCategory(code="litter", name="垃圾", group="市容环境", department_id=org.id)
        area = GridArea(
            code="G1", name="网格一", level="grid", path="/",
            geometry={"type": "Polygon", "coordinates": [[[117, 39], [118, 39], [118, 40],
                                                          [117, 39]]]},
            min_lon=117, min_lat=39, max_lon=118, max_lat=40, center_lon=117.5, center_lat=39.5,
        )  # fmt: skip
        session.add_all([category, area])
        session.flush()
    area_id = session.scalar(select(GridArea.id).where(GridArea.code == "G1"))
    event = GridEvent(
        category_id=category.id, area_id=area_id, command_area_id=area_id, level="street",
        lon=117.2, lat=39.1, description=f"event {n}", source="grid_worker", state="reported",
    )  # fmt: skip
    session.add(event)
    session.flush()
    return event


@pytest.fixture()
def home(settings) -> Path:
    return settings.home


def stored_files(home: Path) -> list[Path]:
    root = home / "grid" / "photos"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def rows(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Attachment)) or 0


def store(db, home: Path, data: bytes, *, event_n: int = 1, **kw: Any) -> Attachment:
    kw.setdefault("declared_type", None)
    kw.setdefault("filename", "photo")
    with db.session() as s:
        event = s.scalar(select(GridEvent).where(GridEvent.description == f"event {event_n}"))
        event = event or new_event(s, event_n)
        return photos.store_photo(
            s, event, data, uploaded_by="wang", step_seq=1, home=home, max_bytes=MiB, **kw
        )


# --- accepted photos ----------------------------------------------------------------------


def test_a_jpeg_is_stored_with_its_gps_and_time(db, home) -> None:
    data = image("JPEG", (64, 48), gps=TIANJIN, taken="2024:05:01 08:30:00")
    row = store(db, home, data, declared_type="image/jpeg", filename="现场.jpg")
    assert (row.media_type, row.size, row.width, row.height) == ("image/jpeg", len(data), 64, 48)
    assert row.lat == pytest.approx(39.125) and row.lon == pytest.approx(117.2)
    assert row.taken_at == dt.datetime(2024, 5, 1, 0, 30, tzinfo=dt.UTC)  # 08:30 in Tianjin
    assert (row.filename, row.uploaded_by, row.step_seq) == ("现场.jpg", "wang", 1)
    path = photos.photo_path(home, row)
    sha = row.sha256
    assert path.relative_to(home) == Path("grid/photos", sha[:2], sha[2:4], f"{sha}.jpg")
    assert path.read_bytes() == data and stored_files(home) == [path]  # no temp file left
    with db.session() as s:
        [listed] = photos.list_photos(s, row.event_id)
        assert listed.taken_at == row.taken_at and listed.lon == pytest.approx(117.2)


def test_png_with_south_west_gps_and_webp_without_exif(db, home) -> None:
    png = store(db, home, image("PNG", (30, 20), gps=SANTIAGO), filename="a.png")
    assert (png.media_type, png.width, png.height) == ("image/png", 30, 20)
    assert png.lat == pytest.approx(-33.45) and png.lon == pytest.approx(-70.66)
    webp = store(db, home, image("WEBP", (17, 9)), declared_type="image/webp", filename="b.webp")
    assert (webp.media_type, webp.width, webp.height) == ("image/webp", 17, 9)
    assert (webp.lon, webp.lat, webp.taken_at) == (None, None, None)
    assert photos.photo_path(home, webp).suffix == ".webp"
    exif_webp = store(db, home, image("WEBP", gps=TIANJIN, taken="2023:12:31 23:59:59"))
    assert exif_webp.lat == pytest.approx(39.125)
    assert exif_webp.taken_at == dt.datetime(2023, 12, 31, 15, 59, 59, tzinfo=dt.UTC)


def test_an_explicit_exif_offset_wins_over_city_time(db, home) -> None:
    row = store(db, home, image("JPEG", taken="2024:05:01 08:30:00", offset="+02:00"))
    assert row.taken_at == dt.datetime(2024, 5, 1, 6, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("declared", "filename", "kept"),
    [
        ("image/jpg", "IMG_0001.JPG", "IMG_0001.JPG"),
        ("image/jpeg; charset=binary", "a.jpeg", "a.jpeg"),
        ("application/octet-stream", "IMG_0002", "IMG_0002"),
        (None, "C:\\fakepath\\街道.jpg", "街道.jpg"),
        ("", "../../etc/x.jfif", "x.jfif"),
    ],
)
def test_honest_claims_are_accepted(db, home, declared, filename, kept) -> None:
    row = store(db, home, image("JPEG"), declared_type=declared, filename=filename)
    assert row.filename == kept
    assert photos.photo_path(home, row).is_relative_to(home / "grid" / "photos")


def test_same_bytes_are_stored_once(db, home) -> None:
    data = image("JPEG", gps=TIANJIN)
    first = store(db, home, data, event_n=1)
    second = store(db, home, data, event_n=2, filename="again.jpg")
    assert first.event_id != second.event_id and first.sha256 == second.sha256
    again = store(db, home, data, event_n=1, filename="third time.jpg")
    assert again.id == first.id and again.filename == "photo"
    assert rows(db) == 2 and len(stored_files(home)) == 1


@pytest.mark.parametrize(
    ("value", "ref", "limit", "expected"),
    [
        ((39.0, 7.0, 30.0), "N", 90, 39.125),
        ((117.0, 12.0, 0.0), b"E\x00", 180, 117.2),
        ((33.0, 27.0, 0.0), "S", 90, -33.45),
        ((39.125,), "N", 90, 39.125),
        ((39.0, 75.0, 0.0), "N", 90, None),  # minutes ≥ 60
        ((39.0, 7.0, 60.0), "N", 90, None),  # seconds ≥ 60
        ((95.0, 0.0, 0.0), "N", 90, None),  # beyond the pole
        ((181.0, 0.0, 0.0), "E", 180, None),
        ((39.0, 7.0, 30.0), "E", 90, None),  # a longitude ref on a latitude
        ((39.0, 7.0, 30.0), "X", 90, None),
        ((39.0, 7.0, 30.0), None, 90, None),
        ((float("nan"), 0.0, 0.0), "N", 90, None),
        ((-39.0, 0.0, 0.0), "N", 90, None),
        ("garbage", "N", 90, None),
        (None, "N", 90, None),
    ],
)
def test_gps_degrees(value, ref, limit, expected) -> None:
    got = gps_degrees(value, ref, limit)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_nonsense_exif_costs_the_location_not_the_photo(db, home) -> None:
    bad = ("N", (39.0, 75.0, 0.0), "E", (117.0, 12.0, 0.0))
    row = store(db, home, image("JPEG", gps=bad, taken="0000:00:00 00:00:00"))
    assert (row.lon, row.lat, row.taken_at) == (None, None, None)
    assert exif_time("    :  :     :  :  ") is None
    assert exif_time("2999:01:01 00:00:00") is None  # a camera clock in the future
    assert exif_time(b"2024:02:29 12:00:00\x00") == dt.datetime(2024, 2, 29, 4, tzinfo=dt.UTC)


# --- refused uploads ----------------------------------------------------------------------


def _truncated_jpeg() -> bytes:
    data = image("JPEG", (256, 256), noise=True)
    return data[: len(data) // 2]


def _corrupt_png() -> bytes:
    data = bytearray(image("PNG", (64, 64), noise=True))
    data[len(data) // 2] ^= 0xFF  # inside IDAT: its CRC no longer matches
    return bytes(data)


def _heic() -> bytes:
    return b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64


REFUSED: list[tuple[str, Any, dict[str, Any], type[ZhiliError], str, list[str]]] = [
    ("empty", b"", {}, InvalidInput, "grid.photo_empty", ["photo"]),
    ("text", b"just some words\n", {}, UnsupportedMediaType, "grid.photo_not_image",
     ["text/plain", "JPEG, PNG or WebP"]),
    ("html", b"<!DOCTYPE html><html><body>hi</body></html>", {"declared_type": "image/png"},
     UnsupportedMediaType, "grid.photo_not_image", ["HTML"]),
    ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", {}, UnsupportedMediaType,
     "grid.photo_not_image", ["PDF"]),
    ("gif", lambda: image("GIF"), {"filename": "a.gif"}, UnsupportedMediaType,
     "grid.photo_not_image", ["GIF (image/gif)"]),
    ("svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>', {},
     UnsupportedMediaType, "grid.photo_not_image", ["SVG"]),
    ("heic", _heic, {"filename": "IMG_1.HEIC"}, UnsupportedMediaType, "grid.photo_not_image",
     ["HEIC"]),
    ("binary", b"\x7fELF\x02\x01\x01" + b"\x00" * 9, {}, UnsupportedMediaType,
     "grid.photo_not_image", ["application/octet-stream"]),
    ("mp4", b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 32, {},
     UnsupportedMediaType, "grid.photo_not_image", ["MP4 (video/mp4)"]),
    ("png as jpeg", lambda: image("PNG"), {"declared_type": "image/jpeg"}, InvalidInput,
     "grid.photo_type_mismatch", ["image/jpeg", "PNG"]),
    ("jpeg as text", lambda: image("JPEG"), {"declared_type": "text/plain"}, InvalidInput,
     "grid.photo_type_mismatch", ["text/plain", "JPEG"]),
    ("png name on jpeg", lambda: image("JPEG"), {"filename": "shot.png"}, InvalidInput,
     "grid.photo_name_mismatch", [".png", "JPEG"]),
    ("pdf name on jpeg", lambda: image("JPEG"), {"filename": "report.pdf"}, InvalidInput,
     "grid.photo_name_mismatch", [".pdf"]),
    ("truncated jpeg", _truncated_jpeg, {}, InvalidInput, "grid.photo_corrupt",
     ["JPEG", "truncated"]),
    ("corrupt png", _corrupt_png, {}, InvalidInput, "grid.photo_corrupt", ["PNG"]),
    ("png bomb", png_bomb, {}, InvalidInput, "grid.photo_too_many_pixels",
     ["10,000,000,000", "50,000,000"]),
    ("just over the limit", lambda: png_bomb(10_000, 5_001), {}, InvalidInput,
     "grid.photo_too_many_pixels", ["10000×5001"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "data", "kw", "error", "code", "texts"), REFUSED, ids=[r[0] for r in REFUSED]
)
def test_refused_uploads_leave_nothing(db, home, label, data, kw, error, code, texts) -> None:
    payload = data() if callable(data) else data
    with pytest.raises(error) as caught:
        store(db, home, payload, **kw)
    assert caught.value.code == code
    message = caught.value.message("en")
    assert message.startswith("Photo 1 (")
    for text in texts:
        assert text in message, message
    assert caught.value.message("zh-CN").startswith("第 1 张照片")
    assert stored_files(home) == [] and rows(db) == 0


def test_too_large_names_the_size_and_the_limit(db, home, monkeypatch) -> None:
    data = image("PNG", (128, 128), noise=True)
    assert len(data) > 40 * 1024
    with pytest.raises(PayloadTooLarge) as caught:
        photos.check_photo(data, declared_type=None, filename="big.png", max_bytes=40 * 1024)
    assert caught.value.status == 413
    message = caught.value.message("en")
    assert f"{len(data) / 1024:.1f} KiB" in message and "40.0 KiB" in message, message
    # without max_bytes, store_photo applies ZHILI_GRID_PHOTO_MAX_BYTES
    assert get_settings().grid_photo_max_bytes == 10 * MiB
    monkeypatch.setenv("ZHILI_GRID_PHOTO_MAX_BYTES", str(32 * 1024))
    get_settings.cache_clear()
    with db.session() as s, pytest.raises(PayloadTooLarge):
        photos.store_photo(
            s, new_event(s), data, declared_type=None, filename="big.png",
            uploaded_by="wang", step_seq=None, home=home,
        )  # fmt: skip
    assert stored_files(home) == [] and rows(db) == 0


def test_a_small_pixel_limit_refuses_a_real_image() -> None:
    with pytest.raises(InvalidInput) as caught:
        photos.check_photo(
            image("JPEG", (100, 100)), declared_type=None, filename="x.jpg", max_bytes=MiB,
            max_pixels=9_999,
        )  # fmt: skip
    assert caught.value.code == "grid.photo_too_many_pixels"


# --- batches ------------------------------------------------------------------------------


def test_a_batch_with_a_bad_third_file_stores_nothing(db, home) -> None:
    uploads = [
        photos.PhotoUpload(image("JPEG", gps=TIANJIN), "1.jpg", "image/jpeg"),
        photos.PhotoUpload(image("PNG"), "2.png", "image/png"),
        photos.PhotoUpload(image("JPEG", (20, 20)), "3.png", "image/png"),
    ]
    with db.session() as s, pytest.raises(InvalidInput) as caught:
        photos.store_photos(
            s, new_event(s), uploads, uploaded_by="wang", step_seq=1, home=home, max_bytes=MiB
        )
    assert caught.value.params["index"] == 3 and caught.value.params["filename"] == "3.png"
    assert caught.value.message("en").startswith("Photo 3 (3.png) says it is image/png")
    assert stored_files(home) == [] and rows(db) == 0


def test_a_good_batch_and_the_per_step_limit(db, home) -> None:
    shots = [image("JPEG", (10 + i, 10)) for i in range(photos.MAX_PHOTOS_PER_STEP + 1)]
    with db.session() as s:
        event = new_event(s)
        first = photos.store_photos(
            s, event,
            [photos.PhotoUpload(d, f"{i}.jpg") for i, d in enumerate(shots[:8])]
            + [photos.PhotoUpload(shots[0], "dup.jpg")],
            uploaded_by="wang", step_seq=1, home=home, max_bytes=MiB,
        )  # fmt: skip
        assert len(first) == 9 and first[8].id == first[0].id  # the duplicate is one photo
        assert [r.width for r in photos.list_photos(s, event.id)] == list(range(10, 18))
        with pytest.raises(InvalidInput) as caught:
            photos.store_photos(
                s, event, [photos.PhotoUpload(d) for d in shots[8:]],
                uploaded_by="wang", step_seq=1, home=home, max_bytes=MiB,
            )  # fmt: skip
        assert caught.value.code == "grid.photo_too_many"
        assert caught.value.params == {"limit": 9, "already": 8, "count": 2}
        # another step of the same event has its own nine
        more = photos.store_photos(
            s, event, [photos.PhotoUpload(d) for d in shots[8:]],
            uploaded_by="li", step_seq=2, home=home, max_bytes=MiB,
        )  # fmt: skip
        assert [r.step_seq for r in more] == [2, 2]
    assert rows(db) == 10 and len(stored_files(home)) == 10
