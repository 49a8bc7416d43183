"""The ONNX shopper tower computes what the sequence network computes, for any history length."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semrec.models.sequence_net import ItemTable, NetworkEnsemble, SequenceNet
from semrec.online.tower import ShopperTower


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_onnx_tower_equals_the_network_for_every_length_and_batch(norm: str) -> None:
    torch.manual_seed(0)
    table = ItemTable(30, 16, None, use_ids=True)
    net = SequenceNet(table, dim=16, layers=2, heads=2, dropout=0.3, max_len=12, norm=norm).eval()
    # trained-looking weights: the post-LN small init would make every query nearly the same
    with torch.no_grad():
        for weight in net.parameters():
            weight.add_(torch.randn_like(weight) * 0.3)
    fast, reference = ShopperTower(net, "onnx"), ShopperTower(net, "torch")
    rng = np.random.default_rng(1)
    for batch, length in ((1, 1), (1, 4), (3, 9), (2, 12), (1, 20)):
        items = rng.normal(size=(batch, length, 16)).astype(np.float32)
        padding = np.zeros((batch, length), dtype=bool)
        padding[0, : length // 2] = True  # one left-padded row in each batch
        items[padding] = 0
        expected = reference(items, padding)
        assert np.allclose(fast(items, padding), expected, atol=1e-5), (batch, length)
        if batch > 1:  # different histories, different queries
            assert not np.allclose(expected[0], expected[1], atol=1e-3)
    with torch.inference_mode():  # the reference is the network's own forward pass
        sequences = torch.tensor([[0, 0, 3, 7, 1]])
        own = net.encode(sequences, net.items())[:, -1].numpy()
    vectors = table().detach().numpy()[sequences.numpy()]
    assert np.allclose(fast(vectors.astype(np.float32), sequences.numpy() == 0), own, atol=1e-5)


def test_onnx_tower_of_an_ensemble_gives_the_mean_logit_query() -> None:
    torch.manual_seed(0)
    members = []
    for norm in ("post", "pre"):
        net = SequenceNet(ItemTable(30, 8, None, use_ids=True), 8, 2, 2, 0.3, max_len=12, norm=norm)
        with torch.no_grad():
            for weight in net.parameters():
                weight.add_(torch.randn_like(weight) * 0.3)
        members.append(net.eval())
    ensemble = NetworkEnsemble(members).eval()
    fast = ShopperTower(ensemble, "onnx")
    assert (fast.length, fast.dim) == (12, 16)
    sequences = torch.tensor([[0, 0, 3, 7, 1], [4, 9, 2, 5, 6]])
    with torch.inference_mode():
        vectors = ensemble.items().numpy()
        mean_logits = ensemble(sequences).numpy()
    queries = fast(vectors[sequences.numpy()].astype(np.float32), sequences.numpy() == 0)
    assert np.allclose(queries @ vectors[1:].T, mean_logits, atol=1e-4)
