"""format=fasttext and format=text_files (issue 14 §1): rows as expected, every error names file and line/row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_csv
from trainer.data import ConfigError, DataError, data_spec_from_dict, prepare_data


def _fasttext(tmp_path: Path, lines: dict[str, str], **overrides: Any) -> Any:
    files = {}
    for split, text in lines.items():
        (tmp_path / f"{split}.txt").write_text(text, encoding="utf-8", newline="")
        files[split] = str(tmp_path / f"{split}.txt")
    values = {
        "name": "ft",
        "task": "multiclass",
        "format": "fasttext",
        "text_column": "text",
        "label_column": "label",
        "files": files,
        **overrides,
    }
    return data_spec_from_dict(values)


TRAIN = "".join(f"__label__{'xyz'[i % 3]} train post {i}\n" for i in range(9))
SMALL = "__label__x one\n__label__y two\n__label__z three\n"


def test_fasttext_rows_labels_and_lines(tmp_path: Path) -> None:
    test = "__label__y  a text with  spaces \r\n\n__label__x\tsecond\n"  # CRLF, a blank line, a tab
    data = prepare_data(_fasttext(tmp_path, {"train": TRAIN, "validation": SMALL, "test": test}))
    assert data.label_map.names == ("x", "y", "z") and data.report.rows == {"train": 9, "validation": 3, "test": 2}
    rows = list(data.splits["test"])
    assert [(e.text, e.raw_label, e.line, e.id) for e in rows] == [
        ("a text with spaces", "y", 1, "test-1"),
        ("second", "x", 3, "test-2"),
    ]


def test_several_labels_are_a_multilabel_row(tmp_path: Path) -> None:
    train = "__label__a __label__b both\n__label__a only a\n__label__b only b\n"
    spec = _fasttext(tmp_path, {"train": train, "validation": train, "test": train}, task="multilabel")
    data = prepare_data(spec)
    assert data.label_map.names == ("a", "b")
    assert [e.raw_label for e in data.splits["train"]] == [("a", "b"), ("a",), ("b",)]
    assert data.splits["train"][0].label == [1.0, 1.0]
    # A single-label task refuses a line with two labels, naming file and line.
    with pytest.raises(DataError, match=r"train\.txt, row 1 \(line 1\).*has 2 labels \['a', 'b'\]"):
        prepare_data(_fasttext(tmp_path, {"train": train, "validation": train, "test": train}))


def test_a_line_without_label_or_text_names_file_and_line(tmp_path: Path) -> None:
    no_label = SMALL + "a line without any label\n"
    with pytest.raises(DataError, match=r"test\.txt, row 4 \(line 4\).*1 row\(s\) have an empty label"):
        prepare_data(_fasttext(tmp_path, {"train": TRAIN, "validation": SMALL, "test": no_label}))
    dropped = prepare_data(
        _fasttext(tmp_path, {"train": TRAIN, "validation": SMALL, "test": no_label}, on_empty_label="drop")
    )
    assert dropped.report.dropped["test"] == {"empty_label": 1}
    no_text = SMALL + "\n__label__x   \n"
    with pytest.raises(DataError, match=r"validation\.txt, row 4 \(line 5\), column 'text': empty text"):
        prepare_data(_fasttext(tmp_path, {"train": TRAIN, "validation": no_text, "test": SMALL}))
    nameless = "__label__ text\n"
    with pytest.raises(DataError, match=r"test\.txt, line 1: __label__ without a label name"):
        prepare_data(_fasttext(tmp_path, {"train": TRAIN, "validation": SMALL, "test": nameless}))


def test_fasttext_refuses_columns_it_does_not_have(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.id_column does not apply to format=fasttext"):
        _fasttext(tmp_path, {"train": TRAIN, "validation": SMALL, "test": SMALL}, id_column="id")


# -- text_files ---------------------------------------------------------------------------------------
def _text_files(tmp_path: Path, n: int = 12, **overrides: Any) -> Any:
    folder = tmp_path / "texts"
    folder.mkdir(exist_ok=True)
    files = {}
    for split, count in (("train", n), ("validation", 4), ("test", 4)):
        rows = []
        for i in range(count):
            ident = f"{split}_{i}"
            (folder / f"{ident}.txt").write_text(f"the {split} sentence {i}\n", encoding="utf-8")
            rows.append([ident, ("pos", "neg")[i % 2]])
        files[split] = str(write_csv(tmp_path / f"{split}.csv", ["file_id", "label"], rows))
    values = {
        "name": "tf",
        "task": "binary",
        "format": "text_files",
        "text_dir": str(folder),
        "id_column": "file_id",
        "text_column": "text",
        "label_column": "label",
        "files": files,
        **overrides,
    }
    return data_spec_from_dict(values)


def test_text_files_are_joined_by_id(tmp_path: Path) -> None:
    data = prepare_data(_text_files(tmp_path))
    first = data.splits["train"][0]
    assert (first.id, first.text, first.raw_label, first.line) == ("train_0", "the train sentence 0", "pos", 2)
    assert data.report.rows == {"train": 12, "validation": 4, "test": 4}


def test_a_missing_text_file_names_the_file_and_the_csv_row(tmp_path: Path) -> None:
    spec = _text_files(tmp_path)
    (Path(spec.text_dir) / "validation_2.txt").unlink()
    (Path(spec.text_dir) / "validation_3.txt").unlink()
    with pytest.raises(DataError) as info:
        prepare_data(spec)
    message = str(info.value)
    assert "validation_2.txt" in message and "does not exist" in message and "2 row(s)" in message
    assert str(info.value.file).endswith("validation.csv") and (info.value.row, info.value.line) == (3, 4)
    assert info.value.column == "file_id" and "row 4 (line 5)" in message


def test_text_files_pattern_and_folder_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.file_pattern='texts/x\.txt' must hold \{id\} once"):
        _text_files(tmp_path, file_pattern="texts/x.txt")
    with pytest.raises(ConfigError, match=r"format=text_files needs data\.text_dir"):
        _text_files(tmp_path, text_dir=None)
    with pytest.raises(ConfigError, match=r"data\.text_dir is for format=text_files, not csv"):
        _text_files(tmp_path, format="csv")
    spec = _text_files(tmp_path, text_dir=str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"nowhere.*data\.text_dir is not a folder"):
        prepare_data(spec)


def test_a_changed_text_file_changes_the_data_digest(tmp_path: Path) -> None:
    spec = _text_files(tmp_path)
    before = prepare_data(spec).digest
    (Path(spec.text_dir) / "test_1.txt").write_text("another sentence\n", encoding="utf-8")
    assert prepare_data(spec).digest != before
