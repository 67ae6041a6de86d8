"""How many rows ``model.max_length`` cuts, per split and per class, and a warning when it cuts one class more.

Truncation is rarely uniform. On GermEval 2026 (``configs/data/germeval_dbo.yaml``) 4% of all training posts
exceed 128 tokens, but 19% of the rare ``subversive`` class do (14% exceed 256): the class a macro-F1 hinges
on loses its text first. A row that reaches ``max_length`` tokens is counted as cut (a row of exactly that
length is counted too: the tokenised cache keeps no longer length). The report is logged when the data is
tokenised and saved as ``truncation`` in ``run_info.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trainer.data.labels import LabelMap
from trainer.data.tokenized import token_lengths

# A class is flagged when at least this share of its training rows is cut...
_FLAG_SHARE = 0.05
# ...that share is at least this many times the share among the other rows...
_FLAG_RATIO = 2.0
# ...and it has at least this many cut rows (a class of 3 rows with 1 cut is noise).
_FLAG_MIN_ROWS = 5


@dataclass(frozen=True)
class SplitTruncation:
    rows: int
    cut: int
    # class name -> [rows of the class, rows of the class cut]; multi-label: rows where the label is positive.
    per_class: dict[str, list[int]]

    @property
    def share(self) -> float:
        return self.cut / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class TruncationReport:
    max_length: int
    splits: dict[str, SplitTruncation]

    def to_dict(self) -> dict:
        return asdict(self)

    def flagged(self, split: str = "train") -> list[str]:
        """Warnings for the classes of ``split`` that ``max_length`` cuts far more often than the other rows."""
        s = self.splits.get(split)
        if s is None:
            return []
        lines = []
        for name, (n, cut) in s.per_class.items():
            rest_rows, rest_cut = s.rows - n, s.cut - cut
            share = cut / n if n else 0.0
            rest = rest_cut / rest_rows if rest_rows > 0 else 0.0
            if cut >= _FLAG_MIN_ROWS and share >= _FLAG_SHARE and share >= _FLAG_RATIO * rest:
                lines.append(
                    f"model.max_length={self.max_length} cuts {share:.1%} of the {split} rows of class {name!r} "
                    f"({cut} of {n}) but {rest:.1%} of the other rows: this class's texts are longer, and a "
                    f"longer model.max_length may help it (e.g. model.max_length={min(2 * self.max_length, 512)})"
                )
        return lines

    def format(self) -> str:
        parts = [f"{split} {s.cut}/{s.rows} ({s.share:.1%})" for split, s in self.splits.items()]
        return f"rows reaching model.max_length={self.max_length} tokens: " + ", ".join(parts)


def _class_counts(labels: pa.ChunkedArray, at_limit: np.ndarray, label_map: LabelMap) -> dict[str, list[int]]:
    if label_map.task == "multilabel":
        flat = pc.list_flatten(labels).to_numpy(zero_copy_only=False)
        matrix = flat.astype(bool).reshape(len(at_limit), label_map.num_labels)
        return {
            name: [int(matrix[:, i].sum()), int((matrix[:, i] & at_limit).sum())]
            for i, name in enumerate(label_map.names)
        }
    index = labels.to_numpy().astype(np.int64)
    return {
        name: [int((index == i).sum()), int(((index == i) & at_limit).sum())] for i, name in enumerate(label_map.names)
    }


def truncation_report(splits: datasets.DatasetDict, label_map: LabelMap, max_length: int) -> TruncationReport:
    """Count the rows of each tokenised split whose ``input_ids`` reach ``max_length``."""
    out = {}
    for split, ds in splits.items():
        at_limit = token_lengths(ds) >= max_length
        counts = _class_counts(ds.data.column("labels"), at_limit, label_map)
        out[split] = SplitTruncation(len(ds), int(at_limit.sum()), counts)
    return TruncationReport(max_length, out)
