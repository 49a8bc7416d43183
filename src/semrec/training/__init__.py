"""Training sequential recommenders: configuration, the loop, early stopping, checkpoints."""
