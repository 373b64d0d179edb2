"""Query photos against a catalog of thumbnails: shrunk to the catalog photos' size first (``query_photo_side``)."""

import json

import pytest

from multimodal_rag.config import ConfigError, load_config
from multimodal_rag.pipelines.ingest import load_embedders, open_store, run_ingest
from multimodal_rag.retrieval import ProductQuery, ProductRetriever
from multimodal_rag.store.search import resolve_query_photo_side
from tests.conftest import MYNTRA, require_shared_data

IMAGE2PRODUCT = MYNTRA / "tasks" / "image2product"


@pytest.mark.parametrize("setting, catalog_side, side", [
    ("auto", 80, 80), ("auto", 223, 223), ("auto", 224, 0), ("auto", 384, 0), ("auto", None, 0),
    (120, 384, 120), (0, 80, 0),
])
def test_the_side_query_photos_are_shrunk_to(setting, catalog_side, side):
    assert resolve_query_photo_side(setting, catalog_side) == side


@pytest.mark.parametrize("value", ['-1', '"big"', "true", "1.5"])
def test_a_bad_setting_is_refused(value):
    with pytest.raises(ConfigError, match="search.query_photo_side must be \"auto\" or a number of pixels"):
        load_config(None, [f"search.query_photo_side={value}"])


def test_an_ingest_records_the_catalog_photo_size(sample_catalog, make_config, default_embedders):
    config = make_config()
    run_ingest(sample_catalog, config, progress=False, embedders=default_embedders)
    store = open_store(config, default_embedders, create=False)
    try:
        assert store.photo_side == 256  # the sample catalog's drawn photos are 256x256
    finally:
        store.close()
    retriever = ProductRetriever.from_config(config)
    try:
        assert retriever.searcher.query_photo_side == 0  # not thumbnails: query photos go in as they come
    finally:
        retriever.close()


def myntra_with_queries(folder, n_queries: int, n_others: int):
    """A catalog of the products the first image2product queries are about, plus others; and those queries."""
    require_shared_data()
    queries = [json.loads(line) for line in (IMAGE2PRODUCT / "queries.jsonl").read_text().split("\n") if line]
    relevant = {}
    for line in (IMAGE2PRODUCT / "qrels.tsv").read_text().split("\n")[1:]:
        if line.strip():
            qid, pid, _ = line.split("\t")
            relevant[qid] = pid
    queries = queries[:n_queries]
    wanted = {relevant[q["id"]] for q in queries}
    rows = []
    with open(MYNTRA / "products.jsonl", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if row["id"] in wanted or len(rows) < n_queries + n_others:
                row["image"] = str(MYNTRA / row["image"])
                rows.append(row)
    catalog = folder / "myntra.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return catalog, [(IMAGE2PRODUCT / q["image"], relevant[q["id"]]) for q in queries]


def test_a_sharp_photo_finds_its_thumbnail_when_shrunk_to_the_catalogs_size(tmp_path):
    catalog, queries = myntra_with_queries(tmp_path, 30, 300)
    overrides = [f"store.db={json.dumps(str(tmp_path / 'm.db'))}", 'search.fields=["image"]']
    config = load_config(None, overrides)
    run_ingest(catalog, config, progress=False, embedders=load_embedders(config))
    firsts = {}
    for setting in ("auto", 0):
        retriever = ProductRetriever.from_config(load_config(None, [*overrides, f"search.query_photo_side={setting!r}"
                                                                    .replace("'", '"')]), k=1)
        try:
            firsts[setting] = [retriever.invoke(ProductQuery(image=path))[0].id == pid for path, pid in queries]
            side = retriever.searcher.query_photo_side
        finally:
            retriever.close()
        assert side == (80 if setting == "auto" else 0)  # Myntra's thumbnails are 60x80
    assert sum(firsts["auto"]) >= 24, firsts
    assert sum(firsts[0]) <= sum(firsts["auto"]) - 10, firsts
