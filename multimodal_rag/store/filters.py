"""The one place where user-supplied values become Milvus filter expressions.

Filters are data (``{"price": {"lt": 500}, "attributes.Color": "Black"}``); every value is type-checked and
escaped here, so quotes, backslashes, ``or 1==1`` and the like stay inside a string literal.

An attribute compared for (in)equality is looked up in the product's ``facets`` text (``store.schema.FACETS``), in
any letter case: Milvus Lite evaluates a JSON key row by row (~2 s a search at 15,000 products), a LIKE on the
facets in ~15 ms. ``prefix`` and ``contains`` on an attribute still read its JSON value.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from multimodal_rag.errors import UserError
from multimodal_rag.store.schema import FACET_SEPARATOR, FACETS, NUMBER_FIELDS, STRING_FIELDS, facet_token

ATTRIBUTE_PREFIX = "attributes."
MAX_VALUE_LENGTH = 65_535
MAX_LIST_LENGTH = 10_000

OPERATORS = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
STRING_ONLY = ("prefix", "contains")
# "level": one of the levels of a category path ("A > B > C") equals the value (or any of a list of values).
PATH_OPERATORS = ("level",)
PATH_SEPARATOR = " > "
LIST_OPERATORS = {"in": "in", "not_in": "not in"}


class FilterError(UserError, ValueError):
    """A filter that cannot be compiled; the message names the field and the operator."""


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
LIKE_WILDCARDS = frozenset("%_\\")


def quote(value: str) -> str:
    """A Milvus string literal holding exactly ``value``."""
    if not isinstance(value, str):
        raise FilterError(f"expected a string, got {type(value).__name__}")
    if len(value) > MAX_VALUE_LENGTH:
        raise FilterError(f"a filter value is limited to {MAX_VALUE_LENGTH} characters, got {len(value)}")
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def like_literal(value: str, *, prefix: bool, where: str) -> str:
    """A LIKE pattern matching ``value`` literally, as a prefix or a substring.

    Milvus Lite does not honour escapes inside LIKE patterns, so a value holding a wildcard cannot be matched
    literally on every backend: it is refused rather than allowed to match more than asked.
    """
    if not isinstance(value, str):
        raise FilterError(f"{where}: expected a string, got {type(value).__name__}")
    bad = sorted(set(value) & LIKE_WILDCARDS)
    if bad:
        raise FilterError(f"{where}: the value may not contain {' '.join(bad)} (LIKE wildcards); "
                          "use eq or in for exact values")
    return quote(value + "%" if prefix else "%" + value + "%")


def _number(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FilterError(f"{where}: expected a finite number, got {value!r}"[:200])
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def field_expression(name: str) -> tuple[str, str]:
    """The Milvus expression for a filter field and its kind ("string" or "number")."""
    if name in STRING_FIELDS:
        return name, "string"
    if name in NUMBER_FIELDS:
        return name, "number"
    if name.startswith(ATTRIBUTE_PREFIX) and len(name) > len(ATTRIBUTE_PREFIX):
        return f"attributes[{quote(name[len(ATTRIBUTE_PREFIX):])}]", "string"
    raise FilterError(f"unknown filter field {name[:100]!r}; use one of "
                      f"{sorted(STRING_FIELDS | NUMBER_FIELDS)} or attributes.<name>")


def _literal(kind: str, value: Any, where: str) -> str:
    if kind == "number":
        return _number(value, where)
    if not isinstance(value, str):
        raise FilterError(f"{where}: expected a string, got {type(value).__name__}")
    return quote(value)


def _facet(name: str, value: Any, where: str, *, present: bool = True) -> str:
    """The product has (or, not ``present``, has not) attribute ``name`` equal to ``value``, in any letter case."""
    if not isinstance(value, str):
        raise FilterError(f"{where}: expected a string, got {type(value).__name__}")
    quote(value)  # the length check
    token = quote(f"%{FACET_SEPARATOR}{facet_token(name, value)}{FACET_SEPARATOR}%")
    return f"{FACETS.name} {'like' if present else 'not like'} {token}"


def _condition(name: str, op: str, value: Any) -> str:
    expr, kind = field_expression(name)
    where = f"{name} {op}"
    if name.startswith(ATTRIBUTE_PREFIX) and op in ("eq", "ne", "in", "not_in"):
        values = [value] if op in ("eq", "ne") else _values(value, where)
        present = op in ("eq", "in")
        return (" or " if present else " and ").join(_facet(name, v, where, present=present) for v in values)
    if op in OPERATORS:
        return f"{expr} {OPERATORS[op]} {_literal(kind, value, where)}"
    if op in LIST_OPERATORS:
        literals = [_literal(kind, v, where) for v in _values(value, where)]
        return f"{expr} {LIST_OPERATORS[op]} [{', '.join(literals)}]"
    if op in STRING_ONLY:
        if kind != "string":
            raise FilterError(f"{where}: {op} works on text fields only")
        return f"{expr} like {like_literal(value, prefix=op == 'prefix', where=where)}"
    if op in PATH_OPERATORS:
        if name != "category":
            raise FilterError(f"{where}: level works on the category path only")
        values = [value] if isinstance(value, str) else list(value) if isinstance(value, Iterable) else [value]
        if not values or len(values) > MAX_LIST_LENGTH:
            raise FilterError(f"{where}: one value or a list of 1 to {MAX_LIST_LENGTH} values")
        return " or ".join(_level(expr, v, where) for v in values)
    known = sorted([*OPERATORS, *LIST_OPERATORS, *STRING_ONLY, *PATH_OPERATORS])
    raise FilterError(f"{name}: unknown operator {op[:50]!r}; use one of {known}")


def _values(value: Any, where: str) -> list:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise FilterError(f"{where}: expected a list of values")
    values = list(value)
    if not values:
        raise FilterError(f"{where}: the list is empty")
    if len(values) > MAX_LIST_LENGTH:
        raise FilterError(f"{where}: at most {MAX_LIST_LENGTH} values")
    return values


def _level(expr: str, value: Any, where: str) -> str:
    """The path is the value, starts with it, ends with it, or holds it between separators."""
    if not isinstance(value, str) or not value.strip() or PATH_SEPARATOR.strip() in value:
        raise FilterError(f"{where}: a category level is a non-empty string without '>', got {value!r}"[:200])
    first = like_literal(value + PATH_SEPARATOR, prefix=True, where=where)  # refuses LIKE wildcards
    last = quote("%" + PATH_SEPARATOR + value)
    inner = like_literal(PATH_SEPARATOR + value + PATH_SEPARATOR, prefix=False, where=where)
    return f"{expr} == {quote(value)} or {expr} like {first} or {expr} like {last} or {expr} like {inner}"


def build_filter(filters: Mapping[str, Any] | None) -> str:
    """Compile filters as data into one Milvus expression (conditions joined with ``and``); "" for none.

    A field maps to a value (equality) or to ``{operator: value}``; operators: eq, ne, lt, lte, gt, gte,
    in, not_in, prefix, contains, level (category only: one of its path's levels).
    """
    if not filters:
        return ""
    if not isinstance(filters, Mapping):
        raise FilterError(f"filters must be a mapping of field to condition, got {type(filters).__name__}")
    parts = []
    for name, condition in filters.items():
        if not isinstance(name, str):
            raise FilterError(f"a filter field must be a string, got {type(name).__name__}")
        if isinstance(condition, Mapping):
            if not condition:
                raise FilterError(f"{name}: empty condition")
            parts.extend(_condition(name, str(op), value) for op, value in condition.items())
        else:
            parts.append(_condition(name, "eq", condition))
    return " and ".join(f"({p})" for p in parts)


def ids_filter(ids: Iterable[str]) -> str:
    """``id in [...]`` for a batch of product ids."""
    items = ", ".join(quote(str(i)) for i in ids)
    return f"id in [{items}]"


def combine(*expressions: str) -> str:
    """Join non-empty expressions with ``and`` (each already built by this module or named raw by the user)."""
    parts = [e for e in expressions if e]
    return " and ".join(f"({p})" for p in parts)
