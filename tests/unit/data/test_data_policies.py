"""Issue 14 §1: empty labels, carving validation from train, impossible splits, published test files.

Every test writes its own small CSV files; each policy is checked both ways (the error and its message,
and the counted alternative in the data report).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import data_config, write_csv
from trainer.data import ConfigError, DataError, data_spec_from_dict, prepare_data

HEADER = ["id", "text", "lang", "label"]


def _rows(split: str, n: int, labels: tuple[str, ...] = ("a", "b")) -> list[list[object]]:
    return [[f"{split}{i}", f"{split} text number {i}", "en", labels[i % len(labels)]] for i in range(n)]


def _files(tmp_path: Path, sizes: dict[str, int], **rows: list[list[object]]) -> dict[str, str]:
    out = {}
    for split, n in sizes.items():
        out[split] = str(write_csv(tmp_path / f"{split}.csv", HEADER, rows.get(split) or _rows(split, n)))
    return out


def _spec(tmp_path: Path, files: dict[str, str], **overrides: Any) -> Any:
    return data_spec_from_dict(data_config("p", files, **overrides))


# -- 1. on_empty_label ------------------------------------------------------------------------------
def test_empty_labels_fail_counting_every_row_and_naming_the_key(tmp_path: Path) -> None:
    train, test = _rows("train", 12), _rows("test", 6)
    for i in (2, 5):
        train[i][3] = ""
    train[7][3] = "   "
    test[4][3] = ""
    files = _files(tmp_path, {"train": 0, "validation": 6, "test": 0}, train=train, test=test)
    with pytest.raises(DataError) as info:
        prepare_data(_spec(tmp_path, files))
    message = str(info.value)
    assert "4 row(s) have an empty label" in message and "train 3, test 1" in message
    assert "data.on_empty_label" in message and "++data.on_empty_label=drop" in message
    # The first such row is the error's location; the next ones are listed.
    assert (info.value.row, info.value.line, info.value.column) == (3, 4, "label")
    assert "train.csv row 6 (line 7)" in message and "test.csv row 5 (line 6)" in message

    data = prepare_data(_spec(tmp_path, files, on_empty_label="drop"))
    assert data.report.dropped == {"train": {"empty_label": 3}, "validation": {}, "test": {"empty_label": 1}}
    assert data.report.rows == {"train": 9, "validation": 6, "test": 5}
    assert data.report.policies["empty_label"] == "drop"


def test_an_empty_multilabel_cell_is_an_empty_label(tmp_path: Path) -> None:
    header = ["id", "text", "lang", "x", "y"]
    train = [[f"r{i}", f"text {i}", "en", i % 2, (i + 1) % 2] for i in range(8)]
    train[3][4] = ""
    files = {"train": str(write_csv(tmp_path / "train.csv", header, train))}
    for split in ("validation", "test"):
        rows = [[f"{split}{i}", f"{split} {i}", "en", 1, 0] for i in range(3)]
        files[split] = str(write_csv(tmp_path / f"{split}.csv", header, rows))
    spec = dict(task="multilabel", label_column=None, label_columns=["x", "y"])
    with pytest.raises(DataError, match=r"1 row\(s\) have an empty label"):
        prepare_data(_spec(tmp_path, files, **spec))
    data = prepare_data(_spec(tmp_path, files, **spec, on_empty_label="drop"))
    assert data.report.dropped["train"] == {"empty_label": 1} and data.report.rows["train"] == 7


# -- 2. impossible splits refused when the spec is built -------------------------------------------
@pytest.mark.parametrize(
    ("ratios", "says"),
    [
        ([0.9, 0.1, 0.0], r"leaves split\(s\) \['test'\] empty"),
        ([1.1, -0.05, -0.05], r"\['validation', 'test'\] empty"),
        ([0.5, 0.3, 0.1], "must sum to 1"),
        ([0.8, 0.2], "three numbers"),
    ],
)
def test_impossible_ratios_are_refused_at_build_naming_the_key(tmp_path: Path, ratios: list[float], says: str) -> None:
    values = data_config("r", {"all": str(tmp_path / "not-read.csv")}, split={"strategy": "ratio", "ratios": ratios})
    with pytest.raises(ConfigError, match=r"data\.split\.ratios") as info:
        data_spec_from_dict(values)  # the file does not exist: nothing is read before the refusal
    assert re.search(says, str(info.value))


def test_kfold_needs_three_folds(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.split\.folds=2 must be an integer >= 3"):
        data_spec_from_dict(data_config("k", {"all": "x.csv"}, split={"strategy": "kfold", "folds": 2}))


def test_ratio_with_a_published_test_file_is_refused(tmp_path: Path) -> None:
    """split.strategy=ratio used to read files.train and silently ignore files.test."""
    files = {"train": "train.csv", "test": "test.csv"}
    with pytest.raises(
        ConfigError, match=r"data\.files\.test is set, but split\.strategy=ratio .*validation_from_train"
    ):
        data_spec_from_dict(data_config("r", files, split={"strategy": "ratio"}))


@pytest.mark.parametrize(
    ("files", "split", "says"),
    [
        ({"train": "a", "validation": "b", "test": "c"}, {"validation_from_train": 0.1}, "files.validation too"),
        ({"train": "a", "test": "c"}, {"validation_from_train": 0.0}, "between 0 and 1"),
        ({"train": "a", "test": "c"}, {"validation_from_train": 1.5}, "between 0 and 1"),
        ({"train": "a"}, {"validation_from_train": 0.1}, r"missing \['test'\]"),
        ({"all": "a"}, {"strategy": "ratio", "validation_from_train": 0.1}, "is for split.strategy=files"),
        ({"train": "a", "test": "c"}, {}, "validation_from_train, e.g. 0.1"),
    ],
)
def test_validation_from_train_keys_are_checked(files: dict[str, str], split: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        data_spec_from_dict(data_config("v", files, split=split))


def test_validation_from_train_keeps_the_test_file_and_stratifies(tmp_path: Path) -> None:
    files = _files(tmp_path, {"train": 40, "test": 7}, train=_rows("train", 40, ("a", "a", "a", "b")))
    spec = _spec(tmp_path, files, split={"strategy": "files", "validation_from_train": 0.2, "seed": 3})
    data = prepare_data(spec)
    assert data.report.rows == {"train": 32, "validation": 8, "test": 7}
    assert data.report.label_counts["validation"] == {"a": 6, "b": 2}  # 30:10 in train
    assert data.splits["test"].ids == [f"test{i}" for i in range(7)]  # the published file, untouched
    assert set(data.file_digests) == {"train", "test"}
    again = prepare_data(spec)
    assert again.splits["validation"].ids == data.splits["validation"].ids  # seeded
    other = prepare_data(_spec(tmp_path, files, split={"strategy": "files", "validation_from_train": 0.2, "seed": 4}))
    assert other.splits["validation"].ids != data.splits["validation"].ids


def test_multilabel_rows_are_carved_by_their_rarest_label(tmp_path: Path) -> None:
    """Label sets are too many to stratify on; the rarest label of a row is its stratum."""
    header = ["id", "text", "lang", "tags"]
    rows = [[f"r{i}", f"text {i}", "en", "common" if i % 5 else "common|rare"] for i in range(50)]
    files = {
        "train": str(write_csv(tmp_path / "train.csv", header, rows)),
        "test": str(write_csv(tmp_path / "test.csv", header, [["t0", "t", "en", "rare"], ["t1", "u", "en", "common"]])),
    }
    spec = _spec(
        tmp_path,
        files,
        task="multilabel",
        label_column="tags",
        label_delimiter="|",
        split={"strategy": "files", "validation_from_train": 0.2},
    )
    data = prepare_data(spec)
    assert data.report.rows["validation"] == 10
    assert data.report.label_counts["validation"] == {"common": 10, "rare": 2}  # 10 "rare" rows in 50


def test_validation_from_train_of_too_few_rows_is_an_error(tmp_path: Path) -> None:
    files = _files(tmp_path, {"train": 4, "test": 2}, train=_rows("train", 4, ("a", "b", "c", "d")))
    with pytest.raises(DataError, match=r"validation_from_train=0\.1 of 4 training rows is no row"):
        prepare_data(_spec(tmp_path, files, split={"strategy": "files", "validation_from_train": 0.1}))


# -- 5. published test files: kept, copies and label conflicts reported -------------------------------
def test_copies_with_another_label_are_reported_and_the_rule_is_stated(tmp_path: Path) -> None:
    train = _rows("train", 10)
    train[3][1] = "Same text http://a.example/1"  # label b
    train[4][1] = "same   TEXT http://b.example/2"  # a copy once links are masked and case folded; label a
    test = _rows("test", 4)
    test[0][1] = "train text number 6"  # label a; the train copy (row 7) is also a
    test[1][1] = "TRAIN text number 7"  # label b; the train copy (row 8) is b... made a below
    train[7][3] = "a"
    files = _files(tmp_path, {"train": 0, "validation": 4, "test": 0}, train=train, test=test)
    data = prepare_data(_spec(tmp_path, files))
    report = data.report
    assert report.rows == {"train": 9, "validation": 4, "test": 4}  # the train duplicate dropped, test kept
    assert report.dropped["train"] == {"duplicate": 1}
    assert report.copies["train"] == {"duplicate": 1, "leakage": 2}
    assert report.label_conflicts["count"]["train"] == {"duplicate": 1, "leakage": 1}
    examples = report.label_conflicts["examples"]
    assert {(e["kind"], e["label"], e["kept_split"], e["kept_label"]) for e in examples} == {
        ("duplicate", "a", "train", "b"),
        ("leakage", "a", "test", "b"),
    }
    assert any("train.csv row 5 (line 6)" in e["where"] for e in examples)
    assert "links masked as HTTPURL" in report.matching_rule and "casefolded" in report.matching_rule
    assert "test > validation > train" in report.matching_rule
    printed = report.format()
    assert "found leakage" in printed and "2 copies have another label" in printed
    assert report.to_dict()["matching_rule"] == report.matching_rule


def test_splits_made_here_still_drop_the_later_copy(tmp_path: Path) -> None:
    """ratio/kfold: nothing published to protect; the default drops copies as before (train copy kept)."""
    rows = _rows("all", 60)
    rows[59][1] = rows[0][1]
    files = {"all": str(write_csv(tmp_path / "all.csv", HEADER, rows))}
    data = prepare_data(
        _spec(tmp_path, files, id_column=None, split={"strategy": "ratio", "ratios": [0.5, 0.25, 0.25]})
    )
    assert data.report.policies["duplicate"] == "drop" and data.report.policies["leakage"] == "drop"
    assert all(i.startswith("all-") for rows in data.splits.values() for i in rows.ids)  # ids as before
    assert sum(n for d in data.report.dropped.values() for n in d.values()) == 1
    assert "train > validation > test" in data.report.matching_rule
