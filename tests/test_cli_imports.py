"""What importing the package and the command line costs: no model library, no Milvus client, no LangChain until a
command that needs them runs. Each check runs in a fresh interpreter, so nothing another test imported counts."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "pymilvus", "transformers", "langchain_core")


def run(code: str):
    """What ``code`` prints (as JSON) on its last line, run in a new interpreter."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def loaded_after(code: str) -> list[str]:
    """The heavy modules and multimodal_rag's own in ``sys.modules`` after ``code`` runs in a new interpreter."""
    return run(f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules "
               f"if m in {HEAVY!r} or m.startswith('multimodal_rag'))))")


def test_the_command_line_imports_no_heavy_library_before_a_command_runs():
    # building the parser is what `mmrag --help` and `mmrag --version` do
    loaded = loaded_after("import multimodal_rag.cli as cli\ncli.build_parser()")
    assert [m for m in loaded if m in HEAVY] == []
    assert loaded == ["multimodal_rag", "multimodal_rag.alignment", "multimodal_rag.alignment.options",
                      "multimodal_rag.cli", "multimodal_rag.errors"]


def test_the_package_imports_its_exports_on_first_use():
    assert loaded_after("import multimodal_rag") == ["multimodal_rag"]


def test_a_public_name_stays_the_function_once_its_package_is_imported():
    # importing multimodal_rag.ingestion makes it an attribute of multimodal_rag; `ingest` must still be the function
    modules = run("import json, multimodal_rag.ingestion.steps\nfrom multimodal_rag import ingest, migrate\n"
                  "print(json.dumps([ingest.__module__, ingest.__name__, migrate.__module__, migrate.__name__]))")
    assert modules == ["multimodal_rag.ingestion", "ingest", "multimodal_rag.ingestion.migrate", "migrate"]
