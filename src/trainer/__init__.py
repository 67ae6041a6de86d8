"""seaguard-trainer: fine-tune, track, export and compare multilingual extremist-content classifiers."""

__version__ = "0.1.0"
