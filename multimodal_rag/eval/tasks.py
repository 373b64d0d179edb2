"""Benchmark tasks on disk (BEIR layout): ``task.json``, ``queries.jsonl``, ``qrels.tsv``.

Every problem is reported with the file and line it is on.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from multimodal_rag.errors import UserError


class TaskError(UserError, ValueError):
    """A malformed task; the message names the file and line."""


@dataclass(frozen=True)
class Query:
    id: str
    text: str | None = None
    image: Path | None = None


@dataclass(frozen=True)
class Task:
    name: str
    folder: Path
    corpus: Path
    queries: tuple[Query, ...]
    qrels: dict[str, dict[str, int]]


def load_task(folder: str | Path) -> Task:
    folder = Path(folder)
    spec_path = folder / "task.json"
    if not spec_path.is_file():
        raise TaskError(f"{spec_path}: missing (a task folder holds task.json, queries.jsonl, qrels.tsv)")
    try:
        spec = json.loads(spec_path.read_text())
    except json.JSONDecodeError as exc:
        raise TaskError(f"{spec_path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("corpus"), str):
        raise TaskError(f"{spec_path}: needs \"corpus\": the catalog path relative to the task folder")
    corpus = (folder / spec["corpus"]).resolve()
    if not corpus.is_file():
        raise TaskError(f"{spec_path}: corpus {spec['corpus']!r} does not exist ({corpus})")
    queries = _load_queries(folder / "queries.jsonl", folder)
    qrels = _load_qrels(folder / "qrels.tsv", {q.id for q in queries}, _corpus_ids(corpus))
    return Task(name=folder.name, folder=folder, corpus=corpus, queries=tuple(queries), qrels=qrels)


def _load_queries(path: Path, folder: Path) -> list[Query]:
    if not path.is_file():
        raise TaskError(f"{path}: missing")
    queries, seen = [], set()
    for line, text in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):  # not splitlines(): U+2028
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TaskError(f"{path}:{line}: not valid JSON: {exc.msg}") from None
        qid = str(obj.get("id", "")).strip() if isinstance(obj, dict) else ""
        if not qid:
            raise TaskError(f"{path}:{line}: a query needs an \"id\"")
        if qid in seen:
            raise TaskError(f"{path}:{line}: query id {qid!r} appears twice")
        seen.add(qid)
        query_text = (obj.get("text") or "").strip() or None
        image = None
        if obj.get("image"):
            image = (folder / obj["image"]).resolve()
            if not image.is_file():
                raise TaskError(f"{path}:{line}: query {qid!r}: image {obj['image']!r} does not exist")
        if query_text is None and image is None:
            raise TaskError(f"{path}:{line}: query {qid!r} has neither text nor image")
        queries.append(Query(qid, query_text, image))
    if not queries:
        raise TaskError(f"{path}: no queries")
    return queries


def _corpus_ids(corpus: Path) -> set[str]:
    from multimodal_rag.catalog.loaders import load_catalog

    return {row.id for row in load_catalog(corpus) if row.id}


def _load_qrels(path: Path, query_ids: set[str], corpus_ids: set[str]) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise TaskError(f"{path}: missing (BEIR qrels: query-id, corpus-id, score)")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(newline="") as f:
        rows = csv.reader(f, delimiter="\t")
        for line, row in enumerate(rows, start=1):
            if line == 1 and row and row[0].strip().lower() in ("query-id", "query_id", "qid"):
                continue
            if not row or not "".join(row).strip():
                continue
            if len(row) != 3:
                raise TaskError(f"{path}:{line}: expected 3 tab-separated columns, got {len(row)}")
            qid, doc, score = (x.strip() for x in row)
            try:
                grade = int(score)
            except ValueError:
                raise TaskError(f"{path}:{line}: score {score!r} is not an integer") from None
            if qid not in query_ids:
                raise TaskError(f"{path}:{line}: query id {qid!r} is not in queries.jsonl")
            if doc not in corpus_ids:
                raise TaskError(f"{path}:{line}: corpus id {doc!r} is not in the corpus")
            qrels.setdefault(qid, {})[doc] = grade
    if not qrels:
        raise TaskError(f"{path}: no judgments")
    return qrels
