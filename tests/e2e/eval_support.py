"""Helpers shared by the evaluate / compare / promote tests: one tiny run and one bundle per session,
relabelled demo data, synthetic predictions, and logging run folders to MLflow the way the tracker does.

Plain functions, cached on disk under pytest's session folder, so three test modules train and
export once between them (module fixtures call these with ``tmp_path_factory.getbasetemp()``).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import DEMO_DIR, tiny_overrides
from trainer.serving.bundle import sha256_file
from trainer.tracking.registry import RUN_MANIFEST_TAG

# Download progress bars would bury the test output.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

# data/demo label -> the relabelled export's label; data/demo column -> its column.
RELABEL = {
    "not_extremist": "neutral",
    "propaganda": "propaganda",
    "recruitment": "recruiting",
    "incitement": "incitement_to_violence",
}
RECOLUMN = {"id": "post_id", "text": "content", "lang": "language", "label": "category"}


def write_relabelled_demo(data_root: Path, unknown_label_row: int | None = None) -> Path:
    """``data_root/demo_relabelled/{train,validation,test}.csv``: data/demo with other columns and labels.

    ``unknown_label_row``: give that test row (1-based), and the first training row, a label that no
    mapping knows (``sarcasm``): the data is consistent, the model does not know the label.
    """
    folder = data_root / "demo_relabelled"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "validation", "test"):
        with (DEMO_DIR / f"{split}.csv").open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        with (folder / f"{split}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(list(RECOLUMN.values()))
            for i, row in enumerate(rows, start=1):
                label = RELABEL[row["label"]]
                if unknown_label_row and (split, i) in (("test", unknown_label_row), ("train", 1)):
                    label = "sarcasm"
                writer.writerow([row["id"], row["text"], row["lang"], label])
    return folder


def shared_run(base: Path, cache: Path) -> Path:
    """One tiny trained run folder for the whole session (trained on first use)."""
    run_dir = base / "eval_shared" / "run"
    if (run_dir / "metrics.json").is_file():
        return run_dir
    from trainer.config import compose
    from trainer.train import run_train

    run_train(compose("train", tiny_overrides(base / "eval_shared", f"paths.cache_dir={cache}")), run_dir)
    return run_dir


def shared_bundle(base: Path, run_dir: Path) -> Path:
    """The shared run exported once (dynamic int8), smoke examples included."""
    bundle = base / "eval_shared" / "bundle"
    if (bundle / "manifest.json").is_file():
        return bundle
    from trainer.export import run_export
    from trainer.exporting.gates import GateSettings
    from trainer.exporting.quantize import QuantizeSettings
    from trainer.tracking.publish import PublishSettings

    run_export(
        source=str(run_dir),
        output_root=base / "eval_shared" / "outputs",
        out_dir=bundle,
        quant=QuantizeSettings(),
        gates=GateSettings(),
        publish=PublishSettings(),
    )
    ensure_smoke(bundle)
    return bundle


def ensure_smoke(bundle: Path) -> None:
    """Add smoke examples when the export did not write them (trainer.serving.smoke, until export calls it)."""
    from trainer.serving.bundle import MANIFEST, read_manifest, write_manifest
    from trainer.serving.smoke import SMOKE_FILE, write_smoke

    if (bundle / SMOKE_FILE).is_file():
        return
    manifest = read_manifest(bundle)
    write_smoke(bundle)
    (bundle / MANIFEST).unlink()
    write_manifest(bundle, {k: v for k, v in manifest.items() if k not in ("format", "files")})


def synthetic_run(
    template: Path, dest: Path, accuracy: dict[str, float], seed: int, wrong_langs: tuple[str, ...] = ()
) -> Path:
    """A copy of ``template`` (no weights) whose test predictions are right with the given rate per
    language (``"*"`` for the rest), and always wrong in ``wrong_langs``."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in template.iterdir():
        if path.is_file():
            shutil.copy2(path, dest / path.name)
    labels = json.loads((template / "labels.json").read_text())["names"]
    rng = np.random.default_rng(seed)
    with (template / "predictions" / "test.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for row in rows:
        # Two draws for every row, whatever the outcome: runs with one seed differ only where rates differ.
        u, offset = rng.random(), 1 + int(rng.integers(len(labels) - 1))
        rate = 0.0 if row["lang"] in wrong_langs else accuracy.get(row["lang"], accuracy["*"])
        gold = labels.index(row["gold"])
        pred = gold if u < rate else (gold + offset) % len(labels)
        scores = np.full(len(labels), 0.1 / (len(labels) - 1))
        scores[pred] = 0.9
        out.append(
            {
                "id": row["id"],
                "lang": row["lang"],
                "gold": row["gold"],
                "pred": labels[pred],
                **{f"score:{n}": f"{s:.6f}" for n, s in zip(labels, scores, strict=True)},
            }
        )
    (dest / "predictions").mkdir(exist_ok=True)
    with (dest / "predictions" / "test.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(out[0]))
        writer.writeheader()
        writer.writerows(out)
    return dest


def log_run_folder(
    client: Any,
    experiment_id: str,
    run_dir: Path,
    tags: dict[str, str],
    bundle: Path | None = None,
    model: bool = False,
) -> str:
    """Log a run folder as the MLflow tracker does (its files at the root, ``predictions/``), optionally
    with the weights as ``model_hf/`` (the by-hand layout; the tracker puts them in its pyfunc model) and
    an export bundle under ``export/``. Returns the run id."""
    run = client.create_run(experiment_id, tags={"run_dir": str(run_dir), **tags})
    run_id = run.info.run_id
    for path in sorted(run_dir.iterdir()):
        if path.is_file():
            client.log_artifact(run_id, str(path))
    client.log_artifacts(run_id, str(run_dir / "predictions"), "predictions")
    if model:
        client.log_artifacts(run_id, str(run_dir / "model"), "model_hf")
    if bundle is not None:
        client.log_artifacts(run_id, str(bundle), "export")
        # What publication records: pull checks the downloaded manifest against it.
        client.set_tag(run_id, RUN_MANIFEST_TAG, sha256_file(bundle / "manifest.json"))
    client.set_terminated(run_id, "FINISHED")
    return run_id
