"""Words of questions and product texts: tokens, stop words, and matching that forgives a plural or one typo."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

from multimodal_rag.language.analysis import match_words
from multimodal_rag.language.wordings import languages_with, wordings

_WORD = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[^\W_]+(?:'[^\W_]+)?", re.UNICODE)

# Words that carry no product and no field: function words, and what shoppers wrap a question in
# (language/data/<lang>/question.toml), of every language at once: a word of one script never stops another's.
STOPWORDS = frozenset(w for language in languages_with("question") for w in wordings(language).question.stopwords)


# Scripts whose words need a segmenter: Han (Chinese writes no spaces) and Hangul (Korean glues particles and
# endings to the word: "머그컵을" is "머그컵").
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")


def tokens(text: str) -> list[str]:
    """Lower-case words and numbers; "men's" stays one word, "i-love" is two. A stretch of Chinese is cut into
    words by jieba, one of Korean into its content morphemes by Kiwi (particles and endings dropped), when the
    ``[lang]`` extra is installed. Each whitespace-separated piece is cut on its own, so the tokens of a text are
    its pieces' tokens in order (positions can be mapped back to the words as written)."""
    text = text or ""
    if not (_HAN.search(text) or _HANGUL.search(text)):
        return [w.lower() for w in _WORD.findall(text)]
    return [w for piece in text.split() for w in _piece_tokens(piece)]


def spelling(text: str) -> str:
    """A text as its words, case and punctuation aside: the fields "Brand" and "brand", or the titles "Mug - Red"
    and "mug red", are spelled alike."""
    return " ".join(tokens(text))


@lru_cache(maxsize=65536)
def _piece_tokens(piece: str) -> tuple[str, ...]:
    language = "zh" if _HAN.search(piece) else "ko" if _HANGUL.search(piece) else None
    try:
        words = match_words(language)(piece) if language else None
    except ImportError:  # no [lang] extra: the piece splits as a spaced language's would
        words = None
    if words is None:
        return tuple(w.lower() for w in _WORD.findall(piece))
    return tuple(w.lower() for segment in words for w in _WORD.findall(segment))


def is_stopword(word: str) -> bool:
    return word in STOPWORDS or stem(word) in STOPWORDS


def content_words(text: str) -> list[str]:
    return [w for w in tokens(text) if not is_stopword(w)]


def stem(word: str) -> str:
    """A plural/possessive fold: shirts -> shirt, boxes -> box, men's -> man; an irregular English plural to its
    singular by lemminflect's dictionary: women -> woman, children -> child ("a watch for a woman" is one for
    "Women")."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 4 and word.endswith(("ses", "xes", "zes", "ches", "shes")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return _singular(word)


@lru_cache(maxsize=65536)
def _singular(word: str) -> str:
    """The one noun lemma an English dictionary gives a word ("women": woman), else the word: a word of two
    lemmas ("media": medium or media) or none (a brand, a model code, another script) stays as it is."""
    if not word.isascii() or not word.isalpha():
        return word
    from lemminflect import getAllLemmas  # on first use: every command imports this module, few fold a word

    lemmas = getAllLemmas(word, upos="NOUN").get("NOUN", ())
    return lemmas[0] if len(lemmas) == 1 else word


def inflection_base(word: str) -> str:
    """A crude fold of a verb's or noun's endings, for phrase words only: charging, charged, charges -> charg;
    pricing -> pric."""
    for ending in ("ing", "ed", "es", "s", "e"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word


@lru_cache(maxsize=65536)
def _one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by one insertion, deletion, substitution or swap of neighbours."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


TYPO_MIN_LENGTH = 5  # shorter words differ in one letter too often ("mug"/"rug") to forgive a typo


def same_word(a: str, b: str) -> bool:
    """Equal, equal after folding plurals, or (both long enough) one typo apart; in a model code only its letters
    may hold the typo: "PMR1332" for "PMR1336" is another product, "GNLBBBL0314" for "GNLBBL0314" a typo."""
    if a == b or stem(a) == stem(b):
        return True
    if min(len(a), len(b)) < TYPO_MIN_LENGTH or _digits(a) != _digits(b) or a.isdigit() or b.isdigit():
        return False
    return a[0] == b[0] and _one_edit(a, b)


def has_digit(word: str) -> bool:
    return any(ch.isdigit() for ch in word)


def _digits(word: str) -> str:
    return "".join(ch for ch in word if ch.isdigit())


def find_word(word: str, vocabulary: Iterable[str]) -> str | None:
    """The word of ``vocabulary`` that ``word`` names (exact first, then folded, then one typo), or None."""
    vocabulary = list(vocabulary)
    if word in vocabulary:
        return word
    return next((v for v in vocabulary if same_word(word, v)), None)


def correct(words: Iterable[str], vocabulary: set[str]) -> list[str]:
    """Each word not in ``vocabulary`` (lower case words) replaced by the vocabulary word one typo away, when there
    is exactly one; a word is compared in lower case ("Coton") and kept as written when nothing replaces it."""
    out = []
    for word in words:
        lower = word.lower()
        if lower in vocabulary or len(lower) < TYPO_MIN_LENGTH or has_digit(lower):
            out.append(word)
            continue
        near = {v for v in vocabulary if len(v) >= TYPO_MIN_LENGTH and v[0] == lower[0] and _one_edit(lower, v)}
        out.append(near.pop() if len(near) == 1 else word)
    return out


def designates(name: str, attribute: str) -> bool:
    """True when an attribute key is named by one of a concept's names ("Strap Color" by "color", "baseColour" by
    "basecolour", "Ideal For" by "ideal for")."""
    key = spelling(attribute)
    compact = key.replace(" ", "")
    name = spelling(name)
    return f" {name} " in f" {key} " or compact == name.replace(" ", "") or (
        " " not in name and compact.endswith(name) and len(compact) > len(name))
