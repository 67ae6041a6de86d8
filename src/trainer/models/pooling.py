"""The classifier head's pooling: ``model.pooling: cls | mean``.

``cls`` is transformers' own ``...ForSequenceClassification`` (BERT: a randomly initialised pooler over
[CLS] -> dropout -> linear). ``mean`` averages the encoder's last hidden states over the real tokens
(the attention mask; padding never counts) -> dropout -> linear: how e5 models were trained, so the head
starts from the sentence vector the encoder already learnt to produce.

A mean-pooled model is a transformers ``PreTrainedModel`` of the encoder's own family (same weight
names as the stock classifier, minus the pooler), so ``save_pretrained``/``from_pretrained``, Lightning
checkpoints, ``model.base_model`` and ONNX export work unchanged. Its ``config.json`` records
``classifier_pooling: mean``; :func:`load_saved_classifier` reads it back, and every loader of a saved
model folder (export, evaluation scorers, the MLflow pyfunc) goes through it. A plain
``AutoModelForSequenceClassification.from_pretrained`` would silently build the CLS head instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.bert.modeling_bert import BertModel, BertPreTrainedModel
from transformers.models.deberta_v2.modeling_deberta_v2 import DebertaV2Model, DebertaV2PreTrainedModel
from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaModel, XLMRobertaPreTrainedModel

Pooling = Literal["cls", "mean"]
POOLINGS: tuple[str, ...] = ("cls", "mean")
# The config.json key that tells a saved mean-pooled folder from a stock one (absent = cls).
POOLING_KEY = "classifier_pooling"


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``hidden`` ``(B, T, H)`` over the positions where ``attention_mask`` ``(B, T)`` is 1.

    Summed in fp32 (a bf16 sum over hundreds of tokens loses digits); a row without any real token
    gives zeros rather than NaN.
    """
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask[:, :, None].to(torch.float32)
    summed = (hidden.to(torch.float32) * mask).sum(dim=1)
    return (summed / mask.sum(dim=1).clamp(min=1.0)).to(hidden.dtype)


class _MeanPooledClassifier(PreTrainedModel):
    """Encoder without its pooler -> :func:`masked_mean` -> dropout -> linear.

    Subclasses pair it with one encoder family's ``PreTrainedModel`` (weight init, ``base_model_prefix``,
    config class) and name that family's encoder class in ``encoder_class``.
    """

    encoder_class: type[PreTrainedModel]

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        if config.num_labels is None:
            raise ValueError(f"{type(config).__name__}.num_labels is unset: the classifier needs the label count")
        self.num_labels = config.num_labels
        encoder = self.encoder_class(config)
        if getattr(encoder, "pooler", None) is not None:
            # Unused by this head: left in, DDP would wait for its gradients.
            setattr(encoder, "pooler", None)  # noqa: B010 (mypy types the attribute as a module)
        # Under the family's prefix ("bert", ...): the stock classifier's weight names, so pretrained
        # encoder folders load into it as they load into AutoModelForSequenceClassification.
        setattr(self, self.base_model_prefix, encoder)
        dropout = getattr(config, "classifier_dropout", None)
        self.dropout = nn.Dropout(dropout if dropout is not None else config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, self.num_labels)
        config.update({POOLING_KEY: "mean"})
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        # Only logits: the loss is the training module's (class weights, smoothing); labels are ignored.
        del labels
        encoded = self.base_model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        pooled = masked_mean(encoded.last_hidden_state, attention_mask)
        return SequenceClassifierOutput(logits=self.classifier(self.dropout(pooled)))


class MeanPooledBertForSequenceClassification(_MeanPooledClassifier, BertPreTrainedModel):
    encoder_class = BertModel


class MeanPooledXLMRobertaForSequenceClassification(_MeanPooledClassifier, XLMRobertaPreTrainedModel):
    encoder_class = XLMRobertaModel


class MeanPooledDebertaV2ForSequenceClassification(_MeanPooledClassifier, DebertaV2PreTrainedModel):
    encoder_class = DebertaV2Model


# config.model_type -> the mean-pooled classifier of that family (the shipped model configs' families).
MEAN_POOLED: dict[str, type[_MeanPooledClassifier]] = {
    "bert": MeanPooledBertForSequenceClassification,
    "xlm-roberta": MeanPooledXLMRobertaForSequenceClassification,
    "deberta-v2": MeanPooledDebertaV2ForSequenceClassification,
}


def mean_pooled_class(model_type: str) -> type[_MeanPooledClassifier]:
    """The mean-pooled classifier class for ``config.model_type``; ValueError for other families."""
    if model_type not in MEAN_POOLED:
        raise ValueError(f"model.pooling=mean supports model types {sorted(MEAN_POOLED)}, not {model_type!r}")
    return MEAN_POOLED[model_type]


def check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise ValueError(f"model.pooling must be one of {list(POOLINGS)}, got {pooling!r}")


def pooling_of(config: PretrainedConfig) -> str:
    """``mean`` for a config written by a mean-pooled model, else ``cls``."""
    return str(getattr(config, POOLING_KEY, "cls"))


def load_saved_classifier(model_dir: str | Path, **kwargs: Any) -> PreTrainedModel:
    """A saved classifier folder, rebuilt with the head it was trained with (``kwargs`` go to from_pretrained)."""
    config = AutoConfig.from_pretrained(model_dir)
    return from_pretrained_classifier(model_dir, config, pooling_of(config), **kwargs)


def from_pretrained_classifier(
    path_or_id: str | Path, config: PretrainedConfig, pooling: str, **kwargs: Any
) -> PreTrainedModel:
    """The classifier with ``pooling``'s head from a folder or hub id, in fp32 unless ``kwargs`` say otherwise.

    fp32 whatever the checkpoint stores: transformers >= 5 keeps a file's dtype by default, so an fp16 file (a
    trimmed transport copy, many hub uploads) trained fp16 weights, emulated on CPUs (a me5_small step ~20x slower)
    and losing AdamW's small updates. ``trainer.precision`` sets the compute dtype.
    """
    kwargs.setdefault("dtype", torch.float32)
    if pooling == "mean":
        return mean_pooled_class(config.model_type).from_pretrained(path_or_id, config=config, **kwargs)
    return AutoModelForSequenceClassification.from_pretrained(path_or_id, config=config, **kwargs)
