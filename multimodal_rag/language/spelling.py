"""Shoppers' misspellings corrected against the catalog's own words (symspellpy).

The vocabulary is every word of the products' searchable text with its count, collected at ingest; a query word the
catalog never uses ("dewlap", "lasron") is replaced by the catalog word closest to it in edits (Damerau-
Levenshtein), the most frequent one among equally close, or by two catalog words it runs together ("jeldwen" ->
"jeld wen"). The two are weighed as a noisy channel weighs them: the space left out is one edit, fewer edits win,
and among as many the likelier in the catalog (a split as likely as its two words together): "cabinent" is one
edit from "cabinet" (1,506 Home Depot titles) and from "cabin ent", and means the cabinet. Words with a digit
(model numbers, sizes) and the language's stop words are left alone; short words may differ by one edit only,
since short words one edit apart are usually other words ("mug", "rug").
"""

from __future__ import annotations

from typing import Mapping, Sequence

# Words shorter than this are never corrected; up to LONG_WORD - 1 letters one edit is forgiven, from LONG_WORD two.
MIN_LENGTH = 4
LONG_WORD = 6
# A word the shopper ran together is split in two only when each part has this many letters: the catalog holds short
# fragments of model codes ("es", "ge") that would split any word.
SPLIT_PART = 3


class SpellingCorrector:
    """Corrects words against ``counts`` (word -> how many times the catalog uses it)."""

    def __init__(self, counts: Mapping[str, int], *, stopwords: frozenset[str] = frozenset(),
                 max_distance: int = 2):
        from symspellpy import SymSpell

        self.max_distance = max_distance
        self.stopwords = stopwords
        self._words = {w for w in counts if w}
        self._symspell = SymSpell(max_dictionary_edit_distance=max_distance, prefix_length=7)
        for word, count in counts.items():
            if word and count > 0:
                self._symspell.create_dictionary_entry(word, int(count))
        self._total = sum(self._symspell.words.values()) or 1

    def __contains__(self, word: str) -> bool:
        return word in self._words

    def __len__(self) -> int:
        return len(self._words)

    def correction(self, word: str) -> str | None:
        """What the catalog calls ``word``: the catalog words it runs together ("jeldwen" -> "jeld wen"), else the
        catalog word it misspells; None for a known word or when nothing is close enough."""
        from symspellpy import Verbosity

        if (word in self._words or len(word) < MIN_LENGTH or word in self.stopwords
                or any(ch.isdigit() for ch in word) or not any(ch.isalpha() for ch in word)):
            return None
        # Each candidate as (edits, -likelihood in the catalog, text): the first is the correction.
        candidates = []
        split = self._symspell.word_segmentation(word, max_edit_distance=0).corrected_string.split()
        if len(split) == 2 and all(len(part) >= SPLIT_PART and part in self._words for part in split):
            first, second = (self._symspell.words.get(part, 0) / self._total for part in split)
            candidates.append((1, -first * second, " ".join(split)))
        distance = min(self.max_distance, 1 if len(word) < LONG_WORD else 2)
        found = self._symspell.lookup(word, Verbosity.CLOSEST, max_edit_distance=distance,
                                      transfer_casing=False)
        # Among the closest, the word the catalog uses most; ties by the word itself, so the choice is stable.
        candidates += [(s.distance, -s.count / self._total, s.term) for s in found if s.term != word]
        return min(candidates)[2] if candidates else None

    def corrections(self, words: Sequence[str]) -> dict[str, str]:
        """Each word of ``words`` that has a correction -> its correction, and two neighbouring words the catalog
        writes as one ("may tag" -> "maytag") -> that word."""
        out: dict[str, str] = {}
        for word in words:
            fixed = self.correction(word)
            if fixed is not None:
                out[word] = fixed
        for first, second in zip(words, words[1:]):
            joined = first + second
            if (joined in self._words and len(joined) >= MIN_LENGTH and not first.isdigit()
                    and not second.isdigit()):
                out[f"{first} {second}"] = joined
        return out
