"""A text embedder adapted to a catalog: fine-tuned on queries made from the catalog itself (``mmrag tune``).

No labels are needed. Shoppers search with a few of a product's words: the kind of product ("sprinkler pipe"),
often with its brand ("orbit sprinkler pipe"), a size, a colour or the category. So each sampled product yields
pseudo-queries built from its own text:

- a span of its title's head: the words before the first stop word that follows them ("Orbit 1/2 in. x 100 ft.
  Eco-Lock Sprinkler Pipe" -> "eco-lock sprinkler pipe", "sprinkler pipe"), sizes kept now and then;
- its brand (or the title's first word) with the head's last words;
- its category's leaf, and one attribute value with the head's last word.

The model learns to put each query next to its product's text, with the other products of the batch as negatives
(MultipleNegativesRankingLoss, sentence-transformers' trainer). A labelled or clicked query log (pairs of a query
and a product id) can be added; it is kept apart in the report. The same seed gives the same model.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from multimodal_rag.alignment.options import TuneOptions
from multimodal_rag.catalog.product import Product
from multimodal_rag.errors import UserError
from multimodal_rag.language.analysis import TextAnalyzer, normalise

if TYPE_CHECKING:
    from multimodal_rag.config import Config

TUNE_FILE = "tune.json"  # what a tuned model folder records about its training
_CUT = re.compile(r"\s*(?:[(\[{,;|]|\s-\s|\s–\s)")  # a title's head ends at a bracket, a comma, a dash
_HAS_DIGIT = re.compile(r"\d")
MAX_QUERY_WORDS = 5


class TuneError(UserError, ValueError):
    """A tuning that cannot run; the message says what to change."""


@dataclass
class TuneReport:
    base: str
    output: str
    options: TuneOptions
    catalog_pairs: int
    log_pairs: int
    seconds: float
    loss: float | None = None
    examples: list[tuple[str, str]] = field(default_factory=list)  # a few (query, product title) pairs
    field: str = "text"  # the config's vector field whose model was tuned

    def to_json(self) -> dict:
        data = asdict(self)
        data["examples"] = [list(e) for e in self.examples]
        return data


def head_words(title: str, analyzer: TextAnalyzer) -> list[str]:
    """The words that say what the product is: of the title up to its first bracket, comma or dash, the run between
    stop words with the most words that hold no digit ("Whirlpool 1.9 cu. ft. Over the Range Convection Microwave
    in Stainless Steel" -> "Range Convection Microwave")."""
    text = normalise(_CUT.split(title, maxsplit=1)[0])
    # A measurement ("1.9 cu. ft.") is one word with a digit: its unit is not a word of the product's kind.
    for start, end, found in reversed(list(analyzer.measurements(text))):
        if len(found) > 1 or found[0].unit:
            text = text[:start] + " " + re.sub(r"\s+", "", text[start:end]) + " " + text[end:]
    runs: list[list[str]] = [[]]
    for word in text.split():
        if word in analyzer.stopwords:
            runs.append([])
        else:
            runs[-1].append(word)
    return max(runs, key=lambda run: sum(not _HAS_DIGIT.search(w) for w in run))


def pseudo_queries(product: Product, analyzer: TextAnalyzer, rng: random.Random, limit: int) -> list[str]:
    """Up to ``limit`` distinct shopper-like queries for one product, from its own title, brand, category and
    attributes (lower case, as shoppers type)."""
    head = head_words(product.title, analyzer)
    plain = [w for w in head if not _HAS_DIGIT.search(w)]
    candidates: list[str] = []
    if plain:
        n = min(len(plain), rng.choice((1, 2, 2, 3, 3, 4)))
        span = head[-n:] if rng.random() < 0.2 else plain[-n:]  # sizes now and then ("2 in. x 4 in. lumber")
        candidates.append(" ".join(span))
        maker = (product.brand or product.title.split()[0]).lower()
        if maker not in " ".join(plain[-2:]):
            candidates.append(f"{maker} {' '.join(plain[-rng.choice((1, 2)):])}")
    leaf = product.category.split(">")[-1].strip()
    if leaf and len(leaf.split()) <= MAX_QUERY_WORDS:
        candidates.append(leaf)
    # Short values that name something ("Men", "Cotton"), not specs ("Machine Wash, Do Not Bleach") or "No".
    values = [v for v in product.attributes.values() if v and len(v) <= 25 and "," not in v
              and not _HAS_DIGIT.search(v) and any(w not in analyzer.stopwords for w in v.lower().split())]
    if values and plain:
        candidates.append(f"{rng.choice(values)} {plain[-1]}")
    rng.shuffle(candidates)
    out: list[str] = []
    for query in candidates:
        query = " ".join(query.lower().split())
        if query and query not in out and query != product.title.lower():
            out.append(query)
    return out[:limit]


def catalog_pairs(products: Iterable[Product], analyzer: TextAnalyzer, options: TuneOptions,
                  sources: Sequence[str]) -> list[tuple[str, str]]:
    """(pseudo-query, product text) pairs from a seeded sample of ``options.max_products`` products."""
    rng = random.Random(options.seed)
    sample: list[Product] = []
    for i, product in enumerate(products):  # reservoir sampling: one pass, any catalog size
        if len(sample) < options.max_products:
            sample.append(product)
        else:
            j = rng.randrange(i + 1)
            if j < options.max_products:
                sample[j] = product
    pairs = []
    for product in sample:
        text = product.text(sources)
        pairs += [(query, text) for query in pseudo_queries(product, analyzer, rng, options.queries_per_product)]
    return pairs


def tune_text_model(base: str, pairs: Sequence[tuple[str, str]], output: str | Path, *,
                    log_pairs: Sequence[tuple[str, str]] = (), options: TuneOptions = TuneOptions(),
                    progress: bool = True) -> TuneReport:
    """Fine-tune the sentence-transformers model at ``base`` (a folder or name) on (query, product text) pairs
    and save it to ``output`` (a folder ``sentence-transformers:<output>`` loads), with ``tune.json``."""
    import time

    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    try:  # sentence-transformers 6 moved them (the old paths warn there)
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
        from sentence_transformers.sentence_transformer.training_args import BatchSamplers
    except ImportError:
        from sentence_transformers.losses import MultipleNegativesRankingLoss
        from sentence_transformers.training_args import BatchSamplers
    from transformers import set_seed

    from multimodal_rag.embedders.text import resolve_model_path

    started = time.perf_counter()
    set_seed(options.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model = SentenceTransformer(resolve_model_path(base), device="cpu" if not torch.cuda.is_available() else None)
    model.max_seq_length = min(model.max_seq_length or options.max_seq_length, options.max_seq_length)
    rows = list(pairs) + list(log_pairs)
    if not rows:
        raise ValueError("no training pairs: the catalog gave no pseudo-queries and no query log was given")
    data = Dataset.from_dict({"anchor": [q for q, _ in rows], "positive": [t for _, t in rows]})
    output = Path(output)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(output / "checkpoints"), num_train_epochs=options.epochs,
        per_device_train_batch_size=options.batch_size, learning_rate=options.learning_rate,
        warmup_ratio=options.warmup_ratio, seed=options.seed, data_seed=options.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES, save_strategy="no", report_to=[], logging_steps=50,
        disable_tqdm=not progress, dataloader_num_workers=0, use_cpu=not torch.cuda.is_available())
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                         loss=MultipleNegativesRankingLoss(model))
    result = trainer.train()
    model.save(str(output))
    report = TuneReport(base=base, output=str(output), options=options, catalog_pairs=len(pairs),
                        log_pairs=len(log_pairs), seconds=round(time.perf_counter() - started, 1),
                        loss=float(result.training_loss) if result.training_loss is not None else None,
                        examples=[(q, t[:80]) for q, t in list(pairs)[:5]])
    (output / TUNE_FILE).write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    import shutil

    shutil.rmtree(output / "checkpoints", ignore_errors=True)
    return report


def query_log_pairs(task_dirs: Sequence[str | Path], products: Mapping[str, Product], sources: Sequence[str],
                    min_grade: int = 2) -> list[tuple[str, str]]:
    """(query, product text) for every product a logged query found and that was judged (or clicked) at least
    ``min_grade``: a BEIR folder per log (queries.jsonl, qrels.tsv), its products among ``products``."""
    from multimodal_rag.eval.tasks import load_task

    pairs = []
    for folder in task_dirs:
        task = load_task(folder)
        for query in task.queries:
            if not query.text:
                continue
            for pid, grade in sorted(task.qrels.get(query.id, {}).items()):
                if grade >= min_grade and pid in products:
                    pairs.append((query.text, products[pid].text(sources)))
    return pairs


def tune(catalog: str | Path, output: str | Path, *, config: Config | None = None, base: str | None = None,
         options: TuneOptions = TuneOptions(), query_logs: Sequence[str | Path] = (), min_grade: int = 2,
         progress: bool = True) -> TuneReport:
    """Fine-tune the config's text model (the first text field's sentence-transformers embedder, or ``base``) on
    queries made from ``catalog`` (and, apart, the pairs of ``query_logs``) into the folder ``output``."""
    from multimodal_rag.catalog.loaders import load_catalog
    from multimodal_rag.config import load_config
    from multimodal_rag.language.detect import detect_language

    config = config or load_config()
    field = next((v for v in config.vectors if v.modality == "text"), None)
    if field is None:
        raise TuneError("the config has no text vector field to tune; name one in [vectors.<name>]")
    spec = base or field.embedder
    family, _, name = spec.partition(":")
    if base is None and family != "sentence-transformers":
        raise TuneError(f"vectors.{field.name} is embedded by {spec!r}; `mmrag tune` fine-tunes a "
                        "sentence-transformers model (pass --base NAME-OR-FOLDER)")
    name = name if base is None else spec.removeprefix("sentence-transformers:")
    products = {row.product.id: row.product for row in load_catalog(catalog) if row.product is not None}
    if not products:
        raise TuneError(f"{catalog}: no valid product to make queries from")
    language = config.catalog.language
    if language == "auto":
        language = detect_language(f"{p.title}\n{p.description}" for p in products.values())
    pairs = catalog_pairs(products.values(), TextAnalyzer(language), options, field.sources)
    logged = query_log_pairs(query_logs, products, field.sources, min_grade)
    report = tune_text_model(name, pairs, output, log_pairs=logged, options=options, progress=progress)
    return replace(report, field=field.name)
