"""``normalizer_spec`` is the normaliser as data (shipped in every bundle's preprocess.json): an interpreter
written from the spec alone must give :func:`normalize_text`'s output on every input, under every config.

The interpreter uses the ``regex`` module, which reads the spec's ECMAScript-style patterns (``\\p{L}``,
lookbehind) as JavaScript does; the Node client (clients/node/normalize.js) is the other interpreter.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import fields, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.data.normalize import NORMALIZER_VERSION, NormalizerConfig, normalize_text, normalizer_spec

regex = pytest.importorskip("regex")

SWITCHES = [f.name for f in fields(NormalizerConfig) if f.type in (bool, "bool")]
CONFIGS = [NormalizerConfig(), NormalizerConfig(lowercase=True), NormalizerConfig(mask_users=False)]
CONFIGS += [replace(NormalizerConfig(), **{name: False}) for name in SWITCHES if name != "lowercase"]
CONFIGS += [NormalizerConfig(user_token="<user>", url_token="[url]", user_placeholder="U.S.E.R")]

# Inputs for every rule and the places where they meet.
CASES = [
    "",
    "   \n\t  ",
    r"lucu \xf0\x9f\x98\x82\xf0\x9f\x98\x82 bgt",
    r"cut mid-emoji \xf0\x9f\x98",
    r"cut mid-escape \xf0\x9f\x98\x8",
    r"ends in a backslash \xf0\x9f\x98\ ",
    r"ends in a backslash \xf0\x9f\x98\\",
    "escape run then newline \\xf0\\x9f\n",
    r"invalid \xff\xfe bytes and \xc3\xa9 valid",
    r"\xe2\x80",
    r"\x",
    r"quote \u201chi\u201d \ud83d\ude02 lone \ud83d end \ude02",
    r"line\nbreak\rreturn\ttab",
    "cafe\u0301 n\u0303 \u212b",
    "zero\u200bwidth\u00adsoft\ufeffbom \u200e\u200f\u2060",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467 a\u200db \u200d\U0001f600 \u2764\u200d\U0001f525",
    "see https://example.com/x?y=1, HTTP://X.CO www.example.org/p and wwwx.org",
    "@budi_99 hi @ab@cd mail a@b.c @\u0e01\u0e02 @" + "x" * 40,
    "USER USER USER kamu, @USER: @USER hey USERNAME @a @b @c",
    "USER\nUSER   USER: x",
    "  lots   of\t\tspace \n\n\n  and \u3000lines \u00a0\u2028 end \x1c\x1f\x85 ",
    "MiXeD \u00c0\u00c9\u00ce \u03a3\u0391\u03a3 \u0130 stra\u00dfe",
]


def _utf8_run(match: Any) -> str:
    raw = bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-fA-F]{2})", match.group(0)))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return match.group(0)


def _utf16_run(match: Any) -> str:
    units = [int(u, 16) for u in re.findall(r"\\u([0-9a-fA-F]{4})", match.group(0))]
    out, i = [], 0
    while i < len(units):
        u = units[i]
        nxt = units[i + 1] if i + 1 < len(units) else None
        if 0xD800 <= u < 0xDC00 and nxt is not None and 0xDC00 <= nxt < 0xE000:
            out.append(chr(0x10000 + ((u - 0xD800) << 10) + (nxt - 0xDC00)))
            i += 2
            continue
        if not 0xD800 <= u < 0xE000:
            out.append(chr(u))
        i += 1
    return "".join(out)


def _repair_tail(text: str, step: dict[str, Any]) -> str:
    """The spec's ``algorithm`` lines, one by one."""
    unit, partial_re = regex.compile(step["unit"]), regex.compile(step["partial"])
    end = len(text) - 1 if text.endswith("\n") else len(text)
    partial = False
    if not unit.fullmatch(text[max(end - 4, 0) :]):
        for cut in (3, 2, 1):
            if end >= cut and partial_re.fullmatch(text[end - cut :]):
                end, partial = end - cut, True
                break
    start = end
    while start >= 4 and unit.fullmatch(text[start - 4 : start]):
        start -= 4
    if start == end:
        return text
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoded = decoder.decode(bytes(int(text[i + 2 : i + 4], 16) for i in range(start, end, 4)))
    except UnicodeDecodeError:
        return text
    if not partial and not decoder.getstate()[0]:
        return text
    return text[:start] + decoded


def interpret(spec: dict[str, Any], text: str) -> str:
    """The normaliser rebuilt from its spec alone."""
    decoders = {"utf8_escapes": _utf8_run, "utf16_escapes": _utf16_run}
    for step in spec["steps"]:
        op = step["op"]
        if op == "repair_truncated_tail":
            text = _repair_tail(text, step)
        elif op == "replace":
            flags = regex.IGNORECASE if "i" in step["flags"] else 0
            with_ = step.get("with")
            replacement = decoders[step["decode"]] if "decode" in step else (lambda _m, w=with_: w)
            text = regex.sub(step["pattern"], replacement, text, flags=flags)
        elif op == "unicode_normalize":
            text = unicodedata.normalize(step["form"], text)
        elif op == "strip":
            text = text.strip(step["chars"])
        elif op == "lowercase":
            text = text.lower()
        else:
            raise AssertionError(f"unknown op {op!r} in step {step['step']}")
    return text


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in vars(c).items()))
def test_the_spec_reproduces_the_normaliser_on_every_rule(cfg: NormalizerConfig) -> None:
    spec = normalizer_spec(cfg)
    for text in CASES:
        assert interpret(spec, text) == normalize_text(text, cfg), f"spec and code differ on {text!r}"


ALPHABET = st.sampled_from(
    ["\\x", "f0", "9f", "98", "82", "c3", "a9", "\\u", "d83d", "de02", "201c", "\\", "x", "8", "\\n", "\\t", " ",
     "\n", "\t", "\u3000", "\u200b", "\u200d", "\U0001f600", "e\u0301", "@", "ab_", "USER", ":", ",", "https://",
     "www.", "a.b", "\u03a3", "\u0130", "\u0e01", "\x85"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=14).map("".join), st.sampled_from(CONFIGS))
def test_the_spec_reproduces_the_normaliser_on_generated_text(text: str, cfg: NormalizerConfig) -> None:
    assert interpret(normalizer_spec(cfg), text) == normalize_text(text, cfg)


def test_every_switch_of_the_config_has_its_steps_and_only_enabled_ones_run() -> None:
    full = normalizer_spec(NormalizerConfig(lowercase=True))
    assert full["version"] == NORMALIZER_VERSION and full["unicode_version"] == unicodedata.unidata_version
    assert {s["rule"] for s in full["steps"]} == set(SWITCHES)
    for name in SWITCHES:
        off = normalizer_spec(replace(NormalizerConfig(lowercase=True), **{name: False}))
        assert name not in {s["rule"] for s in off["steps"]}
    names = [s["step"] for s in full["steps"]]
    assert names.index("repair_truncated_tail") < names.index("decode_escaped_bytes") < names.index("unicode_nfc")
    assert names.index("mask_users") < names.index("collapse_spaces") < names.index("strip") < names.index("lowercase")


def test_the_word_and_space_classes_equal_pythons_on_every_assigned_code_point() -> None:
    """JavaScript's \\w is ASCII-only and its \\s another set: the spec writes both out; they must be Python's."""
    chars = "".join(
        chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000 and unicodedata.category(chr(c)) != "Cn"
    )
    assert regex.findall(r"[\p{L}\p{N}_]", chars) == re.findall(r"\w", chars)
    space = normalizer_spec(NormalizerConfig())["whitespace"]
    assert [c for c in chars if c in space] == re.findall(r"\s", chars)
