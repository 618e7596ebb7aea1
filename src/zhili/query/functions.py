"""The functions guarded SQL may call, by the name DuckDB runs them under.

An allow-list, not a deny-list: DuckDB has hundreds of functions and some read files,
environment variables, settings or the catalog (``read_text``, ``getenv``,
``current_setting``, ``duckdb_tables``, ``glob``, ``query``...). Anything not listed here is
refused with its name, and adding a function is a reviewed one-line change.

Names are those of sqlglot's DuckDB rendering of the parsed call, so aliases collapse to one
entry (``substr`` runs as ``SUBSTRING``, ``ifnull`` as ``COALESCE``, ``char_length`` as
``LENGTH``). Every function here also has a Spark translation through sqlglot; the
cross-engine tests exercise the common ones.
"""

from __future__ import annotations

__all__ = ["ALLOWED_FUNCTIONS"]

AGGREGATES = frozenset(
    {
        "COUNT", "COUNT_IF", "SUM", "AVG", "MIN", "MAX", "MEDIAN", "MODE",
        "QUANTILE_CONT", "QUANTILE_DISC", "STDDEV", "STDDEV_SAMP", "STDDEV_POP",
        "VARIANCE", "VAR_SAMP", "VAR_POP", "CORR", "COVAR_POP", "COVAR_SAMP",
        "ANY_VALUE", "BOOL_AND", "BOOL_OR", "APPROX_COUNT_DISTINCT", "ARG_MIN", "ARG_MAX",
        "LISTAGG", "STRING_AGG", "FIRST", "LAST",
    }
)  # fmt: skip

WINDOW = frozenset(
    {
        "ROW_NUMBER", "RANK", "DENSE_RANK", "PERCENT_RANK", "CUME_DIST", "NTILE",
        "LAG", "LEAD", "FIRST_VALUE", "LAST_VALUE", "NTH_VALUE",
    }
)  # fmt: skip

STRING = frozenset(
    {
        "LOWER", "UPPER", "LENGTH", "TRIM", "LTRIM", "RTRIM", "SUBSTRING", "REPLACE",
        "CONCAT", "CONCAT_WS", "LEFT", "RIGHT", "LPAD", "RPAD", "STRPOS", "STARTS_WITH",
        "ENDS_WITH", "CONTAINS", "PREFIX", "SUFFIX", "REGEXP_MATCHES", "REGEXP_REPLACE",
        "REGEXP_EXTRACT", "SPLIT_PART", "REVERSE", "REPEAT", "ASCII", "CHR", "MD5", "SHA256",
    }
)  # fmt: skip

DATE = frozenset(
    {
        "DATE_TRUNC", "DATE_PART", "DATEPART", "EXTRACT", "YEAR", "MONTH", "DAY", "HOUR",
        "MINUTE", "SECOND", "QUARTER", "WEEK", "DAYOFWEEK", "DAYOFYEAR", "ISODOW",
        "DATE_DIFF", "DATE_ADD", "DATE_SUB", "STRFTIME", "STRPTIME", "MAKE_DATE",
        "CURRENT_DATE", "CURRENT_TIMESTAMP", "NOW", "LAST_DAY", "EPOCH", "AGE",
    }
)  # fmt: skip

MATH = frozenset(
    {
        "ABS", "CEIL", "FLOOR", "ROUND", "TRUNC", "SQRT", "CBRT", "POWER", "EXP", "LN",
        "LOG", "LOG10", "LOG2", "MOD", "SIGN", "GREATEST", "LEAST", "PI",
    }
)  # fmt: skip

CONDITIONAL = frozenset({"CASE", "IF", "COALESCE", "NULLIF", "CAST", "TRY_CAST"})

#: Every function guarded SQL may call.
ALLOWED_FUNCTIONS: frozenset[str] = AGGREGATES | WINDOW | STRING | DATE | MATH | CONDITIONAL
