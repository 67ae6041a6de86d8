"""Conformance vectors on a hand-made bundle: a real onnxruntime graph (mean of embeddings -> linear) and a
real ``tokenizers`` word-level tokenizer, so writing and checking run in milliseconds without torch.

Written by :func:`trainer.exporting.conformance.write_conformance`, replayed by
:func:`trainer.serving.conformance.check_conformance`: an unaltered bundle passes; each altered stage
is reported by vector, graph and stage; a decision may differ only within the score tolerance.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from tests.unit.serving.toy_graph import INPUTS, masked_mean_graph
from trainer.data.labels import LabelMap
from trainer.data.normalize import NormalizerConfig
from trainer.exporting.conformance import check_coverage, covered_rules, rule_texts, write_conformance
from trainer.serving.bundle import Bundle, BundleError
from trainer.serving.conformance import ConformanceError, check_conformance
from trainer.serving.contract import decision_rule
from trainer.serving.predictor import BundlePredictor

MAX_LENGTH = 12


def _tokenizer(path: Path) -> int:
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "@USER", "HTTPURL", "the", "quick", "brown", "fox", "😂", "café"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tok.save(str(path))
    return len(words)


def make_bundle(folder: Path, label_map: LabelMap, thresholds: list[float] | None, scale: float = 1.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    bundle = Bundle(folder)
    vocab = _tokenizer(bundle.tokenizer_file)
    onnx.save(masked_mean_graph(vocab, label_map.num_labels, hidden=6, scale=scale), str(folder / "model.onnx"))
    onnx.save(
        masked_mean_graph(vocab, label_map.num_labels, hidden=6, scale=scale), str(folder / "model.int8.onnx")
    )  # a second graph
    bundle.write_preprocess({}, "2", MAX_LENGTH, 0, list(INPUTS))
    bundle.write_labels(label_map, decision_rule(label_map, thresholds, 1.0))
    (folder / "thresholds.json").write_text(json.dumps({"thresholds": thresholds}))
    return folder


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    folder = make_bundle(tmp_path / "b", LabelMap("multiclass", ("a", "b", "c")), None)
    write_conformance(folder, ["the fox", "quick brown", "café 😂"], ["en", "en", "fr"])
    return folder


def _rewrite(bundle: Path, change: Callable[[dict], None]) -> None:
    data = json.loads((bundle / "conformance.json").read_text())
    change({v["name"]: v for v in data["vectors"]})
    (bundle / "conformance.json").write_text(json.dumps(data))


def test_an_unaltered_bundle_passes_on_every_graph(bundle: Path) -> None:
    report = check_conformance(bundle)
    data = json.loads((bundle / "conformance.json").read_text())
    assert report["graphs"] == ["fp32", "int8"] and report["vectors"] == len(data["vectors"])
    names = [v["name"] for v in data["vectors"]]
    assert {"empty", "longer_than_max_length", "lang_en_0", "lang_en_1", "lang_fr_0"} <= set(names)
    assert "lang_en_2" not in names  # two rows per language
    long = data["vectors"][names.index("longer_than_max_length")]
    assert long["truncated"] and len(long["token_ids"]) == MAX_LENGTH and long["token_ids"][-1] == 3  # [SEP] kept
    assert check_conformance(bundle, "int8")["graphs"] == ["int8"]


def test_each_altered_stage_is_named_with_its_vector_and_graph(bundle: Path) -> None:
    def change(v: dict) -> None:
        v["nfc"]["normalized"] = "cafe"
        v["url_mask"]["token_ids"] = [2, 3]
        v["empty"]["outputs"]["fp32"]["logits"][0] += 1e-3
        v["lang_en_0"]["outputs"]["fp32"]["scores"][1] += 1e-3

    _rewrite(bundle, change)
    with pytest.raises(ConformanceError) as err:
        check_conformance(bundle, "fp32")
    assert {(f["vector"], f["stage"]) for f in err.value.failures} == {
        ("nfc", "normalized"),
        ("url_mask", "token_ids"),
        ("empty", "logits"),
        ("lang_en_0", "scores"),
    }
    assert "vector 'nfc' (fp32): normalized differs" in str(err.value)


def test_a_decision_may_differ_only_within_the_score_tolerance(bundle: Path) -> None:
    def flip(margin: float) -> Callable[[dict], None]:
        def change(v: dict) -> None:
            out = v["whitespace"]["outputs"]["fp32"]
            out["decision"], out["margin"] = {"label": "zzz"}, margin

        return change

    _rewrite(bundle, flip(1e-5))  # nearer the boundary than atol_scores: two runtimes may disagree
    check_conformance(bundle, "fp32")
    _rewrite(bundle, flip(0.3))
    with pytest.raises(ConformanceError, match=r"vector 'whitespace' \(fp32\): decision differs"):
        check_conformance(bundle, "fp32")


def test_missing_vectors_or_graphs_are_refused_by_name(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"no vectors for precision 'fp16'"):
        check_conformance(bundle, "fp16")
    (bundle / "model.int8.onnx").unlink()  # a folder pulled with --precision fp32
    assert check_conformance(bundle)["graphs"] == ["fp32"]
    bare = make_bundle(tmp_path / "bare", LabelMap("multiclass", ("a", "b")), None)
    with pytest.raises(BundleError, match=r"conformance\.json: missing"):
        check_conformance(bare)


@pytest.mark.parametrize(
    ("label_map", "thresholds"),
    [(LabelMap("binary", ("neg", "pos"), 1), [0.3]), (LabelMap("multilabel", ("x", "y", "z")), [0.2, 0.5, 0.8])],
    ids=["binary", "multilabel"],
)
def test_vectors_record_the_predictors_decisions_with_the_runs_thresholds(
    tmp_path: Path, label_map: LabelMap, thresholds: list[float]
) -> None:
    folder = make_bundle(tmp_path / "b", label_map, thresholds, scale=3.0)
    data = write_conformance(folder, ["the fox"], ["en"])
    predictor = BundlePredictor(folder, "fp32")
    served = predictor.predict([v["raw"] for v in data["vectors"]])
    key = "labels" if label_map.task == "multilabel" else "label"
    assert [v["outputs"]["fp32"]["decision"][key] for v in data["vectors"]] == [s[key] for s in served]
    decision = json.loads((folder / "labels.json").read_text())["decision"]
    assert decision["activation"] == ("sigmoid" if label_map.task == "multilabel" else "softmax")
    assert list(decision["thresholds"].values()) == (thresholds if label_map.task == "multilabel" else [0.3])
    check_conformance(folder)


def test_every_rule_the_normaliser_has_on_is_exercised() -> None:
    cfg = NormalizerConfig(lowercase=True)
    vectors = [{"covers": covered_rules(raw, cfg), "truncated": False} for _, raw in rule_texts(cfg)]
    assert {r for v in vectors for r in v["covers"]} == {
        "repair_escapes",
        "mask_urls",
        "mask_users",
        "collapse_user_runs",
        "unicode_nfc",
        "strip_zero_width",
        "normalize_whitespace",
        "lowercase",
    }
    with pytest.raises(ValueError, match="no conformance vector reaches max_length=12"):
        check_coverage(vectors, cfg, 12)
    with pytest.raises(ValueError, match=r"normalizer rule\(s\) \['unicode_nfc'\]"):
        check_coverage([v for v in vectors if "unicode_nfc" not in v["covers"]], cfg, 12)


def test_languages_use_neutral_sentences_and_real_rows_only_where_none_exist() -> None:
    from trainer.exporting.conformance import NEUTRAL_TEXTS, language_texts

    texts = ["real en post one", "real en post two", "real xx post", "real xx post two", "real xx three"]
    langs = ["en", "en", "xx", "xx", "xx"]
    picked = language_texts(texts, langs, per_language=2)
    assert [(n, lang) for n, lang, _ in picked] == [
        ("lang_en_0", "en"),
        ("lang_en_1", "en"),
        ("lang_xx_row0", "xx"),
        ("lang_xx_row1", "xx"),
    ]
    by_name = {n: t for n, _, t in picked}
    assert by_name["lang_en_0"] == NEUTRAL_TEXTS["en"][0] and "real en" not in " ".join(by_name.values())
    assert by_name["lang_xx_row0"] == "real xx post"


def test_a_verified_load_replays_the_vectors_on_its_own_graph(bundle: Path) -> None:
    """``load_checked`` (``trainer.predict --verify``, evaluation): manifest first, then the graph's vectors."""
    from trainer.serving.bundle import write_manifest
    from trainer.serving.conformance import load_checked

    write_manifest(bundle, {})
    assert load_checked(bundle, "int8").predict(["the fox"])[0]["label"] in {"a", "b", "c"}

    _rewrite(bundle, lambda v: v["empty"]["outputs"]["int8"]["logits"].__setitem__(0, 9.0))
    with pytest.raises(BundleError, match=r"does not match manifest\.json: conformance\.json"):
        load_checked(bundle, "int8")  # an edited vectors file is a tampered bundle
    write_manifest(bundle, {})  # consistent files, but the graph no longer reproduces the vector
    with pytest.raises(ConformanceError, match=r"vector 'empty' \(int8\): logits differs"):
        load_checked(bundle, "int8")
    assert load_checked(bundle, "fp32").model_path.name == "model.onnx"  # the other graph's vectors still hold
