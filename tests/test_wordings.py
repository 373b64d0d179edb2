"""A language's wordings are data files: they load, a broken one says where, a language without them reads English."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from multimodal_rag.language.wordings import WordingsError, phrase_pattern, read_wordings, wordings

ENGLISH = resources.files("multimodal_rag.language.data").joinpath("en")


def test_the_english_wordings_load_from_their_files():
    en = wordings("en")
    assert en.language == "en" and wordings("en") is en  # read once
    assert "price" in en.fields.concepts and en.fields.concepts["price"].names == ()
    assert en.fields.attribute_names["color"] == ("color", "colour", "basecolour", "basecolor")
    assert en.fields.who.for_whom == "ideal for" and "made" in en.fields.who.making
    assert {"the", "hello"} <= en.question.stopwords and "or" in en.question.alternatives.offering
    assert en.shopping.amount.multipliers == {"k": 1000} and "₹" in en.shopping.amount.currency
    assert en.followup.possessive == {"its"} and dict(en.facets.values) == {"gents": "men", "ladies": "women"}
    with pytest.raises(TypeError):
        en.facets.values["tee"] = "tshirts"  # frozen: the cached wordings are shared


def test_a_malformed_file_is_one_line_naming_the_file_and_the_key(tmp_path):
    fields = tmp_path / "fields.toml"
    fields.write_text(ENGLISH.joinpath("fields.toml").read_text(encoding="utf-8").replace(
        'for_whom = "ideal for"', 'for_whom = ["ideal for"]'))
    with pytest.raises(WordingsError) as error:
        read_wordings(tmp_path, "xx")
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{fields}: who.for_whom: ")

    fields.write_text('weak_phrases = ["kind"]\n[who]\nasks = ["who"]\nmaking = ["made"]\nfor_whom = "suitor"\n'
                      '[concepts.price]\nphrases = ["cost"]\nnames = "price"\n')
    with pytest.raises(WordingsError, match=re.escape(f"{fields}: concepts.price.names: ")):
        read_wordings(tmp_path, "xx")

    fields.write_text('weak_phrases = ["kind"]\n[who]\nasks = ["who"]\nmaking = ["made"]\nfor_whom = "suitor"\n'
                      '[concepts.price]\nphrases = ["cost"]\n')
    with pytest.raises(WordingsError, match=re.escape(f"{fields}: who.for_whom: 'suitor' is not one of the [concepts]")):
        read_wordings(tmp_path, "xx")

    (tmp_path / "fields.toml").unlink()
    shopping = tmp_path / "shopping.toml"
    shopping.write_text('links = ["for"\n')
    with pytest.raises(WordingsError, match=re.escape(f"{shopping}: not valid TOML: ")):
        read_wordings(tmp_path, "xx")
    shopping.write_text('links = ["for"]\ncolour = "red"\n')
    with pytest.raises(WordingsError, match=re.escape(f"{shopping}: price: Field required (and 3 more)")):
        read_wordings(tmp_path, "xx")


def test_an_answer_sentence_with_an_unknown_placeholder_is_refused_when_read(tmp_path):
    answers = tmp_path / "answers.toml"
    answers.write_text(ENGLISH.joinpath("answers.toml").read_text(encoding="utf-8").replace(
        'fact = "The {field} of {title} is {value} [{n}]."', 'fact = "The {feild} of {title} is {value} [{n}]."'))
    with pytest.raises(WordingsError, match=re.escape(
            f"{answers}: fact: 'The {{feild}} of {{title}} is {{value}} [{{n}}].': unknown or malformed "
            "placeholder 'feild'")):
        read_wordings(tmp_path, "xx")
    assert wordings("zh").answers.field_name("price") == "价格" and wordings("zh").answers.field_name("颜色") == "颜色"
    assert wordings("de").answers == wordings("en").answers  # a language without the file speaks English


def test_a_language_reads_english_for_each_concern_it_has_no_file_for(tmp_path):
    """A language's folder may hold some of the concerns; the others, and every concern of a language with no
    folder, are English: the numbers, currency signs and English words shoppers mix in are still understood."""
    (tmp_path / "followup.toml").write_text('references = ["它"]\npossessive = ["它的"]\ncheaper = ["更便宜"]\n'
                                            'pricier = ["更贵"]\nleft_out = ["一个"]\n')
    own = read_wordings(tmp_path, "zh")
    assert own.followup.references == ("它",) and own.fields == wordings("en").fields
    assert wordings("de") == wordings("en").model_copy(update={"language": "de"})
    with pytest.raises(WordingsError, match=r"not a language code: '\.\./en'"):
        wordings("../en")


def test_phrases_become_one_alternation_longest_first_their_words_spaced_or_hyphenated():
    pattern = re.compile(rf"\b{phrase_pattern(['lowest price', 'lowest priced', 'cheapest'])}\b", re.I)
    assert [m.group() for m in pattern.finditer("Lowest-priced, the lowest  price, cheapest")] == [
        "Lowest-priced", "lowest  price", "cheapest"]
    assert re.search(phrase_pattern([]), "anything") is None
