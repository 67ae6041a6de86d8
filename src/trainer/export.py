"""Export a trained run to a verified ONNX bundle: ``python -m trainer.export source=<run>``.

Reads top to bottom: source → target folder → build and gate the bundle (:mod:`trainer.exporting.build`:
run files → data → fp32 graph → parity gate → quantise → accuracy gate → manifest) → move into place →
track. Everything is built in a hidden folder beside the target and renamed into place only after both
gates pass, so a failing export leaves no bundle and registers nothing. ``main`` only wires Hydra to
:func:`run_export`, which tests call directly.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from trainer.config import to_container
from trainer.exporting.build import BuildOptions, build_bundle, headline_metrics, staged_folder
from trainer.exporting.gates import GateError, GateSettings, gate_settings_from_dict
from trainer.exporting.onnx_graph import DEFAULT_EXTERNAL_DATA_MIN_BYTES
from trainer.exporting.quantize import QuantizeSettings, quantize_settings_from_dict
from trainer.serving.bundle import Bundle, sha256_file
from trainer.tracking.publish import PublishSettings, publish_bundle
from trainer.tracking.references import ResolvedSource, resolve_source
from trainer.tracking.registry import MANIFEST_TAG


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
    options = BuildOptions(opset, exporter, external_data_min_bytes, threads)
    with tempfile.TemporaryDirectory(prefix="seaguard-export-source-") as downloads:
        resolved = resolve_source(source, Path(downloads), publish.uri)
        target = _target(resolved, output_root, out_dir, overwrite)
        with staged_folder(target) as work:
            manifest, metrics = build_bundle(resolved, work, quant, gates, options, started)
    published = _publish(target, resolved, publish, quant, metrics)
    return ExportResult(target, manifest, metrics, published)


def _target(resolved: ResolvedSource, output_root: Path, out_dir: Path | None, overwrite: bool) -> Path:
    target = Path(out_dir) if out_dir else Path(output_root) / "export" / resolved.name
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists: set overwrite=true or out_dir=<another folder>")
    return target


def _publish(
    target: Path, resolved: ResolvedSource, publish: PublishSettings, quant: QuantizeSettings, metrics: dict[str, Any]
) -> dict[str, Any] | None:
    """Log (and register) the bundle that passed, when ``tracking=mlflow``."""
    if publish.backend != "mlflow":
        return None
    tags = {
        "bundle": target.name,
        "quantization": quant.mode,
        MANIFEST_TAG: sha256_file(Bundle(target).manifest_file),
    }
    return publish_bundle(target, resolved, publish, headline_metrics(metrics), tags)


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
            publish=PublishSettings.from_config(to_container(cfg.tracking), to_container(cfg.publish)),
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
