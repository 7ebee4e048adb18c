"""What the browser tests and the benchmarks share about this machine: a free loopback port, Debian's Chromium.

Playwright's own browser download cannot run here, so Playwright drives Debian's ``chromium`` package
(``executable_path=CHROMIUM``) with :data:`CHROMIUM_ARGS`: headless, no sandbox (containers run as root), no GPU,
and no background traffic (nothing outside the machine can be reached).
"""

from __future__ import annotations

import socket

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
