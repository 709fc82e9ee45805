"""scripts/requantize-verifier: an 8-bit dynamic-quantized model back to float, exactly."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent


def _script():
    loader = importlib.machinery.SourceFileLoader("requantize_verifier", str(ROOT / "scripts" / "requantize-verifier"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_dequantized_model_computes_with_the_stored_weights(tmp_path):
    from guard.knowledge.onnx import _quantize

    rng = np.random.default_rng(0)
    w = rng.normal(size=(64, 32)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 32])],
        [numpy_helper.from_array(w, "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "float.onnx"))
    _quantize(tmp_path / "float.onnx", tmp_path / "int8.onnx")
    flat = _script().dequantized(onnx.load(str(tmp_path / "int8.onnx")))
    assert {n.op_type for n in flat.graph.node} == {"MatMul", "Relu"}  # quantizers and their weights gone
    onnx.save(flat, str(tmp_path / "flat.onnx"))
    x = rng.normal(size=(3, 64)).astype(np.float32)
    # the int8 weights times their scales: within one quantization step of the original
    stored = numpy_helper.to_array(next(i for i in flat.graph.initializer if i.name.endswith("_float")))
    assert np.abs(stored - w).max() <= np.abs(w).max(axis=0).max() / 127
    assert np.allclose(_run(tmp_path / "flat.onnx", x), np.maximum(x @ stored, 0), atol=1e-4)
    # and quantized again with 7-bit weights it still computes the model
    _quantize(tmp_path / "flat.onnx", tmp_path / "int7.onnx", reduce_range=True)
    assert np.abs(_run(tmp_path / "int7.onnx", x) - np.maximum(x @ w, 0)).max() < 0.5
