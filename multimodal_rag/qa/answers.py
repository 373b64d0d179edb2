"""The sentences the chain composes from catalog facts, in the question's language.

Every sentence here is composed from a product's stored fields (its title, price and a field's value) and cites
the product by its number among the products the model was given: what the chain says when the model's answer
fails a check, or when no model call is needed. The sentences themselves are data
(``language/data/<lang>/answers.toml``); a language without the file speaks English.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from langchain_core.documents import Document

from multimodal_rag.language.wordings import AnswerWordings, wordings
from multimodal_rag.qa.lookup import FieldAnswer, format_price
from multimodal_rag.retrieval.understanding import Understanding

CATALOG_SENTENCE_PRODUCTS = 3


def sentences(language: str) -> AnswerWordings:
    return wordings(language).answers


def fact_sentence(fact: FieldAnswer, language: str = "en") -> str:
    say = sentences(language)
    template = say.not_listed if fact.value is None else say.fact
    return template.format(field=say.field_name(fact.field), title=fact.title, value=fact.value, n=fact.position)


def facts_sentence(facts: Sequence[FieldAnswer], language: str = "en") -> str:
    """Several fields' values of one product, each field named, cited once: what answers a question the reader could
    not tell between those fields ("would X do for the office?": its usage, kind and colour)."""
    say = sentences(language)
    values = say.separator.join(say.facts_item.format(field=say.field_name(f.field), value=f.value) for f in facts)
    return say.facts.format(title=facts[0].title, values=values, n=facts[0].position)


def ambiguous_sentence(facts: Sequence[FieldAnswer], language: str = "en") -> str:
    say = sentences(language)
    values = say.separator.join(
        say.ambiguous_item.format(title=f.title, n=f.position, value=f.value if f.value is not None
                                  else say.not_listed_value) for f in facts)
    return say.ambiguous.format(field=say.field_name(facts[0].field), values=values)


def priced(doc: Document, position: int, language: str = "en") -> str:
    """A product as the catalog names it: "Title at 349 INR [2]"."""
    say, m = sentences(language), doc.metadata
    if m.get("price") is None:
        return say.unpriced.format(title=m.get("title"), n=position)
    return say.priced.format(title=m.get("title"), price=format_price(m["price"], m.get("currency")), n=position)


def _listed(products: Sequence[tuple[int, Document]], language: str) -> str:
    return sentences(language).separator.join(priced(doc, position, language) for position, doc in products)


def catalog_sentence(products: Sequence[Document], language: str = "en") -> str:
    """The closest products with their prices, each cited: what the catalog itself says about a question."""
    shown = list(enumerate(products[:CATALOG_SENTENCE_PRODUCTS], start=1))
    return sentences(language).closest.format(products=_listed(shown, language))


def cited_sentence(shown: Mapping[int, Document], positions: Sequence[int], language: str = "en") -> str:
    """A sentence composed from the facts of the products at ``positions`` among the ``shown`` ones: each one's
    title and price, cited ("Bergner Kadhai NA L at 1,499 INR [1]; ...")."""
    return sentences(language).listed.format(products=_listed([(p, shown[p]) for p in positions], language))


def shopping_sentence(understood: Understanding, products: Sequence[Document], positions: Sequence[int],
                      language: str = "en") -> str:
    """Products that satisfy every constraint, in the order the question asks for."""
    say = sentences(language)
    listed = _listed([(p, products[p - 1]) for p in positions[:CATALOG_SENTENCE_PRODUCTS]], language)
    template = {"asc": say.cheapest, "desc": say.dearest}.get(understood.sort or "", say.matching)
    return template.format(understood=understood.describe(), products=listed)


def no_match_sentence(understood: Understanding, instead: Sequence[Document], language: str = "en") -> str:
    """None satisfies every constraint: say so, and what the catalog has closest."""
    say = sentences(language)
    answer = say.no_match.format(understood=understood.describe())
    if not instead:
        return answer
    closest = _listed(list(enumerate(instead[:CATALOG_SENTENCE_PRODUCTS], start=1)), language)
    return f"{answer} {say.no_match_closest.format(products=closest)}"


def nothing_found_sentence(language: str = "en") -> str:
    return sentences(language).nothing_found


def product_not_found_sentence(field: str, language: str = "en") -> str:
    say = sentences(language)
    return say.product_not_found.format(field=say.field_name(field))
