"""Every kind of bad input ends in one DataError naming file, row and column, before training."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import data_config, write_csv
from trainer.data import DataError, data_spec_from_dict, prepare_data
from trainer.data.spec import ConfigError

HEADER = ["id", "text", "lang", "label", "a", "b"]


def _rows(prefix: str, n: int = 6) -> list[list[object]]:
    labels = ["pos", "neg"]
    return [
        [f"{prefix}{i}", f"post number {i} from {prefix}", "en", labels[i % 2], i % 2, (i + 1) % 2] for i in range(n)
    ]


def _spec(tmp_path: Path, **overrides: object) -> dict:
    files = {}
    for split in ("train", "validation", "test"):
        path = tmp_path / f"{split}.csv"
        if not path.exists():
            write_csv(path, HEADER, _rows(split))
        files[split] = str(path)
    return data_config("t", files, **overrides)


def _error(tmp_path: Path, **overrides: object) -> DataError:
    with pytest.raises(DataError) as info:
        prepare_data(data_spec_from_dict(_spec(tmp_path, **overrides)))
    return info.value


def test_valid_data_prepares(tmp_path: Path) -> None:
    data = prepare_data(data_spec_from_dict(_spec(tmp_path)))
    assert data.label_map.names == ("neg", "pos")
    assert data.report.rows == {"train": 6, "validation": 6, "test": 6}


def test_missing_file(tmp_path: Path) -> None:
    values = _spec(tmp_path)
    values["files"]["test"] = str(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"nope\.csv.*does not exist"):
        prepare_data(data_spec_from_dict(values))


def test_missing_column_names_the_config_key(tmp_path: Path) -> None:
    err = _error(tmp_path, text_column="tweet")
    assert "tweet" in str(err) and "train.csv" in str(err) and "data.text_column" in str(err)


def test_unknown_label_in_test(tmp_path: Path) -> None:
    rows = _rows("test")
    rows[3][3] = "maybe"
    write_csv(tmp_path / "test.csv", HEADER, rows)
    err = _error(tmp_path)
    assert (err.row, err.column) == (4, "label") and "test.csv" in str(err) and "'maybe'" in str(err)


def test_empty_text_cell(tmp_path: Path) -> None:
    rows = _rows("validation")
    rows[2][1] = "   "
    write_csv(tmp_path / "validation.csv", HEADER, rows)
    err = _error(tmp_path)
    assert (err.row, err.column, err.line) == (3, "text", 4) and "validation.csv" in str(err)


def test_empty_text_can_be_dropped_and_is_counted(tmp_path: Path) -> None:
    rows = _rows("validation")
    rows[2][1] = ""
    write_csv(tmp_path / "validation.csv", HEADER, rows)
    data = prepare_data(data_spec_from_dict(_spec(tmp_path, on_empty_text="drop")))
    assert data.report.dropped["validation"] == {"empty_text": 1}
    assert data.report.rows["validation"] == 5


def test_non_text_cell_in_jsonl(tmp_path: Path) -> None:
    import json

    files = {}
    for split in ("train", "validation", "test"):
        lines = [json.dumps({"text": f"{split} {i}", "label": "ab"[i % 2]}) for i in range(4)]
        if split == "train":
            lines[1] = json.dumps({"text": 12345, "label": "b"})
        (tmp_path / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
        files[split] = str(tmp_path / f"{split}.jsonl")
    spec = data_spec_from_dict(
        {
            "name": "j",
            "task": "multiclass",
            "format": "jsonl",
            "text_column": "text",
            "label_column": "label",
            "files": files,
        }
    )
    with pytest.raises(DataError) as info:
        prepare_data(spec)
    assert (info.value.row, info.value.column) == (2, "text") and "expected text" in str(info.value)


def test_undecodable_bytes(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv", HEADER, _rows("train"))
    raw = (tmp_path / "train.csv").read_bytes().replace(b"post number 4", b"post n\xe9mber 4")
    (tmp_path / "train.csv").write_bytes(raw)
    err = _error(tmp_path)
    assert err.line == 6 and "utf-8" in str(err) and "latin-1" in str(err) and "train.csv" in str(err)
    # Declared correctly, the same file reads.
    assert prepare_data(data_spec_from_dict(_spec(tmp_path, encoding="latin-1"))).report.rows["train"] == 6


def test_class_with_zero_training_examples(tmp_path: Path) -> None:
    err = _error(tmp_path, label_names={"pos": "positive", "neg": "negative", "unused": "ghost"})
    assert "ghost" in str(err) and "zero training examples" in str(err)


def test_binary_needs_two_classes_in_train(tmp_path: Path) -> None:
    rows = _rows("train")
    for r in rows:
        r[3] = "pos"
    write_csv(tmp_path / "train.csv", HEADER, rows)
    err = _error(tmp_path, task="binary")
    assert "exactly 2 classes" in str(err) and "train.csv" in str(err)


def test_multilabel_value_other_than_0_1(tmp_path: Path) -> None:
    rows = _rows("train")
    rows[4][5] = 2
    write_csv(tmp_path / "train.csv", HEADER, rows)
    err = _error(tmp_path, task="multilabel", label_column=None, label_columns=["a", "b"])
    assert (err.row, err.column) == (5, "b") and "'2'" in str(err)


def test_multilabel_column_never_positive_in_train(tmp_path: Path) -> None:
    rows = _rows("train")
    for r in rows:
        r[4] = 0
    write_csv(tmp_path / "train.csv", HEADER, rows)
    err = _error(tmp_path, task="multilabel", label_column=None, label_columns=["a", "b"])
    assert "['a']" in str(err) and "zero training examples" in str(err)


def test_ragged_csv_row(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    write_csv(path, HEADER, _rows("train"))
    path.write_text(path.read_text() + "extra,row,with,too,many,fields,here\n")
    err = _error(tmp_path)
    assert err.row == 7 and "7 fields" in str(err)


def test_duplicates_and_leakage_are_counted_or_fail(tmp_path: Path) -> None:
    """Published files (split.strategy=files): test rows are kept by default, copies counted; drop costs train."""
    rows = _rows("test")
    rows[0][1] = "post number 1 from train"  # also in train (case/space-insensitive match below)
    rows[1][1] = "POST   number 2 from test"
    rows[2][1] = "post number 2 from test"  # duplicate within test
    write_csv(tmp_path / "test.csv", HEADER, rows)
    data = prepare_data(data_spec_from_dict(_spec(tmp_path)))
    # Issue 14: the default no longer drops published test rows (it dropped one duplicate and one leak).
    assert data.report.dropped == {"train": {}, "validation": {}, "test": {}}
    assert data.report.rows["test"] == 6
    # The test copy is the kept one: the training-side copy is the leak.
    assert data.report.copies == {"train": {"leakage": 1}, "validation": {}, "test": {"duplicate": 1}}
    assert data.report.policies["leakage"] == "keep" and data.report.policies["duplicate_in_test"] == "keep"

    dropped = prepare_data(data_spec_from_dict(_spec(tmp_path, on_duplicate="drop", on_leakage="drop")))
    assert dropped.report.dropped["test"] == {"duplicate": 1}
    assert dropped.report.dropped["train"] == {"leakage": 1}  # the training side loses the row, not test
    assert "train1" not in dropped.splits["train"].ids and "test0" in dropped.splits["test"].ids
    with pytest.raises(DataError, match="also in split test") as info:
        prepare_data(data_spec_from_dict(_spec(tmp_path, on_leakage="fail")))
    assert str(info.value.file).endswith("train.csv") and info.value.row == 2
    with pytest.raises(DataError, match="duplicate text"):
        prepare_data(data_spec_from_dict(_spec(tmp_path, on_duplicate="fail", on_leakage="keep")))


def test_config_typos_fail_with_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.text_colum\b"):
        data_spec_from_dict({**_spec(tmp_path), "text_colum": "x"})
    with pytest.raises(ConfigError, match=r"data\.normalizer\.mask_url\b"):
        data_spec_from_dict({**_spec(tmp_path), "normalizer": {"mask_url": True}})
    with pytest.raises(ConfigError, match="data.files is missing"):
        data_spec_from_dict({**_spec(tmp_path), "files": {"train": "x.csv"}})
