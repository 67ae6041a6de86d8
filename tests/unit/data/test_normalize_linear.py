"""Every normaliser step is linear: 200 KB adversarial inputs of each damaged shape finish in seconds.

Not a timing assertion: a quadratic step takes minutes on these inputs (the truncated-tail regex
took 7 s on 32 KB), so a generous alarm tells linear from quadratic on any machine.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from trainer.data.normalize import NormalizerConfig, normalize_text

SIZE = 200_000
LIMIT_S = 5

# One shape per step: each repeats the unit a step's pattern has to scan, ending where a
# backtracking match would fail.
ADVERSARIAL = {
    "escaped_emoji_then_space": "\\xf0\\x9f\\x98\\x82" * (SIZE // 16) + " ",
    "cut_escape_runs": "\\xf0" * (SIZE // 4) + "a",
    "invalid_escape_run": "\\xff" * (SIZE // 4),
    "partial_escapes": "\\x" * (SIZE // 2),
    "backslashes": "\\" * SIZE,
    "utf16_escapes": "\\ud83d" * (SIZE // 6),
    "user_runs": "USER " * (SIZE // 5) + "x",
    "user_runs_punctuated": "USER, " * (SIZE // 6) + "USER,x",
    "masked_users": "@USER " * (SIZE // 6),
    "user_then_spaces": "USER" + " " * SIZE + "x",
    "handles": "@" * SIZE,
    "urls": "http://" * (SIZE // 7),
    "spaces_and_newlines": " \n" * (SIZE // 2) + "x",
    "unicode_spaces": "\u2028\u00a0" * (SIZE // 2),
    "zero_width_joiners": "\U0001f600\u200d" * (SIZE // 2),
}


@contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def _fail(signum: int, frame: object) -> None:
        raise TimeoutError(f"normalize_text took over {seconds} s: a step is not linear")

    previous = signal.signal(signal.SIGALRM, _fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("shape", sorted(ADVERSARIAL))
def test_adversarial_input_normalises_in_linear_time(shape: str) -> None:
    text = ADVERSARIAL[shape]
    with _alarm(LIMIT_S):
        for cfg in (NormalizerConfig(), NormalizerConfig(mask_users=False, normalize_whitespace=False)):
            normalize_text(text, cfg)


def test_truncated_tail_is_still_repaired_after_a_long_run() -> None:
    text = "lucu " + "\\xf0\\x9f\\x98\\x82" * 5000 + "\\xf0\\x9f\\x98"
    with _alarm(LIMIT_S):
        assert normalize_text(text, NormalizerConfig()) == "lucu " + "\U0001f602" * 5000
