"""grpo recipe."""
