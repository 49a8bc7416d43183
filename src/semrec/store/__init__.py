"""Where the shop's events and catalog live (SQLite), and the follower that keeps every process current."""
