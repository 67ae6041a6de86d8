"""Build an export bundle in a staging folder, as named steps: run files → gate data → model (those three in
:mod:`trainer.exporting.inputs`) → serving files → fp32 graph → parity gate → reduced precision → accuracy
gate → metrics, smoke, conformance vectors, README → manifest.

:func:`build_bundle` runs them in that order; :func:`staged_folder` is where it runs: a hidden folder
beside the target, renamed into place only when every step passed, so a failing export leaves nothing.
Which reduced-precision graph a quantisation mode writes comes from the precision table
(:mod:`trainer.serving.precisions`); the bundle's file names from :class:`trainer.serving.bundle.Bundle`.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trainer.data import prepare_data
from trainer.data.normalize import NORMALIZER_VERSION, NormalizerConfig
from trainer.exporting.conformance import write_conformance
from trainer.exporting.gates import (
    GateSettings,
    accuracy_report,
    check_accuracy,
    check_parity,
    evaluate,
    format_accuracy_table,
)
from trainer.exporting.inputs import GateData, GateRows, RunInputs, gate_data, gate_rows, load_model, read_run
from trainer.exporting.onnx_graph import (
    DEFAULT_EXTERNAL_DATA_MIN_BYTES,
    INPUT_NAMES,
    OnnxExportInfo,
    bundle_metadata,
    export_onnx,
    write_metadata,
)
from trainer.exporting.quantize import QuantizeSettings, quantize_model
from trainer.runs.folder import CALIBRATION, THRESHOLDS
from trainer.runs.provenance import git_state, versions
from trainer.serving.bundle import Bundle
from trainer.serving.contract import contract, decision_rule
from trainer.serving.precisions import FP32, PRECISIONS, Precision, for_mode
from trainer.serving.predictor import BundlePredictor
from trainer.serving.smoke import write_smoke
from trainer.tracking.references import ResolvedSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildOptions:
    """The graph-writing options of ``configs/export.yaml`` (``opset``, ``exporter``, ...)."""

    opset: int = 17
    exporter: str = "torchscript"
    external_data_min_bytes: int = DEFAULT_EXTERNAL_DATA_MIN_BYTES
    threads: int | None = None  # onnxruntime intra-op threads for the gates (None: all cores)


def write_serving_files(
    bundle: Bundle, src: ResolvedSource, run: RunInputs, normalizer: NormalizerConfig, tokenizer: Any
) -> list[str]:
    """Everything a server needs besides the graph; returns the graph's input names."""
    bundle.copy_tokenizer(src.model_dir)
    input_names = [n for n in tokenizer.model_input_names if n in INPUT_NAMES]
    bundle.write_preprocess(asdict(normalizer), NORMALIZER_VERSION, run.max_length, tokenizer.pad_token_id, input_names)
    bundle.write_labels(run.label_map, decision_rule(run.label_map, run.thresholds, run.temperature))
    calibration = run.folder.path / CALIBRATION if run.calibration is not None else None
    bundle.copy_decision_files(run.folder.path / THRESHOLDS, calibration)
    return input_names


def export_fp32(
    model: Any, input_names: list[str], bundle: Bundle, run: RunInputs, options: BuildOptions
) -> OnnxExportInfo:
    path = bundle.graph(FP32)
    info = export_onnx(model, input_names, path, options.opset, options.external_data_min_bytes, options.exporter)
    _describe_graph(path, run, FP32)
    return info


def parity_gate(
    model: Any, fp32: BundlePredictor, tokenizer: Any, gate: GateData, max_length: int, gates: GateSettings
) -> dict[str, Any]:
    """The fp32 graph against the PyTorch model (and both tokenizers) on a held-out batch."""
    texts = [e.text for e in gate.data.splits[gate.parity_split][: gates.parity_rows]]
    reference_ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    parity = check_parity(model, fp32, texts, reference_ids, gates.parity_atol)
    log.info("parity gate passed: max |diff| %.2e on %d rows", parity["max_abs_diff"], parity["rows"])
    return parity


def score(predictor: BundlePredictor, rows: GateRows, run: RunInputs) -> dict[str, Any]:
    """One graph's metrics on the gate rows, with the run's temperature and thresholds."""
    return evaluate(predictor, rows.texts, rows.targets, rows.langs, run.label_map, run.thresholds, run.main_metric)


def calibration_feeds(quant: QuantizeSettings, gate: GateData, fp32: BundlePredictor) -> list[dict] | None:
    """Static quantisation's calibration rows: unpadded training rows, one per call, drawn with a fixed seed."""
    if quant.mode != "static":
        return None
    # Always the run's training rows: with gates.eval_file every split of gate.data is that file, and
    # calibrating on the rows the accuracy gate scores would flatter the gate.
    pool = (prepare_data(gate.train_spec) if gate.from_file else gate.data).splits["train"]
    picked = random.Random(quant.seed).sample(pool, min(quant.calibration_rows, len(pool)))
    return [fp32.feeds([ids]) for ids in fp32.encode([e.text for e in picked], normalize=False)]


def write_reduced(
    precision: Precision,
    quant: QuantizeSettings,
    bundle: Bundle,
    info: OnnxExportInfo,
    model: Any,
    run: RunInputs,
    calibration: list[dict] | None,
) -> dict[str, Any]:
    """The reduced-precision copy of the fp32 graph; returns the quantiser's report for the manifest."""
    attention_shape = (model.config.num_attention_heads, model.config.hidden_size)
    path = bundle.graph(precision)
    report = quantize_model(bundle.graph(FP32), path, quant, info.external_data, calibration, attention_shape)
    _describe_graph(path, run, precision)
    return report


def accuracy_gate(
    fp32_metrics: dict[str, Any], reduced_metrics: dict[str, Any], metric: str, gates: GateSettings
) -> dict[str, Any]:
    """Drops of the reduced graph against fp32; the per-language table is printed whether it passes or not."""
    accuracy = accuracy_report(fp32_metrics, reduced_metrics, metric, gates)
    print(format_accuracy_table(accuracy), flush=True)
    check_accuracy(accuracy)
    return accuracy


def _describe_graph(path: Path, run: RunInputs, precision: Precision) -> None:
    labels = run.label_map
    write_metadata(
        path, bundle_metadata(labels.to_dict(), labels.task, run.thresholds, run.temperature, precision.name)
    )


# -- what the bundle says about itself --------------------------------------------------------------------
def gate_metrics(
    gate: GateData,
    gates: GateSettings,
    rows: GateRows,
    run: RunInputs,
    scores: dict[str, dict[str, Any]],
    parity: dict[str, Any],
    accuracy: dict[str, Any],
) -> dict[str, Any]:
    """``metrics.json``: every graph's metrics on the gate rows (keyed by precision) and both gate reports."""
    return {
        "split": "eval_file" if gate.from_file else gate.eval_split,
        "eval_file": gates.eval_file,
        "rows": len(rows.texts),
        "main_metric": run.main_metric,
        "temperature": run.temperature,
        **scores,
        "gates": {"parity": parity, "accuracy": accuracy},
    }


def readme_summary(
    src: ResolvedSource, run: RunInputs, quant: QuantizeSettings, parity: dict[str, Any]
) -> dict[str, Any]:
    return {
        "source": src.uri,
        "task": run.label_map.task,
        "labels": ", ".join(run.label_map.names),
        "quantization": quant.mode,
        "parity max |diff|": f"{parity['max_abs_diff']:.2e}",
    }


def manifest_info(
    src: ResolvedSource,
    run: RunInputs,
    gate: GateData,
    info: OnnxExportInfo,
    quant: QuantizeSettings,
    report: dict[str, Any],
    metrics: dict[str, Any],
    started: datetime,
) -> dict[str, Any]:
    """Everything ``manifest.json`` holds besides the file checksums."""
    training = run.folder.data_digest()
    precision = for_mode(quant.mode)
    parity, accuracy = metrics["gates"]["parity"], metrics["gates"]["accuracy"]
    return {
        "created": datetime.now(UTC).isoformat(),
        "started": started.isoformat(),
        "source": {**src.describe(), "model_source": (run.folder.run_info() or {}).get("model_source")},
        "data_digest": {
            "training": training,
            "gate_data": gate.data.digest,
            "gate_data_matches_training": bool(training and training.get("digest") == gate.data.digest),
        },
        "git": git_state(),
        "opset": info.opset,
        "exporter": info.exporter,
        "external_data": info.external_data,
        "versions": {**versions(), **_extra_versions()},
        "models": {"fp32": FP32.graph, "quantized": precision.graph if precision else None},
        "quantization": {**asdict(quant), **report},
        "contract": contract(
            run.label_map.task, list(run.label_map.names), info.input_names, run.max_length, run.temperature
        ),
        "gates": {
            "parity": {k: parity[k] for k in ("rows", "max_abs_diff", "atol", "passed")},
            "accuracy": {k: accuracy.get(k) for k in ("metric", "overall", "failing_languages", "passed")},
        },
    }


def headline_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers worth a glance in MLflow: parity, and the main metric of each graph and its drop."""
    main = metrics["main_metric"]
    out = {"parity_max_abs_diff": metrics["gates"]["parity"]["max_abs_diff"]}
    for precision in PRECISIONS.values():
        value = metrics.get(precision.name, {}).get("overall", {}).get(main)
        if value is not None:
            out[precision.metric_name(main)] = value
    drop = (metrics["gates"]["accuracy"].get("overall") or {}).get("drop")
    if drop is not None:
        out["drop_points"] = drop
    return out


def _extra_versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in ("onnx", "onnxscript"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# -- the whole build ----------------------------------------------------------------------------------------
def build_bundle(
    src: ResolvedSource,
    work: Path,
    quant: QuantizeSettings,
    gates: GateSettings,
    options: BuildOptions,
    started: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write and gate a complete bundle in ``work``; returns its manifest and ``metrics.json``.

    Raises :class:`~trainer.exporting.gates.GateError` when a gate fails (``work`` is then unfinished).
    """
    bundle = Bundle(work)
    run = read_run(src, gates)
    gate = gate_data(run.config, gates)
    model, tokenizer = load_model(src, options.exporter, run.label_map)
    input_names = write_serving_files(bundle, src, run, gate.spec.normalizer, tokenizer)
    info = export_fp32(model, input_names, bundle, run, options)
    fp32 = BundlePredictor(work, FP32.name, threads=options.threads)
    parity = parity_gate(model, fp32, tokenizer, gate, run.max_length, gates)
    rows = gate_rows(gate, run.label_map)
    scores = {FP32.name: score(fp32, rows, run)}
    report: dict[str, Any] = {"mode": "none"}
    accuracy: dict[str, Any] = {"passed": None, "skipped": "quantization.mode=none"}
    precision = for_mode(quant.mode)
    if precision is not None:
        report = write_reduced(precision, quant, bundle, info, model, run, calibration_feeds(quant, gate, fp32))
        scores[precision.name] = score(BundlePredictor(work, precision.name, threads=options.threads), rows, run)
        accuracy = accuracy_gate(scores[FP32.name], scores[precision.name], run.main_metric, gates)
    metrics = gate_metrics(gate, gates, rows, run, scores, parity, accuracy)
    bundle.write_metrics(metrics)
    write_smoke(work)  # what trainer.pull re-predicts to prove a downloaded bundle still behaves
    test = gate.data.splits["test"]
    write_conformance(work, test.texts, test.langs)  # what any other runtime must reproduce, stage by stage
    bundle.write_readme(readme_summary(src, run, quant, parity))
    # The manifest last: it checksums everything above.
    manifest = bundle.write_manifest(manifest_info(src, run, gate, info, quant, report, metrics, started))
    bundle.verify()
    return manifest, metrics


@contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """A hidden folder beside ``target``, renamed to it when the block succeeds and removed when it fails.

    An existing ``target`` (``overwrite=true``) goes only once the new bundle passed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield work
        _readable_by_all(work)
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _readable_by_all(folder: Path) -> None:
    """mkdtemp makes a 0700 folder and onnx writes weight files 0600: give the bundle normal modes."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)
