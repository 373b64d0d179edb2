"""Which field of a product a question asks for, from the question's own words.

No sentence templates: the words left once the product's name is taken out are matched against the product's
field vocabulary (its attribute names as stored, and price, brand, category, rating, description), through
the languages' synonym sets (``language/data/<lang>/fields.toml``: "pay", "cost", "多少钱" -> price; "made by",
"어디 제품" -> brand),
an editable synonym table from the config (``[qa.synonyms]``), "who" questions (the brand when a verb of making
is asked, else whom the product is for), and, when no word matches, the text embedder's similarity between the
remaining words and the field names and synonym phrases. A yes-or-no question that none of these is sure of ("would
X do for the office?") is answered with the values of its nearest fields besides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from multimodal_rag.language.wordings import languages_with, merged, shoppers_words, wordings
from multimodal_rag.qa.clauses import REQUESTING
from multimodal_rag.words import designates, inflection_base, is_stopword, same_word, spelling, stem, tokens

CORE_FIELDS = ("price", "brand", "category", "rating", "description")

_WORDINGS = wordings().fields  # language/data/en/fields.toml: the "who" questions
# Every language's field wordings at once (language/data/<lang>/fields.toml): a catalog in one language is asked
# in another too ("how much is the 宜家马克杯?"), and phrases of different scripts never meet.
_EVERY = [wordings(language).fields for language in languages_with("fields")]
# concept -> phrases a shopper uses for it. A concept is a core field or a kind of attribute (see ATTRIBUTE_NAMES).
BUILTIN_SYNONYMS: dict[str, tuple[str, ...]] = merged(f.synonyms for f in _EVERY)
# attribute concept -> the attribute names (or name parts) it designates, in the order they are preferred
ATTRIBUTE_NAMES: dict[str, tuple[str, ...]] = merged(f.attribute_names for f in _EVERY)
# Loose phrases that yield to any other field named: "how much does it weigh", "what kind of material",
# "tell me about its colour".
WEAK_PHRASES = frozenset(tuple(tokens(p)) for f in _EVERY for p in f.weak_phrases)
# Below it the nearest generated question names no field (the lowest of a field asked in the dev wordings was 0.43).
FIELD_QUESTION_MIN_SIMILARITY = 0.4
EMBEDDING_MIN_SIMILARITY = 0.5  # below it a question's word names no field
# A noun asked that no value or name is near names the field whose values' mean it is this near, by this margin
# over the next field's (on myntra_dev's fields: "occasion" 0.50 to usage, 0.40 to season; "activity" 0.56 / 0.45;
# "weather" 0.53 / 0.34; "purpose" 0.42 / 0.40, read as none).
KIND_MIN_SIMILARITY = 0.45
KIND_MARGIN = 0.08
# A yes-or-no question no rule and no generated question reads is answered with the values of this many fields
# besides the word votes' one, those of the generated questions nearest to it: a need asked by meaning ("would X do
# for the office?") is near no one field's question, but the asked one was among the three nearest in each of the 23
# such questions of fresh9.
NEAREST_FIELDS_ANSWERED = 3
VALUES_PER_SHAPE = 3  # a field question shape is filled with this many of a field's commonest values (or sets)
# Every language's field question shapes ("Is it {a} or {b}?"), generated for a catalog's fields.
QUESTION_SHAPES = tuple(dict.fromkeys(q for f in _EVERY for q in f.questions))
CATALOG_QUESTIONS = tuple(dict.fromkeys(q for f in _EVERY for q in f.catalog_questions))
OPINION_QUESTIONS = tuple(dict.fromkeys(q for f in _EVERY for q in f.opinion_questions))
CATALOG, OPINION = "<catalog>", "<opinion>"  # what a question nearest to one of those asks: no field
MAX_VALUES = 200  # the values of an attribute with more (each held by a few products) are names, not categories
# A request is a question ("Kindly mention the item type of X."), its verb an asking word.
ASKING = frozenset(w for language in languages_with("question")
                   for w in wordings(language).question.asking) | REQUESTING
# "Who ..." asks who makes a product when one of these verbs says so ("who made", "who sells", "who is behind"),
# else whom it is for ("who would it suit", "who can wear it").
MAKING = _WORDINGS.who.making
WHAT_IT_IS = _WORDINGS.what_it_is
WHO = frozenset(_WORDINGS.who.asks)
# Words that list alternatives ("men, women or kids"), and those of them that offer answers to choose from ("or",
# "还是", "아니면"), of every language (language/data/<lang>/question.toml).
JOINERS = frozenset(w for language in languages_with("question")
                    for w in wordings(language).question.alternatives.joiners)
OFFERING = frozenset(w for language in languages_with("question")
                     for w in wordings(language).question.alternatives.offering)
# Verbs that go before the subject in a question, of every language: what follows the subject is the predicate's.
INVERTING = frozenset(w for language in languages_with("question") for w in wordings(language).question.inverting)
# Words that ask which one of a kind ("what", "which", "什么"), of every language: the noun after one names what is
# asked ("what activity is X suited for?").
DETERMINERS = frozenset(w for language in languages_with("question") for w in wordings(language).question.determiners)
# Asking words that want a thing named, not a yes or no, of every language: a question without one asks yes or no.
OPEN_ASKING = frozenset(w for language in languages_with("question") for w in wordings(language).question.open_asking)
# Words that ask a time, of every language; what answers them is a field whose values all read as years or dates.
WHEN = frozenset(w for f in _EVERY for w in f.when)
SHOPPERS_WORDS = shoppers_words()  # a shopper's word for a facet value -> the values it may name
_TEMPORAL = re.compile(r"(?:1[89]|2[01])\d\d(?:[-/.]\d{1,2}(?:[-/.]\d{1,2})?)?")


@dataclass(frozen=True)
class FieldQuestion:
    """The field a question asks for: ``name`` as the product stores it (an attribute key, or a core field);
    ``how`` says which rule found it: "name" (the attribute's own name), "synonym", "embedding", "offered"
    (the question offers catalog values of it, or answers near them: "for men or women?", "for daily use or for
    special occasions?"), "asked noun" (the noun a question asks for: "what activity is X suited for?"), "identity"
    (the question says nothing but the product: "what is X?", its kind), "nearest" (a yes-or-no question nothing
    else reads, no word voting either: the field of the nearest generated question, with the next nearest in
    ``also``), or "parsed" (a question parser read it: a chat model's structured output)."""

    name: str
    how: str
    words: tuple[str, ...] = ()  # the question words that named it
    also: tuple[str, ...] = ()  # fields answered besides: those the reader could not tell ``name`` from


def offered_alternatives(words: Sequence[str]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The answers a question offers to choose from, around each offering word: (the run of content words before
    it, the run after it), as word positions, the function words next to the offering word skipped ("for daily use
    or for special occasions": "daily use" / "special occasions"; "the gym or a party": "gym" / "party"); one run
    may be empty ("glass or what?"). A run before the offering word may reach into the product's name ("X black or
    brown"): callers keep the words they know are free."""
    def run(start: int, step: int) -> tuple[int, ...]:
        i = start
        while 0 <= i < len(words) and words[i] not in JOINERS and is_stopword(words[i]):
            i += step
        out = []
        while 0 <= i < len(words) and words[i] not in JOINERS and not is_stopword(words[i]):
            out.append(i)
            i += step
        return tuple(sorted(out))

    sides = [(run(i - 1, -1), run(i + 1, 1)) for i, w in enumerate(words) if w in OFFERING]
    return [(before, after) for before, after in sides if before or after]


def asked_noun(words: Sequence[str], free: set[int]) -> tuple[int, ...]:
    """The noun a question asks for through a word that asks which one (``DETERMINERS``), as positions among
    ``free``: the content words after the first such word, the function words and loose words ("sort of", "kind
    of": ``WEAK_PHRASES``) before them passed over, up to an asking word ("is", "does") or the product's name, the
    function words between them passed over ("what activity is X suited for?": activity; "what sort of use is X
    made for?": use; "what style of use is X?": style, use); the loose words themselves when an asking word
    follows them ("which item type would X be listed under?": type). Empty when an asking word, the product's name
    or nothing follows ("what do I unpack from X?": the word asks no kind)."""
    for start in sorted(i for i in free if words[i] in DETERMINERS):
        i = start + 1
        loose = []
        while i in free and words[i] not in ASKING and (is_stopword(words[i]) or (words[i],) in WEAK_PHRASES):
            if not is_stopword(words[i]):
                loose.append(i)
            i += 1
        run = []
        while i in free and words[i] not in ASKING:
            if not is_stopword(words[i]):
                run.append(i)
            i += 1
        if run:
            return tuple(run)
        if loose and i in free and words[i] in ASKING:
            return tuple(loose)
    return ()


def _phrases(synonyms: Mapping[str, Sequence[str]]) -> list[tuple[tuple[str, ...], str]]:
    """(phrase tokens, concept), longest phrases first so "made by" wins over "made"."""
    out = [(tuple(tokens(p)), concept) for concept, phrases in synonyms.items() for p in phrases]
    return sorted((p for p in out if p[0]), key=lambda item: -len(item[0]))


def holds(words: Sequence[str], phrase: Sequence[str], same: Callable[[str, str], bool] = str.__eq__) -> bool:
    """``phrase`` (not empty) occurs in ``words``, word by word as ``same`` compares them."""
    n = len(phrase)
    return n > 0 and any(all(same(a, b) for a, b in zip(words[i:i + n], phrase)) for i in range(len(words) - n + 1))


def _name_words(name: str) -> list[str]:
    return [stem(w) for w in tokens(name) if not is_stopword(w)]


class FieldResolver:
    """Finds the asked field among a product's fields. ``synonyms`` extends the built-in table (keys: a core field,
    a built-in concept, or an attribute name as stored); ``embed`` (texts -> normalised vectors) enables the
    embedding fallback."""

    def __init__(self, synonyms: Mapping[str, Sequence[str]] | None = None,
                 embed: Callable[[list[str]], np.ndarray] | None = None):
        merged: dict[str, list[str]] = {k: list(v) for k, v in BUILTIN_SYNONYMS.items()}
        for key, phrases in (synonyms or {}).items():
            if isinstance(phrases, str):
                phrases = [phrases]
            merged.setdefault(spelling(key) if key.lower() in BUILTIN_SYNONYMS else key, []).extend(phrases)
        self.phrases = _phrases(merged)
        # Words of the field vocabulary ("intended", "box", "weigh", "behind"): a question's phrasing, never what
        # names the product, though a product's name may hold them too.
        self.phrasing = frozenset(w for phrase, _ in self.phrases for w in phrase) | MAKING
        self.embed = embed
        self._vectors: dict[str, np.ndarray] = {}  # embeddings of field names, phrases, values, generated questions
        self._last_similarities: tuple[tuple, dict[str, float]] | None = None  # the last question's _similarities

    # -- the words ----------------------------------------------------------------------------------------------

    def field_words(self, question_words: Sequence[str], attributes: Sequence[str] = ()) -> set[int]:
        """Positions of the words that may name a field (a synonym phrase, or a whole attribute name); they may
        also be product words ("mug" of "Mug Capacity")."""
        found: set[int] = set()
        for phrase, _ in self.phrases:
            for start in self._occurrences(question_words, phrase):
                found.update(range(start, start + len(phrase)))
        for attribute in attributes:
            share, positions = self._name_match(question_words, attribute)
            if share == 1.0:
                found.update(positions)
        return found

    @staticmethod
    def _occurrences(words: Sequence[str], phrase: tuple[str, ...]) -> list[int]:
        n = len(phrase)
        return [i for i in range(len(words) - n + 1)
                if all(words[i + j] == phrase[j] or (len(phrase[j]) > 3 and (
                    same_word(words[i + j], phrase[j]) or inflection_base(words[i + j]) == inflection_base(phrase[j])))
                       for j in range(n))]

    @staticmethod
    def _name_match(words: Sequence[str], attribute: str, among: set[int] | None = None) -> tuple[float, set[int]]:
        """(share of the attribute name's words the question holds, their positions); 1.0 is a whole-name match.
        ``among``: only the words at these positions count."""
        wanted = _name_words(attribute)
        if not wanted:
            return 0.0, set()
        indices = [i for i in range(len(words)) if among is None or i in among]
        found = [next((i for i in indices if same_word(words[i], w)), None) for w in wanted]
        return sum(i is not None for i in found) / len(wanted), {i for i in found if i is not None}

    # -- the field ----------------------------------------------------------------------------------------------

    def resolve(self, words: Sequence[str], free: set[int], product: Mapping[str, Any],
                known: Sequence[str] = (), values: Mapping[str, Iterable[str]] | None = None,
                question_mark: bool = False) -> FieldQuestion | None:
        """The field the question ``words`` ask for, or None. ``free``: positions of the words that are not the
        product's name; a field must be named by at least one of them. ``known``: attribute names other products
        have (the catalog's), which the question may name though this product lacks them. ``values``: the catalog's
        values of each attribute (its facet vocabulary), the evidence of a field offered by its values and the
        embedding fallback's reach into wordings no table lists ("in the cold months" is near "Winter").
        ``question_mark``: the question was written with one (a yes-no question holds no asking word: "X: for him
        or for her?")."""
        own = [str(k) for k in (product.get("attributes") or {})]
        core = held_core_fields(product)
        ruled = self._by_rules(words, free, own, known, values or {}, core)
        if not is_question(words, question_mark):
            if ruled is not None:
                return ruled
            # A choice offered between one field's values asks it, question or not ("X ladies or gents").
            said = self._values_in(_answers_offered(words, free), own, values or {})
            return _offered_field(said) if len(said) == 1 else None
        if ruled is None or self._yields_to_offer(ruled):
            overruled = (self._offered_answers(words, free, own, values or {}, core, ruled)
                         or self._by_asked_noun(words, free, own, values or {}, core, ruled))
            if overruled is not None:
                return overruled
        elif ruled.how == "synonym" and (noun := self._by_asked_noun(words, free, own, values or {}, core, ruled,
                                                                     by_meaning=False)) is not None:
            # A phrase said of the noun asked, which names a field itself: "which item type would X be listed
            # under?" asks the kind, not the category "listed under" names.
            return noun
        if ruled is None:
            return self._what_it_is(words, free, own, values or {}, core) or self._by_embedding(
                words, free, own, values or {}, core)
        return self._arbitrated(ruled, words, free, own, values or {}, core)

    def read_by_rules(self, words: Sequence[str], free: set[int], product: Mapping[str, Any],
                      known: Sequence[str] = (), values: Mapping[str, Iterable[str]] | None = None
                      ) -> FieldQuestion | None:
        """The field the free words name firmly (an attribute's name, a synonym phrase, its values offered), no
        embedding: what ``resolve`` reads before it weighs the generated questions."""
        return self._by_rules(words, free, [str(k) for k in (product.get("attributes") or {})], known, values or {},
                              held_core_fields(product))

    def _by_rules(self, words: Sequence[str], free: set[int], own: Sequence[str], known: Sequence[str],
                  values: Mapping[str, Iterable[str]], core: Sequence[str] = CORE_FIELDS) -> FieldQuestion | None:
        """The field the rules read (steps 1-3), or None. ``core``: the core fields the product holds."""
        # 1. The catalog's own evidence, before any wording the language's tables hold (written for other catalogs:
        # "suited to" is an ideal-for phrase, but "which season is X suited to" names this catalog's "season"):
        # one of the product's attributes named in full by words outside the product's name, most specific (most
        # words) first, a loose word ("type", "kind") only when it is the whole of a longer name ("dial color",
        # "mug capacity"; "light color" is not asked by "what color is X Light"); else an attribute two or more
        # of whose catalog values the question offers ("spring, summer, fall or winter?").
        named = [(n, q) for n, q in self._whole_names(words, free, own, among=free)
                 if n >= 2 or q.words not in WEAK_PHRASES]
        if named:
            return named[0][1]
        if offered := self._offered(words, free, own, values):
            return offered
        # 2. A synonym phrase among the free words; the loose ones ("how much", "kind of", "about") only when no
        # other field is named, then one of a field the product holds before one it lacks ("Describe the colour
        # of X", X with no description: its colour), else earliest first. Its concept is resolved to this
        # product's field.
        hits = sorted((phrase in WEAK_PHRASES, not self._holds(concept, own, core), start, -len(phrase), concept,
                       phrase)
                      for phrase, concept in self.phrases for start in self._occurrences(words, phrase)
                      if free & set(range(start, start + len(phrase))))
        for *_, concept, phrase in hits:
            name = self._concept_field(concept, own, words, free, phrase)
            if name is not None:
                return (self._object_of(name, phrase, words, free, own, values)
                        or FieldQuestion(name, "synonym", phrase))
        # 3. A one-word attribute name of the product ("warranty"), or one named in full with the product's name's
        # help ("capacity" of X Mug: "Mug Capacity"), then one of the catalog's attributes, which this product does
        # not list.
        whole = self._whole_names(words, free, own)
        if whole:
            return whole[0][1]
        others = self._whole_names(words, free, [a for a in known if a not in own])
        if others:
            return others[0][1]
        return self._who(words, free, own)

    def _holds(self, concept: str, own: Sequence[str], core: Sequence[str]) -> bool:
        """True when the product holds a field of ``concept``: a core field it has, or an attribute it stores for
        it."""
        return concept in core if concept in CORE_FIELDS else bool(
            self.stored_names(concept, own) or self._stored_name(concept, own) in own)

    def _arbitrated(self, ruled: FieldQuestion, words: Sequence[str], free: set[int], own: Sequence[str],
                    values: Mapping[str, Iterable[str]], core: Sequence[str] = CORE_FIELDS) -> FieldQuestion:
        """The rules' field, unless it was read from loose evidence (a one-word name that may be said in passing:
        "time of year"; a synonym phrase whose concept this catalog does not store) and the catalog's generated
        questions read another of its fields ("Which time of the year suits X best?" is nearest to "Is it fall,
        spring or summer?": season, not year). A name of several words ("base colour"), a synonym of a field the
        catalog has, or a field the rules read from the catalog's values stands."""
        # a synonym's concept this catalog does not store is none of the fields the generated questions ask
        unheld = ruled.how == "synonym" and ruled.name not in {*CORE_FIELDS, *own}
        loose = unheld or (ruled.how == "name" and len(_name_words(ruled.name)) == 1)
        if not loose:
            return ruled  # no question embedded for a field the rules read firmly
        similarities = self._similarities(words, free, own, values, core)
        fields = {f: v for f, v in similarities.items() if f not in (CATALOG, OPINION)}
        if not fields:
            return ruled
        field, similarity = max(fields.items(), key=lambda item: item[1])
        if field.lower() == ruled.name.lower() or similarity < FIELD_QUESTION_MIN_SIMILARITY:
            return ruled
        return FieldQuestion(field, "embedding", tuple(words[i] for i in sorted(free)))

    def _what_it_is(self, words: Sequence[str], free: set[int], own: Sequence[str],
                    values: Mapping[str, Iterable[str]], core: Sequence[str]) -> FieldQuestion | None:
        """A question that says nothing but the product, function words aside ("What exactly is X?", "Tell me what X
        is."), asks what it is: the product's attribute of the ``what_it_is`` concept (its kind), else its category;
        not when one of its words is one the wordings read ("for him or for her": alternatives; "when did X come
        out": a time; "who"), nor when it is nearest to a question that asks the catalog, an opinion or the
        description the product has ("Do you have X?", "How is X?", "What can you tell me of X?"): without the text
        embedder to tell those apart, none."""
        said = {words[i] for i in free}
        if (WHAT_IT_IS is None or self.embed is None or any(not is_stopword(w) for w in said)
                or said & (OFFERING | WHEN | WHO)):
            return None
        kinds = self.stored_names(WHAT_IT_IS, own)
        name = self._concept_field(WHAT_IT_IS, own, words, free, ()) if kinds else (
            "category" if "category" in core else None)
        if name is None:
            return None
        nearest = self._nearest(words, free, own, values, core)
        if nearest is not None and nearest[1] in (CATALOG, OPINION, "description"):
            return None  # "what can you tell me of X?" is nearest to "Tell me its description." where it has one
        return FieldQuestion(name, "identity", tuple(words[i] for i in sorted(free)))

    def _yields_to_offer(self, ruled: FieldQuestion) -> bool:
        """A reading the answers a question offers may overrule: a phrase of relation ("meant for", "suit": whom it
        is for; ``relates``), what such a phrase is said of read by the words' votes over the field names
        ("meant for layering up when it gets chilly, or for the warmer months?": "months" is near "year", but the
        answers offered are near "Winter"), or a one-word name that may be said in passing ("part of the year").
        A field's own phrase ("how much is the red or the blue one?" asks the price), a name of several words and
        the values said word for word stand."""
        if ruled.how == "embedding":
            return True
        if ruled.how == "synonym":
            return self.relates(ruled.name, ruled.words)
        return ruled.how == "name" and len(_name_words(ruled.name)) == 1

    def _offered_answers(self, words: Sequence[str], free: set[int], own: Sequence[str],
                         values: Mapping[str, Iterable[str]], core: Sequence[str],
                         ruled: FieldQuestion | None) -> FieldQuestion | None:
        """The field the answers the question offers (both sides of an offering word, outside the product's name)
        ask, when they are no catalog value of the field the rules read (``ruled``): the one field whose values
        they say word for word ("casual wear or something dressier?": "Casual"), else the field whose values (or
        name) they are nearest to by the text embedder, each answer a vote (``_votes``): "Is X for daily use or
        for special occasions?" ("daily use" is near "usage"), "would X suit the gym or the beach?" ("gym" is near
        "Sports"), though "for" and "suit" read whom it is for. Where no two answers are near one field, the
        generated question nearest to the whole question reads them when it is another field's. None when none is
        near enough, or when one is said of, or votes for, the field the rules read. Without the text embedder,
        only values said word for word are read."""
        offered = _answers_offered(words, free)
        if not offered:
            return None
        # Values said word for word come first ("casual wear or something dressier?": "Casual" is a usage value,
        # though "casual wear" is nearer to "Casual Shoes"); a value of the field read lets the reading stand.
        said = self._values_in(offered, own, values)
        read = self._same_field(ruled.name, own) if ruled is not None else set()
        if said.keys() & read:
            return None
        if len(said) == 1:
            return _offered_field(said)
        answers = list(dict.fromkeys(offered))
        votes, voters = self._votes(answers, self._vote_targets(own, values, core))
        if len(answers) > 1 and votes and max(map(len, voters.values())) == 1:
            # The answers offered are one field's values: a field no two of them are near is thin evidence ("for
            # daily wear or for some function?": "daily wear" is near the kind "Dresses", "function" near none),
            # and the whole question, nearest to a generated question of another field, reads what they offer
            # together (usage's "Is it for casual or party?").
            nearest = self._nearest(words, free, own, values, core)
            if nearest is not None and nearest[1] not in (CATALOG, OPINION, "description", *votes):
                return FieldQuestion(nearest[1], "embedding", tuple(answers))
        return _chosen(votes, voters, "offered", read)

    def _values_in(self, offered: Sequence[str], own: Sequence[str],
                   values: Mapping[str, Iterable[str]]) -> dict[str, list[tuple[str, ...]]]:
        """The product's attributes whose catalog values the ``offered`` answers say word for word
        (``_values_said``), a shopper's word for a value (``facets.toml``: "ladies", "gents") read as the value."""
        words = tokens(" ".join(offered))
        answers = words + [v for w in words for v in named_value_words(w)]
        return self._values_said(answers, set(range(len(answers))), own, values, _as_written)

    def _by_asked_noun(self, words: Sequence[str], free: set[int], own: Sequence[str],
                       values: Mapping[str, Iterable[str]], core: Sequence[str],
                       ruled: FieldQuestion | None, by_meaning: bool = True) -> FieldQuestion | None:
        """The field the noun the question asks for (``asked_noun``) names, by the rules read over its words alone
        ("X - what shade?": a colour, though "made for" of X's name reads whom it is for), else the one it is nearest
        to by its name or its catalog values, each of its words and the whole a vote (``_votes``): what a phrase of
        relation is said of ("What activity is X suited for?": "activity" is near "Sports", usage, not whom it is
        for). None when no word is near enough, or it names or votes for the field the rules read, or the noun is
        the word that read it ("what fabric is X?": a material). ``by_meaning``: False reads the noun by the rules
        alone."""
        positions = asked_noun(words, free)
        noun = [words[i] for i in positions]
        if not noun or ruled is not None and any(same_word(w, r) for w in noun for r in ruled.words):
            return None
        read = self._same_field(ruled.name, own) if ruled is not None else set()
        if (named := self._by_rules(words, set(positions), own, (), values, core)) is not None:
            return None if named.name in read else named
        if not by_meaning:
            return None
        votes, voters = self._votes(noun + [" ".join(noun)] * (len(noun) > 1), self._vote_targets(own, values, core))
        if votes:
            return _chosen(votes, voters, "asked noun", read)
        kind = self._kind_of(" ".join(noun), own, values)
        return None if kind is None or kind in read else FieldQuestion(kind, "asked noun", tuple(noun))

    def _kind_of(self, noun: str, own: Sequence[str], values: Mapping[str, Iterable[str]]) -> str | None:
        """The product's attribute whose catalog values, taken together, are the kind of thing ``noun`` names: the
        one whose values' mean embedding is nearest to it, by ``KIND_MARGIN`` over the next (a word for the kind is
        near all the values a little, none of them much: "occasion" is at most 0.43 from any one value, "Party",
        but nearer to the mean of "Casual", "Formal", "Ethnic", "Sports", "Party" than to any other field's mean).
        None when no attribute's mean is ``KIND_MIN_SIMILARITY`` near, or two are about as near ("purpose"); only
        attributes whose values are categories (``MAX_VALUES`` at most), numbers left out."""
        if self.embed is None:
            return None
        held: dict[str, list[str]] = {}
        for text, name in self._value_targets(own, values):
            held.setdefault(name, []).append(text)
        if not held:
            return None
        means = {name: (mean := self._embedded(texts).mean(axis=0)) / np.linalg.norm(mean)
                 for name, texts in held.items()}
        similarity = self.embed([noun])[0] @ np.stack(list(means.values())).T
        ranked = sorted(zip(similarity.tolist(), means), reverse=True)
        best, field = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else -1.0
        return field if best >= KIND_MIN_SIMILARITY and best - runner_up >= KIND_MARGIN else None

    def _same_field(self, name: str, own: Sequence[str]) -> set[str]:
        """``name`` and the product's attributes stored for the same concept ("Suitable For" beside "Ideal For")."""
        return {name, *self.stored_names(name, own),
                *(a for concept in ATTRIBUTE_NAMES if name in (stored := self.stored_names(concept, own))
                  for a in stored)}

    @staticmethod
    def _values_said(words: Sequence[str], free: set[int], own: Sequence[str], values: Mapping[str, Iterable[str]],
                     same: Callable[[str, str], bool] = same_word) -> dict[str, list[tuple[str, ...]]]:
        """The product's attributes whose catalog values the free words hold (word by word as ``same`` compares
        them), with those values (as words), in the product's order."""
        asked = [words[i] for i in sorted(free)]
        said = {}
        for name in own:
            spelled = {tuple(tokens(str(v))) for v in values.get(name, ())}
            if hits := sorted(v for v in spelled if v and holds(asked, v, same)):
                said[name] = hits
        return said

    def _offered(self, words: Sequence[str], free: set[int], own: Sequence[str],
                 values: Mapping[str, Iterable[str]]) -> FieldQuestion | None:
        """The product's attribute whose catalog values the free words offer most (two at least). Only its own: a
        list of values another attribute holds too ("plastic, metal, cloth" of a Box Material) is no evidence
        against the product's field that the question's other words name ("made of": Material)."""
        said = [(len(hits), -rank, name, hits) for rank, (name, hits) in
                enumerate(self._values_said(words, free, own, values).items()) if len(hits) >= 2]
        if not said:
            return None
        _, _, name, hits = max(said)
        return FieldQuestion(name, "offered", tuple(w for v in hits for w in v))

    @staticmethod
    def relates(field: str, phrase: Sequence[str]) -> bool:
        """True when ``phrase`` reads ``field`` as a relation ("meant for", "suits": whom it is for) rather than by
        its name ("gender") or a core field's own phrase ("how much", "made by"): what the relation is said of
        may name another field."""
        return field not in CORE_FIELDS and not set(map(stem, phrase)) & set(_name_words(field))

    def _object_of(self, field: str, phrase: Sequence[str], words: Sequence[str], free: set[int],
                   own: Sequence[str], values: Mapping[str, Iterable[str]]) -> FieldQuestion | None:
        """The field a phrase of relation asks through what it is said of: "meant for", "made for", "suits" read
        as whom a product is for ("ideal for") ask another field when the question says one of that field's
        catalog values ("meant for sports": usage, "made for the summer months": season). Only for a phrase of
        relation (``relates``: the field's own name, "gender", "colour", stands, and so does a core field's phrase:
        "what category does X fall under" asks the category, not the season "Fall"), and only when the values
        said are of one other attribute of the product and none of the field's own."""
        if not self.relates(field, phrase):
            return None
        spoken = {i for start in self._occurrences(words, tuple(phrase)) for i in range(start, start + len(phrase))}
        # one value is thin evidence: said as written (``_as_written``)
        said = self._values_said(words, free - spoken, own, values, _as_written)
        if not said:
            # No value said word for word: what the relation is said of may still name another of the product's
            # fields, in other words ("what sort of use is it made for": usage), by the word votes over their
            # names alone (a value's nearness is too loose here: "wear" is near "Dresses", a kind, not a use). A
            # field stored for the same concept ("Suitable For" beside "Ideal For") is the same one.
            voted = self._by_word_votes(words, free - spoken, own, {}, core=(), phrases=False)
            return voted if voted is not None and voted.name not in self._same_field(field, own) else None
        if len(said) != 1 or field in said:
            return None
        name, hits = next(iter(said.items()))
        return FieldQuestion(name, "offered", tuple(w for v in hits for w in v))

    def _whole_names(self, words: Sequence[str], free: set[int], attributes: Sequence[str],
                     among: set[int] | None = None) -> list[tuple[int, FieldQuestion]]:
        """Attributes named in full (by the words at ``among``, else anywhere) with at least one free word, most
        name words first."""
        out = []
        for attribute in attributes:
            share, positions = self._name_match(words, attribute, among)
            if share == 1.0 and positions & free:
                question = FieldQuestion(attribute, "name", tuple(words[i] for i in sorted(positions)))
                out.append((len(_name_words(attribute)), question))
        return sorted(out, key=lambda item: -item[0])

    def _who(self, words: Sequence[str], free: set[int], attributes: Sequence[str]) -> FieldQuestion | None:
        """A "who" question no phrase resolved: the brand when a verb of making is asked ("who made X", "who is
        behind X"), else whom the product is for ("who would X suit", "who can wear or use X")."""
        asked = [words[i] for i in sorted(free)]
        who = next((w for w in asked if w in WHO), None)
        if who is None:
            return None
        making = [w for w in asked if any(same_word(w, m) for m in MAKING)]
        if making:
            return FieldQuestion("brand", "synonym", (who, making[0]))
        return FieldQuestion(self._concept_field(_WORDINGS.who.for_whom, attributes, words, free, (who,)), "synonym",
                             (who,))

    @staticmethod
    def _when(words: Sequence[str], free: set[int], attributes: Sequence[str],
              values: Mapping[str, Iterable[str]]) -> FieldQuestion | None:
        """A question that asks a time, its first asking word one of ``when`` ("when did X come out", not "would X
        keep me warm when it snows?"), and that the rules do not read: the product's one field whose catalog values
        are all years or dates, found by their shape, whatever its name."""
        asked = next((words[i] for i in sorted(free) if words[i] in ASKING or words[i] in WHEN), None)
        if asked not in WHEN:
            return None
        timed = [a for a in attributes if (held := list(values.get(a, ())))
                 and all(_TEMPORAL.fullmatch(str(v).strip()) for v in held)]
        return FieldQuestion(timed[0], "synonym", (asked,)) if len(timed) == 1 else None

    def _concept_field(self, concept: str, attributes: Sequence[str], words: Sequence[str], free: set[int],
                       phrase: Sequence[str]) -> str | None:
        """A concept as this product's field: a core field, an attribute it designates (the one whose own further
        words the question asks outside the product's name and the synonym ``phrase``: "dial" of "Dial Color";
        then the one the concept's names prefer, then the plainest), or the concept itself when the product has no
        such attribute (so the answer can say the catalog does not list it)."""
        if concept in CORE_FIELDS:
            return concept
        names = ATTRIBUTE_NAMES.get(concept, (concept,))
        ranked = [(a, min(i for i, n in enumerate(names) if designates(n, a)))
                  for a in self.stored_names(concept, attributes)]
        if not ranked:
            return concept if concept in ATTRIBUTE_NAMES else self._stored_name(concept, attributes)
        plain = {stem(w) for n in (*names, *phrase) for w in tokens(n)}
        asked = [words[i] for i in sorted(free)]

        def further(attribute: str) -> float:
            extra = [w for w in _name_words(attribute) if w not in plain]
            return sum(any(same_word(q, w) for q in asked) for w in extra) / len(extra) if extra else 0.0

        return max(ranked, key=lambda item: (further(item[0]), -item[1], -len(_name_words(item[0])),
                                             -attributes.index(item[0])))[0]

    @staticmethod
    def stored_names(field: str, attributes: Sequence[str]) -> list[str]:
        """The ``attributes`` that may hold a field or concept: products name one concept differently ("Ideal
        For", "Suitable For", "Designed For")."""
        names = ATTRIBUTE_NAMES.get(field, (field,))
        return [a for a in attributes if any(designates(n, a) for n in names)]

    @staticmethod
    def _stored_name(concept: str, attributes: Sequence[str]) -> str:
        """A user synonym's key as the product stores it (case and spacing may differ), else the key itself."""
        return next((a for a in attributes if spelling(a) == spelling(concept)), concept)

    def _by_embedding(self, words: Sequence[str], free: set[int], attributes: Sequence[str],
                      values: Mapping[str, Iterable[str]], core: Sequence[str] = CORE_FIELDS) -> FieldQuestion | None:
        """The field of the generated question (``field_questions``) nearest to the question as asked, its product's
        name said as "it", by the text embedder, when at least ``FIELD_QUESTION_MIN_SIMILARITY``: questions of
        each of the product's fields and of the core fields it holds, in the language's own question shapes, with the
        catalog's values ("What occasion is X for?" is nearest to "Is it for party or formal?": usage; "can I
        wear X in the cold months, or is it for warm weather?" to "Is it summer or winter?": season). None when a
        question that asks the catalog is nearer ("what Diviniti showpieces do you stock?"). When no generated
        question is near enough, the word votes (``_by_word_votes``), a yes-or-no question's nearest fields
        answered besides (``_with_nearest_fields``)."""
        nearest = self._nearest(words, free, attributes, values, core)
        if nearest is not None and nearest[1] in (CATALOG, OPINION):
            return None
        # A time asked says the answer's kind, as a noun asked does: the product's date field, before the nearest
        # generated question or the word votes, which do not tell a time from a price ("When was X added to the
        # catalogue?").
        if (timed := self._when(words, free, attributes, values)) is not None:
            return timed
        if nearest is None:
            voted = self._by_word_votes(words, free, attributes, values, core)
            return self._with_nearest_fields(voted, words, free, attributes, values, core)
        return FieldQuestion(nearest[1], "embedding", tuple(words[i] for i in sorted(free)))

    def _with_nearest_fields(self, voted: FieldQuestion | None, words: Sequence[str], free: set[int],
                             attributes: Sequence[str], values: Mapping[str, Iterable[str]],
                             core: Sequence[str]) -> FieldQuestion | None:
        """A yes-or-no question (no open asking word or offering word among its free words) that names a need by
        its meaning only ("need something for the office on monday, would X do?", "would X work for my brother?",
        "could I gift X to my son?") asks whichever of the product's facts settles it, which no one reading is
        sure of: the field the word votes read (``voted``: "son" is near the value "Boys"; "work" near the price's
        "pay"), and besides it (``also``) the fields of the ``NEAREST_FIELDS_ANSWERED`` nearest generated
        questions, all answered, a reader's n-best ("the office" is nearest to the kind's, colour's and usage's
        questions); the nearest one is read, how "nearest", when no word votes. Not the description (prose, not a
        fact to list), nor the questions that ask the catalog or an opinion: below ``FIELD_QUESTION_MIN_SIMILARITY``
        they are no nearer in meaning than a field's ("would X work for my brother?" is nearest to an opinion's at
        0.34, gender's at 0.28). So is one that offers answers in words no field's values are near, a need by
        its meaning too ("I have a job interview on Friday. Would X be appropriate, or is it more for relaxed
        days?"). A question that asks for a thing named, or offers answers of function words only ("X: for him or
        for her?" of a catalog with no gender), keeps ``voted``."""
        said = {words[i] for i in free}
        if said & OPEN_ASKING or (said & OFFERING and not _answers_offered(words, free)):
            return voted
        similarities = self._similarities(words, free, attributes, values, core)
        # One field under two spellings (the core "brand" and Flipkart's attribute "Brand") is answered once.
        spelled = {spelling(voted.name)} if voted is not None else set()
        nearest = []
        for field in sorted(similarities, key=similarities.__getitem__, reverse=True):
            if field not in (CATALOG, OPINION, "description") and spelling(field) not in spelled:
                spelled.add(spelling(field))
                nearest.append(field)
        nearest = nearest[:NEAREST_FIELDS_ANSWERED]
        if voted is not None:
            return replace(voted, also=tuple(nearest))
        if not nearest:
            return None
        return FieldQuestion(nearest[0], "nearest", tuple(words[i] for i in sorted(free)), tuple(nearest[1:]))

    def asks_the_catalog(self, words: Sequence[str], free: set[int], attributes: Sequence[str],
                         values: Mapping[str, Iterable[str]] | None = None,
                         core: Sequence[str] = CORE_FIELDS) -> bool:
        """True when the question, its product's name said as "it", is nearest to a question that asks the catalog
        rather than a field ("what Diviniti showpieces do you stock?": "Which ones do you stock?")."""
        nearest = self._nearest(words, free, attributes, values or {}, core)
        return nearest is not None and nearest[1] == CATALOG

    def _nearest(self, words: Sequence[str], free: set[int], attributes: Sequence[str],
                 values: Mapping[str, Iterable[str]], core: Sequence[str] = CORE_FIELDS) -> tuple[float, str] | None:
        """(similarity, field) of the generated question nearest to the question (``CATALOG`` or ``OPINION`` as the
        field: a question that asks none), when at least ``FIELD_QUESTION_MIN_SIMILARITY``; None without an embedder
        or free words."""
        similarities = self._similarities(words, free, attributes, values, core)
        if not similarities:
            return None
        field, similarity = max(similarities.items(), key=lambda item: item[1])
        return (similarity, field) if similarity >= FIELD_QUESTION_MIN_SIMILARITY else None

    def _similarities(self, words: Sequence[str], free: set[int], attributes: Sequence[str],
                      values: Mapping[str, Iterable[str]], core: Sequence[str] = CORE_FIELDS) -> dict[str, float]:
        """Each field's (and ``CATALOG``'s, ``OPINION``'s) similarity: that of its generated question nearest to the
        question, its product's name said as "it". Empty without an embedder or free words. Fields: the ``core``
        fields the product holds and its ``attributes``."""
        if self.embed is None or not free:
            return {}
        # Function words say what is asked as much as the rest here ("X: for him or for her?"), so all are kept.
        asked = " ".join(words[i] if i in free else "it" for i in range(len(words))
                         if i in free or i - 1 in free or i == 0)
        key = (asked, tuple(core), tuple(attributes), id(values))
        if self._last_similarities is not None and self._last_similarities[0] == key:
            # resolve() and lookup()'s catalog check ask again of the same question
            return self._last_similarities[1]
        targets = [(question, field) for field in dict.fromkeys([*core, *attributes])
                   for question in field_questions(field, values.get(field, ()))]
        targets += [(question, CATALOG) for question in CATALOG_QUESTIONS]
        targets += [(question, OPINION) for question in OPINION_QUESTIONS]
        similarity = self.embed([asked])[0] @ self._embedded([t for t, _ in targets]).T
        best: dict[str, float] = {}
        for (_, field), value in zip(targets, similarity.tolist()):
            best[field] = max(best.get(field, -1.0), value)
        self._last_similarities = (key, best)  # one assignment: safe to share between threads
        return best

    def _by_word_votes(self, words: Sequence[str], free: set[int], attributes: Sequence[str],
                       values: Mapping[str, Iterable[str]], core: Sequence[str] = CORE_FIELDS,
                       phrases: bool = True) -> FieldQuestion | None:
        """The free words against the product's field names, their catalog values (of a field whose values are
        categories, not free text) and every synonym phrase, by the text embedder: for a question no generated
        question is near enough ("Could I gift X to my son?": "son" is near "Boys"; a yes-or-no one is answered
        with its nearest fields besides), and for what a phrase of relation is said of. Each word, and the words
        together, vote for the field of its nearest target (when at least ``EMBEDDING_MIN_SIMILARITY``) with
        that similarity; the field with the most wins. Values and phrases reach wordings no table lists
        ("assembled from" is near "built of", "cold" near "Winter"); the vote lets several weak words ("cold
        months", "warm weather") outweigh one near a phrase of another field ("wear": "who wears")."""
        leftover = [words[i] for i in sorted(free) if not is_stopword(words[i]) and not words[i].isdigit()]
        if self.embed is None or not leftover:
            return None
        queries = leftover + [" ".join(leftover)] * (len(leftover) > 1)
        targets = self._vote_targets(attributes, values, core)
        # A core field's phrases vote only for a core field the product holds: what no rule reads asks one of the
        # fields it has ("job" is near a phrase of the brand, which no Myntra product lists).
        targets += [(" ".join(phrase), self._concept_field(concept, attributes, words, free, phrase))
                    for phrase, concept in self.phrases if phrases and (concept not in CORE_FIELDS or concept in core)]
        return self._voted(queries, targets, "embedding")

    @staticmethod
    def _vote_targets(attributes: Sequence[str], values: Mapping[str, Iterable[str]],
                      core: Sequence[str]) -> list[tuple[str, str | None]]:
        """(text, field) pairs a question's words are compared with: the fields' names and the catalog values of
        the attributes whose values are categories (``MAX_VALUES`` at most), numbers left out."""
        names: list[tuple[str, str | None]] = [(n.lower(), n) for n in dict.fromkeys([*core, *attributes])]
        return names + FieldResolver._value_targets(attributes, values)

    @staticmethod
    def _value_targets(attributes: Sequence[str], values: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
        """(value, attribute) pairs: the catalog values of the attributes whose values are categories
        (``MAX_VALUES`` at most), lower-cased, numbers left out."""
        return [(str(v).lower(), a) for a in attributes if len(held := list(values.get(a, ()))) <= MAX_VALUES
                for v in held if not str(v).isdigit()]

    def _embedded(self, texts: Sequence[str]) -> np.ndarray:
        """The texts' embeddings, one row each, from the cache of field names, phrases, values and generated
        questions (those not yet embedded are, in one batch)."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            self._vectors.update(zip(missing, self.embed(missing)))
        return np.stack([self._vectors[t] for t in texts])

    def _voted(self, queries: Sequence[str], targets: Sequence[tuple[str, str | None]], how: str,
               read: set[str] = frozenset()) -> FieldQuestion | None:
        """The field with the most votes (``_votes``), read ``how``; None when none has a vote, or one voted for
        is among ``read`` (the field the rules read stands)."""
        return _chosen(*self._votes(queries, targets), how, read)

    def _votes(self, queries: Sequence[str], targets: Sequence[tuple[str, str | None]]
               ) -> tuple[dict[str, float], dict[str, list[str]]]:
        """Each query votes for the field of its nearest target, with that similarity, when at least
        ``EMBEDDING_MIN_SIMILARITY``: (field -> summed votes, field -> the queries that voted for it); no votes
        without the text embedder."""
        votes: dict[str, float] = {}
        voters: dict[str, list[str]] = {}
        if self.embed is None or not queries or not targets:
            return votes, voters
        similarity = self.embed(list(queries)) @ self._embedded([t for t, _ in targets]).T
        for query, row in zip(queries, similarity):
            best = int(np.argmax(row))
            if row[best] >= EMBEDDING_MIN_SIMILARITY and targets[best][1] is not None:
                field = targets[best][1]
                votes[field] = votes.get(field, 0.0) + float(row[best])
                voters.setdefault(field, []).append(query)
        return votes, voters


def _chosen(votes: Mapping[str, float], voters: Mapping[str, Sequence[str]], how: str,
            read: set[str]) -> FieldQuestion | None:
    """The field with the most votes (``FieldResolver._votes``), read ``how``; None when none has a vote, or one
    voted for is among ``read``."""
    if not votes or votes.keys() & read:
        return None
    field = max(votes, key=votes.__getitem__)
    return FieldQuestion(field, how, tuple(voters[field]))


def named_value_words(word: str) -> list[str]:
    """The words of the facet values a shopper's ``word`` names (``facets.toml``: "ladies" -> ["women"]); none for
    a word that names no value."""
    return tokens(" ".join(SHOPPERS_WORDS.get(word, ())))


def _offered_field(said: Mapping[str, Sequence[tuple[str, ...]]]) -> FieldQuestion:
    """The one field whose values the offered answers say (``_values_in``), read as offered."""
    name, hits = next(iter(said.items()))
    return FieldQuestion(name, "offered", tuple(w for v in hits for w in v))


def _answers_offered(words: Sequence[str], free: set[int]) -> list[str]:
    """The answers a question offers outside the product's name (``free``): both sides of each offering word."""
    offered = []
    for before, after in offered_alternatives(words):
        kept = [side for side in (_free_tail(before, free), tuple(i for i in after if i in free)) if side]
        if len(kept) == 2:
            offered.extend(" ".join(words[i] for i in side) for side in kept)
    return offered


def _as_written(a: str, b: str) -> bool:
    """Two words the same as written, a plural forgiven, no typo: one catalog value is thin evidence ("sports" is
    not "shorts")."""
    return stem(a) == stem(b)


def _free_tail(run: tuple[int, ...], free: set[int]) -> tuple[int, ...]:
    """The end of a run of positions that lies in ``free``: the words before an offering word, less the product's
    name they may start with."""
    tail: list[int] = []
    for i in reversed(run):
        if i not in free:
            break
        tail.insert(0, i)
    return tuple(tail)


def held_core_fields(product: Mapping[str, Any]) -> tuple[str, ...]:
    """The core fields a product holds (all of them when no product is known): a question the rules do not read
    asks one of the fields the product has, not its absent description or price (Myntra's products have neither:
    "For what purpose is X designed?" asks the usage)."""
    if not product:
        return CORE_FIELDS
    return tuple(f for f in CORE_FIELDS if product.get(f) not in (None, "", [], {}))


def is_question(words: Sequence[str], question_mark: bool) -> bool:
    """A question rather than a phrase ("soft cotton towels"): an asking word, or a question mark (a yes-no
    question may hold no asking word: "X: for him or for her?")."""
    return question_mark or bool(ASKING & set(words))


def spoken_name(field: str) -> str:
    """A field's name as a question says it: "baseColour" -> "base colour", "Ideal For" -> "ideal for"."""
    return " ".join(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", field).replace("_", " ").lower().split())


def field_questions(field: str, values: Iterable[str] = ()) -> list[str]:
    """Questions that ask ``field``: each of the languages' field question shapes (``fields.toml``'s ``questions``)
    with its name and, for a field whose values are categories (``MAX_VALUES`` at most, not numbers), its most
    common values in turn."""
    held = values if isinstance(values, Mapping) else dict.fromkeys(values, 1)
    common = [str(v) for v, _ in sorted(held.items(), key=lambda item: (-item[1], str(item[0])))
              if not str(v).strip().isdigit()] if len(held) <= MAX_VALUES else []
    out = []
    for shape in QUESTION_SHAPES:
        slots = [s for s in ("{a}", "{b}", "{c}") if s in shape]
        if not slots:
            out.append(shape.replace("{field}", spoken_name(field)))
            continue
        for start in range(0, min(len(common), VALUES_PER_SHAPE * len(slots)) - len(slots) + 1, len(slots)):
            text = shape.replace("{field}", spoken_name(field))
            for slot, value in zip(slots, common[start:start + len(slots)]):
                text = text.replace(slot, value.lower())
            out.append(text)
    return out
