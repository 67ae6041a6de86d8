"""Trim a transformers folder's Unigram vocabulary to the pieces a corpus uses.

Multilingual encoders spend most of their weights on the vocabulary: multilingual-e5-small's
250k x 384 embedding is 80% of the model. A fine-tuning corpus touches a few tens of thousands of
pieces, so the trimmed folder is several times smaller (quick to copy to a GPU machine, cheaper to
fine-tune with unfrozen embeddings) and computes exactly the same function on that corpus.

Why the token sequences do not change: a Unigram tokenizer picks, per pre-tokenised word, the
segmentation with the highest total score (Viterbi). Removing pieces that no best segmentation of
the corpus uses only removes other candidate paths, so the best one stays best. One detail keeps this
exact: ``tokenizers`` gives an unknown character the score ``min(piece scores) - 10``, so the piece
with the lowest score is always kept, and that score, with it, does not move.
:func:`check_same_tokens` verifies the claim on a corpus.

Usage (the corpus is the normalised text of data configs, as training sees it)::

    python -m trainer.models.vocab_trim --model .cache/models/me5_small-... --out .devcarry/me5_trim \\
        --dtype float16 --corpus "data=mlma" --corpus "data=id_multilabel"
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_COPIED = ("tokenizer_config.json", "special_tokens_map.json")


def _encode(tokenizer_json: Path, texts: Sequence[str]) -> list[list[int]]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_truncation()
    tok.no_padding()
    return [e.ids for e in tok.encode_batch(list(texts), add_special_tokens=True)]


def _remap_post_processor(node: Any, remap: dict[int, int]) -> Any:
    """Special-token ids inside a post-processor (TemplateProcessing, Roberta/BertProcessing, Sequence)."""
    if node is None:
        return None
    kind = node.get("type")
    if kind == "TemplateProcessing":
        for spec in node["special_tokens"].values():
            spec["ids"] = [remap[i] for i in spec["ids"]]
    elif kind in ("RobertaProcessing", "BertProcessing"):
        for key in ("sep", "cls"):
            node[key] = [node[key][0], remap[node[key][1]]]
    elif kind == "Sequence":
        node["processors"] = [_remap_post_processor(p, remap) for p in node["processors"]]
    elif kind != "ByteLevel":
        raise ValueError(f"tokenizer.json: post_processor type {kind!r} is not supported by vocab_trim")
    return node


def trim_vocabulary(
    model_dir: Path, texts: Iterable[str], out_dir: Path, *, dtype: str | None = None
) -> dict[str, Any]:
    """Write ``out_dir``: ``model_dir`` with only the vocabulary pieces that ``texts`` use.

    Args:
        model_dir: a transformers folder with ``tokenizer.json`` (Unigram), ``config.json`` and one
            ``model.safetensors``.
        texts: the corpus, exactly as the model will see it (normalised).
        out_dir: the new folder (replaced if it exists).
        dtype: cast floating-point weights, e.g. ``"float16"`` for transport (None keeps them).

    Returns:
        A summary, also written to ``out_dir / "vocab_trim.json"`` with the kept ids (new id = index).

    Raises:
        ValueError: the folder is not a single-file safetensors model with a Unigram tokenizer.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    tok, weights, config = _read_trimmable(model_dir)
    model = tok["model"]
    corpus = list(texts)
    vocab = model["vocab"]
    used = {i for ids in _encode(model_dir / "tokenizer.json", corpus) for i in ids}
    lowest = min(range(len(vocab)), key=lambda i: vocab[i][1])
    keep = sorted(used | {t["id"] for t in tok["added_tokens"]} | {model["unk_id"], lowest})
    remap = {old: new for new, old in enumerate(keep)}

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    _write_tokenizer(tok, keep, remap, model_dir, out_dir)
    old_rows = int(config["vocab_size"])
    trimmed = _write_weights(weights, old_rows, keep, dtype, out_dir)
    config["vocab_size"] = len(keep)
    for key, value in list(config.items()):
        if key.endswith("_token_id") and isinstance(value, int):
            config[key] = remap[value]
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    summary = {
        "source": str(model_dir),
        "pieces_before": len(vocab),
        "pieces_after": len(keep),
        "embedding_rows_before": old_rows,
        "trimmed_tensors": trimmed,
        "dtype": dtype or "unchanged",
        "corpus_texts": len(corpus),
        "corpus_sha256": hashlib.sha256("\n".join(corpus).encode()).hexdigest(),
        "kept_ids": keep,
    }
    (out_dir / "vocab_trim.json").write_text(json.dumps(summary) + "\n", encoding="utf-8")
    return summary


def _read_trimmable(model_dir: Path) -> tuple[dict[str, Any], Path, dict[str, Any]]:
    """tokenizer.json, the weights file and config.json of a folder this module can trim."""
    tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    model = tok["model"]
    if model.get("type") != "Unigram":
        raise ValueError(f"{model_dir}/tokenizer.json: model type {model.get('type')!r}; only Unigram can be trimmed")
    if model.get("byte_fallback"):
        raise ValueError(f"{model_dir}/tokenizer.json: byte_fallback Unigram tokenizers are not supported")
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise ValueError(f"{model_dir}: expected one model.safetensors (sharded or .bin weights are not supported)")
    return tok, weights, json.loads((model_dir / "config.json").read_text(encoding="utf-8"))


def _write_tokenizer(
    tok: dict[str, Any], keep: list[int], remap: dict[int, int], model_dir: Path, out_dir: Path
) -> None:
    model = tok["model"]
    model["vocab"] = [model["vocab"][i] for i in keep]
    model["unk_id"] = remap[model["unk_id"]]
    for token in tok["added_tokens"]:
        token["id"] = remap[token["id"]]
    tok["post_processor"] = _remap_post_processor(tok["post_processor"], remap)
    (out_dir / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    for name in _COPIED:
        if (model_dir / name).is_file():
            values = json.loads((model_dir / name).read_text(encoding="utf-8"))
            if "added_tokens_decoder" in values:
                values["added_tokens_decoder"] = {
                    str(remap[int(k)]): v for k, v in values["added_tokens_decoder"].items()
                }
            (out_dir / name).write_text(json.dumps(values, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_weights(weights: Path, old_rows: int, keep: list[int], dtype: str | None, out_dir: Path) -> list[str]:
    """The weights with only the kept embedding rows (optionally cast); returns the trimmed tensors' names."""
    from safetensors.numpy import load_file, save_file

    state = load_file(str(weights))
    trimmed = [name for name, t in state.items() if t.ndim >= 1 and t.shape[0] == old_rows]
    if not trimmed:
        raise ValueError(f"{weights}: no tensor has vocab_size={old_rows} rows")
    for name in trimmed:
        state[name] = np.ascontiguousarray(state[name][keep])
    if dtype is not None:
        state = {k: v.astype(dtype) if np.issubdtype(v.dtype, np.floating) else v for k, v in state.items()}
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "model.safetensors").chmod(0o644)  # safetensors writes 0600
    return trimmed


def check_same_tokens(original_dir: Path, trimmed_dir: Path, texts: Sequence[str]) -> int:
    """Number of texts whose trimmed token ids differ from the original ids, remapped (0 = exact)."""
    keep = json.loads((Path(trimmed_dir) / "vocab_trim.json").read_text())["kept_ids"]
    remap = {old: new for new, old in enumerate(keep)}
    before = _encode(Path(original_dir) / "tokenizer.json", texts)
    after = _encode(Path(trimmed_dir) / "tokenizer.json", texts)
    return sum(1 for b, a in zip(before, after, strict=True) if [remap.get(i, -1) for i in b] != a)


def corpus_from_configs(override_sets: Sequence[str]) -> list[str]:
    """Normalised texts of every split of each data config (each entry: space-separated overrides)."""
    from trainer.config import compose, to_container
    from trainer.data import data_spec_from_dict, prepare_data

    texts: list[str] = []
    for overrides in override_sets:
        cfg = compose("train", overrides.split())
        data = prepare_data(data_spec_from_dict(to_container(cfg.data)))
        texts += [e.text for rows in data.splits.values() for e in rows]
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="transformers folder to trim")
    parser.add_argument("--out", type=Path, required=True, help="folder to write (replaced)")
    parser.add_argument(
        "--corpus",
        action="append",
        required=True,
        help='Hydra overrides naming one data config, e.g. "data=id_hs1 data.split.fold=2"; repeat',
    )
    parser.add_argument("--dtype", default=None, help="cast float weights, e.g. float16")
    args = parser.parse_args(argv)
    texts = corpus_from_configs(args.corpus)
    summary = trim_vocabulary(args.model, texts, args.out, dtype=args.dtype)
    differing = check_same_tokens(args.model, args.out, texts)
    print(
        f"{args.out}: {summary['pieces_before']} -> {summary['pieces_after']} pieces, "
        f"{len(texts)} texts, {differing} tokenised differently"
    )
    return 1 if differing else 0


if __name__ == "__main__":
    raise SystemExit(main())
