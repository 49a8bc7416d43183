"""The real-time HTTP service: store, vector index, recommendation pipeline and API."""
