"""Rewards: the binary math-verify reward (``math_reward``), its worker pool with per-item timeouts (``pool``) and a
verl reward manager that reports truncation to it (``manager``; imports verl, so it is not imported here)."""
