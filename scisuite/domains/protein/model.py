"""The protein language model: core backbone (causal, attention-graph propagation) + LM head.

After Buehler, "Generative pretrained autoregressive transformer graph neural network
applied to the analysis and discovery of novel proteins", J. Appl. Phys. 134, 084902
(2023): a decoder-only model over byte tokens in which every head's causal attention
matrix also serves as a weighted adjacency for ``propagation_hops`` hops of graph
convolution on the head's values (``scisuite.core.attention``).

* :class:`ProteinLM` — training runs the flat PyG batch of token sequences under
  ``DensePattern(batch, causal=True)``; generation runs cached decoding
  (:func:`scisuite.core.decoding.decode_step`); ``predict(batch)`` runs the forward tasks
  by constrained greedy decoding (``generation.py``) and returns one typed
  ``SequencePrediction`` per sequence.
* :func:`hf_model_classes` — the same model as a ``transformers.PreTrainedModel`` with a
  ``PretrainedConfig`` (``save_pretrained`` / ``from_pretrained``); its own ``generate()``
  is not wired (use :func:`scisuite.domains.protein.generation.generate`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from scisuite.core.backbone import Backbone
from scisuite.core.decoding import DecodingState, decode_step
from scisuite.core.heads import TokenLMHead
from scisuite.core.patterns import DensePattern
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.generation import SequencePrediction, predict_sequences
from scisuite.domains.protein.tokenizer import BOS_ID, EOS_ID, PAD_ID, VOCAB_SIZE


class ProteinLM(nn.Module):
    """Byte-level causal LM: :class:`~scisuite.core.backbone.Backbone` + tied
    :class:`~scisuite.core.heads.TokenLMHead`.

    Args:
        config: the protein config (its ``backbone`` must read byte tokens).
    """

    def __init__(self, config: ProteinConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = Backbone(config.backbone)
        embed = self.backbone.embed
        assert isinstance(embed, nn.Embedding)
        self.head = TokenLMHead(config.backbone.d_model, config.backbone.vocab_size, embed)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Backbone defaults, then GPT-2-style N(0, 0.02) for the tied embedding (the
        default N(0, 1) would make the tied output logits ~sqrt(d_model) large)."""
        self.backbone.reset_parameters()
        embed = self.backbone.embed
        assert isinstance(embed, nn.Embedding)
        nn.init.normal_(embed.weight, std=0.02)

    def token_logits(self, tokens: Tensor, sequence: Tensor) -> Tensor:
        """Flat causal path.

        Args:
            tokens: ``[N]`` token ids of several sequences laid end to end.
            sequence: ``[N]`` sequence id of every token, sorted ascending.

        Returns:
            ``[N, vocab]`` next-token logits.
        """
        states = self.backbone(tokens, sequence, DensePattern(sequence, causal=True))
        return self.head(states.node_states)

    def forward(self, batch: Batch) -> Tensor:
        """``batch`` of token sequences (``x [N]``) -> ``[N, vocab]`` next-token logits.

        A graph may hold several examples (a length bucket, ``segment [N]`` numbering them);
        each example then attends only to itself.
        """
        if batch.x.dim() != 1:
            raise ValueError(f"expected token ids x of shape [N], got {tuple(batch.x.shape)}")
        return self.token_logits(batch.x, sequence_ids(batch))

    def step(
        self, tokens: Tensor, token_mask: Tensor, state: DecodingState
    ) -> tuple[Tensor, DecodingState]:
        """Cached decoding of new tokens.

        Args:
            tokens: ``[B, L]`` new token ids (padding ignored).
            token_mask: ``[B, L]`` True on real tokens.
            state: decoding state after the previous call.

        Returns:
            ``[B, L, vocab]`` logits of the new positions and the grown state.
        """
        states, state = decode_step(self.backbone, tokens, token_mask, state)
        return self.head(states), state

    @torch.inference_mode()
    def predict(self, batch: Batch) -> list[SequencePrediction]:
        """Run ``config.predict_tasks`` on every sequence of a prediction batch.

        The sequences are re-tokenised into task prompts from ``batch.sequence`` (the
        featurized tokens ``batch.x`` serve the training forward only).

        Returns:
            one :class:`~scisuite.domains.protein.generation.SequencePrediction` per graph,
            in batch order.
        """
        return predict_sequences(self, list(batch.sequence), self.config)


def sequence_ids(batch: Batch) -> Tensor:
    """``[N]`` id of the example every token belongs to, ascending from 0.

    Without a ``segment`` field every graph of the batch is one example (``batch.batch``);
    with it (length buckets, ``tasks.bucket_examples``) the examples inside each graph are
    numbered consecutively across the batch.
    """
    if "segment" not in batch:
        return batch.batch
    key = batch.batch * (int(batch.segment.max()) + 1) + batch.segment
    return torch.unique_consecutive(key, return_inverse=True)[1]


@cache
def hf_model_classes() -> tuple[type, type]:
    """``(ScisuiteProteinConfig, ScisuiteProteinForCausalLM)``: the model as a Hugging Face
    ``PretrainedConfig`` / ``PreTrainedModel`` pair (built once, on first use)."""
    from transformers import PretrainedConfig, PreTrainedModel
    from transformers.modeling_outputs import CausalLMOutput

    class ScisuiteProteinConfig(PretrainedConfig):
        """Hugging Face config wrapping a :class:`ProteinConfig` (``protein_config`` dict).

        Args:
            protein_config: ``ProteinConfig.to_dict()`` (default: the default config).
            kwargs: ``PretrainedConfig`` arguments.
        """

        model_type = "scisuite_protein"

        def __init__(self, protein_config: dict[str, Any] | None = None, **kwargs: Any) -> None:
            values = protein_config or ProteinConfig().to_dict()
            self.protein_config = ProteinConfig.from_dict(values).to_dict()  # validates
            kwargs.setdefault("vocab_size", VOCAB_SIZE)
            kwargs.setdefault("tie_word_embeddings", True)
            kwargs.setdefault("pad_token_id", PAD_ID)
            kwargs.setdefault("bos_token_id", BOS_ID)
            kwargs.setdefault("eos_token_id", EOS_ID)
            super().__init__(**kwargs)

    class ScisuiteProteinForCausalLM(PreTrainedModel):
        """:class:`ProteinLM` behind the Hugging Face model interface.

        ``forward(input_ids [B, T], attention_mask [B, T], labels [B, T])`` returns a
        ``CausalLMOutput`` with ``logits [B, T, vocab]`` (zeros at padding) and, given
        labels (-100 = ignored), the mean next-token cross-entropy. Padding may be on
        either side; real tokens of a row must be contiguous.
        """

        config_class = ScisuiteProteinConfig
        base_model_prefix = "lm"
        _tied_weights_keys = {"lm.head.proj.weight": "lm.backbone.embed.weight"}

        def __init__(self, config: ScisuiteProteinConfig) -> None:
            super().__init__(config)
            self.lm = ProteinLM(ProteinConfig.from_dict(config.protein_config))
            self.post_init()

        def _init_weights(self, module: nn.Module) -> None:
            """ProteinLM initialises itself; nothing to add."""

        def get_input_embeddings(self) -> nn.Module:
            return self.lm.backbone.embed

        def get_output_embeddings(self) -> nn.Module:
            return self.lm.head.proj

        def forward(
            self,
            input_ids: Tensor,
            attention_mask: Tensor | None = None,
            labels: Tensor | None = None,
            **_: Any,
        ) -> Any:
            mask = (
                attention_mask.bool()
                if attention_mask is not None
                else torch.ones_like(input_ids, dtype=torch.bool)
            )
            rows = torch.arange(input_ids.size(0), device=input_ids.device)
            sequence = rows[:, None].expand_as(input_ids)[mask]
            flat = self.lm.token_logits(input_ids[mask], sequence)
            logits = flat.new_zeros(*input_ids.shape, flat.size(-1))
            logits[mask] = flat
            loss = None
            if labels is not None:
                loss = nn.functional.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.size(-1)),
                    labels[:, 1:].reshape(-1),
                    ignore_index=-100,
                )
            return CausalLMOutput(loss=loss, logits=logits)

    return ScisuiteProteinConfig, ScisuiteProteinForCausalLM
