"""What ``python -m trainer.train`` prints (issue 14 §1), run as a user runs it with output redirected.

- ``dry_run=true`` prepares the data, prints its report and stops before any model, MLflow run or checkpoint.
- Redirected (stdout a pipe), a job logs a line every ``callbacks.log_every_n_steps`` steps and one per step
  after fit, with no progress bar; and none of the library noise a newcomer met on every run.

The model is a one-layer encoder *without* a classifier head, saved by the test and loaded like a hub model,
so transformers' load report for the new head really happens.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_demo_data, train_cli, write_csv

pytestmark = pytest.mark.integration

# The texts these libraries print, as observed on a tiny run before they were silenced.
NOISE = (
    "LOAD REPORT",  # transformers: the MISSING/UNEXPECTED table for the new head
    "MISSING",
    "Consider training on your downstream task",
    "litlogger",  # Lightning's "💡 Tip: ... try installing [litlogger]"
    "LeafSpec",  # torch's deprecation warning, raised by Lightning's _pytree
    "Saving the dataset",  # datasets' save_to_disk bars
    "Writing model shards",  # transformers' save_pretrained bar (writing the run folder)
    "Loading weights",  # transformers' load bar (mlflow loads the logged model to check its input example)
    "Downloading artifacts",  # mlflow's artifact bars (the same check)
)


def _encoder_without_head(folder: Path) -> Path:
    """A 1-layer BERT and a word-level tokenizer, as a transformers folder with no classification head."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {w: i for i, w in enumerate(specials + "the a to of and is in you join fight now".split())}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    names = dict(zip(("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"), specials, strict=False))
    names["pad_token"], names["unk_token"] = "[PAD]", "[UNK]"
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, **names).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def redirected_run(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> subprocess.CompletedProcess[str]:
    """One tiny job with stdout and stderr to pipes (not a terminal), tracked in a throwaway MLflow store."""
    require_demo_data()
    tmp = tmp_path_factory.mktemp("run_output")
    encoder = _encoder_without_head(tmp / "encoder")
    proc = train_cli(
        [
            "experiment=demo_tiny",
            "model=hub",
            "model.name=headless",
            f"model.name_or_path={encoder}",
            "model.max_length=32",
            f"tracking.uri=sqlite:///{tmp}/mlruns/mlflow.db",
            "tracking.log_system_metrics=false",  # the model is logged, as make demo does: its bars are checked
            "trainer.max_epochs=1",
            "+data.max_samples.train=64",
            "callbacks.log_every_n_steps=1",
            f"hydra.run.dir={tmp / 'run'}",
        ],
        shared_cache,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_redirected_output_has_step_and_phase_lines_and_no_bar(
    redirected_run: subprocess.CompletedProcess[str],
) -> None:
    out = redirected_run.stdout
    # 64 rows / batch 32 = 2 optimiser steps, one line each (log_every_n_steps=1).
    steps = re.findall(r"step (\d+)/2 \| epoch 1/1 \| loss \d+\.\d{4} \| [\d.]+ samples/s \| elapsed \d:\d\d:\d\d", out)
    assert steps == ["1", "2"], out[-3000:]
    assert re.search(r"validation after epoch 1: val/macro_f1 \d\.\d{4}, val/loss \d", out)
    phases = [
        "loading the best checkpoint",
        "scoring validation and test (temperature, thresholds, majority baseline)",
        "writing the run folder (metrics, predictions, model)",
        "logging to mlflow (metrics, figures, files, model)",
    ]
    found = [m.group(1) for m in re.finditer(r"\] - (.+): done in \d+\.\d s$", out, re.M)]
    assert found == phases
    assert "━" not in out and "it/s" not in out  # Lightning's bar is off when stdout is not a terminal


def test_no_library_noise_and_one_line_for_the_new_head(redirected_run: subprocess.CompletedProcess[str]) -> None:
    both = redirected_run.stdout + redirected_run.stderr
    assert [n for n in NOISE if n in both] == []
    head = "new parameters, randomly initialised (the classifier head): classifier.bias, classifier.weight"
    assert both.count(head) == 1


def test_dry_run_reports_the_data_and_stops_before_any_model(tmp_path: Path) -> None:
    header = ["id", "text", "lang", "label"]
    rows = {
        "train": [[f"t{i}", f"train post {i}", "en" if i % 2 else "id", "a" if i % 3 else "b"] for i in range(12)],
        "validation": [[f"v{i}", f"validation post {i}", "en", "ab"[i % 2]] for i in range(4)],
        "test": [[f"s{i}", f"test post {i}", "id", "ab"[i % 2]] for i in range(6)],
    }
    files = [f"data.files.{split}={write_csv(tmp_path / f'{split}.csv', header, r)}" for split, r in rows.items()]
    run_dir, store = tmp_path / "run", tmp_path / "mlruns"
    proc = train_cli(
        [
            "data=demo",
            *files,
            "model=hub",
            f"model.name_or_path={tmp_path / 'no-such-model'}",  # loading it would fail: it must not be loaded
            f"tracking.uri=sqlite:///{store}/mlflow.db",
            f"hydra.run.dir={run_dir}",
            "dry_run=true",
        ],
        tmp_path / "cache",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert re.search(r"^\s+rows\s+12\s+4\s+6$", out, re.M), out
    assert re.search(r"^\s+label a\s+8\s+2\s+3$", out, re.M) and re.search(r"^\s+label b\s+4\s+2\s+3$", out, re.M)
    assert "dry run (dry_run=true)" in out and "stopping before model 'hub' is loaded" in out
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "metrics.json").exists()
    assert not store.exists()  # no MLflow run, not even a store
    assert not re.search(r"MLflow run [0-9a-f]{32}", out + proc.stderr)
