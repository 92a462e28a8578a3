"""What every cvnb widget shares: observer errors shown in the widget, and the action trait.

- :func:`report_errors` wraps a traitlets observer so that an exception lands in the
  widget's ``error`` trait (shown in the view) instead of vanishing into the kernel log — the
  classic silent failure of widget observers.
- :func:`dispatch_action` handles the ``action`` trait: the browser sets a request
  ``{"kind": …, …}``, the widget calls the method of that name with the request's
  arguments, and the trait is cleared, so the same request can be sent again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = ["dispatch_action", "report_errors"]


def report_errors(handler: _F) -> _F:
    """Route an observer's exception to the widget's ``error`` trait instead of losing it."""

    @functools.wraps(handler)
    def wrapper(self: Any, change: Any) -> None:
        try:
            handler(self, change)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    return wrapper  # type: ignore[return-value]


def dispatch_action(
    widget: Any,
    request: Mapping[str, Any],
    actions: Mapping[str, Sequence[str]] | Collection[str],
    *,
    clear_error: bool = False,
) -> None:
    """Call ``widget.<request["kind"]>(…)`` for an allowed kind, then clear ``widget.action``.

    Args:
        widget: The widget; it has an ``action`` trait (and an ``error`` trait).
        request: What the browser sent. An empty request (the widget clearing the trait)
            does nothing.
        actions: The allowed kinds. A collection of names calls each method without
            arguments; a mapping gives, per kind, the request keys passed as positional
            arguments in order (a key ending in ``?`` is optional: left out when absent).
        clear_error: Clear ``widget.error`` after an action succeeded (for widgets whose
            error trait only ever reports failed actions).

    Raises:
        ValueError: An unknown kind, or a request without a required key; the caller's
            :func:`report_errors` shows it in the widget's ``error`` trait.
    """
    if not request:
        return
    try:
        kind = request.get("kind")
        if kind not in actions:
            raise ValueError(f"action kind {kind!r} is not one of {list(actions)}.")
        keys = actions[kind] if isinstance(actions, Mapping) else ()
        args = []
        for key in keys:
            name = key.rstrip("?")
            if name in request:
                args.append(request[name])
            elif not key.endswith("?"):
                raise ValueError(f"action {kind!r} needs {name!r} in the request.")
        getattr(widget, kind)(*args)
        if clear_error:
            widget.error = ""
    finally:
        widget.action = {}
