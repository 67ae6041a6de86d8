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
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx

from trainer.serving.precisions import QUANTIZATION_MODES

log = logging.getLogger(__name__)

# ``LogitsOnly`` wraps the classifier as ``model``: strip it so paths read like state-dict keys.
_WRAPPER_PREFIX = "model."


@dataclass(frozen=True)
class QuantizeSettings:
    """``configs/quantization/*.yaml``; every field is ``quantization.<field>``."""

    # One of the precision table's modes (trainer.serving.precisions); each has a writer in MODE_WRITERS.
    mode: str = "dynamic"
    weight_type: Literal["qint8", "quint8"] = "qint8"
    # Static only; dynamic quantisation always computes uint8 activations at run time.
    activation_type: Literal["qint8", "quint8"] = "quint8"
    per_channel: bool = True
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
    # onnxruntime's transformer fusions before quantising: Attention (-> QAttention), SkipLayerNorm,
    # BiasGelu, EmbedLayerNorm. "none" quantises the exported graph as it is.
    optimize: Literal["bert", "none"] = "bert"

    def validate(self) -> None:
        if self.mode not in QUANTIZATION_MODES:
            raise ValueError(f"quantization.mode={self.mode!r} is not one of {list(QUANTIZATION_MODES)}")
        for key in ("weight_type", "activation_type"):
            if getattr(self, key) not in ("qint8", "quint8"):
                raise ValueError(f"quantization.{key}={getattr(self, key)!r} is not qint8 or quint8")
        if self.optimize not in ("bert", "none"):
            raise ValueError(f"quantization.optimize={self.optimize!r} is not bert or none")
        if self.mode == "static" and self.calibration_rows < 1:
            raise ValueError("quantization.calibration_rows must be >= 1 for mode=static")


def quantize_settings_from_dict(values: dict[str, Any]) -> QuantizeSettings:
    from trainer.data.spec import build_dataclass  # names unknown keys

    values = dict(values)
    for key in ("nodes_to_exclude", "modules_to_exclude"):
        values[key] = list(values.get(key) or [])
    if values.get("op_types_to_quantize") is not None:
        values["op_types_to_quantize"] = list(values["op_types_to_quantize"])
    settings = build_dataclass(QuantizeSettings, values, "quantization")
    settings.validate()
    return settings


def module_path(node: onnx.NodeProto) -> str:
    """The torch module a node came from (``bert.encoder.layer.0.output.dense``), or "" when unknown.

    The dynamo exporter records it in the node's ``namespace`` metadata; the TorchScript exporter in
    the node name (``/model/bert/encoder/layer.0/output/dense/MatMul``). Nodes made by fusion
    (``Attention_0``, ``EmbedLayerNormalization_0``) have neither: exclude those by name.
    """
    meta = {p.key: p.value for p in node.metadata_props}
    if "namespace" in meta:
        # The last scope is the aten op itself; the one before is the innermost module.
        scopes = [part.split(":")[0].strip() for part in meta["namespace"].split("/")]
        path = scopes[-2] if len(scopes) >= 2 else ""
        return "" if path == "model" else path.removeprefix(_WRAPPER_PREFIX)
    parts = node.name.split("/")
    if len(parts) < 3 or parts[0] != "":
        return ""
    return ".".join(parts[1:-1]).removeprefix(_WRAPPER_PREFIX).removeprefix("model")


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


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantiser logs a line per tensor (and generic advice) to the root logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def fuse_transformer(src: Path, dst: Path, num_heads: int, hidden_size: int, external_data: bool) -> dict[str, int]:
    """onnxruntime's BERT fusions (also right for XLM-R; a no-op for what they do not recognise)."""
    from onnxruntime.transformers.optimizer import optimize_model

    # opt_level 0: only the Python pattern fusions; sessions apply onnxruntime's own passes at load.
    fused = optimize_model(
        str(src), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=0, use_gpu=False
    )
    fused.save_model_to_file(str(dst), use_external_data_format=external_data)
    return {k: v for k, v in fused.get_fused_operator_statistics().items() if v}


def quantize_model(
    src: Path,
    dst: Path,
    settings: QuantizeSettings,
    external_data: bool = False,
    calibration: Sequence[dict[str, np.ndarray]] | None = None,
    attention_shape: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    """Write the ``settings.mode`` copy of ``src`` to ``dst``; return what was done, for the manifest.

    ``attention_shape`` is ``(num_heads, hidden_size)`` of the encoder, for the attention fusion.
    """
    with _quiet_root_logger(), tempfile.TemporaryDirectory(dir=dst.parent) as scratch:
        fusions: dict[str, int] = {}
        if settings.optimize == "bert":
            fused = Path(scratch) / "fused.onnx"
            fusions = fuse_transformer(src, fused, *attention_shape, external_data=external_data)
            src = fused
        report = _quantize(src, dst, settings, external_data, calibration)
    return {**report, "fusions": fusions}


def _quantize(
    src: Path,
    dst: Path,
    settings: QuantizeSettings,
    external_data: bool,
    calibration: Sequence[dict[str, np.ndarray]] | None,
) -> dict[str, Any]:
    graph = onnx.load(str(src), load_external_data=False)
    exclude = excluded_nodes(graph, settings)
    writer = MODE_WRITERS.get(settings.mode)
    if writer is None:
        raise ValueError(f"quantization.mode={settings.mode!r} writes no second model")
    writer(_Job(src, dst, settings, external_data, calibration, graph, exclude))
    ops = Counter(n.op_type for n in onnx.load(str(dst), load_external_data=False).graph.node)
    report = {"mode": settings.mode, "excluded_nodes": exclude, "op_counts": dict(sorted(ops.items()))}
    log.info("quantised %s -> %s (%s)", src.name, dst.name, settings.mode)
    return report


@dataclass(frozen=True)
class _Job:
    """What every writer gets: the (fused) fp32 graph, where to write, and the nodes to leave alone."""

    src: Path
    dst: Path
    settings: QuantizeSettings
    external_data: bool
    calibration: Sequence[dict[str, np.ndarray]] | None
    graph: onnx.ModelProto
    exclude: list[str]

    def int8_options(self, ort_exclude: list[str]) -> dict[str, Any]:
        """The options both onnxruntime int8 quantisers take."""
        return {
            "per_channel": self.settings.per_channel,
            "reduce_range": self.settings.reduce_range,
            "op_types_to_quantize": self.settings.op_types_to_quantize,
            "nodes_to_exclude": ort_exclude or None,
            "use_external_data_format": self.external_data,
            # The dynamo exporter leaves some intermediate types to inference; these are float tensors.
            "extra_options": {"DefaultTensorType": onnx.TensorProto.FLOAT},
        }


def _qtype(name: str) -> Any:
    from onnxruntime.quantization import QuantType

    return {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}[name]


def _dynamic(job: _Job) -> None:
    from onnxruntime.quantization import quantize_dynamic

    # The dynamic quantiser first rewrites each Gemm as a MatMul named "<name>_MatMul" (+ Add) and then
    # matches nodes_to_exclude against the new names: an excluded Gemm (the classifier) must go under both.
    gemms = {n.name for n in job.graph.graph.node if n.op_type == "Gemm"}
    ort_exclude = job.exclude + [f"{name}_MatMul" for name in job.exclude if name in gemms]
    quantize_dynamic(job.src, job.dst, weight_type=_qtype(job.settings.weight_type), **job.int8_options(ort_exclude))


def _static(job: _Job) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static

    settings = job.settings
    if not job.calibration:
        raise ValueError("quantization.mode=static needs calibration rows (quantization.calibration_rows)")
    method = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[settings.calibrate_method]
    quantize_static(
        job.src,
        job.dst,
        _RowsReader(job.calibration),
        quant_format=QuantFormat.QDQ if settings.quant_format == "qdq" else QuantFormat.QOperator,
        calibrate_method=method,
        activation_type=_qtype(settings.activation_type),
        weight_type=_qtype(settings.weight_type),
        **job.int8_options(list(job.exclude)),
    )


def _fp16(job: _Job) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(job.src))
    # Inputs and outputs stay int64/float32, so callers see the same contract as fp32.
    half = convert_float_to_float16(model, keep_io_types=True, node_block_list=job.exclude or None)
    location = f"{job.dst.name}.data" if job.external_data else None
    onnx.save(half, str(job.dst), save_as_external_data=job.external_data, location=location)


# How each quantization.mode of the precision table writes its graph (``none`` writes none).
MODE_WRITERS: dict[str, Callable[[_Job], None]] = {"dynamic": _dynamic, "static": _static, "fp16": _fp16}
