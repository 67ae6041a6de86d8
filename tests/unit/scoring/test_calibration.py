from __future__ import annotations

import torch

from trainer.scoring.calibration import calibrate, expected_calibration_error, fit_temperature, probabilities


def _overconfident(n: int = 4000, true_t: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels drawn from softmax(z), logits reported as z * true_t: T = true_t undoes it."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(n, 4, generator=g) * 1.5
    labels = torch.multinomial(z.softmax(-1), 1, generator=g).squeeze(1)
    return z * true_t, labels


def test_temperature_recovers_known_overconfidence_and_lowers_ece() -> None:
    logits, labels = _overconfident()
    t = fit_temperature(logits, labels)
    assert 2.6 < t < 3.4
    before = expected_calibration_error(probabilities(logits, False), labels, False)
    after = expected_calibration_error(probabilities(logits, False, t), labels, False)
    assert after < before / 2
    # Argmax (accuracy) is unchanged by a positive temperature.
    assert torch.equal(probabilities(logits, False, t).argmax(-1), logits.argmax(-1))


def test_calibrate_auto_is_multiclass_only() -> None:
    logits, labels = _overconfident(500)
    report = calibrate(logits, labels, {"validation": (logits, labels)}, "multiclass", "auto")
    assert report["method"] == "temperature_scaling" and report["temperature"] > 1.5
    assert report["ece_after/validation"] < report["ece_before/validation"]
    ml_logits = torch.randn(50, 3)
    ml_labels = (torch.rand(50, 3) > 0.5).float()
    off = calibrate(ml_logits, ml_labels, {"validation": (ml_logits, ml_labels)}, "multilabel", "auto")
    assert off["method"] == "none" and off["temperature"] == 1.0


def test_perfectly_calibrated_scores_have_near_zero_ece() -> None:
    g = torch.Generator().manual_seed(1)
    p = torch.rand(20000, generator=g)
    labels = (torch.rand(20000, generator=g) < p).float()
    assert expected_calibration_error(p[:, None], labels[:, None], multilabel=True) < 0.02
