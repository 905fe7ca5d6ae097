"""cures recipe."""
