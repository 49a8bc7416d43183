"""Every setting of the server in one typed table, read from a TOML file, the environment and the CLI.

Precedence: command-line values > ``SEMREC_*`` environment variables > ``--config`` file > defaults.
Each field's description is its documentation (docs/configuration.md lists them all).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from semrec.feedback.arms import ARM_PATTERN, ArmPlan, check_plan
from semrec.feedback.influence import InfluenceCaps
from semrec.store import SCHEMES as DATABASE_SCHEMES

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")


class ApiKey(BaseModel):
    """One API key and what it may do."""

    name: str = Field(description="Label used in logs instead of the key itself.")
    key: SecretStr = Field(description="The secret presented in the X-API-Key header (or as a Bearer token).")
    scopes: list[Scope] = Field(description="Allowed scopes: read, write, admin.")

    @field_validator("name")
    @classmethod
    def _not_anonymous(cls, value: str) -> str:
        if value == "anonymous":  # the name callers without a key go by (logs, influence caps)
            raise ValueError("'anonymous' names callers without a key; give the key another name")
        return value


class RateLimit(BaseModel):
    """How fast one API key may call the routes of one scope (a token bucket)."""

    model_config = ConfigDict(extra="forbid")

    requests: int = Field(ge=1, description="Requests allowed per `seconds`, on average.")
    seconds: float = Field(1.0, gt=0, le=86400, description="The period `requests` is counted over.")
    burst: int | None = Field(
        None, ge=1, description="Requests allowed at once after a quiet spell (default: `requests`)."
    )


def default_rate_limits() -> dict[Scope, RateLimit]:
    return {
        "read": RateLimit(requests=1000, burst=2000),
        "write": RateLimit(requests=1000, burst=2000),
        "admin": RateLimit(requests=20, burst=50),
    }


class Rule(BaseModel):
    """A business rule: lift (weight > 0) or bury (weight < 0) items whose field matches a value."""

    field: Literal["category", "brand", "item_id"] = Field(description="Item field the rule reads.")
    value: str = Field(description="Value to match (case-insensitive; categories match any path part).")
    weight: float = Field(description="Added to the normalised relevance (about 0..1) of matching items.")


class ArmSettings(BaseModel):
    """One arm of an A/B test: a model and the share of shoppers it serves."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ARM_PATTERN, description="The arm's name (letters, digits, _ and -).")
    artifacts: Path | None = Field(
        None, description="Its artifact folder (default: the `artifacts` setting)."
    )
    share: float = Field(gt=0, le=1, description="Share of shoppers it serves; the arms' shares add up to 1.")

    @field_validator("artifacts")
    @classmethod
    def _artifacts_exist(cls, value: Path | None) -> Path | None:
        if value is not None and not (value / "config.json").exists():
            raise ValueError(f"{value} holds no semrec artifacts (no config.json); run `semrec train` first")
        return value


class ServerSettings(BaseSettings):
    """Settings of `semrec serve`."""

    model_config = SettingsConfigDict(env_prefix="SEMREC_", extra="forbid", validate_default=True)

    artifacts: Path = Field(description="Artifact folder of a trained model (`semrec train --out`).")
    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on.")
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes, each with its own copy of the model and indexes over the one "
        "database; a write taken by one reaches the others through the database's change log before "
        "their next answer.",
    )
    follow_interval: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="Seconds between a worker's own looks at the change log, so an idle worker stays "
        "current (each request also looks first).",
    )
    change_log_retention: float = Field(
        3600.0,
        ge=300,
        description="Seconds change-log entries are kept (longer than a model build takes); a worker "
        "that missed pruned entries (stopped for longer) rebuilds its engine from the database.",
    )
    database: str = Field(
        "semrec.db",
        description="Where the catalog, events and shoppers live: an SQLite file (a path or "
        "sqlite:///path; WAL mode, one machine) or postgresql://user@host:port/name (one database "
        "shared by several nodes).",
    )
    group_commit: bool = Field(
        True,
        description="Commit the events of concurrent requests together (one flush to disk for many; "
        "each request is still answered only once its events are durable).",
    )
    api_keys: list[ApiKey] = Field(
        default_factory=list,
        description="API keys with scopes; as JSON in SEMREC_API_KEYS. Keys are never logged.",
    )
    anonymous_scopes: list[Scope] = Field(
        default_factory=list,
        description="Scopes granted to requests without a key (e.g. read,write for a local demo).",
    )
    rate_limits: dict[Scope, RateLimit] = Field(
        default_factory=default_rate_limits,
        description="Per API key and scope (read, write, admin): a token bucket; past it, 429 with "
        "Retry-After. Anonymous callers are limited per address. A scope left out is not limited.",
    )
    pseudonym_secret: SecretStr | None = Field(
        None,
        description="Secret for pseudonymising shopper ids (HMAC); generated and kept in the database "
        "when not given.",
    )
    index: Literal["ivf-sq8", "hnsw", "exact"] = Field(
        "ivf-sq8",
        description="Nearest-neighbour search (FAISS): ivf-sq8 (inverted lists over 8-bit vectors), "
        "hnsw (graph), or exact.",
    )
    ivf_nprobe: int = Field(
        32, ge=1, le=4096, description="IVF lists searched per query (more: better recall)."
    )
    hnsw_m: int = Field(
        32, ge=4, le=128, description="HNSW links per node (more: better recall, more memory)."
    )
    hnsw_ef_construction: int = Field(100, ge=8, description="HNSW candidate list while building.")
    hnsw_ef_search: int = Field(128, ge=8, description="HNSW candidate list while searching.")
    history_length: int = Field(50, ge=1, le=1000, description="Most recent events that define a shopper.")
    query_cache_size: int = Field(
        50_000, ge=0, description="Shoppers whose query vector is kept until their next event (0: off)."
    )
    answer_cache_size: int = Field(
        20_000,
        ge=0,
        description="Shoppers whose last list is kept until their history or the catalog changes (0: off).",
    )
    diversity: float = Field(
        0.1, ge=0.0, le=1.0, description="MMR re-ranking weight: 0 keeps relevance order, 1 maximal variety."
    )
    exposure_boost: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Fair exposure: relevance (0..1 within a list) less this times how often each "
        "product was shown in this process's recent lists (0..1, log scale); 0: off. "
        "benchmarks/exposure.py measures the trade-off.",
    )
    influence: InfluenceCaps = Field(
        default_factory=InfluenceCaps,
        description="How many events of one shopper or API key move shared signals (popularity, "
        "what retraining learns) per window: the defence against a burst of fake clicks. Every "
        "event is still stored and shapes its own shopper's answers.",
    )
    exposure_half_life: int = Field(
        50_000, ge=0, description="Lists after which exposure_boost's counts are halved (0: never)."
    )
    text_shortlist: bool = Field(
        False,
        description="lmrec: also shortlist the items closest to the shopper's text taste (one more "
        "index search per request; off: the text term re-scores the network's shortlist only).",
    )
    ranker: bool = Field(
        True,
        description="Re-score the shortlist with the artifacts' ranking stage when they carry one "
        "(`semrec train --ranker`); false: the retrieval blend alone.",
    )
    rules: list[Rule] = Field(default_factory=list, description="Business rules (boost / bury).")
    blocked_items: list[str] = Field(
        default_factory=list,
        description="Item ids that never appear in an answer (recommendations, similar, search, ads).",
    )
    blocked_categories: list[str] = Field(
        default_factory=list,
        description="Categories (a whole path or any part of it, case-insensitive) whose items never "
        "appear in an answer.",
    )
    blocked_keywords: list[str] = Field(
        default_factory=list,
        description="Words (whole words, case-insensitive) that keep an item out of every answer when "
        "its title, brand, category or text holds one.",
    )
    age_restricted_categories: list[str] = Field(
        default_factory=list,
        description="Categories whose items are shown only when the request says the shopper is a "
        "verified adult (verified=true); so are items whose attribute age_restricted is true.",
    )
    age_restricted_keywords: list[str] = Field(
        default_factory=list,
        description="Words (whole words, case-insensitive) that make an item age-restricted, as "
        "age_restricted_categories.",
    )
    ads_relevance_floor: float = Field(
        0.0005,
        ge=0.0,
        le=1.0,
        description="Least p(next item) a sponsored product needs to be shown, whatever its bid (the "
        "value chosen on amazon-beauty's validation shoppers by benchmarks/ads_simulation.py).",
    )
    ads_reserve_price: float = Field(
        0.01, gt=0, description="Least price per click (what a winner pays with nobody below it)."
    )
    ads_frequency_cap: int = Field(
        3, ge=1, description="Impressions of one campaign per shopper and UTC day."
    )
    ads_hold_seconds: float = Field(
        1800.0,
        gt=0,
        le=86_400,
        description="How long a shown ad's price stays held against its budget waiting for a click; "
        "a click after that is stored but not charged.",
    )
    ads_positions: list[int] = Field(
        [1, 4, 7, 9],
        min_length=1,
        max_length=20,
        description="Positions (0 first) that sponsored products take in recommendations asked for "
        "with `sponsored=N` (the first N of them).",
    )
    search_user_weight: float = Field(
        0.3, ge=0.0, le=1.0, description="Weight of the shopper's taste in search when user_id is given."
    )
    search_lexical_weight: float = Field(
        0.5, ge=0.0, description="Weight of exact word matches (brand, SKU, title words) in search."
    )
    max_k: int = Field(100, ge=1, le=1000, description="Largest k a request may ask for.")
    max_events_per_request: int = Field(1000, ge=1, description="Largest batch of events in one request.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest request body accepted.")
    encoder_device: str = Field(
        "cpu", description="Device for embedding new items and queries: cpu, cuda, auto."
    )
    query_encoder: Literal["auto", "same", "onnx-fp32", "onnx-int8"] = Field(
        "auto",
        description="Backend that embeds search queries: same (the encoder that embeds products), "
        "onnx-fp32 or onnx-int8 (an ONNX export of it, made once and cached), or auto: for a PyTorch "
        "encoder on the CPU, onnx-int8 on a CPU with VNNI (AVX-512 VNNI, AVX-VNNI or AMX-INT8), else "
        "onnx-fp32 (the same vectors); same where the CPU's flags are unknown. New products always "
        "take the products' encoder.",
    )
    shopper_tower: Literal["onnx", "torch"] = Field(
        "onnx", description="Runtime of the shopper tower: onnx (fast) or torch (the reference)."
    )
    torch_threads: int = Field(
        1, ge=1, le=256, description="PyTorch threads per request (1 serves concurrent requests best)."
    )
    log_level: str = Field("info", description="Log level of the server.")
    arms: list[ArmSettings] = Field(
        default_factory=list,
        description="A/B test: models served side by side, each to its share of shoppers (a keyed "
        "hash of the pseudonym, the same on every worker and node); the first arm is the control. "
        "Empty: one arm, 'main', serving `artifacts`. As JSON in SEMREC_ARMS.",
    )
    experiment: str = Field(
        "default",
        pattern=ARM_PATTERN,
        description="Name of the A/B test; shoppers are assigned afresh under a new name.",
    )

    @field_validator("arms")
    @classmethod
    def _arm_shares(cls, value: list[ArmSettings]) -> list[ArmSettings]:
        if value:
            check_plan([ArmPlan(a.name, a.share) for a in value])
        return value

    @field_validator("database", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        value = str(value) if isinstance(value, os.PathLike) else value
        if isinstance(value, str) and "://" in value and not value.startswith(DATABASE_SCHEMES):
            raise ValueError(
                f"database {value.split('://', 1)[0]!r}:// is not supported; allowed: "
                f"{', '.join(DATABASE_SCHEMES)} or a file path"
            )
        return value

    @field_validator("artifacts")
    @classmethod
    def _artifacts_exist(cls, value: Path) -> Path:
        if not (value / "config.json").exists():
            raise ValueError(f"{value} holds no semrec artifacts (no config.json); run `semrec train` first")
        return value


def load_settings(config_file: Path | None = None, **overrides: Any) -> ServerSettings:
    """Builds settings: explicit overrides > ``SEMREC_*`` environment > TOML file > defaults.

    The TOML file holds the fields at its top level or under a ``[semrec]`` table.
    """
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            file_values = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ValueError(f"cannot read settings file {config_file}: {error}") from None
        file_values = file_values.get("semrec", file_values)
    explicit = {k: v for k, v in overrides.items() if v is not None}
    # init values outrank the environment in pydantic-settings, so file values the environment
    # sets are dropped here
    from_file = {k: v for k, v in file_values.items() if f"SEMREC_{k.upper()}" not in os.environ}
    return ServerSettings(**{**from_file, **explicit})
