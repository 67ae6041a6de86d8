"""The classical baseline every run is scored against: TF-IDF n-grams + a class-weighted linear model.

"Is the transformer better than a linear model?" The default recipe (``configs/classical/tfidf.yaml``):
word 1–2 and char 2–5 TF-IDF (sublinear tf) + class-weighted logistic regression, C chosen on the
validation split by the run's main metric. ``configs/classical/organisers.yaml`` is the GermEval
organisers' recipe (word uni+bigrams, 5,000 terms, class-weighted linear SVM). It is fitted on the same
prepared splits (the normalised texts of :class:`~trainer.data.prepare.PreparedData`) the transformer
reads, so its test predictions pair with the model's row by row. Binary and multiclass tasks get one
classifier; multi-label tasks one per label (one-vs-rest).

Decisions are the argmax (single-label) or score >= 0.5 (multi-label): no tuned thresholds, so a saved
prediction file is read back with ``thresholds=None``. A linear SVM's margins become scores through a
softmax / sigmoid, which keeps those decisions.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

from trainer.data.labels import LabelMap
from trainer.data.spec import ConfigError
from trainer.runs.folder import CLASSICAL_BASELINE
from trainer.scoring.metrics import compute_metrics

log = logging.getLogger(__name__)

# The prefix of its metrics (``baseline_tfidf_test/...``) and of its prediction file.
NAME = CLASSICAL_BASELINE
CLASSIFIERS = ("logistic_regression", "linear_svc")


@dataclass(frozen=True)
class ClassicalSettings:
    """``configs/classical/*.yaml``: the recipe. ``word_ngrams`` / ``char_ngrams`` null: no such features."""

    enabled: bool = True
    word_ngrams: tuple[int, int] | None = (1, 2)
    char_ngrams: tuple[int, int] | None = (2, 5)
    sublinear_tf: bool = True
    lowercase: bool = True
    min_df: int = 1
    # Per vectoriser: the most frequent terms kept (null: all). Caps memory and time on large sets.
    max_features: int | None = 50_000
    classifier: str = "logistic_regression"
    class_weight: str | None = "balanced"
    # One candidate: no search. Several: the best on validation by the run's main metric (ties: the smaller C).
    c_grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0)
    max_iter: int = 2000

    def __post_init__(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise ConfigError(f"classical.classifier={self.classifier!r} must be one of {list(CLASSIFIERS)}")
        if self.enabled and self.word_ngrams is None and self.char_ngrams is None:
            raise ConfigError("classical.word_ngrams and classical.char_ngrams are both null: no features")
        if not self.c_grid or min(self.c_grid) <= 0:
            raise ConfigError(f"classical.c_grid={list(self.c_grid)} must hold at least one C > 0")
        for key in ("word_ngrams", "char_ngrams"):
            value = getattr(self, key)
            if value is not None and (len(value) != 2 or not 1 <= value[0] <= value[1]):
                raise ConfigError(f"classical.{key}={list(value)} must be [low, high] with 1 <= low <= high")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> ClassicalSettings:
        """From the ``classical`` group (absent: the default recipe); unknown keys fail naming them."""
        values = dict(values or {})
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise ConfigError(f"unknown key(s) {[f'classical.{k}' for k in unknown]}; allowed: {sorted(allowed)}")
        for key in ("word_ngrams", "char_ngrams", "c_grid"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)


@dataclass
class ClassicalResult:
    """The fitted baseline's scores on validation and test (label-map column order) and its metrics."""

    chosen_c: float
    validation_probs: torch.Tensor
    test_probs: torch.Tensor
    validation: dict[str, Any]
    test: dict[str, Any]
    fit_seconds: float
    search: dict[str, float]

    def metrics(self, settings: ClassicalSettings) -> dict[str, Any]:
        """``baseline_tfidf_val`` and ``baseline_tfidf_test`` for ``metrics.json`` (and MLflow)."""
        recipe = {**asdict(settings), "chosen_c": self.chosen_c, "c_search": self.search, "fit_s": self.fit_seconds}
        return {f"{NAME}_val": {**self.validation, "recipe": recipe}, f"{NAME}_test": {**self.test, "recipe": recipe}}


@dataclass(frozen=True)
class SplitTexts:
    """One split as the baseline reads it: normalised texts, targets (indices or multi-hot) and languages."""

    texts: Sequence[str]
    labels: Sequence[Any]
    langs: Sequence[str]

    def targets(self, label_map: LabelMap) -> torch.Tensor:
        dtype = torch.float if label_map.task == "multilabel" else torch.long
        return torch.tensor(list(self.labels), dtype=dtype)


def vectoriser(s: ClassicalSettings) -> FeatureUnion:
    """Word and/or char TF-IDF side by side (``FeatureUnion`` stacks their columns)."""
    common = {"sublinear_tf": s.sublinear_tf, "lowercase": s.lowercase, "min_df": s.min_df}
    parts = []
    if s.word_ngrams is not None:
        parts.append(
            ("word", TfidfVectorizer(analyzer="word", ngram_range=s.word_ngrams, max_features=s.max_features, **common))
        )
    if s.char_ngrams is not None:
        parts.append(
            (
                "char",
                TfidfVectorizer(analyzer="char_wb", ngram_range=s.char_ngrams, max_features=s.max_features, **common),
            )
        )
    return FeatureUnion(parts, n_jobs=1)


def _estimator(s: ClassicalSettings, multilabel: bool) -> Any:
    """The classifier; :func:`_with_c` sets its C. No warm start across the grid: lbfgs started from the
    previous C's solution stopped early (C=3 and C=10 came out identical on GermEval)."""
    if s.classifier == "linear_svc":
        model: Any = LinearSVC(class_weight=s.class_weight, max_iter=s.max_iter)
    elif multilabel:  # liblinear's dual solver: fast for one binary problem per label, features >> rows
        model = LogisticRegression(class_weight=s.class_weight, max_iter=s.max_iter, solver="liblinear", dual=True)
    else:  # one multinomial model over every class
        model = LogisticRegression(class_weight=s.class_weight, max_iter=s.max_iter)
    return OneVsRestClassifier(model, n_jobs=1) if multilabel else model


def _with_c(model: Any, c: float) -> Any:
    return model.set_params(**({"estimator__C": c} if isinstance(model, OneVsRestClassifier) else {"C": c}))


def _scores(model: Any, x: sparse.csr_matrix, label_map: LabelMap) -> torch.Tensor:
    """Scores in label-map column order; a class absent from training gets 0."""
    k = label_map.num_labels
    if label_map.task == "multilabel":
        raw = model.predict_proba(x) if hasattr(model, "predict_proba") else _sigmoid(model.decision_function(x))
        return torch.tensor(np.asarray(raw), dtype=torch.float32)
    if hasattr(model, "predict_proba"):
        seen = model.predict_proba(x)
    else:  # linear SVM: margins → softmax (binary: sigmoid of the one margin), argmax unchanged
        margin = model.decision_function(x)
        seen = np.stack([-margin, margin], axis=1) / 2 if margin.ndim == 1 else margin
        seen = np.exp(seen - seen.max(axis=1, keepdims=True))
        seen /= seen.sum(axis=1, keepdims=True)
    out = np.zeros((x.shape[0], k), dtype=np.float32)
    out[:, np.asarray(model.classes_, dtype=np.int64)] = seen
    return torch.from_numpy(out)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def trainable(train: SplitTexts, label_map: LabelMap) -> str | None:
    """Why the baseline cannot be fitted on ``train`` (fewer than two classes), or None."""
    if label_map.task == "multilabel":
        y = np.asarray(list(train.labels), dtype=np.int64)
        return None if len(y) and (y.sum(axis=0) > 0).any() else "no label has a positive training row"
    return None if len(set(train.labels)) >= 2 else "fewer than two classes in the training split"


def _main(probs: torch.Tensor, split: SplitTexts, label_map: LabelMap, main_metric: str) -> float:
    m = compute_metrics(probs, split.targets(label_map), split.langs, label_map, None, main_metric)
    return float(m["overall"].get(main_metric) or 0.0)


def fit_classical(
    train: SplitTexts,
    validation: SplitTexts,
    test: SplitTexts,
    label_map: LabelMap,
    settings: ClassicalSettings,
    main_metric: str,
) -> ClassicalResult | None:
    """Fit on train, pick C on validation by ``main_metric``, score validation and test.

    None (with a warning) when the training split cannot train a classifier.
    """
    reason = trainable(train, label_map)
    if reason is not None:
        log.warning("classical baseline skipped: %s", reason)
        return None
    started = time.perf_counter()
    features = vectoriser(settings)
    x_train = features.fit_transform(list(train.texts))
    x_val, x_test = features.transform(list(validation.texts)), features.transform(list(test.texts))
    y = np.asarray(list(train.labels), dtype=np.int64)
    search: dict[str, float] = {}
    best: tuple[float, float, Any] | None = None
    model = _estimator(settings, label_map.task == "multilabel")
    for c in sorted(settings.c_grid):
        _with_c(model, c).fit(x_train, y)
        score = _main(_scores(model, x_val, label_map), validation, label_map, main_metric)
        search[f"{c:g}"] = score
        if best is None or score > best[0] + 1e-12:
            best = (score, c, copy.deepcopy(model))
    assert best is not None  # c_grid is never empty (ClassicalSettings checks it)
    _, chosen, model = best
    val_probs, test_probs = _scores(model, x_val, label_map), _scores(model, x_test, label_map)
    return ClassicalResult(
        chosen_c=float(chosen),
        validation_probs=val_probs,
        test_probs=test_probs,
        validation=compute_metrics(
            val_probs, validation.targets(label_map), validation.langs, label_map, None, main_metric
        ),
        test=compute_metrics(test_probs, test.targets(label_map), test.langs, label_map, None, main_metric),
        fit_seconds=round(time.perf_counter() - started, 3),
        search=search,
    )
