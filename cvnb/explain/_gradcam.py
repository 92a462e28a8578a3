"""Grad-CAM (Selvaraju et al. 2017) on the last convolutional stage, via pytorch-grad-cam."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cvnb.models import layer_groups

from ._model import Normalized, eval_mode

#: The coarsest feature map Grad-CAM is drawn from, cells per side: a 1×1 or 2×2 map
#: cannot localise anything. Lite0 at 224 px uses its last stage (7×7); at 32 px the last
#: stages are 1×1, and the deepest stage with 4×4 cells is used instead.
MIN_CELLS = 4

NO_CONV = "Grad-CAM needs a convolutional layer; use shap/lime"


@dataclass(frozen=True)
class CamLayer:
    """Where Grad-CAM reads the activations.

    Attributes:
        module: Name of the module (``model.get_submodule(module)``).
        group: Its layer group (:func:`cvnb.models.layer_groups`), e.g. ``"stage7"``.
        cells: The feature map's ``(height, width)`` at the model's input size.
    """

    module: str
    group: str
    cells: tuple[int, int]


_FOUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cam_layer(model: nn.Module, size: int) -> CamLayer:
    """The layer Grad-CAM uses: the output of the deepest convolutional layer group.

    Found from the layer groups, not by name: for each group, the largest modules whose
    parameters all belong to it; the last of them to run with a 4-D (feature map) output is
    the group's output. The deepest group with a convolution and at least
    :data:`MIN_CELLS` cells per side wins (else the deepest with more than one cell).

    Raises:
        ValueError: The model has no convolutional layer (a transformer, an MLP).
    """
    found = _FOUND.setdefault(model, {})
    if size not in found:
        found[size] = _find(model, size)
    return found[size]


def _find(model: nn.Module, size: int) -> CamLayer:
    if not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        raise ValueError(NO_CONV)
    try:
        groups = layer_groups(model)
    except TypeError as exc:
        raise ValueError(f"{NO_CONV} ({exc})") from exc
    group_of = {p: g.name for g in groups for p in g.param_names}
    owners: dict[str, str] = {}  # module name -> group, for modules inside one group only
    for name, module in model.named_modules():
        params = {f"{name}.{p}" if name else p for p, _ in module.named_parameters()}
        names = {group_of.get(p) for p in params}
        if params and len(names) == 1 and None not in names:
            parent = name.rpartition(".")[0]
            if name and owners.get(parent) != next(iter(names)):
                owners[name] = next(iter(names))
    convs = {n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    has_conv = {g for n, g in owners.items() if any(c == n or c.startswith(f"{n}.") for c in convs)}
    ran: list[tuple[str, tuple[int, ...]]] = []
    hooks = [
        model.get_submodule(n).register_forward_hook(
            lambda _m, _i, out, n=n: ran.append((n, tuple(getattr(out, "shape", ()))))
        )
        for n in owners
    ]
    try:
        with torch.no_grad(), eval_mode(model):
            device = next(model.parameters()).device
            model(torch.zeros(1, 3, size, size, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    outputs: dict[str, tuple[str, tuple[int, int]]] = {}  # group -> its last 4-D output
    for name, shape in ran:
        if len(shape) == 4 and owners[name] in has_conv:
            outputs[owners[name]] = (name, (shape[2], shape[3]))
    order = [g.name for g in groups if g.name in outputs]
    if not order:
        raise ValueError(NO_CONV)
    for wanted in (MIN_CELLS, 2):
        deep = [g for g in order if min(outputs[g][1]) >= wanted]
        if deep:
            group = deep[-1]
            return CamLayer(outputs[group][0], group, outputs[group][1])
    group = order[-1]
    return CamLayer(outputs[group][0], group, outputs[group][1])


@contextlib.contextmanager
def _untouched(model: nn.Module) -> Iterator[None]:
    """The model's parameters get no gradient and keep their ``.grad`` and modes."""
    saved = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    for p, _, _ in saved:
        p.requires_grad_(False)
    try:
        with eval_mode(model):
            yield
    finally:
        for p, requires_grad, grad in saved:
            p.requires_grad_(requires_grad)
            p.grad = grad


@contextlib.contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """One torch thread for the single-image pass on the CPU, restored after.

    One 224 px Lite0 forward and backward gains nothing from a second thread (0.032 s with
    two, 0.037 s with one, idle 2-core machine), but with another process busy on one core
    OpenMP's spin-waiting made two threads take 1-2 s against 0.04 s with one (measured).
    """
    before = torch.get_num_threads()
    if device.type != "cpu" or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def gradcam(learn, array: np.ndarray, index: int, *, model: nn.Module | None = None):
    """Grad-CAM map of one preprocessed image for output ``index``.

    Uses pytorch-grad-cam's ``GradCAM`` on :func:`cam_layer`. The learner's model is
    used in place, in eval mode, with its parameters' ``requires_grad``, ``.grad`` and
    train/eval modes restored afterwards (the library calls ``model.eval()`` and
    ``zero_grad()`` on what it is given); gradients flow from the input instead.

    Args:
        learn: The learner (preprocessing: mean and std).
        array: ``(S, S, 3)`` float32 in [0, 1] (:func:`model_input`).
        index: The target class's output index.
        model: Another model to explain (the sanity check's randomised copies).

    Returns:
        ``(heatmap (S, S) float32 in [0, 1], CamLayer)``.
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    net = learn.model if model is None else model
    size = array.shape[0]
    cfg = learn.cvnb_config
    device = next(net.parameters()).device
    with _one_cpu_thread(device):
        layer = cam_layer(net, size)
    wrapped = Normalized(net, cfg.mean, cfg.std).to(device)
    x = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None].to(device)
    target = net.get_submodule(layer.module)
    # Gradients start at the target layer: its output becomes a leaf that needs them, and
    # nothing before it is differentiated (the parameters are frozen meanwhile). Registered
    # before the library's own hooks, which then see this output.
    leaf = target.register_forward_hook(lambda _m, _i, out: out.detach().requires_grad_(True))
    with _untouched(net), torch.enable_grad(), _one_cpu_thread(device):
        cam = GradCAM(model=wrapped, target_layers=[target])
        try:
            heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(index)])[0]
        finally:
            cam.activations_and_grads.release()
            leaf.remove()
    heat = np.nan_to_num(np.asarray(heat, dtype=np.float32))
    return np.clip(heat, 0.0, 1.0), layer
