"""A deeper copy of the demo's warmed-up 2-layer policy, so layer skipping has layers to choose from (tests, benchmark).

``build_deep_policy(num_layers=L, scale=s)``: layer 0 and layer L-1 are the policy's own two layers; each middle layer
is a copy of one of them whose output projections (attention ``o_proj``, MLP ``down_proj``) are multiplied by ``s``,
so each adds a small residual update. With all middle layers present the model is a perturbed copy of the policy
(it still solves part of the synthetic task); skipping middle layers changes its token distribution by an amount
that grows with |S|. It is a test fixture, not a model of how layers of a pretrained LLM behave.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

__all__ = ["build_deep_policy"]


def build_deep_policy(num_layers: int = 8, scale: float = 0.3, source: Path | None = None) -> Path:
    """The cached deepened policy folder (config, weights, tokenizer files of the demo policy)."""
    from verl_ext.testing.assets import build_demo_assets
    from verl_ext.testing.cache import cache_root, cached_build, file_digest, spec_key

    if num_layers < 3:
        raise ValueError(
            f"num_layers must be >= 3 (two original layers and at least one middle layer), got {num_layers}"
        )
    src = Path(source) if source is not None else build_demo_assets().policy
    spec = {
        "num_layers": num_layers,
        "scale": scale,
        "source": file_digest(src / "config.json", src / "model.safetensors"),
    }

    def _build(out: Path) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
        old = list(base.model.layers)
        if len(old) != 2:
            raise ValueError(f"{src}: expected the demo's 2-layer policy, got {len(old)} layers")
        cfg = AutoConfig.from_pretrained(src)
        cfg.num_hidden_layers = num_layers
        if getattr(cfg, "layer_types", None):
            cfg.layer_types = [cfg.layer_types[0]] * num_layers
        deep = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
        state = {k: v for k, v in base.state_dict().items() if ".layers." not in k}
        deep.load_state_dict(state, strict=False)
        with torch.no_grad():
            for i in range(num_layers):
                src_layer = old[0] if i == 0 else old[1] if i == num_layers - 1 else old[i % 2]
                layer = copy.deepcopy(src_layer)
                if 0 < i < num_layers - 1:
                    layer.self_attn.o_proj.weight.mul_(scale)
                    layer.mlp.down_proj.weight.mul_(scale)
                layer.self_attn.layer_idx = i
                deep.model.layers[i] = layer
        deep.generation_config = base.generation_config
        deep.save_pretrained(out, safe_serialization=True)
        for f in src.iterdir():
            if f.is_file() and not (out / f.name).exists() and f.suffix != ".safetensors" and f.name != "config.json":
                shutil.copy2(f, out / f.name)

    return cached_build(cache_root() / f"deep-policy-{spec_key(spec)}", spec_key(spec), _build, spec)
