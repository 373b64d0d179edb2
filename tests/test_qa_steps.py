"""ProductQA's steps, each a Runnable invoked alone on real inputs: parse -> plan -> retrieve -> prompt -> generate
-> guard, the catalog reader over the store, and answers that name what they cite.

Real Milvus Lite with real Flipkart products (``qa_catalog``/``qa_retriever`` from ``test_qa``) and the offline
embedders; the chat model is scripted (it stands in for a hosted model).
"""

import asyncio
import re

import pytest
from langchain_core.documents import Document

from multimodal_rag.qa import ProductQA, QAInput, Turn
from multimodal_rag.qa.citations import miscited, names, sentences, stated_prices
from multimodal_rag.qa.fields import FieldQuestion, FieldResolver
from multimodal_rag.qa.generate import write_step
from multimodal_rag.qa.grounding import GroundingCheck
from multimodal_rag.qa.guards import Draft, Guards, SentenceGate, named_and_priced
from multimodal_rag.qa.lookup import Lookup, format_price
from multimodal_rag.qa.parsing import ParsedQuestion, RulesParser
from multimodal_rag.qa.routes import routes
from multimodal_rag.qa.steps import Asked, Found, parse_step, plan_step, retrieve_step
from multimodal_rag.retrieval import ProductQuery, ProductRetriever
from multimodal_rag.retrieval.catalog import StoreCatalog, product_document
from tests.chat_models import scripted, tool_calling
from tests.conftest import titles_store
from tests.test_qa import INJECTED_ID, flipkart_products, qa_catalog, qa_items, qa_retriever, titled  # noqa: F401

MUG_QUESTION = "a ceramic coffee mug as a birthday gift"


@pytest.fixture(scope="module")
def catalog(qa_retriever):
    return StoreCatalog(qa_retriever.searcher.store)


@pytest.fixture(scope="module")
def steps(qa_retriever, catalog):
    """The steps as ProductQA composes them, built alone."""
    vocabulary = catalog.facets()
    resolver = FieldResolver()
    parser = RulesParser(qa_retriever.understanding, resolver, list(vocabulary.attributes))
    guards = Guards(GroundingCheck(vocabulary.values()), resolver.phrasing)
    return {"parse": parse_step(parser), "plan": plan_step(qa_retriever, 5),
            "retrieve": retrieve_step(qa_retriever, resolver, vocabulary, catalog, 5),
            "routes": {r.name: r for r in routes(guards)}, "guards": guards}


def found_for(steps, question) -> Found:
    return steps["retrieve"].invoke(steps["plan"].invoke(steps["parse"].invoke(question)))


def price_of(doc: Document) -> str:
    return format_price(doc.metadata["price"], doc.metadata.get("currency"))


# -- the catalog reader ------------------------------------------------------------------------------------------------

def test_the_catalog_reader_reads_facets_and_the_cheapest_from_the_store(catalog, qa_catalog, qa_retriever):
    _, rows = qa_catalog
    facets = catalog.facets()
    assert facets == qa_retriever.understanding.vocabulary  # what ingest recorded
    assert "Prestige" in facets.brands and "Aluminium" in facets.attributes["Material"]
    kettles = catalog.cheapest({"category": {"prefix": "Kitchen & Dining > Kettles"}}, 3)
    assert [d.metadata["id"] for d in kettles] == [INJECTED_ID]
    prices = [d.metadata["price"] for d in catalog.cheapest(None, 5)]
    assert prices == sorted(prices) and prices[0] == min(r["price"] for r in rows.values() if r.get("price"))
    dearest = catalog.cheapest(None, 1, descending=True)[0]
    assert dearest.metadata["price"] == max(r["price"] for r in rows.values() if r.get("price"))
    assert dearest.page_content.startswith(dearest.metadata["title"])


# -- parse, plan, retrieve -------------------------------------------------------------------------------------------

def test_parse_reads_a_budget_a_field_and_a_follow_up(steps):
    asked = steps["parse"].invoke("ceramic mugs under 300")
    assert asked.parsed.intent == "budget" and asked.parsed.price_high == 300 and asked.parsed.priced
    item = qa_items()[2]  # the material of the Prestige pressure cooker
    assert steps["parse"].invoke(item["question"]).parsed.intent == "field"
    turn = Turn("a pressure cooker", "Try [1].", [{"title": "Prestige Deluxe Plus"}])
    asked = steps["parse"].invoke(QAInput(question="what is its price?", history=[turn]))
    assert asked.parsed.intent == "follow_up" and asked.parsed.query == "what is Prestige Deluxe Plus's price?"
    with pytest.raises(TypeError, match="a question is a string"):
        steps["parse"].invoke(42)


def test_plan_asks_strictly_for_a_priced_question_and_plainly_otherwise(steps, qa_retriever):
    plan = steps["plan"].invoke(steps["parse"].invoke("ceramic mugs under 300"))
    assert plan.shopping and plan.strict.understand == "filter" and plan.strict.understood is not None
    plan = steps["plan"].invoke(steps["parse"].invoke({"question": MUG_QUESTION, "filters": {"price": {"lt": 400}}}))
    assert not plan.shopping and isinstance(plan.request, ProductQuery)
    assert plan.request.text == MUG_QUESTION and plan.request.filters == {"price": {"lt": 400}}


def test_retrieve_puts_the_named_product_first_with_its_fact(steps, qa_catalog):
    _, rows = qa_catalog
    item = qa_items()[2]
    found = found_for(steps, item["question"])
    assert found.products[0].metadata["id"] == item["product_ids"][0] and len(found.products) <= 5
    assert found.fact.position == 1 and found.fact.value == "Aluminium" and found.fixed is None


def test_retrieve_reads_what_the_catalog_has_instead_when_a_budget_leaves_nothing(steps):
    found = found_for(steps, "electric kettles under 5 INR")
    assert found.shopping is not None and not found.matched
    assert [d.metadata["id"] for d in found.products] == [INJECTED_ID]  # the cheapest kettle, from the catalog
    assert found.fixed.grounding == "shopping" and found.fixed.answer.startswith("No product matches")


@pytest.mark.parametrize("question, product_id, price", [
    ("Is the Prestige Deluxe Plus 10 L Pressure Cooker under 2000 or above that?", None, "2,345 INR"),
    ("my budget is under 1000 rs, does Recon SuperChef Kadhai fit in it?", None, "715 INR"),
    ("Kettlewell Steel Electric Kettle for less than 1500?", INJECTED_ID, "1,899 INR"),
])
def test_a_price_bound_said_of_one_product_named_asks_its_price(steps, question, product_id, price):
    """The bound is said of the product named, not of the catalog: its price is the fact, not a shopping list."""
    found = found_for(steps, question)
    assert found.asked.parsed.intent == "budget"  # the parser cannot know a product is named: retrieve reads it
    assert found.shopping is None and found.fact.field == "price" and found.fact.value == price
    assert found.fact.title.split()[0] in question and found.fact.position == 1
    if product_id is not None:
        assert found.fact.product_id == product_id


@pytest.mark.parametrize("question", ["Prestige pressure cookers under 3000", "ceramic mugs under 300",
                                      "is there a kadhai for less than 1000?",
                                      "I can spend at most ₹2,500 on pressure cookers",
                                      "anything by Elegance in door curtains under 1000?"])
def test_a_price_bound_on_facet_values_alone_stays_a_shopping_question(steps, question):
    """A brand and a kind, or a kind alone, name what the catalog is asked for even where one product's title is
    nearly those words ("Prestige Deluxe Plus 10 L Pressure Cooker", "Recon SuperChef Kadhai")."""
    found = found_for(steps, question)
    assert found.shopping is not None and found.fact is None
    assert found.products and all(d.metadata["price"] < found.asked.parsed.price_high for d in found.products)


def test_a_price_order_in_a_catalog_without_prices_lists_by_relevance_and_says_so(tmp_path, default_embedders):
    """No product has a price: "the cheapest light bulb" lists the bulbs found, as a match, and names no order."""
    titles = ["Philips 60-Watt A19 Incandescent Light Bulb", "Cree 60W Equivalent Soft White LED Light Bulb",
              "Husky 25 ft. Tape Measure", "DEWALT Hammer Drill Kit"]
    retriever = ProductRetriever.from_config(titles_store(tmp_path, titles, default_embedders), k=2)
    try:
        reader = StoreCatalog(retriever.searcher.store)
        resolver = FieldResolver()
        parser = RulesParser(retriever.understanding, resolver, [])
        found = retrieve_step(retriever, resolver, reader.facets(), reader, 2).invoke(
            plan_step(retriever, 2).invoke(parse_step(parser).invoke("what is the cheapest light bulb?")))
    finally:
        retriever.close()
    assert sorted(d.metadata["id"] for d in found.products) == ["p0", "p1"] and found.matched
    assert (found.shopping.sort, found.shopping.unordered) == (None, "asc")


# -- prompt, generate, guard ------------------------------------------------------------------------------------------

def test_the_fact_prompt_shows_only_the_named_product(steps):
    found = found_for(steps, qa_items()[2]["question"])
    prompt = steps["routes"]["fact"].prompt.invoke(found)
    assert list(prompt.given) == [1] and prompt.stop == ["\n"] and not prompt.gated
    text = "\n".join(str(m.content) for m in prompt.messages)
    assert re.findall(r"^\[(\d+)\] <product>", text, re.M) == ["1"] and "Catalog fact: The material of" in text
    open_prompt = steps["routes"]["open"].prompt.invoke(found_for(steps, MUG_QUESTION))
    assert list(open_prompt.given) == [1, 2, 3, 4, 5] and open_prompt.gated


def test_generate_streams_checked_sentences_and_stops_the_model_at_an_unsupported_one(steps):
    prompt = steps["routes"]["open"].prompt.invoke(found_for(steps, MUG_QUESTION))
    first = prompt.products[0]
    model = scripted(lambda p: f"The {first.metadata['title']} is a fine gift [1]. It costs 12,345 INR [1]. More.")
    write = write_step(model, steps["routes"]["open"].guard, steps["guards"])
    events = list(write.stream(prompt))
    assert set(events[0]) == {"query", "products"}
    pieces = [e["answer"] for e in events if "answer" in e]
    assert pieces[0] == f"The {first.metadata['title']} is a fine gift [1]."  # shown before the model finished
    result = events[-1]["result"]
    assert "".join(pieces) == result.answer and "12,345" not in result.answer
    assert (result.grounding, result.written_by) == ("catalog", "chain")
    assert asyncio.run(_collect(write.astream(prompt)))[-1]["result"].model_dump() == result.model_dump()


async def _collect(events):
    return [e async for e in events]


async def _first_then_close(events):
    """As the server reads an answer it stops sending: the first event, then the stream closed."""
    first = await anext(events)
    await events.aclose()
    return first


def test_the_fact_guard_keeps_a_stated_fact_and_replaces_a_garbled_one(steps):
    found = found_for(steps, qa_items()[2]["question"])
    prompt = steps["routes"]["fact"].prompt.invoke(found)
    guard = steps["routes"]["fact"].guard
    title = found.products[0].metadata["title"]
    kept = guard.invoke(Draft(prompt, f"The {title} is made of aluminium [1]."))
    assert (kept.written_by, kept.positions) == ("model", [1])
    # The value is right but the sentence names another product than the one it cites.
    other = next(d for d in found.products[1:] if d.metadata.get("attributes", {}).get("Material") != "Aluminium")
    garbled = guard.invoke(Draft(prompt, f"The {other.metadata['title']} is made of aluminium [1]."))
    assert (garbled.text, garbled.written_by) == (f"The material of {title} is Aluminium [1].", "chain")
    nothing = guard.invoke(Draft(prompt, "It is made of steel [1]."))  # not the fact
    assert nothing.written_by == "chain" and nothing.grounding == "lookup"


def test_the_grounding_guards_refuse_an_invented_number_or_value(steps):
    prompt = steps["routes"]["open"].prompt.invoke(found_for(steps, MUG_QUESTION))
    cards = " ".join(prompt.sources).lower()
    invented = next(v for v in steps["guards"].grounding.values if v.isalpha() and v.lower() not in cards)
    title = prompt.products[0].metadata["title"]
    for claim, unsupported in ((f"It comes in {invented}", "values"), ("It holds 83.17 L", "numbers")):
        gate = steps["guards"].gate(prompt)
        shown = list(gate.feed(f"The {title} is a fine gift [1]. {claim} [1]. ")) + list(gate.close())
        assert shown == [f"The {title} is a fine gift [1]."] and getattr(gate.failed, unsupported)
        answer = steps["routes"]["open"].guard.invoke(Draft(prompt, "", gate.shown, gate.failed))
        assert answer.grounding == "catalog" and claim not in answer.text
    found = found_for(steps, qa_items()[2]["question"])
    fact = steps["routes"]["fact"].prompt.invoke(found)
    title = found.products[0].metadata["title"]
    answer = steps["routes"]["fact"].guard.invoke(Draft(fact, f"The {title} is made of aluminium, 83.17 L [1]."))
    assert answer.written_by == "chain" and "83.17" not in answer.text


def test_the_open_guard_completes_what_the_gate_showed(steps):
    prompt = steps["routes"]["open"].prompt.invoke(found_for(steps, MUG_QUESTION))
    guard = steps["routes"]["open"].guard
    title = prompt.products[1].metadata["title"]
    named = guard.invoke(Draft(prompt, f"Try the {title}.", shown=f"Try the {title}."))
    assert (named.text, named.positions, named.grounding) == (f"Try the {title}. [2]", [2], "llm")
    silent = guard.invoke(Draft(prompt, "", shown=""))
    assert silent.grounding == "catalog" and silent.positions == [1, 2, 3]


# -- answers that name what they cite ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shown():
    by_title = {p["title"]: p for p in flipkart_products().values()}
    titles = ["Prestige Deluxe Plus 10 L Pressure Cooker", "Bergner Kadhai NA L", "Printland PMR1332 Ceramic Mug",
              "Printland PMR1336 Ceramic Mug"]
    return {i: product_document(by_title[t]) for i, t in enumerate(titles, start=1)}


def test_a_citation_names_its_product_by_title_or_an_unambiguous_short_name(shown):
    assert names("The Prestige Deluxe Plus 10 L Pressure Cooker", 1, shown)
    assert names("the Prestige cooker", 1, shown) and names("a blue aluminium kadhai", 2, shown)
    assert not names("the Prestige cooker", 2, shown) and not names("a fine gift", 1, shown)
    assert not names("the cooker", 1, shown) and names("one by Prestige", 1, shown)  # a kind; the brand
    assert names("the Bergner Kadhai NA L and the Prestige Deluxe cooker", 1, shown)
    # "Printland Ceramic Mug" is both twins' short name: it names neither; the whole title names one.
    assert not names("the Printland Ceramic Mug", 3, shown)
    assert names("the Printland PMR1332 Ceramic Mug", 3, shown) and not names("the Printland PMR1332 mug", 4, shown)


def test_a_sentence_citing_1_names_product_1_and_states_its_price(shown):
    cooker, kadhai = shown[1].metadata, shown[2].metadata
    assert miscited(f"The {cooker['title']} costs {price_of(shown[1])} [1].", shown) == []
    assert miscited(f"The {kadhai['title']} is sturdy [1].", shown) == [1]
    assert miscited(f"The Prestige cooker costs {price_of(shown[2])} [1].", shown) == [1]
    assert stated_prices(f"It costs {price_of(shown[2])}.", shown.values()) == [kadhai["price"]]
    composed, replaced = named_and_priced(f"The {kadhai['title']} is sturdy [1].", shown)
    assert replaced and composed == f"{cooker['title']} at {price_of(shown[1])} [1]."
    assert names(composed, 1, shown) and not miscited(composed, shown)


def test_the_gate_replaces_a_sentence_citing_a_product_it_does_not_name(shown):
    gate = SentenceGate(lambda text: GroundingCheck().check(text, [d.page_content for d in shown.values()]), shown)
    cooker, kadhai = shown[1].metadata, shown[2].metadata
    out = list(gate.feed(f"The {kadhai['title']} is a fine pick [1]. The {kadhai['title']} is too [2]. "))
    out += list(gate.close())
    assert out == [f"{cooker['title']} at {price_of(shown[1])} [1].", f" The {kadhai['title']} is too [2]."]
    assert gate.replaced and gate.failed is None


@pytest.mark.parametrize("garble", ["names product 2", "states product 2's price"])
def test_a_garbled_model_answer_is_replaced_by_the_sentence_composed_from_the_facts(qa_retriever, garble):
    def reply(prompt):
        title1, title2 = titled(prompt, 1), titled(prompt, 2)
        price2 = re.search(rf"^\[2\] <product>\n.*\nPrice: ([\d,.]+)", prompt, re.M).group(1)
        if garble == "names product 2":
            return f"The {title2} is a lovely gift [1]."
        return f"The {title1} costs {price2} INR [1]."

    chain = ProductQA(qa_retriever, scripted(reply))
    result = chain.invoke(MUG_QUESTION)
    first, second = result.products[0], result.products[1]
    assert first.metadata["price"] != second.metadata["price"]
    assert result.answer == f"{first.metadata['title']} at {price_of(first)} [1]."
    assert (result.grounding, result.written_by) == ("catalog", "chain")
    assert result.cited_ids == [first.metadata["id"]]


def test_an_answer_citing_1_names_product_1(qa_retriever):
    """Whatever the model writes, each sentence of the answer that cites [n] holds product n's title (the model's
    sentence when it named it, else the composed one) and no price but product n's."""
    replies = ["{2} is a lovely gift [1].", "Try the {1} [1]. The {2} [2] is nice too.", "Buy the mug [1]."]
    chain = ProductQA(qa_retriever, scripted(lambda p: ""))
    for template in replies:
        chain.llm.reply = lambda p, t=template: t.format(None, titled(p, 1), titled(p, 2))
        result = chain.invoke(MUG_QUESTION)
        for sentence in sentences(result.answer, [d.metadata["title"] for d in result.products]):
            for n in map(int, re.findall(r"\[(\d+)\]", sentence)):
                doc = result.products[n - 1]
                assert doc.metadata["title"] in sentence, (template, sentence)
                assert all(p == doc.metadata["price"] for p in stated_prices(sentence, result.products))


# -- the parse step: a chat model's reading -----------------------------------------------------------------------------

TOWEL_ID, TOWEL = "7b72c92c2f6c40268628ec5f14c6d590", "Sathiyas Cotton Bath Towel"


def test_the_field_a_chat_model_reads_is_the_one_answered(qa_retriever, catalog):
    """No rule reads a field of "throw it in with the laundry"; the model's reading names the catalog's own field,
    and the answer states that field of the product named."""
    question = f"Can I just throw the {TOWEL} in with the laundry?"
    rules = ProductQA(qa_retriever, scripted(lambda p: ""), catalog=catalog, vocabulary=catalog.facets(),
                      parser="rules").invoke(question)
    assert rules.field != "machine washable"
    llm = tool_calling(lambda prompt, tool: {"intent": "field", "query": question, "field": "Machine Washable",
                                             "products": [TOWEL]})
    result = ProductQA(qa_retriever, llm, catalog=catalog, vocabulary=catalog.facets()).invoke(question)
    assert "Machine Washable" in llm.tools[0]["function"]["parameters"]["properties"]["field"]["anyOf"][0]["enum"]
    assert (result.field, result.cited_ids, result.grounding) == ("machine washable", [TOWEL_ID], "lookup")
    assert TOWEL in result.answer and "Yes" in result.answer


def test_the_retry_names_the_product_the_parser_read_typos_corrected(steps):
    """A parser that read the product named retries by its words alone, not by the question's leftovers."""
    parsed = ParsedQuestion(question="q", query="q", intent="field", field="Color",
                            mentions=("Sathiyas Coton Bath Towel",))
    missed = Found(Asked(QAInput(question="q"), parsed), [], Lookup(FieldQuestion("Color", "parsed"), naming="it"))
    assert steps["retrieve"].func.naming_query(missed, "q") == "Sathiyas cotton Bath Towel"
    rules = Found(Asked(QAInput(question="q"), parsed.model_copy(update={"mentions": None})), [], missed.look)
    assert steps["retrieve"].func.naming_query(rules, "q") == "it"


def test_the_constraints_a_chat_model_reads_choose_the_products(qa_retriever, catalog):
    """The brand and budget the model read filter the store; a brand it invents is dropped, not searched."""
    question = "anything from that eyelet curtain maker for less than a thousand?"
    llm = tool_calling(lambda prompt, tool: {
        "intent": "budget", "query": "Elegance door curtains", "price_high": 1000,
        "constraints": [{"facet": "brand", "value": "elegance"}, {"facet": "brand", "value": "Curtainly"}]})
    result = ProductQA(qa_retriever, llm, catalog=catalog, vocabulary=catalog.facets()).invoke(question)
    assert result.grounding == "shopping" and result.products
    assert all(d.metadata["brand"] == "Elegance" and d.metadata["price"] <= 1000 for d in result.products)
    assert [c.label for c in result.understood.constraints] == ["brand=Elegance", "price<=1000"]


def test_a_budget_a_chat_model_reads_of_a_product_it_names_asks_that_products_price(qa_retriever, catalog):
    """The model read a bound and the product it is said of: the product's price is the fact, as with the rules."""
    llm = tool_calling(lambda prompt, tool: {
        "intent": "budget", "query": "Recon SuperChef Kadhai under 1000", "price_high": 1000,
        "products": ["Recon SuperChef Kadhai"]}, reply=lambda prompt: "Recon SuperChef Kadhai costs 715 INR [1].")
    result = ProductQA(qa_retriever, llm, catalog=catalog, vocabulary=catalog.facets()).invoke(
        "would the superchef kadhai from recon stay under a thousand?")
    assert (result.grounding, result.field) == ("lookup", "price")
    assert result.products[0].metadata["title"] == "Recon SuperChef Kadhai" and "715 INR [1]" in result.answer


# -- the chain: every call style from one definition -------------------------------------------------------------------

def test_async_gives_the_same_result_and_events_as_sync(qa_retriever, catalog):
    def garbled(prompt):  # cites [1] after another product's title (the only one, in a fact's prompt)
        return f"The {titled(prompt, 2 if '[2] <product>' in prompt else 1)} is a lovely gift [1]."

    chain = ProductQA(qa_retriever, scripted(garbled), catalog=catalog, vocabulary=catalog.facets())
    for question in (MUG_QUESTION, qa_items()[2]["question"], "electric kettles under 5 INR"):
        events = list(chain.stream(question))
        async_events = asyncio.run(_collect(chain.astream(question)))
        assert [sorted(e) for e in async_events] == [sorted(e) for e in events]
        assert async_events[-1]["result"].model_dump() == events[-1]["result"].model_dump()
        assert asyncio.run(chain.ainvoke(question)).model_dump() == chain.invoke(question).model_dump()
        assert "".join(e["answer"] for e in events if "answer" in e) == events[-1]["result"].answer
    assert set(asyncio.run(_first_then_close(chain.astream(MUG_QUESTION)))) == {"query", "products"}
