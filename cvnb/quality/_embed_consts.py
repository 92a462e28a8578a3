"""Constants of the scan's embedder, shared by its torch and its torch-free halves."""

from __future__ import annotations

__all__ = ["FEATURE_SETS"]

#: Which pooled features an embedder returns (see ``cvnb.quality._embed_net.PooledFeatures``):
#: ``"stages"`` (pooled multi-stage features), ``"head"`` (pooled pre-classifier features) or
#: ``"both"``.
FEATURE_SETS = ("stages", "head", "both")
