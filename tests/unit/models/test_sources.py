"""Model configs to classifier + tokenizer: offline errors name the offline configs; the packaged MiniLM loads."""

from __future__ import annotations

import pytest

from trainer.data.labels import LabelMap
from trainer.models.sources import ModelSourceError, ModelSpec, freeze, load_classifier


def test_offline_hub_model_fails_fast_naming_offline_configs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = ModelSpec(name="xlmr_base", source="hub", name_or_path="xlm-roberta-base")
    with pytest.raises(ModelSourceError) as info:
        load_classifier(spec, LabelMap("multiclass", ("a", "b")), tmp_path)
    message = str(info.value)
    for offline in ("model=tiny", "model=me5_small", "model=minilm_l6_en"):
        assert offline in message
    assert "xlm-roberta-base" in message


def test_missing_local_folder_is_named(tmp_path) -> None:
    spec = ModelSpec(name="hub", source="hub", name_or_path=str(tmp_path / "nowhere"))
    with pytest.raises(ModelSourceError, match="nowhere"):
        load_classifier(spec, LabelMap("multiclass", ("a", "b")), tmp_path)


def test_tiny_model_carries_the_label_map_and_freezes(tmp_path) -> None:
    lm = LabelMap("multiclass", ("incitement", "not_extremist", "propaganda"))
    loaded = load_classifier(
        ModelSpec(name="tiny", source="tiny", freeze_embeddings=True, freeze_layers=1), lm, tmp_path
    )
    assert loaded.model.config.id2label == {0: "incitement", 1: "not_extremist", 2: "propaganda"}
    assert not any(p.requires_grad for p in loaded.model.bert.embeddings.parameters())
    assert not any(p.requires_grad for p in loaded.model.bert.encoder.layer[0].parameters())
    assert all(p.requires_grad for p in loaded.model.bert.encoder.layer[1].parameters())
    with pytest.raises(ValueError, match="freeze_layers=5"):
        freeze(loaded.model, embeddings=False, layers=5)


def test_packaged_minilm_loads_its_pretrained_encoder_offline(tmp_path) -> None:
    import torch
    from safetensors.torch import load_file

    from trainer.config import compose, to_container
    from trainer.models.packaged import minilm_model_dir
    from trainer.models.sources import model_spec_from_dict

    spec = model_spec_from_dict(to_container(compose("train", ["model=minilm_l6_en"]))["model"])
    lm = LabelMap("binary", ("extremist", "not_extremist"), 0)
    loaded = load_classifier(spec, lm, tmp_path)
    config = loaded.model.config
    assert (config.num_hidden_layers, config.hidden_size) == (6, 384)
    assert config.id2label == {0: "extremist", 1: "not_extremist"} and config.hidden_dropout_prob == spec.dropout
    # Every encoder tensor is the package's pretrained one (a random init would differ everywhere).
    packaged = load_file(str(minilm_model_dir() / "model.safetensors"))
    encoder = {k: v for k, v in loaded.model.bert.state_dict().items() if not k.startswith("pooler")}
    matched = [
        k for k in encoder if torch.equal(encoder[k], packaged.get(k, packaged.get(f"bert.{k}", torch.empty(0))))
    ]
    assert len(matched) == len(encoder), sorted(set(encoder) - set(matched))[:5]
    ids = loaded.tokenizer("the train is late")["input_ids"]
    assert ids[0] == loaded.tokenizer.cls_token_id and loaded.tokenizer.unk_token_id not in ids
