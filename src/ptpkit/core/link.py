"""What a responder's output can ask of the link that carries it.

A responder (the virtual camera's sessions) produces bytes; a few misbehaviours are not bytes but
something only the link can do: stop sending, or hang up. The responder raises :class:`LinkFault`
from its output, and whatever carries it (the in-process transport, the PTP/IP server, the USB
device model) acts it out. It lives here, below both, so that a transport can understand a
responder without importing the virtual camera.
"""

from __future__ import annotations


class LinkFault(Exception):
    """Raised by a misbehaving session's output for what only the link can do."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        #: "stall" (stop sending, stay connected) or "disconnect" (hang up).
        self.action = action
