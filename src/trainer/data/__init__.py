"""Data: spec → read → validate/normalise → split → label map → report → tokenise (cached)."""

from trainer.data.labels import LabelMap
from trainer.data.prepare import PreparedData, prepare_data
from trainer.data.reader import DataError
from trainer.data.spec import ConfigError, DataSpec, data_spec_from_dict

__all__ = ["ConfigError", "DataError", "DataSpec", "LabelMap", "PreparedData", "data_spec_from_dict", "prepare_data"]
