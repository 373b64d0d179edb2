"""The clause a question of several clauses asks in.

Shoppers say why before they ask: "would X go with a grey sofa? what colour is it", "need to look up reviews for X,
which model exactly is it?", "I want to pair X with jeans - which shade is it?". The clauses before the question
hold words of other fields ("grey", "reviews", "jeans") that read as the field asked. Where the question has
several clauses, the last one that asks for a thing named (by an open asking word, one that wants a thing named,
not a yes or no: question.toml's ``open_asking``) is where it asks, to the question's end (later clauses without
one add offered answers: "what is X, a top? shoes?"). A yes-or-no question after a reason keeps the reason:
"buying for my brother, would X work for him?" asks of him.

A clause asks for a thing named when an open asking word heads it, in a language that puts one first
(``open_asking_leads``: English, "..., which model is it?", not "X - Stretch Leggings be when it arrives?" nor "I
wonder how it fits"), or holds one anywhere, in a language that leaves it in place ("买给我哥哥，这个是什么颜色").
A sentence ends at ``?``, ``!`` or ``;`` (not at a full stop, which abbreviations hold: "U.S. Polo Assn. Kids"); a
comma (not a number's), colon or spaced dash ends a clause only before one that asks for a thing named, since a
list runs on commas too ("is it red, blue, or green?"). A clause of asking words alone asks of the one before
("Is X mostly one colour? Which one?").
"""

from __future__ import annotations

import re
from itertools import accumulate

from multimodal_rag.language.wordings import languages_with, wordings
from multimodal_rag.words import is_stopword, tokens

_QUESTION = [wordings(language).question for language in languages_with("question")]
# The open asking words of languages that put one at the head of its clause, and of those that leave it in place.
_LEADING = frozenset(w for q in _QUESTION if q.open_asking_leads for w in q.open_asking)
_IN_PLACE = frozenset(w for q in _QUESTION if not q.open_asking_leads for w in q.open_asking)
# Not the full stop: abbreviations hold one ("U.S. Polo Assn. Kids T-shirt").
_SENTENCE_END = re.compile(r"[?!;？！；。]+")
# Not the comma of a number ("under 1,000").
_CLAUSE_END = re.compile(r"((?<!\d),|,(?!\d)|[:，、：]|\s[-–—]+\s)")
_PUNCTUATION = re.compile(f"(?:{_SENTENCE_END.pattern}|{_CLAUSE_END.pattern})")


def _asks(words: list[str]) -> bool:
    """True when a clause asks for a thing named: an open asking word heads it, or stands anywhere in it in a
    language that leaves the word in place ("I wonder how it fits" after a question asks nothing)."""
    return bool(words) and (words[0] in _LEADING or bool(_IN_PLACE & set(words)))


def clauses(question: str) -> list[str]:
    """The question cut into sentences, and a sentence where a clause that asks for a thing named begins; each as
    written."""
    out = []
    for sentence in _SENTENCE_END.split(question):
        pieces = _CLAUSE_END.split(sentence)  # text, end, text, end, ...
        kept = [pieces[0]]
        for end, piece in zip(pieces[1::2], pieces[2::2]):
            if _asks(tokens(piece)):
                kept.append(piece)
            else:
                kept[-1] += end + piece
        out += [k for k in kept if tokens(k)]
    return out


def asking_clause(question: str) -> set[int] | None:
    """The positions (in ``tokens(question)``) from the last clause that asks for a thing named to the end, when
    clauses come before it; None for a question of one clause, one with no such clause after the first, or one
    whose words do not cut along its clauses (a Chinese stretch jieba cuts otherwise)."""
    parts = [tokens(c) for c in clauses(question)]
    if len(parts) < 2 or [w for p in parts for w in p] != tokens(question):
        return None
    asking = [i for i, p in enumerate(parts) if _asks(p)]
    # A clause of asking words alone ("Is X mostly one colour? Which one?") asks of the one before.
    if not asking or asking[-1] == 0 or all(is_stopword(w) for w in parts[asking[-1]]):
        return None
    starts = list(accumulate(len(p) for p in parts))
    return set(range(starts[asking[-1] - 1], starts[-1]))


def stretches(question: str) -> list[int]:
    """Each token's stretch (in ``tokens(question)``): the words between two marks of punctuation (a sentence's or a
    clause's end, a comma, a spaced dash), numbered from 0; all 0 where the words do not cut along them."""
    parts = [tokens(p) for p in _PUNCTUATION.split(question) if p]
    words = tokens(question)
    if [w for p in parts for w in p] != words:
        return [0] * len(words)
    return [n for n, part in enumerate(p for p in parts if p) for _ in part]
