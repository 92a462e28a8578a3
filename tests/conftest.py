"""Fixtures shared across test folders: real data (the digits set, coco-crops) and threads.

Real photo sets live beside the repository in ``../shared/datasets``. Where a set is
missing, a test that needs it skips with the reason, except where ``CVNB_REQUIRE_DATA=1``
(``.ci/run`` sets it): there it fails, so CI cannot pass without running it. Every such
check goes through :func:`missing`.

torch runs on one thread in the model, training and export tests: on two cores shared with
other jobs, OpenMP's spin-waiting made two threads several times slower than one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from shared_data import COCO_CROPS, shared_dataset

PER_CLASS = 20  # digits_subset: images per class and split, 200 train + 200 valid
_ONE_THREAD_FOLDERS = {"models", "train", "export", "quality", "augment", "evaluate", "explain"}


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(request) -> Iterator[None]:
    if _ONE_THREAD_FOLDERS.isdisjoint(Path(request.module.__file__).parts):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def coco_crops() -> Path:
    """Real COCO object crops in ImageFolder layout (train/valid × 5 classes)."""
    return shared_dataset(COCO_CROPS.name)


@pytest.fixture(scope="session")
def digits_root(tmp_path_factory) -> Path:
    """The embedded digits set, written once per test session into a temporary cache."""
    from cvnb.datasets import digits

    return digits(root=tmp_path_factory.mktemp("cvnb-cache") / "digits")


@pytest.fixture(scope="session")
def digits_table(digits_root: Path):
    from cvnb.data import load_images

    return load_images(digits_root)


@pytest.fixture(scope="session")
def digits_subset(digits_table):
    """The first PER_CLASS rows of each class in each split."""
    keep = digits_table.groupby(["split", "label"]).cumcount() < PER_CLASS
    return digits_table[keep].reset_index(drop=True)


@pytest.fixture(scope="session")
def trained_digits(digits_subset):
    """A Lite0 learner fine-tuned on the digits subset at 32 px, trained once per session.

    Shared by the evaluate, explain and widget tests: a test must not change its weights,
    its mode's side effects aside (work on ``copy.deepcopy(learn.model)`` to destroy one).
    cvnb's recipe (probe head, then 3 epochs): about 0.7 on the 200 validation digits, 20 s.
    """
    import torch

    from cvnb.train import fit, make_learner

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        learn = make_learner(digits_subset, img_size=32, bs=32)
        fit(learn, 3, progress=False, seed=0)
    finally:
        torch.set_num_threads(before)
    return learn
