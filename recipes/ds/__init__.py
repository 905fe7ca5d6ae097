"""ds recipe."""
