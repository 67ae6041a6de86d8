"""Batched inference of :class:`trainer.serving.predictor.BundlePredictor` (issue 15 #4) and folders pulled
with one precision (#6), on a hand-made bundle: a real onnxruntime graph and a real ``tokenizers`` tokenizer.

The graph is a masked mean of token embeddings followed by a linear layer, so padding must not change a
row's logits: batched inference has to equal one text at a time, which is what the tests hold it to.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from tests.unit.serving.toy_graph import INPUTS, masked_mean_graph
from trainer.data.labels import LabelMap
from trainer.serving.bundle import PULLED, Bundle, BundleError, verify_bundle, verify_pulled, write_pulled
from trainer.serving.precisions import FP32, PRECISIONS
from trainer.serving.predictor import BundlePredictor, micro_batches

WORDS = [f"w{i}" for i in range(40)]
LABELS = LabelMap("multiclass", ("none", "propaganda", "incitement"))
MAX_LENGTH = 48


def write_toy_bundle(folder: Path, precisions: tuple[str, ...] = ("fp32", "int8")) -> Path:
    """A complete bundle with a manifest; every graph in ``precisions`` is the same toy graph."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(WORDS)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    bundle = Bundle(folder)
    bundle.write_preprocess({}, 1, MAX_LENGTH, 0, list(INPUTS))
    bundle.write_labels(LABELS)
    (folder / "thresholds.json").write_text(json.dumps({"thresholds": None}))
    for name in precisions:
        onnx.save(
            masked_mean_graph(len(vocab), LABELS.num_labels, hidden=8, bias=True), str(bundle.graph(PRECISIONS[name]))
        )
    bundle.write_manifest({"source": {"uri": "hand-made"}})
    return folder


def mixed_texts(n: int = 37, seed: int = 3) -> list[str]:
    """Texts of 1 to 60 words (longer than MAX_LENGTH: truncated), in random order."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60))) for _ in range(n)]


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    return write_toy_bundle(tmp_path / "bundle")


class RecordingSession:
    """The real onnxruntime session, recording the shape of every call's input_ids."""

    def __init__(self, session: Any) -> None:
        self.session, self.shapes = session, []

    def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> Any:
        self.shapes.append(feeds["input_ids"].shape)
        return self.session.run(outputs, feeds)


def test_batched_logits_are_in_input_order_and_equal_one_text_at_a_time(toy: Path) -> None:
    texts = mixed_texts()
    predictor = BundlePredictor(toy, "int8", threads=1, batch_size=8, max_tokens=96)
    batched = predictor.logits(texts)
    single = np.concatenate([predictor.logits([t]) for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert len({tuple(np.round(r, 4)) for r in batched}) > len(texts) // 2  # rows really differ: order matters
    assert predictor.predict(texts) == [predictor.predict([t])[0] for t in texts]


def test_session_calls_respect_the_row_and_token_budget(toy: Path) -> None:
    texts = mixed_texts()
    predictor = BundlePredictor(toy, "int8", batch_size=8, max_tokens=96)
    recorder = RecordingSession(predictor.session)
    predictor.session = recorder  # type: ignore[assignment]
    predictor.logits(texts)
    assert sum(rows for rows, _ in recorder.shapes) == len(texts)
    for rows, width in recorder.shapes:
        assert rows <= 8 and (rows * width <= 96 or rows == 1), (rows, width)
    assert max(width for _, width in recorder.shapes) == MAX_LENGTH  # truncation still applies
    assert len(recorder.shapes) > len(texts) / 8  # the token budget split batches the row limit would not


def test_micro_batches_sort_by_length_and_keep_every_row_once() -> None:
    lengths = [5, 1, 30, 2, 2, 100, 7, 1]
    batches = micro_batches(lengths, max_rows=3, max_tokens=12)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths)
    # 1,1,2 (3 rows x 2) | 2,5 (2 x 5) | 7 | 30 alone | 100 alone, over budget on its own.
    assert [[lengths[i] for i in b] for b in batches] == [[1, 1, 2], [2, 5], [7], [30], [100]]
    assert micro_batches([], 4, 10) == []
    with pytest.raises(ValueError, match="max_tokens=0"):
        BundlePredictor(Path("unused"), max_tokens=0)


def test_threads_reach_the_onnxruntime_session(toy: Path) -> None:
    options = BundlePredictor(toy, threads=1).session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)


# -- a folder pulled with --precision (issue 15 #6) --------------------------------------------------------
def _pull_int8_only(bundle: Path) -> list[str]:
    """What trainer.pull --precision int8 leaves: the fp32 graph gone, pulled.json saying so."""
    taken = [name for name in Bundle(bundle).file_names() if name != FP32.graph]
    (bundle / FP32.graph).unlink()
    write_pulled(bundle, "int8", taken, omitted=[FP32.graph])
    return taken


def test_a_folder_pulled_with_one_precision_verifies_and_refuses_the_other_by_name(toy: Path) -> None:
    taken = _pull_int8_only(toy)
    predictor = BundlePredictor(toy, "auto", verify=True)
    assert predictor.model_path.name == "model.int8.onnx"
    assert json.loads((toy / PULLED).read_text())["precision"] == "int8"
    with pytest.raises(BundleError, match=r"--model fp32 \(model\.onnx\) is not in this folder.*--precision int8"):
        BundlePredictor(toy, "fp32")
    with pytest.raises(BundleError, match=r"model\.onnx: missing"):
        Bundle(toy).verify()  # the whole-bundle check still says what is absent
    # The deployer's check (README) reads pulled.json: the files the pull took, each against the manifest.
    assert verify_bundle(toy)["files"].keys() >= set(taken)
    (toy / "labels.json").write_text((toy / "labels.json").read_text().replace("propaganda", "propagandA"))
    with pytest.raises(BundleError, match=r"labels\.json: size or sha256 differs"):
        verify_pulled(Bundle(toy), taken)
    with pytest.raises(BundleError, match=r"labels\.json: size or sha256 differs"):
        verify_bundle(toy)
    (toy / "extra.txt").write_text("x")
    with pytest.raises(BundleError, match=r"extra\.txt: not taken by the pull"):
        BundlePredictor(toy, verify=True)
