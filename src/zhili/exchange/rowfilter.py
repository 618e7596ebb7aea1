"""Row filters of grants: a small condition language, parsed by hand, compiled with sqlglot.

A grant limits the rows a consumer reads with a condition such as
``district_code in ('120101', '120102') and age >= 60``. Reviewers write it, so it reads
like SQL; but it is *not* SQL. A hand-written parser accepts exactly the grammar below and
builds a tree of frozen dataclasses; the engines receive SQL generated from that tree by
:func:`to_sqlglot` (identifiers always quoted, values always literals), never the text. So a
function call, a subquery, a comment or a second statement cannot reach an engine: there is
no rule of the grammar that could carry it.

Grammar (keywords in any letter case)::

    filter    := or ; the whole text
    or        := and ("or" and)*
    and       := unary ("and" unary)*
    unary     := "not" unary | "(" or ")" | predicate
    predicate := field ("=" | "!=" | "<>" | "<" | "<=" | ">" | ">=") value
               | field ["not"] "in" "(" value ("," value)* ")"
               | field "between" value "and" value
               | field ["not"] "like" text
               | field "is" ["not"] "null"
    field     := [A-Za-z_][A-Za-z0-9_]* (not a keyword) | '"' any text, "" for a quote '"'
    value     := text | integer | decimal | "true" | "false"
    text      := "'" any text, '' for a quote "'"
    integer   := ["-"] digits ; decimal := ["-"] digits "." digits

A ``like`` pattern uses ``%`` (any run) and ``_`` (one character); ``\\`` escapes ``%``,
``_`` or ``\\`` itself, as in the query model. ``null`` exists only in ``is [not] null``.
Inputs are bounded (:data:`MAX_CHARS`, :data:`MAX_DEPTH` levels of parentheses and ``not``,
:data:`MAX_LIST_VALUES` values in one list), so a filter cannot make the parser or the
engines work without limit.

NULL follows SQL's three-valued logic, on every engine: a comparison with NULL is
*unknown*, and a row is kept only when the whole filter is *true*. So a row whose ``x`` is
NULL is excluded by ``x = 1`` and **also** by ``not (x = 1)``, ``x != 1`` and
``x not in (1, 2)``; to keep such rows, say so: ``x != 1 or x is null``.

Use: :func:`parse_row_filter` when a grant is written, then
:mod:`zhili.exchange.rowfilter_compile`: ``check_row_filter`` against the resource's Table
Schema (fields exist, values fit their types; it returns the filter with values in
canonical form), ``to_text`` to store it, ``to_sqlglot`` to run it.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from zhili.errors import InvalidInput

__all__ = [
    "MAX_CHARS",
    "MAX_DEPTH",
    "MAX_LIST_VALUES",
    "And",
    "Between",
    "Boolean",
    "Compare",
    "InList",
    "Integer",
    "IsNull",
    "Like",
    "Not",
    "Number",
    "Or",
    "RowFilter",
    "Text",
    "Value",
    "fields_of",
    "parse_row_filter",
]

#: Longest filter text accepted.
MAX_CHARS = 4_000
#: Deepest nesting of parentheses and ``not``.
MAX_DEPTH = 32
#: Most values in one ``in (...)`` list.
MAX_LIST_VALUES = 1_000
#: Most digits in a number literal (DuckDB's widest decimal), so numbers stay numbers.
MAX_DIGITS = 38

#: Words a bare field name may not be (quote it: ``"in"``).
KEYWORDS = frozenset({"and", "or", "not", "in", "between", "like", "is", "null", "true", "false"})
#: A field name that needs no quotes.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_NUMBER = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?", re.ASCII)
_WORD_CHAR = re.compile(r"[A-Za-z0-9_.]", re.ASCII)
_OPERATORS = ("<=", ">=", "<>", "!=", "=", "<", ">")


# --- the tree --------------------------------------------------------------------------
# Each literal kind is its own class so that equality is exact: Integer(1) != Boolean(True).


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Integer:
    value: int


@dataclass(frozen=True)
class Number:
    """A decimal literal, kept exact (``0.1`` is not a float)."""

    value: decimal.Decimal


@dataclass(frozen=True)
class Boolean:
    value: bool


Value: TypeAlias = Text | Integer | Number | Boolean
CompareOp = Literal["=", "!=", "<", "<=", ">", ">="]


@dataclass(frozen=True)
class Compare:
    field: str
    op: CompareOp
    value: Value


@dataclass(frozen=True)
class InList:
    field: str
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class Between:
    """``low <= field <= high`` (both ends included)."""

    field: str
    low: Value
    high: Value


@dataclass(frozen=True)
class Like:
    field: str
    pattern: str
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    field: str
    negated: bool = False


@dataclass(frozen=True)
class Not:
    item: RowFilter


@dataclass(frozen=True)
class And:
    """Two or more conditions that must all hold; ``a and b and c`` is one node."""

    items: tuple[RowFilter, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[RowFilter, ...]


RowFilter: TypeAlias = Compare | InList | Between | Like | IsNull | Not | And | Or


# --- errors ----------------------------------------------------------------------------


#: A phrase of a syntax message in English and in Chinese (the ``*_zh`` parameters).
Phrase: TypeAlias = tuple[str, str]
_END: Phrase = ("the end of the filter", "条件结束")


def _syntax(position: int, expected: Phrase, found: Phrase | str) -> InvalidInput:
    """``expected`` says what the grammar allows at ``position`` (0-based; reported from 1).

    The Chinese phrase is a whole clause ("“>=”之后应为一个值"), as word order differs.
    """
    found_en, found_zh = (found, found) if isinstance(found, str) else found
    return InvalidInput(
        "rowfilter.syntax",
        "Row filter, column {column}: expected {expected}, found {found}",
        column=position + 1,
        expected=expected[0],
        expected_zh=expected[1],
        found=found_en,
        found_zh=found_zh,
    )


def _too_deep(position: int) -> InvalidInput:
    return InvalidInput(
        "rowfilter.too_deep",
        "Row filter, column {column}: nested more than {max} levels deep",
        column=position + 1,
        max=MAX_DEPTH,
    )


# --- tokens ----------------------------------------------------------------------------

TokenKind = Literal["name", "keyword", "text", "integer", "decimal", "op", "punct", "bad", "end"]


@dataclass(frozen=True)
class _Token:
    kind: TokenKind
    text: str  # as written, for messages
    value: Any
    pos: int

    def describe(self) -> Phrase | str:
        """The token for a message: quoted as written, cut short when long."""
        if self.kind == "end":
            return _END
        shown = self.text if len(self.text) <= 30 else self.text[:27] + "..."
        return shown if self.kind in ("bad", "text") else f"'{shown}'"


def _quoted(text: str, start: int, quote: str) -> tuple[str, int]:
    """The content of a quoted run starting at ``start`` (doubled quote = one) and its end."""
    parts: list[str] = []
    i = start + 1
    while True:
        j = text.find(quote, i)
        if j < 0:
            what = ("text", "文本") if quote == "'" else ("field name", "字段名")
            expected = (
                f"{quote} to close the {what[0]} opened at column {start + 1}",
                f"应为 {quote}，以结束第 {start + 1} 列开始的{what[1]}",
            )
            raise _syntax(len(text), expected, _END)
        parts.append(text[i:j])
        if text.startswith(quote * 2, j):
            parts.append(quote)
            i = j + 2
        else:
            return "".join(parts), j + 1


def _bad_char(ch: str, pos: int) -> _Token:
    return _Token("bad", f"'{ch}'" if ch.isprintable() else f"U+{ord(ch):04X}", None, pos)


def _number(text: str, pos: int) -> tuple[_Token, int]:
    match = _NUMBER.match(text, pos)
    assert match is not None
    end = match.end()
    if end < len(text) and _WORD_CHAR.match(text, end):
        expected = ("a number (digits, optionally '.' and digits)", "应为数字（可带“.”和小数）")
        raise _syntax(end, expected, f"'{text[end]}'")
    digits = len(match.group(1)) + len(match.group(2) or "")
    if digits > MAX_DIGITS:
        expected = (f"a number of at most {MAX_DIGITS} digits", f"应为不超过 {MAX_DIGITS} 位的数字")
        raise _syntax(pos, expected, (f"{digits} digits", f"{digits} 位"))
    written = match.group(0)
    if match.group(2) is None:
        return _Token("integer", written, int(written), pos), end
    return _Token("decimal", written, decimal.Decimal(written), pos), end


def _tokens(text: str) -> Iterator[_Token]:
    """Tokens one at a time, so an error comes from the first place the text goes wrong."""
    pos, size = 0, len(text)
    while pos < size:
        ch = text[pos]
        if ch.isspace():
            pos += 1
        elif ch == "'" or ch == '"':
            value, end = _quoted(text, pos, ch)
            if "\0" in value:
                yield _Token("bad", "U+0000", None, pos + 1 + value.index("\0"))
                return
            if ch == "'":
                yield _Token("text", text[pos:end], value, pos)
            elif not value:
                yield _Token("bad", '""', None, pos)
                return
            else:
                yield _Token("name", text[pos:end], value, pos)
            pos = end
        elif ch in "(),":
            yield _Token("punct", ch, ch, pos)
            pos += 1
        elif ch.isascii() and (ch.isdigit() or (ch == "-" and text[pos + 1 : pos + 2].isdigit())):
            token, pos = _number(text, pos)
            yield token
        elif match := NAME.match(text, pos):
            word = match.group(0)
            if word.lower() in KEYWORDS:
                yield _Token("keyword", word, word.lower(), pos)
            else:
                yield _Token("name", word, word, pos)
            pos = match.end()
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, pos)), None)
            if op is None:
                yield _bad_char(ch, pos)
                return
            yield _Token("op", op, "!=" if op == "<>" else op, pos)
            pos += len(op)
    yield _Token("end", "", None, size)


# --- parser ----------------------------------------------------------------------------


class _Parser:
    """Recursive descent over :func:`_tokens`, one token of lookahead."""

    def __init__(self, text: str) -> None:
        self._tokens = _tokens(text)
        self.token = next(self._tokens)
        self.previous: _Token | None = None
        self.depth = 0

    def advance(self) -> _Token:
        token = self.token
        if token.kind != "end":
            self.previous, self.token = token, next(self._tokens)
        return token

    def fail(self, en: str, zh: str) -> InvalidInput:
        """A syntax error at the current token: ``en``/``zh`` say what may stand there."""
        if self.previous is not None:
            last = self.previous.text
            en, zh = f"{en} after '{last}'", f"“{last}”之后应为{zh}"
        else:
            zh = f"应为{zh}"
        return _syntax(self.token.pos, (en, zh), self.token.describe())

    def keyword(self, word: str) -> bool:
        if self.token.kind == "keyword" and self.token.value == word:
            self.advance()
            return True
        return False

    def punct(self, char: str) -> bool:
        if self.token.kind == "punct" and self.token.value == char:
            self.advance()
            return True
        return False

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _too_deep(self.token.pos)

    def parse(self) -> RowFilter:
        expr = self.or_()
        if self.token.kind != "end":
            raise self.fail("'and', 'or' or the end of the filter", "关键字 and、or 或条件结束")
        return expr

    def or_(self) -> RowFilter:
        items = [self.and_()]
        while self.keyword("or"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> RowFilter:
        items = [self.unary()]
        while self.keyword("and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> RowFilter:
        opening = self.token
        if self.keyword("not"):
            self.enter()
            item = self.unary()
            self.depth -= 1
            return Not(item)
        if self.punct("("):
            self.enter()
            expr = self.or_()
            if not self.punct(")"):
                column = opening.pos + 1
                raise self.fail(
                    f"')' to close the '(' at column {column}", f"“)”，以闭合第 {column} 列的“(”"
                )
            self.depth -= 1
            return expr
        if self.token.kind == "name":
            return self.predicate(self.advance().value)
        raise self.fail("a field name, 'not' or '('", "字段名、not 或“(”")

    def predicate(self, field: str) -> RowFilter:
        if self.token.kind == "op":
            op = self.advance().value
            return Compare(field, op, self.value())
        if self.keyword("not"):
            if self.keyword("in"):
                return InList(field, self.values(), negated=True)
            if self.keyword("like"):
                return Like(field, self.pattern(), negated=True)
            raise self.fail("'in' or 'like'", "关键字 in 或 like")
        if self.keyword("in"):
            return InList(field, self.values())
        if self.keyword("between"):
            low = self.value()
            if not self.keyword("and"):
                raise self.fail("'and'", "关键字 and")
            return Between(field, low, self.value())
        if self.keyword("like"):
            return Like(field, self.pattern())
        if self.keyword("is"):
            negated = self.keyword("not")
            if not self.keyword("null"):
                raise self.fail("'null'", "关键字 null")
            return IsNull(field, negated)
        raise self.fail(
            "an operator (=, !=, <, <=, >, >=, in, not in, between, like, not like, is null)",
            "运算符（=、!=、<、<=、>、>=、in、not in、between、like、not like、is null）",
        )

    def value(self) -> Value:
        token = self.token
        if token.kind == "text":
            value: Value = Text(token.value)
        elif token.kind == "integer":
            value = Integer(token.value)
        elif token.kind == "decimal":
            value = Number(token.value)
        elif token.kind == "keyword" and token.value in ("true", "false"):
            value = Boolean(token.value == "true")
        elif token.kind == "keyword" and token.value == "null":
            raise self.fail(
                "a value (test for NULL with 'is null' or 'is not null')",
                "一个值（判断空值请用 is null 或 is not null）",
            )
        else:
            raise self.fail(
                "a value (a 'text', a number, true or false)",
                "一个值（'文本'、数字、true 或 false）",
            )
        self.advance()
        return value

    def values(self) -> tuple[Value, ...]:
        if not self.punct("("):
            raise self.fail("'(' to start the list of values", "“(”，开始值列表")
        out = [self.value()]
        while self.punct(","):
            if len(out) == MAX_LIST_VALUES:
                raise InvalidInput(
                    "rowfilter.too_many_values",
                    "Row filter, column {column}: a list holds at most {max} values",
                    column=self.token.pos + 1,
                    max=MAX_LIST_VALUES,
                )
            out.append(self.value())
        if not self.punct(")"):
            raise self.fail("',' or ')'", "“,”或“)”")
        return tuple(out)

    def pattern(self) -> str:
        token = self.token
        if token.kind != "text":
            raise self.fail("a pattern in single quotes", "单引号中的匹配模式")
        pattern: str = token.value
        i = 0
        while (i := pattern.find("\\", i)) >= 0:
            if pattern[i + 1 : i + 2] not in ("%", "_", "\\"):
                # Engines disagree on other escapes (Spark refuses them): allow none.
                expected = (
                    "'%', '_' or '\\' after '\\' in the pattern",
                    "模式中“\\”之后应为 %、_ 或 \\",
                )
                raise _syntax(token.pos, expected, token.text)
            i += 2
        self.advance()
        return pattern


def parse_row_filter(text: str) -> RowFilter:
    """The tree of a row filter written in the grammar of this module.

    Example:
        >>> parse_row_filter("age >= 60")
        Compare(field='age', op='>=', value=Integer(value=60))

    Raises:
        InvalidInput: ``rowfilter.syntax`` naming the column (counted from 1 over the whole
            text) and what was expected there; ``rowfilter.too_long``,
            ``rowfilter.too_deep``, ``rowfilter.too_many_values`` when a bound is passed.
    """
    if len(text) > MAX_CHARS:
        raise InvalidInput(
            "rowfilter.too_long",
            "The row filter is {length} characters long; the limit is {max}",
            length=len(text),
            max=MAX_CHARS,
        )
    return _Parser(text).parse()


# --- reading the tree --------------------------------------------------------------------


def fields_of(expr: RowFilter) -> set[str]:
    """Every field the filter reads (the exchange checks them against the grant's fields)."""
    if isinstance(expr, Not):
        return fields_of(expr.item)
    if isinstance(expr, And | Or):
        return set().union(*(fields_of(item) for item in expr.items))
    return {expr.field}
