"""prefilter recipe."""
