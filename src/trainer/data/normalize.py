"""Social-media text normaliser, configured per dataset.

Tweets exported through spreadsheets arrive damaged in recurring ways: UTF-8 bytes written out as
literal ``\\xf0\\x9f\\x98\\x82`` text, newlines as a literal backslash-n, runs of ``USER USER USER``
where mentions were anonymised. The normaliser repairs those and masks handles and links so a model
cannot memorise them. ``NORMALIZER_VERSION`` is part of the tokenisation cache key: bump it whenever
the output of :func:`normalize_text` changes for any input.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

NORMALIZER_VERSION = "1"

# Runs of literal "\xNN" escapes: decoded together because one emoji is four bytes.
_ESCAPED_BYTES = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
_LITERAL_NEWLINE = re.compile(r"\\[nr]")
_LITERAL_TAB = re.compile(r"\\t")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,30}")
# Zero-width space/joiners, BOM, word joiner, soft hyphen. ZWJ (U+200D) is kept when it sits
# between emoji, where it forms one glyph (family, flags): see _strip_zero_width.
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200e\u200f\u2060\ufeff\u00ad]")
_ZWJ_OUTSIDE_EMOJI = re.compile("(?<![\U0001f000-\U0001faff\u2600-\u27bf])\u200d|\u200d(?![\U0001f000-\U0001faff\u2600-\u27bf])")
_HSPACE = re.compile(r"[^\S\n]+")
_MANY_NEWLINES = re.compile(r"\s*\n\s*(?:\n\s*)*")


@dataclass(frozen=True)
class NormalizerConfig:
    """Which repairs and masks to apply. Every field maps 1:1 to ``data.normalizer.<field>``."""

    repair_escapes: bool = True
    mask_urls: bool = True
    url_token: str = "HTTPURL"
    mask_users: bool = True
    user_token: str = "@USER"
    collapse_user_runs: bool = True
    # The bare word that anonymised exports put in place of every mention ("USER USER USER").
    user_placeholder: str = "USER"
    unicode_nfc: bool = True
    strip_zero_width: bool = True
    normalize_whitespace: bool = True
    lowercase: bool = False


def _decode_escaped_bytes(match: re.Match[str]) -> str:
    raw = bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-fA-F]{2})", match.group(0)))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # A truncated sequence is not ours to guess: keep the original text untouched.
        return match.group(0)


def _collapse_user_runs(text: str, word: str, replacement: str) -> str:
    run = re.compile(rf"(?:(?<=\s)|^)(?:@?{re.escape(word)}[:,]?\s+)*@?{re.escape(word)}(?=\W|$)")
    return run.sub(replacement, text)


def normalize_text(text: str, cfg: NormalizerConfig) -> str:
    """Return ``text`` repaired and masked according to ``cfg`` (pure, deterministic)."""
    if cfg.repair_escapes:
        text = _ESCAPED_BYTES.sub(_decode_escaped_bytes, text)
        text = _LITERAL_NEWLINE.sub("\n", text)
        text = _LITERAL_TAB.sub(" ", text)
    if cfg.unicode_nfc:
        text = unicodedata.normalize("NFC", text)
    if cfg.strip_zero_width:
        text = _ZERO_WIDTH.sub("", text)
        text = _ZWJ_OUTSIDE_EMOJI.sub("", text)
    if cfg.mask_urls:
        text = _URL.sub(cfg.url_token, text)
    if cfg.mask_users:
        text = _HANDLE.sub(cfg.user_token, text)
    if cfg.collapse_user_runs:
        text = _collapse_user_runs(text, cfg.user_placeholder, cfg.user_token if cfg.mask_users else "USER")
        if cfg.mask_users:
            # "@USER @USER @USER" from masked handles collapses the same way.
            text = _collapse_user_runs(text, cfg.user_token.lstrip("@"), cfg.user_token)
    if cfg.normalize_whitespace:
        text = _HSPACE.sub(" ", text)
        text = _MANY_NEWLINES.sub("\n", text)
        text = text.strip()
    if cfg.lowercase:
        text = text.lower()
    return text
