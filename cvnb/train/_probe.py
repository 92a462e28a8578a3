"""Linear-probe head: fit the classifier as a logistic regression on frozen features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from fastai.learner import Learner


@dataclass
class ProbeResult:
    """The result of :func:`fit_probe_head`.

    Attributes:
        accuracy: Validation accuracy of the model with the probe head (nothing else trained).
        train_accuracy: The same on the training images.
        n_features: Width of the backbone's pooled features.
        temperature: The regression's logits were divided by this to suit the learner's
            loss (see ``fit_probe_head``).
    """

    accuracy: float
    train_accuracy: float
    n_features: int
    temperature: float


def fit_probe_head(learn: Learner, *, C: float = 1.0, progress: bool = True) -> ProbeResult:
    """Fit the classifier head as a logistic regression on the frozen backbone's features.

    The backbone runs once over the training and validation images (validation-time
    transforms, eval mode); scikit-learn's ``LogisticRegression`` fits standardized pooled
    features, and its weights (standardization folded in) become the head's ``Linear``
    layer, its logits divided by the temperature (>= 1) that minimizes the learner's own
    loss on the training images. On a pretrained backbone this *linear probe* takes seconds and is often most of
    the accuracy fine-tuning will reach; it is also a far better start for fine-tuning than
    a random head, whose large early gradients disturb the pretrained layers.

    Args:
        learn: A fastai ``Learner`` over a timm model (``model.get_classifier()`` a
            ``torch.nn.Linear``), e.g. from :func:`cvnb.train.make_learner`.
        C: Inverse L2 regularization strength of the logistic regression.
        progress: Show a progress bar over the feature batches.

    Returns:
        A :class:`ProbeResult`.

    Raises:
        TypeError: The model's classifier is not a single ``Linear`` layer.
    """
    from sklearn.linear_model import LogisticRegression

    model = learn.model
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if not isinstance(head, torch.nn.Linear):
        raise TypeError(
            "fit_probe_head needs a timm model whose get_classifier() is one nn.Linear "
            f"(got {type(head).__name__}); use head_init='none'"
        )
    x_train, y_train = _features(learn, learn.dls.train.items, progress)
    x_valid, y_valid = _features(learn, learn.dls.valid.items, progress)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    clf = LogisticRegression(C=C, max_iter=2000).fit((x_train - mean) / std, y_train)
    weight = np.zeros((head.out_features, x_train.shape[1]), dtype=np.float64)
    bias = np.full(head.out_features, -30.0)  # classes absent from training: never predicted
    coef = clf.coef_ if len(clf.classes_) > 2 else np.vstack([-clf.coef_, clf.coef_]) / 2
    icpt = clf.intercept_ if len(clf.classes_) > 2 else np.r_[-clf.intercept_, clf.intercept_] / 2
    weight[clf.classes_] = coef / std
    bias[clf.classes_] = icpt - (coef * mean / std).sum(1)
    temperature = _temperature(x_train @ weight.T + bias, y_train, learn.loss_func)
    weight, bias[clf.classes_] = weight / temperature, bias[clf.classes_] / temperature
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(weight, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(bias, dtype=head.bias.dtype))
    return ProbeResult(
        accuracy=float(clf.score((x_valid - mean) / std, y_valid)),
        train_accuracy=float(clf.score((x_train - mean) / std, y_train)),
        n_features=int(x_train.shape[1]),
        temperature=temperature,
    )


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


def _features(learn: Learner, items, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    from tqdm.auto import tqdm

    dl = learn.dls.test_dl(items, with_labels=True)  # validation-time transforms, in order
    model = learn.model
    was_training = model.training
    model.eval()
    xs, ys = [], []
    try:
        with torch.inference_mode():
            for xb, yb in tqdm(dl, desc="probe features", disable=not progress, leave=False):
                xs.append(model.forward_head(model.forward_features(xb), pre_logits=True))
                ys.append(yb)
    finally:
        model.train(was_training)
    return torch.cat(xs).float().numpy(), torch.cat(ys).numpy()
