"""The steps before the model: parse -> plan -> retrieve, each a named ``Runnable``.

- ``parse``: the question (and the conversation) read by a ``QuestionParser`` into a ``ParsedQuestion``.
- ``plan``: what to retrieve: the standalone query with its filters and, for a question that names constraints,
  the strict request (every understood constraint a filter). A price bound or order ("under 300", "the cheapest")
  makes a shopping question, a bound unless it is said of one product the question names (retrieve reads that).
- ``retrieve``: the products, and which of them the question names and what field it asks (``lookup``, from the
  products found); again by the product's name when the first retrieval missed it; strictly by the constraints for
  a shopping question. One that names a brand ("do you have Sonata watches?") is one when it asks no field of a
  product and names none, or names one only through facet values ("cookware by Kalash"), or states the value of
  the field it seems to ask ("routers made by Tenda").

The products then go to one of the routes (``routes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping, Sequence

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from multimodal_rag.catalog.facets import FacetVocabulary
from multimodal_rag.qa.answers import (CATALOG_SENTENCE_PRODUCTS, ambiguous_sentence, fact_sentence, facts_sentence,
                                       no_match_sentence, nothing_found_sentence, product_not_found_sentence)
from multimodal_rag.qa.fields import FieldQuestion, FieldResolver
from multimodal_rag.qa.lookup import FieldAnswer, Lookup, lookup
from multimodal_rag.qa.parsing import ParsedQuestion, QuestionParser
from multimodal_rag.qa.schema import Grounding, QAInput
from multimodal_rag.retrieval.catalog import CatalogReader
from multimodal_rag.retrieval.retriever import ProductQuery, ProductRetriever
from multimodal_rag.retrieval.understanding import Understanding
from multimodal_rag.words import correct, is_stopword, spelling, stem, tokens

# How deep the retry by a product's name looks: fusion ranks the product a model code names ("29923LPGY", first by
# BM25 by far) below the first few when the embedder prefers its twins, as RRF counts ranks, not margins.
NAMING_POOL = 20


@dataclass(frozen=True)
class Asked:
    """The question as given, and as parsed."""

    input: QAInput
    parsed: ParsedQuestion


@dataclass(frozen=True)
class Plan:
    """What to retrieve: ``request`` first (unless ``shopping``), ``strict`` for a shopping answer (None: this
    retriever cannot filter by constraints, or none were understood)."""

    asked: Asked
    request: ProductQuery | str
    strict: ProductQuery | None = None
    shopping: bool = False  # a price bound or order: the strict request (a bound: unless one product is named)


@dataclass(frozen=True)
class Fixed:
    """An answer that needs no model."""

    answer: str
    positions: tuple[int, ...]
    grounding: Grounding


@dataclass(frozen=True)
class Found:
    """The products for the answer (named ones first, at most ``context_k``) and what the question asks of them.
    ``shopping``: the constraints each product satisfies (a shopping answer), or, with ``matched`` False, that
    none satisfies (``products`` are then the closest the catalog has)."""

    asked: Asked
    products: list[Document]
    look: Lookup = Lookup(None)
    shopping: Understanding | None = None
    matched: bool = True

    @cached_property
    def fixed(self) -> Fixed | None:
        """The answer when no model call is needed: nothing found, the named product not found, several named with
        different values, several fields answered, the field not listed, or no product satisfying a shopping
        question."""
        look, products, language = self.look, self.products, self.asked.parsed.language
        if self.shopping is not None:
            if self.matched:
                return None
            shown = min(len(products), CATALOG_SENTENCE_PRODUCTS)
            return Fixed(no_match_sentence(self.shopping, products, language), tuple(range(1, shown + 1)), "shopping")
        if not products:
            return Fixed(nothing_found_sentence(language), (), "not_found")
        if look.field is not None and not look.facts:
            # A field of a named product was asked, and no retrieved product is that product.
            return Fixed(product_not_found_sentence(look.field.name, language), (), "not_found")
        if look.ambiguous:
            return Fixed(ambiguous_sentence(look.facts, language), tuple(f.position for f in look.facts), "ambiguous")
        if look.field is not None and look.field.also and (facts := [
                f for f in (look.facts[0], *look.also) if f.value is not None]):
            # Several fields answered (a yes-or-no question the reader could not tell between them): the chain
            # states each value the product lists, never that one of them, perhaps not asked, is missing; a small
            # model would state one, or garble them.
            return Fixed(facts_sentence(facts, language), (facts[0].position,), "lookup")
        if look.facts and look.facts[0].value is None:
            return Fixed(fact_sentence(look.facts[0], language), (look.facts[0].position,), "not_listed")
        return None

    @property
    def fact(self) -> FieldAnswer | None:
        """The asked field's value of the one product the question names."""
        return self.look.facts[0] if self.look.facts and self.fixed is None else None


def parse_step(parser: QuestionParser) -> Runnable[Any, Asked]:
    def parse(value: Any) -> Asked:
        qa_input = QAInput.of(value)
        return Asked(qa_input, parser.parse(qa_input.question, qa_input.history))

    return RunnableLambda(parse, name="parse")


def plan_step(retriever: BaseRetriever, context_k: int) -> Runnable[Asked, Plan]:
    def plan(asked: Asked) -> Plan:
        parsed, qa_input = asked.parsed, asked.input
        filters = {**(qa_input.filters or {}), **parsed.filters}
        if not isinstance(retriever, ProductRetriever):
            if qa_input.image is not None or filters:
                raise ValueError("an image or filters need a ProductRetriever; this retriever takes text only")
            return Plan(asked, parsed.query)
        # The first search looks for what the question names by its words: facet values it holds are the named
        # product's own ("... Women Casual Navy Flats"), or alternatives it offers ("shoes, a bag, a watch?"), and a
        # boost towards every product that has them buries the one named. A question that asks the catalog for
        # them gets the strict search below; a conversation's constraints still rank this one.
        request = ProductQuery(text=parsed.query, image=qa_input.image, filters=filters or None, k=context_k,
                               understand=None if parsed.carried else "off",
                               understood=parsed.understood if parsed.carried else None)
        if not parsed.understood:
            return Plan(asked, request)
        strict = request.model_copy(update={"understand": "filter", "understood": parsed.understood})
        return Plan(asked, request, strict, shopping=parsed.priced)

    return RunnableLambda(plan, name="plan")


def retrieve_step(retriever: BaseRetriever, resolver: FieldResolver, vocabulary: FacetVocabulary | None,
                  catalog: CatalogReader | None, context_k: int) -> Runnable[Plan, Found]:
    return RunnableLambda(Retrieve(retriever, resolver, vocabulary, catalog, context_k), name="retrieve")


class Retrieve:
    """The retrieve step's body: ``Plan`` -> ``Found``. ``catalog`` tells what the catalog has instead when a
    price bound leaves nothing (None: nothing)."""

    def __init__(self, retriever: BaseRetriever, resolver: FieldResolver, vocabulary: FacetVocabulary | None,
                 catalog: CatalogReader | None, context_k: int):
        self.retriever, self.resolver, self.vocabulary, self.context_k = retriever, resolver, vocabulary, context_k
        self.catalog = catalog
        values = vocabulary.values() if vocabulary is not None else set()
        self.catalog_words = {w for v in values for w in tokens(v)}
        # The stems of every word the catalog's text holds: a question's word outside them names no product.
        self.text_stems = frozenset(stem(w) for w in catalog.words()) if catalog is not None else frozenset()

    def __call__(self, plan: Plan, config: RunnableConfig | None = None) -> Found:
        parsed = plan.asked.parsed
        understood = parsed.understood
        if not plan.shopping:
            found = self.named(plan.asked, self.retriever.invoke(plan.request, config=config))
            if (retry := self.naming_query(found, plan.request)) is not None:
                found = self.named(plan.asked, self.retriever.invoke(retry, config=config))
            if plan.strict is None or not asks_the_catalog(found.look, understood, self.text_stems,
                                                           _named_products_stems(found)):
                return found
        elif parsed.sort is None and parsed.field in (None, "price") and parsed.mentions != ():
            # A price bound may be said of one product the question names ("is X under 500?", "my budget is 2000,
            # does X fit?"): it then asks that product's price, not the catalog's products under the bound. (A
            # parser that read the question to name no product, a chat model's, has said so: ``mentions`` empty.)
            found = self.named(plan.asked, self.retriever.invoke(plan.request, config=config), "price")
            if names_one_product(found):
                return found
        return self.satisfying(plan.asked, self.retriever.invoke(plan.strict, config=config), understood)

    def named(self, asked: Asked, docs: Sequence[Document], field: str | None = None) -> Found:
        """The products with those the question names first (the first the model reads), the rest in their order.
        ``field``: the field asked, when the plan knows it (else the parser's, else read from the question)."""
        docs, query, field = list(docs), asked.parsed.query, field or asked.parsed.field
        look = lookup(query, [d.metadata for d in docs], self.resolver, self.vocabulary, field)
        named = set(look.named)
        products = [d for i, d in enumerate(docs, start=1) if i in named] + [
            d for i, d in enumerate(docs, start=1) if i not in named]
        products = products[: self.context_k]
        # Moved, or cut (the retry's deeper pool): the positions, and the products the guards see, change.
        if len(docs) > self.context_k or sorted(named) != list(range(1, len(named) + 1)):
            look = lookup(query, [d.metadata for d in products], self.resolver, self.vocabulary, field)
        return Found(asked, products, look)

    def naming_query(self, found: Found, first: ProductQuery | str) -> ProductQuery | str | None:
        """A second retrieval for a question that asks a field of a product no retrieved product is: by the words
        that can name a product alone (the rest of the question's words pull retrieval elsewhere; the products a
        parser read it to name, when it read them), typos corrected against the catalog's vocabulary. None when
        there is nothing to retry."""
        look, mentions = found.look, found.asked.parsed.mentions
        naming = " ".join(mentions) if mentions else look.naming
        if look.field is None or look.facts or not naming:
            return None
        text = " ".join(correct(naming.split(), self.catalog_words))
        if isinstance(first, ProductQuery):
            return first.model_copy(update={"text": text, "k": max(NAMING_POOL, self.context_k)})
        return text

    def satisfying(self, asked: Asked, docs: Sequence[Document], understood: Understanding) -> Found:
        """The products that satisfy every constraint; none: what the catalog has instead."""
        products = list(docs)[: self.context_k]
        if understood.sort and products and products[0].metadata.get("understood", {}).get("unordered"):
            understood = understood.unsorted()  # the retriever found no priced product to order (nor may we)
        satisfying = [d for d in products if understood.satisfied_by(d.metadata)]
        if satisfying:
            return Found(asked, satisfying, shopping=understood)
        return Found(asked, self.instead(understood) or products, shopping=understood, matched=False)

    def instead(self, understood: Understanding) -> list[Document]:
        """When a price bound leaves nothing: the cheapest (or dearest) product that meets the other constraints,
        so the answer can say "none under 300, the cheapest is X at 349"."""
        prices = [c for c in understood.constraints if c.facet == "price"]
        if not prices or self.catalog is None:
            return []
        others = [c for c in understood.constraints if c.facet != "price"]
        return self.catalog.cheapest(understood.filters(others), 1, descending=prices[0].op in ("gt", "gte"))


def asks_the_catalog(look: Lookup, understood: Understanding | None, text_stems: frozenset[str] = frozenset(),
                     name_stems: frozenset[str] = frozenset()) -> bool:
    """True when a question asks what the catalog has of the constraints it names, not about a product.
    ``text_stems``: the stems of the catalog's words (empty: unknown); a question word outside them names no
    product, whatever the language calls it ("분홍색 유리컵을 사고 싶어요": "사고", to buy, is in no product).
    ``name_stems``: the stems of the names (titles, brands) of the products the lookup read as named; where given, a
    word outside them names none of those products, though the catalog's text holds it ("list" in a description:
    "list usb gadgets from RRP" asks for the brand's gadgets), so no language's request verbs need a list.

    "do you have Purpledip showpieces?" names a product only through facet values (a brand and a kind): it asks
    what the catalog has of them, not about the one product whose title is those words. "routers made by Tenda",
    "usb gadgets from the brand RRP", "Unique Design showpieces": unless one product is named, a field whose value
    the question states (or whose words are a facet value's) is not asked; nor one in a question that reads as asking
    the catalog ("what Diviniti showpieces do you stock?", ``Lookup.catalog``). Twins (products listed under one title)
    are one product named: "Which colour is the Revv Men Steel Ring?" asks it of the seven rings of that title. The
    nearest fields of a question nothing else reads (how "nearest") are no field asked: a yes-or-no question of facet
    values may still ask the catalog."""
    if look.field is not None and look.field.how == "nearest":
        look = Lookup(None, named=look.named, naming=look.naming, catalog=look.catalog)
    one_named = len({spelling(f.title) for f in look.facts}) == 1
    stated = not one_named and _states_field(look.field, understood)
    asks = look.field is not None and not stated
    faceted = not asks and bool(look.named) and _said_by(look.naming, understood, name_stems or text_stems)
    answered = not stated and not look.catalog and (bool(look.facts) or asks or (bool(look.named) and not faceted))
    branded = bool(understood) and any(c.facet == "brand" for c in understood.constraints)
    # Nothing named and no field asked, and every word a facet value ("想要一个灰色的枕头", "do you have beige
    # flats?"): the products that have them, not the ones whose words are nearest.
    unnamed = not look.named and look.field is None and _said_by(look.naming, understood, text_stems)
    return not answered and (branded or faceted or stated or unnamed or look.catalog)


def names_one_product(found: Found) -> bool:
    """True when the question names one product (twins listed under one title are one) by more than the facet
    values it asks for: a word of its title that is no understood facet value, and its whole title or words that no
    other product found holds together. "Is S C Handicrafts Carved Showpiece under 500?" names a product; "Prestige
    pressure cookers under 3000" (a brand and a kind), "I can spend at most 1,000 on vanity boxes", "anything by
    Elegance in door curtains under 1000" ask the catalog, though one product's title may be nearly those words
    ("Prestige Deluxe Plus ... Pressure Cooker"). The bound's own words ("under 300") are said of the price, not of
    a product that holds them ("300 ml")."""
    look, understood = found.look, found.asked.parsed.understood
    if len({spelling(f.title) for f in look.facts}) != 1:
        return False
    bound = {w for c in (understood.constraints if understood else ()) if c.facet == "price"
             for w in tokens(" ".join(c.words))}
    asked = {stem(w) for w in tokens(found.asked.parsed.query) if w not in bound and not is_stopword(w)}
    title = look.facts[0].title
    said = asked & _name_stems(title)
    if not said - _facet_words(understood):
        return False
    others = [_product_name_stems(d.metadata) for d in found.products
              if spelling(str(d.metadata.get("title") or "")) != spelling(title)]
    return _name_stems(title) <= asked or not any(said <= other for other in others)


def _name_stems(text: str) -> set[str]:
    """The stems of a name's words that can name it (stop words cannot)."""
    return {stem(w) for w in tokens(text) if not is_stopword(w)}


def _product_name_stems(product: Mapping[str, Any]) -> set[str]:
    """The stems of the words a product is named by: its title's and its brand's."""
    return _name_stems(f"{product.get('title') or ''} {product.get('brand') or ''}")


def _named_products_stems(found: Found) -> frozenset[str]:
    """The stems of the names of the products the question was read to name."""
    return frozenset(s for i in found.look.named if 0 < i <= len(found.products)
                     for s in _product_name_stems(found.products[i - 1].metadata))


def _states_field(field: FieldQuestion | None, understood: Understanding | None) -> bool:
    """True when the question gives a value of the asked field ("made by Tenda": brand=Tenda), or the words that
    named the field belong to a facet value it names ("design" in the brand "Unique Design")."""
    if field is None or not understood:
        return False
    # The field as asked may be a concept ("color", with no product named to resolve it) that the catalog stores
    # under its own name ("색상 있을까요": 색상).
    stated = {c.facet.removeprefix("attributes.") for c in understood.constraints if c.facet != "price"}
    if any(a.lower() == field.name.lower() for a in stated) or FieldResolver.stored_names(field.name, sorted(stated)):
        return True
    return bool(field.words) and {stem(w) for w in field.words} <= _facet_words(understood)


def _said_by(naming: str, understood: Understanding | None, text_stems: frozenset[str] = frozenset()) -> bool:
    """True when every word that names a product is a word of an understood facet value (category, brand,
    attribute; plural or singular alike). With the catalog's ``text_stems``, a word neither of a facet value nor of
    the catalog's text names nothing and is passed over."""
    facet_words = _facet_words(understood)
    named = {s for w in tokens(naming) if not is_stopword(w)
             if (s := stem(w)) in facet_words or not text_stems or s in text_stems}
    return bool(named) and named <= facet_words


def _facet_words(understood: Understanding | None) -> set[str]:
    """The stems of the question's words that named a facet value (prices left out)."""
    return {stem(c_word) for c in (understood.constraints if understood else ()) if c.facet != "price"
            for c_word in tokens(" ".join(c.words))}
