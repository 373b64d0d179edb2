"""The guard step: what is kept of the model's answer, per route, and what the chain writes instead.

- Every sentence that cites ``[n]`` must name product n (its title, or words of it that no other given product
  holds all of) and state no price but a cited product's (``citations.miscited``); one that fails is replaced by a
  sentence composed from the cited products' own facts (``answers.cited_sentence``).
- Every number and catalog value an answer states must be in what the model was given (``GroundingCheck``); an
  open answer's first sentence that fails stops the model, and the catalog's sentence follows what was shown.
- A stated fact is the whole answer: the model may word it, never add to it; else the chain states the fact.
- A shopping answer cites only products that satisfy every constraint (the first of them first when the question
  asks for the cheapest or dearest); else the catalog's list.

An open answer is guarded a sentence at a time while it streams (``SentenceGate``); the other routes' answers are
guarded whole. ``Guards`` holds one guard per route, each ``Draft -> Answer``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal, Mapping, NamedTuple, Sequence

from langchain_core.documents import Document

from multimodal_rag.qa.answers import (CATALOG_SENTENCE_PRODUCTS, catalog_sentence, cited_sentence, fact_sentence,
                                       shopping_sentence)
from multimodal_rag.qa.citations import clean_citations, mentioned, miscited, sentence_end, sentences, titles
from multimodal_rag.qa.grounding import GroundingCheck, Unsupported, novel_words
from multimodal_rag.qa.lookup import FieldAnswer, contains_answer, format_price
from multimodal_rag.qa.prompts import Prompt
from multimodal_rag.qa.schema import Grounding

_ECHO = re.compile(r"^\s*catalog fact:\s*", re.I)  # small models repeat the prompt's label
# Small models go on to write the next turn ("\n\nQuestion: ..."): nothing from such a line on is the answer.
_NEXT_TURN = re.compile(r"\n\s*(?:question|answer|user|assistant|human|customer)\s*:.*", re.I | re.S)
# Where an answer may end: a sentence's end or a citation. A text that ends elsewhere was cut by the token limit.
_ENDED = re.compile(r"(?:[.!?]|\])[\"')]*$")
_LAST_END = re.compile(r"^.*(?:[.!?](?=\s)|\](?:\s*[.;,])?)", re.S)


@dataclass(frozen=True)
class Draft:
    """What the model wrote, for the guard: all of it (None: no model call) and, for a gated answer, what the gate
    showed, the first ungrounded sentence's claims, and whether a miscited sentence was replaced."""

    prompt: Prompt
    generated: str | None = None
    shown: str = ""
    failed: Unsupported | None = None
    replaced: bool = False


class Answer(NamedTuple):
    text: str
    positions: list[int]
    grounding: Grounding
    written_by: Literal["model", "chain"]


def complete_answer(generated: str | None) -> str:
    """The model's answer without a next turn it went on to write, and without the unfinished words the token
    limit cut ("... Vanity Pouch at 783 INR [2]; Goldencollections GC4"): up to its last sentence end or
    citation (empty when it has none)."""
    text = _NEXT_TURN.sub("", _ECHO.sub("", generated or "")).strip()
    if not text or _ENDED.search(text):
        return text
    last = _LAST_END.match(text)
    return last.group().rstrip(" ;,") if last else ""


def states_fact(answer: str, positions: Sequence[int], fact: FieldAnswer, product: Mapping[str, Any]) -> bool:
    """True when the answer gives the fact's value (outside the product's title, which may contain it: "... Led
    Light is [1]" does not state the type "Led Light") and cites no product but the fact's."""
    if any(p != fact.position for p in positions):
        return False
    said = re.sub(re.escape(fact.title), " ", answer, flags=re.I) if fact.title else answer
    if fact.field == "price" and product.get("price") is not None:
        return contains_answer(said, format_price(product["price"], None).replace(",", ""))
    return fact.value is not None and contains_answer(said, fact.value)


def named_and_priced(sentence: str, given: Mapping[int, Document], language: str = "en") -> tuple[str, bool]:
    """``sentence`` (its citations outside ``given`` dropped) when each product it cites is named before its
    citation and every price it states is a cited product's; else the sentence composed from the cited products'
    facts. The flag says whether it was replaced."""
    cleaned, positions = clean_citations(sentence, max(given, default=0))
    if miscited(cleaned, given):
        return cited_sentence(given, [p for p in positions if p in given], language), True
    return cleaned, False


class SentenceGate:
    """Passes a streamed answer on a sentence at a time, each checked before it is shown: the first sentence that
    fails ``check`` closes the gate (``failed`` says what it stated); one that miscites is replaced
    (``named_and_priced``)."""

    def __init__(self, check: Callable[[str], Unsupported], given: Mapping[int, Document], language: str = "en"):
        self.check = check
        self.given = given
        self.language = language  # of the sentence that replaces one that miscites
        self.titles = titles(given)
        self.buffer = ""
        self.shown = ""
        self.failed: Unsupported | None = None
        self.replaced = False

    def feed(self, piece: str) -> Iterator[str]:
        self.buffer += piece
        while self.failed is None:
            match = sentence_end(self.buffer, self.titles)
            if match is None:
                return
            sentence, self.buffer = self.buffer[:match.end()], self.buffer[match.end():]
            yield from self._release(sentence)

    def close(self) -> Iterator[str]:
        if self.failed is None and self.buffer.strip():
            yield from self._release(self.buffer)
        self.buffer = ""

    def _release(self, sentence: str) -> Iterator[str]:
        body = sentence.strip()
        if not body:
            return
        cleaned, _ = clean_citations(body, max(self.given, default=0))
        problem = self.check(cleaned)
        if problem:
            self.failed = problem
            return
        cleaned, replaced = named_and_priced(cleaned, self.given, self.language)
        self.replaced |= replaced
        piece = (" " if self.shown else "") + cleaned
        self.shown += piece
        yield piece


class Guards:
    """One guard per route. ``grounding`` checks what answers state; ``phrasing``: words a stated fact may add (a
    field's own wording: "costs", "made of")."""

    def __init__(self, grounding: GroundingCheck, phrasing: frozenset[str] = frozenset()):
        self.grounding = grounding
        self.phrasing = phrasing

    def gate(self, prompt: Prompt) -> SentenceGate | None:
        """The gate a gated prompt's answer streams through (None: the answer is guarded whole)."""
        if not prompt.gated:
            return None
        return SentenceGate(lambda text: self.grounding.check(text, prompt.sources), prompt.given,
                            prompt.found.asked.parsed.language)

    def _miscites(self, prompt: Prompt, answer: str) -> bool:
        return any(miscited(s, prompt.given) for s in sentences(answer, titles(prompt.given)))

    @staticmethod
    def fixed(draft: Draft) -> Answer:
        fixed = draft.prompt.found.fixed
        return Answer(fixed.answer, list(fixed.positions), fixed.grounding, "chain")

    def fact(self, draft: Draft) -> Answer:
        """The model's sentence when it states the fact's value, cites only that product, names it and adds
        nothing the card does not hold; else the fact, stated by the chain."""
        prompt = draft.prompt
        fact, products = prompt.found.fact, prompt.products
        answer, positions = clean_citations(complete_answer(draft.generated), len(products))
        if fact.position not in positions:
            answer, positions = f"{answer} [{fact.position}]", [*positions, fact.position]
        # The fact is the whole answer: the model's sentence may phrase it, never add to it ("a luxury item
        # available in limited numbers", a word repeated until the token limit).
        if (not states_fact(answer, positions, fact, products[fact.position - 1].metadata)
                or self.grounding.check(answer, prompt.sources) or novel_words(answer, prompt.sources, self.phrasing)
                or self._miscites(prompt, answer)):
            return Answer(fact_sentence(fact, prompt.found.asked.parsed.language), [fact.position], "lookup", "chain")
        return Answer(answer, positions, "lookup", "model")

    def shopping(self, draft: Draft) -> Answer:
        """The model's answer when it cites products (those it names uncited are cited after), only those given,
        each named, the first first for "cheapest"/"most expensive", and states nothing the cards do not; else the
        catalog's list in the order asked."""
        prompt = draft.prompt
        products, understood = prompt.products, prompt.found.shopping
        allowed = list(range(1, len(products) + 1))
        answer, positions = clean_citations(complete_answer(draft.generated), len(products))
        kept = not self._miscites(prompt, answer)
        named = [p for p in mentioned(answer, products) if p not in positions]
        if named:
            answer, positions = f"{answer} [{', '.join(map(str, named))}]", [*positions, *named]
        ordered = not understood.sort or (positions and positions[0] == allowed[0])
        if kept and positions and ordered and not self.grounding.check(answer, prompt.sources):
            return Answer(answer, positions, "shopping", "model")
        language = prompt.found.asked.parsed.language
        return Answer(shopping_sentence(understood, products, allowed, language), allowed[:CATALOG_SENTENCE_PRODUCTS],
                      "shopping", "chain")

    @staticmethod
    def open(draft: Draft) -> Answer:
        """The model's checked sentences (as shown), then citations of products it names without citing them; the
        catalog's own sentence follows where a sentence failed the check or nothing is cited."""
        products = draft.prompt.products
        answer = draft.shown
        _, positions = clean_citations(answer, len(products))
        named = [p for p in mentioned(answer, products) if p not in positions]
        if named:
            answer, positions = f"{answer} [{', '.join(map(str, named))}]", [*positions, *named]
        if draft.failed is None and positions:
            return Answer(answer, positions, "catalog" if draft.replaced else "llm",
                          "chain" if draft.replaced else "model")
        answer = f"{answer} {catalog_sentence(products, draft.prompt.found.asked.parsed.language)}".strip()
        _, positions = clean_citations(answer, len(products))
        return Answer(answer, positions, "catalog", "chain")
