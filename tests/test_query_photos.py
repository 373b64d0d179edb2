"""Query photos meet the catalog's photos: thumbnails' size and shape, store photos cropped to their centre."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from multimodal_rag.catalog.images import decode_image
from multimodal_rag.catalog.photos import (
    PROFILE_ALL,
    PROFILE_STRIDE,
    PhotoProfile,
    PhotoStats,
    QueryPhotoAdapter,
    centre_crop,
    has_plain_border,
    photo_stats,
    profile_weight,
    resize_to,
)
from multimodal_rag.config import ConfigError, load_config
from multimodal_rag.embedders import load_embedder
from multimodal_rag.embedders.fields import load_embedders
from multimodal_rag.store.milvus import open_store
from multimodal_rag.ingestion import ingest
from multimodal_rag.retrieval import ProductQuery, ProductRetriever
from tests.conftest import GROCERY, MYNTRA, require_shared_data

IMAGE2PRODUCT = MYNTRA / "tasks" / "image2product"
PHOTO2PRODUCT = GROCERY / "tasks" / "photo2product"
THUMBNAILS = PhotoProfile(width=60, height=80, product_shots=1.0, photos=330)
STORE_CATALOG = PhotoProfile(width=198, height=198, product_shots=0.99, photos=81)


def photo(size, colour=(255, 255, 255)) -> Image.Image:
    return Image.new("RGB", size, colour)


@pytest.mark.parametrize("fit, size", [("stretch", (60, 80)), ("crop", (60, 80)), ("keep", (60, 60))])
def test_a_square_photo_meets_a_thumbnail_catalog(fit, size):
    assert resize_to(photo((224, 224)), (60, 80), fit).size == size


def test_a_photo_smaller_than_the_catalogs_is_left_as_it_is():
    small = photo((40, 30))
    assert resize_to(small, (60, 80), "stretch") is small


@pytest.mark.parametrize("size, fraction, side", [((256, 192), 0.7, 134), ((1, 1), 0.7, 1), ((10_000, 20), 0.5, 10)])
def test_a_centre_crop_is_a_square_of_the_shorter_side(size, fraction, side):
    assert centre_crop(photo(size), fraction).size == (side, side)


def test_auto_settings_follow_the_catalog():
    thumbs = QueryPhotoAdapter.from_settings("auto", "stretch", "auto", THUMBNAILS)
    assert thumbs.size == (60, 80)
    assert QueryPhotoAdapter.from_settings("auto", "stretch", "auto", PhotoProfile(384, 300, 0.4, 10)).size is None
    assert QueryPhotoAdapter.from_settings("auto", "stretch", "auto", None).size is None
    assert QueryPhotoAdapter.from_settings("50x70", "keep", 0.8, None) == QueryPhotoAdapter((50, 70), "keep", 0.8)
    # crop "auto": a scene photo against product shots is cropped; a product shot, or any photo against a catalog
    # of lifestyle photos, is not
    require_shared_data()
    scene = Image.open(PHOTO2PRODUCT / "images" / "0.jpg").convert("RGB")
    assert thumbs.crop_fraction(scene) == 0.7
    assert thumbs.crop_fraction(photo((224, 224))) == 1.0
    assert QueryPhotoAdapter(crop="auto", profile=PhotoProfile(384, 300, 0.41, 10)).crop_fraction(scene) == 1.0


def test_plain_borders_tell_product_shots_from_store_photos():
    require_shared_data()
    shots = [decode_image(p.read_bytes()) for p in sorted((MYNTRA / "images").iterdir())[:20]]
    shots += [decode_image(p.read_bytes()) for p in sorted((GROCERY / "images").iterdir())[:20]]
    scenes = [decode_image(p.read_bytes()) for p in sorted((PHOTO2PRODUCT / "images").iterdir())[:40]]
    assert sum(map(has_plain_border, shots)) == 40
    assert sum(map(has_plain_border, scenes)) == 0


@pytest.mark.parametrize("key, value, message", [
    ("query_photo_size", '"60by80"', 'search.query_photo_size must be "auto", "WxH"'),
    ("query_photo_size", '"0x80"', 'search.query_photo_size must be "auto", "WxH"'),
    ("query_photo_size", "true", 'search.query_photo_size must be "auto", "WxH"'),
    ("query_photo_crop", "1.5", r"search.query_photo_crop must be \"auto\" or a fraction of the photo in \(0, 1\]"),
    ("query_photo_crop", "0", r"search.query_photo_crop must be \"auto\" or a fraction"),
    ("query_photo_crop", "-0.2", r"search.query_photo_crop must be \"auto\" or a fraction"),
    ("query_photo_fit", '"squash"', "search.query_photo_fit must be one of 'stretch', 'crop' or 'keep', not 'squash'"),
])
def test_a_bad_setting_is_refused_naming_the_value(key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [f"search.{key}={value}"])


def png(img: Image.Image, mode: str | None = None, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    (img.convert(mode) if mode else img).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("data, size", [
    (png(photo((1, 1), (200, 10, 10))), (1, 1)),
    (png(photo((10_000, 20), (10, 200, 10))), (10_000, 20)),
    (png(photo((64, 48), (10, 10, 200)), "CMYK", "JPEG"), (64, 48)),
    (png(Image.fromarray(np.full((30, 40), 40_000, dtype=np.uint16))), (40, 30)),
])
def test_odd_photos_embed_and_search(data, size):
    """A 1x1 photo, a 10000x20 strip, a CMYK JPEG and a 16-bit greyscale PNG: profiled, adapted and embedded."""
    stats = photo_stats(data)
    assert (stats.width, stats.height) == size
    image = decode_image(data)
    for adapter in (QueryPhotoAdapter.from_settings("auto", "stretch", "auto", THUMBNAILS),
                    QueryPhotoAdapter.from_settings("auto", "crop", 0.5, STORE_CATALOG)):
        vector = load_embedder("efficientnet-lite0").encode_images([adapter.adapt(image)])[0]
        assert vector.shape == (1280,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5


def test_the_profile_is_read_from_a_sample_that_stands_for_every_photo():
    """Every photo of the first rows counts once; after them one row in PROFILE_STRIDE counts PROFILE_STRIDE times."""
    lines = (1, PROFILE_ALL - 1, PROFILE_ALL, PROFILE_ALL + 1, 2 * PROFILE_ALL + PROFILE_STRIDE - 1, 2 * PROFILE_ALL)
    assert [profile_weight(n) for n in lines] == [1, 1, PROFILE_STRIDE, 0, 0, PROFILE_STRIDE]
    # one product shot standing for itself, one scene standing for three: the scenes' size is the median
    stats = [PhotoStats(60, 80, True), PhotoStats(100, 120, False, weight=3)]
    assert PhotoProfile.from_stats(stats) == PhotoProfile(width=100, height=120, product_shots=0.25, photos=4)


def test_an_ingest_records_the_catalog_photo_profile(sample_catalog, make_config, default_embedders):
    config = make_config()
    ingest(sample_catalog, config, progress=False, embedders=default_embedders)
    with open_store(config, default_embedders, create=False) as store:
        assert store.photo_profile == PhotoProfile(256, 256, 1.0, 36)  # drawn 256x256 on white
    retriever = ProductRetriever.from_config(config)
    try:
        assert retriever.searcher.query_photo.size is None  # not thumbnails: query photos keep their size
    finally:
        retriever.close()


def qrels(task, grade: int) -> dict[str, str]:
    out = {}
    for line in (task / "qrels.tsv").read_text().split("\n")[1:]:
        if line.strip():
            qid, pid, score = line.split("\t")
            if int(score) == grade:
                out[qid] = pid
    return out


def myntra_with_queries(folder, n_queries: int, n_others: int):
    """A catalog of the products the first image2product queries are about, plus others; and those queries."""
    require_shared_data()
    queries = [json.loads(line) for line in (IMAGE2PRODUCT / "queries.jsonl").read_text().split("\n") if line]
    relevant = qrels(IMAGE2PRODUCT, 1)
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


def grocery_queries(n: int):
    """grocery_dev's catalog and its first ``n`` store photos with the product each shows."""
    require_shared_data()
    product = qrels(PHOTO2PRODUCT, 2)
    queries = [json.loads(line) for line in (PHOTO2PRODUCT / "queries.jsonl").read_text().split("\n") if line][:n]
    return GROCERY / "products.jsonl", [(PHOTO2PRODUCT / q["image"], product[q["id"]]) for q in queries]


IMAGE_ONLY = '[vectors.image]\nembedder = "efficientnet-lite0"\nsources = ["image"]\n'


def image_store(folder, catalog) -> list[str]:
    """An image-only collection of ``catalog`` in ``folder``; the config path and overrides to open it."""
    (folder / "image.toml").write_text(IMAGE_ONLY)
    config = load_config(folder / "image.toml", [f"store.db={json.dumps(str(folder / 'image.db'))}"])
    ingest(catalog, config, progress=False, embedders=load_embedders(config))
    return folder / "image.toml", [f"store.db={json.dumps(str(folder / 'image.db'))}"]


def ranks(store, setting: list[str], queries) -> list[int | None]:
    """The rank (1-based, within 20) of each query's product."""
    path, overrides = store
    retriever = ProductRetriever.from_config(load_config(path, overrides + setting), k=20)
    try:
        found = [[d.id for d in retriever.invoke(ProductQuery(image=photo))] for photo, _ in queries]
    finally:
        retriever.close()
    return [ids.index(pid) + 1 if pid in ids else None for ids, (_, pid) in zip(found, queries)]


def test_sharp_photos_find_their_thumbnails_at_the_catalogs_size_and_shape(tmp_path):
    catalog, queries = myntra_with_queries(tmp_path, 40, 1500)
    store = image_store(tmp_path, catalog)
    found = {name: ranks(store, setting, queries) for name, setting in (
        ("stretch", []), ("keep", ['search.query_photo_fit="keep"']), ("crop", ['search.query_photo_fit="crop"']),
        ("off", ["search.query_photo_size=0"]), ("cropped", ["search.query_photo_crop=0.7"]))}
    # At the thumbnails' size every fit finds all 40 first; as they come 27, and cropping product shots hurts
    assert found["stretch"] == found["keep"] == found["crop"] == [1] * 40
    assert found["off"] == [1, None, 1, 2, 1, 1, 1, 1, 5, 1, 1, 1, 1, 1, 5, 1, 2, 1, 1, 3, 1, 1, 2, 2, 1, 1, 2, 5, 1,
                            1, 7, 1, 1, 1, 1, 1, 1, 11, 3, 1]
    assert found["cropped"] == [2, 9, 1, 1, 1, 1, 1, 1, 2, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1, 1, 1, 1, 1, 8, 3, 1,
                                1, 3, 13, 1, 1, 1, 1, 1, None, 2, 1]


def test_store_photos_find_their_product_cropped_to_the_centre(tmp_path):
    catalog, queries = grocery_queries(40)
    store = image_store(tmp_path, catalog)
    found = {name: ranks(store, setting, queries) for name, setting in (
        ("auto", []), ("whole", ["search.query_photo_crop=1"]), ("0.5", ["search.query_photo_crop=0.5"]))}
    # "auto" crops the centre 0.7 of these scene photos: 17 products first, against 12 from the whole photo
    assert found["auto"] == [1, None, 1, 4, 18, 14, 17, 8, 6, 2, 1, 1, None, 1, 1, 4, 3, 1, None, 1, 17, 1, 2, 12, 1,
                             5, 1, 2, None, 4, 1, 11, 3, 1, 1, 1, None, 1, 1, 3]
    assert found["whole"] == [1, None, 1, 9, None, 18, 14, 9, 9, 2, 5, 2, None, 3, 3, 2, 2, 2, None, 1, 14, 1, 1, 10,
                              2, 5, 1, 1, None, 5, 2, 12, 1, 1, 1, 6, None, 1, 1, 3]
    assert found["0.5"] == [1, None, 1, 2, 14, 14, 15, 3, 7, 1, 1, 1, 18, 1, 1, 7, 20, 1, 13, 1, 6, 1, 1, 4, 1, 6, 1,
                            2, None, 1, 1, 2, 1, 1, 2, 1, None, 2, 2, 3]
