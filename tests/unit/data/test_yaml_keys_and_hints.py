"""YAML's booleans in label maps (issue 14 §1) and the Hydra overrides that label errors suggest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from tests.conftest import data_config, write_csv
from trainer.config import compose, to_container
from trainer.data import ConfigError, DataError, data_spec_from_dict, prepare_data
from trainer.data.labels import mapping_hint

HEADER = ["id", "text", "lang", "label"]


def _from_yaml(text: str, tmp_path: Path) -> Any:
    """The data config as Hydra hands it over: parsed by OmegaConf's YAML loader."""
    files = {s: str(tmp_path / f"{s}.csv") for s in ("train", "validation", "test")}
    values = {**data_config("y", files, task="binary"), **to_container(OmegaConf.create(text))}
    return data_spec_from_dict(values)


def test_an_unquoted_no_key_fails_saying_to_quote_it(tmp_path: Path) -> None:
    """`label_names: {no: no_hate}` arrived as {False: ...}: every `no` row went unmapped."""
    with pytest.raises(ConfigError) as info:
        _from_yaml("label_names: {no: no_hate, yes: hate}", tmp_path)
    message = str(info.value)
    assert "data.label_names has the key False" in message and '"no": no_hate' in message
    with pytest.raises(ConfigError, match=r'key True.*"yes": hate'):
        _from_yaml("label_names: {'no': no_hate, yes: hate}", tmp_path)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("label_names: {1.5: half}", r"key 1\.5, not text.*\"1\.5\": half"),
        ("label_names: {'0': no}", r"data\.label_names\.0 is False.*quote it.*\"0\": \"False\""),
        ("label_names: {1: one, '1': also_one}", r"names '1' twice"),
        ("language: no", r"data\.language is False.*unquoted no"),
        ("positive_label: yes", r"data\.positive_label is True"),
    ],
)
def test_other_yaml_values_that_are_not_text_fail_naming_the_key(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        _from_yaml(text, tmp_path)


def test_integer_keys_map_to_their_digits(tmp_path: Path) -> None:
    rows = {s: [[f"{s}{i}", f"{s} post {i}", "en", i % 2] for i in range(6)] for s in ("train", "validation", "test")}
    for split, split_rows in rows.items():
        write_csv(tmp_path / f"{split}.csv", HEADER, split_rows)
    spec = _from_yaml("label_names: {0: not_hs, 1: hs}\npositive_label: hs", tmp_path)
    assert spec.label_names == {"0": "not_hs", "1": "hs"}
    assert prepare_data(spec).label_map.names == ("hs", "not_hs")


def test_a_label_names_key_no_row_has_is_named_in_the_zero_examples_error(tmp_path: Path) -> None:
    """`010:` is octal 8 in YAML: the class it names has no rows, and the error says which key missed."""
    for split in ("train", "validation", "test"):
        write_csv(
            tmp_path / f"{split}.csv", HEADER, [[f"{split}{i}", f"p {i}", "en", ("010", "1")[i % 2]] for i in range(4)]
        )
    with pytest.raises(
        DataError, match=r"\['ten'\] have zero training examples \(no training row has the raw label\(s\) \['8'\]"
    ):
        prepare_data(_from_yaml("label_names: {010: ten, 1: one}", tmp_path))


# -- the label-mapping hints carry Hydra's "+" -------------------------------------------------------
def test_mapping_hint_names_every_unmapped_label_with_a_plus() -> None:
    names = ("a", "b")
    hint = mapping_hint(["a", "x", ("y", "a"), "x"], names, {"z": "a"})
    assert hint == " of the model; map them with +label_mapping.x=<model label>, +label_mapping.y=<model label>"
    assert mapping_hint(["x"], names, {}) == " of the model; map it with +label_mapping.x=<model label>"
    assert mapping_hint(["x"], names, {"x": "a"}) == ""


def test_an_unknown_validation_label_suggests_a_plus_override_hydra_accepts(tmp_path: Path) -> None:
    for split in ("train", "validation", "test"):
        labels = ("neutral", "maybe") if split == "validation" else ("neutral", "propaganda")
        write_csv(
            tmp_path / f"{split}.csv", HEADER, [[f"{split}{i}", f"{split} {i}", "en", labels[i % 2]] for i in range(4)]
        )
    files = {s: str(tmp_path / f"{s}.csv") for s in ("train", "validation", "test")}
    with pytest.raises(DataError) as info:
        prepare_data(data_spec_from_dict(data_config("h", files)))
    message = str(info.value)
    assert "map it with +data.label_names.maybe=<a label>" in message
    # The suggested override composes on a shipped data config (a plain "data.label_names.maybe=" would not).
    cfg = compose("train", ["data=demo", "+data.label_names.maybe=neutral"])
    assert cfg.data.label_names == {"maybe": "neutral"}
