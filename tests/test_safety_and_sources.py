from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from trainer.data.labels import LabelMap
from trainer.instantiate import UnsafeTargetError, safe_instantiate
from trainer.models.sources import ModelSourceError, ModelSpec, freeze, load_classifier


def test_allowed_target_is_instantiated_as_partial() -> None:
    import torch

    factory = safe_instantiate(
        OmegaConf.create({"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 0.1}), "module.optimizer"
    )
    opt = factory([torch.nn.Parameter(torch.zeros(1))])
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["lr"] == 0.1


@pytest.mark.parametrize("target", ["os.system", "builtins.eval", "subprocess.run"])
def test_untrusted_target_is_refused_with_the_key(target: str) -> None:
    node = {"_target_": "torch.optim.AdamW", "_partial_": True, "params": {"_target_": target, "_args_": ["id"]}}
    with pytest.raises(UnsafeTargetError, match=r"module\.optimizer\.params\._target_"):
        safe_instantiate(node, "module.optimizer")


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
