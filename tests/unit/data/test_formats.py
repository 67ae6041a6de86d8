"""Every data format (jsonl, parquet, hf_disk) prepares to the same examples as CSV; wrong kinds are DataErrors."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import pytest

from tests.conftest import data_config, write_csv
from trainer.data import DataError, PreparedData, data_spec_from_dict, prepare_data

HEADER = ["id", "text", "lang", "label"]
# Made-up short texts: three topics in three languages, each text unique so nothing is dropped as a duplicate.
TOPICS = {
    "weather": {"en": "rain is expected", "fr": "il va pleuvoir", "de": "es wird regnen"},
    "food": {"en": "the soup is warm", "fr": "la soupe est chaude", "de": "die Suppe ist warm"},
    "travel": {"en": "the train is late", "fr": "le train est en retard", "de": "der Zug hat Verspätung"},
}
SPLIT_SIZES = {"train": 4, "validation": 2, "test": 2}


def _rows() -> dict[str, list[list[object]]]:
    """Per split: every topic in every language, ``SPLIT_SIZES[split]`` variants each; integer ids."""
    out: dict[str, list[list[object]]] = {}
    next_id = 1
    for split, n in SPLIT_SIZES.items():
        out[split] = []
        for label, by_lang in TOPICS.items():
            for lang, text in by_lang.items():
                for k in range(n):
                    out[split].append([next_id, f"{text} ({split} {k})", lang.upper(), label])
                    next_id += 1
    return out


ROWS = _rows()


def _frame(split: str) -> pd.DataFrame:
    return pd.DataFrame(ROWS[split], columns=HEADER)


def _write(tmp_path: Path, fmt: str) -> dict[str, str]:
    """The same rows as ``fmt``; returns data.files."""
    folder = tmp_path / fmt
    folder.mkdir()
    if fmt == "hf_disk":
        saved = datasets.DatasetDict({s: datasets.Dataset.from_pandas(_frame(s), preserve_index=False) for s in ROWS})
        saved.save_to_disk(str(folder / "saved"))
        return {s: str(folder / "saved") for s in ROWS}
    files = {}
    for split in ROWS:
        path = folder / f"{split}.{fmt}"
        if fmt == "csv":
            write_csv(path, HEADER, ROWS[split])
        elif fmt == "jsonl":
            path.write_text("".join(json.dumps(dict(zip(HEADER, r, strict=True))) + "\n" for r in ROWS[split]))
        else:
            _frame(split).to_parquet(path, index=False)
        files[split] = str(path)
    return files


def _spec(files: dict[str, str], fmt: str, **overrides: object) -> dict:
    return data_config(f"topics-{fmt}", files, format=fmt, **overrides)


def _examples(data: PreparedData) -> dict[str, list[tuple]]:
    return {s: [(e.id, e.text, e.lang, e.raw_label, e.label) for e in rows] for s, rows in data.splits.items()}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf_disk"])
def test_every_format_prepares_like_csv(tmp_path: Path, fmt: str) -> None:
    reference = prepare_data(data_spec_from_dict(_spec(_write(tmp_path, "csv"), "csv")))
    data = prepare_data(data_spec_from_dict(_spec(_write(tmp_path, fmt), fmt)))

    # The CSV reference itself follows the rows: sorted label names, every row kept, lower-cased languages.
    assert reference.label_map.names == tuple(sorted(TOPICS))
    assert reference.report.rows == {s: len(ROWS[s]) for s in ROWS}
    for split, rows in ROWS.items():
        expected = [(str(i), text, lang.lower(), label, sorted(TOPICS).index(label)) for i, text, lang, label in rows]
        assert _examples(reference)[split] == expected

    assert data.label_map == reference.label_map
    assert data.report.rows == reference.report.rows
    assert data.languages == reference.languages == ["de", "en", "fr"]
    assert _examples(data) == _examples(reference)


def test_hf_disk_missing_split_names_folder_and_split(tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    datasets.DatasetDict(
        {s: datasets.Dataset.from_pandas(_frame(s), preserve_index=False) for s in ("train", "test")}
    ).save_to_disk(str(folder))
    with pytest.raises(DataError) as info:
        prepare_data(data_spec_from_dict(_spec({s: str(folder) for s in ROWS}, "hf_disk")))
    message = str(info.value)
    assert str(folder) in message and "'validation'" in message
    assert "['train', 'test']" in message  # the splits the folder does have


def test_hf_disk_missing_path_names_the_path(tmp_path: Path) -> None:
    files = _write(tmp_path, "hf_disk")
    files["test"] = str(tmp_path / "no_such_saved_dataset")
    with pytest.raises(DataError, match=r"no_such_saved_dataset.*does not exist"):
        prepare_data(data_spec_from_dict(_spec(files, "hf_disk")))


def test_parquet_missing_column_names_file_column_and_key(tmp_path: Path) -> None:
    files = _write(tmp_path, "parquet")
    _frame("validation").rename(columns={"lang": "language"}).to_parquet(files["validation"], index=False)
    with pytest.raises(DataError) as info:
        prepare_data(data_spec_from_dict(_spec(files, "parquet")))
    message = str(info.value)
    assert "validation.parquet" in message and "'lang'" in message and "data.text_column" in message
    assert "language" in message  # the columns the file has


def test_a_folder_or_file_of_the_wrong_kind_is_a_data_error_naming_it(tmp_path: Path) -> None:
    files = _write(tmp_path, "hf_disk")
    (not_saved := tmp_path / "plain_folder").mkdir()
    with pytest.raises(DataError, match=r"plain_folder.*not a saved dataset"):
        prepare_data(data_spec_from_dict(_spec({**files, "test": str(not_saved)}, "hf_disk")))
    files = _write(tmp_path, "parquet")
    Path(files["train"]).write_text("id,text\n1,a csv file named .parquet\n")
    with pytest.raises(DataError, match=r"train\.parquet.*not a readable parquet file"):
        prepare_data(data_spec_from_dict(_spec(files, "parquet")))


def test_files_all_takes_the_only_split_and_refuses_to_pick_among_several(tmp_path: Path) -> None:
    ratio = {"strategy": "ratio", "ratios": [0.5, 0.25, 0.25], "seed": 3}
    one = tmp_path / "one"
    datasets.DatasetDict(
        {"everything": datasets.Dataset.from_pandas(_frame("train"), preserve_index=False)}
    ).save_to_disk(str(one))
    data = prepare_data(data_spec_from_dict(_spec({"all": str(one)}, "hf_disk", split=ratio)))
    assert sum(data.report.rows.values()) == len(ROWS["train"])  # every row of the one split, re-split

    several = tmp_path / "several"
    datasets.DatasetDict(
        {s: datasets.Dataset.from_pandas(_frame(s), preserve_index=False) for s in ("train", "test")}
    ).save_to_disk(str(several))
    with pytest.raises(DataError, match=r"several.*splits \['train', 'test'\]; data\.files\.all reads one"):
        prepare_data(data_spec_from_dict(_spec({"all": str(several)}, "hf_disk", split=ratio)))
