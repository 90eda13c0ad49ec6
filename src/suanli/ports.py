"""A loopback port for a child process that must be told its port before it binds (Ray's
head, the Gloo rendezvous of ``suanli bench``). The port is free when asked for; another
process may take it before the child binds, so callers either bind it themselves at once or
treat a failed start as retryable. Servers Suanli runs itself bind port 0 instead
(``service up --port 0``) and announce what they got."""

from __future__ import annotations

import socket


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing holds right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
