"""The one device rule: the learner's device, else CUDA, MPS, the CPU; onnxruntime providers."""

from __future__ import annotations

import subprocess
import sys

import onnxruntime as ort
import pytest
import torch

from cvnb.device import autocast_dtype, onnx_providers, pick_device


class _Holder:
    def __init__(self, module):
        self.model = module


def test_the_learners_device_wins_when_no_device_is_given():
    model = torch.nn.Linear(2, 2)  # on the CPU
    assert pick_device(learn=_Holder(model)) == torch.device("cpu")
    assert pick_device("auto", learn=_Holder(model)) == torch.device("cpu")


def test_auto_picks_cuda_then_mps_then_the_cpu():
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else "mps"
        if torch.backends.mps.is_available()
        else "cpu"
    )
    assert pick_device().type == expected
    assert pick_device(learn=_Holder(torch.nn.Module())).type == expected  # no parameters


def test_an_explicit_device_is_taken_and_a_missing_one_refused():
    assert pick_device("cpu", learn=_Holder(torch.nn.Linear(1, 1))) == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            pick_device("cuda")
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="MPS is not available"):
            pick_device("mps")


def test_onnx_providers_follow_what_onnxruntime_has():
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    providers = onnx_providers()
    assert providers[-1] == "CPUExecutionProvider"
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    assert (providers[0] == "CUDAExecutionProvider") == has_cuda
    if not has_cuda:
        with pytest.raises(ValueError, match="onnxruntime-gpu"):
            onnx_providers("cuda")
    with pytest.raises(ValueError, match="device must be one of"):
        onnx_providers("tpu")


def test_mixed_precision_only_on_cuda():
    assert autocast_dtype("cpu") is None
    if torch.cuda.is_available():
        assert autocast_dtype("cuda") in (torch.bfloat16, torch.float16)


def test_importing_the_rule_loads_no_torch():
    code = "import sys, cvnb.device; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
