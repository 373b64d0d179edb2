"""Chinese (zh, CNY) and Korean (ko, KRW) dev stores with search queries and shopping questions, for ``mmrag eval``
and ``mmrag eval-qa``.

    .venv/bin/python benchmarks/cjk_sets.py --out benchmarks/data/cjk --seed 0
    .venv/bin/mmrag eval benchmarks/data/cjk/zh/tasks/search_heldout benchmarks/data/cjk/ko/tasks/search_heldout
    .venv/bin/mmrag eval-qa benchmarks/data/cjk/zh/qa/heldout.jsonl --catalog benchmarks/data/cjk/zh/products.jsonl

Inputs, written by hand, per language under ``benchmarks/data/cjk/<lang>/``: ``words.json`` (brands and the
categories they sell, colours as the catalog writes them with the other ways shoppers say them, materials, item
kinds with their category, materials, sizes and price range, title and description patterns, price endings) and
``templates.jsonl`` (the wordings of search queries and questions). Korean particles follow the word they attach to:
``{kind을}`` is "머그컵을" or "텀블러를" (also 이/가, 은/는, 과/와, 으로/로).

Outputs, seeded, per language under ``--out``/<lang>/: ``products.jsonl`` (the catalog format of
../shared/data/README.md), ``tasks/search_build`` and ``tasks/search_heldout`` (BEIR layout; 2 = colour and item
match, 1 = the item matches) and ``qa/build.jsonl``, ``qa/heldout.jsonl``, ``qa/fresh.jsonl`` (``mmrag eval-qa`` lines: a named
product's price or brand; items of a kind under a budget, the cheapest, the most expensive, in a colour; "a cheaper
one?" after a budget question). The wordings of each kind are split in two by the seed: the build half may be
tuned on, the held-out half is only scored. Every shopping question has a catalog product that satisfies it.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections import Counter
from pathlib import Path

from multimodal_rag.eval.qa import meets

DATA = Path(__file__).resolve().parent / "data" / "cjk"
LANGUAGES = ("zh", "ko")
SPLITS = ("build", "heldout")
# Wordings written after the held-out half was first scored and read (2026-12-05), each marked with ``"split":
# "fresh"`` in templates.jsonl: questions only, scored like the held-out half, kept out of the seeded split.
FRESH = "fresh"
QUERIES_PER_WORDING = {"colour+item": 8, "item": 6}
QUESTIONS_PER_WORDING = 4

# A Korean particle after a word ending in a consonant, and after a vowel; 으로 also takes 로 after ㄹ.
PARTICLES = {"을": "를", "이": "가", "은": "는", "과": "와", "으로": "로"}
_RIEUL = 8  # the final-consonant index of ㄹ in a precomposed Hangul syllable


def attach(word: str, particle: str) -> str:
    """``word`` with the form of ``particle`` its last syllable takes ("머그컵" + 을 -> "머그컵을", "텀블러를")."""
    last = word[-1]
    if not "가" <= last <= "힣":
        raise ValueError(f"{word!r}: a Korean particle needs a word that ends in a Hangul syllable")
    final = (ord(last) - ord("가")) % 28
    if particle == "으로":
        return word + ("로" if final in (0, _RIEUL) else "으로")
    return word + (particle if final else PARTICLES[particle])


class Slots(dict):
    """Template values; ``{name을}`` and the other particles resolve against ``name``."""

    def __missing__(self, key: str) -> str:
        for particle in PARTICLES:
            base = key.removesuffix(particle)
            if base != key and base in self:
                return attach(self[base], particle)
        raise KeyError(key)


def fill(template: str, **values) -> str:
    try:
        return " ".join(template.format_map(Slots(values)).replace("[]", "").split())
    except KeyError as exc:
        raise SystemExit(f"template {template!r}: unknown slot {exc}") from None


def load_inputs(folder: Path) -> tuple[dict, list[dict]]:
    words = json.loads((folder / "words.json").read_text(encoding="utf-8"))
    templates = [json.loads(line) for line in (folder / "templates.jsonl").read_text(encoding="utf-8").split("\n")
                 if line.strip()]
    return words, templates


def snap_price(value: float, prices: dict, rng: random.Random) -> float:
    """A shop's price near ``value``: rounded to the step, then the usual ending (89, 89.9, 12,900...)."""
    price = max(prices["step"], round(value / prices["step"]) * prices["step"]) - rng.choice(prices["less"])
    return round(price, 2) if price % 1 else int(price)


def kind_level(kind: dict) -> str:
    return [p.strip() for p in kind["category"].split(">")][1]


def kind_slots(kind: dict) -> dict[str, str]:
    """A kind's name, and its measure word where the language has them ("一双运动鞋")."""
    return {"kind": kind["name"], **({"unit": kind["unit"]} if "unit" in kind else {})}


def build_catalog(words: dict, rng: random.Random) -> tuple[list[dict], dict[str, str]]:
    """The products, and each product's title without its brand (for "which brand is X?")."""
    names = words["attribute_names"]
    products, unbranded, titles = [], {}, set()
    for kind in words["kinds"]:
        brands = [b["name"] for b in words["brands"] if kind_level(kind) in b["sells"]]
        if not brands:
            raise SystemExit(f"{words['language']}: no brand sells {kind['name']} ({kind['category']})")
        for _ in range(words["products_per_kind"]):
            for _attempt in range(100):
                material = rng.choice(kind["materials"])
                values = dict(brand=rng.choice(brands), colour=rng.choice(words["colours"])["value"],
                              size=rng.choice(kind["sizes"]), style=rng.choice(words["styles"]), **kind_slots(kind),
                              # "帆布鞋", "유리컵": the kind already says the material
                              material="" if material in kind["name"] else material)
                pattern = rng.choice(words["title_patterns"])
                title = fill(pattern, **values)
                if title not in titles:
                    break
            else:
                raise SystemExit(f"{words['language']}: cannot make a new title for {kind['name']}")
            titles.add(title)
            pid = f"{words['language']}-{len(products) + 1:04d}"
            unbranded[pid] = fill(pattern, **{**values, "brand": ""})
            low, high = kind["price"]
            products.append({
                "id": pid, "title": title,
                "description": fill(rng.choice(words["descriptions"]), **{**values, "material": material},
                                    feature=rng.choice(words["features"])),
                "category": kind["category"], "brand": values["brand"],
                "price": snap_price(rng.uniform(low, high), words["prices"], rng), "currency": words["currency"],
                "attributes": {names["colour"]: values["colour"], names["material"]: material,
                               names["size"]: values["size"]}})
    return products, unbranded


def split_wordings(templates: list[dict], rng: random.Random) -> dict[str, list[dict]]:
    """Each kind's wordings in two halves (the build half gets the odd one), in their file order; the wordings marked
    fresh as a third."""
    halves: dict[str, list[dict]] = {s: [] for s in (*SPLITS, FRESH)}
    by_kind: dict[tuple[str, str], list[int]] = {}
    for index, row in enumerate(templates):
        if row.get("split") == FRESH:
            halves[FRESH].append(row)
            continue
        by_kind.setdefault((row["set"], row["kind"]), []).append(index)
    for indexes in by_kind.values():
        shuffled = rng.sample(indexes, len(indexes))
        cut = (len(indexes) + 1) // 2
        for half, chosen in zip(SPLITS, (shuffled[:cut], shuffled[cut:])):
            halves[half] += [templates[i] for i in sorted(chosen)]
    return halves


def colour_pairs(words: dict, products: list[dict]) -> list[tuple[dict, dict]]:
    """(colour, kind) pairs that at least one product has."""
    name = words["attribute_names"]["colour"]
    held = {(p["attributes"][name], p["category"]) for p in products}
    return [(c, k) for k in words["kinds"] for c in words["colours"] if (c["value"], k["category"]) in held]


def search_task(words: dict, products: list[dict], wordings: list[dict], half: str,
                rng: random.Random) -> tuple[list[dict], list[tuple[str, str, int]]]:
    """Queries and graded judgments: 2 = the colour and the item match, 1 = the item matches."""
    colour_name = words["attribute_names"]["colour"]
    pairs = colour_pairs(words, products)
    queries, qrels = [], []
    for wording in (w for w in wordings if w["set"] == "search"):
        if wording["kind"] == "colour+item":
            asks = rng.sample(pairs, QUERIES_PER_WORDING["colour+item"])
        else:
            asks = [(None, k) for k in rng.sample(words["kinds"], QUERIES_PER_WORDING["item"])]
        for colour, kind in asks:
            said = rng.choice(colour["say"]) if colour else None
            qid = f"{words['language']}-{half}-q{len(queries) + 1:03d}"
            queries.append({"id": qid, "text": fill(wording["text"], **kind_slots(kind), colour=said),
                            "kind": wording["kind"], "wording": wording["text"],
                            **({"colour_form": "catalog" if said == colour["value"] else "other"} if colour else {})})
            for p in products:
                if p["category"] == kind["category"]:
                    grade = 2 if colour and p["attributes"][colour_name] == colour["value"] else 1
                    qrels.append((qid, p["id"], grade))
    return queries, qrels


def korean_amount(amount: int) -> str:
    """30000 -> "3만", 15000 -> "1만5천": how a Korean shopper writes a budget."""
    man, rest = divmod(amount, 10000)
    return (f"{man}만" if man else "") + (f"{rest // 1000}천" if rest else "")


def price_slots(amount: int) -> dict[str, str]:
    return {"price": str(amount), "price_comma": f"{amount:,}", "price_man": korean_amount(amount)}


def budget_near(prices: list[float], step: int, target: float) -> int:
    """The first multiple of ``step`` at or above ``target`` that no price equals (so "under" and "or less" agree)."""
    amount = max(step, math.ceil(target / step) * step)
    while amount in prices:
        amount += step
    return amount


def questions(words: dict, products: list[dict], unbranded: dict[str, str], wordings: list[dict], half: str,
              rng: random.Random, named: list[dict]) -> list[dict]:
    """One split's questions; ``named`` is the pool of products asked about by name (shared by both splits, so no
    product is named twice)."""
    colour_name = words["attribute_names"]["colour"]
    step = words["prices"]["budget_step"]
    prices = {k["name"]: sorted(p["price"] for p in products if p["category"] == k["category"]) for k in words["kinds"]}
    items: list[dict] = []

    def add(wording: dict, question: str, **fields) -> None:
        items.append({"id": f"{words['language']}-{half}-{len(items) + 1:03d}", "question": question, **fields,
                      "kind": wording["kind"], "wording": wording["text"]})

    for wording in (w for w in wordings if w["set"] == "qa"):
        kind_of = wording["kind"]
        pairs = rng.sample(colour_pairs(words, products), QUESTIONS_PER_WORDING) if kind_of == "colour" \
            else [(None, k) for k in rng.sample(words["kinds"], QUESTIONS_PER_WORDING)]
        for colour, kind in pairs:
            level = {"category": {"level": kind["name"]}}
            if kind_of == "price":
                product = named.pop()
                add(wording, fill(wording["text"], X=product["title"]), answers=[str(product["price"])],
                    product_ids=[product["id"]])
            elif kind_of == "brand":
                product = named.pop()
                add(wording, fill(wording["text"], X=unbranded[product["id"]]), answers=[product["brand"]],
                    product_ids=[product["id"]])
            elif kind_of == "budget":
                amount = budget_near(prices[kind["name"]], step, prices[kind["name"]][len(prices[kind["name"]]) // 2])
                add(wording, fill(wording["text"], **kind_slots(kind), **price_slots(amount)),
                    expect={"filters": {**level, "price": {wording["op"]: amount}}})
            elif kind_of in ("cheapest", "most expensive"):
                add(wording, fill(wording["text"], **kind_slots(kind)),
                    expect={"filters": level, "order": "asc" if kind_of == "cheapest" else "desc"})
            elif kind_of == "colour":
                add(wording, fill(wording["text"], **kind_slots(kind), colour=rng.choice(colour["say"])),
                    expect={"filters": {**level, f"attributes.{colour_name}": colour["value"]}})
            elif kind_of == "follow-up":
                # a budget above every price of the kind: the first answer cites something, a cheaper one can exist
                amount = budget_near(prices[kind["name"]], step, prices[kind["name"]][-1] + 1)
                add(wording, wording["text"],
                    history=[fill(h, **kind_slots(kind), **price_slots(amount)) for h in wording["history"]],
                    expect={"filters": {**level, "price": {"lt": "$cited_price"}}})
            else:
                raise SystemExit(f"template {wording['text']!r}: unknown question kind {kind_of!r}")
    for item in items:
        expect = item.get("expect")
        # a follow-up's bound is the price the first answer cites; the rest must have a product that meets them
        if expect and "$cited_price" not in json.dumps(expect) \
                and not any(meets(p, expect["filters"]) for p in products):
            raise SystemExit(f"{item['id']}: no product satisfies {item['question']!r}")
    return items


def named_pool(products: list[dict], unbranded: dict[str, str], rng: random.Random) -> list[dict]:
    """Products whose title without the brand names only them, shuffled."""
    counts = Counter(unbranded.values())
    unique = [p for p in products if counts[unbranded[p["id"]]] == 1]
    return rng.sample(unique, len(unique))


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def write_language(language: str, data: Path, out: Path, seed: int) -> None:
    words, templates = load_inputs(data / language)
    products, unbranded = build_catalog(words, random.Random(f"{seed}-{language}-catalog"))
    halves = split_wordings(templates, random.Random(f"{seed}-{language}-split"))
    named = named_pool(products, unbranded, random.Random(f"{seed}-{language}-named"))
    folder = out / language
    write_jsonl(folder / "products.jsonl", products)
    print(f"{folder / 'products.jsonl'}: {len(products)} products, {len(words['kinds'])} kinds, "
          f"{len(words['brands'])} brands")
    for half in SPLITS:
        rng = random.Random(f"{seed}-{language}-{half}")
        queries, qrels = search_task(words, products, halves[half], half, rng)
        task = folder / "tasks" / f"search_{half}"
        write_jsonl(task / "queries.jsonl", queries)
        (task / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
            f"{q}\t{d}\t{g}\n" for q, d, g in qrels), encoding="utf-8")
        (task / "task.json").write_text(json.dumps({
            "corpus": "../../products.jsonl",
            "description": f"{language} shopper queries ({half} wordings) -> products; 2 = colour and item match, "
                           f"1 = item matches"}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        shown = Counter(q["kind"] for q in queries)
        print(f"{task}: {len(queries)} queries ({', '.join(f'{k} {n}' for k, n in shown.items())}), "
              f"{len(qrels)} judgments")
        write_questions(folder, half, questions(words, products, unbranded, halves[half], half, rng, named))
    write_questions(folder, FRESH, questions(words, products, unbranded, halves[FRESH], FRESH,
                                             random.Random(f"{seed}-{language}-{FRESH}"), named))


def write_questions(folder: Path, half: str, items: list[dict]) -> None:
    write_jsonl(folder / "qa" / f"{half}.jsonl", items)
    shown = Counter(i["kind"] for i in items)
    print(f"{folder / 'qa' / (half + '.jsonl')}: {len(items)} questions "
          f"({', '.join(f'{k} {n}' for k, n in shown.items())})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(DATA), help="folder for <lang>/products.jsonl, tasks/, qa/")
    parser.add_argument("--data", default=str(DATA), help="folder of <lang>/words.json and <lang>/templates.jsonl")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for language in LANGUAGES:
        write_language(language, Path(args.data), Path(args.out), args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
