"""gvm recipe."""
