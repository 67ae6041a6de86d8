"""A row's label from its cells: one label column, several 0/1 columns (multi-label), or fastText names.

:func:`raw_label` reads one row; :class:`LabelMemo` remembers it per distinct cell text, because a million rows
of HS1-shaped data hold about a hundred distinct combinations of their 12 label cells. Errors name the file,
row, line and column (``where``) of the first bad row, memo or not.
"""

from __future__ import annotations

from typing import Any

from trainer.data.formats import FileColumns
from trainer.data.labels import MEMO_LIMIT
from trainer.data.reader import DataError
from trainer.data.spec import DataSpec

_BINARY_VALUES = {"0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0, "true": 1.0, "false": 0.0}


def _is_empty(value: Any) -> bool:
    return (
        value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip())
    )


def _cell_text(value: Any, column: str, where: dict[str, Any]) -> str:
    if value is None or (isinstance(value, float) and value != value):
        raise DataError("empty cell (no value)", column=column, **where)
    if not isinstance(value, str | int | float | bool):
        raise DataError(f"expected text, found {type(value).__name__}", column=column, **where)
    return str(value)


def raw_label(cols: FileColumns, i: int, spec: DataSpec, where: dict[str, Any]) -> Any:
    """The row's label (a name, or a tuple of names for multi-label); None when it has none."""
    if spec.task == "multilabel" and spec.label_columns:
        cells = [cols.values[col][i] for col in spec.label_columns]
        if any(_is_empty(c) for c in cells):
            return None
        positives = []
        for col, value in zip(spec.label_columns, cells, strict=True):
            cell = _cell_text(value, col, where).strip().lower()
            if cell not in _BINARY_VALUES:
                raise DataError(f"multi-label value must be 0 or 1, found {cell!r}", column=col, **where)
            if _BINARY_VALUES[cell] == 1.0:
                positives.append(spec.label_names.get(col, col))
        return tuple(positives)
    assert spec.label_column  # checked by DataSpec.validate
    value = cols.values[spec.label_column][i]
    if isinstance(value, tuple):  # fastText: the line's __label__ values
        if spec.task != "multilabel" and len(value) > 1:
            raise DataError(
                f"has {len(value)} labels {list(value)}; task={spec.task} takes one per row "
                "(task: multilabel reads several)",
                column=spec.label_column,
                **where,
            )
        names = tuple(spec.label_name(v) for v in value)
        return names if spec.task == "multilabel" else names[0]
    if spec.task == "multilabel":
        if value is None or (isinstance(value, float) and value != value):
            return None  # an empty string is a row with no positive label
        cell = _cell_text(value, spec.label_column, where)
        parts = [p.strip() for p in cell.split(spec.label_delimiter) if p.strip()]
        return tuple(spec.label_name(p) for p in parts)
    if _is_empty(value):
        return None
    cell = _cell_text(value, spec.label_column, where).strip()
    if cell.endswith(".0") and cell[:-2].lstrip("-").isdigit():
        cell = cell[:-2]  # 1.0 from a float column is the label "1"
    return spec.label_name(cell)


class LabelMemo(dict[Any, Any]):
    """:func:`raw_label` per distinct cell text: it depends on the cells alone (``where`` only names a bad row).

    Only all-``str`` cells are remembered (CSV, TSV, fastText names): ``1``, ``1.0`` and ``True`` are equal dict
    keys but different labels. A cell that raises is never stored, so its first row still fails as before.
    """

    def label(self, cols: FileColumns, i: int, spec: DataSpec, where: dict[str, Any]) -> Any:
        if spec.task == "multilabel" and spec.label_columns:
            key: Any = tuple(cols.values[c][i] for c in spec.label_columns)
            plain = all(type(c) is str for c in key)
        else:
            assert spec.label_column  # checked by DataSpec.validate
            key = cols.values[spec.label_column][i]
            plain = type(key) is str
        if not plain:
            return raw_label(cols, i, spec, where)
        found = self.get(key, self)
        if found is self:
            found = raw_label(cols, i, spec, where)
            if len(self) < MEMO_LIMIT:
                self[key] = found
        return found
