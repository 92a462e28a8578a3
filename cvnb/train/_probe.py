"""Linear-probe head: fit the classifier as a logistic regression on frozen features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from fastai.learner import Learner

from cvnb.device import autocast_dtype, pick_device

from ._metrics import balanced_accuracy


@dataclass
class ProbeResult:
    """The result of :func:`fit_probe_head`.

    Attributes:
        accuracy: Validation accuracy of the model with the probe head (nothing else trained).
        train_accuracy: The same on the training images.
        n_features: Width of the backbone's pooled features.
        temperature: The regression's logits were divided by this to suit the learner's
            loss (see ``fit_probe_head``).
        balanced_accuracy: Validation balanced accuracy (mean per-class recall).
    """

    accuracy: float
    train_accuracy: float
    n_features: int
    temperature: float
    balanced_accuracy: float = float("nan")


@dataclass
class ProbeHead:
    """A fitted probe: the head's weight and bias (logit space of the learner's loss)."""

    weight: np.ndarray
    bias: np.ndarray
    temperature: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(x @ self.weight.T + self.bias, axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(x) == y)) if len(y) else float("nan")

    def set_on(self, learn: Learner) -> None:
        head = _linear_head(learn)
        with torch.no_grad():
            head.weight.copy_(torch.as_tensor(self.weight, dtype=head.weight.dtype))
            head.bias.copy_(torch.as_tensor(self.bias, dtype=head.bias.dtype))


def fit_probe_head(
    learn: Learner, *, C: float = 1.0, balance: bool = False, progress: bool = True
) -> ProbeResult:
    """Fit the classifier head as a logistic regression on the frozen backbone's features.

    The backbone runs once over the training and validation images (validation-time
    transforms, eval mode, on :func:`cvnb.device.pick_device` for the learner);
    scikit-learn's ``LogisticRegression`` fits standardized pooled features, and its weights
    (standardization folded in) become the head's ``Linear`` layer, its logits divided by
    the temperature (>= 1) that minimizes the learner's own loss on the training images. On a
    pretrained backbone this *linear probe* takes seconds and is often most of the accuracy
    fine-tuning will reach; it is also a far better start for fine-tuning than a random
    head, whose large early gradients disturb the pretrained layers.

    Args:
        learn: A fastai ``Learner`` over a timm model (``model.get_classifier()`` a
            ``torch.nn.Linear``), e.g. from :func:`cvnb.train.make_learner`.
        C: Inverse L2 regularization strength of the logistic regression.
        balance: Weigh classes inversely to their frequency (``class_weight="balanced"``).
        progress: Show a progress bar over the feature batches.

    Returns:
        A :class:`ProbeResult`.

    Raises:
        TypeError: The model's classifier is not a single ``Linear`` layer.
    """
    _linear_head(learn)
    x_train, y_train = probe_features(learn, learn.dls.train.items, progress=progress)
    x_valid, y_valid = probe_features(learn, learn.dls.valid.items, progress=progress)
    probe = fit_probe(learn, x_train, y_train, C=C, balance=balance)
    probe.set_on(learn)
    return ProbeResult(
        accuracy=probe.accuracy(x_valid, y_valid),
        train_accuracy=probe.accuracy(x_train, y_train),
        n_features=int(x_train.shape[1]),
        temperature=probe.temperature,
        balanced_accuracy=balanced_accuracy(y_valid, probe.predict(x_valid)),
    )


def fit_probe(
    learn: Learner, x: np.ndarray, y: np.ndarray, *, C: float = 1.0, balance: bool = False
) -> ProbeHead:
    """Logistic regression on features ``x`` (labels ``y``) as a head for ``learn``'s model."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    head = _linear_head(learn)
    mean, std = x.mean(0), x.std(0) + 1e-6
    clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced" if balance else None)
    # One BLAS thread: on 2 cores the default pool made this solver 3-10x slower (the same
    # finding as the quality scan's probe, cvnb.quality._semantic.label_issue_scores).
    with threadpool_limits(1):
        clf.fit((x - mean) / std, y)
    weight = np.zeros((head.out_features, x.shape[1]), dtype=np.float64)
    bias = np.full(head.out_features, -30.0)  # classes absent from training: never predicted
    coef = clf.coef_ if len(clf.classes_) > 2 else np.vstack([-clf.coef_, clf.coef_]) / 2
    icpt = clf.intercept_ if len(clf.classes_) > 2 else np.r_[-clf.intercept_, clf.intercept_] / 2
    weight[clf.classes_] = coef / std
    bias[clf.classes_] = icpt - (coef * mean / std).sum(1)
    temperature = _temperature(x @ weight.T + bias, y, learn.loss_func)
    weight, bias[clf.classes_] = weight / temperature, bias[clf.classes_] / temperature
    return ProbeHead(weight, bias, temperature)


def _linear_head(learn: Learner) -> torch.nn.Linear:
    model = learn.model
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if not isinstance(head, torch.nn.Linear):
        raise TypeError(
            "fit_probe_head needs a timm model whose get_classifier() is one nn.Linear "
            f"(got {type(head).__name__}); use head_init='none'"
        )
    return head


def _temperature(logits: np.ndarray, targets: np.ndarray, loss_func) -> float:
    """The divisor T >= 1 of the logits that minimizes the learner's loss on training images.

    A probe that separates its training images perfectly has large logits. Under label
    smoothing (cvnb's default loss) such confident logits cost a large loss, and its
    gradients would first shrink the head, shaking the pretrained layers below it; scaled
    to the loss the fine-tuning optimizes, the head starts near its optimum instead.
    Predictions (the argmax) do not change.
    """
    z, y = torch.as_tensor(logits, dtype=torch.float32), torch.as_tensor(targets)
    grid = np.geomspace(1.0, 1000.0, 61)

    with torch.no_grad():
        losses = [float(loss_func(z / t, y)) for t in grid]
    return float(grid[int(np.argmin(losses))])


def probe_features(
    learn: Learner, items, *, logits: bool = False, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features (or logits) of ``items`` through the validation-time transforms.

    The model runs in eval mode on :func:`cvnb.device.pick_device` for the learner (its own
    device), in mixed precision on CUDA (:func:`cvnb.device.autocast_dtype`).

    Returns:
        ``(features, targets)`` as float32 and int arrays, in the order of ``items``.
    """
    from tqdm.auto import tqdm

    dl = learn.dls.test_dl(items, with_labels=True)  # validation-time transforms, in order
    model = learn.model
    device = pick_device(learn=learn)
    dtype = autocast_dtype(device)
    was_training = model.training
    model.eval()
    xs, ys = [], []
    try:
        with torch.inference_mode(), torch.autocast(device.type, dtype, enabled=dtype is not None):
            for xb, yb in tqdm(dl, desc="probe features", disable=not progress, leave=False):
                feats = model.forward_features(xb.to(device))
                out = model.forward_head(feats, pre_logits=not logits)
                xs.append(out.float().cpu())
                ys.append(yb.cpu())
    finally:
        model.train(was_training)
    return torch.cat(xs).numpy(), torch.cat(ys).numpy()
