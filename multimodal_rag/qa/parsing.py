"""What a shopper's question asks, as one typed result: ``QuestionParser.parse(question, history) -> ParsedQuestion``.

``ProductQA`` plans retrieval from a ``ParsedQuestion`` and nothing else the question says, so a parser can be
swapped without touching the chain. Two parsers:

- ``RulesParser`` (offline): the follow-up rewrite (``followup``), the catalog's facet understanding
  (``QueryUnderstanding``: kinds, brands, colours, budgets, price order) and the field words
  (``FieldResolver.field_words``). Which product a question names, and so the field of that product it asks for,
  is read after retrieval (``lookup``), from the products found: the parse feeds it the standalone query.
- ``ChatModelParser``: a chat model's structured output (``with_structured_output``) in a schema built from the
  catalog's vocabulary (``reading_schema``): its fields and facet names are the only ones it may give, a facet value
  the catalog does not hold is dropped. The field it reads is the one looked up; the rules read any question the
  model cannot (an error, an answer outside the schema).

``parser_for`` picks one as the config says ("auto": the chat model's when it can call tools, else the rules).
"""

from __future__ import annotations

import logging
from typing import Any, Literal, Optional, Protocol, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, create_model

from multimodal_rag.catalog.facets import FacetVocabulary
from multimodal_rag.language.detect import DEFAULT_LANGUAGE, question_language
from multimodal_rag.qa.fields import CORE_FIELDS, FieldResolver
from multimodal_rag.qa.followup import StandaloneQuery, Turn, conversation, rewrite_with_llm, rewrite_with_rules
from multimodal_rag.retrieval.understanding import Constraint, QueryUnderstanding, Understanding
from multimodal_rag.words import tokens

log = logging.getLogger(__name__)

Intent = Literal["field", "search", "cheapest", "most_expensive", "budget", "follow_up", "other"]


class ParsedQuestion(BaseModel):
    """A question as the chain plans from it.

    ``intent``, first that holds: "cheapest" / "most_expensive" (a price order), "budget" (a price bound), "follow_up"
    (the conversation changed the question: a reference resolved, or a shopping conversation's constraints carried
    on), "field" (words that name a product field: "price", "made of", "who makes"), "search" (catalog facet values:
    a kind, a brand, a colour), "other" (none of these: the model answers from what retrieval finds)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    question: str
    query: str = Field(description="the standalone question: what retrieval searches for")
    intent: Intent
    understood: Understanding | None = Field(
        default=None, description="the constraints understood (this question's, or a shopping conversation's)")
    carried: bool = Field(default=False, description="the constraints come from the conversation, not the query")
    filters: dict[str, Any] = Field(default_factory=dict, description="filters a follow-up adds ('a cheaper one')")
    field: str | None = Field(default=None, description=(
        "the product field asked, as the catalog stores it (None: read after retrieval from the product named)"))
    mentions: tuple[str, ...] | None = Field(default=None, description=(
        "the products the question names, as written (empty: none; None: not read before retrieval, the products "
        "named are read from those found)"))
    price_low: float | None = None
    price_high: float | None = None
    sort: Literal["asc", "desc"] | None = None
    language: str = Field(default="en", description="the question's language: what the answer is composed in")

    @property
    def priced(self) -> bool:
        """A price bound or order was understood: a shopping question whatever else it names."""
        return self.sort is not None or self.price_low is not None or self.price_high is not None


class QuestionParser(Protocol):
    """Reads a question (with the conversation before it) into a ``ParsedQuestion``."""

    def parse(self, question: str, history: Sequence[Turn]) -> ParsedQuestion: ...


class RulesParser:
    """The rules: follow-ups resolved by ``rewrite_with_rules`` (or by ``rewriter``, a chat model, when given),
    constraints by the catalog's ``understanding`` (None: a retriever without one understands nothing), field words
    by ``resolver`` over the catalog's ``attributes``."""

    def __init__(self, understanding: QueryUnderstanding | None = None, resolver: FieldResolver | None = None,
                 attributes: Sequence[str] = (), rewriter: BaseChatModel | None = None):
        self.understanding = understanding
        self.resolver = resolver or FieldResolver()
        self.attributes = list(attributes)
        self.rewriter = rewriter

    def parse(self, question: str, history: Sequence[Turn]) -> ParsedQuestion:
        standalone = self._standalone(question, history)
        understood = standalone.understood
        if understood is None and self.understanding is not None:
            understood = self.understanding.understand(standalone.text)
        prices = [c for c in (understood.constraints if understood else ()) if c.facet == "price"]
        return ParsedQuestion(
            question=question, query=standalone.text, understood=understood,
            carried=standalone.understood is not None, filters=standalone.filters,
            price_low=next((c.low for c in prices if c.low is not None), None),
            price_high=next((c.high for c in prices if c.high is not None), None),
            sort=understood.sort if understood else None,
            intent=self._intent(question, standalone, understood, bool(history)),
            language=self.language(question))

    def _standalone(self, question: str, history: Sequence[Turn]) -> StandaloneQuery:
        if self.rewriter is not None:
            return rewrite_with_llm(question, history, self.rewriter)
        understand = self.understanding.understand if self.understanding is not None else None
        return rewrite_with_rules(question, history, understand, self._catalog_language)

    def language(self, question: str) -> str:
        """The question's language, read from its own words: what is left once the catalog's values are read out
        of it (a product's name is in the catalog's language whatever language the shopper writes in)."""
        own = self.understanding.understand(question).rest if self.understanding is not None else ""
        return question_language(own or question, self._catalog_language)

    @property
    def _catalog_language(self) -> str:
        return self.understanding.language if self.understanding is not None else DEFAULT_LANGUAGE

    def _intent(self, question: str, standalone: StandaloneQuery, understood: Understanding | None,
                conversation: bool) -> Intent:
        if understood and understood.sort:
            return "cheapest" if understood.sort == "asc" else "most_expensive"
        if understood and any(c.facet == "price" for c in understood.constraints):
            return "budget"
        if conversation and (standalone.text != question or standalone.filters or standalone.understood):
            return "follow_up"
        if self.resolver.field_words(tokens(standalone.text), self.attributes):
            return "field"
        return "search" if understood else "other"


# What the chat model is told beside the schema; the catalog's own fields and values follow it.
READING_PROMPT = (
    "You read a shopper's question to a shop's catalog into the given schema. Use only the catalog's field names "
    "and facet values listed below, written as listed. A question about one product's detail has intent 'field' "
    "and the field it asks; products it names go in 'products' as written. Constraints on what to show (a kind, "
    "a brand, a colour ...) go in 'constraints'; a price limit in price_low / price_high; 'the cheapest' or 'the "
    "most expensive' sets sort. For a follow-up, 'query' is the question made standalone from the conversation, "
    "with its constraints carried on.\n\nCatalog fields: {fields}\nFacet values (the most common):\n{values}"
)
VALUES_SHOWN = 20  # per facet, in the prompt: the most common; the schema takes any value the catalog holds


def reading_schema(fields: Sequence[str], facets: Sequence[str]) -> type[BaseModel]:
    """The schema a chat model reads a question into: ``fields`` and ``facets`` are the only field and facet names
    it may give (JSON schema enums), the intents those of ``ParsedQuestion``."""
    field_name = Literal[tuple(dict.fromkeys(fields))]  # type: ignore[valid-type]
    facet_name = Literal[tuple(dict.fromkeys(facets))]  # type: ignore[valid-type]
    facet_value = create_model(
        "FacetValue", __doc__="One constraint: a catalog facet and one of its values.",
        facet=(facet_name, Field(description="the facet: brand, category or an attribute name")),
        value=(str, Field(description="one of the catalog's values of that facet, written as listed")))
    return create_model(
        "QuestionReading", __doc__="What a shopper's question asks of the catalog.",
        intent=(Intent, Field(description=(
            "the first that holds: cheapest / most_expensive (a price order), budget (a price bound), follow_up "
            "(it refers to the conversation), field (a detail of a named product), search (products by facet "
            "values), other"))),
        query=(str, Field(description="the question made standalone: what to search the catalog for")),
        field=(Optional[field_name], Field(None, description="the product field asked for, if any")),
        products=(list[str], Field(default_factory=list, description="the products named, as written")),
        constraints=(list[facet_value], Field(default_factory=list, description="facet values asked for")),
        price_low=(Optional[float], Field(None, description="the lowest price wanted")),
        price_high=(Optional[float], Field(None, description="the highest price wanted")),
        sort=(Optional[Literal["asc", "desc"]], Field(None, description="asc: cheapest first, desc: dearest first")))


def calls_tools(llm: BaseChatModel) -> bool:
    """True when the chat model gives structured output by tool calling (its class implements ``bind_tools`` or
    ``with_structured_output``); the offline local model does not."""
    kind = type(llm)
    return (kind.bind_tools is not BaseChatModel.bind_tools
            or kind.with_structured_output is not BaseChatModel.with_structured_output)


class ChatModelParser:
    """A chat model's structured output over the catalog's ``vocabulary``; ``fallback`` (the rules) reads what
    the model cannot, and gives the question's language (from its own words, as the answers need)."""

    def __init__(self, llm: BaseChatModel, vocabulary: FacetVocabulary, fallback: RulesParser):
        self.fallback = fallback
        self.fields = [*CORE_FIELDS, *vocabulary.field_names]
        # facet name as the schema says it -> (the constraint's facet, its values as stored)
        self._facets: dict[str, tuple[str, dict[str, int]]] = {"brand": ("brand", vocabulary.brands)}
        self._facets["category"] = ("category", {v: n for level in vocabulary.categories for v, n in level.items()})
        for name, values in vocabulary.attributes.items():
            self._facets.setdefault(name, (f"attributes.{name}", values))
        self.schema = reading_schema(self.fields, list(self._facets))
        self._reader = llm.with_structured_output(self.schema, include_raw=True)
        self._lowered = {facet: {v.lower(): v for v in values} for facet, (_, values) in self._facets.items()}
        shown = "\n".join(f"- {facet}: " + ", ".join(list(held)[:VALUES_SHOWN])
                           for facet, (_, held) in self._facets.items() if held)
        self._system = SystemMessage(READING_PROMPT.format(fields=", ".join(self.fields), values=shown))

    def parse(self, question: str, history: Sequence[Turn]) -> ParsedQuestion:
        try:
            reply = self._reader.invoke(self.messages(question, history))
        except Exception as exc:  # noqa: BLE001 - any provider's error: the question is still read, by the rules
            log.warning("the chat model could not read the question (%s); the rules read it", exc)
            return self.fallback.parse(question, history)
        reading = reply.get("parsed") if isinstance(reply, dict) else reply
        if reading is None:
            error = reply.get("parsing_error") if isinstance(reply, dict) else None
            log.warning("the chat model's reading is outside the schema (%s); the rules read it", error)
            return self.fallback.parse(question, history)
        return self.parsed(question, reading)

    def messages(self, question: str, history: Sequence[Turn]) -> list[BaseMessage]:
        """The prompt: the catalog's fields and facet values, then the conversation and the question."""
        said = "\n".join([conversation(history), f"Shopper: {question}"]) if history else f"Shopper: {question}"
        return [self._system, HumanMessage(said)]

    def parsed(self, question: str, reading: Any) -> ParsedQuestion:
        """The model's reading as a ``ParsedQuestion``: facet values as the catalog stores them (one it does not
        hold is dropped), the price bounds and order as constraints, as the rules would give them."""
        values: dict[str, dict[str, None]] = {}  # facet -> its values as stored, in the order said
        for said in reading.constraints:
            stored = self._lowered[said.facet].get(" ".join(said.value.split()).lower())
            if stored is not None:
                values.setdefault(said.facet, {})[stored] = None
        understanding = self.fallback.understanding
        constraints = []
        for name, held in values.items():
            facet = self._facets[name][0]
            constraints.append(Constraint(facet, tuple(held), words=tuple(tokens(" ".join(held))),
                                          soft=understanding.soft(facet) if understanding else False))
        low, high = reading.price_low, reading.price_high
        if low is not None and high is not None:
            constraints.append(Constraint("price", op="between", low=low, high=high))
        elif low is not None or high is not None:
            constraints.append(Constraint.price_bound("gte" if high is None else "lte",
                                                      low if high is None else high, ()))
        understood = Understanding(reading.query, tuple(constraints), reading.sort)
        return ParsedQuestion(
            question=question, query=reading.query or question, intent=reading.intent, understood=understood,
            carried=reading.intent == "follow_up" and bool(understood), price_low=low, price_high=high,
            sort=reading.sort, field=reading.field, mentions=tuple(p for p in reading.products if p.strip()),
            language=self.fallback.language(question))


def parser_for(kind: str, llm: BaseChatModel, vocabulary: FacetVocabulary | None,
               rules: RulesParser) -> QuestionParser:
    """The parser the config names: "rules"; "llm" (the chat model's structured output; an error for a model that
    cannot call tools); "auto": the chat model's when it can, else the rules."""
    if kind == "rules" or (kind == "auto" and not calls_tools(llm)):
        return rules
    if not calls_tools(llm):
        raise ValueError(f"parser 'llm' needs a chat model that calls tools (structured output); "
                         f"{type(llm).__name__} does not: use parser 'rules' or 'auto'")
    return ChatModelParser(llm, vocabulary or FacetVocabulary(), rules)
