"""``loader.eval_max_tokens``: after-fit scoring in token-budget batches, longest first, on the real
:class:`~trainer.data.datamodule.TextDataModule` and the tiny model. Each batch stays under the budget, long rows
get fewer rows per batch, padding shrinks, and the logits come back in row order equal to fixed-size batches'.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tests.conftest import require_demo_data, tiny_overrides
from trainer.config import compose
from trainer.data import prepare_data
from trainer.data.datamodule import TextDataModule
from trainer.models.sources import load_classifier
from trainer.training.fit import build_module, loss_weights
from trainer.training.module import predict_logits
from trainer.training.settings import TrainSettings

pytestmark = pytest.mark.integration


def _padding(loader) -> tuple[float, list[int], list[int]]:
    real = total = 0
    sizes, widths = [], []
    for batch in loader:
        mask = batch["attention_mask"]
        real, total = real + int(mask.sum()), total + mask.numel()
        sizes.append(mask.shape[0])
        widths.append(mask.shape[1])
    return 1 - real / total, sizes, widths


def test_token_budget_batches_score_like_fixed_batches_with_less_padding(tmp_path: Path) -> None:
    require_demo_data()
    settings = TrainSettings.from_config(compose("train", tiny_overrides(tmp_path)))
    data = prepare_data(settings.data)
    loaded = load_classifier(settings.model, data.label_map, settings.cache_dir)
    module = build_module(loaded.model, data, settings.module, loss_weights(settings.module, data))

    def datamodule(eval_max_tokens: int | None) -> TextDataModule:
        loader = replace(settings.loader, eval_batch_size=16, eval_max_tokens=eval_max_tokens)
        dm = TextDataModule(data, loaded.tokenizer, settings.model.max_length, settings.cache_dir, loader, 0)
        dm.prepare_data()
        dm.setup()
        return dm

    fixed, budget = datamodule(None), datamodule(256)
    for split in ("validation", "test"):
        rows_loader, rows_order = fixed.eval_loader(split)
        tokens_loader, tokens_order = budget.eval_loader(split)
        assert sorted(tokens_order) == list(range(len(fixed.ids(split))))
        fixed_pad, fixed_sizes, _ = _padding(rows_loader)
        budget_pad, sizes, widths = _padding(tokens_loader)
        assert set(fixed_sizes[:-1]) == {16}
        assert all(n * w <= 256 or n == 1 for n, w in zip(sizes, widths, strict=True))
        assert widths == sorted(widths, reverse=True) and sizes[0] < sizes[-1]  # long rows: small batches
        assert budget_pad < fixed_pad
        with torch.no_grad():
            a = predict_logits(module, rows_loader, rows_order)
            b = predict_logits(module, tokens_loader, tokens_order)
        torch.testing.assert_close(b[0], a[0], atol=1e-5, rtol=1e-4)
        assert torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
