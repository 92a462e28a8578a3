"""The ``action`` trait: a request the browser sets and the widget clears after handling."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def dispatch_action(widget: Any, request: dict[str, Any], actions: Collection[str]) -> None:
    """Call ``widget.<request["kind"]>()`` for an allowed kind, then clear ``widget.action``.

    An empty request (the widget clearing the trait) does nothing. An unknown kind raises
    ``ValueError``; the caller's error decorator shows it in the widget's ``error`` trait.
    """
    if not request:
        return
    try:
        kind = request.get("kind")
        if kind not in actions:
            raise ValueError(f"action kind {kind!r} is not one of {list(actions)}.")
        getattr(widget, kind)()
    finally:
        widget.action = {}
