"""Influence caps: how far a burst of events can move what other shoppers are shown.

Every event is stored and shapes its own shopper's next answer. What it may also do is move shared
signals: the live popularity counts (the list new shoppers get) and the sequences a retrain learns
from. A shilling attack (fake shoppers who all click one product) works through those. The caps
decide, per event, whether it counts there:

- a shopper counts for one product at most ``shopper_item`` times per window (a view, a cart and
  a purchase; a shopper clicking the same product a hundred times counts three times);
- a shopper counts at most ``shopper`` events per window (a bot's burst is cut short);
- an API key counts for one product at most ``key_item`` times per window (many fake shoppers
  behind one key cannot push one product past it), except the keys named in ``trusted_keys``.

The clock is the time the server stored the event (so back-dated timestamps cannot spread a burst
over past windows), in fixed windows; events stored before the server kept that time all count.
The decision is a function of the stored log read in commit order: every retrain reads it from the
dataset's end and reaches the same decisions; a server process reads it from its start, so one that
starts mid-window may count up to one window's caps more than a process that read the whole window.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field

from semrec.schema import EventRow


class InfluenceCaps(BaseModel):
    """How many events of one shopper or one API key count toward shared signals per window."""

    model_config = ConfigDict(extra="forbid")

    window: float = Field(
        3600.0, gt=0, le=30 * 86400, description="The window the caps count over, in seconds."
    )
    shopper_item: int | None = Field(
        3,
        ge=0,
        description="Events of one shopper on one product that count per window (a view, a cart and "
        "a purchase; 0: no cap).",
    )
    shopper: int | None = Field(
        100, ge=0, description="Events of one shopper that count per window (0: no cap)."
    )
    key_item: int | None = Field(
        None,
        ge=0,
        description="Events sent with one API key on one product that count per window (0 or none: "
        "no cap); "
        "for keys a client holds (a browser's, a partner's), not the shop's own backend.",
    )
    trusted_keys: list[str] = Field(
        default_factory=list, description="API key names key_item does not apply to."
    )

    @classmethod
    def off(cls) -> InfluenceCaps:
        return cls(shopper_item=0, shopper=0, key_item=0)


class Influence:
    """Reads the log in commit order and says which events count (:class:`InfluenceCaps`). Keeps
    only the current window's counts."""

    def __init__(self, caps: InfluenceCaps) -> None:
        self.caps = caps
        self.trusted = frozenset(caps.trusted_keys)
        self._window = -1
        self._pairs: dict[tuple[str, str], int] = defaultdict(int)
        self._shoppers: dict[str, int] = defaultdict(int)
        self._keys: dict[tuple[str, str], int] = defaultdict(int)
        self.refused = 0  # events that did not count, since this reader started

    def counts(self, event: EventRow) -> bool:
        caps = self.caps
        if event.received is None:  # stored before the server kept the time: nothing to count by
            return True
        window = int(event.received // caps.window)
        if window > self._window:  # a later window: the counts start again
            self._window = window
            self._pairs.clear()
            self._shoppers.clear()
            self._keys.clear()
        pair = (event.user_key, event.item_id)
        key = None
        if caps.key_item and event.source is not None and event.source not in self.trusted:
            key = (event.source, event.item_id)
        if (
            (caps.shopper_item and self._pairs[pair] >= caps.shopper_item)
            or (caps.shopper and self._shoppers[event.user_key] >= caps.shopper)
            or (key is not None and caps.key_item and self._keys[key] >= caps.key_item)
        ):
            self.refused += 1
            return False
        self._pairs[pair] += 1
        self._shoppers[event.user_key] += 1
        if key is not None:
            self._keys[key] += 1
        return True

    def admit(self, events: Iterable[EventRow]) -> Iterator[EventRow]:
        """The events that count, in the order given."""
        return (e for e in events if self.counts(e))
