"""The collator pads each batch to the next multiple, right-padded, ids out of the batch."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import datasets
import pytest
import torch

from trainer.data.datamodule import make_collator, make_loader
from trainer.data.labels import LabelMap
from trainer.models.sources import LoadedModel, ModelSpec, load_classifier

HEADER = ["id", "text", "lang", "label"]
# Made-up short texts: three topics in three languages, each text unique so nothing is dropped as a duplicate.
TOPICS = {
    "weather": {"en": "rain is expected", "fr": "il va pleuvoir", "de": "es wird regnen"},
    "food": {"en": "the soup is warm", "fr": "la soupe est chaude", "de": "die Suppe ist warm"},
    "travel": {"en": "the train is late", "fr": "le train est en retard", "de": "der Zug hat Verspätung"},
}
SPLIT_SIZES = {"train": 4, "validation": 2, "test": 2}

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
