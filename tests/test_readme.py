"""Every README code block marked runnable (```python runnable) runs as written, against a made catalog."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from multimodal_rag.catalog.sample import make_sample_catalog

README = Path(__file__).parents[1] / "README.md"
RUNNABLE = re.compile(r"```python runnable\n(.*?)```", re.S)


def runnable_blocks() -> list[str]:
    return RUNNABLE.findall(README.read_text())


def test_the_readme_has_a_runnable_example():
    assert len(runnable_blocks()) >= 1


@pytest.mark.parametrize("block", runnable_blocks())
def test_readme_block_runs(block, tmp_path, monkeypatch, capsys):
    catalog = make_sample_catalog(tmp_path / "sample")
    shutil.copy(catalog, tmp_path / "products.jsonl")
    shutil.copytree(catalog.parent / "images", tmp_path / "images")
    monkeypatch.chdir(tmp_path)
    exec(compile(block, str(README), "exec"), {"__name__": "__readme__"})
    # The example's last line prints the best product for "blue ceramic mug under 400" and what was understood.
    assert capsys.readouterr().out.strip() == (
        "Northwind Blue Ceramic Coffee Mug 349.0 Color=Blue, Material=Ceramic, category=Mugs, price<400")
