"""What ExplainViewer sends to the browser: the grid's rows, panels and encoded images."""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image

    from cvnb.explain import Explanation

__all__ = [
    "candidate",
    "candidate_rows",
    "encode",
    "heatmap_png",
    "is_row",
    "panel_of",
    "path_or_blank",
    "plain",
]

_CANDIDATE_COLUMNS = ("path", "label", "prediction", "prob", "loss")


def candidate_rows(table: pd.DataFrame, source: str, n: int) -> list[pd.Series]:
    """The grid's rows: mistakes (or all rows), highest loss first, at most ``n``."""
    if "path" not in table.columns:
        raise ValueError(f"the table needs a 'path' column; it has {list(table.columns)}.")
    rows = table
    if "error" in rows.columns:
        rows = rows[rows["error"].isna() | (rows["error"].astype(str).str.strip() == "")]
    if source == "mistakes" and {"label", "prediction"} <= set(rows.columns):
        rows = rows[rows["label"].astype(str) != rows["prediction"].astype(str)]
    if "loss" in rows.columns:
        rows = rows.sort_values("loss", ascending=False, kind="stable")
    return [row for _, row in rows.head(max(0, n)).iterrows()]


def candidate(row: pd.Series) -> dict[str, Any]:
    return plain({k: row[k] for k in _CANDIDATE_COLUMNS if k in row.index})


def panel_of(result: Explanation) -> dict[str, Any]:
    baseline = result.random_baseline or {}
    return plain(
        {
            "method": result.method,
            "status": "done",
            "seconds": result.seconds,
            "n_model_calls": result.n_model_calls,
            "deletion_auc": result.deletion_auc,
            "insertion_auc": result.insertion_auc,
            "random_deletion": baseline.get("deletion"),
            "random_insertion": baseline.get("insertion"),
            "runtime": result.runtime,
        }
    )


def plain(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe values: numpy scalars to Python, NaN to None, the rest to str."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        elif value is not None and not isinstance(value, (bool, int, float, str)):
            value = str(value)
        out[str(key)] = value
    return out


def is_row(subject: Any) -> bool:
    import pandas as pd

    return isinstance(subject, pd.Series)


def path_or_blank(subject: Any) -> str:
    from PIL import Image

    return "" if isinstance(subject, Image.Image) else str(subject)


def encode(image: Image.Image) -> bytes:
    """PNG for small images (crisp pixels), JPEG for photos."""
    buffer = io.BytesIO()
    if max(image.size) <= 128:
        image.save(buffer, format="PNG")
    else:
        image.convert("RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def heatmap_png(heatmap: np.ndarray) -> bytes:
    """The map in the 'jet' colour map as an RGBA PNG; the browser sets its opacity."""
    from matplotlib import colormaps
    from PIL import Image

    values = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0)
    rgba = (colormaps["jet"](values) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
    return buffer.getvalue()
