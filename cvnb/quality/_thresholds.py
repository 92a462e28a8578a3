"""The built-in engine's default thresholds, and how given thresholds are checked.

Its own module, below both engines: :mod:`._scan` and :mod:`._fastdup` each build on it, so
neither imports the other to share it.
"""

from __future__ import annotations

__all__ = ["DEFAULT_THRESHOLDS", "resolve_thresholds"]

#: Default thresholds: an image is flagged for an issue when its score is below the value.
#: The extra keys shape scores rather than cut them (see :func:`cvnb.quality.scan_quality`).
DEFAULT_THRESHOLDS: dict[str, float] = {
    "unreadable": 0.5,
    "exact_duplicate": 0.5,
    "near_duplicate": 0.04,
    "leakage": 0.04,
    "dark": 0.2,
    "bright": 0.2,
    "blurry": 0.4,
    "low_information": 0.3,
    "odd_size": 0.55,
    "odd_aspect": 0.55,
    "grayscale": 0.05,
    "outlier": 0.5,
    "label_issue": 0.2,
    "class_imbalance": 0.2,
    "near_duplicate_hash_bits": 10,
    "near_duplicate_layout": 0.98,
    "grayscale_colour_share": 0.5,
}


def resolve_thresholds(
    thresholds: dict[str, float] | None,
    defaults: dict[str, float] | None = None,
    *,
    engine: str = "builtin",
) -> dict[str, float]:
    """``defaults`` (:data:`DEFAULT_THRESHOLDS`) updated with ``thresholds``, checked.

    Args:
        thresholds: Overrides, or None.
        defaults: The engine's defaults (default :data:`DEFAULT_THRESHOLDS`).
        engine: The engine's name, for the error message.

    Returns:
        A new dict; ``leakage`` always equals ``near_duplicate``.

    Raises:
        ValueError: An unknown key, or ``leakage`` given on its own.
    """
    defaults = DEFAULT_THRESHOLDS if defaults is None else defaults
    given = dict(thresholds or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(
            f"Unknown thresholds {unknown} for the {engine} engine; the keys are "
            f"{sorted(defaults)}."
        )
    if "leakage" in given:
        raise ValueError(
            "leakage has no threshold of its own: it flags near-duplicate groups that span "
            "splits; set thresholds['near_duplicate'] instead."
        )
    th = {**defaults, **{k: float(v) for k, v in given.items()}}
    th["leakage"] = th["near_duplicate"]
    if "near_duplicate_hash_bits" in th:
        th["near_duplicate_hash_bits"] = int(th["near_duplicate_hash_bits"])
    return th
