"""Text -> normalised float32 vectors."""
