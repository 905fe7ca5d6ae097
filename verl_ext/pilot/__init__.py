"""Offline passes over a prompt file shared by the Pre-filter, the GVM pilot and CurES release stage 0.

``rollouts``: read a contract parquet, sample responses with an eval backend, score them with the training reward.
``gradients``: per-rollout ‖∇_embed(−Σ log π)‖ on an HF model. ``prefilter_pass``, ``gvm_pilot``, ``cures_stage0``:
the three output tables. ``iterations``: the resumable pilot → train → merge driver of GVM and CurES release.
"""
