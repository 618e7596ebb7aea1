"""Scenario templates (核验场景) as files: what one is once read, and the reading.

A scenario is a verification job with meaning attached: which shipped rule set links the
roster to its references, which catalog resources fit each input (a name hint), and what
a match in each reference *means* for the roster person — an outcome (deceased, moved
away …) with the action it calls for (``stop_payment`` …). It is authored as YAML or
JSON and checked completely before use: every error names the key path
(``references.residence.finds.values``) like a rule set's do. Example::

    name: pension
    title: {zh-CN: 养老金领取资格核验, en: Pension eligibility}
    rules: person_zh
    roster: {hint: [养老金, pension], money: monthly_pension}
    references:
      deaths: {hint: [死亡], finds: deceased}             # any match → deceased
      residence:
        hint: [户籍]
        finds:                                           # by a reference column's value
          by: status
          values: {死亡: deceased, 迁出: moved_away}
          otherwise: confirmed
    outcomes:                                            # precedence: first wins
      deceased: {action: stop_payment}
      moved_away: {}
      confirmed: {}
      not_found: {}
    unmatched: not_found                                 # a person with no finding

Nothing here reads data or the database; `zhili.apps.verify.scenarios.service` starts
jobs from a `Scenario` and `zhili.apps.verify.scenarios.outcomes` sums their results.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from zhili.apps.verify.review import ACTIONS
from zhili.apps.verify.rules import parse_rules
from zhili.errors import InvalidInput
from zhili.i18n import DEFAULT_LOCALE, LOCALES

__all__ = [
    "ROSTER",
    "Finding",
    "Outcome",
    "Scenario",
    "Slot",
    "Text",
    "parse_scenario",
    "read_scenario_text",
]

#: The roster's slot name (a reference slot may not take it).
ROSTER = "roster"
TOP_KEYS = ("name", "title", "description", "rules", "roster", "references", "outcomes",
            "unmatched")  # fmt: skip
ROSTER_KEYS = ("title", "hint", "money")
SLOT_KEYS = ("title", "hint", "finds", "optional")
FINDS_KEYS = ("outcome", "min_matches", "by", "values", "otherwise")
OUTCOME_KEYS = ("title", "description", "action")
MAX_HINTS = 20


@dataclass(frozen=True)
class Text:
    """Text in each UI locale (zh-CN first; English falls back to it)."""

    values: tuple[tuple[str, str], ...]

    def get(self, locale: str | None = None) -> str:
        found = dict(self.values)
        return found.get(locale or DEFAULT_LOCALE) or found.get(DEFAULT_LOCALE) or ""

    def as_dict(self) -> dict[str, str]:
        return {locale: self.get(locale) for locale in LOCALES}


@dataclass(frozen=True)
class Finding:
    """What a match in a reference means for the roster person: ``outcome`` for any match
    (``min_matches`` distinct reference records at least, e.g. 2 properties), or the
    outcome of the matched record's value in column ``by`` (``values``; ``otherwise`` for
    any other value, None: no finding)."""

    outcome: str | None = None
    min_matches: int = 1
    by: str | None = None
    values: tuple[tuple[str, str], ...] = ()
    otherwise: str | None = None

    @property
    def outcomes(self) -> tuple[str, ...]:
        """Every outcome this finding can give."""
        found = [self.outcome, *(o for _, o in self.values), self.otherwise]
        return tuple(dict.fromkeys(o for o in found if o is not None))

    def outcome_of(self, value: Any) -> str | None:
        """The outcome of one matched record whose ``by`` column holds ``value``."""
        if self.by is None:
            return self.outcome
        text = "" if value is None else str(value).strip()
        return dict(self.values).get(text, self.otherwise)


@dataclass(frozen=True)
class Slot:
    """One input of a scenario: the roster (``money``: the column totalled per outcome)
    or a reference (``finds``: what a match there means)."""

    name: str
    title: Text
    hint: tuple[str, ...]
    finds: Finding | None = None
    money: str | None = None
    optional: bool = False

    @property
    def extra_columns(self) -> tuple[str, ...]:
        """Columns read besides the rule set's: the money column, the ``by`` column."""
        names = [self.money, self.finds.by if self.finds else None]
        return tuple(n for n in names if n)


@dataclass(frozen=True)
class Outcome:
    """What may be concluded about a roster person, and the action it calls for (one of
    `zhili.apps.verify.review.ACTIONS`, or None: nothing to do)."""

    name: str
    title: Text
    description: Text
    action: str | None = None


@dataclass(frozen=True)
class Scenario:
    """A read and checked scenario file (see the module docstring)."""

    name: str
    title: Text
    description: Text
    #: a shipped rule set's name (`zhili.apps.verify.rules.builtin_rule_sets`), or the
    #: YAML text of a rule set written in the scenario (what `JobSpec.rules` takes)
    rules: str
    roster: Slot
    references: tuple[Slot, ...]
    outcomes: tuple[Outcome, ...]  # in order of precedence
    unmatched: str

    def slot(self, name: str) -> Slot:
        for s in self.references:
            if s.name == name:
                return s
        if name == ROSTER:
            return self.roster
        raise KeyError(name)

    def outcome(self, name: str) -> Outcome:
        for o in self.outcomes:
            if o.name == name:
                return o
        raise KeyError(name)

    @property
    def slots(self) -> tuple[Slot, ...]:
        """The roster's slot, then the references'."""
        return (self.roster, *self.references)

    @property
    def money(self) -> str | None:
        return self.roster.money


# --- reading ------------------------------------------------------------------------------


def read_scenario_text(text: str, *, name: str = "", rule_sets: Sequence[str] = ()) -> Scenario:
    """A scenario from its YAML or JSON text (``name``: its file's stem, the default name;
    ``rule_sets``: the rule-set names it may use)."""
    as_json = text.lstrip()[:1] == "{"
    try:
        data = json.loads(text) if as_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(
            "verify.scenario_syntax",
            "The scenario {name} is not valid {format}: {problem}",
            name=name or "(text)",
            format="JSON" if as_json else "YAML",
            problem=" ".join(str(exc).split())[:300],
        ) from None
    return parse_scenario(data, name=name, rule_sets=rule_sets)


def _bad(path: str, value: Any, expected: str) -> InvalidInput:
    return InvalidInput(
        "verify.scenario_bad_value",
        "Scenario {path}: {value} is not {expected}.",
        path=path or "(top level)",
        value=json.dumps(value, ensure_ascii=False, default=str)[:200],
        expected=expected,
    )


def _mapping(value: Any, path: str, allowed: Sequence[str], required: Sequence[str] = ()) -> dict:
    if not isinstance(value, Mapping):
        raise _bad(path, value, "a mapping")
    for key in value:
        if key not in allowed:
            raise InvalidInput(
                "verify.scenario_unknown_key",
                "Scenario {path}: unknown key {key}; allowed: {allowed}.",
                path=path or "(top level)",
                key=str(key),
                allowed=", ".join(allowed),
            )
    for key in required:
        if key not in value:
            raise InvalidInput(
                "verify.scenario_missing_key",
                "Scenario {path}: the key {key} is required.",
                path=path or "(top level)",
                key=key,
            )
    return dict(value)


def _identifier(value: Any, path: str, max_len: int = 40) -> str:
    ok = isinstance(value, str) and value.isidentifier() and value == value.lower()
    if not ok or len(value) > max_len:
        raise _bad(path, value, f"a lower-case name of letters, digits and _ (≤ {max_len})")
    return str(value)


def _column(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise _bad(path, value, "a column name")
    return value.strip()


def _text(value: Any, path: str, default: str = "") -> Text:
    """``text`` (every locale) or ``{zh-CN: …, en: …}`` (zh-CN required)."""
    if value is None:
        return Text(((DEFAULT_LOCALE, default),))
    if isinstance(value, str):
        return Text(((DEFAULT_LOCALE, value.strip()),))
    spec = _mapping(value, path, LOCALES, required=(DEFAULT_LOCALE,))
    for locale, text in spec.items():
        if not isinstance(text, str) or not text.strip():
            raise _bad(f"{path}.{locale}", text, "text")
    return Text(tuple((locale, str(spec[locale]).strip()) for locale in LOCALES if locale in spec))


def _hint(value: Any, path: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or len(value) > MAX_HINTS
        or not all(isinstance(h, str) and h.strip() for h in value)
    ):
        raise _bad(path, value, "a list of words found in the catalog names of fitting resources")
    return tuple(h.strip() for h in value)


def _declared(known: Sequence[str]) -> str:
    return "an outcome declared under outcomes (" + ", ".join(known) + ")"


def _finds(value: Any, path: str, known: Sequence[str]) -> Finding:
    def outcome(v: Any, where: str) -> str:
        if v not in known:
            raise _bad(where, v, _declared(known))
        return str(v)

    if isinstance(value, str):
        return Finding(outcome=outcome(value, path))
    spec = _mapping(value, path, FINDS_KEYS)
    if ("outcome" in spec) == ("by" in spec):
        raise _bad(path, value, "a mapping with either outcome (any match) or by (a column)")
    if "outcome" in spec:
        for key in ("values", "otherwise"):
            if key in spec:
                raise _bad(f"{path}.{key}", spec[key], "absent (it goes with by)")
        minimum = spec.get("min_matches", 1)
        if isinstance(minimum, bool) or not isinstance(minimum, int) or not 1 <= minimum <= 100:
            raise _bad(f"{path}.min_matches", minimum, "a whole number from 1 to 100")
        return Finding(outcome=outcome(spec["outcome"], f"{path}.outcome"), min_matches=minimum)
    if "min_matches" in spec:
        raise _bad(f"{path}.min_matches", spec["min_matches"], "absent (it goes with outcome)")
    values = spec.get("values")
    if not isinstance(values, Mapping) or not values:
        raise _bad(f"{path}.values", values, "a mapping of column values to outcomes")
    pairs = []
    for raw, name in values.items():
        if not isinstance(raw, str | int) or isinstance(raw, bool) or not str(raw).strip():
            raise _bad(f"{path}.values", raw, "a column value (text)")
        pairs.append((str(raw).strip(), outcome(name, f"{path}.values.{raw}")))
    otherwise = spec.get("otherwise")
    return Finding(
        by=_column(spec["by"], f"{path}.by"),
        values=tuple(pairs),
        otherwise=None if otherwise is None else outcome(otherwise, f"{path}.otherwise"),
    )


def _outcomes(value: Any) -> tuple[Outcome, ...]:
    if not isinstance(value, Mapping) or not value:
        raise _bad("outcomes", value, "a mapping of outcome names, in order of precedence")
    out = []
    for name, spec in value.items():
        path = f"outcomes.{name}"
        _identifier(name, path, 32)
        spec = _mapping(spec if spec is not None else {}, path, OUTCOME_KEYS)
        action = spec.get("action")
        if action is not None and action not in ACTIONS:
            raise _bad(f"{path}.action", action, "one of " + ", ".join(ACTIONS) + " or absent")
        out.append(
            Outcome(
                name=name,
                title=_text(spec.get("title"), f"{path}.title", name),
                description=_text(spec.get("description"), f"{path}.description"),
                action=action,
            )
        )
    return tuple(out)


def _rules(value: Any, rule_sets: Sequence[str]) -> str:
    """A shipped rule set's name, or a rule set written inline (checked now; kept as its
    YAML text, which a job stores and reruns read)."""
    if isinstance(value, Mapping):
        rules = parse_rules(value)
        if rules.link_type == "dedupe_only":
            raise _bad("rules.link_type", "dedupe_only", "link_only (a scenario links)")
        return yaml.safe_dump(dict(value), allow_unicode=True, sort_keys=False)
    if not isinstance(value, str) or (rule_sets and value not in rule_sets):
        expected = "a shipped rule set's name" + (f" ({', '.join(rule_sets)})" if rule_sets else "")
        raise _bad("rules", value, expected + " or a rule set")
    return value


def parse_scenario(data: Any, *, name: str = "", rule_sets: Sequence[str] = ()) -> Scenario:
    """Validate a decoded scenario (the dict read from YAML or JSON) into a `Scenario`;
    ``rule_sets``: the names ``rules`` may take (none given: any)."""
    spec = _mapping(data, "", TOP_KEYS, required=("rules", "roster", "references", "outcomes"))
    scenario_name = _identifier(spec.get("name", name), "name")
    rules = _rules(spec["rules"], rule_sets)
    outcomes = _outcomes(spec["outcomes"])
    known = [o.name for o in outcomes]
    unmatched = spec.get("unmatched")
    if unmatched not in known:
        raise _bad("unmatched", unmatched, _declared(known))
    roster_spec = _mapping(spec["roster"], "roster", ROSTER_KEYS, required=("hint",))
    money = roster_spec.get("money")
    roster = Slot(
        name=ROSTER,
        title=_text(roster_spec.get("title"), "roster.title", "花名册"),
        hint=_hint(roster_spec["hint"], "roster.hint"),
        money=None if money is None else _column(money, "roster.money"),
    )
    refs = spec["references"]
    if not isinstance(refs, Mapping) or not refs:
        raise _bad("references", refs, "a mapping of slot names to references")
    references = []
    for slot_name, slot_spec in refs.items():
        path = f"references.{slot_name}"
        _identifier(slot_name, path, 32)
        if slot_name == ROSTER:
            raise _bad(path, slot_name, f"a slot name other than {ROSTER}")
        slot_spec = _mapping(slot_spec, path, SLOT_KEYS, required=("hint", "finds"))
        optional = slot_spec.get("optional", False)
        if not isinstance(optional, bool):
            raise _bad(f"{path}.optional", optional, "true or false")
        references.append(
            Slot(
                name=slot_name,
                title=_text(slot_spec.get("title"), f"{path}.title", slot_name),
                hint=_hint(slot_spec["hint"], f"{path}.hint"),
                finds=_finds(slot_spec["finds"], f"{path}.finds", known),
                optional=optional,
            )
        )
    if all(s.optional for s in references):
        raise _bad("references", list(refs), "slots of which at least one is not optional")
    return Scenario(
        name=scenario_name,
        title=_text(spec.get("title"), "title", scenario_name),
        description=_text(spec.get("description"), "description"),
        rules=rules,
        roster=roster,
        references=tuple(references),
        outcomes=outcomes,
        unmatched=str(unmatched),
    )
