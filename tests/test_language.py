"""Text analysis, spelling and language detection: the same terms for the same thing, however it is written."""

import pytest

from multimodal_rag.language.analysis import TextAnalyzer
from multimodal_rag.language.detect import detect_language
from multimodal_rag.language.spelling import SpellingCorrector

EN = TextAnalyzer("en")


@pytest.mark.parametrize("spellings, term", [
    (["1/2 in. pipe", '1/2" pipe', "1/2-in. pipe", "1/2 inch pipe", "0.5 in pipe", "½ in. pipe"], "0.5in"),
    (["60W bulb", "60-Watt bulb", "60 watt bulb", "60 Watts bulb"], "60w"),
    (["1-3/8 in. knob", "1 3/8 inch knob", "1.375in knob"], "1.375in"),
    (["24.7 cu. ft. fridge", "24.7 cu ft fridge", "24.7 cubic feet fridge"], "24.7cuft"),
    (["5' ladder", "5 ft. ladder", "5-foot ladder", "5 feet ladder"], "5ft"),
])
def test_a_measurement_is_one_term_however_it_is_written(spellings, term):
    analysed = [EN.terms(s) for s in spellings]
    assert all(term in terms for terms in analysed), analysed
    assert len({tuple(terms) for terms in analysed}) == 1


def test_sizes_give_their_pairs_and_numbers_alone():
    assert EN.terms("2x4") == EN.terms("2 x 4") == ["2", "4", "2x4"]
    # "2 in. x 4 in. x 96 in." holds the 2x4 a shopper asks for, and each number with and without its unit.
    assert EN.terms("2 in. x 4 in. x 96 in. Stud") == ["2in", "2", "4in", "4", "96in", "96", "2x4", "4x96", "stud"]


def test_numbers_that_are_not_units_stay_as_written():
    assert EN.terms("6/3 wire") == ["6", "3", "wire"]  # a wire gauge, not 2
    assert EN.terms("4500/4500-Watt Elements") == ["4500", "4500w", "4500", "element"]
    assert EN.terms("Model 10634 Mulcher") == ["model", "10634", "mulcher"]


def test_words_are_stemmed_and_stop_words_dropped():
    assert EN.terms("Blue mugs for the kitchen") == ["blue", "mug", "kitchen"]
    assert EN.terms("men's shirts") == EN.terms("Men Shirt") == ["men", "shirt"]
    assert EN.terms("Grip&#39;n Grab") == ["grip'n", "grab"]  # HTML entities decoded


def test_the_identity_names_what_decides_the_terms():
    assert EN.identity == "en/v1/snowball-english/stop/units"
    assert TextAnalyzer("en", stem=False).identity == "en/v1/stop/units"
    assert TextAnalyzer("zh").identity == "zh/v1/stop/units/jieba"


def test_a_chinese_query_finds_its_words_inside_a_longer_run():
    pytest.importorskip("jieba", reason="Chinese needs the [lang] extra: pip install -e '.[lang]'")
    zh = TextAnalyzer("zh")
    title = set(zh.terms("星巴克 蓝色陶瓷马克杯 350ml"))
    assert {"马克杯", "蓝色", "陶瓷", "星巴克", "350ml"} <= title
    assert set(zh.terms("马克杯")) <= title
    assert set(zh.terms("我想买一个蓝色的马克杯")) & title == {"蓝色", "马克", "马克杯"}


def test_korean_particles_and_endings_are_not_part_of_the_noun():
    pytest.importorskip("kiwipiepy", reason="Korean needs the [lang] extra: pip install -e '.[lang]'")
    ko = TextAnalyzer("ko")
    assert ko.terms("머그컵을") == ko.terms("머그컵") == ko.terms("머그컵이") == ["머그", "컵"]
    assert set(ko.terms("검은색 운동화가 있나요?")) >= {"검은색", "운동화"}
    assert "350ml" in ko.terms("블루 세라믹 머그컵 350ml")
    # Word by word: read as one sentence, Kiwi cut this noun by its neighbour (운동 + 화), so the query missed the
    # 운동화 its titles hold.
    assert ko.terms("운동화 예산 70,000원이에요")[:2] == ["운동화", "예산"]
    assert "운동화" in ko.terms("휠라 가죽 운동화 핑크 240mm")


def test_question_words_are_cut_as_the_script_writes_them():
    """``tokens()``, which questions and product cards are both matched by: English as ever; a Chinese run cut by
    jieba and Korean particles dropped, each whitespace piece on its own (positions map back to what was written)."""
    from multimodal_rag.words import tokens

    assert tokens("Men's Blue-Shirt 1,000 i-love") == ["men's", "blue", "shirt", "1,000", "i", "love"]
    pytest.importorskip("jieba", reason="Chinese needs the [lang] extra: pip install -e '.[lang]'")
    pytest.importorskip("kiwipiepy", reason="Korean needs the [lang] extra: pip install -e '.[lang]'")
    assert tokens("宜家 日式灰色玻璃马克杯 350ml多少钱？") == ["宜家", "日式", "灰色", "玻璃", "马克杯", "350", "ml", "多少", "钱"]
    assert tokens("머그컵을 찾아요") == tokens("머그컵이 찾아요") == ["머그", "컵", "찾"]
    text = "X 만든 회사가 어디예요?"
    assert tokens(text) == [w for piece in text.split() for w in tokens(piece)] == ["x", "만들", "회사", "어디"]


def test_without_the_lang_extra_other_scripts_split_as_spaced_words(monkeypatch):
    """The shipped wordings hold Chinese and Korean words; a shop without the [lang] extra must still read them
    (and its own English) without an error."""
    import sys

    from multimodal_rag import words
    from multimodal_rag.language.analysis import match_words

    for module in ("jieba", "kiwipiepy"):
        monkeypatch.setitem(sys.modules, module, None)  # importing it raises ImportError
    match_words.cache_clear()
    words._piece_tokens.cache_clear()
    try:
        assert words.tokens("빨간색 머그컵을, 马克杯 red mugs") == ["빨간색", "머그컵을", "马克杯", "red", "mugs"]
    finally:
        match_words.cache_clear()
        words._piece_tokens.cache_clear()


CATALOG_WORDS = {"dewalt": 40, "drill": 90, "larson": 12, "storm": 30, "door": 300, "ceiling": 80, "fan": 120,
                 "jeld": 9, "wen": 9, "maytag": 25, "washer": 60, "may": 3, "tag": 4, "mug": 10, "rug": 50}


def test_misspellings_become_the_catalog_words_they_misspell():
    speller = SpellingCorrector(CATALOG_WORDS, stopwords=EN.stopwords)
    assert speller.corrections(["dewlat", "drill"]) == {"dewlat": "dewalt"}
    assert speller.corrections(["lasron", "storm", "door"]) == {"lasron": "larson"}
    assert speller.corrections(["celing", "fan"]) == {"celing": "ceiling"}
    assert speller.corrections(["jeldwen"]) == {"jeldwen": "jeld wen"}        # run together
    assert speller.corrections(["may", "tag", "washer"]) == {"may tag": "maytag"}  # written apart


def test_a_word_run_together_and_a_misspelling_are_weighed_by_edits_then_by_the_catalog():
    """Leaving out a space is one edit: a split wins over a word two edits away, and one edit away the likelier wins
    (Home Depot's counts: "cabinent" is the cabinet, not "cabin ent"; "yardguard" the brand Yardgard)."""
    speller = SpellingCorrector({"cabinet": 1506, "cabin": 20, "ent": 3, "yard": 300, "guard": 500,
                                 "yardgard": 77, "power": 900, "tool": 700, "powered": 40, "top": 2000,
                                 "rail": 400, "trail": 17}, stopwords=EN.stopwords)
    assert speller.correction("cabinent") == "cabinet"
    assert speller.correction("yardguard") == "yardgard"
    assert speller.correction("toprail") == "top rail"       # "trail" is two edits away
    assert speller.correction("powertool") == "power tool"   # nothing else within reach


def test_what_is_not_a_misspelling_is_left_alone():
    speller = SpellingCorrector(CATALOG_WORDS, stopwords=EN.stopwords)
    assert speller.corrections(["drill", "door"]) == {}                  # known words
    assert speller.corrections(["mgu", "dcd771"]) == {}                  # too short; a model number
    assert speller.corrections(["xylophone"]) == {}                      # nothing close in the catalog
    # A short word may differ by one edit only: "rugg" is "rug", "ruugg" (two edits from "rug") is nothing.
    assert speller.correction("rugg") == "rug" and speller.correction("ruugg") is None


@pytest.mark.parametrize("texts, language", [
    (["Puma Men Ferrari Black Fleece Jacket", "Orbit 1/2 in. x 100 ft. Eco-Lock Sprinkler Pipe"] * 20, "en"),
    (["星巴克 蓝色陶瓷马克杯 350ml", "黑色双肩背包 大容量 防水"] * 20, "zh"),
    (["블루 세라믹 머그컵 350ml", "블랙 방수 백팩 대용량"] * 20, "ko"),
    (["Chemise en lin bleu pour homme, coupe droite", "Tasse en céramique bleue pour le café"] * 20, "fr"),
    ([], "en"),
])
def test_the_catalog_language_is_read_from_its_text(texts, language):
    assert detect_language(texts) == language
