"""General data-layer features the real benchmarks needed: several files per split, and a default label name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_csv
from trainer.data import data_spec_from_dict, prepare_data
from trainer.data.spec import ConfigError

HEADER = ["id", "tweet", "sentiment"]


def _lang_file(tmp_path: Path, lang: str, n: int = 20) -> str:
    labels = ["normal", "offensive", "hateful_normal", "offensive_hateful"]
    rows = [[i, f"{lang} post number {i}", labels[i % 4]] for i in range(n)]
    return str(write_csv(tmp_path / f"{lang}_dataset.csv", HEADER, rows))


def _spec(tmp_path: Path, **overrides: object) -> dict:
    values = {
        "name": "multi",
        "task": "multilabel",
        "text_column": "tweet",
        "id_column": "id",
        "label_column": "sentiment",
        "label_delimiter": "_",
        "files": {
            "all": [
                {"path": _lang_file(tmp_path, "ar"), "language": "ar"},
                {"path": _lang_file(tmp_path, "en"), "language": "en"},
                _lang_file(tmp_path, "fr"),
            ]
        },
        "language": "fr",
        "split": {"strategy": "ratio", "ratios": [0.5, 0.25, 0.25], "seed": 1},
    }
    values.update(overrides)
    return values


def test_files_of_a_split_are_concatenated_with_their_languages(tmp_path: Path) -> None:
    data = prepare_data(data_spec_from_dict(_spec(tmp_path)))
    rows = [e for split in data.splits.values() for e in split]
    assert len(rows) == 60
    # A file's own language, else data.language.
    assert {e.lang for e in rows} == {"ar", "en", "fr"}
    assert all(e.text.startswith(e.lang) for e in rows)
    # Ids repeat across files, so each gets its file's name.
    assert len({e.id for e in rows}) == 60 and {e.id.split(":")[0] for e in rows} == {
        "ar_dataset",
        "en_dataset",
        "fr_dataset",
    }
    assert data.label_map.names == ("hateful", "normal", "offensive")
    assert set(data.file_digests) == {"all"}
    assert data.spec.resolve_path("all") == tmp_path  # the folder that holds them all


def test_the_digest_follows_every_file(tmp_path: Path) -> None:
    spec = data_spec_from_dict(_spec(tmp_path))
    before = prepare_data(spec).digest
    with open(tmp_path / "en_dataset.csv", "a", encoding="utf-8") as fh:
        fh.write("99,en one more post,normal\n")
    assert prepare_data(spec).digest != before


def test_a_bad_file_entry_names_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.files\.all\[1\]"):
        data_spec_from_dict(_spec(tmp_path, files={"all": [_lang_file(tmp_path, "ar"), {"file": "x.csv"}]}))
    with pytest.raises(ConfigError, match=r"data\.files\.all is an empty list"):
        data_spec_from_dict(_spec(tmp_path, files={"all": []}))


def test_star_names_every_unlisted_label_value(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        task="binary",
        label_delimiter=None,
        positive_label="toxic",
        label_names={"normal": "non_toxic", "*": "toxic"},
    )
    data = prepare_data(data_spec_from_dict(spec))
    assert data.label_map.names == ("non_toxic", "toxic") and data.label_map.positive_label == "toxic"
    counts = {name: sum(data.report.label_counts[s][name] for s in data.splits) for name in data.label_map.names}
    # Only the single-label "normal" rows are non-toxic; "hateful_normal" is toxic.
    assert counts == {"non_toxic": 15, "toxic": 45}
