"""A causal transformer over a shopper's item sequence, with item vectors from IDs, text, or both."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


class ItemTable(nn.Module):
    """Vectors of all items (row 0 is padding): learnable ID embeddings, adapted text vectors, or their sum.

    An item never seen in training has no ID of its own. When the table reads text and is given
    ``donors`` (per item, the seen items whose text is closest to its own and their weights:
    :func:`~semrec.models.blend.text_neighbours`), it borrows one: their weighted mean ID part. A
    new shade of a nail polish then starts out scored like its siblings rather than several nats
    below every item with an ID. ID dropout trains with the same borrowed parts, so the network
    learns to rank them.
    """

    seen: torch.Tensor
    neighbour_rows: torch.Tensor
    neighbour_weights: torch.Tensor

    def __init__(
        self,
        n_items: int,
        dim: int,
        text_vectors: torch.Tensor | None,
        use_ids: bool,
        seen: torch.Tensor | None = None,
        experts: int = 4,
        dropout: float = 0.2,
        id_dropout: float = 0.0,
        donors: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.id_dropout = id_dropout
        if text_vectors is None and not use_ids:
            raise ValueError("an item table needs ID embeddings, text vectors, or both")
        self.n_items = n_items
        self.ids = nn.Embedding(n_items + 1, dim, padding_idx=0) if use_ids else None
        if self.ids is not None:
            nn.init.normal_(self.ids.weight, std=0.02)
            with torch.no_grad():
                self.ids.weight[0].zero_()
        self.experts: nn.ModuleList | None = None
        if text_vectors is not None:
            # UniSRec-style adapter: several whitening projections (x - b_k) W_k mixed by a gate
            text = torch.cat([torch.zeros(1, text_vectors.shape[1]), text_vectors.float()])
            self.register_buffer("text", text, persistent=False)
            self.centers = nn.Parameter(text_vectors.float().mean(0).repeat(experts, 1))
            self.experts = nn.ModuleList(nn.Linear(text.shape[1], dim, bias=False) for _ in range(experts))
            self.gate = nn.Linear(text.shape[1], experts, bias=False)
            self.text_dropout = nn.Dropout(dropout)
        known = (
            torch.ones(n_items + 1, dtype=torch.bool)
            if seen is None
            else torch.cat([torch.ones(1, dtype=torch.bool), seen])
        )
        self.register_buffer("seen", known.unsqueeze(1).float(), persistent=False)
        # borrowed ID parts: (n_items + 1, neighbours) rows into the ID table and their weights
        self.borrows = self.ids is not None and text_vectors is not None and donors is not None
        rows = torch.zeros(n_items + 1, 1, dtype=torch.long)
        weights = torch.zeros(n_items + 1, 1)
        if self.borrows:
            assert donors is not None
            rows = torch.cat([torch.zeros(1, donors[0].shape[1], dtype=torch.long), donors[0] + 1])
            weights = torch.cat([torch.zeros(1, donors[1].shape[1]), donors[1].float()])
        self.register_buffer("neighbour_rows", rows, persistent=False)
        self.register_buffer("neighbour_weights", weights, persistent=False)

    def borrowed_ids(self, rows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """(n, dim) weighted means of the ID parts at table ``rows`` (n, neighbours)."""
        assert self.ids is not None
        return (self.ids.weight[rows] * weights.unsqueeze(-1)).sum(1)

    def cold_vectors(self, text: torch.Tensor, donors: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """(n, dim) vectors of items added after training, from their (n, text_dim) text vectors and
        their donors (item indices and weights, :func:`~semrec.models.blend.text_neighbours`): the
        adapted text plus the borrowed ID part, exactly as an item of the training catalog that no
        training sequence holds is scored."""
        vectors = self.adapt(text)
        if self.borrows:
            vectors = vectors + self.borrowed_ids(donors[0] + 1, donors[1].float())
        return vectors

    def adapt(self, text: torch.Tensor) -> torch.Tensor:
        """(n, text_dim) text vectors -> (n, dim) item vectors through the mixture-of-experts adapter."""
        assert self.experts is not None, "this item table reads no text"
        # (x - b_k) W_k = x W_k - b_k W_k: all experts in one product, no centred copies of the text
        linear = [expert.weight for expert in self.experts if isinstance(expert, nn.Linear)]
        stacked = torch.cat(linear)  # (experts * dim, text_dim)
        shift = (
            self.centers.unsqueeze(1) @ stacked.view(len(self.experts), -1, text.shape[1]).transpose(1, 2)
        ).squeeze(1)
        outputs = (text @ stacked.T).view(text.shape[0], len(self.experts), -1) - shift  # (n, experts, dim)
        weights = torch.softmax(self.gate(text), dim=-1).unsqueeze(-1)  # (n, experts, 1)
        return (outputs * weights).sum(1)

    def forward(self) -> torch.Tensor:
        """(n_items + 1, dim) item vectors; row 0 (padding) is zero."""
        return self.with_text_only()[0]

    def with_text_only(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The item vectors (as :meth:`forward`) and, for a table with both parts, every item's
        vectors as if it had no ID of its own: its adapted text plus its borrowed ID part, the
        vector a new product gets (None for a table with one part)."""
        table: torch.Tensor | None = None
        text_only: torch.Tensor | None = None
        if self.experts is not None:
            table = self.adapt(self.text_dropout(self.text))
            table = torch.cat([torch.zeros_like(table[:1]), table[1:]])
        if self.ids is not None and table is not None:
            text_only = table
            if self.borrows:
                text_only = table + self.borrowed_ids(self.neighbour_rows, self.neighbour_weights)
        if self.ids is not None:
            keep = self.seen
            if self.training and self.id_dropout > 0 and table is not None:
                # hide the ID part of random items so the text part alone learns to rank them, as it
                # must for products added after training
                keep = keep * (torch.rand_like(keep) >= self.id_dropout)
            ids = self.ids.weight * keep
            if self.borrows:
                ids = ids + self.borrowed_ids(self.neighbour_rows, self.neighbour_weights) * (1 - keep)
            table = ids if table is None else table + ids
        assert table is not None
        return table, text_only


NORMS = ("pre", "post")


class SequenceNet(nn.Module):
    """SASRec-style encoder: item vectors + positions -> causal transformer -> next-item scores."""

    def __init__(
        self,
        items: ItemTable,
        dim: int,
        layers: int,
        heads: int,
        dropout: float,
        max_len: int,
        norm: str = "pre",
        ff_mult: int = 2,
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm {norm!r} is not allowed; choose one of {list(NORMS)}")
        self.items = items
        self.dim = dim
        self.max_len = max_len
        self.heads = heads
        self.positions = nn.Embedding(max_len, dim)
        nn.init.normal_(self.positions.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(
            dim,
            heads,
            dim_feedforward=dim * ff_mult,
            dropout=dropout,
            batch_first=True,
            norm_first=norm == "pre",
            activation="gelu",
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        if norm == "post":
            # post-LN blocks (the original SASRec / BERT layout) train best from a small init
            for name, weight in self.blocks.named_parameters():
                if weight.dim() == 2:
                    nn.init.normal_(weight, std=0.02)
                elif name.endswith("bias"):
                    nn.init.zeros_(weight)
        # pre-LN blocks leave the residual stream unnormalised: a final norm closes it
        self.norm: nn.Module = nn.LayerNorm(dim) if norm == "pre" else nn.Identity()
        self.input_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def encode(self, sequences: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """(batch, length) left-padded item rows (0 = padding) -> (batch, length, dim) hidden states."""
        return self.encode_vectors(table[sequences], sequences == 0)

    def encode_vectors(self, items: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """(batch, length, dim) item vectors, left-padded where ``padding`` (batch, length) is true ->
        (batch, length, dim) hidden states."""
        length, device = padding.shape[1], padding.device
        # positions count from the first item, so an item keeps its position whatever follows it:
        # under causal training every prefix then looks exactly as it will at inference time
        first = padding.sum(1, keepdim=True)  # left padding: the first real column
        offsets = (torch.arange(length, device=device).unsqueeze(0) - first).clamp(min=0)
        hidden = items + self.positions(offsets)  # (batch, length, dim)
        hidden = self.dropout(self.input_norm(hidden))
        column = torch.arange(length, device=device)
        future = column.unsqueeze(0) > column.unsqueeze(1)  # (query, key): key after query
        blocked = future.unsqueeze(0) | padding.unsqueeze(1)  # (batch, query, key)
        blocked = blocked & (column.unsqueeze(0) != column.unsqueeze(1))  # self always visible
        mask = blocked.repeat_interleave(self.heads, dim=0)  # (batch * heads, length, length)
        hidden = self.blocks(hidden, mask=mask)
        return self.norm(hidden)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """Scores of all items after the last position: (batch, n_items)."""
        table = self.items()
        hidden = self.encode(sequences, table)[:, -1]  # (batch, dim)
        return hidden @ table[1:].T


class EnsembleTable(nn.Module):
    """The item tables of an ensemble side by side: row ``i`` is every member's vector of item ``i``."""

    def __init__(self, tables: list[ItemTable]) -> None:
        super().__init__()
        self.parts = list(tables)  # a plain list: the ensemble's members own these modules
        self.n_items = tables[0].n_items
        # text-reading members share the adapter layout, so one flag tells whether new text maps in
        self.experts = None if any(t.experts is None for t in tables) else tables[0].experts

    def adapt(self, text: torch.Tensor) -> torch.Tensor:
        return torch.cat([table.adapt(text) for table in self.parts], dim=1)

    def cold_vectors(self, text: torch.Tensor, donors: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return torch.cat([table.cold_vectors(text, donors) for table in self.parts], dim=1)

    def forward(self) -> torch.Tensor:
        return torch.cat([table() for table in self.parts], dim=1)


class NetworkEnsemble(nn.Module):
    """Sequence networks trained apart (each from its own seed) and scored as one: the mean of their
    next-item logits. That mean is the concatenated query (each member's, divided by the count)
    times the concatenated item vectors, so one vector index still answers it exactly."""

    items: EnsembleTable

    def __init__(self, members: list[SequenceNet]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs two or more networks")
        self.members = nn.ModuleList(members)
        self.nets = list(members)  # the same modules, typed
        # kept out of the module tree: the member tables are already in it (no duplicate weights)
        self.__dict__["items"] = EnsembleTable([m.items for m in members])
        self.max_len = members[0].max_len
        self.widths = [m.dim for m in members]
        self.dim = sum(self.widths)  # of the queries and item vectors

    def encode_vectors(self, items: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """(batch, length, sum of widths) history vectors -> (batch, length, sum of widths) queries."""
        parts = torch.split(items, self.widths, dim=-1)
        hidden = [m.encode_vectors(part, padding) for m, part in zip(self.nets, parts, strict=True)]
        return torch.cat(hidden, dim=-1) / len(self.nets)

    def encode(self, sequences: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return self.encode_vectors(table[sequences], sequences == 0)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """Mean next-item scores of the members: (batch, n_items)."""
        return torch.stack([m(sequences) for m in self.nets]).mean(0)


def left_pad(sequences: Sequence[np.ndarray], length: int) -> torch.Tensor:
    """Item indices -> (batch, length) rows shifted by one (0 = padding), most recent item last."""
    out = np.zeros((len(sequences), length), dtype=np.int64)
    for row, sequence in enumerate(sequences):
        tail = np.asarray(sequence[-length:], dtype=np.int64) + 1
        if len(tail):
            out[row, length - len(tail) :] = tail
    return torch.from_numpy(out)
