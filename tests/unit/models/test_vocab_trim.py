"""Vocabulary trimming keeps every token sequence of the corpus, remapped, and the model's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from trainer.data.labels import LabelMap
from trainer.models.pooling import load_saved_classifier
from trainer.models.sources import ModelSpec, load_classifier
from trainer.models.vocab_trim import check_same_tokens, trim_vocabulary

pytestmark = pytest.mark.integration  # a 250k-piece tokenizer and a 64 MB tiny model: seconds, not milliseconds

CORPUS = [
    "RT @USER Infrastruktur yg mana era SBY bangun setahu saya gk ada 😂😂",
    "صلاة الفجر خير لك من ترديد",
    "Most Canadians have never met… 🙄 @URL",
    "Les réfugiés ne sont pas des criminels !",
    "unknown private-use character \ue000 and ᛗᚨᚾ runes",
]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT with the real 250k-piece XLM-R Unigram tokenizer, saved as a transformers folder."""
    folder = tmp_path_factory.mktemp("tiny_model")
    loaded = load_classifier(ModelSpec(name="tiny", source="tiny"), LabelMap("binary", ("a", "b"), 1), folder)
    loaded.model.bert.save_pretrained(folder)
    loaded.tokenizer.save_pretrained(folder)
    return folder


def test_trimmed_tokens_and_outputs_are_identical(tiny_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "trimmed"
    summary = trim_vocabulary(tiny_folder, CORPUS, out)
    assert summary["pieces_after"] < 200 < summary["pieces_before"]
    assert check_same_tokens(tiny_folder, out, CORPUS) == 0
    assert json.loads((out / "config.json").read_text())["vocab_size"] == summary["pieces_after"]

    before_tok, after_tok = AutoTokenizer.from_pretrained(tiny_folder), AutoTokenizer.from_pretrained(out)
    assert after_tok.convert_ids_to_tokens(after_tok.pad_token_id) == "<pad>"
    assert after_tok.convert_ids_to_tokens(after_tok.mask_token_id) == "<mask>"
    before_model, after_model = AutoModel.from_pretrained(tiny_folder).eval(), AutoModel.from_pretrained(out).eval()
    assert after_model.config.pad_token_id == after_tok.pad_token_id
    a = before_tok(CORPUS, padding=True, return_tensors="pt")
    b = after_tok(CORPUS, padding=True, return_tensors="pt")
    assert torch.equal(a["attention_mask"], b["attention_mask"])
    with torch.inference_mode():
        assert torch.equal(before_model(**a).last_hidden_state, after_model(**b).last_hidden_state)


def test_fp16_transport_and_non_unigram_refusal(tiny_folder: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    trim_vocabulary(tiny_folder, CORPUS[:1], tmp_path / "fp16", dtype="float16")
    assert {str(t.dtype) for t in load_file(str(tmp_path / "fp16" / "model.safetensors")).values()} == {"float16"}
    # Training reads the fp16 transport copy into fp32 weights (transformers >= 5 would keep fp16), with either head;
    # so does reloading a saved classifier that is stored in fp16.
    labels = LabelMap("binary", ("a", "b"), 1)
    for pooling in ("cls", "mean"):
        spec = ModelSpec(name="fp16", source="hub", name_or_path=str(tmp_path / "fp16"), pooling=pooling)
        model = load_classifier(spec, labels, tmp_path).model
        assert {p.dtype for p in model.parameters()} == {torch.float32}, pooling
    model.half().save_pretrained(tmp_path / "saved_fp16")
    assert {p.dtype for p in load_saved_classifier(tmp_path / "saved_fp16").parameters()} == {torch.float32}
    bpe = tmp_path / "bpe"
    bpe.mkdir()
    (bpe / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE"}}))
    with pytest.raises(ValueError, match="only Unigram"):
        trim_vocabulary(bpe, CORPUS, tmp_path / "never")
