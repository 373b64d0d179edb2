"""The question parsers behind ``QuestionParser``: a chat model's structured output over the catalog's vocabulary,
and the rules that read what it cannot. The chat model is the one thing mocked (a hosted model that calls tools);
the catalog is the one ``test_field_reading`` builds (fields no wordings table names)."""

from __future__ import annotations

import pytest

from multimodal_rag.catalog.facets import FacetVocabulary
from multimodal_rag.qa.followup import Turn
from multimodal_rag.qa.parsing import ChatModelParser, RulesParser, parser_for
from multimodal_rag.retrieval.understanding import Constraint, QueryUnderstanding
from tests.chat_models import scripted, tool_calling
from tests.test_field_reading import _catalog

QUESTION = "Would the Northwind Jacket 0 see me through a summer under 120?"


@pytest.fixture(scope="module")
def vocabulary():
    return FacetVocabulary.from_products(_catalog())


@pytest.fixture(scope="module")
def rules(vocabulary):
    return RulesParser(QueryUnderstanding(vocabulary, relax_first=["fit"]), attributes=list(vocabulary.attributes))


def reading(**said):
    return {"intent": "field", "query": QUESTION, **said}


def test_the_schema_names_only_the_catalogs_fields_and_facets(vocabulary, rules):
    model = tool_calling(lambda prompt, tool: reading())
    ChatModelParser(model, vocabulary, rules).parse(QUESTION, [])
    schema = model.tools[0]["function"]["parameters"]["properties"]
    assert schema["field"]["anyOf"][0]["enum"] == [
        "price", "brand", "category", "rating", "description", "fit", "occasion", "season", "usage"]
    facet = schema["constraints"]["items"]["properties"]["facet"]
    assert facet["enum"] == ["brand", "category", "season", "usage", "occasion", "fit"]
    # the prompt lists the catalog's values, most common first (ties alphabetical), and the shopper's words last
    assert "- fit: Loose, Regular, Slim" in model.prompts[0]
    assert model.prompts[0].endswith(f"Shopper: {QUESTION}")


def test_a_reading_keeps_catalog_values_as_stored_and_drops_the_rest(vocabulary, rules):
    model = tool_calling(lambda prompt, tool: reading(
        field="season", products=["Northwind Jacket 0", " "], price_high=120, sort="asc",
        constraints=[{"facet": "season", "value": "summer"}, {"facet": "season", "value": "Monsoon"},
                     {"facet": "fit", "value": " slim "}, {"facet": "brand", "value": "Acme"}]))
    parsed = ChatModelParser(model, vocabulary, rules).parse(QUESTION, [])
    assert (parsed.intent, parsed.field, parsed.mentions) == ("field", "season", ("Northwind Jacket 0",))
    assert parsed.understood.constraints == (
        Constraint("attributes.season", ("Summer",), words=("summer",)),
        Constraint("attributes.fit", ("Slim",), words=("slim",), soft=True),
        Constraint("price", op="lte", high=120.0))
    assert (parsed.sort, parsed.price_high, parsed.priced, parsed.carried) == ("asc", 120.0, True, False)


def test_a_follow_up_carries_the_conversations_constraints(vocabulary, rules):
    before = Turn("Do you have winter jackets?", "Yes [1].", [{"title": "Kestrel Jacket 6", "price": 106.0}])
    model = tool_calling(lambda prompt, tool: {"intent": "follow_up", "query": "winter jackets cheaper than 106",
                                               "constraints": [{"facet": "season", "value": "Winter"}],
                                               "price_high": 106})
    parsed = ChatModelParser(model, vocabulary, rules).parse("a cheaper one?", [before])
    assert (parsed.query, parsed.carried, parsed.price_high) == ("winter jackets cheaper than 106", True, 106.0)
    assert "Shopper: Do you have winter jackets?\nAssistant: Yes [1]. (products: Kestrel Jacket 6 (106.0))" \
        in model.prompts[0]


def _refused(prompt, tool):
    raise ConnectionError("the provider is down")


@pytest.mark.parametrize("call", [
    lambda prompt, tool: reading(field="colour"),      # a field the catalog does not have: outside the schema
    lambda prompt, tool: {"query": QUESTION},          # no intent
    _refused,                                          # the provider's error
])
def test_what_the_model_cannot_read_the_rules_read(vocabulary, rules, call, caplog):
    parsed = ChatModelParser(tool_calling(call), vocabulary, rules).parse(QUESTION, [])
    assert parsed == rules.parse(QUESTION, [])
    assert parsed.field is None and parsed.price_high == 120.0
    assert "the rules read it" in caplog.text


def test_auto_reads_by_the_chat_model_only_when_it_calls_tools(vocabulary, rules):
    assert parser_for("auto", scripted(lambda p: ""), vocabulary, rules) is rules
    assert parser_for("rules", tool_calling(lambda p, t: {}), vocabulary, rules) is rules
    assert isinstance(parser_for("auto", tool_calling(lambda p, t: {}), vocabulary, rules), ChatModelParser)
    with pytest.raises(ValueError, match="parser 'llm' needs a chat model that calls tools"):
        parser_for("llm", scripted(lambda p: ""), vocabulary, rules)


def test_a_config_that_asks_the_chat_model_to_read_needs_one_that_calls_tools():
    from multimodal_rag.config import ConfigError, load_config
    from multimodal_rag.qa import ProductQA

    config = load_config(None, ['qa.parser="llm"'])
    with pytest.raises(ConfigError, match="qa.parser = 'llm' needs a chat model that calls tools .*ScriptedChatModel"):
        ProductQA.from_config(config, llm=scripted(lambda p: ""))
