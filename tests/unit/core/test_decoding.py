"""Cached decoding equals the flat causal path, with attention-graph propagation on."""

from __future__ import annotations

import pytest
import torch

from scisuite.core.backbone import Backbone
from scisuite.core.config import BackboneConfig
from scisuite.core.decoding import decode_step, empty_state
from scisuite.core.patterns import DensePattern


@pytest.mark.parametrize("position", ["rotary", "sinusoidal"])
@pytest.mark.parametrize("hops", [0, 2])
def test_prefill_plus_cached_steps_equal_full_recompute(position, hops) -> None:
    torch.manual_seed(0)
    config = BackboneConfig(
        d_model=16,
        num_heads=2,
        num_layers=3,
        vocab_size=20,
        position=position,
        propagation_hops=hops,
    )
    model = Backbone(config).double().eval()
    g = torch.Generator().manual_seed(1)
    lengths = [7, 4, 9]
    sequences = [torch.randint(1, 20, (n,), generator=g) for n in lengths]
    prompt = 3
    # reference: each whole sequence through the flat causal path
    flat = torch.cat(sequences)
    batch = torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])
    reference = model(flat, batch, DensePattern(batch, causal=True)).node_states
    ref_rows = reference.split(lengths)
    # cached: left-padded prompts of different lengths, then one token at a time
    prompts = [s[: prompt + i] for i, s in enumerate(sequences)]  # lengths 3, 4, 5
    width = max(len(p) for p in prompts)
    tokens = torch.zeros(3, width, dtype=torch.long)
    mask = torch.zeros(3, width, dtype=torch.bool)
    for i, p in enumerate(prompts):
        tokens[i, width - len(p) :] = p
        mask[i, width - len(p) :] = True
    state = empty_state(3)
    out, state = decode_step(model, tokens, mask, state)
    for i, p in enumerate(prompts):
        torch.testing.assert_close(out[i, width - len(p) :], ref_rows[i][: len(p)])
    for step in range(4):
        nxt = torch.zeros(3, 1, dtype=torch.long)
        live = torch.zeros(3, 1, dtype=torch.bool)
        for i, s in enumerate(sequences):
            t = len(prompts[i]) + step
            if t < len(s):
                nxt[i, 0], live[i, 0] = s[t], True
        out, state = decode_step(model, nxt, live, state)
        for i, s in enumerate(sequences):
            t = len(prompts[i]) + step
            if t < len(s):
                torch.testing.assert_close(out[i, 0], ref_rows[i][t])
    assert state.length == width + 4


def test_cache_grows_by_one_position_per_token() -> None:
    torch.manual_seed(0)
    model = Backbone(
        BackboneConfig(
            d_model=8,
            num_heads=2,
            num_layers=2,
            vocab_size=10,
            position="rotary",
            propagation_hops=1,
        )
    ).eval()
    _, state = decode_step(
        model,
        torch.ones(2, 5, dtype=torch.long),
        torch.ones(2, 5, dtype=torch.bool),
        empty_state(2),
    )
    _, state = decode_step(
        model, torch.ones(2, 1, dtype=torch.long), torch.ones(2, 1, dtype=torch.bool), state
    )
    cache = state.layers[0]
    assert cache.keys.shape == (2, 2, 6, 4) and cache.hops[0].shape == (2, 2, 6, 4)
    assert state.next_position.tolist() == [6, 6]


def test_rotate_half_folded_into_projection_rows_is_exact() -> None:
    """The decoding layout's extra query/key rows give rotate_half of the projection."""
    from scisuite.core.attention import rotate_half
    from scisuite.core.decoding import _rotated_rows

    g = torch.Generator().manual_seed(0)
    heads, head_dim, d = 3, 8, 24
    weight = torch.randn(2 * d, d, generator=g)
    x = torch.randn(5, d, generator=g)
    projected = (x @ weight.T).view(5, 2 * heads, head_dim)
    folded = (x @ _rotated_rows(weight, heads).T).view(5, 2 * heads, head_dim)
    assert torch.equal(folded, rotate_half(projected))


def test_decoding_steps_past_the_first_rotary_table_and_buffer_sizes() -> None:
    """Positions beyond 64 grow the rotary tables and cache buffers without changing states."""
    torch.manual_seed(0)
    model = (
        Backbone(
            BackboneConfig(
                d_model=8,
                num_heads=2,
                num_layers=1,
                vocab_size=10,
                position="rotary",
                propagation_hops=2,
            )
        )
        .double()
        .eval()
    )
    tokens = torch.randint(1, 10, (1, 70))
    flat = model(
        tokens[0],
        torch.zeros(70, dtype=torch.long),
        DensePattern(torch.zeros(70, dtype=torch.long), causal=True),
    ).node_states
    state = empty_state(1)
    _, state = decode_step(model, tokens[:, :60], torch.ones(1, 60, dtype=torch.bool), state)
    for t in range(60, 70):
        out, state = decode_step(
            model, tokens[:, t : t + 1], torch.ones(1, 1, dtype=torch.bool), state
        )
        torch.testing.assert_close(out[0, 0], flat[t])
    assert state.plan is not None and state.plan.cos_table.size(0) >= 70
