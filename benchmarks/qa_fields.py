"""Questions that ask one field of a named product, on myntra_dev and flipkart_1050, for ``mmrag eval-qa``.

    .venv/bin/python benchmarks/qa_fields.py                # writes benchmarks/data/qa/<set>/<split>.jsonl
    .venv/bin/mmrag eval-qa benchmarks/data/qa/myntra/heldout.jsonl \
        --catalog ../shared/data/myntra_dev/products.jsonl --json qa-myntra.json --answers qa-myntra-answers.jsonl

The wordings are data, written by hand before any tuning: ``benchmarks/data/qa/<set>/wordings.jsonl``, one
template a line, ``{"field", "wording", "text", "split"}``; ``field`` is the catalog's own name for the field
(``price`` and ``brand`` are the product's top-level fields). Placeholders name the product as shoppers do:
``{title}`` the title, ``{title_lower}`` the title in lower case, ``{short}`` a partial title (the brand or the
first title word, the title's last word of letters and the fewest other title words that name no other product;
no word of it is in the answer, so a brand question names the product without its brand),
``{title_typo}`` the title with one typo in a longer word. ``split`` puts the wording in ``build`` (may be read and
tuned on) or ``heldout`` (scored only, never tuned on); it was drawn once per field by a seeded shuffle
(``--assign-splits``, about half each) and is kept in the file, so a new seed never moves a wording across.
``fresh`` to ``fresh4`` mark wordings written later, each after the misses of the splits before were read
(``LATER``).

Products are drawn with the seed, values first: each question takes the next value of the field (the field's values
in a shuffled cycle) and a product that holds it, so a frequent value ("Casual", "Summer") does not make a guess
right. A product is asked about only when its title names it: the title is unique in the catalog, or every product
with that title holds the same value of the field (they all count as the product asked about). The build and the
held-out questions of a field ask about different products. A value of more than five words (a long sales package
or model name) is not asked: no answer would repeat it whole. A Model Name is asked only when the title does not
already hold it. The answer is the value as stored, and for a value of several words its obvious other forms
("Casual Shoe" for "Casual Shoes", "Men and Women" for "Men, Women", "330g" for "330 g").

Each question line: ``id``, ``question``, ``answers``, ``product_ids``, ``kind`` (the field), and for reading the
results ``wording``, ``split``, ``name_form`` (title, lower, short or typo) and ``answer_in_title`` (an accepted
answer is a word sequence of the title, so an answer that repeats the title contains it). eval-qa's check is a
case-insensitive substring, so "Men" is also found in "Women", and a wording that offers values ("for casual,
formal, sports or ethnic wear?") is answered right by an answer that repeats them: read those fields' misses too.
The catalogs stay in ../shared/data; only the wordings and the questions live here.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qa_paraphrases import typo  # the sibling benchmark's one-typo helper (benchmarks/ is the script's path)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
WORDINGS = ROOT / "benchmarks" / "data" / "qa"
SPLITS = ("build", "heldout")
# Wordings written after the splits before were scored and their misses read, in the order written: "fresh" after the
# held-out half (2026-12-05), "fresh2" after "fresh" (2026-12-05, before the learned field reader), "fresh3" after
# "fresh2" (2026-12-05, before the chat-model parser; only its per-wording scores were read), "fresh4" after "fresh3"
# (2026-12-06, before the short-name work; nothing tuned on it), "fresh5" after "fresh4" (2026-12-06, before the work it
# reports; the first Flipkart set written later), "fresh6" after "fresh5" (2026-12-06, before the work it reports),
# "fresh7" after "fresh6" (2026-12-06, written before any change of that session), "fresh8" after "fresh7" (2026-12-06,
# written before any change of the next session), "fresh9" after "fresh8" (2026-12-06, written by a helper who read
# neither the question reader nor its wording data, before any change of that session), "fresh10" after "fresh9"
# (2026-12-06, by another such helper, before any change: it reports that session's work, "fresh9" was read as it
# tuned), "fresh11" after "fresh10" (2026-12-06, by a third such helper, after that session's change: it reports the
# next one), "fresh12" after "fresh11" (2026-12-06, by a fourth such helper, after the change "fresh11" reports: it
# reports the next one), "fresh13" after "fresh12" (2026-12-07, by a fifth such helper, after the change "fresh12"
# reports: it reports the next one), "fresh14" after "fresh13" (2026-12-07, by a sixth such helper, while the change
# "fresh13" reports was measured: it reports the next one), "fresh15" after "fresh14" (2026-12-07, by a seventh such
# helper, after the change "fresh14" reports was built: it reports the next one), "fresh16" after "fresh15" (2026-12-07,
# by an eighth such helper, after the change "fresh15" reports was committed: it reports the next one), "fresh17" after
# "fresh16" (2026-12-07, by a ninth such helper, while the change it reports was built: a part of "fresh16"'s wordings
# was seen by mistake before that change, so "fresh17" reports it), "fresh18" after "fresh17" (2026-12-07, by a tenth
# such helper, before any change of that session: it reports them), "fresh19" after "fresh18" (2026-12-07, by an
# eleventh such helper, before any change of the next session: it reports them), "fresh20" after "fresh19" (2026-12-07,
# by a twelfth such helper, after that session's changes, none of which reads a field; 7 of its 40 wordings repeated
# earlier sets' texts word for word and were written again by another such helper: it reports the next change). Each is
# drawn after the splits before it (their questions stay as they were), about products none of them asks about, written
# to <split>.jsonl and scored like the held-out half.
LATER = ("fresh", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6", "fresh7", "fresh8", "fresh9", "fresh10", "fresh11",
         "fresh12", "fresh13", "fresh14", "fresh15", "fresh16", "fresh17", "fresh18", "fresh19",
         "fresh20")
PLACEHOLDERS = {"title", "title_lower", "short", "title_typo"}
MAX_WORDS = 5  # a longer value ("A Set Of Sofa Slip Cover Comprises Of 6 Pcs. 1 Sofa ...") is no one answer
GLUE = {"and", "the", "for", "with", "from", "of"}  # title words no shopper keeps in a short name
NAME_FORMS = {"title": "title", "title_lower": "lower", "short": "short", "title_typo": "typo"}


@dataclass(frozen=True)
class QuestionSet:
    catalog: Path
    per_wording: dict[str, int]                # products asked about per wording, by split
    only_when_not_in_title: frozenset[str] = field(default_factory=frozenset)  # fields a shopper asks only then


SETS = {
    "myntra": QuestionSet(DATA / "myntra_dev" / "products.jsonl",
                          {"build": 6, "heldout": 10, "fresh": 10, "fresh2": 10, "fresh3": 10, "fresh4": 10,
                           "fresh5": 10, "fresh6": 10, "fresh7": 10, "fresh8": 10, "fresh9": 10, "fresh10": 10,
                           "fresh11": 10, "fresh12": 10, "fresh13": 10, "fresh14": 10, "fresh15": 10,
                           "fresh16": 10, "fresh17": 10, "fresh18": 10, "fresh19": 10,
                           "fresh20": 10}),
    "flipkart": QuestionSet(DATA / "flipkart_1050" / "products.jsonl",
                            {"build": 3, "heldout": 5, "fresh": 5, "fresh2": 5, "fresh3": 5, "fresh4": 5, "fresh5": 5,
                             "fresh6": 5, "fresh7": 5, "fresh8": 5, "fresh9": 5, "fresh10": 5, "fresh11": 3,
                             "fresh12": 5, "fresh13": 5, "fresh14": 5, "fresh15": 5, "fresh16": 5,
                             "fresh17": 5, "fresh18": 5, "fresh19": 5, "fresh20": 5},
                            frozenset({"Model Name"})),
}


def load_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as lines:  # not splitlines(): catalog texts hold U+2028
        return [json.loads(line) for line in lines if line.strip()]


def load_wordings(path: Path) -> list[dict]:
    """The templates, checked: known placeholders only, unique wording ids, a known split where one is set."""
    wordings, seen = load_jsonl(path), set()
    for number, w in enumerate(wordings, start=1):
        where = f"{path}:{number}"
        if not all(isinstance(w.get(k), str) and w[k] for k in ("field", "wording", "text")):
            raise SystemExit(f"{where}: a wording needs `field`, `wording` and `text` strings")
        unknown = set(re.findall(r"\{(\w+)\}", w["text"])) - PLACEHOLDERS
        if unknown or len(re.findall(r"\{(\w+)\}", w["text"])) != 1:
            raise SystemExit(f"{where}: `text` must hold exactly one of {sorted(PLACEHOLDERS)}")
        if w.get("split") not in (None, *SPLITS, *LATER):
            raise SystemExit(f"{where}: `split` must be one of {(*SPLITS, *LATER)}")
        if w["wording"] in seen:
            raise SystemExit(f"{where}: duplicate wording id {w['wording']!r}")
        seen.add(w["wording"])
    return wordings


def assign_splits(wordings: list[dict], seed: int) -> int:
    """Give each wording without a split one: per field, in a seeded shuffle, to the split with fewer wordings so
    far (held-out first on a tie). Returns how many were assigned."""
    assigned = 0
    for name in dict.fromkeys(w["field"] for w in wordings):
        of_field = [w for w in wordings if w["field"] == name]
        counts = {s: sum(w.get("split") == s for w in of_field) for s in SPLITS}
        unassigned = [w for w in of_field if w.get("split") is None]
        random.Random(f"{seed}:{name}").shuffle(unassigned)
        for w in unassigned:
            w["split"] = min(reversed(SPLITS), key=counts.__getitem__)
            counts[w["split"]] += 1
            assigned += 1
    return assigned


def value_of(row: dict, name: str) -> str | None:
    if name == "price":
        return None if row.get("price") is None else f"{row['price']:g}"
    raw = row.get("brand") if name == "brand" else (row.get("attributes") or {}).get(name)
    value = (raw or "").strip(" ,;.:")  # catalogs hold "Multicolor," beside "Multicolor"
    return value or None


def accepted(value: str) -> list[str]:
    """The value and, when it has several words, its obvious other forms."""
    if ", " in value:
        parts = value.split(", ")
        return [value, f"{', '.join(parts[:-1])} and {parts[-1]}"]
    if re.fullmatch(r"\d+(?:\.\d+)? (?:g|gm|kg|mg|ml|l|cm|mm|m|inch)", value, flags=re.IGNORECASE):
        return [value, value.replace(" ", "")]
    if " " in value:
        head, last = value.rsplit(" ", 1)
        single = singular(last)
        if single != last:
            return [value, f"{head} {single}"]
    return [value]


def singular(word: str) -> str:
    """English plural to singular for the common endings (Accessories, Dresses, Watches, Shoes); other words as
    they are (Viscous, Boy's, Glass)."""
    if len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is", "'s")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    return word[:-1]


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def in_text(answer: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(answer.lower())}(?!\w)", text.lower()) is not None


class Catalog:
    """The rows, grouped by title (case and spacing ignored), with a word index for partial titles."""

    def __init__(self, rows: list[dict]):
        self.rows = rows
        self.groups: dict[str, list[dict]] = defaultdict(list)
        self.holding: dict[str, set[str]] = defaultdict(set)  # word -> ids of rows whose name holds it
        for row in rows:
            self.groups[self.key(row)].append(row)
            for word in tokens(f"{row['title']} {row.get('brand') or ''}"):
                self.holding[word].add(row["id"])
        self.words = set(self.holding)

    @staticmethod
    def key(row: dict) -> str:
        return " ".join(row["title"].lower().split())

    def group(self, row: dict) -> list[dict]:
        return self.groups[self.key(row)]

    def names_it(self, row: dict, name: str) -> bool:
        """True when every row with this title holds the same value of the field."""
        return len({value_of(r, name) for r in self.group(row)}) == 1

    def short_name(self, row: dict, answers: list[str]) -> str | None:
        """A partial title as shoppers write one: the brand (or first title word), the title's last word of
        letters (mostly what the thing is) and the fewest title words between, in title order, such that only rows
        with this title hold them all; no word of it in the answer (asked for the brand: named without it). None
        when no such name is shorter than the title."""
        title_words = re.findall(r"[A-Za-z0-9]+", row["title"])
        banned = {t for a in answers for t in tokens(a)}
        lead = row.get("brand") or title_words[0]
        lead = [] if banned & set(tokens(lead)) else [lead]
        banned |= {t for word in lead for t in tokens(word)}
        rest = list(dict.fromkeys(w for w in title_words if len(w) > 2 and w.lower() not in banned | GLUE))
        nouns = [w for w in rest if w.isalpha()]  # "Lipstick", not the shade number "115" after it
        if not nouns:
            return None
        last = nouns[-1]
        between = [w for w in rest if w != last]
        wanted_ids, size = {r["id"] for r in self.group(row)}, len(tokens(row["title"]))
        for count in (0, 1, 2):
            for chosen in itertools.combinations(between, count):
                name = " ".join([*lead, *sorted([*chosen, last], key=rest.index)])  # in title order
                if len(tokens(name)) >= size or len(tokens(name)) < 2:
                    continue
                if set.intersection(*(self.holding[t] for t in tokens(name))) == wanted_ids:
                    return name
        return None


def render(text: str, row: dict, answers: list[str], catalog: Catalog, rng: random.Random) -> str | None:
    """The wording about this product, or None when its name form cannot be made for it."""
    title = " ".join(row["title"].split())
    placeholder = re.search(r"\{(\w+)\}", text).group(1)
    if placeholder == "title":
        name = title
    elif placeholder == "title_lower":
        name = title.lower()
    elif placeholder == "short":
        name = catalog.short_name(row, answers)
    else:
        name = typo(title, rng, catalog.words)
    if name is None:
        return None
    # "the {title}" with a title that starts with "The": one "the"
    return re.sub(r"\b(the) the\b", r"\1", text.replace("{" + placeholder + "}", name), flags=re.IGNORECASE)


def askable(catalog: Catalog, spec: QuestionSet, asked: str) -> dict[str, list[dict]]:
    """The products a question about this field may name, by the field's value."""
    by_value: dict[str, list[dict]] = defaultdict(list)
    for row in catalog.rows:
        value = value_of(row, asked)
        if value and len(value.split()) <= MAX_WORDS and catalog.names_it(row, asked) and not (
                asked in spec.only_when_not_in_title and in_text(value, row["title"])):
            by_value[value].append(row)
    return by_value


def next_question(text: str, values: Iterator[str], by_value: dict[str, list[dict]], used: set[str],
                  catalog: Catalog, rng: random.Random) -> tuple[dict, str, list[str]] | None:
    """The next value in the cycle that has an unused product this wording can name: (product, question,
    answers); None when no value has one."""
    for _ in range(len(by_value)):
        answers = accepted(value := next(values))
        for row in by_value[value]:
            if row["id"] not in used and (question := render(text, row, answers, catalog, rng)) is not None:
                return row, question, answers
    return None


def build(name: str, spec: QuestionSet, wordings: list[dict], seed: int) -> dict[str, list[dict]]:
    catalog = Catalog(load_jsonl(spec.catalog))
    splits = (*SPLITS, *(s for s in LATER if any(w["split"] == s for w in wordings)))
    out: dict[str, list[dict]] = {s: [] for s in splits}
    for asked in dict.fromkeys(w["field"] for w in wordings):
        rng = random.Random(f"{seed}:{name}:{asked}")
        by_value, used = askable(catalog, spec, asked), set()  # used: ids asked about in either split
        for rows in by_value.values():
            rng.shuffle(rows)
        for split in splits:
            values = sorted(by_value)
            rng.shuffle(values)
            cycle = itertools.cycle(values)
            for w in (w for w in wordings if w["field"] == asked and w["split"] == split):
                for number in range(spec.per_wording[split]):
                    found = next_question(w["text"], cycle, by_value, used, catalog, rng)
                    if found is None:
                        # Flipkart has too few Model Names its titles do not hold: such a wording asks fewer.
                        print(f"{name}: {w['wording']} asks {number} of {spec.per_wording[split]}: no product left",
                              file=sys.stderr)
                        break
                    row, question, answers = found
                    ids = [r["id"] for r in catalog.group(row)]
                    used.update(ids)
                    out[split].append({
                        "id": f"{name}-{split}-{w['wording']}-{number:02d}", "question": question,
                        "answers": answers, "product_ids": ids, "kind": asked, "wording": w["wording"],
                        "split": split, "name_form": NAME_FORMS[re.search(r"\{(\w+)\}", w["text"]).group(1)],
                        "answer_in_title": any(in_text(a, row["title"]) for a in answers)})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(WORDINGS), help="folder for <set>/<split>.jsonl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=sorted(SETS))
    parser.add_argument("--assign-splits", action="store_true",
                        help="draw a split for the wordings that have none and write it into the wordings file")
    args = parser.parse_args()
    for name in args.sets:
        path = WORDINGS / name / "wordings.jsonl"
        wordings = load_wordings(path)
        if args.assign_splits and assign_splits(wordings, args.seed):
            path.write_text("".join(json.dumps(w, ensure_ascii=False) + "\n" for w in wordings), encoding="utf-8")
        missing = [w["wording"] for w in wordings if w.get("split") is None]
        if missing:
            raise SystemExit(f"{path}: wordings without a split ({', '.join(missing[:3])}...): --assign-splits")
        out = Path(args.out) / name
        out.mkdir(parents=True, exist_ok=True)
        for split, items in build(name, SETS[name], wordings, args.seed).items():
            (out / f"{split}.jsonl").write_text(
                "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
            counts = defaultdict(int)
            for i in items:
                counts[i["kind"]] += 1
            shown = ", ".join(f"{k} {n}" for k, n in counts.items())
            print(f"{out / split}.jsonl: {len(items)} questions ({shown})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
