"""Event photos (照片附件): checked, stored once by content, located by their EXIF.

A photo is trusted only after it has proven itself: its real type comes from its first
bytes (JPEG, PNG or WebP; nothing else), the Content-Type and file name it arrives with
must agree with that type, its pixel count is bounded before anything is decoded (a
small file can claim 100000×100000 pixels), and Pillow must verify and fully decode it.
Only then is it written, under ``ZHILI_HOME/grid/photos/<sha[:2]>/<sha[2:4]>/<sha>.<ext>``,
atomically, so the same bytes are stored once however many events show them; a file
whose transaction does not commit is removed again (``photo_files``).

EXIF GPS and ``DateTimeOriginal`` are read when present and sane; a phone with no fix or a
scrambled tag simply gives no location or time, never a refusal.

Who may see a photo is not decided here: callers ask the event visibility rules first,
and this module serves nothing itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import mimetypes
import re
import struct
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.apps.grid.event_models import Attachment, GridEvent
from zhili.apps.grid.photo_exif import exif_facts
from zhili.apps.grid.photo_files import write_photo
from zhili.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from zhili.settings import get_settings

#: photos one step (the report, a handling note, a check) may carry, as on WeChat
MAX_PHOTOS_PER_STEP = 9
#: pixels a photo may have (a 50 MP camera); decoding more is a memory attack
MAX_PIXELS = 50_000_000

#: the accepted types: media type → (Pillow format, file extension on disk)
FORMATS: dict[str, tuple[str, str]] = {
    "image/jpeg": ("JPEG", "jpg"),
    "image/png": ("PNG", "png"),
    "image/webp": ("WEBP", "webp"),
}
#: short names of the types we recognise, for messages
_NAMES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "image/gif": "GIF",
    "image/heic": "HEIC",
    "image/avif": "AVIF",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    "image/vnd.microsoft.icon": "ICO",
    "image/svg+xml": "SVG",
    "application/pdf": "PDF",
    "application/zip": "ZIP",
    "application/xml": "XML",
    "text/html": "HTML",
    "video/mp4": "MP4",
}
_EXTENSIONS = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".jfif": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
#: declared types that claim nothing (what a browser sends when it does not know)
_NO_CLAIM = {"", "application/octet-stream", "binary/octet-stream"}
_SHA = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class PhotoUpload:
    """One file as it arrived: bytes, the name it was sent under, its Content-Type."""

    data: bytes = field(repr=False)
    filename: str = ""
    declared_type: str | None = None


@dataclass(frozen=True)
class CheckedPhoto:
    """A photo that passed every check, with what it says about itself."""

    data: bytes = field(repr=False)
    sha256: str
    media_type: str
    size: int
    width: int
    height: int
    filename: str
    lon: float | None = None
    lat: float | None = None
    taken_at: dt.datetime | None = None


# --- checking ------------------------------------------------------------------------------


def check_photo(
    data: bytes,
    *,
    declared_type: str | None,
    filename: str,
    max_bytes: int,
    max_pixels: int = MAX_PIXELS,
    index: int = 1,
) -> CheckedPhoto:
    """Accept ``data`` as a photo or refuse it naming why; ``index`` numbers it in a batch.

    Cheap checks come first (size, magic bytes, claims) so a hostile upload is refused
    before Pillow parses a byte of it.
    """
    name = clean_filename(filename)
    who = {"index": index, "filename": name or "-"}
    if not data:
        raise InvalidInput("grid.photo_empty", "Photo {index} ({filename}) is empty.", **who)
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            "grid.photo_too_large",
            "Photo {index} ({filename}) is {size}; photos may be at most {limit}.",
            size=_human(len(data)),
            limit=_human(max_bytes),
            **who,
        )
    found = sniff(data)
    if found not in FORMATS:
        raise UnsupportedMediaType(
            "grid.photo_not_image",
            "Photo {index} ({filename}) is {found}, not a photo: send JPEG, PNG or WebP.",
            found=_describe(found),
            **who,
        )
    claimed = _normalise_type(declared_type)
    if claimed is not None and claimed != found:
        raise InvalidInput(
            "grid.photo_type_mismatch",
            "Photo {index} ({filename}) says it is {declared} but is {found} data.",
            declared=claimed,
            found=_NAMES[found],
            **who,
        )
    suffix = PurePosixPath(name).suffix.lower()
    by_name = _EXTENSIONS.get(suffix) or (mimetypes.guess_type("x" + suffix)[0] if suffix else None)
    if by_name is not None and by_name != found:
        raise InvalidInput(
            "grid.photo_name_mismatch",
            "Photo {index} ({filename}) is named {extension} but is {found} data.",
            extension=suffix,
            found=_NAMES[found],
            **who,
        )
    width, height, facts = _decode(data, found, max_pixels, who)
    return CheckedPhoto(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        media_type=found,
        size=len(data),
        width=width,
        height=height,
        filename=name,
        **facts,
    )


def sniff(data: bytes) -> str:
    """The media type ``data`` really is, from its magic bytes (never from its claims)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[4:8] == b"ftyp":  # ISO base media: HEIC and AVIF photos, but also MP4 video
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        heif = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
        return "image/heic" if brand in heif else "video/mp4"
    binary = {
        b"%PDF-": "application/pdf",
        b"BM": "image/bmp",
        b"II*\x00": "image/tiff",
        b"MM\x00*": "image/tiff",
        b"PK\x03\x04": "application/zip",
        b"\x00\x00\x01\x00": "image/vnd.microsoft.icon",
    }
    for magic, media_type in binary.items():
        if data.startswith(magic):
            return media_type
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in head:
        return "image/svg+xml"
    if head.startswith((b"<!doctype html", b"<html")) or any(
        tag in head for tag in (b"<head", b"<body", b"<script")
    ):
        return "text/html"
    if head.startswith(b"<?xml"):
        return "application/xml"
    return "text/plain" if _is_text(data[:2048]) else "application/octet-stream"


def clean_filename(filename: str) -> str:
    """The base name a client sent, without directories or control characters, ≤ 200 chars.

    The name is only shown to people; files on disk are named by their hash.
    """
    base = re.split(r"[/\\]", filename or "")[-1]
    base = "".join(c for c in base if unicodedata.category(c) not in ("Cc", "Cf")).strip()
    if len(base) > 200:
        suffix = PurePosixPath(base).suffix[:20]
        base = base[: 200 - len(suffix)] + suffix
    return base


def _decode(
    data: bytes, media_type: str, max_pixels: int, who: dict[str, Any]
) -> tuple[int, int, dict[str, Any]]:
    """Width, height and EXIF facts of a photo Pillow can read to its last pixel."""
    pil_format = FORMATS[media_type][0]
    try:
        with Image.open(io.BytesIO(data), formats=[pil_format]) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise _too_many_pixels(f"{width}×{height}", max_pixels, who)
            im.verify()  # structure and checksums, without decoding
        with Image.open(io.BytesIO(data), formats=[pil_format]) as im:
            im.load()  # every pixel: a truncated file fails here
            facts = exif_facts(im)
    except Image.DecompressionBombError as exc:  # claims more than Pillow's own hard limit
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_many_pixels(
            f"{int(claimed.group(1)):,}" if claimed else "?", max_pixels, who
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error) as exc:
        raise InvalidInput(
            "grid.photo_corrupt",
            "Photo {index} ({filename}) is damaged or truncated {found} data: {reason}",
            found=_NAMES[media_type],
            reason=str(exc) or type(exc).__name__,
            **who,
        ) from exc
    return width, height, facts


def _too_many_pixels(size: str, max_pixels: int, who: dict[str, Any]) -> InvalidInput:
    return InvalidInput(
        "grid.photo_too_many_pixels",
        "Photo {index} ({filename}) has {pixels} pixels; at most {limit} pixels are accepted.",
        pixels=size,
        limit=f"{max_pixels:,}",
        **who,
    )


def _normalise_type(declared: str | None) -> str | None:
    value = (declared or "").split(";", 1)[0].strip().lower()
    if value in _NO_CLAIM:
        return None
    return _ALIASES.get(value, value)


def _describe(media_type: str) -> str:
    name = _NAMES.get(media_type)
    return f"{name} ({media_type})" if name else media_type


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # only a character cut at the end
    return True


def _human(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


# --- storing -------------------------------------------------------------------------------


def photo_path(home: Path, attachment: Attachment | CheckedPhoto) -> Path:
    """Where the photo's bytes live under ``home`` (ZHILI_HOME)."""
    sha = attachment.sha256
    if not _SHA.fullmatch(sha) or attachment.media_type not in FORMATS:
        raise ValueError(f"not a stored photo: {sha!r} {attachment.media_type!r}")
    ext = FORMATS[attachment.media_type][1]
    return home / "grid" / "photos" / sha[:2] / sha[2:4] / f"{sha}.{ext}"


def store_photo(
    session: Session,
    event: GridEvent,
    data: bytes,
    *,
    declared_type: str | None,
    filename: str,
    uploaded_by: str,
    step_seq: int | None,
    home: Path,
    max_bytes: int | None = None,
) -> Attachment:
    """Check one photo and attach it to ``event``; the same photo again gives its row."""
    checked = check_photo(
        data, declared_type=declared_type, filename=filename, max_bytes=_limit(max_bytes)
    )
    return _attach(session, event, checked, uploaded_by, step_seq, home)


def store_photos(
    session: Session,
    event: GridEvent,
    uploads: Sequence[PhotoUpload],
    *,
    uploaded_by: str,
    step_seq: int | None,
    home: Path,
    max_bytes: int | None = None,
) -> list[Attachment]:
    """Attach a step's photos all or nothing: every file is checked before any is stored.

    Returns one row per upload (a photo sent twice gives the same row twice). At most
    :data:`MAX_PHOTOS_PER_STEP` distinct photos may sit on one step.
    """
    limit = _limit(max_bytes)
    checked = [
        check_photo(
            u.data,
            declared_type=u.declared_type,
            filename=u.filename,
            max_bytes=limit,
            index=i,
        )
        for i, u in enumerate(uploads, start=1)
    ]
    if event.id is None:
        session.flush()
    on_event = set(
        session.scalars(select(Attachment.sha256).where(Attachment.event_id == event.id))
    )
    new = {c.sha256 for c in checked} - on_event
    at_step = Attachment.step_seq.is_(None) if step_seq is None else Attachment.step_seq == step_seq
    already = session.scalar(
        select(func.count()).select_from(Attachment).where(Attachment.event_id == event.id, at_step)
    )
    if (already or 0) + len(new) > MAX_PHOTOS_PER_STEP:
        raise InvalidInput(
            "grid.photo_too_many",
            "A step may carry at most {limit} photos; it has {already} and {count} more were sent.",
            limit=MAX_PHOTOS_PER_STEP,
            already=already or 0,
            count=len(new),
        )
    return [_attach(session, event, c, uploaded_by, step_seq, home) for c in checked]


def list_photos(session: Session, event_id: int) -> list[Attachment]:
    """An event's photos in the order they were attached."""
    query = select(Attachment).where(Attachment.event_id == event_id).order_by(Attachment.id)
    return list(session.scalars(query))


def _attach(
    session: Session,
    event: GridEvent,
    checked: CheckedPhoto,
    uploaded_by: str,
    step_seq: int | None,
    home: Path,
) -> Attachment:
    if event.id is None:
        session.flush()
    existing = session.scalar(
        select(Attachment).where(
            Attachment.event_id == event.id, Attachment.sha256 == checked.sha256
        )
    )
    if existing is not None:
        return existing
    write_photo(session, photo_path(home, checked), checked.sha256, checked.data)
    row = Attachment(
        event_id=event.id,
        step_seq=step_seq,
        sha256=checked.sha256,
        media_type=checked.media_type,
        size=checked.size,
        width=checked.width,
        height=checked.height,
        filename=checked.filename,
        lon=checked.lon,
        lat=checked.lat,
        taken_at=checked.taken_at,
        uploaded_by=uploaded_by,
    )
    session.add(row)
    session.flush()
    return row


def _limit(max_bytes: int | None) -> int:
    return get_settings().grid_photo_max_bytes if max_bytes is None else max_bytes
