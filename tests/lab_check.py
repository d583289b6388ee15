"""Start JupyterLab on a free local port, check that it answers, and stop it.

Run by `make lab-check` and by tests/test_lab.py; prints one line and exits 0 when JupyterLab answered.
"""
from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(timeout: float = 90.0) -> int:
    port, token = free_port(), secrets.token_hex(8)
    jupyter = Path(sys.executable).with_name("jupyter")
    server = subprocess.Popen([str(jupyter), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                              f"--IdentityProvider.token={token}", "--allow-root", str(REPO / "notebooks")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if server.poll() is not None:
                print("JupyterLab exited early:", server.stderr.read().decode()[-2000:])
                return 1
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=2) as page:
                    html = page.read().decode()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=2) as api:
                    names = [item["name"] for item in json.load(api)["content"]]
                if page.status == 200 and "JupyterLab" in html:
                    print(f"JupyterLab answered on 127.0.0.1:{port}; notebooks: {', '.join(sorted(names))}")
                    return 0
            except OSError:
                time.sleep(0.5)
        print(f"JupyterLab did not answer within {timeout:.0f} s")
        return 1
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    raise SystemExit(main())
