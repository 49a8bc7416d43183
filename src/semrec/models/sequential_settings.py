"""The settings of the sequential models (sasrec, lmrec), each with its default and its help."""

from __future__ import annotations

from dataclasses import dataclass

from semrec.models.settings import setting

# how calibrate_cold fits the new products' offset (semrec.evaluation.evaluator.fit_cold_offset)
COLD_RULES = ("likelihood", "exposure")
COOCCURRENCE_HELP = (
    "Weight of the co-occurrence prior (the log of an item-kNN score fitted on the same training "
    "sequences) added to the network's log-softmax: 0 = off, -1 (any negative value) = chosen on the "
    "validation split after training from 0, 0.1, ..., 5 (0.3 without a validation split); any other "
    "value is used as given."
)
RANKER_HELP = (
    "Candidates of retrieval the ranking stage re-scores (0: retrieval alone; 100 is the tested "
    "value): a LightGBM lambdarank model over the blend, its parts, text and co-occurrence "
    "features, fitted on the validation split after the networks and the blend (left out, with a "
    "warning, when no validation shopper's next item is among the candidates)."
)
TIME_BUDGET_HELP = (
    "Training time in minutes, split evenly between the networks; a network stops after the epoch "
    "that reaches its share."
)


@dataclass(frozen=True)
class SequentialConfig:
    dim: int = setting(64, "Width of the item vectors and of the sequence transformer's hidden states.")
    layers: int = setting(2, "Transformer blocks of the sequence network.")
    heads: int = setting(2, "Attention heads per transformer block (must divide dim).")
    dropout: float = setting(
        0.5,
        "Dropout rate (0 to 1) of the sequence network: on its input, inside every block and, for "
        "models that read text, on the text vectors before the adapter.",
    )
    norm: str = setting(
        "post",
        "Where the transformer blocks normalise: 'post' (LayerNorm after each sublayer, trained from a "
        "small initialisation) or 'pre' (LayerNorm before each sublayer, and once at the end).",
    )
    ff_mult: int = setting(4, "Feed-forward width of each block, as a multiple of dim.")
    max_len: int = setting(
        50, "Most recent items of a history the network reads (older ones are left out), in training too."
    )
    epochs: int = setting(
        200, "Most passes over the training examples; early stopping or the time budget usually ends sooner."
    )
    batch_size: int = setting(256, "Training examples per optimiser step.")
    lr: float = setting(1e-3, "Learning rate of the AdamW optimiser.")
    weight_decay: float = setting(0.0, "Weight decay of the AdamW optimiser (0: none).")
    patience: int = setting(
        4,
        "Validation runs in a row without a better NDCG@10 before training stops; the weights of the "
        "best run are kept.",
    )
    eval_every: int = setting(
        1,
        "Epochs between validation runs (validation also runs after the last epoch and at the time budget).",
    )
    time_budget_minutes: float = setting(25.0, TIME_BUDGET_HELP)
    seed: int = setting(
        42, "Random seed of initialisation, shuffling and dropout; network k of several uses seed + k."
    )
    device: str = setting(
        "auto",
        "Device that trains and runs the network (and, for models that read text, embeds it): auto (a "
        "CUDA GPU when there is one, else the CPU), cpu, cuda or cuda:N.",
    )
    networks: int = setting(
        1,
        "Networks trained apart (1 or more), from seeds seed, seed + 1, ..., and scored by the mean of "
        "their next-item logits; they share the time budget.",
    )
    # on amazon-beauty true gives +7% NDCG@10 for SASRec (benchmarks/accuracy.md)
    prefixes: bool = setting(
        True,
        "true: one training example per target (the target and the items before it, with its own "
        "dropout noise); false: one example per sequence, training all its targets in one pass. true "
        "costs about 2.5x the work per epoch and needs fewer epochs.",
    )
    cooccurrence_weight: float = setting(0.0, COOCCURRENCE_HELP)
    ranker: int = setting(0, RANKER_HELP)


@dataclass(frozen=True)
class LMRecConfig(SequentialConfig):
    encoder: str = setting(
        "minilm",
        "Text encoder of the item text: 'minilm' (the bundled all-MiniLM-L6-v2) or the path of a "
        "local Hugging Face model folder; mode frozen also takes a folder written by `semrec export`.",
    )
    mode: str = setting(
        "frozen",
        "How the text encoder is used: 'frozen' (its cached item vectors, through a trainable "
        "adapter), or first fine-tuned on (item, next item) pairs of the training sequences: "
        "'lora' (low-rank adapters, merged afterwards) or 'full' (all its weights).",
    )
    hybrid: bool = setting(
        True,
        "Add learnable item-ID embeddings to the text part of items seen in training (false: text only).",
    )
    experts: int = setting(4, "Projections of the text adapter (1 or more), mixed per item by a gate.")
    id_dropout: float = setting(
        0.1,
        "hybrid: share of items (0 to 1) whose ID part is hidden in each training step, so that "
        "the text (and borrowed ID parts) learn to rank items without one, as new products are.",
    )
    text_loss: float = setting(
        0.0,
        "hybrid: weight of an auxiliary training loss, the same next-item softmax with every item "
        "scored as a new product is (its text part plus its borrowed ID part), so that those scores "
        "learn the scale of items with IDs (0: off).",
    )
    cold_neighbours: int = setting(
        10,
        "An item without an ID of its own (new, or hidden by id_dropout) borrows from this many seen "
        "items whose text is closest: their weighted mean ID part (hybrid) and co-occurrence scores, "
        "weighted by softmax(cosine / cold_temperature) (0: no borrowing).",
    )
    cold_temperature: float = setting(
        0.05,
        "Temperature of the softmax over the donors' text cosines (cold_neighbours): smaller gives "
        "the closest donors more weight (0 or less: no borrowing).",
    )
    # off: on amazon-beauty (cold-items) the ranking stage's held-out validation shoppers, over 5
    # splits, scored no higher with them under either rule (benchmarks/accuracy.md)
    cold_weights: bool = setting(
        False,
        "Give items with no training events co-occurrence, text and title-word weights of their own, "
        "chosen from the blend's grids on validation (needs 200 validation shoppers whose next item "
        "was new; false: the blend's weights). Under cold_rule=exposure each weighting is judged by "
        "the NDCG@10 of all validation shoppers at the offset that gives new products their share of "
        "the top 10 (the blend's own weights among them, kept on a tie); under likelihood, by how "
        "well they order validation's new products for the shoppers who chose one (co-occurrence "
        "and text only). calibrate_cold then fits their offset under these weights.",
    )
    cold_offset: float = setting(
        0.0,
        "Added to the score of items with no training events (negative: new products rank lower); "
        "calibrate_cold may replace it by a value fitted on validation.",
    )
    calibrate_cold: bool = setting(
        True,
        "Fit cold_offset on the validation split (by cold_rule) when it holds 50 or more "
        "targets with no training events (false: cold_offset as given).",
    )
    cold_rule: str = setting(
        "exposure",
        "How calibrate_cold fits cold_offset so that new products get the share of validation "
        "targets that are new: 'exposure' (that share of the top-10 slots, averaged over shoppers: "
        "equal exposure for equal demand; the ranking stage then fits a shift of its own that "
        "keeps the share in the list it orders) or 'likelihood' (that share of the softmax "
        "probability, the maximum-likelihood offset; the ranking stage orders as it learned).",
    )
    cooccurrence_weight: float = setting(-1.0, COOCCURRENCE_HELP)
    text_weight: float = setting(
        -1.0,
        "Weight of the text-affinity term (cosine of the recency-weighted mean text vector of the "
        "shopper's items to each item's) added to the score: 0 = off, -1 (any negative value) = "
        "chosen on validation together with cooccurrence_weight from 0, 1, ..., 30 (3 without a "
        "validation split); any other value is used as given. Off when text_components is not 0.",
    )
    word_weight: float = setting(
        -1.0,
        "Weight of the title-word affinity term (TF-IDF cosine of each item's title and brand words "
        "to the recency-weighted words of the shopper's items; the shop's brand and line names, "
        "which the encoder blurs, and new products' alike): 0 = off, -1 (any negative value) = "
        "chosen on validation together with text_weight from 0, 0.5, ..., 15 (1 without a validation "
        "split); any other value is used as given.",
    )
    word_decay: float = setting(
        -1.0,
        "Title-word term: recency weight per step back in the shopper's history (0 to 1, as "
        "text_decay); -1 (any negative value) = chosen on validation from 0.3, 0.5, 0.7, 0.9 by how "
        "well the term alone ranks validation's next items (0.5 without a validation split).",
    )
    word_lead: int = setting(
        -1,
        "Title-word term: 1 = a title's first word (most often its brand) also counts as a word of "
        "its own, 0 = not, -1 = chosen on validation with word_decay (1 without a validation split).",
    )
    text_decay: float = setting(
        0.3,
        "Text affinity: recency weight per step back in the shopper's history (0 to 1): the most "
        "recent item weighs 1, the one before it text_decay, then text_decay^2, ...",
    )
    text_metric_epochs: int = setting(
        0,
        "Text affinity through a learned metric: passes over the training sequences' (history, next "
        "item) pairs that fit it (profile M text instead of the cosine, M near the identity; it reads "
        "text only, so new products are scored by it like the rest). 0: the plain cosine.",
    )
    time_budget_minutes: float = setting(40.0, TIME_BUDGET_HELP)
    # on validation (amazon-beauty, cold-items: the held-out 20% of validation shoppers) the stage
    # lifts NDCG@10 from 0.0732 to 0.0759 (benchmarks/accuracy.md)
    ranker: int = setting(100, RANKER_HELP)
    text_components: int = setting(
        0,
        "PCA-whitened dimensions of the catalog's text vectors the adapter reads (0, or at least the "
        "encoder's width: the vectors as they are); any value but 0 turns the text-affinity term off.",
    )
    text_max_length: int = setting(
        64,
        "Tokens of each item text the encoder reads, in training and when the server embeds new "
        "items and queries; longer texts are cut.",
    )
    encoder_steps: int = setting(
        2000, "lora / full: most contrastive training steps of the encoder on (item, next item) pairs."
    )
    encoder_minutes: float = setting(
        15.0, "lora / full: time budget of the encoder fine-tuning in minutes (it may end sooner)."
    )
    encoder_lr: float = setting(1e-4, "lora / full: learning rate of the encoder fine-tuning (AdamW).")
