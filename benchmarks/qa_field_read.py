"""Which field each question is read as, and which product its facts are read from, with no model.

    .venv/bin/python benchmarks/qa_field_read.py ../shared/data/myntra_dev/products.jsonl \
        benchmarks/data/qa/myntra/build.jsonl benchmarks/data/qa/myntra/heldout.jsonl [--db DIR] [--misses]

``ProductQA``'s parse, plan and retrieve steps over each question of a question set (``mmrag eval-qa``'s format;
``benchmarks/qa_fields.py`` writes them) on the default config's store of the catalog (ingested first, as eval-qa
does; the embedding cache makes it quick). A question is read right when the field looked up is its ``kind``
(case aside), and its facts right when, besides, the first product they are read from is one of its
``product_ids``. A yes-or-no question nothing else reads is answered with several fields' values (``Lookup.also``):
"answered" counts a question whose field's value is among those stated, read from the product asked, and "several"
the questions answered with several fields. Prints a table per set: all questions, by name form (title, lower,
short, typo) and by wording.
What the model then writes is eval-qa's to score; this isolates the question reading, minutes instead of an hour.
``--misses`` lists every miss: only for sets that are read while building, never for a set that reports.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("catalog", help="the catalog the questions are about")
    parser.add_argument("sets", nargs="+", metavar="QA.jsonl")
    parser.add_argument("--db", help="Milvus Lite folder for the catalog's store (default: a temporary one)")
    parser.add_argument("--misses", action="store_true", help="print every miss (sets read while building only)")
    args = parser.parse_args()

    from langchain_core.language_models import FakeListChatModel
    from langchain_core.runnables import RunnableSequence

    from multimodal_rag.config import load_config, resolve_config
    from multimodal_rag.eval.runner import ingest_corpus
    from multimodal_rag.qa import ProductQA

    db = args.db or str(Path(tempfile.mkdtemp(prefix="mmrag-fieldread-")) / "store.db")
    config = ingest_corpus(Path(args.catalog), resolve_config(load_config(None, []), db=db), progress=False)
    # The model is never called: the steps below stop before the answer.
    qa = ProductQA.from_config(config, llm=FakeListChatModel(responses=["-"]))
    chain = getattr(qa.chain, "bound", qa.chain)
    reading = RunnableSequence(*chain.steps[:3])  # parse | plan | retrieve
    try:
        for path in args.sets:
            items = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
            counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
            started = time.perf_counter()
            for item in items:
                found = reading.invoke(item["question"])
                field = found.look.field
                field_right = field is not None and field.name.lower() == item["kind"].lower()
                facts = [f.product_id for f in found.look.facts]
                facts_right = field_right and bool(facts) and facts[0] in item["product_ids"]
                stated = {f.field.lower() for f in found.look.also}
                answered = facts_right or (bool(facts) and facts[0] in item["product_ids"]
                                           and item["kind"].lower() in stated)
                for key in ("all", f"form {item.get('name_form', '-')}", item.get("wording", item["kind"])):
                    counts[key][0] += 1
                    counts[key][1] += field_right
                    counts[key][2] += facts_right
                    counts[key][3] += answered
                    counts[key][4] += bool(found.look.also)
                if args.misses and not facts_right:
                    print(f"miss {item.get('wording', item['kind'])}: {item['question']!r} -> "
                          f"{field and (field.name, field.how, field.also)} {facts[:3]}, "
                          f"asked {item['product_ids'][:3]}",
                          file=sys.stderr)
            print(f"\n{path}: {len(items)} questions, {time.perf_counter() - started:.0f} s")
            print(f"| {'questions':<24} | n | field read | facts from the product asked | answered | several |")
            print("|---|---|---|---|---|---|")
            for key in sorted(counts, key=lambda k: (k != "all", not k.startswith("form "), k)):
                n, field_right, facts_right, answered, several = counts[key]
                print(f"| {key:<24} | {n} | {field_right / n:.3f} | {facts_right / n:.3f} | {answered / n:.3f} "
                      f"| {several} |")
    finally:
        qa.retriever.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
