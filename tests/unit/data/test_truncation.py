"""Rows cut by model.max_length, per split and class, and the warning when one class is cut far more often."""

from __future__ import annotations

import datasets
import pytest

from trainer.data.labels import LabelMap
from trainer.data.truncation import truncation_report

MAX = 8


def _split(lengths: list[int], labels: list) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"input_ids": [[1] * n for n in lengths], "labels": labels})


def test_counts_rows_at_the_limit_per_split_and_class() -> None:
    label_map = LabelMap("multiclass", ("long", "short"))
    # train: 10 "long" rows, 6 of them at the limit; 40 "short" rows, 2 at the limit.
    train = _split([MAX] * 6 + [3] * 4 + [MAX] * 2 + [5] * 38, [0] * 10 + [1] * 40)
    test = _split([MAX, 2, 2], [1, 1, 0])
    report = truncation_report(datasets.DatasetDict(train=train, test=test), label_map, MAX)

    assert report.splits["train"].rows == 50 and report.splits["train"].cut == 8
    assert report.splits["train"].per_class == {"long": [10, 6], "short": [40, 2]}
    assert report.splits["test"].per_class == {"long": [1, 0], "short": [2, 1]}
    assert report.to_dict()["splits"]["test"] == {"rows": 3, "cut": 1, "per_class": {"long": [1, 0], "short": [2, 1]}}
    assert "train 8/50 (16.0%)" in report.format()
    # "long": 60% cut against 5% of the other rows -> flagged, naming the key and a longer length; "short" is not.
    (warning,) = report.flagged()
    assert "class 'long'" in warning and "60.0%" in warning and "model.max_length=16" in warning


@pytest.mark.parametrize(
    ("long_cut", "short_cut", "flagged"),
    [(5, 2, True), (4, 0, False), (5, 20, False)],  # flagged / too few cut rows / cut as often as the rest
)
def test_a_class_is_flagged_only_when_cut_often_and_more_than_the_rest(
    long_cut: int, short_cut: int, flagged: bool
) -> None:
    label_map = LabelMap("binary", ("long", "short"), positive_index=0)
    lengths = [MAX] * long_cut + [1] * (10 - long_cut) + [MAX] * short_cut + [1] * (40 - short_cut)
    report = truncation_report(datasets.DatasetDict(train=_split(lengths, [0] * 10 + [1] * 40)), label_map, MAX)
    assert bool(report.flagged()) is flagged


def test_multilabel_counts_the_rows_where_each_label_is_positive() -> None:
    label_map = LabelMap("multilabel", ("a", "b"))
    train = _split([MAX, MAX, 1, 1], [[1, 0], [1, 1], [0, 1], [0, 0]])
    report = truncation_report(datasets.DatasetDict(train=train), label_map, MAX)
    assert report.splits["train"].per_class == {"a": [2, 2], "b": [2, 1]}
