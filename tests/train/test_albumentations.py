"""make_learner(augment=…): albumentations pipelines as fastai item transforms, MixUp/CutMix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from fastai.callback.mixup import CutMix, MixUp

from cvnb.augment import PipelineFileError, preset
from cvnb.train import make_learner
from cvnb.train._albumentations import AlbumentationsTransform


def _learner(df: pd.DataFrame, **kwargs):
    kwargs = {"img_size": 32, "bs": 32, "pretrained": False, **kwargs}
    return make_learner(df, **kwargs)


def _x(batch) -> torch.Tensor:
    return batch[0].as_subclass(torch.Tensor)


def test_without_augment_it_is_resize_only(digits_subset):
    learn = _learner(digits_subset)
    pipeline = learn.cvnb_pipeline
    assert (pipeline.policy, pipeline.size, pipeline.transforms) == ("squish", 32, [])
    tfms = [t for t in learn.dls.train.after_item.fs if isinstance(t, AlbumentationsTransform)]
    assert len(tfms) == 1
    config = learn.cvnb_config
    assert (config.resize, config.policy, config.fill) == ("squish", "squish", 0)
    assert config.pipeline == pipeline.to_dict()


def test_same_seed_same_augmented_batches(digits_subset):
    a, b, c = (_learner(digits_subset, augment="heavy", seed=s) for s in (0, 0, 1))
    xa, xb, xc = (_x(learn.dls.train.one_batch()) for learn in (a, b, c))
    assert torch.equal(xa, xb)
    assert not torch.equal(xa, xc)
    assert not torch.equal(xa, _x(a.dls.train.one_batch())), "the next draw differs"
    # The caller's pipeline object is not consumed: a learner built later draws the same.
    pipeline = preset("heavy", 32)
    first = _x(_learner(digits_subset, augment=pipeline, seed=0).dls.train.one_batch())
    again = _x(_learner(digits_subset, augment=pipeline, seed=0).dls.train.one_batch())
    assert torch.equal(first, again)


def test_validation_and_test_items_are_not_augmented(digits_subset):
    plain = _learner(digits_subset, resize="letterbox")
    heavy = _learner(digits_subset, augment="heavy", seed=3)
    v1, v2 = _x(heavy.dls.valid.one_batch()), _x(heavy.dls.valid.one_batch())
    assert torch.equal(v1, v2) and torch.equal(v1, _x(plain.dls.valid.one_batch()))
    paths = list(heavy.dls.valid.items["path"][:32])
    assert torch.equal(_x(heavy.dls.test_dl(paths).one_batch()), v1)
    train_paths = list(heavy.dls.train.items["path"][:8])
    train_as_test = _x(heavy.dls.test_dl(train_paths).one_batch())
    assert torch.equal(train_as_test, _x(plain.dls.test_dl(train_paths).one_batch()))


def test_mix_comes_from_the_pipeline_or_the_argument(digits_subset):
    def mixers(learn):
        return [cb for cb in learn.cbs if isinstance(cb, MixUp | CutMix)]

    assert mixers(_learner(digits_subset)) == []
    (mixup,) = mixers(_learner(digits_subset, augment=preset("light", 32, mix="mixup")))
    assert isinstance(mixup, MixUp)
    assert float(mixup.distrib.concentration1) == pytest.approx(0.4)
    (cutmix,) = mixers(_learner(digits_subset, mix="cutmix", mix_alpha=1.0))
    assert isinstance(cutmix, CutMix)
    assert float(cutmix.distrib.concentration1) == pytest.approx(1.0)
    off = _learner(digits_subset, augment=preset("light", 32, mix="mixup"), mix="none")
    assert mixers(off) == [] and off.cvnb_pipeline.mix is None
    with pytest.raises(ValueError, match="mix must be one of"):
        _learner(digits_subset, mix="blend")


def test_pipeline_files_and_overrides(digits_subset, tmp_path):
    path = preset("medium", 64, policy="crop", mix="cutmix").save(tmp_path / "p.json")
    as_is = _learner(digits_subset, augment=path, img_size=None)
    assert as_is.cvnb_pipeline == preset("medium", 64, policy="crop", mix="cutmix")
    assert tuple(_x(as_is.dls.valid.one_batch()).shape) == (32, 3, 64, 64)
    small = _learner(digits_subset, augment=str(path), resize="pad", fill=(1, 2, 3))
    pipeline = small.cvnb_pipeline
    assert (pipeline.size, pipeline.policy, pipeline.fill) == (32, "letterbox", (1, 2, 3))
    assert len(pipeline.transforms) == 6 and pipeline.mix == "cutmix"
    assert (small.cvnb_config.resize, small.cvnb_config.policy) == ("pad", "letterbox")
    assert tuple(_x(small.dls.valid.one_batch()).shape) == (32, 3, 32, 32)
    named = _learner(digits_subset, augment="aerial")
    assert named.cvnb_pipeline == preset("aerial", 32)  # presets default to letterbox


def test_bad_augment_values(digits_subset):
    with pytest.raises(PipelineFileError, match=r"no pipeline file at 'mediun'.*medium"):
        _learner(digits_subset, augment="mediun")
    with pytest.raises(TypeError, match="augment must be"):
        _learner(digits_subset, augment=3)
    with pytest.raises(ValueError, match="resize must be one of"):
        _learner(digits_subset, augment="light", resize="stretch")


@pytest.mark.slow
def test_a_preset_with_mixup_trains_one_epoch(digits_subset):
    learn = make_learner(digits_subset, img_size=32, bs=32, augment="medium", mix="mixup", seed=0)
    head = learn.model.get_classifier().weight.detach().clone()
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-2)
    (values,) = learn.recorder.values
    assert np.isfinite(values).all()
    assert len(learn.recorder.losses) == 200 // 32  # every training batch ran
    assert not torch.equal(head, learn.model.get_classifier().weight)
    # MixUp swapped the loss for the epoch and put the label-smoothing loss back.
    assert learn.loss_func.__class__.__name__ == "LabelSmoothingCrossEntropyFlat"


@pytest.mark.slow
def test_workers_draw_their_own_augmentations_and_repeat_with_the_seed(digits_subset):
    # Every training row is the same image: only the augmentation makes batches differ.
    one = digits_subset.copy()
    train = one["split"] == "train"
    one.loc[train, "path"] = one.loc[train, "path"].iloc[0]
    one = pd.concat([one[train].groupby("label").head(2), one[~train]], ignore_index=True)
    kw = {"augment": "heavy", "bs": 4, "seed": 0, "num_workers": 2}
    a, b = _learner(one, **kw), _learner(one, **kw)

    def epoch(learn, torch_seed):
        torch.manual_seed(torch_seed)  # worker seeds come from torch's RNG, as in fit()
        return [_x(batch).clone() for batch in learn.dls.train]

    first = epoch(a, 5)
    assert len(first) == 5
    assert not torch.equal(first[0], first[1]), "the two workers draw differently"
    assert all(torch.equal(p, q) for p, q in zip(first, epoch(b, 5), strict=True))
    assert not any(torch.equal(p, q) for p, q in zip(first, epoch(a, 6), strict=True))
