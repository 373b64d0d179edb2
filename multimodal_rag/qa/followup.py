"""Follow-up questions made standalone before retrieval.

"is it waterproof?" after a question about a backpack must search for that backpack; "show me a cheaper one" must
search the same category under its price. Two rewriters: ``rules`` (no model call: references resolved to the
last cited product, cheaper/pricier turned into price filters) and ``llm`` (a chat model rewrites the question
from the conversation; for models large enough to do it well).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

from langchain_core.language_models import BaseChatModel

from multimodal_rag.language.wordings import bounded, phrase_pattern, word_edges, wordings
from multimodal_rag.retrieval.understanding import Constraint, PricePhrases, Understanding

class FollowupPhrases:
    """A language's follow-up wordings (``language/data/<lang>/followup.toml``) compiled: references to the product
    the conversation is about, and "cheaper" / "pricier"."""

    def __init__(self, language: str = "en"):
        found = wordings(language)
        self.words = found.followup
        spaced, order = found.shopping.spaced, found.shopping.order
        self.reference = re.compile(f"({bounded(self.words.references, spaced)})", re.I)
        left, right = word_edges(spaced)
        space = r"\s+" if spaced else r"\s*"

        def comparative(listed: Sequence[str], up: Sequence[str], down: Sequence[str],
                        paid: Sequence[str]) -> re.Pattern:
            """A comparative listed, or ``more`` before a word of its direction (``up``), or ``less`` before one of
            the other (``down``), or a word of paying before ``paid`` (``less`` for cheaper: "costs less")."""
            alternatives = [phrase_pattern(listed)] + [
                f"{phrase_pattern(first)}{space}{phrase_pattern(then)}"
                for first, then in ((self.words.more, up), (self.words.less, down), (self.words.paying, paid))
                if first and then]
            return re.compile(f"({left}(?:{'|'.join(alternatives)}){right})", re.I)

        self.cheaper = comparative(self.words.cheaper, order.cheap, order.dear, self.words.less)
        self.pricier = comparative(self.words.pricier, order.dear, order.cheap, self.words.more)
        # The comparative's words say nothing of what is sought either.
        self.left_out = frozenset(w.lower() for w in (*self.words.left_out, *self.words.more, *self.words.less,
                                                      *self.words.paying, *order.cheap, *order.dear))
        self.prices = PricePhrases.for_language(language)

    def compared(self, question: str) -> list[tuple[str, re.Match]]:
        """The price operators of the comparatives ``question`` says of the product the conversation is about ("a
        cheaper one": "lt", "one that costs more": "gt"), with their matches; not of one a price bound holds
        ("cheaper than 500", "priced more than 2000": an amount, not that product's price). The bound's words are
        blanked where they stand, so a match's place is the question's ("cheaper than 1000, or a cheaper one?": the
        second)."""
        bound, _, _ = self.prices.read(question)
        unbounded = question
        for said in bound.words if bound is not None else ():
            unbounded = unbounded.replace(said, " " * len(said), 1)
        return [(op, match) for pattern, op in ((self.cheaper, "lt"), (self.pricier, "gt"))
                if (match := pattern.search(unbounded))]

    @classmethod
    @lru_cache(maxsize=None)
    def for_language(cls, language: str) -> "FollowupPhrases":
        return cls(language)


@dataclass(frozen=True)
class Turn:
    """One exchange: the shopper's question, the answer, and the products the answer is about (cited first)."""

    question: str
    answer: str
    products: Sequence[Mapping[str, Any]] = ()
    understood: Understanding | None = None  # the constraints a shopping turn answered


@dataclass(frozen=True)
class StandaloneQuery:
    text: str
    filters: dict[str, Any] = field(default_factory=dict)
    understood: Understanding | None = None  # a shopping conversation's constraints, this question's included


def rewrite_with_rules(question: str, history: Sequence[Turn],
                       understand: Callable[[str], Understanding] | None = None,
                       language: str = "en") -> StandaloneQuery:
    """Resolve references to the product the conversation is about; a question without one is already standalone.

    In a shopping conversation (the last turn answered constraints: "a mug under 300"), a question that names no
    kind of product of its own ("in red", "a cheaper one", "any from Prestige?") keeps the last turn's
    constraints and changes the ones it names; "cheaper"/"pricier" means than the product the last answer was
    about."""
    phrases = FollowupPhrases.for_language(language)
    shopping = _shopping_follow_up(question, history, understand, phrases)
    if shopping is not None:
        return shopping
    subject = next((t.products[0] for t in reversed(history) if t.products), None)
    if subject is None or not phrases.reference.search(question):
        return StandaloneQuery(question)
    title = str(subject.get("title") or "")
    price, category = subject.get("price"), subject.get("category")
    for operator, match in phrases.compared(question):
        if price is not None:
            filters: dict[str, Any] = {"price": {operator: price}}
            what = title
            if category:
                # The same kind of product, not the same leaf: leaves are often one brand's ("Prestige Pressure
                # Cookers & Pans"), so the first two levels of the path scope the search.
                path = [part.strip() for part in str(category).split(">") if part.strip()]
                filters["category"] = {"prefix": " > ".join(path[:2])}
                what = path[min(1, len(path) - 1)]
            unsaid = question[:match.start()] + " " + question[match.end():]
            return StandaloneQuery(f"{what} {phrases.reference.sub(' ', unsaid)}".strip(), filters)
    possessive = phrases.words.possessive_form.format(title=title)
    resolved = phrases.reference.sub(lambda m: possessive if m.group(1).lower() in phrases.words.possessive
                                     else title, question, count=1)
    return StandaloneQuery(re.sub(r"\s+", " ", resolved).strip())


def _understood_so_far(history: Sequence[Turn], understand: Callable[[str], Understanding]) -> Understanding:
    """The constraints of a conversation whose turns carry none (a history sent as text): from its questions, a
    question naming a kind of product starting afresh, the others adding to or changing what came before."""
    so_far = Understanding("")
    for turn in history:
        said = turn.understood or understand(turn.question)
        so_far = said if said.names_a_kind or not so_far else so_far.followed_by(said)
    return so_far


def _shopping_follow_up(question: str, history: Sequence[Turn], understand: Callable[[str], Understanding] | None,
                        phrases: FollowupPhrases) -> StandaloneQuery | None:
    last = history[-1] if history else None
    if understand is None or last is None:
        return None
    asked = understand(question)
    if asked.names_a_kind:
        return None  # a new kind of product: a new search
    before = last.understood
    if before is None:
        if not asked.constraints:
            return None  # "is it ...?", "a cheaper one" about the product the last answer named: the rules below
        before = _understood_so_far(history, understand)
        if not before:
            return None
    subject = last.products[0] if last.products else {}
    compared = phrases.compared(question)
    for op, match in compared:
        if subject.get("price") is not None:
            price = Constraint.price_bound(op, float(subject["price"]), (match.group(),))
            asked = Understanding(asked.query, (*[c for c in asked.constraints if c.facet != "price"], price),
                                  asked.sort, asked.rest)
    if not asked and not compared and not phrases.reference.search(question):
        return None  # nothing to carry on: an unrelated question
    merged = before.followed_by(asked)
    rest = " ".join(w for w in merged.rest.split() if not phrases.reference.fullmatch(w)
                    and w.lower() not in phrases.left_out)
    kinds = " ".join(v for c in merged.constraints if c.facet != "price" for v in c.values)
    return StandaloneQuery(" ".join(part for part in (kinds, rest) if part) or question, understood=merged)


def conversation(history: Sequence[Turn], turns: int = 3) -> str:
    """The last ``turns`` exchanges as a chat model reads them: each answer with the products it was about (title,
    and price where known: what "a cheaper one" is measured by)."""
    lines = []
    for turn in history[-turns:]:
        lines.append(f"Shopper: {turn.question}")
        named = "; ".join(str(p.get("title")) + (f" ({p['price']})" if p.get("price") is not None else "")
                          for p in turn.products[:3])
        lines.append(f"Assistant: {turn.answer}" + (f" (products: {named})" if named else ""))
    return "\n".join(lines)


REWRITE_PROMPT = (
    "Rewrite the shopper's last question so it can be understood without the conversation: name the product it "
    "refers to. Reply with the rewritten question only.\n\nConversation:\n{history}\n\nLast question: {question}"
)


def rewrite_with_llm(question: str, history: Sequence[Turn], llm: BaseChatModel) -> StandaloneQuery:
    """The chat model's rewrite; the question as asked when the model returns nothing usable."""
    if not history:
        return StandaloneQuery(question)
    reply = llm.invoke(REWRITE_PROMPT.format(history=conversation(history), question=question))
    lines = [line.strip().strip('"').strip() for line in str(getattr(reply, "content", reply)).split("\n")]
    return StandaloneQuery(next((line for line in lines if line), question))
