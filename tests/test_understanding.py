"""Query understanding from the catalog's own facets, on the real Myntra and Flipkart vocabularies."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import pytest

from multimodal_rag.catalog.facets import FacetVocabulary
from multimodal_rag.config import ConfigError, load_config
from multimodal_rag.ingestion import ingest
from multimodal_rag.retrieval import ProductQuery, ProductRetriever
from multimodal_rag.retrieval.understanding import PricePhrases, QueryUnderstanding, Understanding

ENGLISH_PRICES = PricePhrases.for_language("en")
from multimodal_rag.store.filters import build_filter
from tests.conftest import FLIPKART, MYNTRA, require_shared_data, titles_store

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def vocabulary(folder: Path) -> FacetVocabulary:
    require_shared_data()
    with open(folder / "products.jsonl", encoding="utf-8") as lines:
        return FacetVocabulary.from_products(json.loads(line) for line in lines)


@pytest.fixture(scope="module")
def myntra() -> QueryUnderstanding:
    # "Tshirts" is this catalog's own spelling: a shopper's "tees" for it is set in the config, as a user would.
    synonyms = load_config(None, ['search.synonyms={tee = "Tshirts", tees = "Tshirts"}']).search.synonyms
    return QueryUnderstanding(vocabulary(MYNTRA), synonyms)


@pytest.fixture(scope="module")
def flipkart() -> QueryUnderstanding:
    return QueryUnderstanding(vocabulary(FLIPKART), load_config().search.synonyms)


@pytest.mark.parametrize("query, understood, rest", [
    ("navy blue shirts for men", "baseColour=Navy Blue, articleType=Shirts, gender=Men", ""),
    ("men's black jeans", "gender=Men, baseColour=Black, articleType=Jeans", ""),
    ("red tops for women under 800", "baseColour=Red, articleType=Tops, gender=Women, price<800", ""),
    ("white casual shoes between 1000 and 2000",
     "baseColour=White, articleType=Casual Shoes, 1000<=price<=2000", ""),
    ("gents tees", "gender=Men, articleType=Tshirts", ""),  # "gents" is English (facets.toml), "tees" the config's
    ("cheapest sandals for women", "category=Sandal, gender=Women, cheapest first", ""),
    ("nike", "", "nike"),  # Myntra rows carry no brand field: no constraint is made up
    # an irregular plural's singular is the value too (lemminflect's dictionary): "woman" is "Women"
    ("watch for a woman", "category=Watches, gender=Women", "for a"),
    ("belt for a man", "category=Belts, gender=Men", "for a"),
])
def test_myntra_queries(myntra, query, understood, rest):
    got = myntra.understand(query)
    assert (got.describe(), got.rest) == (understood, rest)


@pytest.mark.parametrize("query, understood, rest", [
    ("cheapest prestige pressure cooker", "brand=Prestige, cheapest first", "pressure cooker"),
    ("which of your routers costs the least", "category=Routers, cheapest first", "which of your"),
    ("mugs below Rs 1,000", "Type=Mug, price<1000", ""),
    ("most expensive bedsheet", "category=Bedsheets, most expensive first", ""),
    ("stainless steel kettle 1.5 l under 2k", "Material=Stainless Steel, Capacity=1.5 L, price<2000", "kettle"),
    ("Apple iPhone 15 Pro Max 256 GB", "brand=Apple", "iphone 15 pro max 256 gb"),  # "max 256 GB" is no price
    ("hello there", "", "hello there"),
])
def test_flipkart_queries(flipkart, query, understood, rest):
    got = flipkart.understand(query)
    assert (got.describe(), got.rest) == (understood, rest)


def test_a_value_in_several_facets_is_resolved_by_counts_and_says_so(myntra, flipkart):
    [shirts] = [c for c in myntra.understand("shirts").constraints]
    assert shirts.facet == "attributes.articleType"
    assert shirts.note == "'shirts' is also category (1235); took articleType (1235 products)"
    [cotton, _] = flipkart.understand("cotton face towel").constraints
    assert cotton.facet == "attributes.Material" and "took Material (60 products)" in cotton.note


@pytest.mark.parametrize("text, op, low, high", [
    ("under 500", "lt", None, 500.0),
    ("below Rs 1,000", "lt", None, 1000.0),
    ("less than ₹300", "lt", None, 300.0),
    ("below ₹1,500.50", "lt", None, 1500.5),
    ("less than 300rs", "lt", None, 300.0),
    ("up to 2k", "lte", None, 2000.0),
    ("at most INR 12,50,000", "lte", None, 1250000.0),  # Indian grouping
    ("over $40", "gt", 40.0, None),
    ("at least 999", "gte", 999.0, None),
    ("between 200 and 400", "between", 200.0, 400.0),
    ("from 400 to 200", "between", 200.0, 400.0),
    ("₹200 - ₹400", "between", 200.0, 400.0),
    ("under Rs.500", "lt", None, 500.0),
    ("below 500inr", "lt", None, 500.0),
    ("for 2,100 or less", "lte", None, 2100.0),   # the bound after the amount
    ("at 900 and under", "lte", None, 900.0),
    ("my budget is Rs 600", "lte", None, 600.0),
    ("budget: 750", "lte", None, 750.0),
    ("< 500", "lt", None, 500.0),
    ("<= 500", "lte", None, 500.0),
    (">= 40", "gte", 40.0, None),
    ("> 40", "gt", 40.0, None),
])
def test_price_phrases(text, op, low, high):
    price, sort, _ = ENGLISH_PRICES.read(f"shoes {text} please")
    assert (price.op, price.low, price.high) == (op, low, high)
    assert sort is None


@pytest.mark.parametrize("text", ["max 256 GB", "Apple iPhone 15 Max", "under 2 kg", "under 2kg", "1.5 l kettle",
                                  "pack of 3", "below 40%",
                                  "Vizion 8502-7PURPLE Sports Watch",
                                  "escort e-1700-906_blk analog watch - for men, boys price in rupees"])
def test_a_number_with_a_unit_or_in_a_model_number_is_not_a_price(text):
    assert ENGLISH_PRICES.read(text)[0] is None


# Home Depot search terms: sizes written as fractions, and codes of hyphenated numbers (each was read as a price
# range: "1-1/4" as 1 to 1, "3/4 to 3/8" as 3 to 4).
@pytest.mark.parametrize("text", ["1-1/4 bi-metal saw hole", "water lines 3/4 to 3/8", "pvc 2 to 1 1/2 elbow",
                                  "1/4-20 jamb nuts", "bolts 1/4 inch by 1-3/4 inch", "flooring sku 1000-019-492",
                                  "carlisle wide plank flooring 118-23-01-34"])
def test_a_fraction_or_a_chain_of_numbers_is_not_a_price(text):
    assert ENGLISH_PRICES.read(text)[0] is None


def test_a_price_order_in_a_catalog_without_prices_ranks_by_relevance_and_says_so(tmp_path, default_embedders):
    """No product has a price: "cheapest 60 watt bulb" cannot be ordered by price, so it finds the bulbs by
    relevance (it found nothing) and its understanding says the order was given up."""
    titles = ["Philips 60-Watt A19 Incandescent Light Bulb", "Cree 60W Equivalent Soft White LED Light Bulb",
              "GE 100-Watt A21 Incandescent Light Bulb", "Husky 25 ft. Tape Measure", "DEWALT Hammer Drill Kit"]
    retriever = ProductRetriever.from_config(titles_store(tmp_path, titles, default_embedders), k=2)
    try:
        found = retriever.invoke("cheapest 60 watt light bulb")
        priced = retriever.invoke("dearest hammer drill under 100")
    finally:
        retriever.close()
    assert sorted(d.metadata["id"] for d in found) == ["p0", "p1"]
    understood = found[0].metadata["understood"]
    assert (understood["sort"], understood["unordered"]) == (None, "asc")
    assert understood["text"] == "(not cheapest first: no product found has a price)"
    assert priced[0].metadata["id"] == "p4"
    assert priced[0].metadata["understood"]["dropped"] == ["price<100"]


def test_an_inclusive_bound_keeps_the_product_at_the_amount(sample_catalog, make_config, default_embedders):
    """"up to 349" and "349 or less" include the mug at exactly 349; "under 349" leaves it out, in the filter
    Milvus gets and in what comes back."""
    with open(sample_catalog, encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    config = make_config()
    ingest(sample_catalog, config, progress=False, embedders=default_embedders)
    retriever = ProductRetriever.from_config(config, k=50)
    try:
        found = {text: sorted(d.metadata["id"] for d in retriever.invoke(text))
                 for text in ("mugs up to 349", "mugs for 349 or less", "mugs under 349")}
    finally:
        retriever.close()
    at_most = sorted(r["id"] for r in rows if r["price"] <= 349)
    below = sorted(r["id"] for r in rows if r["price"] < 349)
    assert len(at_most) == len(below) + 1  # one product costs exactly 349
    assert found == {"mugs up to 349": at_most, "mugs for 349 or less": at_most, "mugs under 349": below}
    understood = QueryUnderstanding(FacetVocabulary(), {}).understand("mugs up to 349")
    assert build_filter(understood.filters()) == "(price <= 349.0)"
    assert understood.describe().startswith("price<=349")


@pytest.mark.parametrize("text, sort", [
    ("which of the kitchen tools is least costly", "asc"), ("the least pricey mug", "asc"),
    ("lowest-cost router", "asc"), ("most pricey watch", "desc"), ("highest cost kettle", "desc"),
    ("the least affordable kettle", "desc"), ("most economical fan", "asc"), ("most popular fan", None),
])
def test_price_order_phrases(text, sort):
    price, found, _ = ENGLISH_PRICES.read(text)
    assert price is None and found == sort


def test_constraints_reach_milvus_only_through_the_filter_builder(flipkart):
    hostile = 'Prestige" or brand != "'
    understood = QueryUnderstanding(FacetVocabulary(brands={hostile: 3}), {}).understand(f"{hostile} cooker")
    assert understood.filters() == {"brand": hostile}
    assert build_filter(understood.filters()) == '(brand == "Prestige\\" or brand != \\"")'
    routers = flipkart.understand("routers under 1,500")
    assert build_filter(routers.filters()) == (
        '(category == "Routers" or category like "Routers > %" or category like "% > Routers" '
        'or category like "% > Routers > %") and (price < 1500.0)')


def test_follow_ups_keep_and_change_constraints_over_three_turns(myntra):
    first = myntra.understand("black jeans for men under 2000")
    second = first.followed_by(myntra.understand("in blue"))
    third = second.followed_by(myntra.understand("a cheaper one for women"))
    assert first.describe() == "baseColour=Black, articleType=Jeans, gender=Men, price<2000"
    assert second.describe() == "articleType=Jeans, gender=Men, price<2000, baseColour=Blue"
    assert third.describe() == "articleType=Jeans, price<2000, baseColour=Blue, gender=Women"


def test_random_and_hostile_strings_never_raise_and_stay_fast(myntra):
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyz ABC0123456789 ,.-_%\\\"'()[]{}<>=!|&;:₹$€£ éüß漢字🙂\n\t\x00"
    strings = ["", " ", "or 1==1", '" or ""=="', "'; drop collection products; --", "x" * 10_000,
               "under " * 2000, "between 1 and", "₹₹₹ 1,,000", "\x00\x00", "🙂 navy 🙂 blue"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300))) for _ in range(500)]
    started = time.perf_counter()
    for s in strings:
        got = myntra.understand(s)
        assert isinstance(got, Understanding)
        build_filter(got.filters())  # every understood value compiles
    assert myntra.understand(None).constraints == () and myntra.understand(5).constraints == ()
    per_query_ms = (time.perf_counter() - started) / len(strings) * 1000
    assert per_query_ms < 5, per_query_ms


def test_the_shipped_config_holds_no_catalog_words_the_language_holds_shoppers_words(flipkart):
    """The default config's synonym table is empty (a user's to fill) and its soft facet is the colour concept, not
    a catalog's attribute names; "gents" and "ladies" are English (language/data/en/facets.toml)."""
    default = tomllib.loads((Path(__file__).parents[1] / "configs" / "default.toml").read_text())
    assert default["search"]["synonyms"] == {} and default["search"]["relax_first"] == ["color"]
    assert flipkart.understand("ladies").describe() == "Ideal For=Women"
    understood = QueryUnderstanding(flipkart.vocabulary, {"ladies": "Girls"}).understand("ladies")
    assert understood.describe() == "Ideal For=Girls"  # the config's word wins over the language's


def test_a_concept_in_relax_first_softens_every_attribute_it_designates(flipkart, myntra):
    """The default's "color" is the colour concept (language/data/en/fields.toml): "Color", "Strap Color" and
    Myntra's "baseColour" alike; another entry is a facet name, matched whole."""
    def soft(understanding, relax_first, query):
        relaxed = QueryUnderstanding(understanding.vocabulary, {}, relax_first).understand(query)
        return [(c.facet.removeprefix("attributes."), c.soft) for c in relaxed.constraints]

    assert soft(flipkart, ("color",), "black steel watch for men") == [
        ("Color", True), ("Strap Color", True), ("category", False), ("Ideal For", False)]
    assert soft(flipkart, ("Strap Color",), "black steel watch for men") == [
        ("Color", False), ("Strap Color", True), ("category", False), ("Ideal For", False)]
    assert soft(myntra, ("color",), "beige flats for women") == [
        ("baseColour", True), ("articleType", False), ("gender", False)]


def test_the_boost_finds_what_satisfies_the_query_below_every_fields_first_k(tmp_path, default_embedders):
    """298 Myntra items: the 14 women's "Scullers For Her ... Shirts" (BM25's first picks for "black shirts for men"),
    274 black men's T-shirts (MiniLM's) and 10 black men's shirts, which neither field ranks in its first 5."""
    require_shared_data()
    with open(MYNTRA / "products.jsonl", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    kind = {r["id"]: (r["attributes"].get("baseColour"), r["attributes"].get("articleType"), r["attributes"]["gender"])
            for r in rows}
    her = [r for r in rows if "For Her" in r["title"] and kind[r["id"]][1] == "Shirts"]
    tees = [r for r in rows if kind[r["id"]] == ("Black", "Tshirts", "Men")]
    shirts = [r for r in rows if kind[r["id"]] == ("Black", "Shirts", "Men")][:10]
    catalog = tmp_path / "products.jsonl"
    catalog.write_text("".join(json.dumps({**r, "image": None}) + "\n" for r in her + tees + shirts))
    # RRF: rank fusion alone keeps the shirts out of the first 5 (relative fusion already lifts some: BM25's
    # scores for "shirt" separate them from the T-shirts), so the boost is what brings them.
    config = load_config(None, [f"store.db={json.dumps(str(tmp_path / 'boost.db'))}", 'search.fusion="rrf"'])
    ingest(catalog, config, progress=False, embedders=default_embedders)
    retriever = ProductRetriever.from_config(config)
    try:
        plain = retriever.invoke(ProductQuery(text="black shirts for men", k=5, understand="off"))
        boosted = retriever.invoke(ProductQuery(text="black shirts for men", k=5))
    finally:
        retriever.close()
    assert not any(kind[d.metadata["id"]] == ("Black", "Shirts", "Men") for d in plain)
    assert [kind[d.metadata["id"]] for d in boosted] == [("Black", "Shirts", "Men")] * 5
    assert all("understood" in d.metadata["ranks"] for d in boosted)  # each one from the understood list


def test_products_missing_only_a_soft_constraint_rank_next(tmp_path, default_embedders):
    """Myntra has 4 beige women's flats. After them, "beige flats for women" ranks women's flats in other colours
    (colour is what a shopper gives up first, `[search] relax_first`), not the beige heels, handbags and casual
    shoes for women that the words "beige" and "women" pull up; with `relax_first = []` those fill the places."""
    require_shared_data()
    with open(MYNTRA / "products.jsonl", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]

    def kind(r):
        return r["attributes"].get("baseColour"), r["attributes"].get("articleType"), r["attributes"]["gender"]

    flats = [r for r in rows if kind(r)[1:] == ("Flats", "Women")]
    beige_flats = [r for r in flats if kind(r)[0] == "Beige"]
    other_flats = [r for r in flats if kind(r)[0] != "Beige"][:20]
    beige_other = [r for r in rows if kind(r)[0] == "Beige" and kind(r)[2] == "Women" and kind(r)[1] in
                   ("Heels", "Handbags", "Casual Shoes")]
    catalog = tmp_path / "products.jsonl"
    chosen = beige_flats + other_flats + beige_other
    catalog.write_text("".join(json.dumps({**r, "image": None}) + "\n" for r in chosen))
    by_id = {r["id"]: kind(r) for r in chosen}
    # RRF, where the contrast shows: relative fusion already ranks the other flats next on BM25's scores for
    # "flats", relax_first or not.
    config = load_config(None, [f"store.db={json.dumps(str(tmp_path / 'soft.db'))}", 'search.fusion="rrf"'])
    ingest(catalog, config, progress=False, embedders=default_embedders)
    ranked = {}
    for relax_first in (config.search.relax_first, ()):
        retriever = ProductRetriever.from_config(
            config.model_copy(update={"search": config.search.model_copy(update={"relax_first": relax_first})}))
        try:
            ranked[relax_first] = [by_id[d.metadata["id"]] for d in retriever.invoke("beige flats for women")]
        finally:
            retriever.close()
    soft, none = ranked[config.search.relax_first], ranked[()]
    assert len(beige_flats) == 4 and soft[:4] == [("Beige", "Flats", "Women")] * 4
    assert len(soft) == 10 and all(k[1:] == ("Flats", "Women") and k[0] != "Beige" for k in soft[4:])
    assert none[:4] == soft[:4] and none[4:] == [("Beige", "Heels", "Women")] * 6


def test_soft_constraints_are_dropped_first_when_nothing_matches(myntra):
    soft = QueryUnderstanding(myntra.vocabulary, {}, ("baseColour",))
    understood = soft.understand("beige flats for women")
    assert [(c.facet, c.soft) for c in understood.constraints] == [
        ("attributes.baseColour", True), ("attributes.articleType", False), ("attributes.gender", False)]
    assert understood.loosest().facet == "attributes.baseColour"
    assert understood.without(understood.loosest()).loosest().facet == "attributes.gender"  # then the last named
    flat = {"attributes": {"baseColour": "Black", "articleType": "Flats", "gender": "Women"}}
    assert understood.tier({"attributes": {**flat["attributes"], "baseColour": "Beige"}}) == 0
    assert understood.tier(flat) == 1
    assert understood.tier({"attributes": {**flat["attributes"], "gender": "Men"}}) is None
    # A query of soft constraints alone boosts nothing beyond what satisfies it.
    assert soft.understand("beige").tier(flat) is None
    with pytest.raises(ConfigError, match="search.relax_first must be a list of facet names"):
        load_config(None, ['search.relax_first="colour"'])


def test_the_boost_costs_no_search_while_the_candidates_hold_k_matches(tmp_path, default_embedders):
    """36 sample products, 6 of them mugs: every product is a candidate, so "mugs" with k=3 draws its understood
    list from BM25's candidates (two searches, no filtered one); with k=8 they hold too few, and BM25 is searched
    once more under the boost's filter."""
    from multimodal_rag.catalog.sample import make_sample_catalog

    config = load_config(None, [f"store.db={json.dumps(str(tmp_path / 'store.db'))}"])
    ingest(make_sample_catalog(tmp_path / "sample"), config, progress=False, embedders=default_embedders)
    retriever = ProductRetriever.from_config(config)
    calls = []
    client = retriever.searcher.store.client
    original = client.search

    def counting(*args, **kwargs):
        calls.append((kwargs["anns_field"], bool(kwargs["filter"])))
        return original(*args, **kwargs)

    client.search = counting
    try:
        three = retriever.invoke("mugs", k=3)
        searched_for_three, calls[:] = sorted(calls), []
        eight = retriever.invoke("mugs", k=8)
    finally:
        client.search = original
        retriever.close()
    assert searched_for_three == [("sparse", False), ("text_vec", False)]
    assert sorted(calls) == [("sparse", False), ("sparse", True), ("text_vec", False)]
    assert [d.metadata["category"] for d in three] == ["Home > Kitchen > Mugs"] * 3
    assert [d.metadata["category"] for d in eight[:6]] == ["Home > Kitchen > Mugs"] * 6
    assert all("understood" in d.metadata["ranks"] for d in three + eight[:6])
