"""The config: TOML files with ``extends``, the environment, ``--set``, and one-line errors that name the key."""

from __future__ import annotations

import os

import pytest

from multimodal_rag.config import ConfigError, load_config, resolve_config

SECRET = "s3cr3t-12345"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No MMRAG_ setting of the machine running the tests leaks into these."""
    for name in [n for n in os.environ if n.startswith("MMRAG_")]:
        monkeypatch.delenv(name)


def write(folder, name: str, text: str):
    path = folder / name
    path.write_text(text)
    return path


def error_of(*args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(*args, **kwargs)
    return str(info.value)


def test_a_wrong_type_in_a_file_names_its_key(tmp_path):
    path = write(tmp_path, "shop.toml", 'extends = "base.toml"\n[ingest]\nbatch_size = "64"\n')
    write(tmp_path, "base.toml", '[vectors.text]\nembedder = "e"\nsources = ["title"]\n')
    assert error_of(path) == "ingest.batch_size must be a whole number, not '64'"


@pytest.mark.parametrize("overrides, message", [
    (['search.weights={"text": "high"}'], "search.weights.text must be a number, not 'high'"),
    (["ingest.embedding_cache=1"], "ingest.embedding_cache must be true or false, not 1"),
    (["search.k=0"], "search.k must be above 0, not 0"),
    (["store.timeout_s=nan"], "store.timeout_s must be a finite number, not nan"),
    (['search.fusion="best"'], "search.fusion must be one of 'relative', 'rrf' or 'weighted', not 'best'"),
    (['qa.rewrite="model"'], "qa.rewrite must be one of 'rules' or 'llm', not 'model'"),
    (['qa.parser="model"'], "qa.parser must be one of 'auto', 'rules' or 'llm', not 'model'"),
    (['vectors.text.sources=["colour"]'], "vectors.text.sources.0 must be one of 'title', 'category', 'brand', "
                                          "'attributes', 'description' or 'image', not 'colour'"),
    (['bm25.sources=["image"]'], "bm25.sources.0 must be one of 'title', 'category', 'brand', 'attributes' or "
                                 "'description', not 'image'"),
    (["vectors.text.sources=[]"], "vectors.text.sources must be a list of at least 1 item(s), not []"),
    (['vectors.x.sources=["title"]'], 'vectors.x.embedder is missing: an embedder spec, e.g. '
                                      '"sentence-transformers:all-MiniLM-L6-v2"'),
    (['vectors.bad-name.embedder="e"'], "vectors.bad-name: a field name must be a plain identifier "
                                        "(letters, digits and _)"),
    (['search.synonyms={"gents": " "}'], "search.synonyms.gents: must not be blank"),
    (['qa.synonyms={"Warranty Summary": "guarantee"}'], "qa.synonyms.Warranty Summary must be a list, not 'guarantee'"),
    (["store=5"], "store must be a table, not 5"),
    (['search.fields=["text", "colour"]'], "search.fields: ['colour'] are not fields of this config; "
                                           "use ['bm25', 'image', 'text']"),
    (['search.weights={"sparse": 1}'], "search.weights: ['sparse'] are not fields of this config; "
                                       "use ['bm25', 'image', 'text', 'understood']"),
    (['catalog.language="english"'], 'catalog.language: must be "auto" or a two-letter ISO 639-1 code such as "en", '
                                     '"zh", "ko"'),
    (['bm25.analyzer="porter"'], "bm25.analyzer must be one of 'language' or 'standard', not 'porter'"),
])
def test_a_bad_value_is_one_line_naming_the_key_and_what_to_write(overrides, message):
    assert error_of(None, overrides) == message


def test_unknown_keys_are_named_with_the_known_ones():
    assert error_of(None, ["store.path=./shop.db", "store.host=x"]) == (
        "store: unknown key(s) ['host', 'path']; known: ['collection', 'db', 'db_name', 'index', 'retries', "
        "'timeout_s', 'token', 'uri']")
    assert error_of(None, ["catalogue.language=en"]) == (
        "the config: unknown key(s) ['catalogue']; known: ['bm25', 'catalog', 'ingest', 'qa', 'reranker', 'search', "
        "'store', 'vectors']")


def test_extends_overlays_the_parent_table_by_table(tmp_path):
    write(tmp_path, "base.toml", '[vectors.text]\nembedder = "e"\nsources = ["title"]\n'
                                 '[search]\nfusion = "weighted"\nk = 7\n[search.synonyms]\ngents = "Men"\n')
    child = write(tmp_path, "child.toml", 'extends = "base.toml"\n[search]\nk = 3\n'
                                          '[search.synonyms]\nladies = "Women"\n'
                                          '[vectors.image]\nembedder = "efficientnet-lite0"\nsources = ["image"]\n')
    config = load_config(child)
    assert (config.search.fusion, config.search.k) == ("weighted", 3)
    assert config.search.synonyms == {"gents": "Men", "ladies": "Women"}
    assert [(v.name, v.modality, v.vector_field) for v in config.vectors] == [
        ("text", "text", "text_vec"), ("image", "image", "image_vec")]
    assert config.bm25_sources == ()
    loop = write(tmp_path, "loop.toml", 'extends = "loop.toml"\n')
    assert error_of(loop) == f"{loop}: `extends` loops back to itself"


def test_set_values_are_toml_else_text():
    config = load_config(None, ["search.k=3", 'search.fields=["text", "bm25"]', "qa.llm=hf:./models/qwen",
                                "vectors.fused.embedder=fusion:clip:m", 'vectors.fused.sources=["image", "title"]',
                                'vectors.fused.weights={"image": 0.7}'])
    assert (config.search.k, config.search.fields, config.qa.llm) == (3, ("text", "bm25"), "hf:./models/qwen")
    fused = config.vectors[-1]
    assert (fused.name, fused.modality, fused.text_sources, fused.weights) == ("fused", "fused", ("title",), (0.7, 0.0))
    assert error_of(None, ["search.k"]) == "--set takes key=value, got 'search.k'"


def test_environment_sits_between_the_file_and_the_command_line(tmp_path, monkeypatch):
    path = write(tmp_path, "shop.toml", 'extends = "base.toml"\n[store]\nuri = "http://file:1"\n[search]\nk = 7\n')
    write(tmp_path, "base.toml", '[vectors.text]\nembedder = "e"\nsources = ["title"]\n')
    assert load_config(path).store.uri == "http://file:1"
    monkeypatch.setenv("MMRAG_MILVUS_URI", "http://documented:2")
    monkeypatch.setenv("MMRAG_MILVUS_DB_NAME", "shop")
    assert (load_config(path).store.uri, load_config(path).store.db_name) == ("http://documented:2", "shop")
    monkeypatch.setenv("MMRAG_STORE__URI", "http://nested:3")
    monkeypatch.setenv("MMRAG_SEARCH__K", "5")  # a number: read as a --set value is
    monkeypatch.setenv("MMRAG_SEARCH__FIELDS", '["text"]')
    monkeypatch.setenv("MMRAG_STORE__DB_NAME", "2024")  # text stays text
    monkeypatch.setenv("MMRAG_CACHE_DIR", str(tmp_path))  # not a config key: left to its own reader
    config = load_config(path)
    assert (config.store.uri, config.store.db_name, config.search.k, config.search.fields) == (
        "http://nested:3", "2024", 5, ("text",))
    config = load_config(path, ['store.uri="http://flag:4"', "search.k=2"])
    assert (config.store.uri, config.search.k) == ("http://flag:4", 2)
    assert resolve_config(config, uri="http://uri-flag:5").store.uri == "http://uri-flag:5"
    lite = resolve_config(config, db=str(tmp_path / "shop"))
    assert (lite.store.uri, lite.store.db) == (None, str(tmp_path / "shop" / "mmrag.db"))
    monkeypatch.setenv("MMRAG_SEARCH__K", "many")
    assert error_of(path) == "search.k must be a whole number, not 'many'"
    monkeypatch.setenv("MMRAG_SEARCH__K", "5")
    monkeypatch.setenv("MMRAG_SEARCH__TOP", "5")
    assert error_of(path).startswith("search: unknown key(s) ['top']; known: ['depth', 'fields', 'fusion', 'k', ")


@pytest.mark.parametrize("variable", ["MMRAG_MILVUS_TOKEN", "MMRAG_STORE__TOKEN"])
def test_the_token_is_text_to_the_client_and_never_printed(monkeypatch, variable):
    monkeypatch.setenv(variable, SECRET)
    config = load_config()
    assert config.store.token == SECRET
    for shown in (repr(config), str(config), repr(config.store), str(config.store), config.model_dump_json()):
        assert SECRET not in shown
    assert "**********" in repr(config.store)
    assert error_of(None, ["store.token=12345"]) == "store.token must be text in quotes"  # the value is not echoed


def test_a_section_given_by_keyword(tmp_path):
    assert load_config(store={"db": str(tmp_path / "shop.db")}).store.db == str(tmp_path / "shop.db")
    assert error_of(store="shop.db") == "load_config(store=...): a section is a mapping such as {'db': './shop.db'}"


def test_configs_are_frozen():
    config = load_config()
    with pytest.raises(ValueError, match="frozen"):
        config.search.k = 3
