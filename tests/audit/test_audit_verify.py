"""Verifying: every way of tampering with stored entries is found, and the first broken
entry is named — in one pass and split across worker processes; the CLI's exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from audit_data import (
    attack,
    copy_as,
    fill,
    rehash_forward,
    row_hash,
    shift_up,
    stored_hash,
)
from typer.testing import CliRunner

from zhili.audit import GENESIS, anchors
from zhili.audit.anchors import Anchor
from zhili.audit.verify import REASONS, verify
from zhili.cli.main import app
from zhili.db import Database
from zhili.errors import InvalidInput

N = 30


@pytest.fixture()
def chain(db: Database) -> Database:
    fill(db, N)
    return db


def edit(db: Database) -> None:
    attack(db, "UPDATE audit_entries SET purpose = 'nothing to see' WHERE seq = 7")


def edit_and_rehash(db: Database) -> None:
    """The edited entry hashes correctly again; the next one no longer links to it."""
    attack(db, "UPDATE audit_entries SET row_count = 0 WHERE seq = 8")
    attack(db, "UPDATE audit_entries SET hash = :h WHERE seq = 8", h=row_hash(db, 8))


def delete(db: Database) -> None:
    attack(db, "DELETE FROM audit_entries WHERE seq = 12")


def delete_range_end(db: Database) -> None:
    attack(db, "DELETE FROM audit_entries WHERE seq = 16")


def delete_range_start(db: Database) -> None:
    attack(db, "DELETE FROM audit_entries WHERE seq = 17")


def insert_unlinked(db: Database) -> None:
    """Entry 3 replayed as a new entry 15: its own hash is right, its link is not."""
    prev3 = stored_hash(db, 2)
    digest = row_hash(db, 3, new_seq=15)
    shift_up(db, 15)
    copy_as(db, 3, 15, prev3, digest)


def insert_linked(db: Database) -> None:
    """A forged entry 15 linked to entry 14, with every later hash recomputed."""
    h14 = stored_hash(db, 14)
    digest = row_hash(db, 3, prev=h14, new_seq=15)
    shift_up(db, 15)
    copy_as(db, 3, 15, h14, digest)
    rehash_forward(db, 16)


def swap(db: Database) -> None:
    attack(
        db,
        "UPDATE audit_entries SET seq = -1 WHERE seq = 20",
        "UPDATE audit_entries SET seq = 20 WHERE seq = 21",
        "UPDATE audit_entries SET seq = 21 WHERE seq = -1",
    )


def swap_and_rehash(db: Database) -> None:
    """Swapped, each re-hashed for its new seq: the links still give it away."""
    swap(db)
    for seq in (20, 21):
        attack(db, "UPDATE audit_entries SET hash = :h WHERE seq = :s", h=row_hash(db, seq), s=seq)


def truncate_tail(db: Database) -> None:
    attack(db, "DELETE FROM audit_entries WHERE seq >= 29")


# (tamper, first broken seq, reason); anchors are the heads of entries 10, 20 and 30
# as recorded before the tampering.
CASES: list[tuple[Callable[[Database], None], int, str]] = [
    (edit, 7, "hash_mismatch"),
    (edit_and_rehash, 9, "broken_link"),
    (delete, 12, "missing_seq"),
    (delete_range_end, 16, "missing_seq"),
    (delete_range_start, 17, "missing_seq"),
    (insert_unlinked, 15, "broken_link"),
    (insert_linked, 20, "anchor_mismatch"),
    (swap, 20, "hash_mismatch"),
    (swap_and_rehash, 20, "broken_link"),
    (truncate_tail, 29, "missing_seq"),
]


def _anchors(db: Database) -> list[Anchor]:
    return [Anchor(seq, stored_hash(db, seq), "before") for seq in (10, 20, 30)]


def test_intact_chain(chain: Database) -> None:
    result = verify(chain, anchors=_anchors(chain))
    assert result.ok and result.entries == N and result.anchors_checked == 3
    assert result.head_hash == stored_hash(chain, N)
    assert result.message == f"{N} entries intact, head {result.head_hash}"


def test_empty_log_is_intact(db: Database) -> None:
    result = verify(db)
    assert result.ok and result.entries == 0 and result.head_hash == GENESIS


@pytest.mark.parametrize(("tamper", "seq", "reason"), CASES, ids=[c[0].__name__ for c in CASES])
def test_tampering_is_found(chain: Database, tamper, seq: int, reason: str) -> None:
    known = _anchors(chain)
    tamper(chain)
    result = verify(chain, anchors=known)
    assert not result.ok
    assert (result.broken_seq, result.reason) == (seq, reason), result.message
    assert result.entries == seq - 1 and str(seq) in result.message
    assert result.reason in REASONS


@pytest.mark.parametrize(("tamper", "seq", "reason"), CASES, ids=[c[0].__name__ for c in CASES])
def test_parallel_verify_names_the_same_entry(
    chain: Database, tamper, seq: int, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ranges of 8 entries in two processes: breaks inside ranges and where they meet."""
    monkeypatch.setattr("zhili.audit.verify.SPAN", 8)
    known = _anchors(chain)
    assert verify(chain, anchors=known, workers=2).ok
    tamper(chain)
    result = verify(chain, anchors=known, workers=2)
    assert (result.broken_seq, result.reason) == (seq, reason), result.message
    assert result.entries == seq - 1


def test_without_anchors_a_full_rewrite_or_a_cut_tail_looks_intact(chain: Database) -> None:
    """What the chain alone cannot see, and why heads are recorded outside the database."""
    insert_linked(chain)
    assert verify(chain).ok and verify(chain).entries == N + 1
    truncate_tail(chain)
    assert verify(chain).ok and verify(chain).entries == 28


def test_anchor_mismatch_says_since_when(chain: Database) -> None:
    known = _anchors(chain)
    insert_linked(chain)
    result = verify(chain, anchors=known)
    assert "after entry 10" in result.message


def test_unreadable_entry(chain: Database) -> None:
    if chain.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL refuses bytes in a text column")
    attack(chain, "UPDATE audit_entries SET purpose = X'00ff' WHERE seq = 5")
    result = verify(chain)
    assert (result.broken_seq, result.reason) == (5, "malformed")


def test_a_time_in_another_format_fails_to_hash(chain: Database) -> None:
    if chain.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL refuses a timestamp that is not one")
    attack(chain, "UPDATE audit_entries SET at = 'yesterday' WHERE seq = 5")
    result = verify(chain)
    assert (result.broken_seq, result.reason) == (5, "hash_mismatch")


def test_anchor_file(tmp_path) -> None:
    path = anchors.anchors_path(tmp_path)
    assert anchors.load(path) == []
    assert anchors.record(path, 0, GENESIS) is None
    first = anchors.record(path, 5, "a" * 64)
    assert first is not None and anchors.record(path, 5, "a" * 64) is None
    anchors.record(path, 9, "b" * 64)
    assert [(a.seq, a.hash) for a in anchors.load(path)] == [(5, "a" * 64), (9, "b" * 64)]
    assert json.loads(path.read_text().splitlines()[0])["seq"] == 5
    assert Anchor.parse(f"12:{'C' * 64}") == Anchor(12, "c" * 64, "given")
    with pytest.raises(InvalidInput):
        Anchor.parse("12:abc")


runner = CliRunner()


@pytest.fixture()
def cli(settings, chain):
    def run(*args: str):
        return runner.invoke(app, list(args))

    return run


def test_cli_verify_exit_codes(cli, chain: Database, settings) -> None:
    r = cli("audit", "verify")
    assert r.exit_code == 0, r.output
    head = stored_hash(chain, N)
    assert f"{N} entries intact, head {head}" in r.output
    path = anchors.anchors_path(settings.home)
    assert [(a.seq, a.hash) for a in anchors.load(path)] == [(N, head)]

    insert_linked(chain)  # consistent again, but not with the head recorded above
    r = cli("audit", "verify")
    assert r.exit_code == 1
    assert f"entry {N}" in r.output and "anchor_mismatch" in r.output

    r = cli("audit", "verify", "--anchor", "5:nothex")
    assert r.exit_code == 2 and "audit.bad_anchor" in r.output


def test_cli_verify_names_an_edit(cli, chain: Database) -> None:
    edit(chain)
    r = cli("audit", "verify", "--no-record")
    assert r.exit_code == 1
    assert "entry 7" in r.output and "hash_mismatch" in r.output


def test_cli_tail(cli) -> None:
    r = cli("audit", "tail", "-n", "3")
    assert r.exit_code == 0, r.output
    assert "30" in r.output and "exchange.read" in r.output
