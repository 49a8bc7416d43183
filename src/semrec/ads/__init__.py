"""Sponsored placements: the auction (expected value, relevance floor, second price) and the
ledger that keeps spend within each campaign's daily budget."""
