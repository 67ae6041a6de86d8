"""Scoring: the one metric code path, calibration, baselines, figures, per-row prediction files, scorers (texts → logits)."""
