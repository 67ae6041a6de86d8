"""Evaluation: one model scored on one split of any data, written as a folder of a run folder's shape."""
