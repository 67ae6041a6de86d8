"""Seeded, stratified splitting of one table into train/validation/test (ratio or k-fold)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence


def _strata(keys: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        groups[key].append(index)
    return dict(sorted(groups.items()))


def ratio_split(keys: Sequence[str], ratios: Sequence[float], seed: int) -> dict[str, list[int]]:
    """Split row indices into train/validation/test with ``ratios``, stratified by ``keys``.

    Each stratum is shuffled with its own seeded RNG so adding a class does not reshuffle the others.
    Rounding leftovers go to train, so small strata never vanish from training.
    """
    out: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for stratum, indices in _strata(keys).items():
        rng = random.Random(f"{seed}:{stratum}")
        shuffled = list(indices)
        rng.shuffle(shuffled)
        n = len(shuffled)
        n_val = int(n * ratios[1])
        n_test = int(n * ratios[2])
        out["test"].extend(shuffled[:n_test])
        out["validation"].extend(shuffled[n_test : n_test + n_val])
        out["train"].extend(shuffled[n_test + n_val :])
    return {k: sorted(v) for k, v in out.items()}


def kfold_split(keys: Sequence[str], folds: int, fold: int, seed: int) -> dict[str, list[int]]:
    """Fold ``fold`` is test, fold ``fold + 1`` (mod k) validation, the rest train; stratified."""
    assignment = [0] * len(keys)
    for stratum, indices in _strata(keys).items():
        rng = random.Random(f"{seed}:{stratum}")
        shuffled = list(indices)
        rng.shuffle(shuffled)
        for position, index in enumerate(shuffled):
            assignment[index] = position % folds
    val_fold = (fold + 1) % folds
    out: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for index, f in enumerate(assignment):
        out["test" if f == fold else "validation" if f == val_fold else "train"].append(index)
    return out
