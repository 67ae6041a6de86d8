"""The label map: derived from the training data, sorted, saved with every artifact."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LabelMap:
    """Ordered class names of a task. Index ``i`` is output ``i`` of the model.

    For ``binary`` the positive class is ``names[positive_index]`` and the model has two logits.
    For ``multilabel`` each name is an independent sigmoid output.
    """

    task: str
    names: tuple[str, ...]
    positive_index: int | None = None

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate label names in {self.names}")

    @property
    def num_labels(self) -> int:
        return len(self.names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    @property
    def positive_label(self) -> str | None:
        return None if self.positive_index is None else self.names[self.positive_index]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "names": list(self.names),
            "id2label": {str(i): n for i, n in enumerate(self.names)},
            "positive_label": self.positive_label,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelMap:
        names = tuple(data["names"])
        pos = data.get("positive_label")
        return cls(data["task"], names, names.index(pos) if pos is not None else None)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LabelMap:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def build_label_map(
    task: str, train_values: list[Any], positive_label: str | None, multilabel_names: tuple[str, ...] = ()
) -> LabelMap:
    """Sorted label names seen in training data (or the multi-label column names, sorted)."""
    if task == "multilabel":
        return LabelMap(task, tuple(sorted(multilabel_names)))
    names = tuple(sorted({str(v) for v in train_values}))
    if task == "binary":
        if len(names) != 2:
            raise ValueError(f"task=binary needs exactly 2 classes in training data, found {list(names)}")
        pos = positive_label if positive_label is not None else names[1]
        if pos not in names:
            raise ValueError(f"data.positive_label={pos!r} is not one of the training labels {list(names)}")
        return LabelMap(task, names, names.index(pos))
    return LabelMap(task, names)


def mapping_hint(
    raw_labels: Iterable[Any],
    names: Iterable[str],
    mapping: Mapping[str, str],
    *,
    key: str = "label_mapping",
    target: str = "model label",
    of: str = "the model",
) -> str:
    """The end of an unknown-label message: the Hydra overrides that map every such label at once.

    ``raw_labels``: the labels found (str, or tuples for multi-label rows); those not in ``names``
    after ``mapping`` get ``+<key>.<label>=<target>``. The ``+`` is Hydra's "add a key": the label
    is not a key of the config yet, so a plain ``<key>.<label>=...`` is refused by Hydra.
    """
    known = set(names)
    found = {str(v) for raw in set(raw_labels) for v in (raw if isinstance(raw, tuple) else (raw,))}
    unmapped = sorted(v for v in found if mapping.get(v, v) not in known)
    if not unmapped:
        return ""
    overrides = ", ".join(f"+{key}.{v}=<{target}>" for v in unmapped)
    return f" of {of}; map {'it' if len(unmapped) == 1 else 'them'} with {overrides}"


# Distinct values a per-file memo of label parsing keeps (labels and raw label cells): a handful to ~100 in practice.
MEMO_LIMIT = 10_000


def encode_targets(
    rows: Sequence[Any],
    label_map: LabelMap,
    *,
    column: str | None = None,
    mapping: Mapping[str, str] | None = None,
    hint: str = "",
) -> list[Any]:
    """Targets of ``rows`` (objects with ``raw_label``, ``source``, ``row``, ``line``) in the model's label order.

    The one label -> target mapping: class indices for single-label tasks, 0/1 vectors for multi-label.
    ``mapping`` renames raw labels first (another dataset's names); an unknown label is a
    :class:`~trainer.data.reader.DataError` naming file, row and column, followed by ``hint``.
    """
    from trainer.data.reader import DataError

    index = label_map.label2id
    out: list[Any] = []
    # One target per distinct raw label (a million rows hold a handful); multi-label rows with equal label sets
    # share one (read-only) 0/1 list. An unknown label raises at its first row, as without the memo.
    known: dict[Any, Any] = {}
    for e in rows:
        try:
            out.append(known[e.raw_label])
            continue
        except (KeyError, TypeError):  # TypeError: an unhashable raw label, encoded afresh
            pass
        values = e.raw_label if isinstance(e.raw_label, tuple) else (e.raw_label,)
        mapped = [mapping.get(str(v), str(v)) for v in values] if mapping else list(values)
        unknown = [v for v, m in zip(values, mapped, strict=True) if m not in index]
        if unknown:
            raise DataError(
                f"label {unknown[0]!r} is not one of the labels {list(label_map.names)}{hint}",
                file=e.source,
                row=e.row,
                column=column,
                line=e.line,
            )
        target = (
            [1.0 if n in mapped else 0.0 for n in label_map.names]
            if label_map.task == "multilabel"
            else index[mapped[0]]
        )
        if type(e.raw_label) in (str, tuple) and len(known) < MEMO_LIMIT:  # 1 and True are one key, not one label
            known[e.raw_label] = target
        out.append(target)
    return out
