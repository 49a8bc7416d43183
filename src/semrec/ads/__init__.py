"""Sponsored placements: the auction (expected value, relevance floor, second price); the ledger
that keeps spend within each campaign's daily budget lives in the store (semrec.store.ads)."""
