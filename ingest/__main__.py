"""``python -m ingest DIR [--kb NAME] [--json] …``: the same as ``kbqa ingest``."""

import sys

from rag.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
