"""Search terms from product and query text, for one language: the same analysis on both sides.

Milvus Lite 3.2.2 tokenizes only with ``standard`` (Unicode word boundaries, lower case) or ``jieba`` and accepts
analyzer filters (stemmer, stop words) but ignores them; a Milvus server applies them. So the analysis runs here,
with maintained libraries, and Milvus' BM25 is handed text that is already analysed: terms separated by spaces,
each one that the ``standard`` tokenizer keeps whole. That works the same on Lite and on a server.

A term is
- a measurement: a number and its unit's canonical name ("1/2 in.", '1/2"', "1/2-in." -> ``0.5in``; "60W",
  "60-Watt", "60 watt" -> ``60w``), and for sizes written ``A x B`` also the pair (``2x4``), from ``units.toml``;
- else a word of the language's segmentation (jieba for Chinese, Kiwi's morphemes for Korean, Unicode words
  elsewhere), lower case, not a stop word (bm25s' lists: Lucene's 33 for English, as Milvus' ``_english_``), by
  its Snowball stem (PyStemmer) where the language has a stemmer.
"""

from __future__ import annotations

import html
import re
import sys
import threading
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from typing import Callable, Iterator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from multimodal_rag.errors import UserError

# ISO 639-1 code -> Snowball stemmer (PyStemmer's name), for the languages it stems.
SNOWBALL = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi",
    "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian", "lt": "lithuanian", "ne": "nepali",
    "nl": "dutch", "no": "norwegian", "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sr": "serbian", "sv": "swedish", "ta": "tamil", "tr": "turkish",
}
# ISO 639-1 code -> the name of bm25s' stop-word list (bm25s.stopwords.STOPWORDS_<NAME>).
STOPWORD_LISTS = {
    "en": "EN", "da": "DANISH", "nl": "DUTCH", "fr": "FRENCH", "de": "GERMAN", "it": "ITALIAN", "no": "NORWEGIAN",
    "pt": "PORTUGUESE", "ru": "RUSSIAN", "es": "SPANISH", "sv": "SWEDISH", "tr": "TURKISH", "zh": "CHINESE",
    "ko": "KOREAN",
}
# Languages written without spaces between words, or whose words carry particles and endings: segmented by a
# morphological library (the [lang] extra), named in the analysis identity. Korean is analysed word by word (each
# space-separated eojeol on its own): Kiwi reading a whole sentence may cut a noun by its neighbours ("운동화
# 예산" gave 운동 + 화), so a query would not find the word its titles hold.
SEGMENTED = {"zh": "jieba", "ko": "kiwipiepy-eojeol"}
# Kiwi's tags of the morphemes that say what a product is: nouns, numbers, foreign words, roots, and the stems of
# verbs and adjectives; particles (J*), endings (E*) and affixes are left out.
KOREAN_CONTENT_TAGS = frozenset({"NNG", "NNP", "NNB", "NR", "NP", "SL", "SH", "SN", "XR", "VV", "VA", "MAG"})
ANALYSIS_VERSION = 1  # part of the identity: a change of rules here means stored BM25 text must be rebuilt

# A word, with the apostrophes inside it ("men's" is one word, as Milvus' standard tokenizer keeps it).
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
# A number: "1-1/2" or "1 1/2" (a whole and a fraction), "1/2", "1,000" (thousands), "0.5", ".5", "12". Fractions
# are of a unit (1/2, 3/8, 15/16): "4500/4500-Watt" and "6/3 wire" are two numbers.
_FRACTION = r"\d{1,2}/\d{1,2}(?!\d)"
_NUMBER = rf"(?:\d+(?:-|\s){_FRACTION}|{_FRACTION}|\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d*\.\d+|\d+)"


def normalise(text: str) -> str:
    """Entities decoded ("Grip&#39;n"), compatibility forms folded (full-width digits, "½"), lower case."""
    text = unicodedata.normalize("NFKC", html.unescape(text or "")).replace("\u2044", "/")
    return text.lower()


def number_value(text: str) -> float | None:
    """The value of a number as written: "1-3/8" and "1 3/8" are 1.375, "1,000" is 1000; None for a fraction that
    is not one of a unit ("6/3")."""
    text = text.replace(",", "")
    whole, _, fraction = re.sub(r"\s+", " ", text).replace("-", " ").rpartition(" ")
    if "/" in fraction:
        top, bottom = (int(n) for n in fraction.split("/"))
        if not 0 < top < bottom:
            return None
        return top / bottom + (float(whole) if whole else 0.0)
    return float(text)


def number_term(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


@lru_cache(maxsize=None)
def unit_table(language: str) -> dict[str, str]:
    """Every spelling of a unit (lower case) -> the unit's canonical name: the common table and the language's."""
    data = tomllib.loads(resources.files("multimodal_rag.language.data").joinpath("units.toml")
                         .read_text(encoding="utf-8"))
    spellings: dict[str, str] = {}
    for section in ("units", language):
        for unit, names in data.get(section, {}).items():
            for name in names:
                spellings[name.lower()] = unit
    return spellings


@lru_cache(maxsize=None)
def _measurement_patterns(language: str) -> tuple[re.Pattern, re.Pattern]:
    """A number with a unit (groups ``number``, ``unit``), and a run of them as a size ``A x B (x C)``."""
    spellings = sorted(unit_table(language), key=len, reverse=True)
    unit = "|".join(re.escape(s).replace(r"\ ", r"\.?\s*") for s in spellings)
    # A unit spelled with letters ends at a word boundary (an optional "." after it); a symbol (", ') ends anywhere.
    quantity = (rf"(?P<number>{_NUMBER})(?:\s*-?\s*(?P<unit>{unit})"
                rf"(?:(?<=[^\W\d_])(?![^\W_])\.?|(?<![^\W\d_])))?")
    size = re.sub(r"\(\?P<\w+>", "(?:", quantity)
    run = re.compile(rf"(?<![\w.,])({size}(?:\s*[x×*]\s*{size})*)(?!\d)", re.UNICODE)
    return re.compile(quantity, re.UNICODE), run


@dataclass(frozen=True)
class Measurement:
    value: float
    unit: str  # canonical unit name, "" for a bare number

    @property
    def term(self) -> str:
        return number_term(self.value) + self.unit


class AnalysisError(UserError, ValueError):
    """Text analysed in a way this version does not reproduce; the message says what to do."""


class TextAnalyzer:
    """The search terms of a text in one language. ``terms`` is what BM25 indexes and searches; ``words`` the
    segmented surface words (lower case, nothing dropped or stemmed), what spelling correction works on."""

    def __init__(self, language: str = "en", *, stem: bool = True, stopwords: bool = True, units: bool = True):
        self.language = language
        self.stem = stem and language in SNOWBALL
        self.use_stopwords = stopwords
        self.units = units
        self._lock = threading.Lock()

    @classmethod
    def from_identity(cls, identity: str) -> "TextAnalyzer":
        """The analyzer an identity names (a collection records it); ``AnalysisError`` when this version of the
        library analyses otherwise, since the stored terms would not match the query's."""
        language, _, _ = identity.partition("/")
        parts = set(identity.split("/")[1:])
        analyzer = cls(language, stem="snowball-" + SNOWBALL.get(language, "") in parts, stopwords="stop" in parts,
                       units="units" in parts)
        if analyzer.identity != identity:
            raise AnalysisError(f"the collection's text was analysed as {identity!r}; this version analyses "
                                f"{language!r} text as {analyzer.identity!r}: rebuild it with `mmrag migrate`")
        return analyzer

    @property
    def identity(self) -> str:
        """What decides the terms: stored BM25 text made under another identity must be rebuilt (``mmrag migrate``)."""
        parts = [self.language, f"v{ANALYSIS_VERSION}"]
        if self.stem:
            parts.append(f"snowball-{SNOWBALL[self.language]}")
        if self.use_stopwords and self.language in STOPWORD_LISTS:
            parts.append("stop")
        if self.units:
            parts.append("units")
        if self.language in SEGMENTED:
            parts.append(SEGMENTED[self.language])
        return "/".join(parts)

    # -- the pieces ---------------------------------------------------------------------------------------------

    @cached_property
    def stopwords(self) -> frozenset[str]:
        name = STOPWORD_LISTS.get(self.language)
        if not self.use_stopwords or name is None:
            return frozenset()
        from bm25s import stopwords

        return frozenset(w.lower() for w in getattr(stopwords, f"STOPWORDS_{name}"))

    @cached_property
    def _stemmer(self) -> Callable[[str], str] | None:
        if not self.stem:
            return None
        import Stemmer

        stemmer = Stemmer.Stemmer(SNOWBALL[self.language])
        return lru_cache(maxsize=200_000)(stemmer.stemWord)

    @cached_property
    def _segment(self) -> Callable[[str], list[str]]:
        if self.language == "zh":
            jieba = _require("jieba", "Chinese")
            jieba.setLogLevel(60)  # its "building prefix dict" lines are not the user's business
            # cut_for_search: the words and the shorter words inside long ones ("马克杯" and "马克", "杯"),
            # so a query word matches inside a longer run of the title.
            return lambda text: [w for w in jieba.cut_for_search(text) if _WORD.search(w)]
        if self.language == "ko":
            kiwi = _require("kiwipiepy", "Korean").Kiwi()

            def content(tag: str) -> bool:
                return tag in KOREAN_CONTENT_TAGS or tag.startswith(("VV", "VA"))

            @lru_cache(maxsize=200_000)
            def eojeol(word: str) -> tuple[str, ...]:
                return tuple(t.form for t in kiwi.tokenize(word) if content(t.tag))

            def korean(text: str) -> list[str]:
                # Each word's morphemes read alone, but a word the sentence reads as particles only is dropped: the
                # "로" a cut-out price phrase leaves of "이하로" is a noun to Kiwi alone, a particle in context.
                words = [(m.start(), m.group()) for m in re.finditer(r"\S+", text)]
                kept = {start for start, _ in words} if len(words) < 2 else {
                    next(start for start, word in reversed(words) if start <= t.start)
                    for t in kiwi.tokenize(text) if content(t.tag)}
                return [m for start, word in words if start in kept for m in eojeol(word)]

            return korean
        return lambda text: _WORD.findall(text)

    # -- analysis -----------------------------------------------------------------------------------------------

    def measurements(self, text: str) -> Iterator[tuple[int, int, list[Measurement]]]:
        """(start, end, the measurements) of each number-with-unit or size in ``text`` (already normalised)."""
        table = unit_table(self.language)
        quantity, run = _measurement_patterns(self.language)
        for match in run.finditer(text):
            found = []
            for part in quantity.finditer(match.group(1)):
                unit, value = part.group("unit"), number_value(part.group("number"))
                if value is None:
                    break
                name = table.get(re.sub(r"[\s.]+", " ", unit).strip(), "") if unit else ""
                found.append(Measurement(value, name))
            else:
                yield match.start(), match.end(), found

    def _pieces(self, text: str) -> Iterator[tuple[str, list[Measurement] | None]]:
        """The text in order: plain stretches (None) and measurements."""
        at = 0
        for start, end, found in (self.measurements(text) if self.units else ()):
            yield text[at:start], None
            yield text[start:end], found
            at = end
        yield text[at:], None

    def words(self, text: str) -> list[str]:
        """The text's words as segmented, lower case, nothing dropped (measurements as their terms)."""
        out: list[str] = []
        for piece, found in self._pieces(normalise(text)):
            out.extend(_measurement_terms(found) if found is not None else self._segmented(piece))
        return out

    def terms(self, text: str) -> list[str]:
        """The search terms of ``text``: measurements, then words not stop words, stemmed."""
        out: list[str] = []
        for piece, found in self._pieces(normalise(text)):
            if found is not None:
                out.extend(_measurement_terms(found))
            else:
                out.extend(self.term(w) for w in self._segmented(piece) if w not in self.stopwords)
        return out

    def term(self, word: str) -> str:
        """One word's term (its stem where the language has a stemmer)."""
        return self._stemmer(word) if self._stemmer is not None else word

    def analyze(self, text: str) -> str:
        """The terms as one text for Milvus' BM25 (``standard`` tokenizer keeps each term whole)."""
        return " ".join(self.terms(text))

    def _segmented(self, text: str) -> list[str]:
        if not text.strip():
            return []
        if self.language in SEGMENTED:
            with self._lock:  # jieba and Kiwi are not safe to call from several threads at once
                return [w for w in self._segment(text) if w.strip()]
        return self._segment(text)


@lru_cache(maxsize=64)
def match_words(language: str, known: frozenset[str] = frozenset()) -> Callable[[str], list[str]] | None:
    """How a language's text splits into words to match phrase for phrase (a query against the catalog's facet
    values): None where words are written apart (split at what is not a letter or digit); Chinese by jieba's
    precise cut without its HMM (not the search cut, whose overlapping pieces would match twice: 马克杯, 马克, 杯), with ``known``
    words (a catalog's values) in its dictionary, so a value is never glued to the character after it ("卫衣里"
    is 卫衣 + 里); Korean by Kiwi's content morphemes (particles and endings dropped: "그린으로" is 그린)."""
    if language == "zh":
        jieba = _require("jieba", "Chinese")
        jieba.setLogLevel(60)
        lock = threading.Lock()
        cutter = jieba.Tokenizer() if known else jieba.dt  # a dictionary of its own: the global one stays as is
        for word in known:
            cutter.add_word(normalise(word))

        def chinese(text: str) -> list[str]:
            # Without jieba's HMM, which glues characters no dictionary word holds into words of its own ("红款" of
            # "红款的四件套", "包有" of "托特包有货"): a phrase is matched against known words.
            with lock:
                return [w for w in cutter.lcut(normalise(text), HMM=False) if _WORD.search(w)]
        return chinese
    if language == "ko":
        return TextAnalyzer("ko", stem=False, stopwords=False, units=False).words
    return None


def _measurement_terms(found: list[Measurement]) -> list[str]:
    """Each measurement's term and its number alone (shoppers leave units out: "vanity 36" for "36 in. Vanity"),
    and for a size the pairs of neighbouring numbers ("2x4" for "2 in. x 4 in.")."""
    terms = [t for m in found for t in ((m.term, number_term(m.value)) if m.unit else (m.term,))]
    terms += [f"{number_term(a.value)}x{number_term(b.value)}" for a, b in zip(found, found[1:])]
    return terms


def _require(module: str, language: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{language} text needs the {module} package: pip install 'multimodal-rag[lang]'") from None
