"""Question answering quality: the QA chain over a catalog, scored against gold answers.

Input (``qa.jsonl``): ``{"id", "question", "answers": [accepted strings], "product_ids": [the product asked about]}``,
or a shopping question ``{"id", "question", "expect": {"filters": {...}, "order": "asc"|"desc"}, "history": [...]}``:
right when the answer cites at least one product and every cited product meets ``filters`` (filter data, checked
here against the catalog file, not by Milvus), and for an ``order`` the first cited is the catalog's cheapest or
dearest that meets them; ``history`` holds the questions asked before it, in order ("$cited_price" in a filter:
the price of the first product the previous answer cited). A shopping question no catalog product can satisfy is
counted apart (``unanswerable``).
Scores: accuracy (the answer contains an accepted answer, case-insensitive, numbers compared as numbers),
``retrieval_hit@5`` (an asked-about product is among the first five products the chain retrieved),
``citation_accuracy`` (the cited products include one asked about), and ``unsupported`` (answers that state a
number, or one of the catalog's attribute values, that none of the product cards the model was given holds, nor
the question). ``unsupported`` is counted here on its own terms, not by the chain's check.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from multimodal_rag.eval.tasks import TaskError
from multimodal_rag.qa.lookup import contains_answer


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    product_ids: tuple[str, ...] = ()
    expect: dict | None = None   # a shopping question's expectation
    history: tuple[str, ...] = ()


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
        expect, history = row.get("expect"), row.get("history") or []
        if not isinstance(question, str) or not question.strip():
            raise TaskError(f"{where}: `question` must be a non-empty string")
        if not isinstance(history, list) or not all(isinstance(h, str) and h.strip() for h in history):
            raise TaskError(f"{where}: `history` must be a list of questions")
        if expect is not None:
            if not isinstance(expect, dict) or not isinstance(expect.get("filters"), dict) \
                    or expect.get("order") not in (None, "asc", "desc"):
                raise TaskError(f'{where}: `expect` must be {{"filters": {{...}}, "order": "asc"|"desc"|null}}')
            answers, products = [], []
        else:
            if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a for a in answers):
                raise TaskError(f"{where}: `answers` must be a non-empty list of strings")
            if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
                raise TaskError(f"{where}: `product_ids` must be a list of product ids")
        item_id = str(row.get("id", number))
        if item_id in seen:
            raise TaskError(f"{where}: duplicate id {item_id!r}")
        seen.add(item_id)
        items.append(QAItem(item_id, question, tuple(answers), tuple(products), expect, tuple(history)))
    if not items:
        raise TaskError(f"{path}: no questions")
    return items


def check_products(items: Iterable[QAItem], catalog_ids: set[str], path: str | Path) -> None:
    """Every asked-about product must be in the catalog, or the scores would measure the data, not the chain."""
    missing = [(i.id, p) for i in items for p in i.product_ids if p not in catalog_ids]
    if missing:
        shown = ", ".join(f"{q}->{p}" for q, p in missing[:5])
        raise TaskError(f"{path}: {len(missing)} product id(s) not in the catalog, e.g. {shown}")


_CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def catalog_values(path: str | Path) -> set[str]:
    """Every attribute value and brand of a catalog (three letters or more)."""
    from multimodal_rag.catalog.loaders import load_catalog

    values = set()
    for row in load_catalog(path):
        if row.product is not None:
            for value in [*row.product.attributes.values(), row.product.brand]:
                value = value.strip(" ,;.:")  # catalogs hold "Multicolor," beside "Multicolor"
                if len(value) >= 3:
                    values.add(value)
    return values


def unsupported(answer: str, sources: Iterable[str], values: Iterable[str]) -> list[str]:
    """The numbers and catalog values an answer states that no source holds."""
    sources = list(sources)
    text = _CITATION.sub(" ", answer)
    held = {float(n.replace(",", "")) for source in sources for n in _NUMBER.findall(source)
            if n.replace(",", "").replace(".", "", 1).isdigit()}
    out = [n for n in _NUMBER.findall(text)
           if n.replace(",", "").replace(".", "", 1).isdigit() and float(n.replace(",", "")) not in held]
    lowered, corpus = text.lower(), "\n".join(sources).lower()
    out += [v for v in values if re.search(rf"(?<!\w){re.escape(v.lower())}(?!\w)", lowered)
            and not re.search(rf"(?<!\w){re.escape(v.lower())}(?!\w)", corpus)]
    return out


def meets(row: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """True when a catalog row meets filter data (eq, in, lt, lte, gt, gte, level), read as a shopper would."""
    for name, condition in filters.items():
        conditions = condition if isinstance(condition, Mapping) else {"eq": condition}
        if name.startswith("attributes."):
            value = (row.get("attributes") or {}).get(name.removeprefix("attributes."))
        else:
            value = row.get(name)
        for op, wanted in conditions.items():
            if op == "level":
                levels = {p.strip().lower() for p in str(value or "").split(">")}
                options = [wanted] if isinstance(wanted, str) else wanted
                ok = any(str(w).lower() in levels for w in options)
            elif op in ("eq", "in"):
                options = [wanted] if op == "eq" else wanted
                ok = value is not None and str(value).lower() in {str(w).lower() for w in options}
            else:
                ok = value is not None and {"lt": value < wanted, "lte": value <= wanted, "gt": value > wanted,
                                            "gte": value >= wanted}[op]
            if not ok:
                return False
    return True


def shopping_filters(expect: Mapping[str, Any], previous_cited_price: float | None) -> dict[str, Any]:
    """The expectation's filters with "$cited_price" replaced by the previous answer's first cited price."""
    def value(v: Any) -> Any:
        if v == "$cited_price":
            return previous_cited_price
        return {k: value(x) for k, x in v.items()} if isinstance(v, Mapping) else v
    return value(expect["filters"])


def score_shopping(filters: Mapping[str, Any], order: str | None, catalog: Mapping[str, Mapping],
                   retrieved: list[str], cited: list[str]) -> dict[str, bool]:
    """Strict: at least one product cited, every cited product meets the filters, and for an order the first
    cited is the catalog's cheapest (or dearest) that meets them."""
    meeting = [row for row in catalog.values() if _comparable(filters) and meets(row, filters)]
    every = bool(cited) and all(pid in catalog and meets(catalog[pid], filters) for pid in cited)
    ordered = True
    if order and meeting and cited:
        priced = [r for r in meeting if r.get("price") is not None]
        best = (min if order == "asc" else max)(r["price"] for r in priced)
        ordered = catalog[cited[0]].get("price") == best
    return {"answerable": bool(meeting), "correct": every and ordered, "cited": every,
            "hit@5": any(pid in catalog and meets(catalog[pid], filters) for pid in retrieved[:5])}


def _comparable(filters: Mapping[str, Any]) -> bool:
    """False when a "$cited_price" could not be filled (the previous answer cited nothing)."""
    return all(v is not None for c in filters.values() if isinstance(c, Mapping) for v in c.values())


def score_answer(item: QAItem, answer: str, retrieved: list[str], cited: list[str]) -> dict[str, bool]:
    asked = set(item.product_ids)
    return {"correct": any(contains_answer(answer, a) for a in item.answers),
            "hit@5": bool(asked & set(retrieved[:5])),
            "cited": bool(asked & set(cited))}


def evaluate_qa(items: list[QAItem], chain, *, progress: bool = True, on_answer=None, values: Iterable[str] = (),
                catalog: Mapping[str, Mapping] | None = None) -> dict[str, float]:
    """Run every question through ``chain`` (a ``ProductQA``), its history first, and average the scores;
    ``values``: the catalog's attribute values, for ``unsupported``; ``catalog``: rows by id, for shopping
    questions."""
    from tqdm.auto import tqdm

    from multimodal_rag.qa import QAInput

    values = list(values)
    totals = {"correct": 0, "hit@5": 0, "cited": 0, "by_model": 0, "unsupported": 0}
    scored, unanswerable = 0, 0
    start = time.perf_counter()
    for item in tqdm(items, desc="eval-qa", unit="question", disable=not progress):
        history: list = []
        for earlier in item.history:
            history.append(chain.invoke(QAInput(question=earlier, history=history)).turn())
        result = chain.invoke(QAInput(question=item.question, history=history))
        retrieved = [d.metadata["id"] for d in result.products]
        if item.expect is not None:
            previous = history[-1].products[0].get("price") if history and history[-1].products else None
            filters = shopping_filters(item.expect, previous)
            scores = score_shopping(filters, item.expect.get("order"), catalog or {}, retrieved, result.cited_ids)
            if not scores.pop("answerable"):
                unanswerable += 1
                if on_answer is not None:
                    on_answer(item, result, {"answerable": False})
                continue
        else:
            scores = score_answer(item, result.answer, retrieved, result.cited_ids)
        scores["by_model"] = result.written_by == "model"
        # What the answer may state: the conversation so far and the cards the model was given.
        sources = [item.question, *(text for turn in history for text in (turn.question, turn.answer)),
                   *(d.page_content for d in result.products)]
        scores["unsupported"] = bool(unsupported(result.answer, sources, values))
        for key, value in scores.items():
            totals[key] += bool(value)
        scored += 1
        if on_answer is not None:
            on_answer(item, result, scores)
    n = max(scored, 1)
    return {"accuracy": totals["correct"] / n, "retrieval_hit@5": totals["hit@5"] / n,
            "citation_accuracy": totals["cited"] / n, "unsupported": totals["unsupported"], "n": scored,
            "unanswerable": unanswerable,
            # Share of answers whose wording is the model's own (it passed the checks), and the time per question.
            "model_worded": totals["by_model"] / n, "seconds_per_question": (time.perf_counter() - start) / n}
