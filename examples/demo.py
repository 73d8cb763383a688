"""The offline demo: serve examples/feeds/ on 127.0.0.1 and run one monitor cycle.

Run it twice: the second cycle finds nothing new and sends no alert.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
PORT = 8719


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """The demo prints alerts, not access logs."""


def main() -> int:
    handler = functools.partial(_QuietHandler, directory=str(HERE / "feeds"))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", PORT), handler)
    except OSError as exc:
        print(f"demo: cannot serve the sample feeds on 127.0.0.1:{PORT}: {exc}", file=sys.stderr)
        return 1
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # its own folder: what a user's newswatch.yaml matches in data/ never mixes with the demo's
    os.environ.setdefault("NEWSWATCH_DATA_DIR", "data/demo")
    print(f"demo: serving {HERE / 'feeds'} on http://127.0.0.1:{PORT}/")
    from flows.cli import app

    try:
        code = app(["run", "--config", str(HERE / "newswatch.yaml")], standalone_mode=False)
    finally:
        server.shutdown()
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
