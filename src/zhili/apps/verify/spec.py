"""What a rule set is once read: frozen dataclasses, and the vocabulary a file may use.

`zhili.apps.verify.rules` reads and checks the authored file into these; `model` resolves
them to Splink's settings. Nothing here reads files or knows Splink.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "COMPARISON_KINDS",
    "ID_FIELD",
    "PREPARES",
    "Columns",
    "Comparison",
    "Field",
    "IdNumber",
    "RuleSet",
    "Thresholds",
    "Training",
]

LinkType = Literal["link_only", "dedupe_only"]
#: How a field's values are cleaned before comparison (see `zhili.apps.verify.prepare`).
PREPARES = ("text", "chinese_name", "date", "lower", "none")
#: Comparison kinds and the default thresholds of those that take some.
COMPARISON_KINDS: dict[str, tuple[float, ...]] = {
    "exact": (),
    "levenshtein": (1, 2),
    "damerau_levenshtein": (1, 2),
    "jaro_winkler": (0.9, 0.7),
    "name": (0.92, 0.88, 0.7),
    "chinese_name": (0.9,),
    "date": (),
    "email": (),
}
#: Kinds that need the field prepared a particular way (their levels read derived columns).
KIND_NEEDS_PREPARE = {"chinese_name": "chinese_name", "date": "date"}
DATE_METRICS = ("day", "month", "year")
ID_SCHEMES = ("cn_resident", "plain")
#: Where m comes from (see `Training`).
M_SOURCES = ("auto", "em", "ids")
#: Columns a prepared field adds, by prepare (``{f}`` is the field's name).
DERIVED = {"chinese_name": ("{f}_pinyin", "{f}_pinyins")}
#: The canonical name of the ID number column in the prepared frames.
ID_FIELD = "id_number"
SIDES = {"left": "花名册", "right": "比对库"}
#: Column names of Splink's own frames, not available as field names.
RESERVED = ("unique_id", "source_dataset", "match_key", "match_weight", "match_probability")


@dataclass(frozen=True)
class Columns:
    """The name of one column in the roster (left) and in the reference (right)."""

    left: str
    right: str


@dataclass(frozen=True)
class Field:
    """A canonical field and the columns it is read from in each input."""

    name: str
    left: str
    right: str
    prepare: str = "text"

    @property
    def derived(self) -> tuple[str, ...]:
        """Extra columns its preparation adds (a Chinese name's pinyin keys)."""
        return tuple(d.format(f=self.name) for d in DERIVED.get(self.prepare, ()))


@dataclass(frozen=True)
class IdNumber:
    """The ID number column of the exact pass; ``cn_resident`` numbers are validated and
    normalised (15 → 18 digits), ``plain`` ones only trimmed and upper-cased."""

    left: str
    right: str
    scheme: str = "cn_resident"


@dataclass(frozen=True)
class Comparison:
    """One comparison: a field, a kind from `COMPARISON_KINDS` and its thresholds.

    ``within`` (kind ``date``) adds levels for dates at most N days, months or years apart.
    """

    field: str
    kind: str
    thresholds: tuple[float, ...] = ()
    term_frequency: bool = False
    within: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Thresholds:
    """Match probabilities: at or above ``auto`` a pair is accepted without review, at or
    above ``review`` it goes to 待复核, below it is no match."""

    auto: float = 0.99
    review: float = 0.5


@dataclass(frozen=True)
class Training:
    """How the model is estimated: u by random sampling of at most ``u_max_pairs`` pairs;
    m by EM over the pairs of each ``em_blocking`` rule (the prediction rules if empty),
    or — ``m_from`` ``ids``, or ``auto`` when the exact pass found at least
    ``min_id_pairs`` pairs — from the pairs sharing an ID number, taken as true matches."""

    u_max_pairs: int = 1_000_000
    m_from: str = "auto"
    min_id_pairs: int = 50
    em_blocking: tuple[str, ...] = ()
    seed: int = 42
    probability_two_random_records_match: float | None = None


@dataclass(frozen=True)
class RuleSet:
    """A validated rule set. Blocking rules are SQL on the prepared frames (``l.``/``r.``)."""

    unique_id: Columns
    fields: tuple[Field, ...]
    blocking: tuple[str, ...]
    comparisons: tuple[Comparison, ...]
    thresholds: Thresholds = Thresholds()
    training: Training = Training()
    id_number: IdNumber | None = None
    link_type: LinkType | None = None
    name: str = ""
    description: str = ""

    def get_field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column of a prepared frame that blocking rules and comparisons may use."""
        out = [c for f in self.fields for c in (f.name, *f.derived)]
        return (*out, ID_FIELD) if self.id_number else tuple(out)
