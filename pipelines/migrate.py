"""The migrate job: ``python -m multimodal_rag.pipelines.migrate ...`` takes the arguments of ``mmrag migrate``."""

import sys

from multimodal_rag.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["migrate", *sys.argv[1:]]))
