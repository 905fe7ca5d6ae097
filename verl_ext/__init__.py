"""Curriculum and prompt-selection extensions for verl 0.9.1 (CurES, PCL and their baselines)."""

VERL_VERSION = "0.9.1"
