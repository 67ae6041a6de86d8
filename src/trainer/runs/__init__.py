"""The run folder: its one owner (RunFolder: file names, readers, writers) and where a result came from (provenance)."""
