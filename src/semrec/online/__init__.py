"""The online engine: catalog, indexes, the model at run time, retrieval, re-ranking, search and profiles."""
