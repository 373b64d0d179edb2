"""The align job: ``python -m multimodal_rag.pipelines.align ...`` takes the arguments of ``mmrag align``."""

import sys

from multimodal_rag.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["align", *sys.argv[1:]]))
