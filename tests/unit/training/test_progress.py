"""Console output of a training run (issue 14 §1): progress lines instead of a bar when stdout is redirected,
phase lines after fit, and the library noise :mod:`trainer.training.progress` silences (and only that).

Real parts throughout: a Lightning ``Trainer`` fitting a two-parameter module, transformers' own
``from_pretrained`` on a tiny encoder saved by the test, torch's own deprecated ``LeafSpec``.
"""

from __future__ import annotations

import io
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from trainer.training.progress import (
    MLFLOW_ARTIFACT_BARS,
    ProgressLog,
    console_trainer_args,
    phase,
    quiet_console,
    quiet_model_load,
)

PROGRESS = "trainer.training.progress"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_stays_on_a_terminal_and_goes_when_redirected() -> None:
    args = {"max_epochs": 2, "enable_progress_bar": True}
    assert console_trainer_args(args, _Terminal())["enable_progress_bar"] is True
    redirected = console_trainer_args(args, io.StringIO())
    assert redirected == {"max_epochs": 2, "enable_progress_bar": False} and args["enable_progress_bar"] is True


class _Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return (self.layer(batch["x"]).squeeze(-1) - batch["labels"]).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(tmp_path: Path, callback: ProgressLog, bar: bool, accumulate: int = 1) -> None:
    rows = [{"x": torch.randn(2), "labels": torch.tensor(1.0)} for _ in range(24)]
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=bar,
        accumulate_grad_batches=accumulate,
        callbacks=[callback],
        default_root_dir=str(tmp_path),
    )
    trainer.fit(_Tiny(), DataLoader(rows, batch_size=4))  # type: ignore[arg-type]


def test_a_line_every_n_optimiser_steps_when_no_bar_shows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=PROGRESS):
        _fit(tmp_path, ProgressLog(every_n_steps=2), bar=False, accumulate=2)  # 6 batches/epoch = 3 steps
    lines = [r.getMessage() for r in caplog.records if r.name == PROGRESS]
    steps = [line for line in lines if line.startswith("step ")]
    # Optimiser steps, not batches: 6 in all, a line at 2, 4, 6; each with its epoch, loss, rate and clock.
    assert [s.split(" |")[0] for s in steps] == ["step 2/6", "step 4/6", "step 6/6"]
    pattern = r"step \d+/6 \| epoch [12]/2 \| loss \d+\.\d{4} \| \d+\.\d samples/s \| elapsed \d:\d\d:\d\d"
    assert all(re.fullmatch(pattern, s) for s in steps), steps
    assert "| epoch 1/2 |" in steps[0] and "| epoch 2/2 |" in steps[-1]
    assert lines[-1].startswith("training done: 6 steps, 2 epochs")


def test_silent_while_the_bar_shows_and_off_at_zero(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=PROGRESS):
        _fit(tmp_path, ProgressLog(every_n_steps=1), bar=True)
        _fit(tmp_path, ProgressLog(every_n_steps=0), bar=False)
    assert [r.getMessage() for r in caplog.records if r.name == PROGRESS] == []
    with pytest.raises(ValueError, match=r"callbacks.log_every_n_steps=-1"):
        ProgressLog(-1)


def test_a_phase_logs_its_name_and_duration(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=PROGRESS), phase("scoring validation and test"):
        pass
    assert re.fullmatch(r"scoring validation and test: done in \d+\.\d s", caplog.records[-1].getMessage())


def test_library_bars_are_off_inside_a_phase_and_as_before_after(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    from transformers.utils import logging as hf_logging

    monkeypatch.delenv(MLFLOW_ARTIFACT_BARS, raising=False)
    if not hf_logging.is_progress_bar_enabled():  # put back for the tests after this one
        request.addfinalizer(hf_logging.disable_progress_bar)
    hf_logging.enable_progress_bar()
    model = _tiny_bert()
    model.save_pretrained(tmp_path / "outside")
    assert "Writing model shards" in capfd.readouterr().err, "transformers no longer draws this bar: pick another"
    with phase("writing the run folder"):
        model.save_pretrained(tmp_path / "inside")
        assert os.environ[MLFLOW_ARTIFACT_BARS] == "false"
    assert "Writing model shards" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled() and MLFLOW_ARTIFACT_BARS not in os.environ
    monkeypatch.setenv(MLFLOW_ARTIFACT_BARS, "true")  # a user's own setting comes back after the phase
    with phase("logging"):
        pass
    assert os.environ[MLFLOW_ARTIFACT_BARS] == "true"


def test_the_leafspec_warning_is_silenced_only_where_lightning_raises_it() -> None:
    from pytorch_lightning.utilities._pytree import _tree_flatten
    from torch.utils._pytree import LeafSpec

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _tree_flatten(1)  # Lightning builds a LeafSpec
        assert any("LeafSpec" in str(w.message) for w in caught), "torch no longer warns: drop the filter"
        caught.clear()
        quiet_console()
        _tree_flatten(1)
        assert not [w for w in caught if "LeafSpec" in str(w.message)]
        LeafSpec()  # from any other module: still shown
        assert [w.category for w in caught if "LeafSpec" in str(w.message)] == [FutureWarning]


def test_the_litlogger_tip_is_dropped_and_other_lightning_info_kept(caplog: pytest.LogCaptureFixture) -> None:
    quiet_console()
    with caplog.at_level(logging.INFO):
        pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    text = caplog.text
    assert "litlogger" not in text and "Tip:" not in text
    assert "GPU available" in text  # Lightning's other INFO lines still pass


def _tiny_bert(hidden: int = 16) -> Any:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=30, hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    return BertModel(config)


def _encoder_without_head(path: Path, hidden: int = 16) -> Path:
    _tiny_bert(hidden).save_pretrained(path)
    return path


def test_the_load_report_becomes_one_line_naming_the_new_head(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from transformers import AutoModelForSequenceClassification

    folder = _encoder_without_head(tmp_path / "encoder")
    with caplog.at_level(logging.INFO), quiet_model_load():
        AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)
    assert "LOAD REPORT" not in caplog.text and "MISSING" not in caplog.text
    ours = [r.getMessage() for r in caplog.records if r.name == PROGRESS]
    assert ours == ["new parameters, randomly initialised (the classifier head): classifier.bias, classifier.weight"]
    # Outside the context manager transformers reports as before (the filter is removed again).
    caplog.clear()
    with caplog.at_level(logging.INFO):
        AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)
    assert "LOAD REPORT" in caplog.text


def test_a_size_mismatch_keeps_transformers_own_report(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from transformers import AutoModelForSequenceClassification

    folder = _encoder_without_head(tmp_path / "encoder")
    with caplog.at_level(logging.INFO), quiet_model_load(), pytest.raises(RuntimeError):
        # A vocabulary the checkpoint does not have: a MISMATCH row, which must stay visible.
        AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3, vocab_size=40)
    assert "LOAD REPORT" in caplog.text and "MISMATCH" in caplog.text
