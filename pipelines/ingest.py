"""The ingest job: ``python -m multimodal_rag.pipelines.ingest ...`` takes the arguments of ``mmrag ingest``."""

import sys

from multimodal_rag.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["ingest", *sys.argv[1:]]))
