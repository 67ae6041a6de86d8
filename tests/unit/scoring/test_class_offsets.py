"""scripts/retune_thresholds.py --class-offsets: per-class offsets tuned on validation, reported on test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from trainer.data.labels import build_label_map
from trainer.scoring.predictions import write_predictions

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "retune_thresholds.py"


def _script():
    spec = importlib.util.spec_from_file_location("retune_thresholds", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, task: str = "multiclass") -> Path:
    """Class ``rare`` is always scored low: argmax never picks it, a positive offset on it would."""
    names = ["common", "other", "rare"] if task == "multiclass" else ["no", "yes"]
    label_map = build_label_map(task, names, "yes" if task == "binary" else None)
    label_map.save(tmp_path / "labels.json")
    gen = torch.Generator().manual_seed(0)
    for split in ("validation", "test"):
        targets = torch.randint(0, len(names), (300,), generator=gen)
        logits = torch.randn(300, len(names), generator=gen) + 2.5 * torch.nn.functional.one_hot(targets, len(names))
        if task == "multiclass":
            logits[:, 2] -= 3.0
        ids = [f"{split}{i}" for i in range(300)]
        write_predictions(
            tmp_path / f"predictions/{split}.csv", ids, ["id"] * 300, targets, logits.softmax(1), label_map, None
        )
    return tmp_path


def test_an_under_scored_class_gets_a_positive_offset_that_helps(tmp_path: Path) -> None:
    result = _script().class_offsets(_run(tmp_path), "macro_f1")
    offsets = result["offsets"]  # only differences between classes change a decision
    assert offsets["rare"] - max(offsets["common"], offsets["other"]) > 1.5
    assert result["validation"]["offsets"] > result["validation"]["argmax"] + 0.1
    assert result["test"]["overall"]["macro_f1"] > result["test_argmax"]["overall"]["macro_f1"] + 0.1
    assert result["test"]["per_class"]["rare"]["f1"] > result["test_argmax"]["per_class"]["rare"]["f1"] + 0.3


def test_other_tasks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="binary run"):
        _script().class_offsets(_run(tmp_path, "binary"), "macro_f1")
