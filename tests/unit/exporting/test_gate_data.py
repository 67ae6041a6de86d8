"""The export gate's rows come from the run's own data config, or from ``gates.eval_file`` instead."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_csv
from trainer.exporting.gates import GateSettings
from trainer.exporting.inputs import gate_data


def _config(tmp_path: Path) -> dict:
    header = ["text", "label"]
    write_csv(tmp_path / "train.csv", header, [[f"train post {i} topic {i % 3}", ("a", "b")[i % 2]] for i in range(40)])
    write_csv(tmp_path / "test.csv", header, [[f"test post {i}", ("a", "b")[i % 2]] for i in range(10)])
    write_csv(tmp_path / "gate.csv", header, [[f"gate post {i}", ("a", "b")[i % 2]] for i in range(12)])
    return {
        "name": "carved",
        "task": "binary",
        "files": {"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")},
        "text_column": "text",
        "label_column": "label",
        "positive_label": "b",
        "split": {"strategy": "files", "validation_from_train": 0.25, "seed": 3},
    }


def test_a_run_with_a_carved_validation_split_gates_on_its_held_out_rows_or_on_a_gate_file(tmp_path: Path) -> None:
    config = {"data": _config(tmp_path)}
    own = gate_data(config, GateSettings())
    assert own.eval_splits == ("validation", "test")
    assert {s: len(own.data.splits[s].texts) for s in ("train", "validation", "test")} == {
        "train": 30,
        "validation": 10,
        "test": 10,
    }
    # A gate file replaces every split; nothing is carved from it (validation_from_train is the run's, not its).
    from_file = gate_data(config, GateSettings(eval_file=str(tmp_path / "gate.csv")))
    assert from_file.from_file and len(from_file.data.splits["validation"].texts) == 12
