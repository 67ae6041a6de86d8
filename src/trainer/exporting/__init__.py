"""Exporting: a run to a gated ONNX bundle (build steps, onnx_graph, quantize, gates)."""
