"""What a shopper's question asks, as one typed result: ``QuestionParser.parse(question, history) -> ParsedQuestion``.

``ProductQA`` plans retrieval from a ``ParsedQuestion`` and nothing else the question says, so a parser can be
swapped without touching the chain. ``RulesParser`` is today's reading: the follow-up rewrite (``followup``), the
catalog's facet understanding (``QueryUnderstanding``: kinds, brands, colours, budgets, price order) and the field
words (``FieldResolver.field_words``). Which product a question names, and so the field of that product it asks
for, is read after retrieval (``lookup``), from the products found: the parse feeds it the standalone query.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, Sequence

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field

from multimodal_rag.language.detect import DEFAULT_LANGUAGE, question_language
from multimodal_rag.qa.fields import FieldResolver
from multimodal_rag.qa.followup import StandaloneQuery, Turn, rewrite_with_llm, rewrite_with_rules
from multimodal_rag.retrieval.understanding import QueryUnderstanding, Understanding
from multimodal_rag.words import tokens

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
            language=self._language(question))

    def _standalone(self, question: str, history: Sequence[Turn]) -> StandaloneQuery:
        if self.rewriter is not None:
            return rewrite_with_llm(question, history, self.rewriter)
        understand = self.understanding.understand if self.understanding is not None else None
        return rewrite_with_rules(question, history, understand, self._catalog_language)

    def _language(self, question: str) -> str:
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
