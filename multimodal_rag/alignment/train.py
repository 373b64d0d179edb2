"""``align`` (``mmrag align``): train projection heads that put a catalog's texts and photos into one space.

The towers stay frozen (LiT-style): every product's text and photo are embedded once (through the embedding
cache), and only two linear heads and a temperature are trained, with a symmetric contrastive loss over in-batch
negatives. Products that share a text are all positives of each other, never negatives. Beside the towers'
vectors the text head reads the text's words and the image head the photo's colours (see ``aligned``).

The split: products are grouped by their normalised text, so identical titles (several photos of one design)
never straddle training and validation; a seeded shuffle of the groups puts ``val_fraction`` of them in
validation. Products relevant to any query of an ``exclude`` task are removed before the split, so an adapter
evaluated on that task never saw its answers, in training or in validation.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from multimodal_rag.alignment.options import AlignOptions
from multimodal_rag.catalog.images import ImageError, ImageFetcher, decode_image
from multimodal_rag.catalog.loaders import load_catalog
from multimodal_rag.embedders.aligned import (
    COLOUR_BINS,
    CONFIG_FILE,
    FORMAT,
    HEADS_FILE,
    WordFeatures,
    colour_features,
    is_pixel_array,
)
from multimodal_rag.embedders.base import EmbedderError, ImageEmbedder, TextEmbedder, load_embedder
from multimodal_rag.embedders.cache import EmbeddingCache
from multimodal_rag.eval.tasks import load_task
from multimodal_rag.ingestion.steps import content_hash


@dataclass
class AlignSummary:
    out: str
    products: int
    train: int
    val: int
    excluded: int
    skipped: int
    epochs: int
    best_epoch: int
    before: dict
    after: dict
    history: list = field(default_factory=list)
    embed_seconds: float = 0.0
    train_seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def excluded_ids(tasks: Sequence[str | Path]) -> set[str]:
    ids: set[str] = set()
    for folder in tasks:
        for judged in load_task(folder).qrels.values():
            ids.update(pid for pid, grade in judged.items() if grade > 0)
    return ids


def split_groups(keys: Sequence[str], val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of training and validation products; products with one key fall on one side."""
    groups = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(groups))
    n_val = max(1, int(round(len(groups) * val_fraction))) if val_fraction > 0 else 0
    val_groups = {groups[i] for i in order[:n_val]}
    is_val = np.array([k in val_groups for k in keys])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def embed_texts(embedder: TextEmbedder, texts: Sequence[str], cache: EmbeddingCache, batch_size: int = 256,
                progress: bool = True) -> np.ndarray:
    from tqdm.auto import tqdm

    # Query-side form: the text side of an aligned encoder serves shoppers' queries.
    keys = [content_hash(embedder.identity + "|query", t) for t in texts]

    def compute(missing: list[int]) -> np.ndarray:
        out = []
        for start in tqdm(range(0, len(missing), batch_size), desc="embed texts", disable=not progress, leave=False):
            part = [texts[i] for i in missing[start:start + batch_size]]
            out.append(embedder.encode_texts(part, query=True))
        return np.concatenate(out)

    return cache.through(keys, compute)


def embed_images(embedder: ImageEmbedder, refs: Sequence[str], cache: EmbeddingCache, *, batch_size: int = 128,
                 workers: int = 8, progress: bool = True, colours: bool = False,
                 ) -> tuple[np.ndarray, np.ndarray | None, list[int]]:
    """Vectors of the images that load (and, with ``colours``, their colour features, cached the same way), and
    the positions of those that do not."""
    from tqdm.auto import tqdm

    fetcher = ImageFetcher()

    def fetch(ref: str) -> bytes | None:
        try:
            return fetcher.fetch(ref)
        except ImageError:
            return None

    colour_identity = f"colours/{'x'.join(map(str, COLOUR_BINS))}|{embedder.identity}"
    with ThreadPoolExecutor(max_workers=workers) as pool:
        data = list(pool.map(fetch, refs))
        keys = [content_hash(embedder.identity, d) if d is not None else None for d in data]
        colour_keys = [content_hash(colour_identity, d) if d is not None and colours else None for d in data]
        found = cache.get([k for k in keys + colour_keys if k])
        missing = [i for i, k in enumerate(keys)
                   if k and (k not in found or (colours and colour_keys[i] not in found))]

        def prepare(i: int):
            try:
                return embedder.prepare(decode_image(data[i]))
            except ImageError:
                return None

        for start in tqdm(range(0, len(missing), batch_size), desc="embed images", disable=not progress,
                          leave=False):
            part = missing[start:start + batch_size]
            prepared = list(pool.map(prepare, part))
            ok = [(i, p) for i, p in zip(part, prepared) if p is not None]
            for i in set(part) - {i for i, _ in ok}:
                keys[i] = None
            if ok:
                if colours and not is_pixel_array(ok[0][1]):
                    raise EmbedderError(f"--image {embedder.spec}: its prepared photos are not pixel arrays, so "
                                        "colours cannot be read; align with --no-colours")
                vectors = embedder.encode_prepared([p for _, p in ok])
                fresh = {keys[i]: v for (i, _), v in zip(ok, vectors)}
                if colours:
                    fresh.update(zip((colour_keys[i] for i, _ in ok), colour_features([p for _, p in ok])))
                cache.put(fresh)
                found.update(fresh)
    failed = [i for i, k in enumerate(keys) if k is None]
    vectors = np.stack([found[k] if k else np.zeros(embedder.dimension, np.float32) for k in keys])
    if not colours:
        return vectors, None, failed
    width = int(np.prod(COLOUR_BINS))
    return vectors, np.stack([found[k] if k else np.zeros(width, np.float32) for k in colour_keys]), failed


def retrieval_recall(text: np.ndarray, image: np.ndarray, keys: Sequence[str], ks=(1, 10)) -> dict[str, float]:
    """Text -> image over one product set: for each product's text, is a product with the same text among the
    top k images? (Recall@k as CLIP-style retrieval papers report it.)"""
    sims = text @ image.T
    key_ids = {k: i for i, k in enumerate(sorted(set(keys)))}
    labels = np.array([key_ids[k] for k in keys])
    top = np.argsort(-sims, axis=1)[:, : max(ks)]
    hits = labels[top] == labels[:, None]
    return {f"recall@{k}": float(hits[:, :k].any(axis=1).mean()) for k in ks}


def batches(train: np.ndarray, categories: Sequence[str], options: AlignOptions, rng: np.random.Generator):
    if not options.hard_negatives:
        order = rng.permutation(train)
        return [order[i:i + options.batch_size] for i in range(0, len(order), options.batch_size)]
    # Same-category batches: in-batch negatives are the products a shopper could confuse.
    by_category: dict[str, list[int]] = {}
    for i in rng.permutation(train):
        by_category.setdefault(categories[i], []).append(int(i))
    out = []
    for members in by_category.values():
        out.extend(np.array(members[i:i + options.batch_size]) for i in range(0, len(members), options.batch_size))
    return [out[i] for i in rng.permutation(len(out)) if len(out[i]) > 1]


def train_heads(text: np.ndarray, image: np.ndarray, keys: Sequence[str], categories: Sequence[str],
                train: np.ndarray, val: np.ndarray, options: AlignOptions, *, progress: bool = True,
                on_epoch: Callable[[dict], None] | None = None) -> tuple[dict[str, np.ndarray], list[dict], dict]:
    """Train the heads; returns the best weights (by validation Recall@10), the per-epoch history, and the
    validation scores of the untrained heads."""
    import torch
    from tqdm.auto import tqdm

    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    text_head = torch.nn.Linear(text.shape[1], options.dimension)
    image_head = torch.nn.Linear(image.shape[1], options.dimension)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    params = [*text_head.parameters(), *image_head.parameters(), logit_scale]
    optimiser = torch.optim.AdamW(params, lr=options.learning_rate, weight_decay=options.weight_decay)
    T, I = torch.from_numpy(text), torch.from_numpy(image)
    key_ids = {k: i for i, k in enumerate(sorted(set(keys)))}
    labels = torch.tensor([key_ids[k] for k in keys])

    def state() -> dict[str, np.ndarray]:
        return {"text.weight": text_head.weight.detach().numpy().copy(),
                "text.bias": text_head.bias.detach().numpy().copy(),
                "image.weight": image_head.weight.detach().numpy().copy(),
                "image.bias": image_head.bias.detach().numpy().copy(),
                "logit_scale": logit_scale.detach().reshape(1).numpy().copy()}

    def validate() -> dict[str, float]:
        with torch.no_grad():
            t = torch.nn.functional.normalize(text_head(T[val]), dim=1).numpy()
            i = torch.nn.functional.normalize(image_head(I[val]), dim=1).numpy()
        return retrieval_recall(t, i, [keys[j] for j in val])

    before = validate()
    best, best_recall, best_epoch, history, stale = state(), before["recall@10"], 0, [], 0
    bar = tqdm(range(1, options.epochs + 1), desc="align", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        losses = []
        for batch in batches(train, categories, options, rng):
            index = torch.from_numpy(np.asarray(batch))
            t = torch.nn.functional.normalize(text_head(T[index]), dim=1)
            i = torch.nn.functional.normalize(image_head(I[index]), dim=1)
            logits = logit_scale.exp().clamp(max=100) * t @ i.T
            same = (labels[index][:, None] == labels[index][None, :]).float()  # symmetric
            targets = same / same.sum(dim=1, keepdim=True)  # products sharing a text are all positives
            loss = (torch.nn.functional.cross_entropy(logits, targets)
                    + torch.nn.functional.cross_entropy(logits.T, targets)) / 2
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        scores = validate()
        row = {"epoch": epoch, "loss": float(np.mean(losses)) if losses else float("nan"), **scores}
        history.append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", r1=f"{scores['recall@1']:.3f}", r10=f"{scores['recall@10']:.3f}")
        if on_epoch is not None:
            on_epoch(row)
        if scores["recall@10"] > best_recall:
            best, best_recall, best_epoch, stale = state(), scores["recall@10"], epoch, 0
        else:
            stale += 1
            if stale >= options.patience:
                break
    bar.close()
    history.append({"best_epoch": best_epoch})
    return best, history, before


def align(catalog: str | Path, out: str | Path, options: AlignOptions = AlignOptions(), *,
              progress: bool = True, on_epoch: Callable[[dict], None] | None = None) -> AlignSummary:
    from safetensors.numpy import save_file

    out = Path(out)
    text_tower, image_tower = load_embedder(options.text), load_embedder(options.image)
    if not isinstance(text_tower, TextEmbedder):
        raise EmbedderError(f"--text {options.text} does not embed text")
    if not isinstance(image_tower, ImageEmbedder):
        raise EmbedderError(f"--image {options.image} does not embed images")
    held_out = excluded_ids(options.exclude)
    products, excluded = [], 0
    for row in load_catalog(catalog):
        p = row.product
        if p is None or not p.image or not p.text(options.fields).strip():
            continue
        if p.id in held_out:
            excluded += 1
            continue
        products.append(p)
    if len(products) < 20:
        raise EmbedderError(f"{catalog}: {len(products)} products with an image and {'/'.join(options.fields)}; "
                            "alignment needs at least 20")
    started = time.perf_counter()
    cache = EmbeddingCache()
    try:
        texts = [p.text(options.fields) for p in products]
        text_vectors = embed_texts(text_tower, texts, cache, progress=progress)
        image_vectors, colours, failed = embed_images(image_tower, [p.image for p in products], cache,
                                                      progress=progress, colours=options.colours)
    finally:
        cache.close()
    keep = np.setdiff1d(np.arange(len(products)), failed)
    products = [products[i] for i in keep]
    texts = [texts[i] for i in keep]
    text_vectors, image_vectors = text_vectors[keep], image_vectors[keep]
    if colours is not None:
        image_vectors = np.concatenate([image_vectors, colours[keep]], axis=1)
    embed_seconds = time.perf_counter() - started
    keys = [normalise(p.text(options.fields)) for p in products]
    categories = [p.category or "" for p in products]
    train, val = split_groups(keys, options.val_fraction, options.seed)
    # The vocabulary comes from the training texts only: validation measures unseen products.
    words = WordFeatures.fit([texts[i] for i in train], options.min_word_count) if options.words else None
    if words is not None:
        text_vectors = np.concatenate([text_vectors, words(texts)], axis=1)
    if len(val) == 0:
        raise EmbedderError("the validation split is empty; raise --val-fraction")
    started = time.perf_counter()
    weights, history, before = train_heads(text_vectors, image_vectors, keys, categories, train, val, options,
                                           progress=progress, on_epoch=on_epoch)
    train_seconds = time.perf_counter() - started
    best_epoch = history.pop()["best_epoch"]
    after = next((r for r in history if r["epoch"] == best_epoch), {"recall@1": before["recall@1"],
                                                                     "recall@10": before["recall@10"]})
    out.mkdir(parents=True, exist_ok=True)
    if words is not None:
        weights["text.idf"] = words.idf
    save_file(weights, str(out / HEADS_FILE))
    config = {
        "format": FORMAT,
        "words": words.words if words is not None else None,
        "colours": options.colours,
        "text_tower": {"spec": options.text, "identity": text_tower.identity, "dimension": text_tower.dimension},
        "image_tower": {"spec": options.image, "identity": image_tower.identity,
                        "dimension": image_tower.dimension},
        "dimension": options.dimension,
        "options": {**asdict(options), "catalog": str(catalog)},
        "split": {"products": len(products), "train": int(len(train)), "val": int(len(val)),
                  "excluded": excluded, "skipped_images": len(failed),
                  "how": "groups of equal normalised text, seeded shuffle; excluded tasks' relevant products removed"},
        "validation": {"before": before, "after": {k: after[k] for k in ("recall@1", "recall@10")},
                       "best_epoch": best_epoch, "history": history},
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return AlignSummary(out=str(out), products=len(products), train=int(len(train)), val=int(len(val)),
                        excluded=excluded, skipped=len(failed), epochs=len(history), best_epoch=best_epoch,
                        before=before, after={k: after[k] for k in ("recall@1", "recall@10")}, history=history,
                        embed_seconds=round(embed_seconds, 1), train_seconds=round(train_seconds, 1))
