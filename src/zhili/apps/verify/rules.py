"""Rule sets (比对规则): which columns mean what, how to block, compare and decide — as a file.

A rule set is authored as YAML or JSON so that a department's schema, not ours, decides
what is compared, without code changes. It is parsed into frozen dataclasses and checked
completely before any data is read: every error names the key path (``comparisons[2].kind``)
so whoever wrote the file can fix it. `zhili.apps.verify.model` turns a `RuleSet` into
Splink's settings; `validate_against` checks it against the inputs' columns.

Example (the canonical fields on the left, the inputs' columns on the right)::

    unique_id: person_id
    id_number: id_number
    fields:
      name: {left: xm, right: name, prepare: chinese_name}
      birth_date: {column: birth_date, prepare: date}
      sex: sex
    blocking: [[birth_date], "l.name_pinyin = r.name_pinyin"]
    comparisons:
      - {field: name, kind: chinese_name}
      - {field: birth_date, kind: date}
      - {field: sex, kind: exact}
    thresholds: {auto: 0.99, review: 0.5}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import sqlglot
import yaml
from sqlglot import exp

from zhili.apps.verify.spec import (
    COMPARISON_KINDS,
    DATE_METRICS,
    ID_FIELD,
    ID_SCHEMES,
    KIND_NEEDS_PREPARE,
    M_SOURCES,
    PREPARES,
    RESERVED,
    SIDES,
    Columns,
    Comparison,
    Field,
    IdNumber,
    RuleSet,
    Thresholds,
    Training,
)
from zhili.errors import InvalidInput

__all__ = [
    "COMPARISON_KINDS",
    "PREPARES",
    "Comparison",
    "Field",
    "IdNumber",
    "RuleSet",
    "Thresholds",
    "Training",
    "builtin_rule_sets",
    "check_columns",
    "load_rules",
    "parse_rules",
    "read_rules_text",
    "validate_against",
]

_RULESETS = "zhili.apps.verify.rulesets"


# --- reading --------------------------------------------------------------------------


def builtin_rule_sets() -> dict[str, Path]:
    """The rule sets shipped with zhili, by name (``febrl``, ``person_zh``)."""
    root = resources.files(_RULESETS)
    return {
        Path(p.name).stem: Path(str(p))
        for p in root.iterdir()
        if p.name.endswith((".yaml", ".yml", ".json"))
    }


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate a rule-set file (YAML or JSON by extension, else by content).

    A name without a file (``febrl``) means the shipped rule set of that name.
    """
    p = Path(path)
    if not p.exists() and str(path) in builtin_rule_sets():
        p = builtin_rule_sets()[str(path)]
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "verify.rules_unreadable",
            "Cannot read the rule set {path}: {problem}",
            path=str(path),
            problem=exc.strerror if isinstance(exc, OSError) else str(exc),
        ) from None
    return parse_rules(_decode(text, p.suffix.lower(), str(path)), name=p.stem)


def read_rules_text(text: str, *, name: str = "") -> RuleSet:
    """Validate a rule set given as text (YAML or JSON, by content) — as a verification
    job stores it, so a rerun reads exactly the rules of the first run."""
    return parse_rules(_decode(text, "", name or "rules"), name=name)


def _decode(text: str, suffix: str, path: str) -> Any:
    as_json = suffix == ".json" or (suffix not in (".yaml", ".yml") and text.lstrip()[:1] in "{[")
    try:
        return json.loads(text) if as_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(
            "verify.rules_syntax",
            "The rule set {path} is not valid {format}: {problem}",
            path=path,
            format="JSON" if as_json else "YAML",
            problem=" ".join(str(exc).split()),
        ) from None


# --- validation -----------------------------------------------------------------------


def _fail(code: str, fallback: str, **params: Any) -> InvalidInput:
    return InvalidInput(f"verify.{code}", fallback, **params)


def _bad(path: str, value: Any, expected: str) -> InvalidInput:
    return _fail(
        "rules_bad_value",
        "Rule set {path}: {value} is not {expected}.",
        path=path,
        value=json.dumps(value, ensure_ascii=False, default=str),
        expected=expected,
    )


def _mapping(value: Any, path: str, allowed: Sequence[str], required: Sequence[str] = ()) -> dict:
    if not isinstance(value, Mapping):
        raise _bad(path or "(top level)", value, "a mapping")
    for key in value:
        if key not in allowed:
            raise _fail(
                "rules_unknown_key",
                "Rule set {path}: unknown key {key}; allowed: {allowed}.",
                path=path or "(top level)",
                key=str(key),
                allowed=", ".join(allowed),
            )
    for key in required:
        if key not in value:
            raise _fail(
                "rules_missing_key",
                "Rule set {path}: the key {key} is required.",
                path=path or "(top level)",
                key=key,
            )
    return dict(value)


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(path, value, "a column name")
    return value.strip()


def _columns(value: Any, path: str) -> tuple[str, str]:
    """``col`` or ``{column: col}`` (the same in both inputs) or ``{left: a, right: b}``."""
    if isinstance(value, str):
        name = _name(value, path)
        return name, name
    spec = _mapping(value, path, ("column", "left", "right"))
    if "column" in spec:
        if "left" in spec or "right" in spec:
            raise _bad(path, value, "either column or left/right")
        name = _name(spec["column"], f"{path}.column")
        return name, name
    if "left" not in spec:
        raise _fail(
            "rules_missing_key", "Rule set {path}: the key {key} is required.", path=path,
            key="column",
        )  # fmt: skip
    left = _name(spec["left"], f"{path}.left")
    return left, _name(spec.get("right", left), f"{path}.right")


def _choice(value: Any, path: str, allowed: Sequence[str], code: str = "rules_bad_value") -> str:
    if value not in allowed:
        if code == "rules_unknown_kind":
            raise _fail(
                code,
                "Rule set {path}: unknown kind {kind}; use one of {allowed}.",
                path=path,
                kind=str(value),
                allowed=", ".join(allowed),
            )
        raise _bad(path, value, "one of " + ", ".join(allowed))
    return str(value)


def _probability(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise _bad(path, value, "a probability in (0, 1]")
    return float(value)


def _positive_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        raise _bad(path, value, "a positive whole number")
    if isinstance(value, float) and not value.is_integer():
        raise _bad(path, value, "a positive whole number")
    return int(value)


def _fields(value: Any) -> tuple[Field, ...]:
    if not isinstance(value, Mapping) or not value:
        raise _bad("fields", value, "a non-empty mapping of field names to columns")
    out = []
    for name, spec in value.items():
        path = f"fields.{name}"
        if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
            raise _bad(path, name, "a lower-case name of letters, digits and _")
        if name == ID_FIELD:
            raise _bad(path, name, f"a field name other than {ID_FIELD} (use the id_number key)")
        if name in RESERVED:
            raise _bad(path, name, "a name Splink does not use itself")
        prepare = "text"
        if isinstance(spec, Mapping):
            spec = _mapping(spec, path, ("column", "left", "right", "prepare"))
            prepare = _choice(spec.pop("prepare", "text"), f"{path}.prepare", PREPARES)
            if not spec:
                raise _fail(
                    "rules_missing_key", "Rule set {path}: the key {key} is required.",
                    path=path, key="column",
                )  # fmt: skip
        left, right = _columns(spec, path)
        out.append(Field(name, left, right, prepare))
    names = {f.name for f in out}
    for f in out:
        for d in f.derived:
            if d in names:
                raise _bad(f"fields.{d}", d, f"a name not taken by fields.{f.name}'s pinyin")
    return tuple(out)


def _id_number(value: Any) -> IdNumber | None:
    if value is None:
        return None
    scheme = "cn_resident"
    if isinstance(value, Mapping):
        value = _mapping(value, "id_number", ("column", "left", "right", "scheme"))
        scheme = _choice(value.pop("scheme", scheme), "id_number.scheme", ID_SCHEMES)
    left, right = _columns(value, "id_number")
    return IdNumber(left, right, scheme)


def _sql_columns(rule: str, path: str, known: Sequence[str]) -> str:
    """Check a blocking rule's SQL: it parses, and every column is ``l.x`` or ``r.x`` of a
    known column of the prepared frames."""
    try:
        tree = sqlglot.parse_one(rule, dialect="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise _fail(
            "rules_bad_sql",
            "Rule set {path}: the SQL {sql} does not parse: {problem}",
            path=path,
            sql=rule,
            problem=" ".join(str(exc).split())[:200],
        ) from None
    columns = list(tree.find_all(exp.Column))
    if not columns:
        raise _bad(path, rule, "a condition on l. and r. columns")
    for col in columns:
        if col.table not in ("l", "r"):
            raise _bad(path, rule, f"SQL whose columns are written l.{col.name} or r.{col.name}")
        if col.name not in known:
            raise _unknown_field(path, col.name, known)
    return rule


def _unknown_field(path: str, name: str, known: Sequence[str]) -> InvalidInput:
    return _fail(
        "rules_unknown_field",
        "Rule set {path}: {field} is not a declared field; declared: {known}.",
        path=path,
        field=name,
        known=", ".join(known),
    )


def _blocking(value: Any, path: str, known: Sequence[str], required: bool) -> tuple[str, ...]:
    """Rules as SQL strings or as lists of fields that must be equal (``[birth_date, sex]``)."""
    if value is None and not required:
        return ()
    if not isinstance(value, list) or (required and not value):
        raise _bad(path, value, "a non-empty list of blocking rules")
    out = []
    for i, rule in enumerate(value):
        where = f"{path}[{i}]"
        if isinstance(rule, list) and rule and all(isinstance(f, str) for f in rule):
            for name in rule:
                if name not in known:
                    raise _unknown_field(where, name, known)
            out.append(" AND ".join(f"l.{f} = r.{f}" for f in rule))
        elif isinstance(rule, str) and rule.strip():
            out.append(_sql_columns(rule.strip(), where, known))
        else:
            raise _bad(where, rule, "SQL text or a list of field names")
    return tuple(out)


def _within(value: Any, path: str) -> tuple[tuple[int, str], ...]:
    """``["1 month", "10 year"]`` → ((1, "month"), (10, "year"))."""
    if not isinstance(value, list):
        raise _bad(path, value, 'a list such as ["1 month", "1 year"]')
    out = []
    for i, item in enumerate(value):
        parts = str(item).split()
        ok = len(parts) == 2 and parts[0].isdigit() and parts[1].rstrip("s") in DATE_METRICS
        if not ok or int(parts[0]) < 1:
            raise _bad(f"{path}[{i}]", item, "a number and day, month or year (e.g. 1 month)")
        out.append((int(parts[0]), parts[1].rstrip("s")))
    return tuple(out)


def _comparisons(value: Any, fields: Sequence[Field]) -> tuple[Comparison, ...]:
    if not isinstance(value, list) or not value:
        raise _bad("comparisons", value, "a non-empty list of comparisons")
    by_name = {f.name: f for f in fields}
    keys = ("field", "kind", "thresholds", "term_frequency", "within")
    out: list[Comparison] = []
    for i, spec in enumerate(value):
        path = f"comparisons[{i}]"
        spec = _mapping(spec, path, keys, required=("field", "kind"))
        name = spec["field"]
        if name not in by_name:
            raise _unknown_field(f"{path}.field", str(name), list(by_name))
        if any(c.field == name for c in out):
            raise _bad(f"{path}.field", name, "a field not compared already")
        kind = _choice(spec["kind"], f"{path}.kind", list(COMPARISON_KINDS), "rules_unknown_kind")
        need = KIND_NEEDS_PREPARE.get(kind)
        if need and by_name[name].prepare != need:
            raise _bad(f"fields.{name}.prepare", by_name[name].prepare, f"{need} (for {kind})")
        thresholds = _thresholds(spec.get("thresholds"), f"{path}.thresholds", kind)
        tf = spec.get("term_frequency", kind in ("name", "chinese_name"))
        if not isinstance(tf, bool):
            raise _bad(f"{path}.term_frequency", tf, "true or false")
        within = _within(spec["within"], f"{path}.within") if "within" in spec else ()
        if within and kind != "date":
            raise _bad(f"{path}.within", spec["within"], "used only with kind date")
        out.append(Comparison(name, kind, thresholds, tf, within))
    return tuple(out)


def _thresholds(value: Any, path: str, kind: str) -> tuple[float, ...]:
    default = COMPARISON_KINDS[kind]
    if value is None:
        return default
    if not default:
        raise _bad(path, value, f"absent (kind {kind} takes no thresholds)")
    if not isinstance(value, list) or not value:
        raise _bad(path, value, "a non-empty list of numbers")
    whole = kind in ("levenshtein", "damerau_levenshtein")
    for i, t in enumerate(value):
        if whole:
            _positive_int(t, f"{path}[{i}]")
        elif isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t < 1:
            raise _bad(f"{path}[{i}]", t, "a similarity between 0 and 1")
    return tuple(int(t) if whole else float(t) for t in value)


def _training(value: Any, known: Sequence[str]) -> Training:
    if value is None:
        return Training()
    keys = (
        "u_max_pairs",
        "m_from",
        "min_id_pairs",
        "em_blocking",
        "seed",
        "probability_two_random_records_match",
    )
    spec = _mapping(value, "training", keys)
    prior_key = "probability_two_random_records_match"
    prior = spec.get(prior_key)
    return Training(
        u_max_pairs=_positive_int(spec.get("u_max_pairs", 1_000_000), "training.u_max_pairs"),
        m_from=_choice(spec.get("m_from", "auto"), "training.m_from", M_SOURCES),
        min_id_pairs=_positive_int(spec.get("min_id_pairs", 50), "training.min_id_pairs"),
        em_blocking=_blocking(spec.get("em_blocking"), "training.em_blocking", known, False),
        seed=_positive_int(spec.get("seed", 42), "training.seed"),
        probability_two_random_records_match=(
            None if prior is None else _probability(prior, f"training.{prior_key}")
        ),
    )


def _decision(value: Any) -> Thresholds:
    if value is None:
        return Thresholds()
    spec = _mapping(value, "thresholds", ("auto", "review"))
    auto = _probability(spec.get("auto", Thresholds.auto), "thresholds.auto")
    review = _probability(spec.get("review", Thresholds.review), "thresholds.review")
    if auto < review:
        raise _fail(
            "rules_bad_thresholds",
            "Rule set thresholds: auto ({auto}) must be at least review ({review}).",
            auto=auto,
            review=review,
        )
    return Thresholds(auto, review)


TOP_KEYS = (
    "name",
    "description",
    "link_type",
    "unique_id",
    "id_number",
    "fields",
    "blocking",
    "comparisons",
    "thresholds",
    "training",
)


def parse_rules(data: Any, *, name: str = "") -> RuleSet:
    """Validate a decoded rule set (the dict read from YAML or JSON) into a `RuleSet`."""
    spec = _mapping(data, "", TOP_KEYS, required=("unique_id", "fields", "comparisons"))
    link_type = spec.get("link_type")
    if link_type is not None:
        link_type = _choice(link_type, "link_type", ("link_only", "dedupe_only"))
    uid_left, uid_right = _columns(spec["unique_id"], "unique_id")
    fields = _fields(spec["fields"])
    id_number = _id_number(spec.get("id_number"))
    known = [c for f in fields for c in (f.name, *f.derived)]
    if id_number:
        known.append(ID_FIELD)
    comparisons = _comparisons(spec["comparisons"], fields)
    blocking = _blocking(spec.get("blocking"), "blocking", known, True)
    training = _training(spec.get("training"), known)
    if training.m_from == "ids" and id_number is None:
        raise _bad("training.m_from", "ids", "ids without an id_number to learn from")
    for key in ("name", "description"):
        if not isinstance(spec.get(key, ""), str):
            raise _bad(key, spec[key], "text")
    return RuleSet(
        unique_id=Columns(uid_left, uid_right),
        fields=fields,
        blocking=blocking,
        comparisons=comparisons,
        thresholds=_decision(spec.get("thresholds")),
        training=training,
        id_number=id_number,
        link_type=link_type,
        name=spec.get("name") or name,
        description=spec.get("description", ""),
    )


def validate_against(
    rules: RuleSet, left_columns: Sequence[str], right_columns: Sequence[str] | None = None
) -> None:
    """Refuse inputs that lack a column the rule set reads, naming the column and the input
    (花名册 = the roster, left; 比对库 = the reference, right). ``right_columns`` None: a
    dedupe, where only the roster is read."""
    check_columns(rules, left_columns, "left")
    if right_columns is not None:
        check_columns(rules, right_columns, "right")


def check_columns(rules: RuleSet, columns: Sequence[str], side: str) -> None:
    """`validate_against` for one input (``side`` is ``left`` or ``right``)."""
    wanted = [("unique_id", rules.unique_id)]
    if rules.id_number:
        wanted.append(("id_number", Columns(rules.id_number.left, rules.id_number.right)))
    wanted += [(f"fields.{f.name}", Columns(f.left, f.right)) for f in rules.fields]
    present = set(columns)
    for key, names in wanted:
        column = names.left if side == "left" else names.right
        if column not in present:
            raise _fail(
                "missing_column",
                "The {side} has no column {column} (rule set {key}); it has: {present}.",
                side="roster" if side == "left" else "reference",
                side_zh=SIDES[side],
                column=column,
                key=key,
                present=", ".join(columns)[:300],
            )
