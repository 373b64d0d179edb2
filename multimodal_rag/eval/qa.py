"""Question answering quality: the QA chain over a catalog, scored against gold answers.

Input (``qa.jsonl``): ``{"id", "question", "answers": [accepted strings], "product_ids": [the product asked about]}``.
Scores: accuracy (the answer contains an accepted answer, case-insensitive, numbers compared as numbers),
``retrieval_hit@5`` (an asked-about product is among the first five products the chain retrieved), and
``citation_accuracy`` (the cited products include one asked about).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from multimodal_rag.eval.tasks import TaskError
from multimodal_rag.qa.lookup import contains_answer


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answers: tuple[str, ...]
    product_ids: tuple[str, ...]


def load_qa(path: str | Path) -> list[QAItem]:
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"{path}: no such QA file")
    items, seen = [], set()
    # split("\n"), not splitlines(): catalog text holds U+2028 and friends inside JSON strings
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise TaskError(f"{where}: a QA line is a JSON object")
        question, answers, products = row.get("question"), row.get("answers"), row.get("product_ids")
        if not isinstance(question, str) or not question.strip():
            raise TaskError(f"{where}: `question` must be a non-empty string")
        if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a for a in answers):
            raise TaskError(f"{where}: `answers` must be a non-empty list of strings")
        if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
            raise TaskError(f"{where}: `product_ids` must be a list of product ids")
        item_id = str(row.get("id", number))
        if item_id in seen:
            raise TaskError(f"{where}: duplicate id {item_id!r}")
        seen.add(item_id)
        items.append(QAItem(item_id, question, tuple(answers), tuple(products)))
    if not items:
        raise TaskError(f"{path}: no questions")
    return items


def check_products(items: Iterable[QAItem], catalog_ids: set[str], path: str | Path) -> None:
    """Every asked-about product must be in the catalog, or the scores would measure the data, not the chain."""
    missing = [(i.id, p) for i in items for p in i.product_ids if p not in catalog_ids]
    if missing:
        shown = ", ".join(f"{q}->{p}" for q, p in missing[:5])
        raise TaskError(f"{path}: {len(missing)} product id(s) not in the catalog, e.g. {shown}")


def score_answer(item: QAItem, answer: str, retrieved: list[str], cited: list[str]) -> dict[str, bool]:
    asked = set(item.product_ids)
    return {"correct": any(contains_answer(answer, a) for a in item.answers),
            "hit@5": bool(asked & set(retrieved[:5])),
            "cited": bool(asked & set(cited))}


def evaluate_qa(items: list[QAItem], chain, *, progress: bool = True, on_answer=None) -> dict[str, float]:
    """Run every question through ``chain`` (a ``ProductQA``) and average the scores."""
    from tqdm.auto import tqdm

    totals = {"correct": 0, "hit@5": 0, "cited": 0, "by_model": 0}
    start = time.perf_counter()
    for item in tqdm(items, desc="eval-qa", unit="question", disable=not progress):
        result = chain.invoke(item.question)
        scores = score_answer(item, result.answer, [d.metadata["id"] for d in result.products], result.cited_ids)
        scores["by_model"] = result.written_by == "model"
        for key, value in scores.items():
            totals[key] += bool(value)
        if on_answer is not None:
            on_answer(item, result, scores)
    n = len(items)
    return {"accuracy": totals["correct"] / n, "retrieval_hit@5": totals["hit@5"] / n,
            "citation_accuracy": totals["cited"] / n, "n": n,
            # Share of answers whose wording is the model's own (it passed the fact check), and the time per question.
            "model_worded": totals["by_model"] / n, "seconds_per_question": (time.perf_counter() - start) / n}
