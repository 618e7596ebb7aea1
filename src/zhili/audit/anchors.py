"""Chain heads recorded outside the database.

A chain proves that nothing was changed *between* entries, but someone who can write the
database could rewrite an entry and recompute every hash after it, or delete the newest
entries: the result is a shorter or different, yet self-consistent, chain. What exposes that
is a head ``(seq, hash)`` written down earlier somewhere the database's owner cannot edit —
the way X-Road records the chain head of each archived log. ``zhili audit verify`` keeps
the heads it has verified in ``ZHILI_HOME/audit/anchors.jsonl`` (copy them off the machine
too, or print them into a signed report), and checks every one on each run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from zhili.clock import utcnow
from zhili.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Anchor:
    """The hash the entry ``seq`` had when somebody verified the chain at ``at``."""

    seq: int
    hash: str
    at: str = ""

    @classmethod
    def parse(cls, value: str) -> Anchor:
        """``SEQ:HASH`` as printed by ``zhili audit verify``."""
        seq, _, digest = value.partition(":")
        if not seq.strip().isdigit() or len(digest.strip()) != 64:
            raise InvalidInput(
                "audit.bad_anchor",
                "an anchor is SEQ:HASH (64 hex digits), got {value}",
                value=value,
            )
        return cls(int(seq), digest.strip().lower(), "given")


def anchors_path(home: Path) -> Path:
    return home / "audit" / "anchors.jsonl"


def load(path: Path) -> list[Anchor]:
    """The anchors recorded in ``path`` (none when it does not exist)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            out.append(Anchor(int(item["seq"]), str(item["hash"]), str(item.get("at", ""))))
    return out


def record(path: Path, seq: int, digest: str) -> Anchor | None:
    """Append the head ``(seq, digest)`` unless it is already the last anchor (or empty)."""
    if seq <= 0:
        return None
    known = load(path)
    if known and known[-1].seq >= seq:
        return None
    anchor = Anchor(seq, digest, utcnow().isoformat(timespec="seconds"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(asdict(anchor)) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return anchor
