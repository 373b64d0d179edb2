"""Text embedding models a shop can choose from, with their published MTEB retrieval scores, and the pick rule.

Scores are the retrieval averages published with the models (the FlagEmbedding / BGE README's MTEB tables,
2023-09): "MTEB-en" is the English MTEB retrieval average over its 15 BEIR sets (nDCG@10), "C-MTEB" the Chinese
benchmark's retrieval average over 8 sets. Scores are comparable only within one benchmark, so a pick for a
language ranks by that language's benchmark. Memory is the fp32 weights (parameters x 4 bytes); fp16 on a GPU
halves it, and activations add to it with long inputs and big batches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping

SCORES_SOURCE = "FlagEmbedding (BGE) README, MTEB and C-MTEB tables, 2023-09"
BENCHMARK_FOR_LANGUAGE = {"en": "MTEB-en", "zh": "C-MTEB"}


@dataclass(frozen=True)
class TextModel:
    name: str                       # hub name; the spec is sentence-transformers:<name>
    parameters_m: float             # millions
    dimension: int
    max_tokens: int                 # what sentence-transformers truncates to
    languages: tuple[str, ...]      # ISO codes, or "multi" (about 100 languages)
    license: str
    retrieval: Mapping[str, float] = field(default_factory=dict)  # benchmark -> retrieval average

    @property
    def memory_mb(self) -> int:
        return round(self.parameters_m * 4)

    @property
    def spec(self) -> str:
        return f"sentence-transformers:{self.name}"

    def speaks(self, language: str) -> bool:
        return language in self.languages or "multi" in self.languages

    def as_dict(self) -> dict:
        return {**asdict(self), "retrieval": dict(self.retrieval), "memory_mb": self.memory_mb, "spec": self.spec}


MODELS: tuple[TextModel, ...] = (
    TextModel("sentence-transformers/all-MiniLM-L6-v2", 22.7, 384, 256, ("en",), "Apache-2.0", {"MTEB-en": 41.95}),
    TextModel("sentence-transformers/all-MiniLM-L12-v2", 33.4, 384, 256, ("en",), "Apache-2.0", {"MTEB-en": 42.69}),
    TextModel("sentence-transformers/all-mpnet-base-v2", 109.5, 768, 384, ("en",), "Apache-2.0", {"MTEB-en": 43.81}),
    TextModel("BAAI/bge-small-en-v1.5", 33.4, 384, 512, ("en",), "MIT", {"MTEB-en": 51.68}),
    TextModel("BAAI/bge-base-en-v1.5", 109.5, 768, 512, ("en",), "MIT", {"MTEB-en": 53.25}),
    TextModel("BAAI/bge-large-en-v1.5", 335.1, 1024, 512, ("en",), "MIT", {"MTEB-en": 54.29}),
    TextModel("thenlper/gte-small", 33.4, 384, 512, ("en",), "MIT", {"MTEB-en": 49.46}),
    TextModel("thenlper/gte-base", 109.5, 768, 512, ("en",), "MIT", {"MTEB-en": 51.14}),
    TextModel("thenlper/gte-large", 335.1, 1024, 512, ("en",), "MIT", {"MTEB-en": 52.22}),
    TextModel("intfloat/e5-small-v2", 33.4, 384, 512, ("en",), "MIT", {"MTEB-en": 49.04}),
    TextModel("intfloat/e5-base-v2", 109.5, 768, 512, ("en",), "MIT", {"MTEB-en": 50.29}),
    TextModel("intfloat/e5-large-v2", 335.1, 1024, 512, ("en",), "MIT", {"MTEB-en": 50.56}),
    TextModel("BAAI/bge-small-zh-v1.5", 24.0, 512, 512, ("zh",), "MIT", {"C-MTEB": 61.77}),
    TextModel("BAAI/bge-base-zh-v1.5", 102.1, 768, 512, ("zh",), "MIT", {"C-MTEB": 69.49}),
    TextModel("BAAI/bge-large-zh-v1.5", 326.0, 1024, 512, ("zh",), "MIT", {"C-MTEB": 70.46}),
    TextModel("intfloat/multilingual-e5-small", 117.7, 384, 512, ("multi",), "MIT", {"C-MTEB": 59.95}),
    TextModel("intfloat/multilingual-e5-base", 278.0, 768, 512, ("multi",), "MIT", {"C-MTEB": 61.63}),
    TextModel("intfloat/multilingual-e5-large", 559.9, 1024, 512, ("multi",), "MIT", {"C-MTEB": 63.66}),
)


def pick(language: str, max_memory_mb: float, models: tuple[TextModel, ...] = MODELS) -> list[TextModel]:
    """Models that speak ``language`` and fit in ``max_memory_mb``, best first: the retrieval score on that
    language's benchmark first, the smaller model on a tie; models with no published score for that language
    come after every scored one (smallest first), since nothing says how well they retrieve in it."""
    language = language.lower()
    benchmark = BENCHMARK_FOR_LANGUAGE.get(language)
    fits = [m for m in models if m.speaks(language) and m.memory_mb <= max_memory_mb]

    def order(model: TextModel):
        score = model.retrieval.get(benchmark) if benchmark else None
        return (score is None, -(score or 0.0), model.parameters_m)

    return sorted(fits, key=order)


def table_model(spec: str) -> TextModel | None:
    """The table's model an embedder spec names ("sentence-transformers:all-MiniLM-L6-v2", a hub name, its last
    part), or None: a folder or a model the table does not list, whose languages nothing here knows."""
    name = spec.split(":", 1)[1] if spec.startswith("sentence-transformers:") else spec
    return next((m for m in MODELS if name in (m.name, m.name.rsplit("/", 1)[-1])), None)


def language_gap(spec: str, language: str | None, memory_mb: float = 2000) -> str | None:
    """A sentence for a user whose text model does not speak the catalog's ``language`` (the table says so),
    naming the models to download instead; None when it speaks it, or when nothing says it does not."""
    model = table_model(spec)
    if language is None or model is None or model.speaks(language):
        return None
    better = ", ".join(m.name for m in pick(language, memory_mb)[:3])
    return (f"{model.name} is a model for {'/'.join(model.languages)}, not {language}: text queries search BM25 "
            f"(and any other field) without it; download a model that speaks {language} ({better}) and name its "
            f"folder as the text field's embedder")
