"""Social-media text normaliser, configured per dataset.

Tweets exported through spreadsheets arrive damaged in recurring ways: UTF-8 bytes written out as
literal ``\\xf0\\x9f\\x98\\x82`` text (UTF-16 as JSON's ``\\ud83d\\ude02``), characters cut in half
where a tweet was truncated, newlines as a literal backslash-n, runs of ``USER USER USER`` where
mentions were anonymised. The normaliser repairs those and masks handles and links so a model
cannot memorise them. ``NORMALIZER_VERSION`` is part of the tokenisation cache key: bump it whenever
the output of :func:`normalize_text` changes for any input.
"""

from __future__ import annotations

import codecs
import functools
import re
import unicodedata
from dataclasses import dataclass

NORMALIZER_VERSION = "2"

# Runs of literal "\xNN" escapes: decoded together because one emoji is four bytes.
_ESCAPED_BYTES = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
# A text cut off mid-character ends in an incomplete escape run, often with a partial "\x8" or "\".
# Both are matched at the end only (see _tail_run): a regex searched with "$" retries at every
# "\x" of a long run and is quadratic.
_ESCAPE_UNIT = re.compile(r"\\x[0-9a-fA-F]{2}")
_PARTIAL_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]?)?")
# Runs of JSON-style "\u2026" escapes: decoded together because emoji are surrogate pairs.
_ESCAPED_UTF16 = re.compile(r"(?:\\u[0-9a-fA-F]{4})+")
_LITERAL_NEWLINE = re.compile(r"\\[nr]")
_LITERAL_TAB = re.compile(r"\\t")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,30}")
# Zero-width space/joiners, BOM, word joiner, soft hyphen. ZWJ (U+200D) is kept when it sits
# between emoji, where it forms one glyph (family, flags): see _strip_zero_width.
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200e\u200f\u2060\ufeff\u00ad]")
_ZWJ_OUTSIDE_EMOJI = re.compile(
    "(?<![\U0001f000-\U0001faff\u2600-\u27bf])\u200d|\u200d(?![\U0001f000-\U0001faff\u2600-\u27bf])"
)
_HSPACE = re.compile(r"[^\S\n]+")
# Starts only where horizontal space starts (or at a newline), so a long run is scanned once; the
# same matches as the former r"\s*\n\s*(?:\n\s*)*", whose last group could never match.
_MANY_NEWLINES = re.compile(r"(?<![^\S\n])[^\S\n]*\n\s*")


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


def _tail_run(text: str) -> tuple[int, int, bool]:
    """Where the escape run at the end of ``text`` starts and ends, and whether a partial escape follows.

    The same split as ``((?:\\x[0-9a-fA-F]{2})+)(\\(?:x[0-9a-fA-F]?)?)?$`` searched left to right,
    found by walking back from the end in 4-character steps: linear however long the run. Like
    that regex's ``$``, the end is before a final newline when there is one.
    """
    end = len(text) - 1 if text.endswith("\n") else len(text)
    partial = False
    if not _ESCAPE_UNIT.fullmatch(text, max(end - 4, 0)):
        for cut in (3, 2, 1):
            if end >= cut and _PARTIAL_ESCAPE.fullmatch(text, end - cut):
                end, partial = end - cut, True
                break
    start = end
    while start >= 4 and _ESCAPE_UNIT.fullmatch(text, start - 4, start):
        start -= 4
    return start, end, partial


def _repair_truncated_tail(text: str) -> str:
    """Drop a character cut off at the very end of ``text`` (tweets truncated mid-emoji).

    Only the end of the text is touched, and only when the complete bytes before the cut are valid
    UTF-8: what cannot be finished is dropped, what can be decoded is kept.
    """
    start, end, partial = _tail_run(text)
    if start == end:
        return text
    raw = bytes(int(text[i + 2 : i + 4], 16) for i in range(start, end, 4))
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoded = decoder.decode(raw)  # not final: an incomplete last character stays buffered
    except UnicodeDecodeError:
        return text
    if not partial and not decoder.getstate()[0]:
        return text  # nothing is cut off; the main pass decodes the run
    return text[:start] + decoded


def _decode_escaped_utf16(match: re.Match[str]) -> str:
    units = re.findall(r"\\u([0-9a-fA-F]{4})", match.group(0))
    # A lone surrogate is half a character and cannot be written out: it is dropped.
    return b"".join(int(u, 16).to_bytes(2, "little") for u in units).decode("utf-16-le", errors="ignore")


@functools.lru_cache(maxsize=16)
def _user_run_pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?:(?<=\s)|^)(?:@?{re.escape(word)}[:,]?\s+)*@?{re.escape(word)}(?=\W|$)")


def _collapse_user_runs(text: str, word: str, replacement: str) -> str:
    if word not in text:  # every match contains the word itself
        return text
    return _user_run_pattern(word).sub(replacement, text)


def _repair_escapes(text: str) -> str:
    if "\\" not in text:  # every repair starts at a backslash
        return text
    text = _repair_truncated_tail(text)
    # Each pattern starts with its own two characters: a pass whose pair is absent would change nothing.
    if "\\x" in text:
        text = _ESCAPED_BYTES.sub(_decode_escaped_bytes, text)
    if "\\u" in text:
        text = _ESCAPED_UTF16.sub(_decode_escaped_utf16, text)
    if "\\n" in text or "\\r" in text:
        text = _LITERAL_NEWLINE.sub("\n", text)
    return _LITERAL_TAB.sub(" ", text) if "\\t" in text else text


def _strip_zero_width(text: str) -> str:
    if text.isascii():  # every character these remove is outside ASCII
        return text
    return _ZWJ_OUTSIDE_EMOJI.sub("", _ZERO_WIDTH.sub("", text))


# ASCII characters besides " " that Python's \s holds and "\n" (which _HSPACE leaves alone).
_ASCII_HSPACE_OTHER = "\t\r\x0b\x0c\x1c\x1d\x1e\x1f"


def _normalize_whitespace(text: str) -> str:
    # ASCII text whose only horizontal space is single " " has nothing for _HSPACE to change.
    if not text.isascii() or "  " in text or any(c in text for c in _ASCII_HSPACE_OTHER):
        text = _HSPACE.sub(" ", text)
    if "\n" in text:  # every match of _MANY_NEWLINES holds a newline
        text = _MANY_NEWLINES.sub("\n", text)
    return text.strip()


def normalize_text(text: str, cfg: NormalizerConfig) -> str:
    """Return ``text`` repaired and masked according to ``cfg`` (pure, deterministic).

    Each step is skipped when the text holds nothing it could match (a backslash, a non-ASCII character,
    ``://``, ``@``, the placeholder word): the same output, at a fraction of the regex passes per post.
    """
    if cfg.repair_escapes:
        text = _repair_escapes(text)
    if cfg.unicode_nfc and not text.isascii():  # ASCII text is always NFC
        text = unicodedata.normalize("NFC", text)
    if cfg.strip_zero_width:
        text = _strip_zero_width(text)
    if cfg.mask_urls and ("://" in text or "www." in text.lower()):  # every link holds one (any case)
        text = _URL.sub(cfg.url_token, text)
    if cfg.mask_users and "@" in text:  # a handle starts with "@"
        text = _HANDLE.sub(cfg.user_token, text)
    if cfg.collapse_user_runs:
        text = _collapse_user_runs(text, cfg.user_placeholder, cfg.user_token if cfg.mask_users else "USER")
        masked_word = cfg.user_token.lstrip("@")
        # "@USER @USER @USER" from masked handles collapses the same way. With the default words that is the
        # pass just made, and collapsing twice changes nothing (tests/unit/data/test_normalize.py): skipped.
        if cfg.mask_users and masked_word != cfg.user_placeholder:
            text = _collapse_user_runs(text, masked_word, cfg.user_token)
    if cfg.normalize_whitespace:
        text = _normalize_whitespace(text)
    if cfg.lowercase:
        text = text.lower()
    return text


# -- the pipeline as data: what preprocess.json ships so other runtimes can reimplement it ----------------
SPEC_FORMAT = "seaguard-normalizer-spec/1"
# Python's \w on assigned characters is exactly this class (tests/unit/data/test_normalize_spec.py checks
# every code point); written out because a JavaScript \w is ASCII-only.
_WORD = r"\p{L}\p{N}_"
_SYNTAX = frozenset("^$\\.*+?()[]{}|/")  # ECMAScript SyntaxCharacter and '/': the only escapes its u mode allows


def _space_chars(newline: bool = True) -> str:
    """Python's \\s (str.isspace) as literal characters for a class; a JavaScript \\s differs (U+FEFF, U+001C-1F)."""
    chars = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())  # none above U+3000
    return chars if newline else chars.replace("\n", "")


def _portable_escape(text: str) -> str:
    return "".join("\\" + c if c in _SYNTAX else c for c in text)


def _replace(name: str, rule: str, pattern: str, replacement: str, why: str, flags: str = "") -> dict[str, object]:
    return {
        "step": name,
        "rule": rule,
        "op": "replace",
        "pattern": pattern,
        "flags": flags,
        "with": replacement,
        "why": why,
    }


def _decode(name: str, pattern: str, decode: str, why: str) -> dict[str, object]:
    return {
        "step": name,
        "rule": "repair_escapes",
        "op": "replace",
        "pattern": pattern,
        "flags": "",
        "decode": decode,
        "why": why,
    }


def _user_run(rule: str, word: str, replacement: str) -> dict[str, object]:
    space, w = _space_chars(), _portable_escape(word)
    pattern = rf"(?:(?<=[{space}])|^)(?:@?{w}[:,]?[{space}]+)*@?{w}(?=[^{_WORD}]|$)"
    return _replace(
        f"collapse_runs_of_{word}", rule, pattern, replacement, f"a run of {word!r} words becomes one token"
    )


def _repair_tail_step() -> dict[str, object]:
    return {
        "step": "repair_truncated_tail",
        "rule": "repair_escapes",
        "op": "repair_truncated_tail",
        "unit": r"\\x[0-9a-fA-F]{2}",
        "partial": r"\\(?:x[0-9a-fA-F]?)?",
        "why": "a text cut off mid-character ends in an incomplete \\xNN run: drop what cannot be finished",
        "algorithm": [
            "E = length of the text, minus 1 when the text ends with '\\n'",
            "unless text[max(E-4,0):] (to the END of the text, not to E) is exactly one unit: for cut in 3, 2, 1: "
            "if E >= cut and text[E-cut:] (to the end) fully matches `partial`, set E -= cut, partial = true, stop",
            "S = E; while S >= 4 and text[S-4:S] is exactly one unit: S -= 4",
            "if S == E: the text is unchanged",
            "bytes = the hex byte of each unit in text[S:E]; decode them as streaming UTF-8 (WHATWG decoder, fatal, "
            "not flushed): an invalid sequence leaves the text unchanged",
            "if not partial and the decoder holds no incomplete character: the text is unchanged",
            "otherwise the text becomes text[:S] + the decoded characters (the incomplete character and text[E:] are "
            "dropped)",
        ],
    }


def normalizer_spec(cfg: NormalizerConfig) -> dict[str, object]:
    """Every step :func:`normalize_text` runs under ``cfg``, in order, with its parameters, as data.

    Patterns are ECMAScript regular expressions with the ``u`` flag (plus ``flags``), replaced globally
    (every non-overlapping match, left to right); ``with`` is literal text. Positions count code points.
    A test runs an interpreter of this spec against :func:`normalize_text`, so the two cannot drift.
    """
    space, hspace = _space_chars(), _space_chars(newline=False)
    steps: list[dict[str, object]] = []
    if cfg.repair_escapes:
        steps += [
            _repair_tail_step(),
            _decode("decode_escaped_bytes", _ESCAPED_BYTES.pattern, "utf8_escapes", "\\xNN runs are UTF-8 bytes"),
            _decode("decode_escaped_utf16", _ESCAPED_UTF16.pattern, "utf16_escapes", "\\uNNNN runs are UTF-16"),
            _replace("literal_newlines", "repair_escapes", _LITERAL_NEWLINE.pattern, "\n", "a literal \\n or \\r"),
            _replace("literal_tabs", "repair_escapes", _LITERAL_TAB.pattern, " ", "a literal \\t"),
        ]
    if cfg.unicode_nfc:
        steps.append({"step": "unicode_nfc", "rule": "unicode_nfc", "op": "unicode_normalize", "form": "NFC"})
    if cfg.strip_zero_width:
        steps += [
            _replace("strip_zero_width", "strip_zero_width", _ZERO_WIDTH.pattern, "", "invisible characters"),
            _replace(
                "strip_zwj_outside_emoji", "strip_zero_width", _ZWJ_OUTSIDE_EMOJI.pattern, "", "ZWJ joins emoji only"
            ),
        ]
    if cfg.mask_urls:
        steps.append(
            _replace("mask_urls", "mask_urls", rf"(?:https?://|www\.)[^{space}]+", cfg.url_token, "links", "i")
        )
    if cfg.mask_users:
        handle = rf"(?<![{_WORD}@])@[{_WORD}]{{1,30}}"
        steps.append(_replace("mask_users", "mask_users", handle, cfg.user_token, "@handles"))
    if cfg.collapse_user_runs:
        steps.append(
            _user_run("collapse_user_runs", cfg.user_placeholder, cfg.user_token if cfg.mask_users else "USER")
        )
        if cfg.mask_users:
            steps.append(_user_run("collapse_user_runs", cfg.user_token.lstrip("@"), cfg.user_token))
    if cfg.normalize_whitespace:
        steps += [
            _replace("collapse_spaces", "normalize_whitespace", f"[{hspace}]+", " ", "horizontal space runs"),
            _replace(
                "collapse_newlines",
                "normalize_whitespace",
                f"(?<![{hspace}])[{hspace}]*\n[{space}]*",
                "\n",
                "newline runs",
            ),
            {"step": "strip", "rule": "normalize_whitespace", "op": "strip", "chars": space},
        ]
    if cfg.lowercase:
        steps.append({"step": "lowercase", "rule": "lowercase", "op": "lowercase", "mapping": "full"})
    return {
        "format": SPEC_FORMAT,
        "version": NORMALIZER_VERSION,
        "unicode_version": unicodedata.unidata_version,
        "regex_dialect": "ECMAScript RegExp, flags 'gu' + the step's flags; 'with' is literal (no $ substitutions)",
        "whitespace": space,
        "decoders": {
            "utf8_escapes": "each match's \\xNN bytes decoded as UTF-8 (fatal); a match that is not valid UTF-8 is kept as is",
            "utf16_escapes": "each match's \\uNNNN code units decoded as UTF-16; a surrogate without its pair is dropped",
        },
        "lowercase": "Unicode full lowercase mapping with the Final_Sigma context, no locale (str.lower, String.toLowerCase)",
        "steps": steps,
    }
