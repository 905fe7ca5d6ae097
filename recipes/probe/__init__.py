"""probe recipe."""
