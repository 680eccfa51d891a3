"""Byte-level tokenizer: exact round trips, special ids, padding, the Hugging Face view."""

from __future__ import annotations

import pickle

import pytest
import torch

from scisuite.domains.protein.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    VOCAB_SIZE,
    ByteTokenizer,
    hf_tokenizer,
)


@pytest.mark.parametrize(
    "text", ["", "MKTAYIAK", "ss3[MKV]=MHKEVC", "dssc[0.60,0.10,0.30]=", "Å→ü"]
)
def test_encode_decode_round_trip(text: str) -> None:
    tok = ByteTokenizer()
    ids = tok.encode(text, bos=True, eos=True)
    assert ids[0] == BOS_ID and ids[-1] == EOS_ID
    assert all(0 <= i < VOCAB_SIZE for i in ids)
    assert len(ids) == len(text.encode("utf-8")) + 2
    assert tok.decode(ids) == text


def test_specials_and_stop_at_eos() -> None:
    tok = ByteTokenizer()
    assert len({PAD_ID, BOS_ID, EOS_ID}) == 3 and min(PAD_ID, BOS_ID, EOS_ID) >= 256
    ids = tok.encode("AB", eos=True) + tok.encode("CD")
    assert tok.decode(ids) == "AB"
    assert tok.decode(ids, stop_at_eos=False) == "ABCD"
    assert tok.decode([0xFF]) == "\ufffd"  # invalid UTF-8 is replaced, never raises


def test_ids_of_rejects_multibyte() -> None:
    tok = ByteTokenizer()
    assert tok.ids_of("HEC") == [72, 69, 67]
    with pytest.raises(ValueError, match="single byte"):
        tok.ids_of("é")


def test_batch_encode_left_pads() -> None:
    ids, mask = ByteTokenizer().batch_encode(["AB", "ABCD"])
    assert ids.shape == (2, 5) and mask.sum(1).tolist() == [3, 5]
    assert ids[0, :2].tolist() == [PAD_ID, PAD_ID] and ids[0, 2] == BOS_ID
    assert torch.equal(ids[1], torch.tensor([BOS_ID, 65, 66, 67, 68]))
    pickle.loads(pickle.dumps(ByteTokenizer()))


def test_hugging_face_view_matches() -> None:
    hf = hf_tokenizer()
    text = "ss3[MKV]=Å"
    ids = hf(text, add_special_tokens=False)["input_ids"]
    assert ids == ByteTokenizer().encode(text)
    assert hf.decode(ids) == text
    assert (hf.pad_token_id, hf.bos_token_id, hf.eos_token_id) == (PAD_ID, BOS_ID, EOS_ID)
    assert hf.vocab_size == VOCAB_SIZE
