"""Query understanding from the catalog's own facets: "navy blue shirts for men under 500" -> baseColour=Navy Blue,
gender=Men, articleType=Shirts, price<500, and the words left over.

No model: the catalog's facet vocabulary (``FacetVocabulary``, recorded with the collection) is indexed once by
the words of its values, singular and compact forms included ("shirts" -> Shirts, "mens"/"men's" -> Men,
"t-shirts" -> Tshirts); a query's words are matched longest value first, left to right. A value held by several
facets goes to the facet where more products hold it, and the understanding says so. Price phrases ("under 500",
"below Rs 1,000", "less than ₹300", "between 200 and 400", "cheapest", "most expensive") are read before values,
in the catalog's language (``PricePhrases``: "300元以下", "3만원 미만", "最便宜", "가장 저렴한"), whose segmenter also
splits a query and the values of a language written without spaces into words. It never raises: any string gives
an ``Understanding``, empty when nothing was understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Mapping, Sequence

from multimodal_rag.catalog.facets import FacetVocabulary, category_levels
from multimodal_rag.store.filters import LIKE_WILDCARDS
from multimodal_rag.language.analysis import match_words
from multimodal_rag.language.wordings import phrase_pattern, shoppers_words, word_edges, wordings
from multimodal_rag.words import designates, is_stopword, stem, tokens

MAX_VALUE_WORDS = 5
MAX_QUERY_CHARS = 2000  # a longer query is understood from its start: facets come first in what shoppers type
_UPPER = ("lt", "lte")
_SIGNS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_ORDER_LABELS = {"asc": "cheapest first", "desc": "most expensive first"}

_FACETS = wordings().facets  # language/data/en/facets.toml: the kind attributes
# Shoppers' words for values, of every language at once (language/data/<lang>/facets.toml): each applies only where
# the catalog stores the value it names, so one language's words never reach another's values.
_SHOPPERS_WORDS = shoppers_words()
_CONCEPTS = wordings().fields.attribute_names  # "color" -> the attribute names it designates


@dataclass(frozen=True)
class Constraint:
    """One understood condition: ``facet`` is "category", "brand", "price" or "attributes.<name>"; ``values`` the
    facet values (several: any of them); for price ``op`` is "lt", "lte", "gt", "gte" or "between" (both bounds
    in) with ``low``/``high``;
    ``soft``: a facet a shopper gives up first (a colour), before what the product is and whom it is for."""

    facet: str
    values: tuple[str, ...] = ()
    op: str = "eq"
    low: float | None = None
    high: float | None = None
    words: tuple[str, ...] = ()
    note: str = ""
    soft: bool = False

    @classmethod
    def price_bound(cls, op: str, amount: float, words: tuple[str, ...]) -> "Constraint":
        """A one-sided price bound: "lt"/"lte" put ``amount`` in ``high``, "gt"/"gte" in ``low``."""
        upper = op in _UPPER
        return cls("price", op=op, low=None if upper else amount, high=amount if upper else None, words=words)

    @property
    def label(self) -> str:
        name = self.facet.removeprefix("attributes.")
        if self.facet == "price":
            if self.op == "between":
                return f"{_number(self.low)}<=price<={_number(self.high)}"
            return f"price{_SIGNS[self.op]}{_number(self.high if self.op in _UPPER else self.low)}"
        return f"{name}={'|'.join(self.values)}"

    def filter(self) -> dict[str, Any]:
        """This condition as filter data for ``build_filter``."""
        if self.facet == "price":
            bounds = ({"gte": self.low, "lte": self.high} if self.op == "between"
                      else {self.op: self.high if self.op in _UPPER else self.low})
            return {"price": bounds}
        if self.facet == "category":
            return {"category": {"level": list(self.values)}}
        return {self.facet: self.values[0] if len(self.values) == 1 else {"in": list(self.values)}}


def _number(value: float | None) -> str:
    return "" if value is None else (f"{value:g}" if value < 1e15 else str(value))


@dataclass(frozen=True)
class Understanding:
    """What a query names: its constraints, a price order ("asc" for cheapest, "desc" for most expensive), the
    words left over, and notes on how ambiguous values were resolved."""

    query: str
    constraints: tuple[Constraint, ...] = ()
    sort: str | None = None
    rest: str = ""
    dropped: tuple[Constraint, ...] = ()  # constraints a search dropped because they left nothing
    corrections: tuple[tuple[str, str], ...] = ()  # misspelt words, as typed and as the catalog writes them
    unordered: str | None = None  # the price order asked that no product found has a price for (ranked instead)

    def __bool__(self) -> bool:
        return bool(self.constraints or self.sort)

    def filters(self, constraints: Sequence[Constraint] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for c in self.constraints if constraints is None else constraints:
            out.update(c.filter())
        return out

    def describe(self) -> str:
        parts = [c.label for c in self.constraints]
        if self.sort:
            parts.append(_ORDER_LABELS[self.sort])
        text = ", ".join(parts)
        if self.dropped:
            text += " (dropped, nothing matched: " + ", ".join(c.label for c in self.dropped) + ")"
        if self.unordered:
            text += f" (not {_ORDER_LABELS[self.unordered]}: no product found has a price)"
        text = text.strip()
        if self.corrections:
            spelled = "spelling: " + ", ".join(f"{typed} -> {fixed}" for typed, fixed in self.corrections)
            text = f"{text}; {spelled}" if text else spelled
        return text

    @property
    def reported(self) -> bool:
        """Something worth telling the shopper: constraints, an order, what was dropped, or corrections."""
        return bool(self or self.dropped or self.corrections or self.unordered)

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.describe(), "constraints": [
            {"facet": c.facet, "values": list(c.values), "op": c.op, "low": c.low, "high": c.high,
             "words": list(c.words), "note": c.note} for c in self.constraints],
            "sort": self.sort, "rest": self.rest, "dropped": [c.label for c in self.dropped],
            "unordered": self.unordered, "corrected": dict(self.corrections)}

    def loosest(self) -> Constraint:
        """The constraint to drop first when they leave nothing: the last soft one named, else the last named."""
        soft = [c for c in self.constraints if c.soft]
        return (soft or list(self.constraints))[-1]

    def tier(self, product: Mapping[str, Any]) -> int | None:
        """0 when the product satisfies every constraint; 1 when it misses only soft ones and satisfies at least
        one that is not (women's flats in another colour, for "beige flats for women"); else None."""
        if self.satisfied_by(product):
            return 0
        hard = [c for c in self.constraints if not c.soft]
        if len(hard) < len(self.constraints) and any(c.facet != "price" for c in hard) and all(
                satisfies(product, c) for c in hard):
            return 1
        return None

    def without(self, dropped: Constraint) -> "Understanding":
        kept = tuple(c for c in self.constraints if c is not dropped)
        return replace(self, constraints=kept, dropped=(*self.dropped, dropped))

    def unsorted(self) -> "Understanding":
        """This understanding searched by relevance: its price order found no priced product (a catalog without
        prices), so it is given up and said so."""
        return replace(self, sort=None, unordered=self.sort)

    @property
    def names_a_kind(self) -> bool:
        """True when a constraint says what kind of product (a category level, or a type attribute)."""
        return any(is_kind(c.facet) for c in self.constraints)

    def followed_by(self, follow_up: "Understanding") -> "Understanding":
        """This understanding with a follow-up's constraints ("in red", "under 500", "the cheapest"): a facet the
        follow-up names replaces this one's, the others are kept."""
        named = {c.facet for c in follow_up.constraints}
        kept = tuple(c for c in self.constraints if c.facet not in named)
        rest = " ".join(part for part in (self.rest, follow_up.rest) if part)
        return Understanding(f"{self.query} | {follow_up.query}", kept + follow_up.constraints,
                             follow_up.sort or self.sort, rest)

    def satisfied_by(self, product: Mapping[str, Any]) -> bool:
        return all(satisfies(product, c) for c in self.constraints)


def is_kind(facet: str) -> bool:
    """Facets that say what a product is: category levels and type attributes ("Type", "articleType")."""
    return facet == "category" or (facet.startswith("attributes.") and any(k in facet.lower() for k in _FACETS.kind))


def satisfies(product: Mapping[str, Any], constraint: Constraint) -> bool:
    """True when a product (its stored fields) meets the constraint."""
    if constraint.facet == "price":
        price = product.get("price")
        if price is None:
            return False
        low = constraint.low if constraint.low is not None else float("-inf")
        high = constraint.high if constraint.high is not None else float("inf")
        return {"lt": price < high, "lte": price <= high, "gt": price > low, "gte": price >= low}.get(
            constraint.op, low <= price <= high)
    wanted = {v.lower() for v in constraint.values}
    if constraint.facet == "category":
        return any(level.lower() in wanted for level in category_levels(product.get("category") or ""))
    if constraint.facet == "brand":
        return str(product.get("brand") or "").lower() in wanted
    name = constraint.facet.removeprefix("attributes.")
    return str((product.get("attributes") or {}).get(name, "")).lower() in wanted


def _key(words: Sequence[str]) -> tuple[str, ...]:
    return tuple(stem(w) for w in words)


@dataclass
class _Entry:
    facet: str
    value: str
    count: int


@dataclass
class QueryUnderstanding:
    """Understands queries against a catalog's facet vocabulary. ``synonyms`` maps a shopper's word or phrase to
    a facet value as stored ({"tee": "Tshirts"}), beside the language's words for common values ("gents" -> men,
    facets.toml), and wins over them for the same word; entries whose value the catalog lacks are ignored."""

    vocabulary: FacetVocabulary
    synonyms: Mapping[str, str] = field(default_factory=dict)
    # Facets a shopper gives up first: their constraints are ``soft``. An entry is an attribute concept of the
    # language's fields.toml ("color": every attribute it designates, "baseColour", "Strap Color"), else a facet
    # name (an attribute name, or "brand"), any letter case.
    relax_first: Sequence[str] = ()
    # The catalog's language: its price phrases, and how a query and the catalog's values split into words (a
    # language written without spaces by its segmenter: "蓝色马克杯" is 蓝色 + 马克杯).
    language: str = "en"

    def __post_init__(self) -> None:
        self._prices = PricePhrases.for_language(self.language)
        # The words a query is matched by (the catalog's values, shoppers' words for them) are the segmenter's
        # words too, for a language that writes none apart.
        known = [v for _, values in self._facets() for v in values] + [*_SHOPPERS_WORDS, *self.synonyms]
        known_words = frozenset(w for w in known if " " not in w.strip()) if self.language == "zh" else frozenset()
        self._words = match_words(self.language, known_words) or tokens
        self._soft_names = {name.lower() for name in self.relax_first if name.lower() not in _CONCEPTS}
        self._soft_concepts = [n for name in self.relax_first for n in _CONCEPTS.get(name.lower(), ())]
        index: dict[tuple[str, ...], list[_Entry]] = {}

        def add(words: Sequence[str], entry: _Entry) -> None:
            if not words or len(words) > MAX_VALUE_WORDS or all(is_stopword(w) or w.isdigit() for w in words):
                return
            for key in {_key(words), _key(["".join(words)])}:
                bucket = index.setdefault(key, [])
                if all((e.facet, e.value) != (entry.facet, entry.value) for e in bucket):
                    bucket.append(entry)

        totals: dict[tuple[str, str], int] = {}
        for facet, values in self._facets():
            for value, count in values.items():
                if set(value) & LIKE_WILDCARDS and facet == "category":
                    continue  # a category level is matched with LIKE, which cannot hold these literally
                totals[(facet, value)] = totals.get((facet, value), 0) + int(count)
        for (facet, value), count in totals.items():
            add(self._words(value), _Entry(facet, value, count))
        shoppers = {" ".join(self._words(phrase)): values for phrase, values in _SHOPPERS_WORDS.items()}
        shoppers.update({" ".join(self._words(phrase)): (value,) for phrase, value in self.synonyms.items()})
        for phrase, values in shoppers.items():
            named = {str(v).lower() for v in values}
            for (facet, stored), count in totals.items():
                if stored.lower() in named:
                    add(phrase.split(), _Entry(facet, stored, count))
        self._index = index
        self._longest = max((len(k) for k in index), default=0)

    def _facets(self) -> list[tuple[str, Mapping[str, int]]]:
        """(facet, its values with their product counts) for the brand, each category level and each attribute."""
        facets: list[tuple[str, Mapping[str, int]]] = [("brand", self.vocabulary.brands)]
        facets += [("category", level) for level in self.vocabulary.categories]
        facets += [(f"attributes.{name}", values) for name, values in self.vocabulary.attributes.items()]
        return facets

    def understand(self, query: Any) -> Understanding:
        """The constraints ``query`` names, and the words left over. Never raises."""
        if not isinstance(query, str) or not query.strip():
            return Understanding(query if isinstance(query, str) else "")
        text = query[:MAX_QUERY_CHARS]
        price, sort, text = self._prices.read(text)
        words = self._words(text)
        used = [False] * len(words)
        found: dict[str, tuple[list[str], list[str], str]] = {}  # facet -> (values, words, note)
        i = 0
        while i < len(words):
            match = self._longest_match(words, i)
            if match is None:
                i += 1
                continue
            n, entry, note = match
            values, said, notes = found.setdefault(entry.facet, ([], [], ""))
            if entry.value not in values:
                values.append(entry.value)
            said.extend(words[i:i + n])
            found[entry.facet] = (values, said, notes or note)
            for j in range(i, i + n):
                used[j] = True
            if i > 0 and words[i - 1] in self._prices.links:
                used[i - 1] = True
            i += n
        constraints = [Constraint(facet, tuple(values), words=tuple(said), note=note, soft=self.soft(facet))
                       for facet, (values, said, note) in found.items()]
        if price is not None:
            constraints.append(price)
        rest = " ".join(w for w, u in zip(words, used) if not u)
        return Understanding(query, tuple(constraints), sort, rest)

    def soft(self, facet: str) -> bool:
        """True for a facet a shopper gives up first (``relax_first``): its constraints are soft."""
        name = facet.removeprefix("attributes.")
        return name.lower() in self._soft_names or (facet.startswith("attributes.") and any(
            designates(concept_name, name) for concept_name in self._soft_concepts))

    def _longest_match(self, words: Sequence[str], start: int) -> tuple[int, _Entry, str] | None:
        for n in range(min(self._longest, len(words) - start), 0, -1):
            span = words[start:start + n]
            entries = self._index.get(_key(span)) or (self._index.get(_key(["".join(span)])) if n > 1 else None)
            if entries:
                # A brand stored both as the brand field and as a "Brand" attribute is the brand.
                core = {e.value.lower() for e in entries if e.facet == "brand"}
                entries = [e for e in entries if not (e.facet.lower() == "attributes.brand" and e.value.lower()
                                                      in core)]
                best = max(entries, key=lambda e: (e.count, e.facet.startswith("attributes.")))
                note = ""
                if len(entries) > 1:
                    others = ", ".join(f"{e.facet.removeprefix('attributes.')} ({e.count})" for e in entries
                                       if e is not best)
                    note = (f"{' '.join(span)!r} is also {others}; took {best.facet.removeprefix('attributes.')} "
                            f"({best.count} products)")
                return n, best, note
        return None


class PricePhrases:
    """A language's price phrases (``language/data/<lang>/shopping.toml``) compiled: the words are data, the shapes
    (numbers, signs, where a bound stands) are here. A language written without spaces between words (Chinese), or
    with particles glued to them (Korean: "이하로"), matches its phrases inside runs of letters
    (``spaced = false``): only Latin letters next to a phrase keep it from matching."""

    def __init__(self, language: str = "en"):
        shopping = wordings(language).shopping
        price, amounts = shopping.price, shopping.amount
        self.multipliers = {k.lower(): v for k, v in amounts.multipliers.items()}  # "2k": 2,000; "3만": 30,000
        left, right = word_edges(shopping.spaced)
        currency = phrase_pattern(amounts.currency)
        # Currency words an amount may run into ("300rs"); any other letter after the digits makes a model number.
        currency_after = "|".join(re.escape(c) + (right if c[-1].isalnum() else "") for c in amounts.currency
                                  if c[0].isalpha())
        # An amount is a whole word: "8502-7PURPLE" and "E-1700-906_BLK" (model numbers) hold none, being joined
        # to letters by a hyphen or an underscore; "2k", "300rs", "₹300" and "300-500" do. Nor is a part of a
        # fraction one ("1-1/4", "3/4 to 3/8", "2 to 1 1/2": a size).
        # (Without spaces an amount may follow a letter: "预算600元".)
        amount = (r"(?<!\w)" if shopping.spaced else r"(?<![a-z\d_])") + (r"(?<![a-z][-_])(?<!\d/)(\d{1,3}(?:,\d{2,3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\d,.]?\d)(?!_|-[a-z])(?![-\s]?\d*/\d)"
                  rf"(\s*{phrase_pattern(self.multipliers)}{right})?(?!(?!{currency_after or '(?!)'})[a-z])")
        # A number followed by a unit is a spec ("max 256 GB", "under 2 kg"), not a price.
        unit = rf"(?!\s*{phrase_pattern(amounts.spec_units)}{right}|\s*%)"
        money = rf"{currency}?\s*{amount}\s*{currency}?{unit}"
        # A range is no link of a chain of numbers ("1000-019-492", "118-23-01": codes).
        self.range = re.compile(rf"{left}(?<!\d[-/]){phrase_pattern(price.range_before)}?\s*{money}\s*"
                                rf"(?:{phrase_pattern(price.range_joiners)}|-|–|~)\s*{money}(?![-/]\d)", re.I)

        def before(phrases: Sequence[str], sign: str) -> re.Pattern:
            """A bound written before the amount: one of ``phrases`` (a colon may follow: "budget: 500") or a
            ``sign``."""
            return re.compile(rf"(?:{left}{phrase_pattern(phrases)}\s*:?|{sign})\s*{money}", re.I)

        def after(phrases: Sequence[str]) -> re.Pattern:
            """A bound written after the amount: "500 or less", "300元以下", "3만원 이하"."""
            return re.compile(rf"{money}\s*{phrase_pattern(phrases)}{right}", re.I)

        def negated_before(phrases: Sequence[str]) -> re.Pattern:
            return re.compile(rf"{left}{phrase_pattern(price.negation_before)}\s*{phrase_pattern(phrases)}\s*{money}",
                              re.I)

        def negated_after(phrases: Sequence[str]) -> re.Pattern:
            return re.compile(rf"{money}\s*{phrase_pattern(phrases)}{phrase_pattern(price.negation_after)}", re.I)

        # A negated bound, before the bounds it holds ("not over 500" holds "over 500"): not above is at most, not
        # below at least.
        negated = []
        if price.negation_before:
            negated += [(negated_before((*price.above, *price.at_least)), "lte"),
                        (negated_before((*price.below, *price.at_most)), "gte")]
        if price.negation_after:
            negated += [(negated_after((*price.above_after, *price.at_least_after)), "lte"),
                        (negated_after((*price.below_after, *price.at_most_after)), "gte")]
        # Strict bounds leave the amount out ("under 500": 500 is not under 500); "up to", "at most", a budget,
        # "500 or less" and "at least" take it in.
        self.bounds = (*negated, (before(price.below, "<(?!=)"), "lt"), (after(price.below_after), "lt"),
                       (before(price.at_most, "<="), "lte"), (after(price.at_most_after), "lte"),
                       (before(price.above, ">(?!=)"), "gt"), (after(price.above_after), "gt"),
                       (before(price.at_least, ">="), "gte"), (after(price.at_least_after), "gte"))
        order = shopping.order
        self.cheapest = re.compile(rf"{left}{phrase_pattern(order.cheapest)}{right}", re.I)
        self.dearest = re.compile(rf"{left}{phrase_pattern(order.dearest)}{right}", re.I)
        # A composed order: a superlative, then a word of a price's direction or of high / low with a price word
        # before or after it (a particle between: "가격이 제일 높은"). Adjectives take endings where words are not
        # written apart ("저렴한"), so only a spaced language asks for a word's end after them.
        space = r"\s+" if shopping.spaced else r"\s*"
        particle = r"\s+" if shopping.spaced else r"\S{0,2}\s*"
        end = right if shopping.spaced else ""
        superlative = rf"(?:(?P<most>{phrase_pattern(order.most)})|(?P<least>{phrase_pattern(order.least)}))"
        direction = rf"(?:(?P<up>{phrase_pattern((*order.dear, *order.high))})|" \
                    rf"(?P<down>{phrase_pattern((*order.cheap, *order.low))}))"
        worded = phrase_pattern(order.price)
        self.composed = (
            re.compile(rf"{left}{superlative}{space}(?:(?P<up>{phrase_pattern(order.dear)})|"
                       rf"(?P<down>{phrase_pattern(order.cheap)})){end}", re.I),
            re.compile(rf"{left}{worded}{particle}{superlative}{space}{direction}{end}", re.I),
            re.compile(rf"{left}{superlative}{space}{direction}{particle}{worded}{right}", re.I))
        # Words that introduce a facet value ("for men", "by Nike", "in red") and are not left over when they do.
        self.links = frozenset(shopping.links)

    @classmethod
    @lru_cache(maxsize=None)
    def for_language(cls, language: str) -> "PricePhrases":
        return cls(language)

    def _order(self, text: str) -> tuple[str | None, str]:
        """The price order ``text`` asks for ("asc", "desc" or None), and the text without its words."""
        if self.cheapest.search(text):
            return "asc", self.cheapest.sub(" ", text)
        if self.dearest.search(text):
            return "desc", self.dearest.sub(" ", text)
        for pattern in self.composed:
            if match := pattern.search(text):
                up = (match.group("up") is not None) == (match.group("most") is not None)
                return "desc" if up else "asc", text[:match.start()] + " " + text[match.end():]
        return None, text

    def amount(self, number: str, multiplier: str | None) -> float:
        value = float(number.replace(",", ""))
        return value * self.multipliers[multiplier.strip().lower()] if multiplier else value

    def read(self, text: str) -> tuple[Constraint | None, str | None, str]:
        """The price constraint and order ``text`` names, and the text without those phrases."""
        sort, text = self._order(text)
        match = self.range.search(text)
        if match:
            low, high = sorted((self.amount(match.group(1), match.group(2)),
                                self.amount(match.group(3), match.group(4))))
            constraint = Constraint("price", op="between", low=low, high=high, words=(match.group().strip(),))
            return constraint, sort, text[:match.start()] + " " + text[match.end():]
        for pattern, op in self.bounds:
            match = pattern.search(text)
            if match:
                constraint = Constraint.price_bound(op, self.amount(match.group(1), match.group(2)),
                                                    (match.group().strip(),))
                return constraint, sort, text[:match.start()] + " " + text[match.end():]
        return None, sort, text

