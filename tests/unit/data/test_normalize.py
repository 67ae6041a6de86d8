from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.data import normalize
from trainer.data.normalize import NormalizerConfig, _collapse_user_runs, normalize_text

CFG = NormalizerConfig()


def test_repairs_literal_utf8_escapes_into_emoji() -> None:
    assert normalize_text(r"lucu bgt \xf0\x9f\x98\x82\xf0\x9f\x98\x82", CFG) == "lucu bgt 😂😂"


def test_truncated_escape_is_left_alone() -> None:
    assert normalize_text(r"broken \xf0\x9f end", CFG) == r"broken \xf0\x9f end"


def test_literal_newline_becomes_newline_and_whitespace_collapses() -> None:
    assert normalize_text(r"line one\nline two   \n\n  three", CFG) == "line one\nline two\nthree"


def test_masks_handles_and_urls() -> None:
    out = normalize_text("@budi_99 lihat https://t.co/AbC123 dan www.example.com/x", CFG)
    assert out == "@USER lihat HTTPURL dan HTTPURL"


def test_collapses_user_runs() -> None:
    assert normalize_text("USER USER USER USER kamu kenapa", CFG) == "@USER kamu kenapa"
    assert normalize_text("@a @b @c hello", CFG) == "@USER hello"
    # A word that merely contains USER is not a placeholder.
    assert normalize_text("USERNAME is fine", CFG) == "USERNAME is fine"


def test_nfc_and_zero_width() -> None:
    decomposed = "cafe\u0301"
    assert normalize_text(decomposed + "\u200b!", CFG) == "caf\u00e9!"
    # A ZWJ inside an emoji sequence is part of the glyph and stays.
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert normalize_text(family, CFG) == family


def test_everything_can_be_switched_off() -> None:
    off = NormalizerConfig(
        repair_escapes=False,
        mask_urls=False,
        mask_users=False,
        collapse_user_runs=False,
        unicode_nfc=False,
        strip_zero_width=False,
        normalize_whitespace=False,
    )
    text = r"@x  https://a.b USER USER \n"
    assert normalize_text(text, off) == text


def test_thai_and_burmese_text_survives() -> None:
    for text in ("สวัสดีครับ วันนี้อากาศดี", "မင်္ဂလာပါ နေကောင်းလား", "مرحبا بكم"):
        assert normalize_text(text, CFG) == text


def test_character_cut_off_at_the_end_is_dropped() -> None:
    # Truncated tweets end mid-emoji, sometimes mid-escape; what decodes stays.
    assert normalize_text(r"lucu \xf0\x9f\x98\x82\xf0\x9f\x98", CFG) == "lucu 😂"
    assert normalize_text(r"lucu \xf0\x9f\x98\x82\xf0\x9f\x98\x8", CFG) == "lucu 😂"
    assert normalize_text(r"cut \xf0\x9f" + "\\", CFG) == "cut"
    # Not at the end, or not UTF-8: not ours to guess.
    assert normalize_text(r"bad \xff\xfe", CFG) == r"bad \xff\xfe"
    assert normalize_text("a path\\", CFG) == "a path\\"


def test_repairs_json_utf16_escapes_with_surrogate_pairs() -> None:
    assert normalize_text(r"so funny \ud83d\ude02 and more\u2026", CFG) == "so funny 😂 and more…"
    assert normalize_text(r"cut \ud83d", CFG) == "cut"


# Pieces the USER-run pattern reacts to: the word with and without "@", separators, word characters, newlines.
_RUN_PIECES = st.sampled_from(["USER", "@USER", " ", ":", ",", "a", "@", "\n", "  ", "\t", "USERS", "é"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_RUN_PIECES, max_size=12).map("".join))
def test_collapsing_user_runs_twice_changes_nothing(text: str) -> None:
    """Why normalize_text makes one collapsing pass when the placeholder is the masked handle's word."""
    once = _collapse_user_runs(text, "USER", "@USER")
    assert _collapse_user_runs(once, "USER", "@USER") == once


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(["USER", "@USER", "@bob", " ", "\\n", "\\t", "\\x41", "\\u00e9", "\\", "x"]), max_size=10
    ).map("".join)
)
def test_the_skipped_passes_would_have_changed_nothing(text: str) -> None:
    """normalize_text equals every pass applied unconditionally, for the default words and a different one."""
    for cfg in (NormalizerConfig(), NormalizerConfig(user_placeholder="ANON")):
        full = normalize._repair_truncated_tail(text) if "\\" in text else text
        if "\\" in text:
            full = normalize._ESCAPED_BYTES.sub(normalize._decode_escaped_bytes, full)
            full = normalize._ESCAPED_UTF16.sub(normalize._decode_escaped_utf16, full)
            full = normalize._LITERAL_TAB.sub(" ", normalize._LITERAL_NEWLINE.sub("\n", full))
        full = normalize._HANDLE.sub(cfg.user_token, full)
        full = _collapse_user_runs(full, cfg.user_placeholder, cfg.user_token)
        full = _collapse_user_runs(full, "USER", cfg.user_token)
        full = normalize._normalize_whitespace(full)
        assert normalize_text(text, cfg) == full
