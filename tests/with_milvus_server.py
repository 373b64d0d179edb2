"""Run a command with a Milvus Lite server on a free loopback port, as the test suite's server tier.

    python tests/with_milvus_server.py pytest -q

Starts ``mmrag db serve`` on a temporary folder, exports ``MMRAG_TEST_MILVUS_URI``, runs the command, stops the
server, and exits with the command's status. With ``MMRAG_TEST_MILVUS_URI`` already set (a Milvus standalone
from docker/, say) it runs the command against that server instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

READY_TIMEOUT_S = 60


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    if os.environ.get("MMRAG_TEST_MILVUS_URI"):
        return subprocess.call(argv)
    with tempfile.TemporaryDirectory(prefix="mmrag-test-server-") as folder:
        server = subprocess.Popen([sys.executable, "-m", "multimodal_rag", "db", "serve", "--db",
                                   os.path.join(folder, "server.db"), "--port", "0"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()  # "serving ... on http://127.0.0.1:PORT; ..."
            if " on http://" not in line:
                print(f"the test Milvus server did not start: {line!r}", file=sys.stderr)
                return 1
            uri = line.split(" on ", 1)[1].split(";", 1)[0]
            print(f"server tier: Milvus Lite server at {uri}", flush=True)
            return subprocess.call(argv, env=dict(os.environ, MMRAG_TEST_MILVUS_URI=uri))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
