"""The clause a question of several clauses asks in.

Shoppers say why before they ask: "would X go with a grey sofa? what colour is it", "need to look up reviews for X,
which model exactly is it?", "I want to pair X with jeans - which shade is it?". The clauses before the question
hold words of other fields ("grey", "reviews", "jeans") that read as the field asked. Where the question has several
clauses, the last one that asks for a thing named (by an open asking word, one that wants a thing named, not a yes
or no: question.toml's ``open_asking``; where none does, a request: "kindly mention the exact item type") is where
it asks, to its sentence's end; later sentences that end with a question mark add offered answers ("what is X, a
top? shoes?"), and those that state say why, as a reason before does ("what's X made out of? want something that
lasts"). A yes-or-no question after a reason keeps the reason: "buying for my brother, would X work for him?" asks
of him.

A clause asks for a thing named when an open asking word heads it, in a language that puts one first
(``open_asking_leads``: English, "..., which model is it?", not "X - Stretch Leggings be when it arrives?" nor "I
wonder how it fits"), or holds one anywhere, in a language that leaves it in place ("买给我哥哥，这个是什么颜色"),
or when it is a request: a verb that asks to be told a thing is its first word but function words ("Is X a product I
wear or apply on skin? Kindly mention the exact item type.", "Photos look off - could you confirm the colour of X?").
A sentence ends at ``?``, ``!`` or ``;`` (not at a full stop, which abbreviations hold: "U.S. Polo Assn. Kids"); a
comma (not a number's), colon, spaced dash or full stop ends a clause only before one that asks for a thing named,
since a list runs on commas too ("is it red, blue, or green?") and no asking word follows an abbreviation's stop
("need something to go with my navy trousers.. what colour is X?" asks in its last clause). A clause of asking
words alone asks of the one before ("Is X mostly one colour? Which one?").
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import NamedTuple

from multimodal_rag.language.wordings import languages_with, wordings
from multimodal_rag.words import is_stopword, tokens

_QUESTION = [wordings(language).question for language in languages_with("question")]
# The open asking words of languages that put one at the head of its clause, and of those that leave it in place.
_LEADING = frozenset(w for q in _QUESTION if q.open_asking_leads for w in q.open_asking)
_IN_PLACE = frozenset(w for q in _QUESTION if not q.open_asking_leads for w in q.open_asking)
REQUESTING = frozenset(w for q in _QUESTION for w in q.requesting)
# Not the full stop: abbreviations hold one ("U.S. Polo Assn. Kids T-shirt").
_SENTENCE_END = re.compile(r"([?!;？！；。]+)")
_QUESTION_MARK = re.compile(r"[?？]")
# Not the comma of a number ("under 1,000").
_CLAUSE_MARK = r"(?<!\d),|,(?!\d)|[:，、：]|\s[-–—]+\s"
# A full stop before a space ends a clause as a comma does, not a stretch (``stretches``), since a product's name
# holds abbreviations.
_STOP_MARK = r"\.+(?=\s)"
_CLAUSE_END = re.compile(f"({_CLAUSE_MARK})")
_CLAUSE_OR_STOP_END = re.compile(f"({_CLAUSE_MARK}|{_STOP_MARK})")
_PUNCTUATION = re.compile(f"(?:{_SENTENCE_END.pattern}|{_CLAUSE_END.pattern})")


def _asks(words: list[str]) -> bool:
    """True when a clause asks for a thing named: by an open asking word (``_asks_openly``) or as a request
    (``requests``)."""
    return _asks_openly(words) or requests(words)


def _asks_openly(words: list[str]) -> bool:
    """True when an open asking word heads the clause, or stands anywhere in it in a language that leaves the word
    in place ("I wonder how it fits" after a question asks nothing)."""
    return bool(words) and (words[0] in _LEADING or bool(_IN_PLACE & set(words)))


def requests(words: list[str]) -> bool:
    """True when a verb that asks to be told a thing (question.toml's ``requesting``) is the clause's first word
    that is not a function word: "kindly mention the exact item type", "could you confirm the colour of X"; not "I
    want it to go with my shoes"."""
    first = next((w for w in words if w in REQUESTING or not is_stopword(w)), None)
    return first in REQUESTING


class Clause(NamedTuple):
    text: str       # as written
    sentence: int   # which sentence of the question it is in, from 0
    marked: bool    # its sentence ends with a question mark


def clauses(question: str) -> list[Clause]:
    """The question cut into sentences, and a sentence where a clause that asks for a thing named begins."""
    out = []
    pieces = _SENTENCE_END.split(question)  # sentence, end, sentence, end, ...
    for number, (sentence, end) in enumerate(zip(pieces[::2], [*pieces[1::2], ""])):
        parts = _CLAUSE_OR_STOP_END.split(sentence)  # text, end, text, end, ...
        kept = [parts[0]]
        for mark, part in zip(parts[1::2], parts[2::2]):
            if _asks(tokens(part)):
                kept.append(part)
            else:
                kept[-1] += mark + part
        out += [Clause(k, number, bool(_QUESTION_MARK.search(end))) for k in kept if tokens(k)]
    return out


def asking_clause(question: str) -> set[int] | None:
    """The positions (in ``tokens(question)``) of where the question asks: from the last clause that asks for a
    thing named (by an open asking word; by a request where none does) to its sentence's end, and the later
    sentences that end with a question mark (they offer answers: "what is X, a top? shoes?"); a later sentence that
    states ("what's X made of? want something that lasts") says why, as a clause before does. None when that is the
    whole question, when no clause asks for a thing named, or when the words do not cut along the clauses (a Chinese
    stretch jieba cuts otherwise)."""
    parts = clauses(question)
    words = _cut(question, [c.text for c in parts])
    if len(parts) < 2 or words is None:
        return None
    # An open asking word says what is asked more surely than a verb of telling, which may lead a reason too ("What's
    # the weight of X? Kindly confirm, it is for shipping."): a request is where it asks only where none is.
    asking = ([i for i, p in enumerate(words) if _asks_openly(p)]
              or [i for i, p in enumerate(words) if requests(p)])
    # A clause of asking words alone ("Is X mostly one colour? Which one?") asks of the one before.
    if not asking or (asking[-1] > 0 and all(is_stopword(w) for w in words[asking[-1]])):
        return None
    last = asking[-1]
    kept = [i for i in range(last, len(parts)) if parts[i].sentence == parts[last].sentence or parts[i].marked]
    if kept == list(range(len(parts))):
        return None
    starts = [0, *accumulate(len(p) for p in words)]
    return {n for i in kept for n in range(starts[i], starts[i + 1])}


def stretches(question: str) -> list[int]:
    """Each token's stretch (in ``tokens(question)``): the words between two marks of punctuation (a sentence's or a
    clause's end, a comma, a spaced dash), numbered from 0; all 0 where the words do not cut along them."""
    parts = _cut(question, [p for p in _PUNCTUATION.split(question) if p])
    if parts is None:
        return [0] * len(tokens(question))
    return [n for n, part in enumerate(p for p in parts if p) for _ in part]


def _cut(question: str, pieces: list[str]) -> list[list[str]] | None:
    """The words of each piece of ``question``, when together they are the question's words (a Chinese stretch
    jieba cuts otherwise), else None."""
    words = [tokens(p) for p in pieces]
    return words if [w for p in words for w in p] == tokens(question) else None
