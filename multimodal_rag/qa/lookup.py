"""Structured answers from a product's own fields: which product a question names, and which field it asks for.

A small model phrases well enough but cannot be trusted to copy a price or a material correctly. When a question
names a retrieved product and asks for one of its fields, the value comes from that product; the chain gives it to
the model as a catalog fact and checks the answer.

The product named: the retrieved product whose name (title and brand) the question's words match, in any position
and wording, forgiving plurals and one typo per word, and a partial name (brand + model). Catalogs hold near twins
that differ in one word (a colour, a model number: on flipkart_1050 the nearest other product covers up to 0.89
of a question's words), so a product is named only when every product word of the question is found in it (its
title, brand, category or attribute values): a word that only a twin holds points at the twin. Other words
("gift", "sister") are allowed when the question holds most of the product's title, unless a twin holds them (a
retrieved product that holds the words naming this one too) or they are another value of one of the product's own
facets in the catalog's vocabulary (a "blue" curtain asked about, a brown one retrieved). When that leaves no
product named, values of one field said outside the name are taken as the answers offered ("is X a winter piece
or a summer one?"). Two products the question matches equally are both named; the answer then gives each one's
value.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from multimodal_rag.catalog.facets import FacetVocabulary
from multimodal_rag.qa.clauses import asking_clause, stretches
from multimodal_rag.qa.fields import (
    INVERTING, JOINERS, MAX_VALUES, FieldQuestion, FieldResolver, held_core_fields, holds, is_question,
    named_value_words, offered_alternatives)
from multimodal_rag.words import has_digit, is_stopword, find_word, same_word, spelling, stem, tokens

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_QUESTION_MARK = re.compile(r"[?？]")
# A question that holds this share of a product's title words names it even with words no retrieved product holds.
STRONG_NAME = 0.6
# A shorter share of the title (brand + model: "OGX Sunkissed") names a product when it holds this many of its name
# words, the question's own phrasing left over ("which label is it sold under").
PARTIAL_NAME_WORDS = 2
# A title the question holds whole names its product when it has more than this many words per leftover word.
WHOLE_TITLE_SHARE = 2


@dataclass(frozen=True)
class FieldAnswer:
    """A value read from a product: ``position`` is its 1-based place among the products given to the LLM."""

    position: int
    product_id: str
    title: str
    field: str
    value: str | None  # None: the product is the one asked about but does not list the field


@dataclass(frozen=True)
class Lookup:
    """What a question asks: the field (None: no field asked), the facts read for it (one per named product;
    none when no retrieved product is the one named), and whether several products were named equally. ``also``:
    the first named product's values of the further fields answered (``FieldQuestion.also``), those it lists and
    every other product named lists alike."""

    field: FieldQuestion | None
    facts: tuple[FieldAnswer, ...] = ()
    also: tuple[FieldAnswer, ...] = ()
    named: tuple[int, ...] = ()  # positions of the products the question names, best first
    naming: str = ""  # the question's words that can name a product (neither phrasing nor field words)
    # No field asked, and the question reads as one that asks the catalog ("what X showpieces do you stock?")
    catalog: bool = False

    @property
    def ambiguous(self) -> bool:
        # "FS Mini Klub" and "Fs Mini Klub" are one brand
        return len({f.value.casefold() if f.value is not None else None for f in self.facts}) > 1


def _product_words(product: Mapping[str, Any], *keys: str) -> list[str]:
    parts = []
    for key in keys:
        if key == "attributes":
            parts.extend(map(str, (product.get("attributes") or {}).values()))
        else:
            parts.append(str(product.get(key) or ""))
    return [w for w in tokens(" ".join(parts)) if not is_stopword(w)]


@dataclass
class _Candidate:
    position: int
    product: Mapping[str, Any]
    matched: set[int] = field(default_factory=set)        # question word positions in its name
    verbatim: int = 0                                      # how many of them are in it letter for letter
    whole_title: bool = False                              # the question holds its title word for word
    typed_title: bool = False                              # ... allowing a typo or a plural in its words
    unexplained: list[int] = field(default_factory=list)  # question word positions found nowhere in it
    title_coverage: float = 0.0


def name_products(words: Sequence[str], products: Sequence[Mapping[str, Any]], optional: set[int] = frozenset(),
                  vocabulary: FacetVocabulary | None = None, aside: set[int] = frozenset(),
                  stretch_of: Sequence[int] | None = None) -> tuple[list[int], set[int]]:
    """(positions of the products ``words`` name, best first; the word positions their name took). ``optional``
    word positions (those naming a field) may match a product but need not; ``aside``: those of words said of
    something else (the reason before a question: "matching my grey trousers - what colour is X?"), which need not
    be the product's when none of them names it. ``stretch_of``: each word's stretch between marks of punctuation
    (``clauses.stretches``; None: one stretch)."""
    content = [i for i, w in enumerate(words) if not is_stopword(w)]
    runs = _runs(words, stretch_of)
    everything = [set(_product_words(p, "title", "brand", "category", "attributes")) for p in products]
    candidates = []
    for position, (product, known) in enumerate(zip(products, everything), start=1):
        name = _product_words(product, "title", "brand")
        title = set(_product_words(product, "title"))
        c = _Candidate(position, product)
        c.matched = _once_each({i: find_word(words[i], name) for i in content}, name)
        c.verbatim = sum(words[i] in name for i in c.matched)
        title_words = tokens(str(product.get("title") or ""))
        c.whole_title = holds(words, title_words)
        c.typed_title = c.whole_title or holds(words, title_words, same_word)
        # The reason's words need not be the product's when it is named in the clause that asks.
        said_aside = aside if not c.matched & aside else set()
        c.unexplained = [i for i in content if i not in optional and i not in said_aside
                         and find_word(words[i], known) is None]
        # Shoppers name a product with or without its brand ("what brand is X" leaves it out by nature): the
        # brand's words in a title count neither for nor against it.
        named_by = (title - set(_product_words(product, "brand"))) or title
        held = {t for t in named_by if any(same_word(words[i], t) for i in c.matched)}
        c.title_coverage = len(held) / len(named_by) if named_by else 0.0
        candidates.append(c)
    named = [c for c in candidates if c.matched - optional and _names(c, words, everything, vocabulary, runs)]
    if not named:
        return [], set()
    best = max(len(c.matched) for c in named)
    # Twins a plural tells apart ("Vinyl Stickers Sticker", "Vinyl Sticker Sticker"): the name written as asked wins.
    top = sorted((c for c in named if len(c.matched) == best),
                 key=lambda c: (not c.whole_title, not c.typed_title, -c.verbatim, -c.title_coverage, c.position))
    # Equal matches name the products equally: the question does not tell them apart. One whose title the question
    # holds whole is named over one with title words it does not say ("Right Abstract Cushions Cover", not
    # "meSleep Abstract Cushions Cover").
    equal = [c for c in top if c.matched == top[0].matched and c.verbatim == top[0].verbatim
             and c.title_coverage == top[0].title_coverage and c.whole_title == top[0].whole_title
             and c.typed_title == top[0].typed_title]
    return [c.position for c in equal], top[0].matched


def _once_each(found: Mapping[int, str | None], name: Sequence[str]) -> set[int]:
    """The question positions that hold a name word, each name word taken as often as the name holds it: the one
    asked twice ("the light colour of the USB Led Light") names the product where it stands among the name's other
    words, and leaves the other free to name a field."""
    matched = {i for i, word in found.items() if word is not None}
    taken = set()
    for word in {found[i] for i in matched}:
        at = [i for i in matched if found[i] == word]
        others = matched.difference(at)
        # nearest to the name's other words first
        at.sort(key=lambda i: (min((abs(i - j) for j in others), default=0), i))
        taken.update(at[: name.count(word)])
    return taken


def _runs(words: Sequence[str], stretch_of: Sequence[int] | None) -> list[int | None]:
    """Each word's run: content words said one after another, no function word or mark of punctuation between them
    ("the blue X curtain", "X grey, or ..."); None for a function word."""
    out: list[int | None] = []
    run = 0
    for i, word in enumerate(words):
        if is_stopword(word):
            out.append(None)
            continue
        if i and (out[-1] is None or (stretch_of is not None and stretch_of[i] != stretch_of[i - 1])):
            run += 1
        out.append(run)
    return out


def _names(c: _Candidate, words: Sequence[str], everything: Sequence[set[str]],
           vocabulary: FacetVocabulary | None, runs: Sequence[int | None]) -> bool:
    if not c.unexplained:
        return True
    # A leftover model code ("PMR1336") that no retrieved product holds names a product not retrieved.
    if vocabulary is None or any(_is_code(words[i]) for i in c.unexplained):
        return False
    # A question that holds the whole title (a typo forgiven) names the product whatever its own words are ("how
    # many pieces come with X", "what would X set me back"), unless they outnumber the title's ("Canvas Art" in
    # "Bourne Supermacy Canvas Art").
    title = _product_words(c.product, "title")
    if (c.whole_title or c.typed_title) and len(title) > WHOLE_TITLE_SHARE * len(c.unexplained):
        return True
    if c.title_coverage < STRONG_NAME and not _partial_name(c, words):
        return False
    # Only the leftover words said with the name, in a run of words that holds one of its words, may name another
    # product: one said apart from it, past a function word or a mark of punctuation, is said of something else ("a
    # gift for my niece", "pair X with jeans", "do I wear X or apply it on skin?", "X? casual, formal, or else?").
    named_runs = {runs[i] for i in c.matched}
    predicate = _predicate(words, c.matched)
    beside = [i for i in c.unexplained if runs[i] in named_runs and i not in predicate]
    # A leftover word that a twin holds (another retrieved product that holds the words naming this one) names
    # that twin, not this one; another product's word ("design" of a print) names nothing here.
    others = [known for i, known in enumerate(everything, start=1) if i != c.position
              and all(find_word(words[j], known) is not None for j in c.matched)]
    if any(find_word(words[i], known) is not None for i in beside for known in others):
        return False
    # So does another value of one of its own facets: "blue" of a brown curtain's colour ("is the blue X curtain
    # washable?"; "X grey, or ...": the answers offered, ``_named_with_offer``).
    rivals = _facet_words(c.product, vocabulary)
    return not any(find_word(words[i], rivals) is not None for i in beside)


def _predicate(words: Sequence[str], matched: set[int]) -> set[int]:
    """The question's verb, where a verb that goes before the subject stands before the name (``matched``), only
    function words between, and one content word follows the name before a function word or the end ("what category
    does X fall under?", "would the X suit him?"): it names no twin ("fall" is a season too, "suit" a kind). Several
    content words after the name run on with it ("does your shop carry Rajasthan Crafts bed linen?")."""
    i = min(matched) - 1
    while i >= 0 and words[i] not in INVERTING and is_stopword(words[i]):
        i -= 1
    verb = max(matched) + 1
    if i < 0 or words[i] not in INVERTING or verb >= len(words) or is_stopword(words[verb]):
        return set()
    return {verb} if verb + 1 == len(words) or is_stopword(words[verb + 1]) else set()


def _named_with_offer(words: Sequence[str], products: Sequence[Mapping[str, Any]], optional: set[int],
                      listed: set[int], vocabulary: FacetVocabulary, resolver: FieldResolver,
                      attributes: Sequence[str]) -> tuple[list[int], set[int], FieldQuestion | None]:
    """When no product is named: the products named once the catalog values of one field the question says are
    taken as the answers it offers, not as a twin's words ("is X a winter piece or a summer one?", "is X casual
    wear?", "what is X: shoes, a bag, a watch?"), with that field asked. A product holds one value of a field, so
    values said of one of its fields, other than its name's words, may be offered; they are when they stand
    outside the words that name it, none of them naming it, and nothing else the question says names another
    field ("is the blue X curtain machine washable?" names a blue twin). For each retrieved product in turn, its
    fields with more of the said values first; a field of more than ``MAX_VALUES`` values holds names, not answers
    one offers. ``listed``: the words already read as offered ("shoe" of "a bag, a shoe or a piece of clothing").
    (positions named, positions taken, the field); nothing named: ([], set(), None)."""
    content = {i for i, w in enumerate(words) if i not in optional and not is_stopword(w)}
    asked = [stem(w) for w in words]
    tried: set[tuple[str, frozenset[int]]] = set()
    # a field -> (the stems of its values' words, those of its one-word values): the same for every product
    value_stems: dict[str, tuple[set[str], set[str]]] = {}
    for product in products:
        name_words = {stem(w) for w in _product_words(product, "title", "brand")}
        offers = []
        for name in map(str, product.get("attributes") or {}):
            values = vocabulary.attributes.get(name, {})
            if len(values) > MAX_VALUES:
                continue  # names (brands, models), not answers one offers
            if name not in value_stems:
                value_stems[name] = ({stem(w) for v in values for w in tokens(v)},
                                     {stem(one[0]) for v in values if len(one := tokens(v)) == 1})
            held, whole = value_stems[name]
            said = frozenset(i for i in content if asked[i] in held and asked[i] not in name_words)
            # One word alone is offered only as a whole value ("casual"), not as a word of one ("shop" of the
            # brand "Shop Rajasthan"); with others offered it is one of a list of answers ("a bag, a shoe or").
            if len(said | listed) == 1 and not {asked[i] for i in said} <= whole:
                continue
            if said and (name, said) not in tried:
                tried.add((name, said))
                offers.append((name, said))
        for name, said in sorted(offers, key=lambda offer: -len(offer[1])):
            positions, taken = name_products(words, products, optional | said, vocabulary)
            # A value the named product's name holds names it ("does your shop carry Unique Design showpieces?"
            # says a brand), and one inside the name is part of it: neither is offered.
            if not positions or not taken or taken & said or any(min(taken) < i < max(taken) for i in said):
                continue
            # The words listed with the offered ones are answers too, not a field named ("summer, winter, or all
            # year?": "year" is the third answer offered, not the year asked).
            free = set(range(len(words))) - taken - said - listed
            ruled = resolver.read_by_rules(words, free, products[positions[0] - 1], attributes, vocabulary.attributes)
            if ruled is not None and ruled.name.lower() != name.lower():
                continue
            return positions, taken | said, FieldQuestion(name, "offered", tuple(words[i] for i in sorted(said)))
    return [], set(), None


def _partial_name(c: _Candidate, words: Sequence[str]) -> bool:
    """A short name is a brand and a model ("Prestige Deluxe"): at least two of the product's name words, its brand
    (or its title's first word) among them, and no leftover number ("for 2 people" may be a size another product
    has). "Canvas Art" alone does not name a Tallenge print when the question says "Bourne Supermacy"."""
    lead = _product_words(c.product, "brand") or _product_words(c.product, "title")[:1]
    return (len(c.matched) >= PARTIAL_NAME_WORDS and any(find_word(words[i], lead) is not None for i in c.matched)
            and not any(has_digit(words[i]) for i in c.unexplained))


def _is_code(word: str) -> bool:
    return has_digit(word) and any(ch.isalpha() for ch in word)


def _facet_words(product: Mapping[str, Any], vocabulary: FacetVocabulary | None) -> set[str]:
    """Words of the catalog's values of the product's own facets (its attributes' and brands'), which the product
    itself does not hold."""
    if vocabulary is None:
        return set()
    values = [v for name in (product.get("attributes") or {}) for v in vocabulary.attributes.get(str(name), {})]
    if product.get("brand"):
        values.extend(vocabulary.brands)
    own = set(_product_words(product, "title", "brand", "category", "attributes"))
    return {w for v in values for w in tokens(v) if not is_stopword(w) and w not in own}


def _offered_values(words: Sequence[str], field_positions: set[int], resolver: FieldResolver,
                    attributes: Sequence[str], vocabulary: FacetVocabulary | None,
                    alternatives: set[int]) -> tuple[set[int], set[int]]:
    """(positions of words that are catalog values of the field asked, those of them a relation is said of): a
    question may offer the answers ("is it for men, women or kids?", "red or blue?"), or say what a relation holds
    ("meant for sports"); those words name no product. ``alternatives``: the offered words ``_alternatives``
    found."""
    if vocabulary is None:
        return set(), set()
    if not field_positions:
        return alternatives, set()
    asked = resolver.resolve(words, field_positions, {}, attributes)
    stored = resolver.stored_names(asked.name, vocabulary.attributes) if asked is not None else []
    offered = {w for name in stored for v in vocabulary.attributes[name] for w in tokens(v) if not is_stopword(w)}
    found = {i for i, w in enumerate(words) if i not in field_positions and w in offered}
    related: set[int] = set()
    if asked is not None and asked.how == "synonym" and resolver.relates(asked.name, asked.words) and (
            after := _after(words, asked.words)):
        # What a relation is said of may be any field's value ("meant for sports", "made for the summer months").
        values = {w for held in vocabulary.attributes.values() for v in held for w in tokens(v)}
        related = {i for i in after if words[i] in values}
    return alternatives | _with_listed(found | related, words, field_positions), related


def _after(words: Sequence[str], phrase: Sequence[str]) -> set[int]:
    """The position of the first word after each occurrence of ``phrase`` that is not a function word: what a
    relation is said of follows it in English and Chinese ("meant for sports", "适合运动"); the word before it is
    often the product's own name ("X Nightdress - what shade?")."""
    out = set()
    n = len(phrase)
    for start in (i for i in range(len(words) - n + 1) if tuple(words[i:i + n]) == tuple(phrase)):
        edge = start + n
        while edge < len(words) and is_stopword(words[edge]):
            edge += 1
        if edge < len(words):
            out.add(edge)
    return out


def _alternatives(words: Sequence[str], vocabulary: FacetVocabulary) -> tuple[set[int], list[str]]:
    """A question that names no field may still ask one by offering its answers: "is X for men or women?", "red
    or blue?", "for kids or adults?" (one of them a catalog value is enough). (positions of the offered words and
    the words listed with them, the attributes whose catalog values hold words joined by "or": those holding both
    words of most pairs first, then one word of most pairs, then the values held by the most products); nothing
    when no word joined by "or" is a value."""
    # the words next to each offering word, function words skipped ("the office, the gym or a party")
    offered = [[*before[-1:], *after[:1]] for before, after in offered_alternatives(words)]
    if not offered:
        return set(), []
    asked = [stem(w) for w in words]
    # each word as written, and the values a shopper's word for one names ("ladies": "women")
    readings = [{stem(w), *map(stem, named_value_words(w))} for w in words]
    holding: dict[str, tuple[int, int, int]] = {}
    found: set[int] = set()
    value_words: dict[str, set[str]] = {}
    for name, values in vocabulary.attributes.items():
        held: dict[str, int] = {}  # word of a value -> products holding such values
        for value, products in values.items():
            for word in {stem(w) for w in tokens(value)}:
                held[word] = held.get(word, 0) + products
        inside = [[i for i in sides if readings[i] & held.keys()] for sides in offered]  # per pair, its words held
        both = sum(len(hits) == 2 and asked[hits[0]] != asked[hits[1]] for hits in inside)
        one = sum(len(hits) == 1 for hits in inside)
        if both or one:
            holding[name] = (both, one, sum(max(held.get(r, 0) for r in readings[i]) for hits in inside for i in hits))
            found.update(i for sides, hits in zip(offered, inside) if hits for i in sides)
            value_words[name] = set(held)
    names = sorted(holding, key=lambda name: tuple(-n for n in holding[name]))
    if names and holding[names[0]][0]:
        # A list of the offered field's values, commas lost in the tokens ("spring, summer, fall or winter"):
        # each of its values is offered, wherever it stands.
        found |= {i for i, w in enumerate(asked) if w in value_words[names[0]] and not is_stopword(words[i])}
    return _with_listed(found, words, set()), names


def _with_listed(found: set[int], words: Sequence[str], field_positions: set[int]) -> set[int]:
    """``found`` and, repeatedly, the words listed with them, catalog values or not: "men, women or kids"."""
    while listed := _listed_with(found, words) - found - field_positions:
        found |= listed
    return found


def _offered_field(words: Sequence[str], product: Mapping[str, Any], alternatives: tuple[set[int], list[str]],
                   free: set[int]) -> FieldQuestion | None:
    """The field a named product's question asks by offering answers ("is it for men or women?"): the product's
    attribute among those whose catalog values hold them (``_alternatives``' names), else the first of those. The
    offered words must lie outside the product's name ("Bergner Kadhai or a Prestige cooker?" offers nothing)."""
    positions, names = alternatives
    if not names or not positions & free:
        return None
    own = [name for name in names if name in (product.get("attributes") or {})]
    return FieldQuestion((own or names)[0], "offered", tuple(words[i] for i in sorted(positions)))


def _listed_with(found: set[int], words: Sequence[str]) -> set[int]:
    """Positions of the words a list joins to the ``found`` ones. Commas are not tokens, so "men, women or kids"
    is "men women or kids": a word across "or"/"and" from a found one, or next to one and itself followed or
    preceded by "or"/"and" ("women kids or babies")."""
    def word(j: int) -> bool:
        return 0 <= j < len(words) and words[j] not in JOINERS and not is_stopword(words[j])

    def joins(j: int) -> bool:
        return 0 <= j < len(words) and words[j] in JOINERS

    out = set()
    for i in found:
        out |= {j for j, between in ((i - 2, i - 1), (i + 2, i + 1)) if word(j) and joins(between)}
        out |= {j for j, beyond in ((i - 1, i - 2), (i + 1, i + 2)) if word(j) and joins(beyond)}
    return out


def lookup(question: str, products: Sequence[Mapping[str, Any]], resolver: FieldResolver | None = None,
           vocabulary: FacetVocabulary | None = None, field: str | None = None) -> Lookup:
    """The field a question asks for and, for each product it names, that field's value. Without the catalog's
    ``vocabulary`` a question word that no retrieved product holds cannot be told from a twin's word, so every
    product word of the question must then be found in the product. ``field``: the field a parser read (a chat
    model's); the resolver reads it otherwise."""
    resolver = resolver or FieldResolver()
    words = tokens(question)
    attributes = list(dict.fromkeys([*(str(k) for p in products for k in (p.get("attributes") or {})),
                                     *(vocabulary.attributes if vocabulary is not None else ())]))
    field_positions = resolver.field_words(words, attributes)
    optional = field_positions | {i for i, w in enumerate(words) if w in resolver.phrasing}
    alternatives = _alternatives(words, vocabulary) if vocabulary is not None else (set(), [])
    offered_values, related = _offered_values(words, field_positions, resolver, attributes, vocabulary,
                                              alternatives[0])
    optional |= offered_values
    naming = _as_written(question, {i for i, w in enumerate(words) if i not in optional and not is_stopword(w)})
    # Of a question in several clauses, the field is asked in the last one that asks for a thing named; the clauses
    # before say why, of other things too ("would X go with a grey sofa? what colour is it").
    clause = asking_clause(question)
    reasons = set(range(min(clause))) if clause else set()
    positions, taken = name_products(words, products, optional, vocabulary, reasons, stretches(question))
    offered = None
    if not positions and vocabulary is not None:
        positions, taken, offered = _named_with_offer(words, products, optional, offered_values, vocabulary,
                                                      resolver, attributes)
    positions = _written_as_titled(question, positions, products)
    if not positions:
        # No product named: still say which field was asked (its name, or its values offered: "a winter piece or
        # a summer one?"), so that a second retrieval looks for the product and the answer can say it is missing.
        asked = _parsed_field(field) or (
            resolver.resolve(words, field_positions, {}, attributes) if field_positions else None) or (
            _offered_field(words, {}, alternatives, set(range(len(words)))))
        return Lookup(asked, naming=naming)
    # What a relation is said of reads the field even when the name holds the word too ("is the Reebok Micro
    # White meant for sports?" of "Reebok Men Micro Shorts": a typo forgiven), when it follows the words that name
    # the product ("how heavy is the eCraftIndia Lord Ganesha ...": the brand leads the name).
    naming_words = taken - related
    free = (set(range(len(words))) - taken) | {i for i in related if i > max(naming_words, default=len(words))}
    values = vocabulary.attributes if vocabulary is not None else None
    product = products[positions[0] - 1]
    # The clause that asks reads the field, unless its words name none firmly and the clauses before offer answers
    # (values of one field): it then asks of them, as a clause of asking words alone does ("Is X grey, or more of a
    # black? Which one is it listed as?"). A reason's field ("need reviews for X, which model is it?") stays aside.
    # A clause that begins inside the product's name is cut by the name's own punctuation ("What is the type of
    # Prithish I'm A Mom. What'S Your Superpower? Multicoloured Bubbles Black Ceramic Mug?"): it asks nowhere else.
    if clause is not None and free & clause and not (taken and min(taken) < min(clause) <= max(taken)):
        whole = resolver.read_by_rules(words, free, product, attributes, values)
        if whole is None or whole.how != "offered" or resolver.read_by_rules(
                words, free & clause, product, attributes, values) is not None:
            free &= clause
    mark = bool(_QUESTION_MARK.search(question))
    asked = _parsed_field(field) or offered or resolver.resolve(words, free, product, attributes, values, mark)
    if asked is None:
        asked = _offered_field(words, product, alternatives, free)
    if asked is None:
        # A question (a question mark or an asking word) that names a product but no field may ask the catalog.
        own = [str(k) for k in (product.get("attributes") or {})]
        catalog = is_question(words, mark) and resolver.asks_the_catalog(
            words, free, own, values, held_core_fields(product))
        return Lookup(None, named=tuple(positions), naming=naming, catalog=catalog)
    facts = []
    for position in positions:
        product = products[position - 1]
        # Equally named twins may store the field under their own attribute name.
        name = asked.name if position == positions[0] or field else (
            resolver.resolve(words, free, product, attributes, values, mark) or asked).name
        facts.append(_fact(position, product, name))
    # A further field is stated when the products named (twins) all list it alike; one value, one citation.
    named = [products[p - 1] for p in positions]
    also = tuple(fact for name in asked.also if (fact := _fact(positions[0], named[0], name)).value is not None
                 and all(field_value(twin, name) == fact.value for twin in named[1:]))
    return Lookup(asked, tuple(facts), also, tuple(positions), naming)


def _fact(position: int, product: Mapping[str, Any], field: str) -> FieldAnswer:
    return FieldAnswer(position, str(product["id"]), str(product.get("title") or ""), field,
                       field_value(product, field))


def _parsed_field(field: str | None) -> FieldQuestion | None:
    return FieldQuestion(field, "parsed") if field else None


def _written_as_titled(question: str, positions: list[int], products: Sequence[Mapping[str, Any]]) -> list[int]:
    """Twins whose titles differ only in letter case ("FS Mini Klub ...", "Fs Mini Klub ..."): the ones whose title
    the question writes as is are named."""
    if len(positions) < 2:
        return positions
    text = " ".join(question.split())
    cased = [p for p in positions if " ".join(str(products[p - 1].get("title") or "").split()) in text]
    return cased or positions


def _as_written(question: str, kept: set[int]) -> str:
    """The question's words that hold a ``kept`` token, lower-cased but whole: a model code stays "29923lpgy",
    which is how BM25 indexed it, not "29923 lpgy"."""
    out, position = [], 0
    for piece in question.split():
        count = len(tokens(piece))
        if kept & set(range(position, position + count)):
            out.append(piece.strip(string.punctuation).lower())
        position += count
    return " ".join(out)


def field_value(product: Mapping[str, Any], field: str) -> str | None:
    """The product's value for a field (core fields by name, attributes matched case-insensitively), formatted for
    a shopper."""
    if field == "price":
        price = product.get("price")
        return None if price is None else format_price(price, product.get("currency"))
    if field == "rating":
        rating = product.get("rating")
        return None if rating is None else f"{float(rating):g}"
    if field in ("brand", "category", "description"):
        value = str(product.get(field) or "").strip()
        return value or (_attribute(product, field) if field == "brand" else None)
    return _attribute(product, field)


def _attribute(product: Mapping[str, Any], field: str) -> str | None:
    wanted = spelling(field)
    for key, value in (product.get("attributes") or {}).items():
        if spelling(key) == wanted and str(value).strip():
            return str(value).strip()
    return None


def format_price(price: float, currency: str | None) -> str:
    amount = f"{price:,.0f}" if float(price).is_integer() else f"{price:,.2f}"
    return f"{amount} {currency}".strip() if currency else amount


def numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in _NUMBER.findall(text or "")]


def contains_answer(text: str, answer: str) -> bool:
    """True when ``text`` contains ``answer``: case-insensitive, and numbers compared as numbers."""
    expected = numbers(answer)
    if expected and _NUMBER.fullmatch(answer.strip().replace(" ", "")):
        return any(abs(n - expected[0]) <= 1e-6 * max(1.0, abs(expected[0])) for n in numbers(text))
    return answer.strip().lower() in (text or "").lower()
