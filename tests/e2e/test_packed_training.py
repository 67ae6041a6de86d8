"""``loader=packed`` end to end (issue 12): padding-free training batches on the tiny model.

The packed batches come from the real :class:`~trainer.data.datamodule.TextDataModule` inside a real Trainer, and
their logits through :class:`~trainer.training.module.ClassifierModule` equal the padded batches' of the same rows.
A run trains and saves like any other, and a run that dies after epoch 0 resumes to the uninterrupted run's weights.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from tests.conftest import crash_and_resume, require_demo_data, tiny_overrides
from trainer.config import compose
from trainer.data import prepare_data
from trainer.data.datamodule import TextDataModule
from trainer.data.packing import is_packed
from trainer.models.sources import load_classifier
from trainer.training.fit import build_module, build_trainer, loss_weights
from trainer.training.settings import TrainSettings

pytestmark = pytest.mark.integration


class _FirstBatch(pl.Callback):
    """Keeps the first training batch the loader handed to the module."""

    batch: dict | None = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.batch = self.batch or batch


def test_packed_batches_give_the_padded_logits_inside_a_real_fit(tmp_path: Path) -> None:
    require_demo_data()
    settings = TrainSettings.from_config(
        compose("train", tiny_overrides(tmp_path, "loader=packed", "+trainer.limit_val_batches=0"))
    )
    assert settings.loader.batching == "packed"
    data = prepare_data(settings.data)
    loaded = load_classifier(settings.model, data.label_map, settings.cache_dir)
    dm = TextDataModule(data, loaded.tokenizer, settings.model.max_length, settings.cache_dir, settings.loader, 0)
    module = build_module(loaded.model, data, settings.module, loss_weights(settings.module, data))
    first = _FirstBatch()
    trainer = build_trainer(
        {**settings.trainer, "enable_checkpointing": False}, tmp_path / "run", [first], None, plugins=[]
    )
    trainer.fit(module, datamodule=dm)

    assert first.batch is not None and is_packed(first.batch) and "attention_mask" not in first.batch
    rows_per_sequence = len(first.batch["labels"]) / first.batch["input_ids"].shape[0]
    assert rows_per_sequence > 1.5, "tiny rows (max_length 64) should share packed sequences"
    # The same rows, packed and padded, through the trained module (dropout off).
    plan = dm._train_loader.batch_sampler.epoch_plan(0)
    split = dm._model_split("train")
    for rows in plan[:3]:
        examples = [split[i] for i in rows]
        packed, padded = dm.train_collator()(examples), dm.collator()(examples)
        assert padded["attention_mask"].float().mean() < 1  # the padded side does pad
        module.eval()
        with torch.no_grad():
            torch.testing.assert_close(module(packed), module(padded), atol=1e-5, rtol=0)
        assert torch.equal(packed["labels"], padded["labels"])


def test_packed_run_trains_saves_and_resumes_exactly(tmp_path: Path, monkeypatch) -> None:
    require_demo_data()
    overrides = tiny_overrides(tmp_path, "loader=packed", "trainer.max_epochs=2")
    straight, resumed = crash_and_resume(overrides, tmp_path, monkeypatch)
    assert straight is not None
    assert len(straight.metrics["val_history"]) == 2
    assert (tmp_path / "straight" / "model" / "model.safetensors").is_file()
    assert resumed is not None
    assert resumed.metrics["val_history"] == straight.metrics["val_history"]
    weights = {
        p: torch.load(tmp_path / p / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
        for p in ("straight", "resumed")
    }
    assert len(weights["straight"]) > 10
    for name, value in weights["straight"].items():
        assert torch.equal(value, weights["resumed"][name]), name


def test_pack_length_without_packed_batching_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loader.pack_length"):
        TrainSettings.from_config(compose("train", tiny_overrides(tmp_path, "loader.pack_length=64")))


def test_packed_with_mean_pooling_is_refused_naming_both_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"loader.batching=packed needs model.pooling=cls.*model.pooling=mean"):
        TrainSettings.from_config(compose("train", tiny_overrides(tmp_path, "loader=packed", "model.pooling=mean")))
