"""Export a trained run to a verified ONNX bundle: ``python -m trainer.export source=<run>``.

Reads top to bottom: source → run files → data → fp32 graph → parity gate → quantise → accuracy gate
→ manifest → move into place → track. Everything is built in a hidden folder beside the target and
renamed into place only after both gates pass, so a failing export leaves no bundle and registers
nothing. ``main`` only wires Hydra to :func:`run_export`, which tests call directly.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
import torch
import yaml
from omegaconf import DictConfig

from trainer.config import to_container
from trainer.data import DataError, LabelMap, data_spec_from_dict, prepare_data
from trainer.data.normalize import NORMALIZER_VERSION
from trainer.data.spec import SPLITS
from trainer.exporting.gates import (
    GateError,
    GateSettings,
    accuracy_report,
    check_accuracy,
    check_parity,
    evaluate,
    format_accuracy_table,
    gate_settings_from_dict,
)
from trainer.exporting.onnx_graph import DEFAULT_EXTERNAL_DATA_MIN_BYTES, bundle_metadata, export_onnx, write_metadata
from trainer.exporting.quantize import QuantizeSettings, quantize_model, quantize_settings_from_dict
from trainer.runs.provenance import git_state, versions
from trainer.serving.bundle import (
    FP32_MODEL,
    PREPROCESS,
    QUANTIZED_MODELS,
    contract,
    sha256_file,
    verify_bundle,
    write_manifest,
)
from trainer.serving.bundle import write_readme as write_bundle_readme
from trainer.serving.predictor import BundlePredictor
from trainer.serving.smoke import write_smoke
from trainer.tracking.publish import PublishSettings, publish_bundle
from trainer.tracking.sources import ResolvedSource, resolve_source

log = logging.getLogger(__name__)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass
class ExportResult:
    bundle: Path
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    published: dict[str, Any] | None


def run_export(
    source: str,
    output_root: Path,
    quant: QuantizeSettings,
    gates: GateSettings,
    publish: PublishSettings,
    out_dir: Path | None = None,
    opset: int = 17,
    exporter: str = "torchscript",
    overwrite: bool = False,
    external_data_min_bytes: int = DEFAULT_EXTERNAL_DATA_MIN_BYTES,
    threads: int | None = None,
) -> ExportResult:
    """Build, gate, and move a bundle into ``out_dir`` (default ``output_root/export/<source name>``)."""
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="seaguard-export-source-") as downloads:
        resolved = resolve_source(source, Path(downloads), publish.uri)
        target = Path(out_dir) if out_dir else Path(output_root) / "export" / resolved.name
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} already exists: set overwrite=true or out_dir=<another folder>")
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            manifest, metrics = _build(
                resolved, work, quant, gates, opset, exporter, external_data_min_bytes, threads, started
            )
            _readable_by_all(work)
            if target.exists():  # overwrite=true: the old bundle goes only once the new one passed
                shutil.rmtree(target)
            work.rename(target)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    published = None
    if publish.backend == "mlflow":
        published = publish_bundle(
            target,
            resolved,
            publish,
            _scalar_metrics(metrics),
            {
                "bundle": target.name,
                "quantization": quant.mode,
                "manifest_sha256": sha256_file(target / "manifest.json"),
            },
        )
    return ExportResult(target, manifest, metrics, published)


def _readable_by_all(folder: Path) -> None:
    """mkdtemp makes a 0700 folder and onnx writes weight files 0600: give the bundle normal modes."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers worth a glance in MLflow: parity, and the main metric of each graph and its drop."""
    main = metrics["main_metric"]
    out = {"parity_max_abs_diff": metrics["gates"]["parity"]["max_abs_diff"]}
    for precision in ("fp32", "int8", "fp16"):
        value = metrics.get(precision, {}).get("overall", {}).get(main)
        if value is not None:
            out[f"{precision}/{main}"] = value
    drop = (metrics["gates"]["accuracy"].get("overall") or {}).get("drop")
    if drop is not None:
        out["drop_points"] = drop
    return out


def _read_run(run_dir: Path) -> dict[str, Any]:
    def optional(name: str) -> Any:
        path = run_dir / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    return {
        "config": yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")),
        "label_map": LabelMap.load(run_dir / "labels.json"),
        "thresholds": json.loads((run_dir / "thresholds.json").read_text(encoding="utf-8"))["thresholds"],
        "calibration": optional("calibration.json"),
        "metrics": optional("metrics.json"),
        "data_digest": optional("data_digest.json"),
        "run_info": optional("run_info.json"),
    }


def _targets(rows: list[Any], label_map: LabelMap, where: str) -> torch.Tensor:
    """Targets in the *model's* label order (a given eval file may hold fewer classes than training)."""
    index = label_map.label2id
    out: list[Any] = []
    for e in rows:
        values = e.raw_label if isinstance(e.raw_label, tuple) else (e.raw_label,)
        unknown = [v for v in values if v not in index]
        if unknown:
            raise DataError(
                f"label(s) {unknown} are not in the model's labels {list(label_map.names)}",
                file=e.source or where,
                row=e.row,
                line=e.line,
            )
        if label_map.task == "multilabel":
            out.append([1.0 if n in values else 0.0 for n in label_map.names])
        else:
            out.append(index[e.raw_label])
    return torch.tensor(out)


def _build(
    src: ResolvedSource,
    work: Path,
    quant: QuantizeSettings,
    gates: GateSettings,
    opset: int,
    exporter: str,
    external_data_min_bytes: int,
    threads: int | None,
    started: datetime,
) -> tuple[dict, dict]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    run = _read_run(src.run_dir)
    cfg, label_map, thresholds = run["config"], run["label_map"], run["thresholds"]
    main_metric = gates.metric or (run["metrics"] or {}).get("main_metric") or cfg["module"]["main_metric"]
    max_length = int(cfg["model"]["max_length"])
    temperature = float((run["calibration"] or {}).get("temperature", 1.0))

    # Data: the run's own data config; a given eval file replaces every split (leakage checks off).
    train_spec = spec = data_spec_from_dict(cfg["data"])
    if gates.eval_file:
        spec = replace(
            spec,
            files={s: gates.eval_file for s in SPLITS},
            on_leakage="keep",
            max_samples={},
            split=replace(spec.split, strategy="files"),
        )
    data = prepare_data(spec)
    eval_split = gates.split if not gates.eval_file else "validation"
    parity_split = gates.parity_split if not gates.eval_file else "test"

    # Model, and the files a server needs besides the graph.
    # Eager attention traces into the pattern onnxruntime fuses (onnx_export); same numbers as sdpa.
    attention = "eager" if exporter == "torchscript" else None
    model = AutoModelForSequenceClassification.from_pretrained(src.model_dir, attn_implementation=attention)
    model = model.float().eval()
    tokenizer = AutoTokenizer.from_pretrained(src.model_dir)
    if {int(k): v for k, v in model.config.id2label.items()} != label_map.id2label:
        raise ValueError(
            f"{src.model_dir}/config.json id2label {model.config.id2label} differs from "
            f"labels.json {label_map.id2label}: the run folder is inconsistent"
        )
    input_names = _write_serving_files(
        work, src, spec.normalizer, tokenizer, max_length, label_map, run["calibration"] is not None
    )

    # fp32 graph, then the parity gate on a held-out batch.
    info = export_onnx(model, input_names, work / FP32_MODEL, opset, external_data_min_bytes, exporter)
    write_metadata(
        work / FP32_MODEL, bundle_metadata(label_map.to_dict(), label_map.task, thresholds, temperature, "fp32")
    )
    fp32 = BundlePredictor(work, "fp32", threads=threads)
    parity_rows = data.splits[parity_split][: gates.parity_rows]
    parity_texts = [e.text for e in parity_rows]
    reference_ids = tokenizer(parity_texts, truncation=True, max_length=max_length)["input_ids"]
    parity = check_parity(model, fp32, parity_texts, reference_ids, gates.parity_atol)
    log.info("parity gate passed: max |diff| %.2e on %d rows", parity["max_abs_diff"], parity["rows"])

    # Reduced precision, then the accuracy gate on the evaluation split.
    rows = data.splits[eval_split]
    texts, langs = [e.text for e in rows], [e.lang for e in rows]
    targets = _targets(rows, label_map, gates.eval_file or eval_split)
    fp32_metrics = evaluate(fp32, texts, targets, langs, label_map, thresholds, main_metric)
    metrics: dict[str, Any] = {
        "split": "eval_file" if gates.eval_file else eval_split,
        "eval_file": gates.eval_file,
        "rows": len(rows),
        "main_metric": main_metric,
        "temperature": temperature,
        "fp32": fp32_metrics,
    }
    quant_report: dict[str, Any] = {"mode": "none"}
    accuracy: dict[str, Any] = {"passed": None, "skipped": "quantization.mode=none"}
    q_name = QUANTIZED_MODELS.get(quant.mode)
    if q_name is not None:
        calibration = None
        if quant.mode == "static":  # unpadded training rows, one per call, drawn with a fixed seed
            # Always the run's training rows: with gates.eval_file every split of `data` is that file, and
            # calibrating on the rows the accuracy gate scores would flatter the gate.
            pool = (prepare_data(train_spec) if gates.eval_file else data).splits["train"]
            picked = random.Random(quant.seed).sample(pool, min(quant.calibration_rows, len(pool)))
            calibration = [fp32.feeds([ids]) for ids in fp32.encode([e.text for e in picked], normalize=False)]
        quant_report = quantize_model(
            work / FP32_MODEL,
            work / q_name,
            quant,
            info.external_data,
            calibration,
            (model.config.num_attention_heads, model.config.hidden_size),
        )
        precision = "fp16" if quant.mode == "fp16" else "int8"
        write_metadata(
            work / q_name, bundle_metadata(label_map.to_dict(), label_map.task, thresholds, temperature, precision)
        )
        q_metrics = evaluate(
            BundlePredictor(work, q_name, threads=threads), texts, targets, langs, label_map, thresholds, main_metric
        )
        metrics[precision] = q_metrics
        accuracy = accuracy_report(fp32_metrics, q_metrics, main_metric, gates)
        print(format_accuracy_table(accuracy), flush=True)
        check_accuracy(accuracy)
    metrics["gates"] = {"parity": parity, "accuracy": accuracy}
    (work / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    # Smoke examples: what `trainer.pull` re-predicts to prove a downloaded bundle still behaves.
    write_smoke(work)
    # The manifest last: it checksums everything above.
    write_bundle_readme(
        work,
        {
            "source": src.uri,
            "task": label_map.task,
            "labels": ", ".join(label_map.names),
            "quantization": quant.mode,
            "parity max |diff|": f"{parity['max_abs_diff']:.2e}",
        },
    )
    manifest = write_manifest(
        work,
        {
            "created": datetime.now(UTC).isoformat(),
            "started": started.isoformat(),
            "source": {**src.describe(), "model_source": (run["run_info"] or {}).get("model_source")},
            "data_digest": {
                "training": run["data_digest"],
                "gate_data": data.digest,
                "gate_data_matches_training": bool(run["data_digest"])
                and run["data_digest"].get("digest") == data.digest,
            },
            "git": git_state(),
            "opset": opset,
            "exporter": exporter,
            "external_data": info.external_data,
            "versions": {**versions(), **_extra_versions()},
            "models": {"fp32": FP32_MODEL, "quantized": q_name},
            "quantization": {**asdict(quant), **quant_report},
            "contract": contract(label_map.task, list(label_map.names), input_names, max_length, temperature),
            "gates": {
                "parity": {k: parity[k] for k in ("rows", "max_abs_diff", "atol", "passed")},
                "accuracy": {k: accuracy.get(k) for k in ("metric", "overall", "failing_languages", "passed")},
            },
        },
    )
    verify_bundle(work)
    return manifest, metrics


def _write_serving_files(
    work: Path,
    src: ResolvedSource,
    normalizer: Any,
    tokenizer: Any,
    max_length: int,
    label_map: LabelMap,
    has_calibration: bool,
) -> list[str]:
    """Everything a server needs besides the graph; returns the graph's input names."""
    for name in TOKENIZER_FILES:
        if (src.model_dir / name).is_file():
            shutil.copy2(src.model_dir / name, work / name)
    input_names = [n for n in tokenizer.model_input_names if n in ("input_ids", "attention_mask", "token_type_ids")]
    (work / PREPROCESS).write_text(
        json.dumps(
            {
                "normalizer": asdict(normalizer),
                "normalizer_version": NORMALIZER_VERSION,
                "max_length": max_length,
                "pad_id": tokenizer.pad_token_id,
                "inputs": input_names,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    label_map.save(work / "labels.json")
    shutil.copy2(src.run_dir / "thresholds.json", work / "thresholds.json")
    if has_calibration:
        shutil.copy2(src.run_dir / "calibration.json", work / "calibration.json")
    return input_names


def _extra_versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in ("onnx", "onnxscript"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _publish_settings(tracking: dict[str, Any], publish: dict[str, Any]) -> PublishSettings:
    return PublishSettings(
        backend=tracking.get("backend", "none"),
        uri=tracking.get("uri"),
        experiment_name=tracking.get("experiment_name") or "export",
        register_model=publish.get("register_model"),
        alias=publish.get("alias"),
    )


def export_command(cfg: DictConfig) -> int:
    """What ``python -m trainer.export`` does with a composed config; returns the exit code."""
    try:
        result = run_export(
            source=str(cfg.source),
            output_root=Path(cfg.paths.output_dir),
            out_dir=Path(cfg.out_dir) if cfg.out_dir else None,
            opset=int(cfg.opset),
            exporter=str(cfg.exporter),
            overwrite=bool(cfg.overwrite),
            external_data_min_bytes=int(cfg.external_data_min_bytes),
            threads=cfg.threads,
            quant=quantize_settings_from_dict(to_container(cfg.quantization)),
            gates=gate_settings_from_dict(to_container(cfg.gates)),
            publish=_publish_settings(to_container(cfg.tracking), to_container(cfg.publish)),
        )
    except GateError as err:
        print(f"export failed, no bundle written, nothing registered: {err}", file=sys.stderr, flush=True)
        return 2
    print(f"bundle: {result.bundle}", flush=True)
    for name, entry in result.manifest["files"].items():
        print(f"  {name:<24} {entry['bytes'] / 1e6:10.2f} MB", flush=True)
    if result.published:
        print(
            f"logged to MLflow run {result.published['run_id']}: {result.published['artifact_uri']}"
            + (f"; registered {result.published['registered']}" if result.published["registered"] else "")
        )
    return 0


@hydra.main(config_path="../../configs", config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> None:
    code = export_command(cfg)
    if code:
        sys.exit(code)  # 2: a gate failed


if __name__ == "__main__":
    main()
