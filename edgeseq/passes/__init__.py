"""Deprecated: the optimization passes moved into :mod:`edgeseq.optimization` (one release of shims).

``edgeseq.passes.<name>`` re-exports the new homes and warns (DeprecationWarning) on import:
calibration -> optimization.samples, conv_weights -> optimization.conv_weights, cpuinfo ->
optimization.int8 and edgeseq.cpu, fp16 / graphopt / ortformat -> optimization.variants.{fp16, ort_opt,
ort_format}, int8_static / int8_dynamic -> optimization.quantization, graphinfo -> edgeseq.graphs,
sandbox -> optimization.sandbox.
"""
