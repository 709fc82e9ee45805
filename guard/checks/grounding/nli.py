"""An NLI cross-encoder as a verifier: does the evidence entail the sentence?

Loaded by name or path through sentence-transformers' ``CrossEncoder``; the entailment column
is found from the model's ``id2label`` (models order contradiction/entailment/neutral
differently). A model with a single output is read as a support logit. The model is loaded
on first use, so building the check at start-up is free.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import structlog

log = structlog.get_logger()

_MAX_PREMISE_CHARS = 2000  # cross-encoders truncate anyway; keep the start of the evidence


def entailment_column(id2label: dict[Any, str] | None, n_outputs: int) -> int:
    """Index of the entailment class; raises when a multi-class model does not name it."""
    labels = {int(k): str(v).lower() for k, v in (id2label or {}).items()}
    for idx, label in labels.items():
        if label.startswith("entail") or label in {"supported", "support"}:
            return idx
    if n_outputs == 1:
        return 0
    raise ValueError(f"cannot tell which output is entailment from labels {labels}")


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class NliVerifier:
    name = "nli"

    def __init__(self, model: str, *, batch_size: int = 16, device: str = "cpu") -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import CrossEncoder

                log.info("nli.load", model=self.model_name)
                self._model = CrossEncoder(self.model_name, device=self.device)
            return self._model

    def verify(self, pairs: Sequence[tuple[str, str]]) -> list[float | None]:
        """Entailment probability of each (claim, evidence) pair; evidence is the premise."""
        if not pairs:
            return []
        model = self.model
        inputs = [(evidence[:_MAX_PREMISE_CHARS], claim) for claim, evidence in pairs]
        with self._lock:
            raw = model.predict(inputs, batch_size=self.batch_size, show_progress_bar=False,
                                apply_softmax=False, convert_to_numpy=True)
        logits = np.asarray(raw, dtype=np.float64)
        if logits.ndim == 1:
            return [float(p) for p in 1.0 / (1.0 + np.exp(-logits))]
        config = getattr(model, "config", None) or getattr(model.model, "config", None)
        column = entailment_column(getattr(config, "id2label", None), logits.shape[1])
        return [float(p) for p in _softmax(logits)[:, column]]
