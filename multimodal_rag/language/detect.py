"""The language a catalog is written in, read from its own text (py3langid, limited to the languages analysed here),
and the language of a question to it.

One product title says little ("Puma Men Ferrari Black Fleece Jacket" alone reads as Luxembourgish), so the text of
many products is classified together; a question is told apart only among the catalog's language and the languages
answers are composed in.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

from multimodal_rag.language.analysis import SEGMENTED, SNOWBALL

DEFAULT_LANGUAGE = "en"
SAMPLE_CHARS = 200_000  # of catalog text; enough for a stable answer, read in well under a second


def analysed_languages() -> tuple[str, ...]:
    """The languages with an analysis of their own: stemmed ones and segmented ones."""
    return tuple(sorted(set(SNOWBALL) | set(SEGMENTED)))


@lru_cache(maxsize=8)
def _identifier(languages: tuple[str, ...] | None = None):
    from py3langid import langid

    identifier = langid.LanguageIdentifier.from_modelpath(langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True)
    identifier.set_languages([code for code in languages or analysed_languages() if code in identifier.nb_classes])
    return identifier


def detect_language(texts: Iterable[str]) -> str:
    """The language of the texts taken together (a catalog's titles and descriptions); ``DEFAULT_LANGUAGE`` when
    there is no text."""
    sample, size = [], 0
    for text in texts:
        if text:
            sample.append(text)
            size += len(text)
            if size >= SAMPLE_CHARS:
                break
    if not sample:
        return DEFAULT_LANGUAGE
    return str(_identifier().classify("\n".join(sample))[0])


def question_language(question: str, catalog_language: str) -> str:
    """The language of a question: the catalog's own, or another language answers are composed in
    (``language/data/<lang>/answers.toml``) when the question reads as that one ("这个多少钱" to an English shop)."""
    from multimodal_rag.language.wordings import languages_with

    candidates = tuple(sorted({catalog_language, *languages_with("answers")}))
    identifier = _identifier(candidates)
    if len(identifier.nb_classes) < 2 or not question.strip():
        return catalog_language
    return str(identifier.classify(question)[0])
