"""The embedding model on ONNX Runtime, optionally with int8 weights.

Why: on a small CPU box the embedder is the slowest part of guard. MiniLM through ONNX Runtime
with int8 weights embeds one query in under a quarter of torch's time (33 ms -> 7 ms on one
AVX2 core) and builds an index about 1.9x faster, at a cosine of about 0.99 to torch's vectors
and the same AUROC on the eval sets. It also spares the proxy importing torch (docs/knowledge-index.md).

The ONNX file is exported from the sentence-transformers model on first use (torch's exporter,
then ONNX Runtime's transformer graph optimiser and, for int8, dynamic quantisation with one
scale per output channel) and cached under ``$GUARD_CACHE_DIR`` (default ``~/.cache/guard``),
keyed by the model's files and the export settings, so it is done once per machine and model.
The pooling and the L2 normalisation are part of the exported graph: the session returns the
final vectors. Only the shape sentence-transformers uses for this family of models is supported
(a transformer, then mean, CLS or max pooling, then optionally Normalize); any other model
gets a clear error that says to use the torch backend.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import structlog

log = structlog.get_logger()


EXPORT_FORMAT = 1  # bump when the export recipe changes, so old cached files are not reused
_POOLING = ("mean", "cls", "max")
_export_lock = threading.Lock()


class EmbedderExportError(RuntimeError):
    """The model cannot be run on ONNX Runtime (its shape, or a missing package)."""


def cache_root() -> Path:
    configured = os.environ.get("GUARD_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "guard"


def _model_key(model_path: Path, backend: str) -> str:
    """A digest of the model's files and the export recipe: a changed model is exported again,
    and a copied or moved model (a container image, a new venv) still finds its export.
    Hashing MiniLM's 90 MB takes about 0.2 s, once per process."""
    h = hashlib.sha256(f"{backend}\0{EXPORT_FORMAT}".encode())
    for f in sorted(p for p in model_path.rglob("*") if p.is_file()):
        h.update(f"\0{f.relative_to(model_path).as_posix()}\0".encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def exported_model(model_path: str | Path, backend: str) -> Path:
    """The directory holding ``model.onnx`` and ``export.json`` for this model and backend,
    exporting it first if this machine has not yet."""
    if backend not in ("onnx", "onnx-int8"):
        raise ValueError(f"not an ONNX backend: {backend}")
    model_path = Path(model_path)
    if not model_path.is_dir():
        raise EmbedderExportError(
            f"embedder backend {backend!r} needs the model as a local directory; {model_path} is not one"
        )
    target = cache_root() / "embedders" / f"{model_path.name}-{backend}-{_model_key(model_path, backend)}"
    if (target / "export.json").exists():
        return target
    with _export_lock:
        if not (target / "export.json").exists():
            _export(model_path, backend, target)
    return target


def _export(model_path: Path, backend: str, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as e:
        raise EmbedderExportError(
            f"cannot write the exported embedder to {target.parent} ({e.strerror}); set GUARD_CACHE_DIR to a"
            " writable directory, or export it where it is writable first (guard index build does)"
        ) from e
    try:
        log.info("embedder.export", model=str(model_path), backend=backend, to=str(target))
        with _quiet():
            info = _export_onnx(model_path, work / "full.onnx")
            optimized = _optimize(work / "full.onnx", work / "optimized.onnx")
            if backend == "onnx-int8":
                _quantize(optimized, work / "model.onnx")
            else:
                optimized.replace(work / "model.onnx")
        for leftover in ("full.onnx", "optimized.onnx"):
            (work / leftover).unlink(missing_ok=True)
        (work / "export.json").write_text(json.dumps(dict(info, backend=backend, source=str(model_path))))
        work.chmod(0o755)  # mkdtemp made it private; the cache may be shared by a service user
        try:
            work.rename(target)
        except OSError:  # another process got there first: theirs is as good as ours
            if not (target / "export.json").exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's tracer warnings and the quantiser's advice (logged on the root logger) say
    nothing an operator can act on; the export is checked by comparing vectors in the tests."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _export_onnx(model_path: Path, out: Path) -> dict[str, Any]:
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_path), device="cpu")
    modules = list(st)
    kinds = [type(m).__name__ for m in modules]
    if len(modules) < 2 or kinds[0] != "Transformer" or kinds[1] != "Pooling" or any(k != "Normalize" for k in kinds[2:]):
        raise EmbedderExportError(
            f"the ONNX backends support a Transformer, Pooling and optional Normalize model; {model_path} is "
            f"{' -> '.join(kinds)}. Use knowledge.embedder_backend: torch"
        )
    pooling = _pooling_mode(modules[1].get_config_dict())
    if pooling not in _POOLING:
        raise EmbedderExportError(f"pooling {pooling!r} is not supported by the ONNX backends; use torch")
    names = [n for n in st.tokenizer.model_input_names if n in ("input_ids", "attention_mask", "token_type_ids")]
    wrapper = _pooled(modules[0].auto_model.eval(), pooling, names)
    sample = st.tokenizer(["an example sentence", "a second, longer example sentence"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            tuple(sample[n] for n in names),
            str(out),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names} | {"embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, dynamic axes as given
        )
    return {
        "inputs": names,
        "pooling": pooling,
        "dim": int(st.get_sentence_embedding_dimension()),
        "max_seq_length": int(st.max_seq_length),
    }


def _pooling_mode(config: dict[str, Any]) -> str:
    """The pooling a sentence-transformers ``Pooling`` config asks for: newer releases say
    ``pooling_mode: mean``, older ones ``pooling_mode_mean_tokens: true``."""
    mode = config.get("pooling_mode")
    if isinstance(mode, str):
        return mode
    if isinstance(mode, (list, tuple)):
        return "+".join(mode)
    old = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max"}
    chosen = [name for key, name in old.items() if config.get(key)]
    others = [k for k, v in config.items() if k.startswith("pooling_mode") and v and k not in old]
    return "+".join(chosen + others) or "none"


def _pooled(model: Any, pooling: str, names: list[str]) -> Any:
    """Transformer + pooling + normalisation as one torch module, so the graph returns vectors.
    (Defined in a function so importing this module does not import torch.)"""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            kwargs = dict(zip(names, inputs))
            hidden = self.model(**kwargs).last_hidden_state
            mask = kwargs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            if pooling == "cls":
                pooled = hidden[:, 0]
            elif pooling == "max":
                pooled = (hidden - (1 - mask) * 1e9).max(dim=1).values
            else:
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    return Pooled()


def _optimize(src: Path, out: Path) -> Path:
    """Fuse attention, layer norm and GELU where ONNX Runtime recognises them (BERT-like models);
    a model it does not recognise is used as exported."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        optimized = optimize_model(str(src), model_type="bert", num_heads=0, hidden_size=0)
        optimized.save_model_to_file(str(out))
        return out
    except Exception as e:  # noqa: BLE001 - fusion is an optimisation; the plain graph still works
        log.warning("embedder.export.not_optimized", error=str(e))
        return src


def _quantize(src: Path, out: Path, reduce_range: bool = False) -> None:
    """Per-channel int8 weights keep the cosine to fp32 vectors near 0.99; one scale per tensor
    measured 0.93 on MiniLM. Activations are quantised per batch at run time.

    ``reduce_range`` (7-bit weights) is for models shipped to other machines: on an x86 CPU
    without VNNI, ONNX Runtime's u8 x s8 kernels saturate sums of 8-bit products, so a shipped
    8-bit model scores differently by CPU (the verifier's probabilities moved by up to 0.2).
    The embedder is exported on the machine that uses it, where 7 bits measured the same
    cosine to fp32 (0.9914 against 0.9912 on AVX2), so it keeps its 8 bits and its cached exports.
    """
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=reduce_range,
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )


class OnnxSentenceModel:
    """The subset of ``SentenceTransformer`` the ``Embedder`` uses, on an ONNX Runtime session."""

    def __init__(self, model_path: str | Path, backend: str) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise EmbedderExportError(
                f"knowledge.embedder_backend {backend!r} needs onnxruntime (a dependency of guard; reinstall it)"
                " or set knowledge.embedder_backend: torch"
            ) from e
        directory = exported_model(model_path, backend)
        self.info = json.loads((directory / "export.json").read_text())
        self.max_seq_length = int(self.info["max_seq_length"])
        self.tokenizer = load_tokenizer(Path(model_path), self.max_seq_length)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One thread per call: the session is thread-safe, so concurrent checks (and a build's
        # workers) each run on their own core, which scaled better than intra-op threads.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.info["dim"])

    def encode(self, texts: Sequence[str], batch_size: int = 16, **_: Any) -> np.ndarray:
        """Normalised vectors for ``texts``; the ``SentenceTransformer.encode`` keywords the
        Embedder passes (numpy output, normalisation, no progress bar) are what this does anyway."""
        parts = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="np")
            feeds = {name: np.asarray(enc[name], dtype=np.int64) for name in self.info["inputs"]}
            parts.append(self.session.run(None, feeds)[0])
        vectors = np.concatenate(parts).astype(np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors


class FastTokenizer:
    """The model's ``tokenizer.json`` through the ``tokenizers`` library, called like a
    transformers tokenizer for what the embedder needs (padded numpy batches, or one text's ids).

    Why not ``AutoTokenizer``: importing transformers imports torch, about 4 s and a few hundred
    MB that a proxy on the ONNX backend otherwise never needs.
    """

    def __init__(self, path: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        pad = _pad_token(path)
        pad_id = self._tok.token_to_id(pad)
        if pad_id is None:
            raise ValueError(f"pad token {pad!r} is not in {path / 'tokenizer.json'}")
        # Files often fix padding to 128 and truncation to 128; sentence-transformers pads to the
        # longest text in the batch and truncates at the model's max_seq_length.
        self._tok.enable_truncation(max_length)
        self._tok.enable_padding(pad_id=pad_id, pad_token=pad)

    def __call__(self, texts: str | Sequence[str], **_: Any) -> dict[str, Any]:
        single = isinstance(texts, str)
        encodings = self._tok.encode_batch([texts] if single else list(texts))
        out = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return {k: v[0].tolist() for k, v in out.items()} if single else out


def _pad_token(path: Path) -> str:
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        try:
            token = json.loads((path / name).read_text(encoding="utf-8")).get("pad_token")
        except (OSError, ValueError):
            continue
        if isinstance(token, dict):
            token = token.get("content")
        if isinstance(token, str):
            return token
    return "[PAD]"


def load_tokenizer(path: Path, max_length: int) -> Any:
    """``FastTokenizer`` where the model ships a ``tokenizer.json`` that it can use; otherwise
    transformers' ``AutoTokenizer`` (which imports torch)."""
    if (path / "tokenizer.json").exists():
        try:
            return FastTokenizer(path, max_length)
        except Exception as e:  # noqa: BLE001 - an unusual tokenizer file: the general loader reads it
            log.info("embedder.tokenizer_fallback", path=str(path), error=str(e))
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))
