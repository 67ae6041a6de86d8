"""Comparing runs on evidence: what a run's saved predictions say (evidence), the statistics (stats), runs
against a baseline (pairwise), the report (report), and the rules that move the champion alias (promotion)."""
