"""greso recipe."""
