"""The field a question asks, read from the catalog's own vocabulary in a catalog the wordings data never saw.

The catalog is built here: fields ``season``, ``usage``, ``occasion`` and ``fit`` that no concept of
``language/data/en/fields.toml`` names, and whose questions use wordings that table gives to other fields
("suited to", "meant for" are ideal-for phrases there).
"""

from __future__ import annotations

import pytest

from multimodal_rag.catalog.facets import FacetVocabulary
from multimodal_rag.qa.clauses import asking_clause
from multimodal_rag.qa.fields import FieldResolver, asked_noun, field_questions
from multimodal_rag.qa.lookup import lookup
from multimodal_rag.words import tokens

SEASONS = ["Summer", "Winter", "Spring", "Fall"]
USAGES = ["Casual", "Formal", "Sports"]
OCCASIONS = ["Wedding", "Office", "Party"]
FITS = ["Slim", "Regular", "Loose"]
KINDS = ["Jacket", "Blazer", "Hoodie", "Kurta", "Trousers", "Sneakers"]
BRANDS = ["Northwind", "Altamira", "Kestrel"]


def _catalog() -> list[dict]:
    rows = []
    for i in range(36):
        kind, brand = KINDS[i % len(KINDS)], BRANDS[i % len(BRANDS)]
        rows.append({"id": f"p{i}", "title": f"{brand} {kind} {i}", "brand": brand, "category": "Apparel",
                     "price": 100.0 + i,
                     "attributes": {"season": SEASONS[i % 4], "usage": USAGES[i % 3], "occasion": OCCASIONS[i % 3],
                                    "fit": FITS[(i // 3) % 3]}})
    return rows


def _resolver(default_embedders) -> FieldResolver:
    text_embedder = default_embedders["text"]
    return FieldResolver(embed=lambda texts: text_embedder.encode_texts(texts, query=True))


def _assert_reads(question: str, field: str, how: str, resolver: FieldResolver) -> None:
    """The question, about the catalog's first product (the catalog with a gender besides, which the phrases of
    relation read: "meant for", "suits"), reads ``field`` by ``how``, and its value is that product's."""
    rows = [dict(r, attributes={**r["attributes"], "gender": ("Men", "Women")[i % 2]})
            for i, r in enumerate(_catalog())]
    product = rows[0]
    look = lookup(question, [product], resolver, FacetVocabulary.from_products(rows))
    assert (look.field.name, look.field.how) == (field, how)
    assert [f.value for f in look.facts] == [product["attributes"].get(field, product.get(field))]


@pytest.fixture(scope="module")
def catalog():
    rows = _catalog()
    return {r["title"]: r for r in rows}, FacetVocabulary.from_products(rows)


@pytest.mark.parametrize("question, field, how", [
    ("Which season is the Northwind Jacket 0 suited to?", "season", "name"),
    ("Northwind Jacket 0 - what usage is it made for?", "usage", "name"),
    ("What occasion is the Northwind Jacket 0 meant for?", "occasion", "name"),
    ("How is the fit of the Northwind Jacket 0?", "fit", "name"),
    ("Is the Northwind Jacket 0 meant for spring, summer, fall or winter?", "season", "offered"),
    ("Is the Northwind Jacket 0 for casual, formal or sports wear?", "usage", "offered"),
    ("Northwind Jacket 0: slim, regular or loose?", "fit", "offered"),
])
def test_a_field_named_or_offered_by_the_catalog_is_read_before_the_wordings_table(catalog, question, field, how):
    by_title, vocabulary = catalog
    product = by_title["Northwind Jacket 0"]
    look = lookup(question, [product], FieldResolver(), vocabulary)
    assert (look.field.name, look.field.how) == (field, how)
    assert [(f.product_id, f.value) for f in look.facts] == [("p0", product["attributes"][field])]


def test_values_near_the_question_words_name_a_field_the_question_does_not_name(catalog, default_embedders):
    """No name, no value, no phrase of the table: "cold months", "warm weather" are nearest to catalog seasons."""
    by_title, vocabulary = catalog
    text_embedder = default_embedders["text"]
    resolver = FieldResolver(embed=lambda texts: text_embedder.encode_texts(texts, query=True))
    product = by_title["Kestrel Hoodie 2"]
    look = lookup("Can I wear the Kestrel Hoodie 2 in the cold months, or is it for warm weather?", [product],
                  resolver, vocabulary)
    assert (look.field.name, look.field.how) == ("season", "offered")  # the answers it offers are near seasons
    assert [f.value for f in look.facts] == ["Spring"]


@pytest.mark.parametrize("question, field, catalog_asked", [
    # no word of the wordings table, no name of the catalog's fields: the nearest question generated from them
    ("Could I wear the Northwind Jacket 0 to a wedding?", "occasion", False),
    ("Would the Northwind Jacket 0 do for the gym?", "usage", False),
    # nearer a question that asks the catalog, or an opinion, than any field's: none
    ("Do you have the Northwind Jacket 0 in stock?", None, True),
    ("Is the Northwind Jacket 0 nice for a walk?", None, False),
    # a gender asked of a catalog that lists none reads no field of it
    ("Northwind Jacket 0: for him or for her?", None, False),
])
def test_a_question_is_read_as_the_nearest_question_generated_from_the_catalogs_fields(
        catalog, default_embedders, question, field, catalog_asked):
    by_title, vocabulary = catalog
    text_embedder = default_embedders["text"]
    resolver = FieldResolver(embed=lambda texts: text_embedder.encode_texts(texts, query=True))
    product = by_title["Northwind Jacket 0"]
    look = lookup(question, [product], resolver, vocabulary)
    assert (look.field and (look.field.name, look.field.how), look.catalog) == (
        field and (field, "embedding"), catalog_asked)
    assert [f.value for f in look.facts] == ([product["attributes"][field]] if field else [])


@pytest.mark.parametrize("question, product_id, field, how", [
    # "year" said in passing ("time of the year"): Myntra's generated season questions are nearer than its year's
    ("Which time of the year suits ADIDAS Unisex Star Blue Backpack best?", "m5858", "season", "embedding"),
    ("Which time of the year suits Levi's Men Stripes Brown Tshirts best?", "m16421", "season", "embedding"),
    # the year asked: its name stands
    ("What year is ADIDAS Unisex Star Blue Backpack from?", "m5858", "year", "name"),
])
def test_a_one_word_name_said_in_passing_yields_to_the_field_the_generated_questions_read(
        default_embedders, question, product_id, field, how):
    """On a real catalog (myntra_dev: season and year), a one-word name is loose evidence; the questions generated
    from the catalog's fields decide."""
    import json

    from tests.conftest import MYNTRA, require_shared_data

    require_shared_data()
    with open(MYNTRA / "products.jsonl", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    product = next(r for r in rows if r["id"] == product_id)
    text_embedder = default_embedders["text"]
    resolver = FieldResolver(embed=lambda texts: text_embedder.encode_texts(texts, query=True))
    look = lookup(question, [product], resolver, FacetVocabulary.from_products(rows))
    assert (look.field.name, look.field.how) == (field, how)
    assert [f.value for f in look.facts] == [product["attributes"][field]]


@pytest.mark.parametrize("question, field, how", [
    # a phrase of relation reads whom a product is for, unless what it is said of is another field's value
    ("Is the Northwind Jacket 0 meant for sports?", "usage", "offered"),
    ("Is the Northwind Jacket 0 made for the summer months?", "season", "offered"),
    ("Is the Northwind Jacket 0 meant for women?", "gender", "synonym"),
    ("Who is the Northwind Jacket 0 meant for?", "gender", "synonym"),
    # a core field's phrase is specific: "fall under" asks the category, though Fall is a season
    ("What category does the Northwind Jacket 0 fall under?", "category", "synonym"),
])
def test_what_a_relation_is_said_of_names_the_field(question, field, how):
    _assert_reads(question, field, how, FieldResolver())


def test_what_a_relation_is_said_of_reads_the_field_though_the_name_holds_the_word_too():
    rows = [{"id": f"s{i}", "title": f"Kestrel Runner Sports Shoes {i}", "brand": "Kestrel", "category": "Footwear",
             "attributes": {"usage": USAGES[i % 3], "gender": ("Men", "Women")[i % 2]}} for i in range(6)]
    look = lookup("Is the Kestrel Runner Shoes 1 meant for sports?", rows[1:2], FieldResolver(),
                  FacetVocabulary.from_products(rows))
    assert (look.field.name, look.field.how, [f.value for f in look.facts]) == ("usage", "offered", ["Formal"])


@pytest.mark.parametrize("question, field, value", [
    # values of one field said outside the name, which other retrieved products hold: the answers offered
    ("Is the Northwind Jacket a winter piece or a summer one?", "season", "Summer"),
    ("Is the Northwind Jacket for formal or sports use?", "usage", "Casual"),
    ("Northwind Jacket 0 - wedding or party?", "occasion", "Wedding"),
    # a field's name listed among the answers is one of them, not that field asked
    ("Northwind Jacket 0 - summer, winter, or any occasion?", "season", "Summer"),
])
def test_values_offered_that_other_products_hold_do_not_hide_the_product_named(catalog, question, field, value):
    by_title, vocabulary = catalog
    retrieved = [by_title[t] for t in ("Northwind Jacket 0", "Altamira Blazer 1", "Kestrel Hoodie 2")]
    look = lookup(question, retrieved, FieldResolver(), vocabulary)
    assert (look.field.name, look.field.how) == (field, "offered")
    assert [(f.product_id, f.value) for f in look.facts] == [("p0", value)]


def test_a_leftover_word_names_a_twin_only_when_that_product_holds_the_name_too():
    """"lining" of "What season is the Northwind Jacket lining for?" is held by another retrieved product, a print
    no word of the name names: the jacket is still named. A twin jacket that holds "lining" is named instead."""
    def product(i: int, title: str, season: str) -> dict:
        return {"id": f"t{i}", "title": title, "brand": title.split()[0], "category": "Apparel",
                "attributes": {"season": season}}

    jacket = product(0, "Northwind Quilted Jacket", "Winter")
    printed = product(1, "Altamira Floral Lining Print", "Summer")
    twin = product(2, "Northwind Quilted Jacket Lining Edition", "Fall")
    vocabulary = FacetVocabulary.from_products([jacket, printed, twin])
    question = "What season is the Northwind Jacket lining for?"
    look = lookup(question, [jacket, printed], FieldResolver(), vocabulary)
    assert [(f.product_id, f.value) for f in look.facts] == [("t0", "Winter")]
    look = lookup(question, [jacket, printed, twin], FieldResolver(), vocabulary)
    assert [(f.product_id, f.value) for f in look.facts] == [("t2", "Fall")]


def test_a_question_offering_a_fields_values_asks_it_though_no_product_retrieved_is_named(catalog):
    """The field is read without the product, so the chain looks for the product again by its name's words and
    the answer can say the catalog lacks it."""
    by_title, vocabulary = catalog
    look = lookup("Is the Zephyr Raincoat for summer or winter?", [by_title["Altamira Blazer 1"]], FieldResolver(),
                  vocabulary)
    assert (look.field.name, look.field.how, look.facts, look.naming) == ("season", "offered", (), "zephyr raincoat")


def test_a_question_to_the_catalog_names_no_product_by_a_word_of_a_value():
    """"does your shop carry Unique Design showpieces?" retrieves one Unique Design showpiece: "shop" is a word of
    the brand "Shop Rajasthan", no answer the question offers, so no product is named."""
    brands = ["Unique Design", "Shop Rajasthan", "Craftvatika"]
    rows = [{"id": f"b{i}", "title": f"{brands[i % 3]} {kind} Showpiece - {10 + i} cm", "brand": brands[i % 3],
             "category": "Home Decor > Showpieces", "attributes": {"Brand": brands[i % 3]}}
            for i, kind in enumerate(["Mobile Stand", "Camel", "Elephant", "Buddha", "Ganesha", "Horse"] * 2)]
    look = lookup("does your shop carry Unique Design showpieces?", rows[:1], FieldResolver(),
                  FacetVocabulary.from_products(rows))
    assert (look.field, look.facts) == (None, ())


def test_a_value_said_with_another_field_asked_still_names_a_twin(catalog):
    """"winter" beside another field asked ("fit") is a twin's word, not an answer offered: the summer jacket
    retrieved, named by a short name, is not the one asked about."""
    by_title, vocabulary = catalog
    retrieved = [by_title[t] for t in ("Northwind Jacket 0", "Altamira Blazer 1")]
    look = lookup("How is the fit of the winter Northwind Jacket?", retrieved, FieldResolver(), vocabulary)
    assert (look.field.name, look.facts) == ("fit", ())


@pytest.mark.parametrize("question, field, how", [
    # what the relation is said of names another field in other words than its own: by the embedder
    ("What sort of use is the Northwind Jacket 0 made for?", "usage", "embedding"),
    ("Which time of the year is the Northwind Jacket 0 made for?", "season", "embedding"),
    # nothing said of it but whom: the relation's own field
    ("Is the Northwind Jacket 0 made for my wife?", "gender", "synonym"),
])
def test_what_a_relation_is_said_of_names_a_field_in_other_words(default_embedders, question, field, how):
    _assert_reads(question, field, how, _resolver(default_embedders))


def test_a_time_asked_reads_the_one_field_whose_values_are_years_or_dates():
    """No wording names "Launch Year", no embedder: "when" asks a time, answered by the field whose catalog values
    all read as years; with two such fields the question does not say which."""
    rows = [dict(r, attributes={**r["attributes"], "Launch Year": str(2010 + i % 5)}) for i, r in enumerate(_catalog())]
    question = "When did the Northwind Jacket 0 come out?"
    look = lookup(question, [rows[0]], FieldResolver(), FacetVocabulary.from_products(rows))
    assert (look.field.name, look.field.how, [f.value for f in look.facts]) == ("Launch Year", "synonym", ["2010"])
    dated = [dict(r, attributes={**r["attributes"], "Restocked": "2024-05-01"}) for r in rows]
    assert lookup(question, [dated[0]], FieldResolver(), FacetVocabulary.from_products(dated)).field is None


def test_a_time_asked_reads_the_date_field_before_the_nearest_generated_question(default_embedders):
    """With the embedder, a time asked in words no generated question is near ("added to the catalogue") reads the
    date field rather than whichever generated question is nearest."""
    rows = [dict(r, attributes={**r["attributes"], "Launch Year": str(2010 + i % 5)}) for i, r in enumerate(_catalog())]
    resolver, vocabulary = _resolver(default_embedders), FacetVocabulary.from_products(rows)
    look = lookup("When was the Northwind Jacket 0 added to the catalogue?", [rows[0]], resolver, vocabulary)
    assert (look.field.name, look.field.how, [f.value for f in look.facts]) == ("Launch Year", "synonym", ["2010"])
    # "when" that asks nothing (the question asks with "would") is no time asked: snow and warmth read the season
    look = lookup("Would the Northwind Jacket 0 keep me warm when it snows?", [rows[0]], resolver, vocabulary)
    assert (look.field.name, look.field.how) == ("season", "embedding")


def test_a_synonym_of_a_field_the_product_holds_comes_before_one_it_lacks():
    """"Describe the colour of X" says a description's phrase first and a colour's second: of a product with no
    description it asks the colour; a product with no colour is asked its description, which the answer can say is
    not listed."""
    rows = [dict(r, attributes={**r["attributes"], "baseColour": ("Navy", "Olive")[i % 2]})
            for i, r in enumerate(_catalog())]
    vocabulary = FacetVocabulary.from_products(rows)
    look = lookup("Describe the colour of the Northwind Jacket 0.", [rows[0]], FieldResolver(), vocabulary)
    assert (look.field.name, look.field.how, [f.value for f in look.facts]) == ("baseColour", "synonym", ["Navy"])
    look = lookup("Describe the Northwind Jacket 0.", [rows[0]], FieldResolver(), vocabulary)
    assert (look.field.name, [f.value for f in look.facts]) == ("description", [None])


@pytest.mark.parametrize("question", ["Northwind Jacket 0 ladies or gents",
                                      "is the Northwind Jacket 0 for ladies or gents?"])
def test_a_choice_between_shoppers_words_for_a_fields_values_asks_that_field(question):
    """"ladies" and "gents" are shoppers' words for the catalog's "Women" and "Men" (facets.toml): offered, they name
    no product and ask the gender, with no question mark or asking word, and no embedder."""
    _assert_reads(question, "gender", "offered", FieldResolver())


def test_a_question_no_rule_reads_asks_a_field_the_product_holds(catalog, default_embedders):
    """The questions generated for the core fields are only those of the fields the product holds: "what can you
    tell me of X" asks its description where it has one, else what it is (its category: it says nothing else),
    never an absent field the answer could only say is missing."""
    by_title, vocabulary = catalog
    text_embedder = default_embedders["text"]
    resolver = FieldResolver(embed=lambda texts: text_embedder.encode_texts(texts, query=True))
    product = by_title["Northwind Jacket 0"]
    question = "What can you tell me of the Northwind Jacket 0?"
    look = lookup(question, [product], resolver, vocabulary)
    assert (look.field.name, look.field.how, [f.value for f in look.facts]) == ("category", "identity", ["Apparel"])
    described = dict(product, description="A warm quilted jacket for city walks.")
    look = lookup(question, [described], resolver, vocabulary)
    assert (look.field.name, [f.value for f in look.facts]) == ("description", [described["description"]])


def test_field_questions_are_generated_from_the_shapes_with_the_commonest_values():
    questions = field_questions("baseColour", {"Black": 9, "Blue": 7, "Red": 5, "Teal": 1, "2012": 8})
    assert "which base colour is it?" in questions
    assert {"is it black or blue?", "is it red or teal?", "is it black, blue or red?"} <= set(questions)
    # a one-value shape takes the three commonest values only
    assert [q for q in questions if q.startswith("is it for ") and " or " not in q] == [
        "is it for black?", "is it for blue?", "is it for red?"]
    assert not any("2012" in q for q in questions)  # a number is no category


def test_the_core_fields_keep_their_wordings(catalog):
    by_title, vocabulary = catalog
    product = by_title["Altamira Blazer 1"]
    look = lookup("How much does the Altamira Blazer 1 cost?", [product], FieldResolver(), vocabulary)
    assert (look.field.name, [f.value for f in look.facts]) == ("price", ["101"])


def test_the_words_after_a_name_an_inverted_verb_leads_are_the_predicates():
    """"does X fall under": the verb before the subject makes the words after the product's name the question's
    verb, so "fall", a season besides, names no twin of another season (the name said whole among as many other
    words does not name the product alone). Before the name, or after it where "is" leads, it does."""
    rows = _catalog()
    product, vocabulary = rows[0], FacetVocabulary.from_products(rows)
    assert product["attributes"]["season"] == "Summer"
    look = lookup("Sorry if this is obvious, but what category does the Northwind Jacket 0 fall under?", [product],
                  FieldResolver(), vocabulary)
    assert (look.named, look.field.name, [f.value for f in look.facts]) == ((1,), "category", ["Apparel"])
    # before the name, or after it where "is" leads (no verb follows its subject), a twin's word
    for question in ("Sorry if this is obvious, but what category does the fall Northwind Jacket 0 come under?",
                     "Sorry if this is obvious, but what category is the Northwind Jacket 0 fall edition under?"):
        look = lookup(question, [product], FieldResolver(), vocabulary)
        assert (look.named, look.facts) == ((), ()), question


def test_twins_are_one_product_named_though_their_title_states_the_asked_value():
    """Products listed under one title ("Revv Men Steel Ring", seven of them) are one product named: the question
    asks their field, though the title states its value, rather than what the catalog has of that value."""
    from multimodal_rag.qa.steps import asks_the_catalog
    from multimodal_rag.retrieval.understanding import QueryUnderstanding

    rings = [{"id": f"r{i}", "title": "Revv Men Steel Ring", "category": "Accessories > Ring",
              "attributes": {"gender": "Men", "baseColour": "Steel"}} for i in range(3)]
    others = [{"id": f"o{i}", "title": f"Revv Men {colour} Ring", "category": "Accessories > Ring",
               "attributes": {"gender": "Men", "baseColour": colour}} for i, colour in enumerate(["Gold", "Silver"])]
    vocabulary = FacetVocabulary.from_products(rings + others)
    understanding = QueryUnderstanding(vocabulary, {})
    question = "Which colour is the Revv Men Steel Ring?"
    look = lookup(question, rings + others, FieldResolver(), vocabulary)
    assert [(f.product_id, f.value) for f in look.facts] == [("r0", "Steel"), ("r1", "Steel"), ("r2", "Steel")]
    assert not asks_the_catalog(look, understanding.understand(question))


def test_a_yes_no_question_is_read_by_its_question_mark(default_embedders):
    """"X: for him or for her?" holds no asking word; its question mark makes it a question all the same."""
    rows = [{"id": f"g{i}", "title": f"Kestrel Parka {i}", "category": "Apparel",
             "attributes": {"gender": ["Men", "Women"][i % 2], "fit": FITS[i % 3]}} for i in range(6)]
    vocabulary = FacetVocabulary.from_products(rows)
    text_embedder = default_embedders["text"]
    resolver = FieldResolver(embed=lambda texts: text_embedder.encode_texts(texts, query=True))
    asked = lookup("Kestrel Parka 1: for him or for her?", rows[1:2], resolver, vocabulary)
    assert (asked.field.name, [f.value for f in asked.facts]) == ("gender", ["Women"])
    assert lookup("Kestrel Parka 1 for him or for her", rows[1:2], resolver, vocabulary).field is None


def test_the_answers_offered_are_read_past_their_articles(catalog):
    """"the gym or a party": the words next to "or" are articles; the answers are the words beyond them. "Party" is
    a catalog occasion, so the question asks the occasion (and names the jacket: the offered words are no twin's)."""
    by_title, vocabulary = catalog
    look = lookup("Is the Northwind Jacket 0 meant for the gym or a party?", [by_title["Northwind Jacket 0"]],
                  FieldResolver(), vocabulary)
    assert (look.field.name, look.field.how) == ("occasion", "offered")
    assert [(f.product_id, f.value) for f in look.facts] == [("p0", "Wedding")]


@pytest.mark.parametrize("question, field, how", [
    # no catalog value offered: "gym" is nearest to "Sports", a usage, so "suit" does not read whom it is for
    ("Would the Northwind Jacket 0 suit the gym or the beach?", "usage", "offered"),
    # no rule reads it: answers offered near one field's values ("tight", "baggy": fits)
    ("Is the Northwind Jacket 0 tight or baggy?", "fit", "offered"),
    # a value of the field the phrase reads is offered: the reading stands
    ("Would the Northwind Jacket 0 suit men or women?", "gender", "offered"),
])
def test_answers_offered_near_another_fields_values_overrule_a_phrase_of_relation(default_embedders, question, field,
                                                                                  how):
    _assert_reads(question, field, how, _resolver(default_embedders))


def test_answers_offered_overrule_what_a_relation_is_said_of_read_by_the_field_names(default_embedders):
    # "months" is nearer to the name "year" than to "season", but the answers offered ("chilly", "the warmer
    # months") are nearest to "Winter": the choice the question offers says what it asks.
    rows = [dict(r, attributes={**r["attributes"], "year": str(2011 + i % 3)}) for i, r in enumerate(_catalog())]
    question = "Is the Northwind Jacket 0 meant for layering up when it gets chilly, or for the warmer months?"
    look = lookup(question, [rows[0]], _resolver(default_embedders), FacetVocabulary.from_products(rows))
    assert (look.field.name, look.field.how, look.field.words) == ("season", "offered", ("chilly", "warmer months"))
    assert [(f.product_id, f.value) for f in look.facts] == [("p0", "Summer")]


def test_a_yes_or_no_question_no_field_is_near_is_answered_with_its_nearest_fields(default_embedders):
    """A need said by its meaning only ("to wear to the office") is near no one field's generated question (below
    0.4): the yes-or-no question is answered with the field the word votes read (the gender: "office" is near a
    gender's phrase) and the product's values of the three fields nearest to it, the asked one (usage) among them.
    A question that asks for a thing named is not answered with the nearest fields."""
    import json

    from langchain_core.documents import Document

    from multimodal_rag.qa.parsing import ParsedQuestion
    from multimodal_rag.qa.schema import QAInput
    from multimodal_rag.qa.steps import Asked, Found
    from tests.conftest import MYNTRA, require_shared_data

    require_shared_data()
    with open(MYNTRA / "products.jsonl", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    product = next(r for r in rows if r["id"] == "m7563")
    resolver, vocabulary = _resolver(default_embedders), FacetVocabulary.from_products(rows)
    question = "need something to wear to the office on monday, would nike men's as spher navy blue t-shirt do?"
    look = lookup(question, [product], resolver, vocabulary)
    assert (look.field.name, look.field.how, look.field.also) == (
        "gender", "embedding", ("articleType", "baseColour", "usage"))
    assert [(f.field, f.value) for f in (*look.facts, *look.also)] == [
        ("gender", "Men"), ("articleType", "Tshirts"), ("baseColour", "Navy Blue"), ("usage", "Sports")]
    asked = Asked(QAInput(question=question), ParsedQuestion(question=question, query=question, intent="field"))
    fixed = Found(asked, [Document(page_content=product["title"], metadata=product)], look).fixed
    assert (fixed.answer, fixed.positions, fixed.grounding) == (
        "The catalog lists for Nike Men's As Spher Navy Blue T-shirt: gender Men; articletype Tshirts; basecolour "
        "Navy Blue; usage Sports [1].", (1,), "lookup")
    opened = lookup("what would nike men's as spher navy blue t-shirt do at the office on monday?", [product],
                    resolver, vocabulary)
    # no n-best for it: "office" is near a phrase of the brand, which no Myntra product lists, and no other field
    assert (opened.field, opened.also) == (None, ())


def test_a_yes_or_no_question_no_word_votes_for_is_read_as_its_nearest_fields(default_embedders):
    """No word of "taking the kids camping" is near enough a field's name, value or phrase to vote: the nearest
    generated question's field is read, how "nearest", and the next two nearest are answered besides; the question
    names a product, so it does not ask the catalog."""
    from multimodal_rag.qa.steps import asks_the_catalog
    from multimodal_rag.retrieval.understanding import QueryUnderstanding

    rows = [dict(r, attributes={**r["attributes"], "gender": ("Men", "Women")[i % 2]})
            for i, r in enumerate(_catalog())]
    look = lookup("Taking the kids camping, would the Northwind Jacket 0 do?", [rows[0]], _resolver(default_embedders),
                  FacetVocabulary.from_products(rows))
    assert (look.field.name, look.field.how, look.field.also) == ("season", "nearest", ("occasion", "usage"))
    assert [(f.field, f.value) for f in (*look.facts, *look.also)] == [
        ("season", "Summer"), ("occasion", "Wedding"), ("usage", "Casual")]
    assert not asks_the_catalog(look, QueryUnderstanding(FacetVocabulary.from_products(rows), {}).understand(
        "Taking the kids camping, would the Northwind Jacket 0 do?"))


@pytest.mark.parametrize("kind_field, question, field, value, catalog_asked", [
    # nothing said but the product: what it is, its kind attribute ("Garment Type" is a type), else its category
    (True, "What exactly is the Northwind Jacket 0?", "Garment Type", "Jacket", False),
    (True, "Tell me what the Northwind Jacket 0 is.", "Garment Type", "Jacket", False),
    (False, "What exactly is the Northwind Jacket 0?", "category", "Apparel", False),
    # as few words, but nearer a question to the catalog or an opinion; or alternatives offered
    (True, "Do you have the Northwind Jacket 0?", None, None, True),
    (True, "How is the Northwind Jacket 0?", None, None, False),
    (True, "Northwind Jacket 0: for him or for her?", None, None, False),
])
def test_a_question_that_says_nothing_but_the_product_asks_what_it_is(default_embedders, kind_field, question, field,
                                                                      value, catalog_asked):
    rows = _catalog()
    if kind_field:
        rows = [dict(r, attributes={**r["attributes"], "Garment Type": KINDS[i % len(KINDS)]})
                for i, r in enumerate(rows)]
    look = lookup(question, [rows[0]], _resolver(default_embedders), FacetVocabulary.from_products(rows))
    assert (look.field and (look.field.name, look.field.how), look.catalog) == (
        field and (field, "identity"), catalog_asked)
    assert [f.value for f in look.facts] == ([value] if field else [])


@pytest.mark.parametrize("question, field, how", [
    # the noun after "what" / "which" is near another field's values than whom a relation reads
    ("What activity is the Northwind Jacket 0 suited for?", "usage", "asked noun"),
    ("Which weather is the Northwind Jacket 0 made for?", "season", "asked noun"),
    # a noun near whom it is for, or none asked: the relation's own field
    ("What kind of person is the Northwind Jacket 0 suited for?", "gender", "synonym"),
    ("Is the Northwind Jacket 0 suited for my wife?", "gender", "synonym"),
])
def test_the_noun_a_question_asks_for_overrules_a_phrase_of_relation(default_embedders, question, field, how):
    _assert_reads(question, field, how, _resolver(default_embedders))


@pytest.mark.parametrize("question, field, how", [
    # "occasion" names no field, and no one value is near it ("Party" at most), but the usage values as a whole are
    ("For what occasion is the Northwind Jacket 0 made?", "usage", "asked noun"),
    ("What occasion is the Northwind Jacket 0 for?", "usage", "asked noun"),
    ("What weather is the Northwind Jacket 0 made for?", "season", "asked noun"),
    # no noun asked: the generated questions read it
    ("What type is the Northwind Jacket 0?", "kind", "embedding"),
])
def test_a_noun_asked_names_the_field_whose_values_are_of_its_kind(default_embedders, question, field, how):
    """A catalog with Myntra's usage values and no "occasion" field: the noun asked reads the field whose values,
    taken together, are the kind of thing it names (before, "made" read the material the catalog does not hold)."""
    rows = _fashion_catalog()
    look = lookup(question, [rows[0]], _resolver(default_embedders), FacetVocabulary.from_products(rows))
    assert (look.field.name, look.field.how) == (field, how)
    assert [f.value for f in look.facts] == [rows[0]["attributes"][field]]


def test_a_core_fields_phrase_votes_only_for_a_field_the_product_holds(default_embedders):
    """No product of the catalog has a price: "work" is near a phrase of the price ("what will it set me back"),
    but what no rule reads asks one of the fields the product holds, the nearest generated questions' (before, the
    price was read and answered as not listed)."""
    rows = _fashion_catalog()
    look = lookup("buying a present for my brother, would the Northwind Jacket 0 work for him?", [rows[0]],
                  _resolver(default_embedders), FacetVocabulary.from_products(rows))
    assert (look.field.name, look.field.how, look.field.also) == ("gender", "nearest", ("usage", "kind"))
    assert [f.value for f in look.facts] == ["Men"]


def test_answers_offered_in_words_no_field_is_near_are_answered_with_the_nearest_fields(default_embedders):
    """"appropriate" or "relaxed days" is near no field's values: a yes or no by its meaning, answered with the
    fields of the nearest generated questions besides the word votes' one (before, the brand alone); answers of
    function words only ("for him or for her?") keep the one reading."""
    rows = _fashion_catalog()
    resolver, vocabulary = _resolver(default_embedders), FacetVocabulary.from_products(rows)
    look = lookup("I have a job interview on Friday. Would the Northwind Jacket 0 be appropriate, or is it more for "
                  "relaxed days?", [rows[0]], resolver, vocabulary)
    assert (look.field.name, look.field.also) == ("brand", ("usage", "season", "gender"))
    assert [(f.field, f.value) for f in look.also] == [("usage", "Casual"), ("season", "Summer"), ("gender", "Men")]
    look = lookup("Northwind Jacket 0: for him or for her?", [rows[0]], resolver, vocabulary)
    assert (look.field.name, look.field.also) == ("gender", ())


@pytest.mark.parametrize("question, answers", [
    ("I have a friend's wedding to attend next week. Is the Northwind Jacket 0 suitable for that kind of occasion, or "
     "is it more for everyday wear?", ("occasion", "everyday wear")),
    ("Is the Northwind Jacket 0 more for a wedding or festival kind of thing, or for daily wear?",
     ("wedding", "festival kind", "daily wear")),
])
def test_answers_offered_of_which_one_alone_is_near_a_field_are_read_by_the_whole_question(default_embedders,
                                                                                          question, answers):
    """"everyday wear" is nearer to the kind "Dresses" than to any usage, and "occasion" near no value: one answer
    alone is thin evidence of what the answers offered together ask, so the generated question nearest to the whole
    question reads it (usage; before, the kind)."""
    rows = [dict(r, attributes={**r["attributes"], "kind": [*KINDS, "Dresses", "Nightwear"][i % 8]})
            for i, r in enumerate(_fashion_catalog())]
    look = lookup(question, [rows[0]], _resolver(default_embedders), FacetVocabulary.from_products(rows))
    assert (look.field.name, look.field.how, look.field.words) == ("usage", "embedding", answers)
    assert [(f.product_id, f.value) for f in look.facts] == [("p0", "Casual")]


def _fashion_catalog() -> list[dict]:
    """Myntra's usage values (no one of them near "occasion"), seasons, a gender and a kind; no price."""
    usages = ["Casual", "Formal", "Sports", "Ethnic", "Party", "Smart Casual", "Travel"]
    return [{"id": f"p{i}", "title": f"Northwind {KINDS[i % 6]} {i}", "brand": "Northwind", "category": "Apparel",
             "attributes": {"gender": ("Men", "Women")[i % 2], "season": SEASONS[i % 4], "usage": usages[i % 7],
                            "kind": KINDS[i % 6]}} for i in range(42)]


def test_the_asked_noun_is_the_run_of_content_words_after_a_determiner():
    words = ["what", "sort", "of", "use", "is", "the", "x", "made", "for"]
    assert asked_noun(words, set(range(len(words))) - {6}) == (3,)
    assert asked_noun(words, {0, 1, 2, 4, 5, 7, 8}) == ()  # the product's name follows: no noun asked
    words = ["which", "season", "collection", "is", "x", "from"]
    assert asked_noun(words, {0, 1, 2, 3, 5}) == (1, 2)
    words = ["what", "style", "of", "use", "is", "x"]
    assert asked_noun(words, {0, 1, 2, 3, 4}) == (1, 3)  # the function words between its words passed over
    words = ["what", "do", "i", "unpack", "from", "x"]
    assert asked_noun(words, {0, 1, 2, 3, 4}) == ()  # "what" is the thing asked itself here
    words = ["which", "type", "would", "x", "be", "listed", "under"]
    assert asked_noun(words, {0, 1, 2, 4, 5, 6}) == (1,)  # a loose word with nothing after it is the noun


@pytest.mark.parametrize("question, field", [
    ("Which item type would the Northwind Jacket 0 be listed under?", "Type"),
    ("What type is the Northwind Jacket 0 listed under?", "Type"),
    # no noun asked: the phrase's own field
    ("Which section is the Northwind Jacket 0 listed under?", "category"),
    ("Where is the Northwind Jacket 0 listed under?", "category"),
])
def test_the_noun_asked_overrules_a_phrase_said_of_it(question, field):
    """A phrase of a field said of the noun asked ("listed under" is the category's) gives way to the field the
    noun names itself (before, the category was read). No embedder."""
    rows = [dict(r, attributes={**r["attributes"], "Type": KINDS[i % len(KINDS)]}) for i, r in enumerate(_catalog())]
    look = lookup(question, [rows[0]], FieldResolver(), FacetVocabulary.from_products(rows))
    assert look.field.name == field
    assert [f.value for f in look.facts] == [rows[0]["attributes"].get(field, rows[0].get(field))]


@pytest.mark.parametrize("question, asked", [
    ("would the Northwind Jacket 0 go with a grey sofa? what colour is it", "what colour is it"),
    ("need to look up reviews for the Northwind Jacket 0, which model is it?", "which model is it"),
    ("trying to match my trousers - what fit is the Northwind Jacket 0 actually?",
     "what fit is the northwind jacket 0 actually"),
    ("is the Northwind Jacket 0 an old design? when did it first show up", "when did it first show up"),
    ("Would the U.S. Polo Assn. Jacket keep me warm when it snows?", None),  # abbreviations end no sentence
    # a full stop ends a clause before one that asks for a thing named, not after an abbreviation
    ("need something to go with my navy trousers.. what colour is the Northwind Jacket 0 exactly?",
     "what colour is the northwind jacket 0 exactly"),
    ("I got the U.S. Polo Assn. Jacket. Which fit is it?", "which fit is it"),
    ("Is the U.S. Polo Assn. Kids Jacket red?", None),
    ("I have a wedding next week. Is the Northwind Jacket 0 formal enough?", None),  # a yes or no keeps its reason
    ("What colour will the Northwind Cotton - Stretch Leggings be when it arrives?", None),  # "when" heads no clause
    ("Is the Northwind Jacket 0 mostly one colour? Which one?", None),        # asks of the clause before
    # "how" heads no clause: a statement after the question says why
    ("which season is the Northwind Jacket 0 for? I wonder how it fits", "which season is the northwind jacket 0 for"),
    ("is the Northwind Jacket 0 under 1,000? which model is it?", "which model is it"),  # a number's comma
    ("Is the Northwind Jacket 0 red, blue, or green?", None),                  # a list runs on commas
    # yes or no: the reason stays
    ("buying a present for my brother, would the Northwind Jacket 0 work for him?", None),
    ("what colour is the Northwind Jacket 0? it must go with my sofa", "what colour is the northwind jacket 0"),
    ("what is the Northwind Jacket 0 made of? want something that lasts", "what is the northwind jacket 0 made of"),
    ("ok but what is the Northwind Jacket 0, a top? shoes? a bag?", None),     # later clauses offer answers
    ("what is the Northwind Jacket 0, a top? shoes? it must be warm", "what is the northwind jacket 0 a top shoes"),
    # a request asks for a thing named as an open asking word does
    ("is the Northwind Jacket 0 a top or a coat? kindly mention the exact type.", "kindly mention the exact type"),
    ("photos look off - could you confirm the colour of the Northwind Jacket 0?",
     "could you confirm the colour of the northwind jacket 0"),
    ("is the Northwind Jacket 0 under 500 or above? please state the exact amount", "please state the exact amount"),
    # an open asking word outranks a request, and "know" tells nothing: a reason after the question
    ("What's the weight of the Northwind Jacket 0? Kindly confirm, it is for shipping abroad.",
     "what's the weight of the northwind jacket 0"),
    ("What's the weight of the Northwind Jacket 0? Need to know for shipping abroad.",
     "what's the weight of the northwind jacket 0"),
    ("Is the Northwind Jacket 0 heavy? Need to know for shipping abroad.", None),  # a yes or no keeps its reason
    ("pls tell me the colour of the Northwind Jacket 0, want it to go with my shoes", None),  # no verb of telling
    ("Indian Art Villa 2.3\" X 6.9\" Bowl 0.7 L - 28 cm, which model is it?", "which model is it"),
])
def test_a_question_in_several_clauses_asks_in_the_last_that_asks_for_a_thing_named(question, asked):
    words = tokens(question)
    clause = asking_clause(question)
    assert (None if clause is None else " ".join(words[i] for i in sorted(clause))) == asked


def test_a_chinese_question_asks_in_its_last_clause_with_an_open_asking_word():
    pytest.importorskip("jieba")
    question = "我想买给我哥哥，这个是什么颜色"
    words = tokens(question)
    assert "".join(words[i] for i in sorted(asking_clause(question))) == "这个是什么颜色"


@pytest.mark.parametrize("question, field, how, value", [
    # the reason names another field by its name ("fit"), the question a price by a synonym
    ("the fit matters to me, what does the Northwind Jacket 0 cost?", "price", "synonym", "100"),
    # the reason holds another value of the product's own season ("winter"), which alone would point at a twin
    ("to go with my winter coat - which fit is the Northwind Jacket 0?", "fit", "name", "Slim"),
])
def test_the_reason_before_a_question_neither_names_the_field_nor_unnames_the_product(catalog, question, field, how,
                                                                                      value):
    """A shopper says why before asking: the field is read in the clause that asks, and the words of the reason,
    said of other things, need not be the product's. No embedder."""
    by_title, vocabulary = catalog
    look = lookup(question, [by_title["Northwind Jacket 0"]], FieldResolver(), vocabulary)
    assert (look.field.name, look.field.how, [f.value for f in look.facts]) == (field, how, [value])


@pytest.mark.parametrize("question, field, how, value", [
    # a request after a question asks in its stead: not the season the first sentence names or offers
    ("Is the Northwind Jacket 0's season right for my trip? Kindly mention its fit.", "fit", "name", "Slim"),
    ("Is the Northwind Jacket 0 a winter or a summer piece? Kindly mention its fit.", "fit", "name", "Slim"),
    ("Is the Northwind Jacket 0 casual or formal? could you confirm the season", "season", "name", "Summer"),
    # a statement after the question says why, of another field
    ("What does the Northwind Jacket 0 cost? the fit matters to me", "price", "synonym", "100"),
])
def test_a_request_asks_and_a_statement_after_the_question_says_why(catalog, question, field, how, value):
    """Where a shopper asks is the last clause an open asking word or a verb of telling leads; a sentence after it
    that states (no question mark) is a reason, as one before is. No embedder."""
    by_title, vocabulary = catalog
    look = lookup(question, [by_title["Northwind Jacket 0"]], FieldResolver(), vocabulary)
    assert (look.field.name, look.field.how, [f.value for f in look.facts]) == (field, how, [value])


@pytest.mark.parametrize("question", ["need reviews for the Northwind Jacket 0, which fit is it?",
                                      "would the Northwind Jacket 0 go with my winter coat? which fit is it"])
def test_the_reason_that_names_the_product_must_name_it_whole(catalog, question):
    """Named in the reason itself, the product is named as anywhere: "Northwind Kurta 3" shares only the brand with
    "Northwind Jacket 0", so it is not the product asked about."""
    by_title, vocabulary = catalog
    look = lookup(question, [by_title["Northwind Kurta 3"]], FieldResolver(), vocabulary)
    assert look.named == () and look.facts == ()


@pytest.mark.parametrize("question, named", [
    # "party", another occasion of the jacket's, is said apart from its name (past a mark of punctuation, a
    # function word): of something else
    ("Which fit is the Northwind Jacket? want to wear it to a party", True),
    ("Which fit is the Northwind Jacket I'd wear to a party?", True),
    # said with its name (a short one: a title said whole names its product whatever else is said), in one run of
    # words: the name of a party jacket the catalog does not have
    ("Which fit is the party Northwind Jacket?", False),
    ("Which fit is the Northwind Jacket party edition?", False),
])
def test_another_value_of_the_products_facet_said_apart_from_its_name_does_not_unname_it(catalog, question, named):
    """A shopper's reason may hold another value of one of the product's own facets ("a gift for my niece" of a
    catalog with the kind "Gift Set", "pair X with jeans"): it unnames the product only when said with its name."""
    by_title, vocabulary = catalog
    look = lookup(question, [by_title["Northwind Jacket 0"]], FieldResolver(), vocabulary)
    assert look.field.name == "fit"
    assert [(f.product_id, f.value) for f in look.facts] == ([("p0", "Slim")] if named else [])


def test_a_leftover_word_said_apart_from_the_name_names_no_twin(catalog):
    """The answers a question offers after its product, past a question mark ("casual, formal, or else?"), are no
    twin's words: the product whose title the question holds whole is named, not the twin that holds "casual"."""
    by_title, vocabulary = catalog
    jacket, twin = by_title["Northwind Jacket 0"], dict(by_title["Northwind Jacket 0"], id="p0b",
                                                        title="Northwind Casual Jacket", attributes={
                                                            **by_title["Northwind Jacket 0"]["attributes"],
                                                            "usage": "Formal"})
    look = lookup("Which fit is the Northwind Jacket 0? casual, formal, something else?", [twin, jacket],
                  FieldResolver(), vocabulary)
    assert [(f.product_id, f.value) for f in look.facts] == [("p0", "Slim")]


def test_a_clause_that_names_no_field_asks_of_the_clause_before(catalog):
    """"Which one is it listed as?" names no field: the answers the clause before offers ("slim, or more of a loose
    one?") say the field; a clause that names one ("what fit is it") reads it, whatever the clause before offers."""
    by_title, vocabulary = catalog
    jacket = by_title["Northwind Jacket 0"]
    look = lookup("Is the Northwind Jacket 0 slim, or more of a loose one? Which one is it listed as?", [jacket],
                  FieldResolver(), vocabulary)
    assert (look.field.name, look.field.how, [f.value for f in look.facts]) == ("fit", "offered", ["Slim"])
    look = lookup("Is the Northwind Jacket 0 for summer, or for winter? What fit is it?", [jacket], FieldResolver(),
                  vocabulary)
    assert (look.field.name, look.field.how, [f.value for f in look.facts]) == ("fit", "name", ["Slim"])
