"""The MLflow pyfunc of a trained classifier: raw text in, label and per-class scores out.

Logged as *models from code* (MLflow 3 refuses to unpickle a model unless told to): MLflow copies this
file into the model and runs it on load, and ``mlflow.models.set_model`` at the bottom names the model
object. The ``trainer`` package travels with the model (``code_paths``), so loading needs no checkout,
and prediction goes through the same normaliser (:func:`normalize_text`) and the same decision rule
(:func:`predict_labels`) as training and evaluation.

Input: a list of strings, or a one-column DataFrame of texts (e.g. ``text``). The logged signature
declares one unnamed string column, which MLflow accepts in both forms.
Output columns, as in the run folder's ``predictions/*.csv``: ``label`` (the class; for multi-label
tasks the positive labels joined by ``|``, empty when none) and ``score:<label>`` per class (softmax
or sigmoid probability after the run's temperature scaling).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import torch
from mlflow.pyfunc import PythonModel
from transformers import AutoTokenizer

from trainer.data.labels import LabelMap
from trainer.data.normalize import NormalizerConfig, normalize_text
from trainer.models.pooling import load_saved_classifier
from trainer.scoring.calibration import probabilities
from trainer.scoring.metrics import predict_labels

# Keys of the pyfunc's ``artifacts``: what load_context finds in ``context.artifacts``.
MODEL_DIR, LABELS, THRESHOLDS, INFERENCE = "model_dir", "labels", "thresholds", "inference"
TEXT_COLUMN = "text"
MULTILABEL_SEPARATOR = "|"


class TextClassifier:
    """A transformers classifier with the run's label map, thresholds, normaliser and max length."""

    def __init__(
        self,
        model_dir: Path,
        label_map: LabelMap,
        thresholds: Sequence[float] | None,
        normalizer: NormalizerConfig,
        max_length: int,
        temperature: float = 1.0,
        batch_size: int = 32,
    ) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        # With the head it was trained with (model.pooling=mean is not the stock class).
        self.model = load_saved_classifier(model_dir).eval()
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        self.label_map = label_map
        self.thresholds = list(thresholds) if thresholds is not None else None
        self.normalizer = normalizer
        self.max_length = max_length
        self.temperature = temperature
        self.batch_size = batch_size

    @classmethod
    def from_files(
        cls, model_dir: str | Path, labels: str | Path, thresholds: str | Path, inference: str | Path
    ) -> TextClassifier:
        """From a run folder's ``model/``, ``labels.json``, ``thresholds.json`` and an inference JSON
        (``{"normalizer": {...}, "max_length": n, "temperature": t}``, from :func:`inference_settings`)."""
        settings = json.loads(Path(inference).read_text(encoding="utf-8"))
        known = {f.name for f in fields(NormalizerConfig)}
        unknown = sorted(set(settings["normalizer"]) - known)
        if unknown:
            raise ValueError(f"{inference}: unknown normalizer keys {unknown} (known: {sorted(known)})")
        return cls(
            Path(model_dir),
            LabelMap.load(Path(labels)),
            json.loads(Path(thresholds).read_text(encoding="utf-8"))["thresholds"],
            NormalizerConfig(**settings["normalizer"]),
            int(settings["max_length"]),
            float(settings.get("temperature", 1.0)),
        )

    @torch.inference_mode()
    def scores(self, texts: Sequence[str]) -> torch.Tensor:
        """Class probabilities ``(n, k)`` of ``texts``: the run's normaliser, then its calibrated softmax/sigmoid."""
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = [normalize_text(t, self.normalizer) for t in texts[start : start + self.batch_size]]
            enc = self.tokenizer(
                batch, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
            ).to(self.device)
            logits = self.model(**enc).logits
            out.append(probabilities(logits, self.label_map.task == "multilabel", self.temperature).cpu())
        return torch.cat(out) if out else torch.zeros(0, self.label_map.num_labels)

    def predict(self, texts: Sequence[str]) -> pd.DataFrame:
        probs = self.scores(texts)
        decided = predict_labels(probs, self.label_map, self.thresholds)
        names = self.label_map.names
        if self.label_map.task == "multilabel":
            labels = [
                MULTILABEL_SEPARATOR.join(n for n, on in zip(names, row, strict=True) if on) for row in decided.tolist()
            ]
        else:
            labels = [names[i] for i in decided.tolist()]
        frame = {"label": labels}
        for i, name in enumerate(names):
            frame[f"score:{name}"] = probs[:, i].double().tolist()
        return pd.DataFrame(frame)


def inference_settings(normalizer: NormalizerConfig, max_length: int, temperature: float = 1.0) -> dict[str, Any]:
    """What prediction needs besides weights, labels and thresholds; saved as the ``inference`` artifact.

    ``temperature`` is the calibration fitted on validation: thresholds were tuned on calibrated
    probabilities, so prediction must divide the logits by the same value.
    """
    return {
        "normalizer": {f.name: getattr(normalizer, f.name) for f in fields(NormalizerConfig)},
        "max_length": max_length,
        "temperature": temperature,
    }


def texts_from_input(model_input: Any) -> list[str]:
    """A DataFrame with a ``text`` column (or one column), a Series, a list of strings or ``{"text": [...]}``."""
    if isinstance(model_input, pd.DataFrame):
        if TEXT_COLUMN in model_input.columns:
            return [str(t) for t in model_input[TEXT_COLUMN].tolist()]
        if len(model_input.columns) == 1:
            return [str(t) for t in model_input.iloc[:, 0].tolist()]
        raise ValueError(f"input DataFrame needs a {TEXT_COLUMN!r} column, got columns {list(model_input.columns)}")
    if isinstance(model_input, pd.Series):
        return [str(t) for t in model_input.tolist()]
    if isinstance(model_input, dict) and TEXT_COLUMN in model_input:
        return texts_from_input(list(model_input[TEXT_COLUMN]))
    if isinstance(model_input, str):
        return [model_input]
    if isinstance(model_input, Sequence) or hasattr(model_input, "tolist"):
        items = model_input.tolist() if hasattr(model_input, "tolist") else list(model_input)
        return [str(t) for t in items]
    raise ValueError(f"cannot read texts from input of type {type(model_input).__name__}")


class TextClassifierPyfunc(PythonModel):
    """``mlflow.pyfunc.load_model(uri).predict(["some post", ...])`` → DataFrame of labels and scores."""

    def load_context(self, context: Any) -> None:
        a = context.artifacts
        self.classifier = TextClassifier.from_files(a[MODEL_DIR], a[LABELS], a[THRESHOLDS], a[INFERENCE])

    # A DataFrame hint: MLflow enforces the logged signature and hands over a DataFrame (a list of
    # strings arrives as its single column). A list[str] hint would replace that signature with one
    # derived from the hint, whose output is "Any".
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.classifier.predict(texts_from_input(model_input))


# Runs when MLflow loads this file as the model's code (and, harmlessly, on a plain import).
mlflow.models.set_model(TextClassifierPyfunc())
