"""The shared widget pieces: observer errors land in ``error``; the action trait dispatches."""

from __future__ import annotations

import pytest
import traitlets

from cvnb.widgets import ImageGrid
from cvnb.widgets._base import dispatch_action, report_errors


class Recorder(traitlets.HasTraits):
    """A minimal widget: an action and an error trait, and methods the actions call."""

    action = traitlets.Dict({})
    error = traitlets.Unicode("")

    def __init__(self):
        super().__init__()
        self.calls = []

    def save(self):
        self.calls.append(("save",))

    def undo(self, index=None):
        self.calls.append(("undo", index))

    def relabel(self, index, label):
        if not label:
            raise ValueError("a label must not be empty")
        self.calls.append(("relabel", index, label))


def test_observer_errors_go_to_the_error_trait():
    class FaultyGrid(ImageGrid):
        @traitlets.observe("columns")
        @report_errors
        def _on_columns(self, change):
            raise RuntimeError(f"cannot lay out {change['new']} columns")

    grid = FaultyGrid()
    grid.columns = 3  # must not raise into the caller
    assert grid.error == "RuntimeError: cannot lay out 3 columns"


def test_dispatch_calls_the_method_with_the_request_arguments_and_clears_the_action():
    w = Recorder()
    actions = {"save": (), "undo": ("index?",), "relabel": ("index", "label")}
    w.action = {"kind": "relabel", "index": 3, "label": "cat", "seq": 1}
    dispatch_action(w, w.action, actions)
    w.action = {"kind": "undo"}
    dispatch_action(w, w.action, actions)
    w.action = {"kind": "undo", "index": 5}
    dispatch_action(w, w.action, actions)
    dispatch_action(w, {"kind": "save"}, ["save"])  # a plain list of names: no arguments
    assert w.calls == [("relabel", 3, "cat"), ("undo", None), ("undo", 5), ("save",)]
    assert w.action == {}
    dispatch_action(w, {}, actions)  # the widget clearing the trait: nothing happens
    assert len(w.calls) == 4


def test_dispatch_refuses_unknown_kinds_and_missing_keys_and_still_clears():
    w = Recorder()
    actions = {"relabel": ("index", "label")}
    w.action = {"kind": "explode"}
    with pytest.raises(ValueError, match="not one of"):
        dispatch_action(w, w.action, actions)
    assert w.action == {}
    w.action = {"kind": "relabel", "index": 1}
    with pytest.raises(ValueError, match="needs 'label'"):
        dispatch_action(w, w.action, actions)
    assert w.action == {} and w.calls == []


def test_clear_error_only_after_a_successful_action():
    w = Recorder()
    actions = {"relabel": ("index", "label")}
    w.error = "an old failure"
    with pytest.raises(ValueError):
        dispatch_action(w, {"kind": "relabel", "index": 1, "label": ""}, actions, clear_error=True)
    assert w.error == "an old failure"
    dispatch_action(w, {"kind": "relabel", "index": 1, "label": "dog"}, actions, clear_error=True)
    assert w.error == ""
    w.error = "kept"
    dispatch_action(w, {"kind": "relabel", "index": 2, "label": "dog"}, actions)
    assert w.error == "kept"
