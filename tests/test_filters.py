"""The one filter builder: exact expressions, and hostile values staying data on real Milvus Lite."""

import pytest
from pymilvus import DataType

from multimodal_rag.store.filters import FilterError, build_filter, ids_filter, quote
from multimodal_rag.store.milvus import connect, release
from multimodal_rag.store.schema import facets_text


def test_expressions_are_exact():
    assert build_filter({"price": {"lt": 500, "gte": 10}, "category": {"prefix": "Kitchen"},
                         "brand": {"in": ["Acme", 'Glo"bex']}, "attributes.Color": "Black"}) == (
        '(price < 500) and (price >= 10) and (category like "Kitchen%") and '
        '(brand in ["Acme", "Glo\\"bex"]) and (facets like "%|attributes.color=black|%")')
    # Attributes compared for (in)equality are looked up in the facets text, any letter case, wildcards as spaces.
    assert build_filter({"attributes.Size": {"in": ["S", "10%_off"]}, "attributes.Fit": {"ne": "Slim|Fit"}}) == (
        '(facets like "%|attributes.size=s|%" or facets like "%|attributes.size=10 off|%") and '
        '(facets not like "%|attributes.fit=slim fit|%")')
    assert build_filter({"attributes.Color": {"contains": "lac"}}) == '(attributes["Color"] like "%lac%")'
    assert build_filter(None) == "" and build_filter({}) == ""
    assert ids_filter(["a", 'b"c']) == 'id in ["a", "b\\"c"]'
    assert quote("a\\b\nc") == '"a\\\\b\\nc"'


@pytest.mark.parametrize("filters, message", [
    ({"price": {"lt": "500"}}, "price lt: expected a finite number"),
    ({"price": {"lt": float("nan")}}, "expected a finite number"),
    ({"price": True}, "expected a finite number"),
    ({"title": 5}, "expected a string"),
    ({"title": {"prefix": "50%"}}, "may not contain %"),
    ({"title": {"contains": "a_b"}}, "may not contain _"),
    ({"price": {"prefix": "1"}}, "works on text fields only"),
    ({"title or 1==1": "x"}, "unknown filter field"),
    ({"price": {"drop": 1}}, "unknown operator"),
    ({"brand": {"in": []}}, "the list is empty"),
    ({"brand": {"in": "Acme"}}, "expected a list"),
    ({"title": "x" * 70_000}, "limited to 65535 characters"),
])
def test_bad_filters_are_clear_errors(filters, message):
    with pytest.raises(FilterError, match=message):
        build_filter(filters)


HOSTILE = ['a"b', "a\\b", '" or 1==1 or title == "', 'x\\" or id != "', "ünï 日本 🛒", "line\nbreak",
           "tab\there", "x" * 2000, "') or true or ('"]


def test_hostile_values_match_only_themselves_on_milvus(tmp_path, make_config):
    config = make_config()
    client = connect(config.store)
    h = config.store.collection
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("title", DataType.VARCHAR, max_length=4096)
    schema.add_field("attributes", DataType.JSON)
    schema.add_field("facets", DataType.VARCHAR, max_length=16_384)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="IP")
    client.create_collection(h, schema=schema, index_params=index, consistency_level="Strong")
    client.load_collection(h)
    rows = [{"id": f"h{i}", "title": v, "attributes": {"Color": v}, "v": [1.0, 0.0]} for i, v in enumerate(HOSTILE)]
    rows.append({"id": "plain", "title": "plain", "attributes": {"Color": "plain"}, "v": [1.0, 0.0]})
    rows.append({"id": "wild", "title": "wild", "attributes": {"Color": "10%_OFF"}, "v": [1.0, 0.0]})
    for row in rows:
        row["facets"] = facets_text(row)
    client.insert(h, rows)
    for i, value in enumerate(HOSTILE):
        for filters, expected in (({"title": value}, {f"h{i}"}), ({"attributes.Color": value}, {f"h{i}"}),
                                  ({"attributes.Color": {"in": [value, "plain"]}}, {f"h{i}", "plain"}),
                                  ({"title": {"in": [value]}}, {f"h{i}"}),
                                  ({"title": {"ne": value}, "id": {"in": [f"h{i}", "plain"]}}, {"plain"})):
            got = {r["id"] for r in client.query(h, filter=build_filter(filters), output_fields=["id"])}
            assert got == expected, (value, filters)
        if not set(value) & set("%_\\"):
            got = {r["id"] for r in client.query(h, filter=build_filter({"title": {"prefix": value}}),
                                                 output_fields=["id"])}
            assert got == {f"h{i}"}
    # Letter case does not matter; LIKE's wildcards count as spaces, never as wildcards ("10%" is not "10% off").
    for value, expected in (("10%_off", {"wild"}), ("10 OFF", {"wild"}), ("10%", set()), ("%", set()),
                            ("PLAIN", {"plain"})):
        got = {r["id"] for r in client.query(h, filter=build_filter({"attributes.Color": value}),
                                             output_fields=["id"])}
        assert got == expected, value
    release(config.store, client)
