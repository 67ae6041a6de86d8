"""LabelMemo: the same labels and the same first-bad-row errors as reading every row's cells afresh."""

from __future__ import annotations

import pytest

from tests.conftest import data_config
from trainer.data import DataError, data_spec_from_dict
from trainer.data.formats import FileColumns
from trainer.data.label_cells import LabelMemo, raw_label

COLUMNS = ["HS", "Abusive", "HS_Group"]


def _spec(**overrides: object):  # type: ignore[no-untyped-def]
    return data_spec_from_dict(
        data_config("cells", {s: f"{s}.csv" for s in ("train", "validation", "test")}, **overrides)
    )


def _where(i: int) -> dict[str, object]:
    return {"file": "train.csv", "row": i + 1, "line": i + 2}


def test_memo_equals_reading_each_row_for_multilabel_columns() -> None:
    spec = _spec(task="multilabel", label_column=None, label_columns=COLUMNS, label_names={"HS": "hate"})
    rows = [("1", "0", "1"), ("0", "0", "0"), ("1", "0", "1"), ("", "1", "0"), ("0", "1", "0")] * 3
    cols = FileColumns("train.csv", {c: [r[j] for r in rows] for j, c in enumerate(COLUMNS)}, [None] * len(rows))
    memo = LabelMemo()
    got = [memo.label(cols, i, spec, _where(i)) for i in range(len(rows))]
    assert got == [raw_label(cols, i, spec, _where(i)) for i in range(len(rows))]
    assert got[0] == ("hate", "HS_Group") and got[3] is None
    assert len(memo) == 4  # one entry per distinct combination, not per row


def test_a_bad_cell_still_fails_at_its_own_row_and_column() -> None:
    spec = _spec(task="multilabel", label_column=None, label_columns=COLUMNS)
    rows = [("1", "0", "1")] * 4 + [("1", "2", "1")] + [("1", "0", "1")]
    cols = FileColumns("train.csv", {c: [r[j] for r in rows] for j, c in enumerate(COLUMNS)}, [None] * len(rows))
    memo = LabelMemo()
    for i in range(4):
        memo.label(cols, i, spec, _where(i))
    with pytest.raises(DataError, match=r"row 5 \(line 6\).*Abusive.*0 or 1, found '2'"):
        memo.label(cols, 4, spec, _where(4))


def test_only_text_cells_are_remembered() -> None:
    # 1, 1.0 and True are one dict key but three labels: cells of other types are read afresh every row.
    spec = _spec()
    cols = FileColumns("t.parquet", {"label": [1, True, 1.0, "1"]}, [None] * 4)
    memo = LabelMemo()
    got = [memo.label(cols, i, spec, _where(i)) for i in range(4)]
    assert got == [raw_label(cols, i, spec, _where(i)) for i in range(4)]
    assert got[1] == "True" and got[0] == "1" and list(memo) == ["1"]


def test_encode_targets_memo_keeps_values_and_the_first_unknown_row() -> None:
    from dataclasses import dataclass

    from trainer.data.labels import LabelMap, encode_targets

    @dataclass
    class Row:
        raw_label: object
        source: str = "train.csv"
        row: int = 0
        line: int | None = None

    multi = LabelMap("multilabel", ("a", "b", "c"))
    rows = [Row(("a", "c"), row=i + 1) for i in range(3)] + [Row((), row=4), Row(("b",), row=5)]
    assert encode_targets(rows, multi) == [[1.0, 0.0, 1.0]] * 3 + [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    single = LabelMap("multiclass", ("x", "y", "z"))
    rows = [Row("x", row=1), Row("y", row=2), Row("x", row=3), Row("w", row=4), Row("x", row=5)]
    with pytest.raises(DataError, match=r"row 4.*label 'w' is not one of the labels"):
        encode_targets(rows, single)
    assert encode_targets(rows[:3] + rows[4:], single) == [0, 1, 0, 0]
