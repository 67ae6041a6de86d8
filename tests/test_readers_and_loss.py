"""Every data format prepares to the same examples as CSV; the module's loss is torch's; the collator pads to a multiple."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from pathlib import Path

import datasets
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from trainer.data import DataError, PreparedData, data_spec_from_dict, prepare_data
from trainer.data.datamodule import make_collator, make_loader
from trainer.data.labels import LabelMap
from trainer.models.sources import LoadedModel, ModelSpec, load_classifier
from trainer.training.module import ClassifierModule

from .conftest import data_config, write_csv

HEADER = ["id", "text", "lang", "label"]
# Made-up short texts: three topics in three languages, each text unique so nothing is dropped as a duplicate.
TOPICS = {
    "weather": {"en": "rain is expected", "fr": "il va pleuvoir", "de": "es wird regnen"},
    "food": {"en": "the soup is warm", "fr": "la soupe est chaude", "de": "die Suppe ist warm"},
    "travel": {"en": "the train is late", "fr": "le train est en retard", "de": "der Zug hat Verspätung"},
}
SPLIT_SIZES = {"train": 4, "validation": 2, "test": 2}


def _rows() -> dict[str, list[list[object]]]:
    """Per split: every topic in every language, ``SPLIT_SIZES[split]`` variants each; integer ids."""
    out: dict[str, list[list[object]]] = {}
    next_id = 1
    for split, n in SPLIT_SIZES.items():
        out[split] = []
        for label, by_lang in TOPICS.items():
            for lang, text in by_lang.items():
                for k in range(n):
                    out[split].append([next_id, f"{text} ({split} {k})", lang.upper(), label])
                    next_id += 1
    return out


ROWS = _rows()


def _frame(split: str) -> pd.DataFrame:
    return pd.DataFrame(ROWS[split], columns=HEADER)


def _write(tmp_path: Path, fmt: str) -> dict[str, str]:
    """The same rows as ``fmt``; returns data.files."""
    folder = tmp_path / fmt
    folder.mkdir()
    if fmt == "hf_disk":
        saved = datasets.DatasetDict({s: datasets.Dataset.from_pandas(_frame(s), preserve_index=False) for s in ROWS})
        saved.save_to_disk(str(folder / "saved"))
        return {s: str(folder / "saved") for s in ROWS}
    files = {}
    for split in ROWS:
        path = folder / f"{split}.{fmt}"
        if fmt == "csv":
            write_csv(path, HEADER, ROWS[split])
        elif fmt == "jsonl":
            path.write_text("".join(json.dumps(dict(zip(HEADER, r, strict=True))) + "\n" for r in ROWS[split]))
        else:
            _frame(split).to_parquet(path, index=False)
        files[split] = str(path)
    return files


def _spec(files: dict[str, str], fmt: str, **overrides: object) -> dict:
    return data_config(f"topics-{fmt}", files, format=fmt, **overrides)


def _examples(data: PreparedData) -> dict[str, list[tuple]]:
    return {s: [(e.id, e.text, e.lang, e.raw_label, e.label) for e in rows] for s, rows in data.splits.items()}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf_disk"])
def test_every_format_prepares_like_csv(tmp_path: Path, fmt: str) -> None:
    reference = prepare_data(data_spec_from_dict(_spec(_write(tmp_path, "csv"), "csv")))
    data = prepare_data(data_spec_from_dict(_spec(_write(tmp_path, fmt), fmt)))

    # The CSV reference itself follows the rows: sorted label names, every row kept, lower-cased languages.
    assert reference.label_map.names == tuple(sorted(TOPICS))
    assert reference.report.rows == {s: len(ROWS[s]) for s in ROWS}
    for split, rows in ROWS.items():
        expected = [(str(i), text, lang.lower(), label, sorted(TOPICS).index(label)) for i, text, lang, label in rows]
        assert _examples(reference)[split] == expected

    assert data.label_map == reference.label_map
    assert data.report.rows == reference.report.rows
    assert data.languages == reference.languages == ["de", "en", "fr"]
    assert _examples(data) == _examples(reference)


def test_hf_disk_missing_split_names_folder_and_split(tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    datasets.DatasetDict(
        {s: datasets.Dataset.from_pandas(_frame(s), preserve_index=False) for s in ("train", "test")}
    ).save_to_disk(str(folder))
    with pytest.raises(DataError) as info:
        prepare_data(data_spec_from_dict(_spec({s: str(folder) for s in ROWS}, "hf_disk")))
    message = str(info.value)
    assert str(folder) in message and "'validation'" in message
    assert "['train', 'test']" in message  # the splits the folder does have


def test_hf_disk_missing_path_names_the_path(tmp_path: Path) -> None:
    files = _write(tmp_path, "hf_disk")
    files["test"] = str(tmp_path / "no_such_saved_dataset")
    with pytest.raises(DataError, match=r"no_such_saved_dataset.*does not exist"):
        prepare_data(data_spec_from_dict(_spec(files, "hf_disk")))


def test_parquet_missing_column_names_file_column_and_key(tmp_path: Path) -> None:
    files = _write(tmp_path, "parquet")
    _frame("validation").rename(columns={"lang": "language"}).to_parquet(files["validation"], index=False)
    with pytest.raises(DataError) as info:
        prepare_data(data_spec_from_dict(_spec(files, "parquet")))
    message = str(info.value)
    assert "validation.parquet" in message and "'lang'" in message and "data.text_column" in message
    assert "language" in message  # the columns the file has


def test_a_folder_or_file_of_the_wrong_kind_is_a_data_error_naming_it(tmp_path: Path) -> None:
    files = _write(tmp_path, "hf_disk")
    (not_saved := tmp_path / "plain_folder").mkdir()
    with pytest.raises(DataError, match=r"plain_folder.*not a saved dataset"):
        prepare_data(data_spec_from_dict(_spec({**files, "test": str(not_saved)}, "hf_disk")))
    files = _write(tmp_path, "parquet")
    Path(files["train"]).write_text("id,text\n1,a csv file named .parquet\n")
    with pytest.raises(DataError, match=r"train\.parquet.*not a readable parquet file"):
        prepare_data(data_spec_from_dict(_spec(files, "parquet")))


def test_files_all_takes_the_only_split_and_refuses_to_pick_among_several(tmp_path: Path) -> None:
    ratio = {"strategy": "ratio", "ratios": [0.5, 0.25, 0.25], "seed": 3}
    one = tmp_path / "one"
    datasets.DatasetDict(
        {"everything": datasets.Dataset.from_pandas(_frame("train"), preserve_index=False)}
    ).save_to_disk(str(one))
    data = prepare_data(data_spec_from_dict(_spec({"all": str(one)}, "hf_disk", split=ratio)))
    assert sum(data.report.rows.values()) == len(ROWS["train"])  # every row of the one split, re-split

    several = tmp_path / "several"
    datasets.DatasetDict(
        {s: datasets.Dataset.from_pandas(_frame(s), preserve_index=False) for s in ("train", "test")}
    ).save_to_disk(str(several))
    with pytest.raises(DataError, match=r"several.*splits \['train', 'test'\]; data\.files\.all reads one"):
        prepare_data(data_spec_from_dict(_spec({"all": str(several)}, "hf_disk", split=ratio)))


# --- loss ---------------------------------------------------------------------------------------------

TINY = ModelSpec(
    name="tiny",
    source="tiny",
    tiny={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64},
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Callable[[LabelMap], LoadedModel]:
    """``tiny(label_map)``: the tiny classifier for that label map, built once per module (~1 s each: the
    250k-piece tokenizer dominates)."""
    cache = tmp_path_factory.mktemp("tiny_cache")
    return functools.cache(lambda label_map: load_classifier(TINY, label_map, cache))


def _module(loaded: LoadedModel, label_map: LabelMap, **kwargs: object) -> ClassifierModule:
    return ClassifierModule(loaded.model, label_map, ["en"], optimizer=torch.optim.AdamW, **kwargs)


def test_multiclass_loss_is_weighted_smoothed_cross_entropy(tiny: Callable[[LabelMap], LoadedModel]) -> None:
    label_map = LabelMap("multiclass", ("a", "b", "c"))
    weights, smoothing = [0.5, 1.0, 3.0], 0.1
    module = _module(tiny(label_map), label_map, class_weights=weights, label_smoothing=smoothing)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 3, generator=gen)
    targets = torch.randint(0, 3, (7,), generator=gen)

    expected = F.cross_entropy(logits, targets, weight=torch.tensor(weights), label_smoothing=smoothing)
    torch.testing.assert_close(module._loss(logits, targets), expected)
    # Weights and smoothing both change the value, so the comparison above can tell them apart.
    assert not torch.isclose(expected, F.cross_entropy(logits, targets, label_smoothing=smoothing))
    assert not torch.isclose(expected, F.cross_entropy(logits, targets, weight=torch.tensor(weights)))
    # Half-precision logits (bf16-mixed) are scored in fp32.
    half = logits.to(torch.bfloat16)
    torch.testing.assert_close(
        module._loss(half, targets),
        F.cross_entropy(half.float(), targets, weight=torch.tensor(weights), label_smoothing=smoothing),
    )


def test_multilabel_loss_is_bce_with_pos_weight(tiny: Callable[[LabelMap], LoadedModel]) -> None:
    label_map = LabelMap("multilabel", ("x", "y", "z"))
    pos_weight = [2.0, 1.0, 0.25]
    module = _module(tiny(label_map), label_map, pos_weight=pos_weight)
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 3, generator=gen)
    targets = torch.randint(0, 2, (6, 3), generator=gen).float()

    pw = torch.tensor(pos_weight)
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=pw)(logits, targets)
    # The same rule written out: mean over rows and labels of -(p * y * log s + (1 - y) * log(1 - s)).
    by_hand = -(pw * targets * F.logsigmoid(logits) + (1 - targets) * F.logsigmoid(-logits)).mean()
    torch.testing.assert_close(expected, by_hand)
    torch.testing.assert_close(module._loss(logits, targets), expected)
    assert not torch.isclose(expected, F.binary_cross_entropy_with_logits(logits, targets))


def test_binary_loss_is_two_logit_weighted_cross_entropy(tiny: Callable[[LabelMap], LoadedModel]) -> None:
    # Binary has two logits (LabelMap docs), so it is scored as 2-class cross-entropy with class_weights.
    label_map = LabelMap("binary", ("neg", "pos"), 1)
    loaded = tiny(label_map)
    assert loaded.model.config.num_labels == 2
    module = _module(loaded, label_map, class_weights=[1.0, 4.0])
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(8, 2, generator=gen)
    targets = torch.tensor([0, 1, 1, 0, 0, 0, 1, 0])
    expected = F.cross_entropy(logits, targets, weight=torch.tensor([1.0, 4.0]))
    torch.testing.assert_close(module._loss(logits, targets), expected)


def test_loss_weights_of_the_wrong_length_name_the_key(tiny: Callable[[LabelMap], LoadedModel]) -> None:
    label_map = LabelMap("multiclass", ("a", "b", "c"))
    loaded = tiny(label_map)
    with pytest.raises(ValueError, match=r"module\.class_weights has 2 values for 3 labels"):
        _module(loaded, label_map, class_weights=[1.0, 2.0])


@pytest.mark.parametrize(
    ("task", "setting"),
    [
        ("multilabel", {"class_weights": [1.0, 2.0, 3.0]}),
        ("multilabel", {"label_smoothing": 0.1}),
        ("multiclass", {"pos_weight": [1.0, 2.0, 3.0]}),
    ],
)
def test_a_loss_setting_the_task_does_not_use_is_refused(
    tiny: Callable[[LabelMap], LoadedModel], task: str, setting: dict[str, object]
) -> None:
    label_map = LabelMap(task, ("a", "b", "c"))
    (name,) = setting
    with pytest.raises(ValueError, match=rf"module\.{name} has no effect on a {task} task"):
        _module(tiny(label_map), label_map, **setting)


# --- collator -----------------------------------------------------------------------------------------


def test_collator_pads_each_batch_to_the_next_multiple(tiny: Callable[[LabelMap], LoadedModel]) -> None:
    label_map = LabelMap("multiclass", ("a", "b", "c"))  # the loss tests' model: one tokenizer load fewer
    tokenizer = tiny(label_map).tokenizer
    long_text = " ".join(TOPICS["travel"].values()) + " " + " ".join(TOPICS["food"].values())
    # Truncation to max_length is how tokenize_cached gives rows their lengths.
    lengths = [11, 5, 3]
    encoded = [tokenizer(long_text, truncation=True, max_length=n) for n in lengths]
    assert [len(e["input_ids"]) for e in encoded] == lengths
    ds = datasets.Dataset.from_dict(
        {
            "id": ["r11", "r5", "r3"],
            "lang_idx": [0, 1, 2],
            "labels": [1, 0, 1],
            "input_ids": [e["input_ids"] for e in encoded],
            "attention_mask": [e["attention_mask"] for e in encoded],
        }
    )
    multiple = 8
    batches = list(make_loader(ds, make_collator(tokenizer, multiple), batch_size=2))
    # Longest rows 11 and 3 -> widths 16 and 8.
    widths = [math.ceil(max(lengths[:2]) / multiple) * multiple, math.ceil(lengths[2] / multiple) * multiple]
    assert widths == [16, 8]
    assert [b["input_ids"].shape for b in batches] == [torch.Size([2, 16]), torch.Size([1, 8])]

    rows = [(b, i) for b in batches for i in range(len(b["input_ids"]))]
    for (batch, i), n, enc in zip(rows, lengths, encoded, strict=True):
        ids, mask = batch["input_ids"][i], batch["attention_mask"][i]
        assert ids[:n].tolist() == enc["input_ids"]  # right padding keeps the tokens in place
        assert mask[:n].eq(1).all() and mask[n:].eq(0).all()
        assert ids[n:].eq(tokenizer.pad_token_id).all()
    assert torch.cat([b["labels"] for b in batches]).tolist() == [1, 0, 1]
    assert torch.cat([b["lang_idx"] for b in batches]).tolist() == [0, 1, 2]
    assert "id" not in batches[0]

    # Without a multiple the batch is only as wide as its longest row.
    unpadded = next(iter(make_loader(ds, make_collator(tokenizer, None), batch_size=2)))
    assert unpadded["input_ids"].shape == torch.Size([2, 11])
