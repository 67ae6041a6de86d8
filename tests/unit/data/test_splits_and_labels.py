from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import write_csv
from trainer.data import data_spec_from_dict, prepare_data
from trainer.data.labels import LabelMap, build_label_map
from trainer.data.splits import kfold_split, ratio_split
from trainer.training.loss_weights import loss_weights_from_counts

KEYS = ["a"] * 50 + ["b"] * 30 + ["c"] * 20


def test_ratio_split_is_stratified_disjoint_and_seeded() -> None:
    split = ratio_split(KEYS, (0.8, 0.1, 0.1), seed=1)
    all_idx = split["train"] + split["validation"] + split["test"]
    assert sorted(all_idx) == list(range(len(KEYS)))
    assert Counter(KEYS[i] for i in split["test"]) == {"a": 5, "b": 3, "c": 2}
    assert ratio_split(KEYS, (0.8, 0.1, 0.1), seed=1) == split
    assert ratio_split(KEYS, (0.8, 0.1, 0.1), seed=2) != split


def test_kfold_covers_every_row_once_as_test() -> None:
    seen: Counter[int] = Counter()
    for fold in range(5):
        split = kfold_split(KEYS, 5, fold, seed=3)
        assert not set(split["test"]) & set(split["validation"])
        assert not set(split["test"]) & set(split["train"])
        assert Counter(KEYS[i] for i in split["test"]) == {"a": 10, "b": 6, "c": 4}
        seen.update(split["test"])
    assert set(seen.values()) == {1} and len(seen) == len(KEYS)


def test_label_map_is_sorted_and_positive_label_explicit() -> None:
    lm = build_label_map("multiclass", ["z", "a", "m", "a"], None)
    assert lm.names == ("a", "m", "z") and lm.id2label == {0: "a", 1: "m", 2: "z"}
    binary = build_label_map("binary", ["hs", "not_hs"], "hs")
    assert binary.positive_label == "hs" and binary.positive_index == 0
    assert LabelMap.from_dict(binary.to_dict()) == binary
    with pytest.raises(ValueError, match="positive_label"):
        build_label_map("binary", ["x", "y"], "z")


def test_loss_weights_from_training_counts() -> None:
    single = LabelMap("multiclass", ("a", "b", "c"))
    # 6 a, 3 b, 1 c: n / (k * n_c)
    labels = [0] * 6 + [1] * 3 + [2]
    assert loss_weights_from_counts(single, labels, "balanced", "module.class_weights") == pytest.approx(
        [10 / 18, 10 / 9, 10 / 3]
    )
    assert loss_weights_from_counts(single, labels, "sqrt_balanced", "module.class_weights") == pytest.approx(
        [(10 / 18) ** 0.5, (10 / 9) ** 0.5, (10 / 3) ** 0.5], rel=1e-5
    )
    multi = LabelMap("multilabel", ("x", "y", "z"))
    rows = [[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]]  # x: 3 pos / 1 neg, y: 1 / 3, z: never positive
    assert loss_weights_from_counts(multi, rows, "balanced", "module.pos_weight") == pytest.approx([1 / 3, 3.0, 1.0])
    with pytest.raises(ValueError, match=r"module.pos_weight='inverse'.*balanced"):
        loss_weights_from_counts(multi, rows, "inverse", "module.pos_weight")


def test_single_file_ratio_split_and_delimited_multilabel(tmp_path: Path) -> None:
    rows = [[f"text {i}", ["x", "y", "x_y", "z"][i % 4]] for i in range(40)]
    path = write_csv(tmp_path / "all.csv", ["text", "tags"], rows)
    spec = data_spec_from_dict(
        {
            "name": "ml",
            "task": "multilabel",
            "text_column": "text",
            "label_column": "tags",
            "label_delimiter": "_",
            "language": "id",
            "files": {"all": str(path)},
            "split": {"strategy": "ratio", "ratios": [0.5, 0.25, 0.25]},
        }
    )
    data = prepare_data(spec)
    assert data.label_map.names == ("x", "y", "z")
    # 4 strata of 10: int(2.5) = 2 rows each to validation and test, rounding leftovers to train.
    assert data.report.rows == {"train": 24, "validation": 8, "test": 8}
    assert data.languages == ["id"]
    both = [e for e in data.splits["train"] if e.raw_label == ("x", "y")]
    assert both and all(e.label == [1.0, 1.0, 0.0] for e in both)
