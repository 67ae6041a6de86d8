"""Serving (torch-free): the bundle format, the precision table, the reference predictor, smoke checks."""
