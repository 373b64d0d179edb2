"""The options of ``mmrag align`` and ``mmrag tune``, apart from the training, so the command line reads their
defaults without loading numpy or the models."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AlignOptions:
    text: str = "sentence-transformers:all-MiniLM-L6-v2"
    image: str = "efficientnet-lite0"
    fields: tuple[str, ...] = ("title",)   # product text paired with the photo
    dimension: int = 256                    # size of the shared space (head outputs)
    epochs: int = 60
    batch_size: int = 1024
    learning_rate: float = 5e-4
    weight_decay: float = 1e-4
    val_fraction: float = 0.1
    patience: int = 6                       # epochs without a better validation Recall@10 before stopping
    seed: int = 0
    hard_negatives: bool = False            # batches of one category: negatives are same-category products
    exclude: tuple[str, ...] = ()           # task folders whose relevant products are held out
    words: bool = True                      # the text head also reads the text's words (tf-idf)
    min_word_count: int = 3                 # a word of fewer training texts is not one of them
    colours: bool = True                    # the image head also reads the photo's colour histogram


@dataclass(frozen=True)
class TuneOptions:
    """How ``tune_text_model`` trains. ``max_products``: products sampled from the catalog (seeded);
    ``queries_per_product``: pseudo-queries each yields (at most)."""

    seed: int = 0
    epochs: int = 1
    batch_size: int = 64
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    max_products: int = 20_000
    queries_per_product: int = 2
    max_seq_length: int = 64
