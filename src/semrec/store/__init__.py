"""Where the shop's events and catalog live: one SQLite file with its change log."""
