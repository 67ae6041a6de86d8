"""Reduced-precision copies of the fp32 graph: dynamic or static int8 (onnxruntime), or fp16.

Multilingual encoders are known to lose accuracy under naive dynamic int8 (outlier activations,
a 250k-row embedding shared by every language), so the knobs that matter are config keys
(``quantization.*``): weight type, per-channel scales, reduced range, which op types to quantise and
which nodes to leave in fp32. ``modules_to_exclude`` names torch modules (``classifier``,
``bert.embeddings.word_embeddings``, ``bert.encoder.layer.11.*``): the exporter records each node's
module path, and we turn the patterns into node names for onnxruntime.
"""

from __future__ import annotations

import fnmatch
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx

log = logging.getLogger(__name__)

MODES = ("dynamic", "static", "fp16", "none")
# ``LogitsOnly`` wraps the classifier as ``model``: strip it so paths read like state-dict keys.
_WRAPPER_PREFIX = "model."


@dataclass(frozen=True)
class QuantizeSettings:
    """``configs/quantize/*.yaml`` (the ``quantization`` key); every field is ``quantization.<field>``."""

    mode: Literal["dynamic", "static", "fp16", "none"] = "dynamic"
    weight_type: Literal["qint8", "quint8"] = "qint8"
    # Static only; dynamic quantisation always computes uint8 activations at run time.
    activation_type: Literal["qint8", "quint8"] = "quint8"
    per_channel: bool = False
    # 7-bit weights: avoids int16 overflow in the u8s8 kernels of CPUs without VNNI (AVX2-only).
    reduce_range: bool = False
    # null: every op type onnxruntime can quantise in this mode (MatMul and the embedding Gather, ...).
    op_types_to_quantize: list[str] | None = None
    nodes_to_exclude: list[str] = field(default_factory=list)
    modules_to_exclude: list[str] = field(default_factory=list)
    # Static: rows drawn (seeded) from the training split to calibrate activation ranges.
    calibration_rows: int = 128
    calibrate_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    quant_format: Literal["qdq", "qoperator"] = "qdq"
    seed: int = 13

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"quantization.mode={self.mode!r} is not one of {list(MODES)}")
        for key in ("weight_type", "activation_type"):
            if getattr(self, key) not in ("qint8", "quint8"):
                raise ValueError(f"quantization.{key}={getattr(self, key)!r} is not qint8 or quint8")
        if self.mode == "static" and self.calibration_rows < 1:
            raise ValueError("quantization.calibration_rows must be >= 1 for mode=static")


def quantize_settings_from_dict(values: dict[str, Any]) -> QuantizeSettings:
    from trainer.data.spec import _build  # the house helper that names unknown keys

    values = dict(values)
    for key in ("nodes_to_exclude", "modules_to_exclude"):
        values[key] = list(values.get(key) or [])
    if values.get("op_types_to_quantize") is not None:
        values["op_types_to_quantize"] = list(values["op_types_to_quantize"])
    settings = _build(QuantizeSettings, values, "quantization")
    settings.validate()
    return settings


def module_path(node: onnx.NodeProto) -> str:
    """The torch module a node came from (``bert.encoder.layer.0.output.dense``), from exporter metadata."""
    meta = {p.key: p.value for p in node.metadata_props}
    scopes = [part.split(":")[0].strip() for part in meta.get("namespace", "").split("/")]
    # The last scope is the aten op itself; the one before is the innermost module.
    path = scopes[-2] if len(scopes) >= 2 else ""
    return path.removeprefix(_WRAPPER_PREFIX) if path != "model" else ""


def excluded_nodes(model: onnx.ModelProto, settings: QuantizeSettings) -> list[str]:
    """``nodes_to_exclude`` plus every node whose module path matches a ``modules_to_exclude`` pattern."""
    names = list(settings.nodes_to_exclude)
    for pattern in settings.modules_to_exclude:
        hits = [n.name for n in model.graph.node if fnmatch.fnmatchcase(module_path(n), pattern)]
        if not hits:
            raise ValueError(f"quantization.modules_to_exclude: {pattern!r} matches no node of the graph")
        names += hits
    return sorted(set(names))


class _RowsReader:
    """onnxruntime's CalibrationDataReader protocol over prepared feeds (one row each: no padding)."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]) -> None:
        self._iter = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:  # called by some onnxruntime versions; one pass is all we offer
        return None


def quantize_model(src: Path, dst: Path, settings: QuantizeSettings, external_data: bool = False,
                   calibration: Sequence[dict[str, np.ndarray]] | None = None) -> dict[str, Any]:
    """Write the ``settings.mode`` copy of ``src`` to ``dst``; return what was done, for the manifest."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    graph = onnx.load(str(src), load_external_data=False)
    exclude = excluded_nodes(graph, settings)
    qtype = {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}
    # The dynamo exporter leaves some intermediate types to inference; these are float tensors.
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    common = {"per_channel": settings.per_channel, "reduce_range": settings.reduce_range,
              "op_types_to_quantize": settings.op_types_to_quantize, "nodes_to_exclude": exclude or None,
              "use_external_data_format": external_data, "extra_options": extra}
    if settings.mode == "dynamic":
        quantize_dynamic(src, dst, weight_type=qtype[settings.weight_type], **common)
    elif settings.mode == "static":
        if not calibration:
            raise ValueError("quantization.mode=static needs calibration rows (quantization.calibration_rows)")
        method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                  "percentile": CalibrationMethod.Percentile}[settings.calibrate_method]
        fmt = QuantFormat.QDQ if settings.quant_format == "qdq" else QuantFormat.QOperator
        quantize_static(src, dst, _RowsReader(calibration), quant_format=fmt, calibrate_method=method,
                        activation_type=qtype[settings.activation_type], weight_type=qtype[settings.weight_type],
                        **common)
    elif settings.mode == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = onnx.load(str(src))
        # Inputs and outputs stay int64/float32, so callers see the same contract as fp32.
        half = convert_float_to_float16(model, keep_io_types=True, node_block_list=exclude or None)
        onnx.save(half, str(dst), save_as_external_data=external_data,
                  location=f"{dst.name}.data" if external_data else None)
    else:
        raise ValueError(f"quantization.mode={settings.mode!r} writes no second model")
    ops = Counter(n.op_type for n in onnx.load(str(dst), load_external_data=False).graph.node)
    report = {"mode": settings.mode, "excluded_nodes": exclude, "op_counts": dict(sorted(ops.items()))}
    log.info("quantised %s -> %s (%s)", src.name, dst.name, settings.mode)
    return report
