"""The one table of export precisions: quantisation mode -> graph file -> metric and cost-column names.

Export, the predictor, comparison evidence and the compare report all read this table, so adding a
precision is one row here (torch-free: the predictor imports it).
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

    @property
    def external_data(self) -> str:
        return f"{self.graph}.data"

    @property
    def size_column(self) -> str:
        return f"{self.name}_mb"

    @property
    def latency_column(self) -> str:
        return f"{self.name}_latency_ms"


FP32 = Precision("fp32", "model.onnx", ("none",), "fp32")
PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        FP32,
        Precision("int8", "model.int8.onnx", ("dynamic", "static"), "int8"),
        Precision("fp16", "model.fp16.onnx", ("fp16",), "fp16"),
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
