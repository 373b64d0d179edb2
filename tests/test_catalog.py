import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from multimodal_rag.catalog.loaders import CatalogError, catalog_files, load_catalog
from multimodal_rag.catalog.product import Product
from multimodal_rag.catalog.sample import sample_products
from multimodal_rag.ingestion.steps import ErrorReport, valid_products


def _flat(row):
    out = {k: v for k, v in row.items() if k != "attributes"}
    out.update(row["attributes"])  # extra columns become attributes
    return out


def test_jsonl_csv_parquet_give_the_same_products(sample_catalog, tmp_path):
    rows = sample_products()
    flat = [_flat(r) for r in rows]
    csv_path = tmp_path / "sample" / "products.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)
    pq_path = tmp_path / "sample" / "products.parquet"
    pq.write_table(pa.Table.from_pylist(flat), pq_path)

    loaded = {fmt: [r.product for r in load_catalog(p)] for fmt, p in
              (("jsonl", sample_catalog), ("csv", csv_path), ("parquet", pq_path))}
    assert len(loaded["jsonl"]) == 36
    assert loaded["jsonl"] == loaded["csv"] == loaded["parquet"]
    first = loaded["csv"][0]
    assert first == Product(
        id="mug-red", title="Acme Red Ceramic Coffee Mug",
        description="A red ceramic coffee mug by Acme, made of ceramic. Everyday quality at a fair price.",
        category="Home > Kitchen > Mugs", brand="Acme", price=299.0, currency="INR",
        attributes={"Color": "Red", "Material": "Ceramic"}, rating=3.5,
        image=str(tmp_path / "sample" / "images" / "mug-red.png"))


def test_column_mapping_renames_and_keeps_unknown_columns_as_attributes(tmp_path):
    path = tmp_path / "shop.csv"
    path.write_text("sku,name,cost,img,Fabric\nA1,Linen Shirt,1299,pics/a1.jpg,Linen\n")
    [row] = load_catalog(path, columns={"sku": "id", "name": "title", "cost": "price", "img": "image"})
    assert row.error is None
    assert row.product.id == "A1" and row.product.title == "Linen Shirt" and row.product.price == 1299.0
    assert row.product.attributes == {"Fabric": "Linen"}
    assert row.product.image == str(tmp_path / "pics" / "a1.jpg")


def test_bad_rows_are_reported_with_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        {"id": "ok1", "title": "Good", "price": "1,299.50"},
        {"id": "t", "title": "   "},
        {"id": "p", "title": "Priced", "price": "ten rupees"},
        "{not json",
        {"id": "ok1", "title": "Again"},
        {"title": "No id"},
        {"id": "neg", "title": "Negative", "price": -3},
        {"id": "ok2", "title": "Good two", "image": "https://example.test/a.jpg", "rating": "No rating available"},
    ]
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    report = ErrorReport(tmp_path / "errors.jsonl")
    seen = {}
    products = list(valid_products(load_catalog(path), report, seen))
    report.close()
    assert [(line, p.id) for line, p in products] == [(1, "ok1"), (8, "ok2")]
    assert products[0][1].price == 1299.5
    assert products[1][1].image == "https://example.test/a.jpg" and products[1][1].rating is None
    entries = [json.loads(x) for x in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert [(e["line"], e["id"], e["field"]) for e in entries] == [
        (2, "t", "title"), (3, "p", "price"), (4, "", "json"), (5, "ok1", "id"), (6, "", "id"), (7, "neg", "price")]
    assert "ten rupees" in entries[1]["reason"]
    assert "duplicate id (first on line 1)" in entries[3]["reason"]
    # every id named in the file counts as present, so --prune never deletes a product whose row broke
    assert set(seen) == {"ok1", "t", "p", "neg", "ok2"}


def test_missing_catalog_and_unknown_format(tmp_path):
    with pytest.raises(CatalogError, match="catalog file not found"):
        load_catalog(tmp_path / "nope.jsonl")  # at the call, not on first iteration
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(CatalogError, match="cannot tell the format"):
        load_catalog(tmp_path / "x.xlsx")


def test_catalog_files_expand_a_folder_of_shards_and_a_glob(tmp_path):
    shards = tmp_path / "shards"
    (shards / "deeper").mkdir(parents=True)
    for name in ("b.csv", "a.jsonl", "c.parquet", "notes.txt", "deeper/d.jsonl"):
        (shards / name).write_text("")
    assert catalog_files(shards) == [str(shards / n) for n in ("a.jsonl", "b.csv", "c.parquet")]
    assert catalog_files(f"{shards}/*.jsonl") == [str(shards / "a.jsonl")]
    assert catalog_files(f"{shards}/**/*.jsonl") == [str(shards / "a.jsonl"), str(shards / "deeper" / "d.jsonl")]
    assert catalog_files(shards / "b.csv") == [str(shards / "b.csv")]
    with pytest.raises(CatalogError, match="no catalog file matches"):
        catalog_files(f"{shards}/*.tsv")
    with pytest.raises(CatalogError, match="catalog file not found"):
        catalog_files(shards / "gone.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogError, match="a folder with no catalog file"):
        catalog_files(tmp_path / "empty")
    (shards / "e.xlsx").write_text("")
    with pytest.raises(CatalogError, match="cannot tell the format"):
        catalog_files(f"{shards}/e.*")
