"""Moved to :mod:`trainer.tracking.references` (the one resolver); kept until every caller imports from there."""

from trainer.tracking.references import ResolvedSource, SourceError, resolve_source

__all__ = ["ResolvedSource", "SourceError", "resolve_source"]
