"""What a bundle promises its callers, as data: the graph's input/output contract (``manifest.json``) and the one
rule from logits to a decision (``labels.json``'s ``decision`` block, the bundle README). Stdlib only."""

from __future__ import annotations

from typing import Any

from trainer.data.labels import LabelMap


def contract(
    task: str, label_names: list[str], input_names: list[str], max_length: int, temperature: float
) -> dict[str, Any]:
    """What a caller feeds the graph and how to read what comes out."""
    shape = ["batch", "sequence"]
    meaning = {
        "input_ids": "token ids from tokenizer.json, padded with its pad id, truncated to max_length",
        "attention_mask": "1 for real tokens, 0 for padding",
        "token_type_ids": "all zeros (single-segment input)",
    }
    if task == "multilabel":
        scores = f"sigmoid(logits / {temperature:g}) per label; label k is on when its score >= thresholds[k]"
    elif task == "binary":
        scores = (
            f"softmax(logits / {temperature:g}); the positive label wins when its score >= thresholds[0], "
            "otherwise the other label"
        )
    else:
        scores = f"softmax(logits / {temperature:g}); the prediction is the argmax"
    return {
        "inputs": [{"name": n, "dtype": "int64", "shape": shape, "meaning": meaning[n]} for n in input_names],
        "outputs": [
            {
                "name": "logits",
                "dtype": "float32",
                "shape": ["batch", len(label_names)],
                "meaning": f"unnormalised scores in labels.json order {label_names}; {scores}",
            }
        ],
        "max_length": max_length,
        "temperature": temperature,
        "task": task,
        "labels": label_names,
    }


def decision_rule(label_map: LabelMap, thresholds: list[float] | None, temperature: float) -> dict[str, Any]:
    """From logits to a decision, once, as data and words (``labels.json``'s ``decision``, the README).

    The same rule as :func:`trainer.serving.predictor.decide` (and so as training's ``predict_labels``).
    """
    names, task, t = list(label_map.names), label_map.task, f"{temperature:g}"
    block: dict[str, Any] = {"task": task, "labels": names, "temperature": temperature}
    arithmetic = (
        "float32 logits; scores computed in float64, rounded to float32; float32 thresholds; equal counts as reached"
    )
    if task == "multilabel":
        per_label = thresholds if thresholds is not None else [0.5] * len(names)
        block |= {"activation": "sigmoid", "thresholds": dict(zip(names, per_label, strict=True))}
        rule = f"score_k = sigmoid(logit_k / {t}); label k is on when score_k >= thresholds[k] (none, one or several)"
        ties = "none: each label is decided on its own"
    elif task == "binary":
        pos = names[label_map.positive_index] if label_map.positive_index is not None else None
        threshold = thresholds[0] if thresholds is not None else 0.5
        other = next((n for n in names if n != pos), None)
        block |= {"activation": "softmax", "positive_label": pos, "thresholds": {pos: threshold}}
        rule = (
            f"scores = softmax(logits / {t}) (subtract the row's max logit first); the label is {pos!r} when "
            f"score[{pos!r}] >= {threshold:g}, otherwise {other!r}"
        )
        ties = f"a positive score exactly at the threshold is {pos!r}"
    else:
        block |= {"activation": "softmax", "thresholds": None}
        rule = f"scores = softmax(logits / {t}) (subtract the row's max logit first); the label is the argmax"
        ties = "equal top scores: the first of them in label order"
    return block | {"rule": rule, "ties": ties, "arithmetic": arithmetic}
