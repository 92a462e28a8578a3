"""layer_groups / param_groups: stem … stages … head, every parameter exactly once."""

from __future__ import annotations

import re

import pytest
import timm
from torch import nn

from cvnb.models import LayerGroup, create_backbone, layer_groups
from cvnb.models._groups import param_groups


def _check_partition(model: nn.Module, groups: list[LayerGroup]) -> None:
    named = dict(model.named_parameters())
    seen = [n for g in groups for n in g.param_names]
    assert len(seen) == len(set(seen)), "a parameter is in two groups"
    assert set(seen) == set(named), "a parameter is in no group"
    for g in groups:
        assert g.param_names, f"{g.name} is empty"
        assert g.n_params == sum(named[n].numel() for n in g.param_names)
    assert sum(g.n_params for g in groups) == sum(p.numel() for p in model.parameters())


def _stage_of(name: str, pattern: str) -> int | None:
    m = re.match(pattern, name)
    return int(m.group(1)) if m else None


def test_lite0_groups_stem_seven_stages_head():
    model = create_backbone(num_classes=4, pretrained=False)
    groups = layer_groups(model)
    assert [g.name for g in groups] == ["stem", *(f"stage{i}" for i in range(1, 8)), "head"]
    _check_partition(model, groups)
    by_name = {g.name: g for g in groups}
    assert set(by_name["stem"].param_names) == {"conv_stem.weight", "bn1.weight", "bn1.bias"}
    assert set(by_name["head"].param_names) == {"classifier.weight", "classifier.bias"}
    for i in range(1, 8):
        stages = {_stage_of(n, r"blocks\.(\d+)\.") for n in by_name[f"stage{i}"].param_names}
        # timm puts the 1x1 head conv and its norm with the last stage.
        assert stages - {None} == {i - 1}, (i, stages)
    extra = {n for n in by_name["stage7"].param_names if not n.startswith("blocks.")}
    assert extra == {"conv_head.weight", "bn2.weight", "bn2.bias"}


def test_param_groups_is_the_same_partition_as_parameter_objects():
    model = create_backbone(num_classes=4, pretrained=False)
    groups = param_groups(model)
    assert len(groups) == len(layer_groups(model)) == 9
    ids = [id(p) for g in groups for p in g]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    assert groups[-1][0] is model.classifier.weight


def test_other_timm_architecture_resnet18():
    model = timm.create_model("resnet18", pretrained=False, num_classes=3)
    groups = layer_groups(model)
    assert [g.name for g in groups] == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    _check_partition(model, groups)
    for i, g in enumerate(groups[1:-1], start=1):
        assert all(n.startswith(f"layer{i}.") for n in g.param_names), g.name
    assert set(groups[-1].param_names) == {"fc.weight", "fc.bias"}
    assert groups[-1].n_params == 512 * 3 + 3


def test_non_timm_module_is_a_type_error():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Linear(8, 2))
    with pytest.raises(TypeError, match=r"group_matcher.*timm model"):
        layer_groups(model)
    with pytest.raises(TypeError):
        param_groups(model)
