"""A language's wordings as data: the words and phrases shoppers use for fields, prices, follow-ups and facets,
and the words a question is wrapped in, read from ``data/<language>/*.toml`` (one file per concern).

The modules that understand questions and queries build their matchers (regular expressions, phrase tables) from
these; the shapes of those matchers (number patterns, word boundaries) stay in their code. ``wordings(language)``
is read once per language and frozen. A language reads each concern from its own folder; a concern it has no file
for (a language with no folder: every concern) is read from English, so numbers, currency signs and the English
words shoppers mix into any language are still understood. A file that does not hold what its concern needs
raises ``WordingsError``, one line naming the file and the key.
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Iterable, Mapping

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PositiveFloat, StringConstraints, ValidationError,
                      model_validator)

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_LANGUAGE = "en"
FALLBACK_LANGUAGE = "en"  # what a language without a file for a concern reads instead
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][a-z0-9]{2,8})*")  # "en", "zh", "pt-br": a folder name, never a path


class WordingsError(ValueError):
    """A wordings file that cannot be read: the message names the file and the key."""


Phrase = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1)]
Phrases = tuple[Phrase, ...]
Words = frozenset[Phrase]


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- question.toml ----------------------------------------------------------------------------------------------

class Alternatives(_Data):
    joiners: Words      # words that list alternatives: "men, women or kids"
    offering: Words     # the ones that offer answers to choose from: "for men or women?"


class QuestionWordings(_Data):
    function_words: Words
    shopper_words: Words  # what shoppers wrap a question in: "buy", "wondering", "hello"
    asking: Words         # words that make a sentence a question
    inverting: Words = ()  # verbs that go before the subject in a question: "does X fall under ...?"
    determiners: Words    # words that ask which one of a kind: the noun after one names what is asked
    open_asking: Words    # asking words that want a thing named, not a yes or no ("what", "when")
    open_asking_leads: bool = False  # one heads its clause (English), rather than stands where the thing asked does
    requesting: Words = ()  # verbs that ask to be told a thing, in a request: "kindly mention the type"
    alternatives: Alternatives

    @property
    def stopwords(self) -> frozenset[str]:
        """Words that carry no product and no field."""
        return self.function_words | self.shopper_words


# -- fields.toml ------------------------------------------------------------------------------------------------

class Concept(_Data):
    phrases: Phrases
    names: Phrases = ()  # an attribute concept's attribute names (or name parts), preferred first


class Who(_Data):
    asks: Words
    making: Words     # a "who" question with one of these asks who makes the product
    for_whom: Phrase  # the concept a "who" question without one asks


class FieldWordings(_Data):
    weak_phrases: Phrases  # loose phrases that yield to any other field named
    concepts: Annotated[Mapping[Phrase, Concept], AfterValidator(_frozen)]  # in the file's order
    who: Who | None = None  # a language whose questions open with a "who" word that asks two things (English)
    when: Words = ()  # words that ask a time: a field whose catalog values are all years or dates answers them
    # The concept a question that says nothing but the product asks ("what is X?", "tell me what X is"): its kind.
    what_it_is: Phrase | None = None
    # Questions that ask a field, written for any field ({field}: its name; {a}, {b}, {c}: values of it), with "it"
    # for the product: generated for a catalog's fields, they are what a question no rule reads is compared with.
    questions: Phrases = ()
    # Questions that ask the catalog, no field of a product ("Do you have it?"): what a question nearer to them
    # than to any field question is.
    catalog_questions: Phrases = ()
    # Questions that ask an opinion of a product, no field of it ("Is it good?"): nor does one nearer to them.
    opinion_questions: Phrases = ()

    @model_validator(mode="after")
    def _who_names_a_concept(self) -> "FieldWordings":
        if self.who is not None and self.who.for_whom not in self.concepts:
            raise ValueError(f"who.for_whom: {self.who.for_whom!r} is not one of the [concepts]")
        if self.what_it_is is not None and self.what_it_is not in self.concepts:
            raise ValueError(f"what_it_is: {self.what_it_is!r} is not one of the [concepts]")
        return self

    @property
    def synonyms(self) -> dict[str, tuple[str, ...]]:
        """concept -> the phrases a shopper uses for it."""
        return {name: concept.phrases for name, concept in self.concepts.items()}

    @property
    def attribute_names(self) -> dict[str, tuple[str, ...]]:
        """attribute concept -> the attribute names (or name parts) it designates, preferred first."""
        return {name: concept.names for name, concept in self.concepts.items() if concept.names}


# -- shopping.toml ----------------------------------------------------------------------------------------------

class PriceWordings(_Data):
    below: Phrases          # strict upper bounds before an amount: "under 500"
    at_most: Phrases        # upper bounds that take the amount in: "up to 500"
    above: Phrases          # strict lower bounds: "over 500"
    at_least: Phrases       # lower bounds that take the amount in: "at least 500"
    at_most_after: Phrases  # upper bounds after an amount: "500 or less"
    below_after: Phrases = ()     # strict upper bounds after an amount: "300元以内"... as the language has them
    above_after: Phrases = ()     # strict lower bounds after an amount
    at_least_after: Phrases = ()  # lower bounds that take the amount in, after it: "500 or more"
    range_before: Phrases   # "between" 200 and 400
    range_joiners: Phrases  # 200 "and" 400
    # A bound negated reverses: "not over 500" is at most 500, "不低于300" at least 300. The negation stands before a
    # bound written before the amount ("not", "不要"), or after the word of one written after it (Korean: "6만원
    # 넘지 않는", the stem 넘 and 지 않).
    negation_before: Phrases = ()
    negation_after: Phrases = ()


class AmountWordings(_Data):
    currency: Phrases
    spec_units: Phrases  # a number followed by one is a spec, not a price
    multipliers: Annotated[Mapping[Phrase, PositiveFloat], AfterValidator(_frozen)] = MappingProxyType({})


class OrderWordings(_Data):
    """Price orders. ``cheapest`` / ``dearest``: words that are one by themselves ("cheapest", "최저가"). The rest
    compose one, so that every way of putting it is read rather than the phrases listed: a superlative (``most``;
    ``least`` reverses it) before a word of a price's direction (``dear`` / ``cheap``: "가장 고가인", "最昂贵",
    "least pricey"), or a ``price`` word and a superlative of ``high`` / ``low`` ("가격이 제일 높은", "价钱最低",
    "最高价")."""

    cheapest: Phrases = ()
    dearest: Phrases = ()
    most: Phrases = ()
    least: Phrases = ()
    dear: Phrases = ()
    cheap: Phrases = ()
    high: Phrases = ()
    low: Phrases = ()
    price: Phrases = ()


class ShoppingWordings(_Data):
    # Whether words are written apart (phrases matched at word boundaries); False: inside runs of letters (Chinese,
    # or Korean with its particles glued on).
    spaced: bool = True
    links: Words  # words that introduce a facet value: "for men", "in red"
    price: PriceWordings
    amount: AmountWordings
    order: OrderWordings


# -- followup.toml ----------------------------------------------------------------------------------------------

class FollowupWordings(_Data):
    references: Phrases
    possessive: Words  # references that stand for the product's name with "'s"
    cheaper: Phrases   # comparatives that are one by themselves ("cheaper", "lower price")
    pricier: Phrases
    left_out: Words    # words a shopping follow-up leaves over that say nothing of what is sought
    # A comparative composed: ``more`` before a word of a price's direction (shopping.toml's [order] cheap / dear:
    # "more affordable", "更实惠", "보다 저렴한"), ``less`` reversing it ("less expensive").
    more: Phrases = ()
    less: Phrases = ()
    paying: Phrases = ()  # words of paying before ``more`` / ``less`` ("costs less") compose one as well
    possessive_form: str = "{title}'s"  # what a possessive reference becomes: "its colour" -> "X's colour"


# -- facets.toml ------------------------------------------------------------------------------------------------

class FacetWordings(_Data):
    kind: Phrases  # attribute names holding one of these say what kind of product it is
    values: Annotated[Mapping[Phrase, Phrase], AfterValidator(_frozen)] = Field(default_factory=dict,
                                                                                  validate_default=True)
    # Words that name one value, whichever of them a catalog stores ("빨간색", "빨강", "레드"): each names the one
    # the catalog has.
    same: tuple[Phrases, ...] = ()

    @property
    def shoppers_words(self) -> dict[str, tuple[str, ...]]:
        """A shopper's word -> the stored values it may name (``values``, and the other words of its ``same``)."""
        out = {phrase: (value,) for phrase, value in self.values.items()}
        for group in self.same:
            for phrase in group:
                out[phrase] = tuple(dict.fromkeys((*out.get(phrase, ()), *(v for v in group if v != phrase))))
        return out


# -- answers.toml -----------------------------------------------------------------------------------------------

# What each sentence may hold: a placeholder outside these is a mistake in the file, caught when it is read.
_PLACEHOLDERS = {"title": "", "field": "", "value": "", "n": 1, "price": "", "products": "", "understood": "",
                 "values": ""}


def _template(text: str) -> str:
    try:
        text.format(**_PLACEHOLDERS)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{text!r}: unknown or malformed placeholder {exc}") from None
    return text


Template = Annotated[str, AfterValidator(_template)]


class AnswerWordings(_Data):
    """The sentences the chain composes from catalog facts, as ``str.format`` templates."""

    separator: str         # between listed products
    fact: Template
    facts: Template        # several fields of one product: {title}, {values} (``facts_item``s joined), {n}
    facts_item: Template
    not_listed: Template
    not_listed_value: str  # a value a product does not list, among several products' values
    ambiguous: Template
    ambiguous_item: Template
    priced: Template
    unpriced: Template
    listed: Template
    closest: Template
    cheapest: Template
    dearest: Template
    matching: Template
    no_match: Template
    no_match_closest: Template
    nothing_found: Template
    product_not_found: Template
    field_names: Annotated[Mapping[str, str], AfterValidator(_frozen)]  # core fields as this language names them

    def field_name(self, field: str) -> str:
        """A field as a sentence names it: a core field in this language, an attribute as the catalog does."""
        return self.field_names.get(field, field.lower() if field.isascii() else field)


class Wordings(_Data):
    """One language's wordings, one field per data file."""

    language: str
    question: QuestionWordings
    fields: FieldWordings
    shopping: ShoppingWordings
    followup: FollowupWordings
    facets: FacetWordings
    answers: AnswerWordings


CONCERNS: dict[str, type[_Data]] = {"question": QuestionWordings, "fields": FieldWordings,
                                    "shopping": ShoppingWordings, "followup": FollowupWordings,
                                    "facets": FacetWordings, "answers": AnswerWordings}


def _data() -> Traversable:
    return resources.files("multimodal_rag.language.data")


@lru_cache(maxsize=None)
def wordings(language: str = DEFAULT_LANGUAGE) -> Wordings:
    """The shipped wordings of a language (an ISO 639 code such as "en"), each concern it has no file for read from
    English."""
    if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
        raise WordingsError(f"not a language code: {language!r} (e.g. 'en')")
    return read_wordings(_data().joinpath(language), language)


def languages_with(concern: str) -> tuple[str, ...]:
    """The languages that ship a file of their own for ``concern`` ("answers": the languages answers are composed
    in)."""
    return tuple(sorted(folder.name for folder in _data().iterdir()
                        if folder.is_dir() and folder.joinpath(f"{concern}.toml").is_file()))


def merged(tables: Iterable[Mapping[str, tuple[str, ...]]]) -> dict[str, tuple[str, ...]]:
    """Several languages' tables of one concern as one (key -> the entries of each, in the tables' order)."""
    out: dict[str, tuple[str, ...]] = {}
    for table in tables:
        for key, entries in table.items():
            out[key] = tuple(dict.fromkeys((*out.get(key, ()), *entries)))
    return out


@lru_cache(maxsize=None)
def shoppers_words() -> Mapping[str, tuple[str, ...]]:
    """Every language's shoppers' words for facet values (``facets.toml``): a word -> the stored values it may name
    ("ladies" -> "women"; scripts never collide). Read-only: search and question reading share it."""
    return MappingProxyType(merged(wordings(language).facets.shoppers_words for language in languages_with("facets")))


def read_wordings(folder: Traversable | Path, language: str) -> Wordings:
    """The wordings in ``folder`` (``question.toml``, ``fields.toml`` ...), a file it lacks read from the shipped
    English ones."""
    fallback = _data().joinpath(FALLBACK_LANGUAGE)
    parts: dict[str, Any] = {}
    for concern, model in CONCERNS.items():
        path = folder.joinpath(f"{concern}.toml")
        if not path.is_file():
            path = fallback.joinpath(f"{concern}.toml")
        parts[concern] = _read(path, model)
    return Wordings(language=language, **parts)


def _read(path: Traversable | Path, model: type[_Data]) -> _Data:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise WordingsError(f"{path}: not valid TOML: {exc}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        # A check across keys (who.for_whom among the concepts) names its keys in its own message.
        text = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise WordingsError(f"{path}: {f'{key}: ' if key else ''}{text}{more}") from None


def word_edges(spaced: bool = True) -> tuple[str, str]:
    """The regular expressions before and after a whole word: word boundaries in a language that writes words
    apart, else (``spaced`` False: Chinese, Korean with its particles) anything but a Latin letter."""
    return (r"\b", r"\b") if spaced else (r"(?<![a-z])", r"(?![a-z])")


def bounded(phrases: Iterable[str], spaced: bool = True) -> str:
    """``phrase_pattern(phrases)`` as whole words (``word_edges``)."""
    left, right = word_edges(spaced)
    return f"{left}{phrase_pattern(phrases)}{right}"


def phrase_pattern(phrases: Iterable[str]) -> str:
    """A regular expression (a non-capturing group) matching any of ``phrases``, longest first, their words
    separated by spaces or a hyphen; the caller adds the word boundaries and the flags."""
    alternatives = sorted({r"(?:\s+|-)".join(map(re.escape, p.split())) for p in phrases}, key=lambda a: (-len(a), a))
    return "(?:" + "|".join(alternatives) + ")" if alternatives else "(?!)"
