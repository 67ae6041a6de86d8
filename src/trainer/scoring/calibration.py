"""Temperature scaling (Guo et al., 2017) and expected calibration error.

One scalar T divides the logits; it is fitted on validation by minimising the negative log-likelihood,
so accuracy (argmax) is unchanged while confidence becomes honest. For multi-label tasks T is shared
by all sigmoid outputs.
"""

from __future__ import annotations

import torch


def _nll(logits: torch.Tensor, labels: torch.Tensor, multilabel: bool) -> torch.Tensor:
    if multilabel:
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float())
    return torch.nn.functional.cross_entropy(logits, labels.long())


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, multilabel: bool = False, max_iter: int = 200) -> float:
    """The T > 0 minimising validation NLL of ``logits / T`` (optimised in log space, LBFGS)."""
    logits = logits.detach().clone().double()  # may come from inference_mode
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    labels = labels.detach().clone()
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = _nll(logits / log_t.exp(), labels, multilabel)
        loss.backward()
        return loss

    optimizer.step(closure)
    t = float(log_t.detach().exp())
    # A degenerate validation set (all correct, tiny) can push T to extremes: keep it sane.
    return min(max(t, 0.05), 20.0)


def probabilities(logits: torch.Tensor, multilabel: bool, temperature: float = 1.0) -> torch.Tensor:
    scaled = logits.float() / temperature
    return torch.sigmoid(scaled) if multilabel else scaled.softmax(dim=-1)


def reliability_bins(
    probs: torch.Tensor, labels: torch.Tensor, multilabel: bool, n_bins: int = 15
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per equal-width confidence bin: mean confidence, accuracy, count.

    Single-label: confidence of the predicted class vs whether it is right. Multi-label: every
    (row, label) probability vs whether that label is present.
    """
    if multilabel:
        conf = probs.flatten()
        correct = labels.flatten().float()
    else:
        conf, pred = probs.max(dim=-1)
        correct = (pred == labels.long()).float()
    edges = torch.linspace(0, 1, n_bins + 1)
    index = torch.clamp(torch.bucketize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    count = torch.bincount(index, minlength=n_bins).float()
    conf_sum = torch.zeros(n_bins).index_add_(0, index, conf.float())
    acc_sum = torch.zeros(n_bins).index_add_(0, index, correct)
    safe = count.clamp(min=1)
    return conf_sum / safe, acc_sum / safe, count


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, multilabel: bool, n_bins: int = 15) -> float:
    """ECE: count-weighted mean |accuracy − confidence| over equal-width bins."""
    conf, acc, count = reliability_bins(probs, labels, multilabel, n_bins)
    total = count.sum()
    return float(((acc - conf).abs() * count).sum() / total) if total > 0 else 0.0


def calibrate(
    val_logits: torch.Tensor,
    val_labels: torch.Tensor,
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    task: str,
    mode: str | bool = "auto",
    n_bins: int = 15,
) -> dict[str, object]:
    """Fit T on validation when ``mode`` says so and report ECE before/after for every split.

    ``mode``: ``auto`` (on for multiclass only: binary and multi-label decisions already use tuned
    thresholds), ``true`` or ``false``.
    """
    if mode not in ("auto", True, False, "true", "false"):
        raise ValueError(f"calibration.temperature_scaling must be auto, true or false, got {mode!r}")
    enabled = task == "multiclass" if mode == "auto" else mode in (True, "true")
    multilabel = task == "multilabel"
    temperature = fit_temperature(val_logits, val_labels, multilabel) if enabled else 1.0
    report: dict[str, object] = {
        "method": "temperature_scaling" if enabled else "none",
        "temperature": temperature,
        "fitted_on": "validation" if enabled else None,
        "n_bins": n_bins,
    }
    for name, (logits, labels) in splits.items():
        before = expected_calibration_error(probabilities(logits, multilabel), labels, multilabel, n_bins)
        after = expected_calibration_error(probabilities(logits, multilabel, temperature), labels, multilabel, n_bins)
        report[f"ece_before/{name}"] = before
        report[f"ece_after/{name}"] = after
    return report
