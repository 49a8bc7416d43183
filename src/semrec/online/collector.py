"""Keeps the garbage collector's full passes off the request path.

CPython's oldest-generation collection walks every object it tracks. After start-up a server holds
hundreds of thousands of them (item metadata, the word index, the model's modules, the web
framework), all living as long as the engine, so each full pass stalls whichever request triggers it
for milliseconds to tens of milliseconds at a million items. :func:`settle` moves everything alive
at that moment out of the collector's view (``gc.freeze``); objects made later are collected as
usual. Reference counting still frees frozen objects; only cycles among them wait for the next
:func:`settle` (after a reload), which thaws, collects and freezes again.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Call once the engine is built (start-up, reload): collects, then freezes what survived."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
