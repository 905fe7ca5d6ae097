"""speed recipe."""
