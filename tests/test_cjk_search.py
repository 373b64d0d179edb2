"""A Chinese and a Korean shop on the default config: the language read from the catalog, its words segmented,
and the English text model left out of text queries with a note naming the models to download instead.

The catalogs are the repository's own dev stores (benchmarks/data/cjk, written by benchmarks/cjk_sets.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import json

from multimodal_rag import ProductRetriever, ingest
from multimodal_rag.embedders.mteb import language_gap
from multimodal_rag.retrieval.understanding import PricePhrases

CJK = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "cjk"


def test_a_text_model_is_checked_against_the_catalog_language():
    gap = language_gap("sentence-transformers:all-MiniLM-L6-v2", "ko")
    assert gap.startswith("sentence-transformers/all-MiniLM-L6-v2 is a model for en, not ko")
    assert "(intfloat/multilingual-e5-small, intfloat/multilingual-e5-base)" in gap  # C-MTEB/Ko scores, best first
    assert language_gap("sentence-transformers:all-MiniLM-L6-v2", "en") is None
    assert language_gap("sentence-transformers:intfloat/multilingual-e5-small", "ko") is None
    assert language_gap("/models/my-korean-model", "ko") is None  # a folder: nothing says it does not speak it


@pytest.mark.parametrize("language, text, bound", [
    ("zh", "300元以下的保温杯", "price<=300"),  # 以下 takes the number in
    ("zh", "保温杯 预算1千元", "price<=1000"),
    ("zh", "200到400元的杯子", "200<=price<=400"),
    ("zh", "3万元以内", "price<=30000"),
    ("ko", "베개 55000원 이하로 찾아요", "price<=55000"),
    ("ko", "3만원 미만 텀블러", "price<30000"),  # 미만 leaves it out
    ("ko", "유리컵 예산 15,000원이에요", "price<=15000"),
    ("ko", "2만원에서 3만원 사이 머그컵", "20000<=price<=30000"),
    # a bound negated reverses: not over is at most, not under at least
    ("zh", "拖鞋不要超过150块", "price<=150"), ("zh", "不低于200元的台灯", "price>=200"),
    ("ko", "6만원 넘지 않는 원피스", "price<=60000"), ("ko", "2만원 초과하지 않는 컵", "price<=20000"),
    ("ko", "3만원 넘는 베개", "price>30000"),
    ("en", "mugs not more than 500", "price<=500"), ("en", "kettles not under 300 rs", "price>=300"),
    ("en", "baby bath towels not exceeding 500", "price<=500"), ("en", "routers exceeding 2100", "price>2100"),
])
def test_price_bounds_in_the_shops_language(language, text, bound):
    price, sort, _ = PricePhrases.for_language(language).read(text)
    assert (price.label, sort) == (bound, None)


@pytest.mark.parametrize("language, text, sort", [
    ("zh", "拖鞋哪个最便宜", "asc"), ("zh", "最贵的钱包是哪款？", "desc"),
    ("ko", "가장 저렴한 토트백 보여주세요", "asc"), ("ko", "제일 비싼 머그컵 뭐예요?", "desc"),
])
def test_price_orders_in_the_shops_language(language, text, sort):
    assert PricePhrases.for_language(language).read(text)[:2] == (None, sort)


@pytest.mark.parametrize("language, text, sort", [
    # a superlative and a word of a price's direction, a price said to be highest or lowest, before or after it
    ("zh", "给我看看最高档的衬衫", "desc"), ("zh", "背包中售价最低的", "asc"), ("zh", "最低价的衬衫", "asc"),
    ("ko", "지갑 중 가장 고가인 제품", "desc"), ("ko", "가격이 제일 높은 운동화", "desc"),
    ("ko", "가장 낮은 가격의 베개", "asc"), ("ko", "제일 저가인 운동화 알려줘", "asc"),
    # a superlative of height alone is no price order
    ("zh", "最高的台灯", None), ("ko", "가장 높은 의자", None),
])
def test_price_orders_are_composed_from_a_superlative_and_a_price_direction(language, text, sort):
    assert PricePhrases.for_language(language).read(text)[1] == sort


@pytest.mark.parametrize("language, package, text, understood", [
    ("zh", "jieba", "想要一套灰的四件套", "颜色=灰色, category=四件套"),  # 灰 for the catalog's 灰色
    ("zh", "jieba", "卫衣里哪款最贵？", "category=卫衣, most expensive first"),  # not the one word 卫衣里
    ("ko", "kiwipiepy", "초록색 맨투맨 있어요?", "색상=그린, category=맨투맨"),  # native word for the loanword stored
    ("ko", "kiwipiepy", "스탠드 빨강으로 있나요?", "category=스탠드, 색상=빨간색"),
])
def test_a_shoppers_words_reach_the_catalogs_values(language, package, text, understood):
    pytest.importorskip(package, reason=f"{language} needs the [lang] extra: pip install -e '.[lang]'")
    from multimodal_rag.catalog.facets import FacetVocabulary
    from multimodal_rag.retrieval.understanding import QueryUnderstanding

    products = [json.loads(line) for line in (CJK / language / "products.jsonl").read_text("utf-8").splitlines()]
    understanding = QueryUnderstanding(FacetVocabulary.from_products(products), language=language)
    assert understanding.understand(text).describe() == understood


def test_a_size_is_not_a_price():
    assert PricePhrases.for_language("zh").read("马克杯 350ml")[:2] == (None, None)
    assert PricePhrases.for_language("ko").read("머그컵 350ml 이하")[:2] == (None, None)


@pytest.mark.parametrize("language, package, query, item, model", [
    ("zh", "jieba", "我想买一个马克杯", "马克杯", "BAAI/bge-large-zh-v1.5"),
    ("ko", "kiwipiepy", "머그컵을 찾고 있어요", "머그컵", "intfloat/multilingual-e5-small"),
])
def test_a_shop_in_its_own_language_searches_bm25_without_an_english_model(
        make_config, default_embedders, language, package, query, item, model):
    pytest.importorskip(package, reason=f"{language} needs the [lang] extra: pip install -e '.[lang]'")
    config = make_config()
    summary = ingest(CJK / language / "products.jsonl", config, progress=False, embedders=default_embedders)
    assert summary.language == language
    assert [n.split(":", 1)[0] for n in summary.notes] == ["vectors.text"]
    assert f"({model}, " in summary.notes[0]
    products = [json.loads(line) for line in (CJK / language / "products.jsonl").read_text("utf-8").splitlines()]
    kind = {"zh": "拖鞋", "ko": "토트백"}[language]
    cheapest_first = sorted((p["price"], p["id"]) for p in products if p["category"].endswith(kind))
    budget = cheapest_first[2][0]  # three of the kind at or under it
    retriever = ProductRetriever.from_config(config, k=5)
    try:
        assert "text" not in retriever.searcher.fields and "bm25" in retriever.searcher.fields
        assert retriever.text_encoder() is None  # nor does it read which field a question asks
        titles = [d.metadata["title"] for d in retriever.invoke(query)]
        cheapest = retriever.invoke({"zh": f"{kind}哪个最便宜", "ko": f"가장 저렴한 {kind} 보여주세요"}[language])
        under = retriever.invoke({"zh": f"{budget:g}元以下的{kind}", "ko": f"{kind} {budget:g}원 이하로 찾아요"}[language])
    finally:
        retriever.close()
    assert len(titles) == 5 and all(item in t for t in titles), titles
    assert [d.metadata["price"] for d in cheapest] == [price for price, _ in cheapest_first[:5]]
    assert sorted(d.metadata["id"] for d in under) == sorted(i for price, i in cheapest_first if price <= budget)


@pytest.mark.parametrize("language, package, first, follow_up, kind", [
    ("zh", "jieba", "350元以下的保温杯", "有没有更便宜的？", "保温杯"),
    ("ko", "kiwipiepy", "베개 55000원 이하로 찾아요", "좀 더 싼 걸로 보여주세요", "베개"),
    ("zh", "jieba", "350元以下的保温杯", "还有更实惠的吗", "保温杯"),  # 更 + a word of cheapness
    ("ko", "kiwipiepy", "베개 55000원 이하로 찾아요", "이것보다 저렴한 건 있어요?", "베개"),  # 보다 (than) + 저렴
])
def test_a_cheaper_follow_up_keeps_the_kind_under_the_last_products_price(language, package, first, follow_up, kind):
    pytest.importorskip(package, reason=f"{language} needs the [lang] extra: pip install -e '.[lang]'")
    from multimodal_rag.catalog.facets import FacetVocabulary
    from multimodal_rag.qa.followup import Turn, rewrite_with_rules
    from multimodal_rag.retrieval.understanding import QueryUnderstanding

    products = [json.loads(line) for line in (CJK / language / "products.jsonl").read_text("utf-8").splitlines()]
    understanding = QueryUnderstanding(FacetVocabulary.from_products(products), language=language)
    asked = understanding.understand(first)
    shown = sorted((p for p in products if p["category"].endswith(kind)), key=lambda p: p["price"])[1]
    standalone = rewrite_with_rules(follow_up, [Turn(first, "", [shown], asked)], understanding.understand, language)
    assert standalone.text == kind
    assert standalone.understood.describe() == f"category={kind}, price<{shown['price']:g}"


@pytest.mark.parametrize("language, package, asked, facet, value, kind", [
    ("zh", "jieba", "卫衣有白的吗？", "颜色", "白色", "卫衣"),
    ("ko", "kiwipiepy", "분홍색 텀블러 있어요?", "색상", "핑크", "텀블러"),
    ("zh", "jieba", "红款的四件套有货吗", "颜色", "红色", "四件套"),  # 红 + 款 + 的, not a word "红款" jieba's HMM makes
    ("ko", "kiwipiepy", "분홍색 유리컵을 사고 싶어요", "색상", "핑크", "유리컵"),  # 사고 (to buy) is in no product
    ("ko", "kiwipiepy", "회색 색상 유리컵 있을까요?", "색상", "그레이", "유리컵"),  # the colour asked by its name
])
def test_a_question_naming_only_a_kind_and_a_colour_gets_the_products_that_have_them(
        make_config, default_embedders, language, package, asked, facet, value, kind):
    """No product named and no field asked (or only the facet whose value is given), every word a facet value in
    the shopper's words or a word no product holds: the answer cites the catalog's products of that kind and
    colour, not those whose titles are nearest to the words."""
    pytest.importorskip(package, reason=f"{language} needs the [lang] extra: pip install -e '.[lang]'")
    from multimodal_rag.qa import ProductQA
    from tests.chat_models import scripted

    config = make_config()
    ingest(CJK / language / "products.jsonl", config, progress=False, embedders=default_embedders)
    products = [json.loads(line) for line in (CJK / language / "products.jsonl").read_text("utf-8").splitlines()]
    having = {p["id"] for p in products if p["attributes"].get(facet) == value and p["category"].endswith(kind)}
    retriever = ProductRetriever.from_config(config, k=5)
    try:
        result = ProductQA(retriever, scripted(lambda prompt: "I do not know.")).invoke(asked)
    finally:
        retriever.close()
    assert having and set(result.cited_ids) == having and result.grounding == "shopping"


@pytest.mark.parametrize("language, package, price_asked, brand_asked, colour_asked, fact", [
    ("zh", "jieba", "{title}多少钱？", "请问{title}是哪家的产品？", "{title}是什么颜色的？", "{title}的{field}是{value} [1]。"),
    ("ko", "kiwipiepy", "{title} 가격이 얼마예요?", "{title} 어디 제품이에요?", "{title} 색상이 뭐예요?",
     "{title}의 {field}: {value} [1]."),
])
def test_a_field_of_a_named_product_is_read_and_answered_in_the_questions_language(
        make_config, default_embedders, language, package, price_asked, brand_asked, colour_asked, fact):
    """A field asked in the shop's language is read by that language's wordings (price, brand: data files) or by
    the catalog's own attribute name (颜色, 색상), of the product the question names; the model's answers fail
    their checks (they state no value), so the chain states the fact, in the question's language, and in English
    when the same shop is asked in English. The brand question names a product whose title leaves its brand out."""
    pytest.importorskip(package, reason=f"{language} needs the [lang] extra: pip install -e '.[lang]'")
    from multimodal_rag.language.wordings import wordings
    from multimodal_rag.qa import ProductQA
    from multimodal_rag.qa.lookup import format_price
    from tests.chat_models import scripted

    config = make_config()
    ingest(CJK / language / "products.jsonl", config, progress=False, embedders=default_embedders)
    products = [json.loads(line) for line in (CJK / language / "products.jsonl").read_text("utf-8").splitlines()]
    product, unbranded = products[0], next(p for p in products if p["brand"] not in p["title"])
    colour = next(iter(product["attributes"]))
    retriever = ProductRetriever.from_config(config, k=5)
    try:
        chain = ProductQA(retriever, scripted(lambda prompt: "I do not know."))
        price = chain.invoke(price_asked.format(title=product["title"]))
        brand = chain.invoke(brand_asked.format(title=unbranded["title"]))
        coloured = chain.invoke(colour_asked.format(title=product["title"]))
        english = chain.invoke(f"What is the price of {product['title']}?")
    finally:
        retriever.close()
    names = wordings(language).answers.field_name
    assert price.answer == fact.format(title=product["title"], field=names("price"),
                                       value=format_price(product["price"], product["currency"]))
    assert brand.answer == fact.format(title=unbranded["title"], field=names("brand"), value=unbranded["brand"])
    assert coloured.answer == fact.format(title=product["title"], field=colour,
                                          value=product["attributes"][colour])
    assert [r.cited_ids for r in (price, brand, coloured)] == [[product["id"]], [unbranded["id"]], [product["id"]]]
    assert {r.written_by for r in (price, brand, coloured)} == {"chain"}
    in_english = format_price(product["price"], product["currency"])
    assert english.answer == f"The price of {product['title']} is {in_english} [1]."


@pytest.fixture(scope="module")
def tiny_cjk_text_model(tmp_path_factory):
    """A sentence-transformers folder of BERT's architecture with random weights and a WordPiece vocabulary trained
    here on the Chinese and Korean stores' text: a model that "speaks" both as far as the code path goes."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    from tests.conftest import tiny_sentence_model

    texts = [f"{p['title']} {p.get('description', '')}" for language in ("zh", "ko")
             for p in map(json.loads, (CJK / language / "products.jsonl").read_text("utf-8").splitlines())]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()  # a Chinese character is a word of its own
    wordpiece.decoder = decoders.WordPiece()
    wordpiece.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=3000, special_tokens=specials))
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[(t, wordpiece.token_to_id(t)) for t in ("[CLS]", "[SEP]")])
    tokenizer = BertTokenizerFast(tokenizer_object=wordpiece, unk_token="[UNK]", pad_token="[PAD]",
                                  cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    return tiny_sentence_model(tmp_path_factory.mktemp("tiny-cjk-bert"), tokenizer, max_seq_length=64)


@pytest.mark.parametrize("language, package, query, item", [
    ("zh", "jieba", "我想买一个马克杯", "马克杯"),
    ("ko", "kiwipiepy", "머그컵을 찾고 있어요", "머그컵"),
])
def test_a_text_model_named_by_its_folder_searches_the_shops_language_beside_bm25(
        make_config, tiny_cjk_text_model, language, package, query, item):
    """A model folder the config names is taken to speak the catalog's language (nothing says it does not): ingest
    embeds every product with it and notes nothing, text queries search its field beside BM25, and it reads which
    field a question asks."""
    pytest.importorskip(package, reason=f"{language} needs the [lang] extra: pip install -e '.[lang]'")
    from multimodal_rag.embedders.fields import load_embedders

    config = make_config(f'vectors.text.embedder="sentence-transformers:{tiny_cjk_text_model}"')
    products = (CJK / language / "products.jsonl").read_text("utf-8").splitlines()
    summary = ingest(CJK / language / "products.jsonl", config, progress=False, embedders=load_embedders(config))
    assert (summary.language, summary.notes, summary.embedded["text"]) == (language, [], len(products))
    retriever = ProductRetriever.from_config(config, k=3)
    try:
        assert {"text", "bm25"} <= set(retriever.searcher.fields) or not retriever.searcher.fields
        assert retriever.text_encoder() is not None
        titles = [d.metadata["title"] for d in retriever.invoke(query)]
    finally:
        retriever.close()
    assert len(titles) == 3 and all(item in t for t in titles), titles
