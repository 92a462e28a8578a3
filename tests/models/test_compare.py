"""compare_backbones: parameters, FLOPs and CPU speed of real timm models, nothing downloaded."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import timm
import torch

from cvnb.models import compare_backbones
from cvnb.models._compare import COLUMNS

SMALL, LARGE = "test_efficientnet", "resnet10t"  # timm's tiny test net, and a real small ResNet


@pytest.fixture(scope="module")
def comparison():
    return compare_backbones(
        [LARGE, SMALL, "tf_efficientnet_lite0"],
        img_size=48,
        batch_size=4,
        num_classes=5,
        repeats=3,
        warmup=1,
        progress=False,
    )


def test_table_columns_and_order(comparison):
    t = comparison.table
    assert list(t.columns) == COLUMNS
    assert list(t.name) == [LARGE, SMALL, "tf_efficientnet_lite0"]
    assert (comparison.img_size, comparison.batch_size, comparison.num_classes) == (48, 4, 5)
    assert comparison.threads == 1


def test_params_are_exact(comparison):
    for name, params_m in zip(comparison.table.name, comparison.table.params_m, strict=True):
        model = timm.create_model(name, pretrained=False, num_classes=5)
        assert params_m * 1e6 == pytest.approx(sum(p.numel() for p in model.parameters()), abs=0.5)


def test_flops_positive_and_larger_model_larger(comparison):
    flops = dict(zip(comparison.table.name, comparison.table.gflops, strict=True))
    assert all(f > 0 for f in flops.values())
    assert flops[LARGE] > 10 * flops[SMALL]
    # Convolutions dominate: twice the side, four times the FLOPs (sizes divisible by 32).
    at_32, at_64 = (
        compare_backbones([SMALL], img_size=s, batch_size=1, repeats=1, progress=False).table
        for s in (32, 64)
    )
    assert at_64.gflops[0] == pytest.approx(4 * at_32.gflops[0], rel=0.01)


def test_speed_and_weights_columns(comparison):
    t = comparison.table.set_index("name")
    assert (t.latency_ms > 0).all() and (t.throughput > 0).all()
    assert t.loc["tf_efficientnet_lite0", "offline_weights"]
    assert not t.loc[LARGE, "offline_weights"]
    assert "accuracy not measured" in t.loc[LARGE, "note"]
    assert (
        "network" in t.loc[LARGE, "note"]
        and "network" not in t.loc["tf_efficientnet_lite0", "note"]
    )


def test_threads_restored_and_plot(comparison):
    before = torch.get_num_threads()
    compare_backbones([SMALL], img_size=32, batch_size=2, repeats=1, threads=1, progress=False)
    assert torch.get_num_threads() == before
    ax = comparison.plot()
    assert len(ax.texts) == 3 and ax.get_xlabel().startswith("GFLOPs")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"names": ["resnet_18"]}, "not a timm model name"),
        ({"names": []}, "at least one"),
        ({"names": [SMALL], "img_size": 0}, "img_size must be"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare_backbones(progress=False, **kwargs)
