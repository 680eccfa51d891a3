"""Byte-level (UTF-8) tokenizer of the protein language model.

Every prompt is plain text (``"ss3[MKV]=..."``); its UTF-8 bytes are the token ids
``0..255``, followed by three special ids: :data:`PAD_ID` (256, never attended to),
:data:`BOS_ID` (257, starts every example) and :data:`EOS_ID` (258, ends every answer).
There is no vocabulary file and nothing to fit, so any text round-trips exactly and the
same tokenizer serves every task (after Buehler 2023, which also used characters as tokens).

A :class:`transformers.PreTrainedTokenizer` view is available through
:func:`hf_tokenizer` for users who want the Hugging Face interface.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

NUM_BYTES = 256
PAD_ID = 256
BOS_ID = 257
EOS_ID = 258
#: Token ids: 256 bytes + pad, bos, eos.
VOCAB_SIZE = 259
SPECIAL_TOKENS = {PAD_ID: "<pad>", BOS_ID: "<bos>", EOS_ID: "<eos>"}


class ByteTokenizer:
    """UTF-8 bytes as token ids, plus pad / bos / eos.

    Stateless and picklable; all methods are pure.
    """

    pad_id = PAD_ID
    bos_id = BOS_ID
    eos_id = EOS_ID
    vocab_size = VOCAB_SIZE

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Text -> token ids (one per UTF-8 byte), optionally wrapped in bos / eos."""
        ids = list(text.encode("utf-8"))
        return ([BOS_ID] if bos else []) + ids + ([EOS_ID] if eos else [])

    def decode(self, ids: Iterable[int], stop_at_eos: bool = True) -> str:
        """Token ids -> text; special ids are dropped (decoding stops at eos by default).

        Invalid UTF-8 (a model emitting a lone continuation byte) becomes U+FFFD.
        """
        out = bytearray()
        for token in ids:
            token = int(token)
            if token == EOS_ID and stop_at_eos:
                break
            if 0 <= token < NUM_BYTES:
                out.append(token)
        return out.decode("utf-8", errors="replace")

    def ids_of(self, characters: str) -> list[int]:
        """Token id of each single-byte character of ``characters`` (alphabets, for masks)."""
        ids = []
        for char in characters:
            encoded = char.encode("utf-8")
            if len(encoded) != 1:
                raise ValueError(f"alphabet character {char!r} is not a single byte")
            ids.append(encoded[0])
        return ids

    def batch_encode(
        self, texts: Sequence[str], bos: bool = True, left_pad: bool = True
    ) -> tuple[Tensor, Tensor]:
        """Pad several texts to one ``[B, L]`` id tensor.

        Returns:
            ``ids [B, L]`` (long) and ``mask [B, L]`` (bool, True on real tokens); padding
            goes on the left by default, as cached decoding expects.
        """
        encoded = [self.encode(t, bos=bos) for t in texts]
        width = max((len(e) for e in encoded), default=0)
        ids = torch.full((len(texts), width), PAD_ID, dtype=torch.long)
        mask = torch.zeros(len(texts), width, dtype=torch.bool)
        for row, tokens in enumerate(encoded):
            span = slice(width - len(tokens), width) if left_pad else slice(0, len(tokens))
            ids[row, span] = torch.tensor(tokens, dtype=torch.long)
            mask[row, span] = True
        return ids, mask


def hf_tokenizer(**kwargs: Any) -> Any:
    """A :class:`transformers.PreTrainedTokenizer` with the same ids (imported lazily).

    Args:
        kwargs: passed to ``PreTrainedTokenizer.__init__`` (e.g. ``model_max_length``).
    """
    from transformers import PreTrainedTokenizer

    class ScisuiteByteTokenizer(PreTrainedTokenizer):
        """Hugging Face view of :class:`ByteTokenizer` (bytes 0-255, then pad/bos/eos)."""

        model_input_names = ["input_ids", "attention_mask"]

        def __init__(self, **init_kwargs: Any) -> None:
            self._bytes = ByteTokenizer()
            init_kwargs.setdefault("pad_token", SPECIAL_TOKENS[PAD_ID])
            init_kwargs.setdefault("bos_token", SPECIAL_TOKENS[BOS_ID])
            init_kwargs.setdefault("eos_token", SPECIAL_TOKENS[EOS_ID])
            super().__init__(**init_kwargs)

        @property
        def vocab_size(self) -> int:
            return VOCAB_SIZE

        def get_vocab(self) -> dict[str, int]:
            vocab = {chr(i) if i < 128 else f"<0x{i:02X}>": i for i in range(NUM_BYTES)}
            vocab.update({name: token for token, name in SPECIAL_TOKENS.items()})
            return vocab

        def _tokenize(self, text: str, **_: Any) -> list[str]:
            return [chr(b) if b < 128 else f"<0x{b:02X}>" for b in text.encode("utf-8")]

        def _convert_token_to_id(self, token: str) -> int:
            for token_id, name in SPECIAL_TOKENS.items():
                if token == name:
                    return token_id
            if token.startswith("<0x") and token.endswith(">"):
                return int(token[3:-1], 16)
            return ord(token)

        def _convert_id_to_token(self, index: int) -> str:
            if index in SPECIAL_TOKENS:
                return SPECIAL_TOKENS[index]
            return chr(index) if index < 128 else f"<0x{index:02X}>"

        def convert_tokens_to_string(self, tokens: list[str]) -> str:
            ids = [self._convert_token_to_id(t) for t in tokens]
            return self._bytes.decode([i for i in ids if i < NUM_BYTES])

        def save_vocabulary(
            self, save_directory: str, filename_prefix: str | None = None
        ) -> tuple[str, ...]:
            return ()  # nothing to save: the vocabulary is the 256 bytes + 3 specials

    return ScisuiteByteTokenizer(**kwargs)
