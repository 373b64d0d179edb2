"""The package's import graph: no cycle between its files, and every import points down the layers.

Every .py file under multimodal_rag/ and pipelines/ (installed as multimodal_rag.pipelines) is parsed with ``ast``;
an import inside a function counts like one at the top (it runs as soon as the function does), and so does one
under ``TYPE_CHECKING`` (the design depends on it all the same). docs/design.md draws the same table.

Run it as a script to print the whole report: ``python tests/test_layers.py``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "multimodal_rag"

# Bottom first. A module may import from its own layer or a lower one. An entry names a module or a package (and
# then everything in it); the bare package name is its __init__.py only.
LAYERS: dict[int, tuple[str, ...]] = {
    0: ("multimodal_rag.config", "multimodal_rag.errors"),
    1: ("multimodal_rag.language", "multimodal_rag.words", "multimodal_rag.catalog"),
    2: ("multimodal_rag.embedders", "multimodal_rag.llms"),
    3: ("multimodal_rag.store",),
    4: ("multimodal_rag.ingestion",),
    5: ("multimodal_rag.retrieval",),
    6: ("multimodal_rag.qa",),
    7: ("multimodal_rag.eval", "multimodal_rag.alignment"),
    8: ("multimodal_rag.server", "multimodal_rag.cli", "multimodal_rag.__main__", "multimodal_rag.pipelines",
        "multimodal_rag"),
}

# Imports forbidden although they point down: (importer prefix, imported prefix) -> why.
FORBIDDEN: dict[tuple[str, str], str] = {
    ("multimodal_rag.store", "multimodal_rag.embedders"):
        "the store is Milvus only: query embedding belongs to retrieval/, embedding at ingest to ingestion/",
}

# Upward imports known and left to their owner; each must still exist (a fixed one is taken off this list).
WAIVED: dict[tuple[str, str], str] = {
    ("multimodal_rag.config", "multimodal_rag.catalog.photos"):
        "config.py (being converted to pydantic by its owner) checks the photo settings with catalog's parsers",
    ("multimodal_rag.config", "multimodal_rag.catalog.product"):
        "config.py (being converted to pydantic by its owner) checks text sources against PRODUCT_TEXT_FIELDS",
}


def module_files() -> dict[str, Path]:
    """Module name -> file, for every file of the package and of pipelines/."""
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    for path in sorted((ROOT / "pipelines").glob("*.py")):
        name = f"{PACKAGE}.pipelines" + ("" if path.stem == "__init__" else f".{path.stem}")
        found[name] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The package's module that ``import name`` loads last: ``name`` itself, or its longest known prefix."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # ``from a import b`` loads module a.b when there is one, else takes a name from a
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                target = _resolve(name, modules)
                if target is not None and target != module:
                    found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports(name, path, modules) for name, path in modules.items()}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or (prefix != PACKAGE and module.startswith(prefix + "."))


def layer_of(module: str) -> int | None:
    for layer, entries in LAYERS.items():
        if any(_within(module, entry) for entry in entries):
            return layer
    return None


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import each other (strongly connected, two or more), as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the graph is small enough for recursion
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return [_cycle_through(group, edges) for group in groups]


def _cycle_through(group: set[str], edges: dict[str, set[str]]) -> list[str]:
    """One cycle inside a strongly connected group, from its first module back to it (breadth-first: shortest)."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(edges[node] & group):
            if nxt == start:
                return paths[node] + [start]
            if nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    raise AssertionError(f"no cycle in {sorted(group)}")  # unreachable for a strongly connected group


def placement_problems(edges: dict[str, set[str]]) -> list[str]:
    return [f"{edges_path(m)} ({m}) is in no layer: add it to LAYERS in tests/test_layers.py and to the drawing "
            "in docs/design.md" for m in sorted(edges) if layer_of(m) is None]


def edges_path(module: str) -> str:
    return str(module_files()[module].relative_to(ROOT))


def layer_problems(edges: dict[str, set[str]], waived: dict[tuple[str, str], str] = WAIVED) -> list[str]:
    problems = []
    for importer in sorted(edges):
        for imported in sorted(edges[importer]):
            low, high = layer_of(importer), layer_of(imported)
            if low is None or high is None or (importer, imported) in waived:
                continue
            if high > low:
                problems.append(f"{importer} (layer {low}) imports {imported} (layer {high}): a layer may import "
                                "only its own layer or lower ones")
            for (source, target), why in FORBIDDEN.items():
                if _within(importer, source) and _within(imported, target):
                    problems.append(f"{importer} imports {imported}: {why}")
    return problems


def test_every_module_has_a_layer():
    problems = placement_problems(graph())
    assert not problems, "\n".join(problems)


def test_no_import_cycle():
    found = cycles(graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_imports_point_down_the_layers():
    problems = layer_problems(graph())
    assert not problems, "\n".join(problems)


def test_waived_imports_still_exist():
    edges = graph()
    fixed = [f"{a} -> {b}" for a, b in WAIVED if b not in edges.get(a, set())]
    assert not fixed, "fixed, take off WAIVED in tests/test_layers.py: " + ", ".join(fixed)


def test_the_check_finds_an_upward_import_and_a_cycle_made_inside_a_function(tmp_path):
    """The checks themselves, on two made-up files: a store module that imports qa inside a function, and a qa
    module that imports it back."""
    store, chain = tmp_path / "x.py", tmp_path / "chain.py"
    store.write_text("def answer():\n    from multimodal_rag.qa.chain import ProductQA\n")
    chain.write_text("from multimodal_rag.store import x\n")
    modules = {"multimodal_rag.store.x": store, "multimodal_rag.qa.chain": chain, "multimodal_rag.store": store}
    edges = {name: imports(name, path, modules) for name, path in modules.items() if name != "multimodal_rag.store"}
    assert edges == {"multimodal_rag.store.x": {"multimodal_rag.qa.chain"},
                     "multimodal_rag.qa.chain": {"multimodal_rag.store.x"}}
    assert layer_problems(edges, waived={}) == [
        "multimodal_rag.store.x (layer 3) imports multimodal_rag.qa.chain (layer 6): a layer may import only its "
        "own layer or lower ones"]
    assert cycles(edges) == [["multimodal_rag.qa.chain", "multimodal_rag.store.x", "multimodal_rag.qa.chain"]]


if __name__ == "__main__":
    edges = graph()
    found = cycles(edges)
    problems = placement_problems(edges) + layer_problems(edges)
    print(f"{len(edges)} modules, {sum(map(len, edges.values()))} imports between them")
    print(f"{len(found)} import cycle(s)")
    for c in found:
        print("  " + " -> ".join(c))
    print(f"{len(problems)} layer problem(s)")
    for p in problems:
        print("  " + p)
    sys.exit(1 if found or problems else 0)
