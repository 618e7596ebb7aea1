"""`zhili verify link|dedupe`: files in, matches with evidence out (CSV or Parquet), one-line
errors with exit status 2 on bad input, never a traceback."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner
from verify_data import rosters

from zhili.cli.main import app

EVIDENCE = ("gamma_name", "label_name", "bf_name", "gamma_id_number", "bf_birth_date")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("verify-cli")
    roster, reference, _ = rosters()
    paths = {"roster": root / "roster.csv", "reference": root / "reference.parquet"}
    # The roster as a GB18030 CSV, as Chinese offices export them; the reference as Parquet.
    with open(paths["roster"], "w", encoding="gb18030", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(roster.column_names)
        writer.writerows(zip(*[c.to_pylist() for c in roster.columns], strict=True))
    pq.write_table(reference, paths["reference"])
    return paths


def run(*args: str | Path):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["verify", *map(str, args)])
    assert "Traceback" not in result.output
    return result


def test_link_writes_csv_with_evidence(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "matches.csv"
    problems = tmp_path / "problems.csv"
    r = run("link", files["roster"], files["reference"], "--rules", "person_zh", "--out", out,
            "--problems", problems)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "pairs auto" in r.output and "pairs exact" in r.output and "bad_check_digit" in r.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM, for Excel
    matches = pacsv.read_csv(out)
    assert set(EVIDENCE) <= set(matches.column_names)
    assert {"auto", "review"} >= set(matches.column("tier").to_pylist())
    rows = {(r["left_id"], r["right_id"]): r for r in matches.to_pylist()}
    assert rows[("R-HOMO", "P-HOMO")]["label_name"] == "same pinyin"
    assert rows[("R-OLD15", "P-OLD15")]["pass"] == "exact"
    assert pacsv.read_csv(problems).column("unique_id").to_pylist() == ["R-BADID"]


def test_dedupe_writes_parquet(files: dict[str, Path], tmp_path: Path) -> None:
    roster = pq.read_table(files["reference"])
    twice = roster.slice(5, 1).set_column(0, "person_id", pa.array(["AGAIN"]))
    source = tmp_path / "roster.parquet"
    pq.write_table(pa.concat_tables([roster, twice]), source)
    out = tmp_path / "dupes.data"
    r = run("dedupe", source, "--rules", "person_zh", "--out", out, "--format", "parquet")
    assert r.exit_code == 0, r.output
    matches = pq.read_table(out)
    assert set(EVIDENCE) <= set(matches.column_names)
    again = [m for m in matches.to_pylist() if "AGAIN" in (m["left_id"], m["right_id"])]
    assert len(again) == 1
    assert {again[0]["left_id"], again[0]["right_id"]} == {"AGAIN", roster["person_id"][5].as_py()}
    assert again[0]["pass"] == "exact" and again[0]["tier"] == "auto"


def _rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("no such file", "verify.unreadable_input"),
        ("empty file", "verify.unreadable_input"),
        ("header only", "verify.empty_input"),
        ("duplicate ids", "verify.duplicate_ids"),
        ("missing column", "verify.missing_column"),
        ("unknown field", "verify.rules_unknown_field"),
        ("unknown kind", "verify.rules_unknown_kind"),
        ("bad output", "verify.unknown_output_format"),
        ("unknown format", "lake.unknown_format"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    files: dict[str, Path], tmp_path: Path, case: str, code: str
) -> None:
    roster, rules, out = files["roster"], "person_zh", tmp_path / "out.csv"
    text = files["roster"].read_text(encoding="gb18030")
    header, *lines = text.splitlines()
    if case == "no such file":
        roster = tmp_path / "absent.csv"
    elif case == "empty file":
        roster = tmp_path / "empty.csv"
        roster.write_bytes(b"")
    elif case == "header only":
        roster = tmp_path / "header.csv"
        roster.write_text(header + "\n")
    elif case == "duplicate ids":
        roster = tmp_path / "twice.csv"
        roster.write_text("\n".join([header, *lines, lines[3]]) + "\n")
    elif case == "missing column":
        roster = tmp_path / "narrow.csv"
        roster.write_text("person_id,name\nA,张三\n")
    elif case in ("unknown field", "unknown kind"):
        bad = "  - {field: income, kind: exact}" if case == "unknown field" else (
            "  - {field: sex, kind: soundex}")  # fmt: skip
        rules = str(_rules(tmp_path, "unique_id: person_id\nfields: {sex: sex}\n"
                           f"blocking: [[sex]]\ncomparisons:\n{bad}\n"))  # fmt: skip
    elif case == "bad output":
        out = tmp_path / "out.xlsx"
    else:
        roster = tmp_path / "roster.docx"
        roster.write_text("x")
    r = run("link", roster, files["reference"], "--rules", rules, "--out", out)
    assert r.exit_code == 2, r.output
    assert code in r.output
    assert not out.exists()
