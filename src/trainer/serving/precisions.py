"""The one table of export precisions: quantisation mode -> graph file -> metric and cost-column names.

Export, the predictor, the bundle's file table, comparison evidence and the compare report all read
this table, so adding a precision is one row here (plus, in :mod:`trainer.exporting.quantize`, the
function that writes its graph). Torch-free: the predictor imports it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Precision:
    """One graph a bundle can hold."""

    name: str  # fp32 | int8 | fp16: the predictor's --model value and the metrics.json key
    graph: str  # file name inside the bundle
    modes: tuple[str, ...]  # quantization.mode values that produce it
    label: str  # human name in reports
    describes: str = ""  # the bundle README's line for the graph
    weights_describe: str = ""  # ... and for its external weights file

    @property
    def external_data(self) -> str:
        return f"{self.graph}.data"

    @property
    def size_column(self) -> str:
        return f"{self.name}_mb"

    @property
    def latency_column(self) -> str:
        return f"{self.name}_latency_ms"

    def metric_name(self, metric: str) -> str:
        """The tracked metric of this graph (``int8/macro_f1``)."""
        return f"{self.name}/{metric}"


FP32 = Precision(
    "fp32",
    "model.onnx",
    ("none",),
    "fp32",
    "fp32 ONNX graph, dynamic batch and sequence axes (+ model.onnx.data when >= 1 GB)",
    "the fp32 weights, when the model is >= 1 GB (protobuf's 2 GB limit)",
)
PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        FP32,
        Precision(
            "int8",
            "model.int8.onnx",
            ("dynamic", "static"),
            "int8",
            "int8 graph (dynamic or static quantisation), when quantization.mode is dynamic/static",
            "the int8 weights, when the fp32 model is >= 1 GB",
        ),
        Precision(
            "fp16",
            "model.fp16.onnx",
            ("fp16",),
            "fp16",
            "fp16 graph for GPU serving, when quantization.mode=fp16",
            "the fp16 weights, when the fp32 model is >= 1 GB",
        ),
    )
}
QUANTIZATION_MODES = tuple(m for p in PRECISIONS.values() for m in p.modes if m != "none") + ("none",)
# The reduced-precision graphs, in the order ``auto`` prefers them.
REDUCED = tuple(p for p in PRECISIONS.values() if p is not FP32)


def for_mode(mode: str) -> Precision | None:
    """The reduced-precision graph a quantisation mode writes; None for ``none``."""
    for precision in REDUCED:
        if mode in precision.modes:
            return precision
    if mode == "none":
        return None
    raise ValueError(f"quantization.mode={mode!r} is not one of {list(QUANTIZATION_MODES)}")
