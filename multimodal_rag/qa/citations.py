"""Citations in an answer: which products it cites, which it names, and whether each cited product is named.

A citation ``[n]`` is the answer's claim that what it says comes from product n. A small model writes "[1]" after
another product's name, after a price that is another product's, or after words that name no product at all ("the
cheapest item among your perucci wrist watches is the 1,290.00 INR [1] perucci wrist watches"). ``miscited`` finds
such a sentence: each citation must follow words that name its product (in the same sentence, since the citation
before), and every price the sentence states must be the price of a product it cites.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

from langchain_core.documents import Document

from multimodal_rag.language.wordings import phrase_pattern, wordings
from multimodal_rag.words import find_word, is_stopword, tokens

_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_CURRENCIES = wordings().shopping.amount.currency
# A sentence ends at ".", "!" or "?" and the space after it, once the next sentence has started: a citation after
# the full stop ("... aluminium. [1]") is still the sentence's, and "Rs. 499" ends none.
_ABBREVIATED = "".join(rf"(?<!\b{re.escape(c)})" for c in _CURRENCIES if c.endswith("."))
SENTENCE_END = re.compile(rf"(?i:(?<=[.!?]){_ABBREVIATED})\s+(?=[^\s\[])|\n+(?=[^\s\[])")
_AMOUNT = r"\d[\d,]*(?:\.\d+)?"
# An answer mentions a product (and must cite it) when it holds this share of the product's title words.
MENTION_SHARE = 0.6
# A short name is a few words of the product's own ("Prestige cooker"): one word ("the mug", "a gift") names a kind,
# unless it is the brand.
SHORT_NAME_WORDS = 2


def clean_citations(answer: str, count: int) -> tuple[str, list[int]]:
    """The answer with out-of-range ``[n]`` markers removed, and the cited positions in order of first mention."""
    cited: list[int] = []

    def keep(match: re.Match) -> str:
        valid = [int(n) for n in re.findall(r"\d+", match.group(1)) if 1 <= int(n) <= count]
        cited.extend(n for n in valid if n not in cited)
        return f"[{', '.join(map(str, valid))}]" if valid else ""

    text = _CITATION.sub(keep, answer)
    return re.sub(r"\s+([.,;!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip(), cited


def sentence_end(text: str, titles: Iterable[str] = ()) -> re.Match | None:
    """Where the first sentence of ``text`` ends (None: not yet): not inside one of ``titles`` ("I'm A Mom. What'S
    Your Superpower? ... Mug" is one product's title)."""
    for match in SENTENCE_END.finditer(text):
        said = " ".join(text[:match.start()].split()).lower()
        if not any(said.endswith(part) for title in titles for part in _title_breaks(title)):
            return match
    return None


def _title_breaks(title: str) -> list[str]:
    """The starts of ``title`` that end where a sentence could: "I'm A Mom." of "I'm A Mom. What'S ..."."""
    title = " ".join(title.split()).lower()
    return [title[:m.start()] for m in SENTENCE_END.finditer(title)]


def sentences(answer: str, titles: Iterable[str] = ()) -> list[str]:
    """The answer's sentences, none cut inside one of ``titles``."""
    titles, out = list(titles), []
    while (match := sentence_end(answer, titles)) is not None:
        out.append(answer[:match.start()])
        answer = answer[match.end():]
    return [s.strip() for s in [*out, answer] if s.strip()]


def titles(shown: Mapping[int, Document]) -> list[str]:
    return [str(d.metadata.get("title") or "") for d in shown.values()]


def _title_words(doc: Document) -> list[str]:
    return [w for w in tokens(str(doc.metadata.get("title") or "")) if not is_stopword(w)]


def _described_by(doc: Document) -> set[str]:
    """Words that tell a product from others besides its title: its brand and attribute values ("the blue
    aluminium kadhai")."""
    m = doc.metadata
    values = [str(m.get("brand") or ""), *map(str, (m.get("attributes") or {}).values())]
    return {w for w in tokens(" ".join(values)) if not is_stopword(w)}


def mentioned(answer: str, products: Sequence[Document]) -> list[int]:
    """Positions of the products an answer names (by most of its title's words, and no other product's as well)
    whether or not it cites them."""
    said = set(tokens(_CITATION.sub(" ", answer)))
    shown = dict(enumerate(products, start=1))
    out = []
    for i, doc in shown.items():
        title = _title_words(doc)
        if (len(title) >= 2 and sum(w in said for w in title) / len(title) >= MENTION_SHARE
                and names(answer, i, shown)):
            out.append(i)
    return out


def names(text: str, position: int, shown: Mapping[int, Document]) -> bool:
    """True when ``text`` names product ``position`` among the ``shown`` ones: by its whole title, or by a short
    name that no other shown product holds all the words of: its brand (or its title's first word), or at least
    ``SHORT_NAME_WORDS`` of its words, one of its title's among them (the others may be its brand's and attribute
    values': "the blue aluminium kadhai"). Words of another product's title written out whole are that product's.
    Plurals and a typo are forgiven."""
    said_text = " ".join(_CITATION.sub(" ", text).split()).lower()
    doc = shown[position]
    title = _title_of(doc)
    for other in sorted((_title_of(d) for p, d in shown.items() if p != position), key=len, reverse=True):
        if other and other not in title:
            said_text = said_text.replace(other, " ")
    if title and title in said_text:
        return True
    said = set(tokens(said_text))
    held = {w for w in _title_words(doc) if find_word(w, said) is not None}
    if not held:
        return False
    held |= {w for w in _described_by(doc) if find_word(w, said) is not None}
    if len(held) < SHORT_NAME_WORDS and not held & _lead(doc):
        return False
    others = [set(_title_words(d)) | _described_by(d) for p, d in shown.items() if p != position]
    return not any(all(find_word(w, known) is not None for w in held) for known in others)


def _lead(doc: Document) -> set[str]:
    """The words that lead the product's name: its brand's, or its title's first word."""
    brand = [w for w in tokens(str(doc.metadata.get("brand") or "")) if not is_stopword(w)]
    return set(brand or _title_words(doc)[:1])


def _title_of(doc: Document) -> str:
    return " ".join(str(doc.metadata.get("title") or "").split()).lower()


def miscited(sentence: str, shown: Mapping[int, Document]) -> list[int]:
    """The positions ``sentence`` cites wrongly: a citation of a product that the words before it (since the
    sentence's start or the citation before) do not name, unless the sentence named and cited it already; and
    every product it cites when it states a price that none of them has (with one product cited: not its
    price). Positions outside ``shown`` are left to ``clean_citations``."""
    bad: list[int] = []
    cited: list[int] = []
    start = 0
    for match in _CITATION.finditer(sentence):
        words = sentence[start:match.start()]
        for p in (int(n) for n in re.findall(r"\d+", match.group(1))):
            if p not in shown or p in cited:
                continue
            cited.append(p)
            if not names(words, p, shown) and p not in bad:
                bad.append(p)
        start = match.end()
    prices = [shown[p].metadata.get("price") for p in cited]
    for amount in stated_prices(sentence, shown.values()):
        if not any(price is not None and abs(amount - float(price)) <= 0.005 for price in prices):
            return cited
    return bad


def stated_prices(text: str, products: Iterable[Document] = ()) -> list[float]:
    """The amounts ``text`` states as prices: numbers next to a currency (₹, Rs., INR ... and the products' own)."""
    currencies = {*_CURRENCIES, *(str(d.metadata.get("currency") or "").lower() for d in products)} - {""}
    currency = phrase_pattern(currencies)
    pattern = re.compile(rf"(?<!\w){currency}\s*({_AMOUNT})|(?<![\w.,])({_AMOUNT})\s*{currency}(?!\w)", re.I)
    return [float((m.group(1) or m.group(2)).replace(",", "")) for m in pattern.finditer(_CITATION.sub(" ", text))]
