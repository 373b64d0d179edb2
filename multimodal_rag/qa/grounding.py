"""Answers that state only what the catalog says: numbers and field values checked against the given cards.

Every number in an answer (prices, sizes, counts; citation markers aside) must appear in a product card the model
was given or in the question, compared as numbers; every catalog value it names (a colour, a material, a brand:
the catalog's facet values) must appear in a given card or in the question. An answer that fails is not shown.
An answer that states one field of a product has nothing to add to it: ``novel_words`` are the words it says that
no source does, and the words it joins that no source joins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from multimodal_rag.qa.lookup import numbers
from multimodal_rag.words import find_word, has_digit, is_stopword, tokens

_CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
MIN_VALUE_LENGTH = 3


@dataclass(frozen=True)
class Unsupported:
    """What an answer states that no given card (or the question) holds."""

    numbers: tuple[str, ...] = ()
    values: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.numbers or self.values)

    def __str__(self) -> str:
        parts = [f"number {n}" for n in self.numbers] + [f"value {v!r}" for v in self.values]
        return ", ".join(parts)


def _known_numbers(sources: Iterable[str]) -> list[float]:
    return [n for text in sources for n in numbers(text)]


def _value_pattern(value: str) -> re.Pattern:
    return re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, value.split())) + r"(?!\w)", re.I)


class GroundingCheck:
    """Checks answers against their sources. ``values``: the catalog values worth checking (facet values of the
    catalog: colours, materials, brands, types); values made only of common words are left out."""

    def __init__(self, values: Iterable[str] = ()):
        wanted = {" ".join(str(v).split()).strip(" ,;.:") for v in values}
        self.values = sorted((v for v in wanted if len(v) >= MIN_VALUE_LENGTH
                              and any(not is_stopword(w) and not w.isdigit() for w in tokens(v))),
                             key=len, reverse=True)
        self._patterns = {v: _value_pattern(v) for v in self.values}

    def check(self, answer: str, sources: Sequence[str]) -> Unsupported:
        text = _CITATION.sub(" ", answer)
        known = _known_numbers(sources)
        bad_numbers = []
        for match in _NUMBER.finditer(text):
            value = float(match.group().rstrip(",").replace(",", ""))
            if not any(abs(value - k) <= 1e-6 * max(1.0, abs(k)) for k in known):
                bad_numbers.append(match.group().rstrip(","))
        corpus = " \n ".join(sources)
        bad_values = []
        for value in self.values:
            pattern = self._patterns[value]
            if pattern.search(text) and not pattern.search(corpus):
                bad_values.append(value)
                text = pattern.sub(" ", text)  # a longer value holds shorter ones: "Navy Blue" is not also "Blue"
        return Unsupported(tuple(bad_numbers), tuple(bad_values))


def novel_words(answer: str, sources: Sequence[str], allowed: Iterable[str] = ()) -> list[str]:
    """What the model added: the content words of ``answer`` found in no source (plurals and one typo forgiven)
    nor among ``allowed`` (a field's own wording: "costs", "made of"), and two source words it puts side by side
    that no source does ("USB LED Lamp" retelling "USB Led Light", "Light Lamp"). Numbers are left to ``check``."""
    known = {w for source in sources for w in tokens(source)} | set(allowed)
    said = tokens(_CITATION.sub(" ", answer))
    added = [w for w in dict.fromkeys(said) if _content(w) and w not in known and find_word(w, known) is None]
    pairs = {pair for source in sources for pair in _pairs(tokens(source))}
    return added + [" ".join(p) for p in dict.fromkeys(_pairs(said))
                    if p not in pairs and all(w in known for w in p) and not set(p) & set(allowed)]


def _content(word: str) -> bool:
    return not is_stopword(word) and not has_digit(word)


def _pairs(words: Sequence[str]) -> list[tuple[str, str]]:
    """Neighbouring content words."""
    return [(a, b) for a, b in zip(words, words[1:]) if _content(a) and _content(b)]
