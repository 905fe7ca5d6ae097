"""CPU backend for verl 0.9.1: a ``cpu`` platform, an ``hf`` rollout (batched Hugging Face ``generate``) and three
guarded patches, so verl's own V1 trainer runs end to end on a CPU-only machine (development, CI, demos).

Enabled by the Hydra profile ``configs/platform/cpu.yaml`` (``+platform=cpu``), which exports
``VERL_PLATFORM=cpu`` to every Ray worker; see ``verl_ext/cpu/plugin.py``. Nothing here is imported on GPU runs
beyond the inert plugin module.
"""
