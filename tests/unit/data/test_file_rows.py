"""One file's rows (issue 12): a clean chunk as whole columns gives exactly what the row-by-row check gives."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

import trainer.data.file_rows as file_rows_module
from tests.conftest import data_config, write_csv
from trainer.data import DataError, data_spec_from_dict, prepare_data
from trainer.data import splits as splits_module

HEADER = ["id", "text", "lang", "label"]


def _rows(split: str, n: int) -> list[list[object]]:
    rows: list[list[object]] = [
        [f"{split}{i}", f"{split} kata {i} USER USER http://t.co/{i}", ("id", "EN ", "")[i % 3], ("a", "b")[i % 2]]
        for i in range(n)
    ]
    rows[4][1] = "   "  # empty once normalised: on_empty_text decides
    rows[7][3] = ""  # no label: on_empty_label decides
    rows[9][1] = rows[2][1]  # a duplicate within the split
    return rows


def _spec(tmp_path: Path, **overrides: Any) -> Any:
    files = {
        s: str(write_csv(tmp_path / f"{s}.csv", HEADER, _rows(s, n)))
        for s, n in (("train", 23), ("validation", 12), ("test", 12))
    }
    return data_spec_from_dict(
        data_config("chunks", files, **{"on_empty_text": "drop", "on_empty_label": "drop", **overrides})
    )


def _everything(data: Any) -> dict[str, Any]:
    return {
        "rows": {s: [dataclasses.astuple(e) for e in rows] for s, rows in data.splits.items()},
        "keys": {s: rows.keys for s, rows in data.splits.items()},
        "report": data.report.to_dict(),
        "digests": {s: data.split_digest(s) for s in data.splits},
    }


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 5 rows in 2 worker processes: clean chunks and chunks with odd rows in one file."""
    monkeypatch.setattr(file_rows_module, "PARALLEL_FROM", 2)
    monkeypatch.setattr(file_rows_module, "_CHUNK", 5)
    monkeypatch.setattr(file_rows_module.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)


def _row_by_row_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_rows_module._FileRows, "add_clean", lambda self, offset, texts, keys: False)


def test_clean_chunks_equal_the_row_by_row_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: None
) -> None:
    spec = _spec(tmp_path)
    chunked = _everything(prepare_data(spec))
    _row_by_row_only(monkeypatch)
    one_by_one = _everything(prepare_data(spec))
    assert chunked == one_by_one
    dropped = prepare_data(spec).report.dropped
    assert dropped["train"] == {"empty_text": 1, "empty_label": 1, "duplicate": 1}
    assert [e.lang for e in prepare_data(spec).splits["train"]][:3] == ["id", "en", "und"]


def test_the_first_bad_row_of_the_file_is_reported(tmp_path: Path, small_chunks: None) -> None:
    """Row 5 has an empty text, row 8 no label: with both policies failing, row 5 is the error."""
    spec = _spec(tmp_path, on_empty_text="fail")
    with pytest.raises(DataError, match=r"train\.csv.*row 5 \(line 6\).*empty text"):
        prepare_data(spec)
    spec = _spec(tmp_path, on_empty_label="fail")
    with pytest.raises(DataError, match=r"row 8 \(line 9\)"):
        prepare_data(spec)


def test_a_bad_label_in_a_clean_looking_chunk_names_its_row(tmp_path: Path, small_chunks: None) -> None:
    """Multi-label cells must be 0 or 1: row 13 (of the chunk of rows 11-15, no other odd row) says 2."""
    rows = [[f"r{i}", f"kata {i}", "id", i % 2, 1 - i % 2] for i in range(20)]
    rows[12][3] = 2
    files = {s: str(write_csv(tmp_path / f"{s}.csv", ["id", "text", "lang", "tox", "ins"], rows)) for s in ("train",)}
    config = data_config("ml", files, task="multilabel", label_column=None, label_columns=["tox", "ins"])
    config["split"] = {"strategy": "ratio", "ratios": [0.6, 0.2, 0.2]}
    with pytest.raises(DataError, match=r"row 13 \(line 14\).*must be 0 or 1"):
        prepare_data(data_spec_from_dict(config))


def test_split_digest_is_the_documented_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sha256 over each row's json.dumps([id, text, lang, target], ensure_ascii=False), in blocks or not."""
    monkeypatch.setattr(splits_module, "_DIGEST_BLOCK", 3)
    data = prepare_data(_spec(tmp_path))
    rows = data.splits["train"]
    rows.texts[0] = 'ÿ non-ASCII ✓ "quoted"'
    expected = hashlib.sha256()
    for row in zip(rows.ids, rows.texts, rows.langs, rows.labels, strict=True):
        expected.update(json.dumps(row, ensure_ascii=False).encode())
    assert rows.digest() == expected.hexdigest()
