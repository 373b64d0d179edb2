"""Structured answers from a product's own fields.

A small model phrases well enough but cannot be trusted to copy a price or a material correctly. When a question
asks for a field ("what is the material of X", "how much is X", "who makes X") and a retrieved product is the X the
question names, the value comes from that product's fields; the chain gives it to the LLM and checks the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_END = r"\s*[?.!]*\s*$"
# "what is the <field> of <subject>": the field/subject split is found against the products' own field names.
_WHAT = re.compile(r"^\s*(?:what|which)(?:'s|\s+is|\s+are|\s+was)?\s+(?:the\s+)?(?P<rest>.+?)" + _END, re.I)
_POSSESSIVE = re.compile(r"^(?P<subject>.+)'s\s+(?P<field>[\w /&-]{2,40})$")
_SPLIT = re.compile(r"\s+(of|for)(?=\s)", re.I)
_WHICH_BRAND = re.compile(r"^\s*(?:what|which)\s+(?:brand|company)\s+(?:is|makes|made|sells|are)\s+(?P<subject>.+?)"
                          + _END, re.I)
_WHO_MAKES = re.compile(r"^\s*who\s+(?:makes|made|manufactures|sells)\s+(?P<subject>.+?)" + _END, re.I)
_HOW_MUCH = re.compile(r"^\s*how\s+much\s+(?:is|are|does|do)\s+(?P<subject>.+?)(?:\s+cost)?" + _END, re.I)
_PRICE = re.compile(r"\b(price|cost|costs|how much|priced)\b", re.I)
_BRAND = re.compile(r"\b(brand|who makes|which company|manufacturer|made by)\b", re.I)
# Words that say what is asked, not which product: left out when matching a question to a product.
_QUESTION_WORDS = frozenset(
    "what which who whom whose is are was were the a an of for does do did how much many makes make made by "
    "cost costs price priced brand company manufacturer tell me please s its it this that".split())

# A retrieved product is the one a question names only when every product word of the question is in its title,
# brand, category or attribute values. Catalogs hold near twins that differ in one word (a colour, a model number:
# on flipkart_1050 the nearest other product covers up to 0.89 of a question's words), so anything less is
# another product.
SUBJECT_COVERAGE = 1.0


@dataclass(frozen=True)
class FieldAnswer:
    """A value read from a product: ``position`` is its 1-based place among the products given to the LLM."""

    position: int
    product_id: str
    title: str
    field: str
    value: str | None  # None: the product is the one asked about but does not list the field


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text or "")]


def subject_words(question: str) -> set[str]:
    return {w for w in words(question) if w not in _QUESTION_WORDS}


def subject_coverage(subject: str, product: Mapping[str, Any]) -> float:
    """Share of a subject's product words found in the product's title, brand, category and attribute values."""
    asked = subject_words(subject)
    if not asked:
        return 0.0
    known = set(words(" ".join([product.get("title") or "", product.get("brand") or "",
                                product.get("category") or "",
                                *map(str, (product.get("attributes") or {}).values())])))
    return len(asked & known) / len(asked)


def parse_question(question: str, products: Sequence[Mapping[str, Any]] = ()) -> tuple[str | None, str]:
    """(field asked for or None, the words naming the product). Field names are the shopper's, lower case."""
    for pattern, field in ((_WHICH_BRAND, "brand"), (_WHO_MAKES, "brand"), (_HOW_MUCH, "price")):
        match = pattern.match(question)
        if match:
            return field, match.group("subject")
    match = _WHAT.match(question)
    if match:
        rest = match.group("rest")
        splits = [(rest[: m.start()], rest[m.end():].strip(), m.group(1).lower()) for m in _SPLIT.finditer(rest)]
        known = {"price", "brand"} | {" ".join(words(k)) for p in products for k in (p.get("attributes") or {})}
        possessive = _POSSESSIVE.match(rest)  # "X's material", as follow-ups are rewritten
        if possessive:
            splits.insert(0, (possessive.group("field"), possessive.group("subject"), "'s"))
        for field, subject, _ in splits:
            name = _field_name(field)
            if name in known:
                return name, subject
        if splits:  # no known field: "X's warranty", else the first "of" ("the warranty of X"), else "for"
            field, subject, _ = min(splits, key=lambda split: {"'s": 0, "of": 1}.get(split[2], 2))
            return _field_name(field), subject
    if _PRICE.search(question):
        return "price", question
    if _BRAND.search(question):
        return "brand", question
    return None, question


def _field_name(text: str) -> str:
    name = " ".join(words(text))
    if _PRICE.fullmatch(name):
        return "price"
    if _BRAND.fullmatch(name):
        return "brand"
    return name


def field_value(product: Mapping[str, Any], field: str) -> str | None:
    """The product's value for a field name (attributes matched case-insensitively), formatted for a shopper."""
    if field == "price":
        price = product.get("price")
        return None if price is None else format_price(price, product.get("currency"))
    if field == "brand":
        return product.get("brand") or _attribute(product, "brand")
    return _attribute(product, field)


def _attribute(product: Mapping[str, Any], field: str) -> str | None:
    wanted = " ".join(words(field))
    for key, value in (product.get("attributes") or {}).items():
        if " ".join(words(key)) == wanted and str(value).strip():
            return str(value).strip()
    return None


def format_price(price: float, currency: str | None) -> str:
    amount = f"{price:,.0f}" if float(price).is_integer() else f"{price:,.2f}"
    return f"{amount} {currency}".strip() if currency else amount


def lookup(question: str, products: Sequence[Mapping[str, Any]]) -> tuple[str | None, FieldAnswer | None]:
    """(asked field, answer): the answer is None when no field is asked or no product is the one named.

    Of the products that cover every word, the one whose title covers most wins (a word may match another
    product through its category or attributes), then the earliest retrieved."""
    field, subject = parse_question(question, products)
    if field is None:
        return None, None
    named = [(i, p) for i, p in enumerate(products, start=1) if subject_coverage(subject, p) >= SUBJECT_COVERAGE]
    if not named:
        return field, None
    asked = subject_words(subject)
    position, product = max(named, key=lambda item: (len(asked & set(words(item[1].get("title") or ""))), -item[0]))
    return field, FieldAnswer(position, str(product["id"]), product.get("title", ""), field,
                              field_value(product, field))


def numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in _NUMBER.findall(text or "")]


def contains_answer(text: str, answer: str) -> bool:
    """True when ``text`` contains ``answer``: case-insensitive, and numbers compared as numbers."""
    expected = numbers(answer)
    if expected and _NUMBER.fullmatch(answer.strip().replace(" ", "")):
        return any(abs(n - expected[0]) <= 1e-6 * max(1.0, abs(expected[0])) for n in numbers(text))
    return answer.strip().lower() in (text or "").lower()
