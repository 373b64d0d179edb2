"""The language a catalog is written in, read from its own text (py3langid, limited to the languages analysed here).

One product title says little ("Puma Men Ferrari Black Fleece Jacket" alone reads as Luxembourgish), so the text of
many products is classified together.
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


@lru_cache(maxsize=1)
def _identifier():
    from py3langid import langid

    identifier = langid.LanguageIdentifier.from_modelpath(langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True)
    identifier.set_languages([code for code in analysed_languages() if code in identifier.nb_classes])
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
