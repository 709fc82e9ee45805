"""Fitting the grounding check from data: verifier pairs, CrossEncoder training, ONNX export.

Development-time code (``guard train``): it imports torch and sentence-transformers, which the
proxy itself never needs on the ONNX backend. The runtime half of the verifier lives in
``guard.checks.grounding.crossencoder``; the combiner fit in ``guard.checks.calibrate``.
"""
