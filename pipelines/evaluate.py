"""The eval job: ``python -m multimodal_rag.pipelines.evaluate ...`` takes the arguments of ``mmrag eval``."""

import sys

from multimodal_rag.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["eval", *sys.argv[1:]]))
