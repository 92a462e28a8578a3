"""The public API, listed: a change to it must be deliberate (edit this list with it).

Each package's ``__all__`` is what a notebook needs; internals stay importable from their
private modules for cvnb's own code and tests. Every public function and class is documented.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC = {
    "cvnb.data": [
        "DEFAULT_MAX_PIXELS",
        "IMAGE_EXTENSIONS",
        "ImageReadError",
        "Summary",
        "check_image",
        "encode_thumbnail",
        "load_images",
        "make_splits",
        "read_image",
        "readable",
        "subset",
        "summarize",
    ],
    "cvnb.datasets": [
        "DEFAULT_COUNTS",
        "TRUTH_FILE",
        "cache_dir",
        "digits",
        "dirty_copy",
        "dirty_digits",
    ],
    "cvnb.quality": [
        "DECISIONS",
        "DEFAULT_THRESHOLDS",
        "ENGINES",
        "EngineUnavailable",
        "ISSUES",
        "ISSUE_DESCRIPTIONS",
        "Journal",
        "JournalError",
        "QualityReport",
        "RANKED_ISSUES",
        "apply_journal",
        "default_journal_path",
        "evaluate_scan",
        "fastdup_available",
        "make_embedder",
        "read_truth",
        "scan_quality",
    ],
    "cvnb.augment": [
        "AspectAudit",
        "DOMAIN_PRESETS",
        "DatasetStats",
        "MIX_MODES",
        "PRESETS",
        "Pipeline",
        "PipelineFileError",
        "RESIZE_POLICIES",
        "audit_aspect",
        "dataset_stats",
        "load_pipeline",
        "make_pipeline",
        "preset",
        "transform_catalog",
    ],
    "cvnb.models": [
        "BackboneComparison",
        "DEFAULT_CANDIDATES",
        "LayerGroup",
        "OFFLINE_DEFAULT",
        "PretrainedWeightsUnavailable",
        "compare_backbones",
        "create_backbone",
        "layer_groups",
        "offline_pretrained",
    ],
    "cvnb.train": [
        "AccumulationPlan",
        "BatchSizeResult",
        "Diagnosis",
        "Finding",
        "FitResult",
        "FreezePlan",
        "LRFinderResult",
        "LearnerConfig",
        "PROBE_LR",
        "ProbeResult",
        "SCHEDULES",
        "UnfreezeSchedule",
        "accumulate_to",
        "apply_freeze",
        "balanced_accuracy",
        "default_img_size",
        "diagnose",
        "find_batch_size",
        "find_lr",
        "fit",
        "fit_probe_head",
        "freeze_code",
        "history",
        "layer_table",
        "make_learner",
        "plan_freeze",
        "plot_layer_table",
        "preserved_learner",
    ],
    "cvnb.explain": [
        "DEFAULT_BUDGETS",
        "Explanation",
        "Explanations",
        "METHODS",
        "STEPS",
        "SanityReport",
        "centre_map",
        "deletion_insertion",
        "explain",
        "explain_one",
        "random_map",
        "sanity_check",
    ],
    "cvnb.evaluate": [
        "CalibrationReport",
        "CrossValidation",
        "EvaluationReport",
        "TemperatureResult",
        "calibration",
        "cross_validate",
        "ensemble_predict",
        "evaluation_report",
        "fit_temperature",
        "oof_label_scores",
        "predictions",
    ],
    "cvnb.export": [
        "OnnxClassifier",
        "OnnxExport",
        "ParityReport",
        "export_onnx",
        "load_onnx",
        "parity_report",
    ],
    "cvnb.widgets": [
        "AugmentationExplorer",
        "DatasetInspectorWidget",
        "ExplainViewer",
        "ImageGrid",
        "LRFinderWidget",
        "LayerFreezeWidget",
        "explore_augmentations",
        "inspect_dataset",
        "show_images",
    ],
    "cvnb.runs": [
        "DEPTHS",
        "METRICS_FILE",
        "read_metrics",
        "record_metrics",
        "settings_from_env",
        "write_json",
    ],
    "cvnb.device": ["autocast_dtype", "onnx_providers", "pick_device"],
    "cvnb.cli": ["demo_arguments", "main"],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_are_exactly_the_listed_ones(package):
    module = importlib.import_module(package)
    assert sorted(module.__all__) == PUBLIC[package], (
        f"{package}.__all__ changed; if that is deliberate, update tests/test_public_api.py"
    )


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_functions_and_classes_have_docstrings(package):
    module = importlib.import_module(package)
    undocumented = [
        name
        for name in module.__all__
        if (inspect.isfunction(obj := getattr(module, name)) or inspect.isclass(obj))
        and not inspect.getdoc(obj)
    ]
    assert not undocumented, f"{package}: public names without a docstring: {undocumented}"
