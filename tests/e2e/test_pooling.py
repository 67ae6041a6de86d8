"""``experiment=demo_tiny model.pooling=mean`` end to end: train, reload the best checkpoint, export, score.

The trained module wrote the test predictions; every later loader of the saved folder (the evaluation
scorer, the MLflow pyfunc, the exported ONNX graph) must give the same scores, which it would not if it
rebuilt the stock [CLS]-pooler head around the saved weights.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from tests.conftest import require_demo_data, tiny_overrides
from trainer.data import data_spec_from_dict, prepare_data
from trainer.runs.folder import RunFolder
from trainer.scoring.calibration import probabilities

pytestmark = pytest.mark.integration


def _saved_test_scores(folder: RunFolder, names: list[str]) -> dict[str, list[float]]:
    with (folder.path / "predictions" / "test.csv").open(encoding="utf-8") as f:
        return {row["id"]: [float(row[f"score:{n}"]) for n in names] for row in csv.DictReader(f)}


def test_mean_pooled_run_trains_exports_and_every_loader_agrees(shared_cache: Path, tmp_path: Path) -> None:
    require_demo_data()
    from trainer.config import compose
    from trainer.export import run_export
    from trainer.exporting.gates import GateSettings
    from trainer.exporting.quantize import QuantizeSettings
    from trainer.models.pooling import POOLING_KEY, MeanPooledBertForSequenceClassification, load_saved_classifier
    from trainer.scoring.scorers import BundleScorer, TorchScorer
    from trainer.tracking.publish import PublishSettings
    from trainer.tracking.pyfunc_model import TextClassifier
    from trainer.train import run_train

    cfg = compose("train", tiny_overrides(tmp_path, f"paths.cache_dir={shared_cache}", "model.pooling=mean"))
    result = run_train(cfg, tmp_path / "run")
    assert result is not None
    folder = RunFolder(result.run_dir)
    assert folder.config()["model"]["pooling"] == "mean"
    saved = load_saved_classifier(folder.model_dir)
    assert isinstance(saved, MeanPooledBertForSequenceClassification)
    assert getattr(saved.config, POOLING_KEY) == "mean" and saved.bert.pooler is None

    label_map, temperature = folder.label_map(), folder.temperature()
    data = prepare_data(data_spec_from_dict(folder.config()["data"]))
    rows = data.splits["test"]
    texts = [e.text for e in rows]
    expected = _saved_test_scores(folder, list(label_map.names))
    written = torch.tensor([expected[e.id] for e in rows])

    # The evaluation scorer: the saved folder, rebuilt with its head, scores as the trained module did.
    max_length = int(folder.config()["model"]["max_length"])
    torch_logits = TorchScorer(folder.model_dir, max_length).logits(texts)
    torch.testing.assert_close(probabilities(torch_logits, False, temperature), written, atol=2e-5, rtol=1e-4)
    # The MLflow pyfunc (normalising again is a no-op on normalised text).
    pyfunc = TextClassifier(folder.model_dir, label_map, folder.thresholds(), data.spec.normalizer, max_length)
    pyfunc.temperature = temperature
    torch.testing.assert_close(pyfunc.scores(texts), written, atol=2e-5, rtol=1e-4)

    # Export: the parity gate passes (it raises otherwise) and the fp32 graph gives the same logits
    # (the test rows differ in length, so the batches hold padding).
    export = run_export(
        source=str(folder.path),
        output_root=tmp_path / "export",
        out_dir=tmp_path / "export" / "bundle",
        quant=QuantizeSettings(mode="none"),  # the fp32 graph is the subject; int8 costs time here
        gates=GateSettings(max_drop_overall=100.0, max_drop_per_language=100.0),
        publish=PublishSettings(),
    )
    assert export.manifest["gates"]["parity"]["passed"] is True
    onnx_logits = BundleScorer(export.bundle).logits(texts)  # the only graph: fp32
    torch.testing.assert_close(onnx_logits, torch_logits, atol=1e-4, rtol=1e-4)
