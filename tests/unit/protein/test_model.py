"""ProteinLM: causal flat path, length buckets, cached steps, Hugging Face round trip."""

from __future__ import annotations

import torch
from torch_geometric.data import Batch, Data

from scisuite.core.decoding import empty_state
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.model import ProteinLM, hf_model_classes, sequence_ids
from scisuite.domains.protein.prompts import Example
from scisuite.domains.protein.tasks import bucket_examples, example_to_data
from scisuite.domains.protein.tokenizer import PAD_ID, VOCAB_SIZE


def _model(config: ProteinConfig, seed: int = 0) -> ProteinLM:
    torch.manual_seed(seed)
    return ProteinLM(config).double().eval()


def _graphs(config: ProteinConfig) -> list[Data]:
    return [
        example_to_data(Example("ss3", sequence="MKTAYIAK", ss="CCHHHHEC"), config),
        example_to_data(Example("amp", sequence="GIGKFLHS", values=(1.0,)), config),
        example_to_data(Example("design_amp", sequence="GIGK", values=(0.0,)), config),
    ]


def test_forward_shape_tied_head_and_causality(tiny_config) -> None:
    model = _model(tiny_config())
    assert model.head.proj.weight is model.backbone.embed.weight
    assert model.config.backbone.propagation_hops == 2
    graphs = _graphs(tiny_config())
    batch = Batch.from_data_list(graphs)
    logits = model(batch)
    assert logits.shape == (batch.num_nodes, VOCAB_SIZE) and torch.isfinite(logits).all()
    changed = graphs[0].clone()
    changed.x = changed.x.clone()
    changed.x[-1] = 65  # a later token must not change earlier logits
    other = model(Batch.from_data_list([changed, *graphs[1:]]))
    n = graphs[0].num_nodes
    torch.testing.assert_close(other[: n - 1], logits[: n - 1])
    torch.testing.assert_close(other[n:], logits[n:])


def test_buckets_keep_examples_apart(tiny_config) -> None:
    model = _model(tiny_config())
    graphs = _graphs(tiny_config())
    separate = model(Batch.from_data_list(graphs))
    buckets = bucket_examples(graphs, bucket_tokens=10_000, seed=0)
    assert len(buckets) == 1 and int(buckets[0].segment.max()) == 2
    bucket_batch = Batch.from_data_list(buckets)
    assert sequence_ids(bucket_batch).unique().numel() == 3
    joined = model(bucket_batch)
    # the bucket orders examples by length; match each example's logits
    offset = 0
    order = sorted(range(3), key=lambda i: (graphs[i].num_nodes, 0))
    starts = torch.cumsum(torch.tensor([0] + [g.num_nodes for g in graphs]), 0)
    for k in range(3):
        length = int((buckets[0].segment == k).sum())
        found = [i for i in order if graphs[i].num_nodes == length]
        i = found[0]
        torch.testing.assert_close(
            joined[offset : offset + length], separate[starts[i] : starts[i] + length]
        )
        offset += length


def test_cached_steps_equal_flat_logits(tiny_config) -> None:
    model = _model(tiny_config())
    tokens = _graphs(tiny_config())[0].x
    flat = model.token_logits(tokens, torch.zeros_like(tokens))
    logits, state = model.step(tokens[None, :5], torch.ones(1, 5, dtype=torch.bool), empty_state(1))
    torch.testing.assert_close(logits[0], flat[:5])
    for t in range(5, tokens.numel()):
        step, state = model.step(tokens[None, t : t + 1], torch.ones(1, 1, dtype=torch.bool), state)
        torch.testing.assert_close(step[0, 0], flat[t])


def test_hugging_face_save_and_load_round_trip(tiny_config, tmp_path) -> None:
    config_class, model_class = hf_model_classes()
    torch.manual_seed(0)
    hf_config = config_class(protein_config=tiny_config().to_dict())
    model = model_class(hf_config).eval()
    ids = torch.tensor([[PAD_ID, PAD_ID, 257, 77, 75, 86], [257, 71, 73, 71, 75, 70]])
    mask = ids != PAD_ID
    out = model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(~mask, -100))
    assert out.logits.shape == (2, 6, VOCAB_SIZE) and torch.isfinite(out.loss)
    # the wrapper's logits are the ProteinLM's on each row's real tokens
    row = model.lm.token_logits(ids[0, 2:], torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(out.logits[0, 2:], row)
    model.save_pretrained(tmp_path / "hf")
    loaded = model_class.from_pretrained(tmp_path / "hf").eval()
    assert loaded.config.protein_config == hf_config.protein_config
    again = loaded(input_ids=ids, attention_mask=mask)
    torch.testing.assert_close(again.logits, out.logits, rtol=0, atol=0)
    assert loaded.lm.head.proj.weight.data_ptr() == loaded.lm.backbone.embed.weight.data_ptr()
