"""Text encodings of uploaded files: detect from a sample, then decode as a stream.

Chinese government data arrives as UTF-8, UTF-8 with a BOM, or GBK/GB18030 (Excel's
"CSV" on a Chinese Windows). Detection order matters (see STACK.md): strict UTF-8 first
(almost never accepts GBK text by accident), then GB18030 (a superset of GBK and GB2312),
and charset-normalizer only as the last resort because it misreads short GBK samples.

The sample is the first 64 KiB, or — when those are plain ASCII, as with long numeric
columns — 64 KiB from the first non-ASCII byte. A sample that decodes as UTF-8, Chinese
included, up to some bytes that do not is a UTF-8 file with foreign bytes (a mixed file),
not GB18030: GB18030 would accept nearly any bytes and turn UTF-8 text into mojibake.

Decoding is strict and streaming: `Utf8Transcoder` turns any encoding into UTF-8 chunk by
chunk for the Arrow CSV reader, and names the byte offset and line of the first byte that
does not decode, so a file that mixes encodings is reported, never turned into mojibake.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from typing import BinaryIO

SAMPLE = 64 * 1024
#: How far to look for the first non-ASCII byte when the sample is plain ASCII.
SCAN_LIMIT = 64 * 1024 * 1024
CHUNK = 1024 * 1024


class EncodingProblem(Exception):
    """Bytes at ``offset`` (0-based) on ``line`` (1-based) are not valid ``encoding``."""

    def __init__(self, offset: int, line: int, encoding: str) -> None:
        super().__init__(f"invalid {encoding} at byte {offset}, line {line}")
        self.offset = offset
        self.line = line
        self.encoding = encoding


def _first_error(data: bytes, encoding: str, final: bool) -> int | None:
    """Offset of the first byte ``data`` cannot decode as ``encoding``, or None."""
    try:
        codecs.getincrementaldecoder(encoding)("strict").decode(data, final)
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def _interesting_sample(f: BinaryIO) -> tuple[bytes, bool]:
    """The first 64 KiB, or, if those are ASCII, 64 KiB from the first non-ASCII byte.

    Returns the sample and whether it runs to the end of the file.
    """
    head = f.read(SAMPLE)
    if not head.isascii():
        return head, len(head) < SAMPLE
    scanned = len(head)
    while scanned < SCAN_LIMIT:
        chunk = f.read(CHUNK)
        if not chunk:
            return head, True
        if not chunk.isascii():
            start = next(i for i, b in enumerate(chunk) if b >= 0x80)
            window = chunk[start : start + SAMPLE]
            if len(window) < SAMPLE:
                window += f.read(SAMPLE - len(window))
            return window, len(window) < SAMPLE
        scanned += len(chunk)
    return head, False


def detect_encoding(path: str | Path) -> str:
    """A Python codec name for the file: ``utf-8``, ``utf-8-sig``, ``gb18030`` or a guess.

    Raises `EncodingProblem` at offset 0 when nothing decodes the sample.
    """
    with open(path, "rb") as f:
        bom = f.read(3) == codecs.BOM_UTF8
        f.seek(0)
        sample, complete = _interesting_sample(f)
    bad = _first_error(sample, "utf-8", complete)
    if bad is None or not sample[:bad].isascii():
        # Either UTF-8, or UTF-8 text (it has decoded non-ASCII characters) with foreign
        # bytes later: a mixed file, which strict UTF-8 decoding will then report, rather
        # than GB18030 (which accepts almost any bytes) turning it into mojibake.
        return "utf-8-sig" if bom else "utf-8"
    if _first_error(sample, "gb18030", complete) is None:
        return "gb18030"
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None or not best.encoding:
        raise EncodingProblem(0, 1, "any known encoding")
    return str(best.encoding)


class Utf8Transcoder(io.RawIOBase):
    """A read-only binary stream of UTF-8 bytes decoded strictly from ``raw`` in ``encoding``.

    Keeps one chunk in memory. Raises `EncodingProblem` with the absolute byte offset and
    line of the first undecodable byte.
    """

    def __init__(self, raw: BinaryIO, encoding: str, chunk: int = CHUNK) -> None:
        super().__init__()
        self._raw = raw
        self._encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")
        self._chunk = chunk
        self._out = b""
        self._pos = 0
        self._consumed = 0
        self._newlines = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while self._pos >= len(self._out) and not self._eof:
            data = self._raw.read(self._chunk)
            self._eof = not data
            pending = self._decoder.getstate()[0]
            try:
                text = self._decoder.decode(data, self._eof)
            except UnicodeDecodeError as exc:
                bad = exc.start - len(pending)  # position inside ``data``, may be negative
                offset = self._consumed + bad
                line = self._newlines + data[: max(bad, 0)].count(b"\n") + 1
                raise EncodingProblem(offset, line, self._encoding) from exc
            self._consumed += len(data)
            self._newlines += data.count(b"\n")
            self._out = text.encode("utf-8")
            self._pos = 0

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        self._fill()
        n = min(len(buffer), len(self._out) - self._pos)
        buffer[:n] = self._out[self._pos : self._pos + n]
        self._pos += n
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def locate_invalid(path: str | Path, encoding: str) -> EncodingProblem | None:
    """The first undecodable byte of the file, or None if it all decodes."""
    with Utf8Transcoder(open(path, "rb"), encoding) as stream:
        try:
            while stream.read(CHUNK * 4):
                pass
        except EncodingProblem as problem:
            return problem
    return None


def open_utf8(path: str | Path, encoding: str) -> io.BufferedReader:
    """The file as strict UTF-8 bytes (undecodable bytes raise `EncodingProblem`)."""
    raw = open(path, "rb")  # noqa: SIM115 - owned (and closed) by the returned stream
    return io.BufferedReader(Utf8Transcoder(raw, encoding), CHUNK)


def open_text(path: str | Path, encoding: str) -> io.TextIOWrapper:
    """The file as a strict text stream (undecodable bytes raise `EncodingProblem`)."""
    return io.TextIOWrapper(open_utf8(path, encoding), encoding="utf-8", newline="")
