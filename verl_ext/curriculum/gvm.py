"""GVM (arXiv 2505.02391, code RLHFlow/GVM; docs/methods/gvm.md): per-prompt rollout budgets from a pilot.

A pilot run (offline; ``verl_ext.curriculum.gradnorm`` computes G) gives every prompt x of the iteration's
subset an acceptance rate p_x and a mean gradient norm G_x. The budget N = K·|D_i| is split in proportion to

    w_x = G_x / sqrt(p_x + α / p_x^(β−1))          (0 when p_x = 0 or G_x = 0)

with sum-preserving rounding (:func:`allocate_rollouts`). Training then draws m prompts per step without
replacement (reshuffled each pass), drops n_x = 0 and rolls out n_x responses for each of the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, RolloutContext, register_curriculum
from verl_ext.curriculum.sampler import PassSampler, get_rng_state, set_rng_state

logger = logging.getLogger(__name__)

__all__ = ["GVMConfig", "GVMCurriculum", "allocate_rollouts", "gvm_weights", "load_pilot_table", "sum_preserving_round"]


def gvm_weights(grad_norm: np.ndarray, accept_rate: np.ndarray, alpha: float = 1e-3, beta: float = 2.0) -> np.ndarray:
    """GVM sampling weight w_x = G_x / sqrt(p_x + α / p_x^(β−1)); 0 where p_x = 0 or G_x = 0.

    Args:
        grad_norm: G, shape ``(P,)``, >= 0. accept_rate: p, shape ``(P,)``, in [0, 1].
    Returns:
        float64 weights, shape ``(P,)``.
    """
    g = np.asarray(grad_norm, dtype=np.float64)
    p = np.asarray(accept_rate, dtype=np.float64)
    if g.ndim != 1 or g.shape != p.shape:
        raise ValueError(f"grad_norm and accept_rate must be 1-D of equal length, got {g.shape} and {p.shape}")
    if not (np.all(np.isfinite(g)) and np.all(g >= 0)):
        raise ValueError("grad_norm must be finite and >= 0; check the pilot table's G column")
    if not (np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))):
        raise ValueError("accept_rate must lie in [0, 1]; check the pilot table's p column")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0 (GVM default 1e-3), got {alpha}")
    w = np.zeros_like(g)
    ok = (p > 0) & (g > 0)
    w[ok] = g[ok] / np.sqrt(p[ok] + alpha / p[ok] ** (beta - 1.0))
    return w


def sum_preserving_round(x: np.ndarray, total: int) -> np.ndarray:
    """Round non-negative reals x (summing to ``total``) to integers summing exactly to ``total``.

    r = round(x) (numpy half-to-even); e = total − Σr; +1 on the e largest residuals x − r when e > 0, −1 on
    the |e| smallest residuals among r > 0 when e < 0; ties go to the earlier position.
    """
    r = np.round(x).astype(np.int64)
    err = int(total - r.sum())
    residual = x - r
    if err > 0:
        order = np.argsort(-residual, kind="stable")
        r[order[:err]] += 1
    elif err < 0:
        candidates = np.flatnonzero(r > 0)
        order = candidates[np.argsort(residual[candidates], kind="stable")]
        r[order[:-err]] -= 1
    return r


def allocate_rollouts(
    grad_norm: np.ndarray, accept_rate: np.ndarray, budget: int, alpha: float = 1e-3, beta: float = 2.0
) -> np.ndarray:
    """GVM rollout allocation n_x = sum-preserving rounding of budget · w_x / Σ w (docs/methods/gvm.md).

    Args:
        grad_norm: G_x, mean embedding-gradient norm of x's correct pilot responses, shape ``(P,)``.
        accept_rate: p_x, pilot acceptance rate, shape ``(P,)``.
        budget: N, total responses to allocate (GVM: K·P with K = 8).
        alpha, beta: the weight's regulariser (GVM: 1e-3, 2).

    Returns:
        int64 array of shape ``(P,)``, >= 0, summing to ``budget``; 0 wherever w_x = 0.
    """
    if int(budget) != budget or budget < 0:
        raise ValueError(f"budget must be a non-negative integer, got {budget!r}")
    w = gvm_weights(grad_norm, accept_rate, alpha, beta)
    total = w.sum()
    if budget and total <= 0:
        raise ValueError(
            "every prompt has p = 0 or G = 0, so GVM has nothing to allocate; check the pilot (sampling, reward)"
        )
    if not budget:
        return np.zeros(w.shape, dtype=np.int64)
    return sum_preserving_round(budget * w / total, int(budget))


def load_pilot_table(path: str) -> dict[str, np.ndarray]:
    """Read a pilot parquet with columns ``index``, ``p``, ``G`` and optionally ``n`` (as 1-D numpy arrays)."""
    import pyarrow.parquet as pq  # lazy: only the parquet path needs pyarrow

    table = pq.read_table(path)
    missing = {"index", "p", "G"} - set(table.column_names)
    if missing:
        raise ValueError(
            f"pilot table {path} lacks column(s) {sorted(missing)}; it needs index, p, G (and optionally n), "
            "as written by the GVM pilot command"
        )
    cols = ["index", "p", "G"] + (["n"] if "n" in table.column_names else [])
    return {c: table.column(c).to_numpy() for c in cols}


@dataclasses.dataclass
class GVMConfig(CurriculumConfig):
    """GVM options. ``n`` is K, the mean budget: N = K·|D_i| responses are allocated over the subset.

    Attributes:
        pilot_path: parquet of the iteration's pilot (index, p, G[, n]); required unless a table is passed.
        alpha, beta: weight regulariser (GVM: 1e-3, 2). Used when the table has no ``n`` column.
        iteration: GVM iteration i (1-based), checkpointed and logged.
    """

    pilot_path: str | None = None
    alpha: float = 1e-3
    beta: float = 2.0
    iteration: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.alpha <= 0:
            raise ValueError(f"curriculum.alpha must be > 0 (GVM default 1e-3), got {self.alpha}")
        if self.iteration < 1:
            raise ValueError(f"curriculum.iteration is 1-based, got {self.iteration}")


def _table_hash(index: np.ndarray, n: np.ndarray) -> str:
    """sha256 of the allocation (index and n arrays), independent of the parquet file's metadata."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(index, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(n, dtype=np.int64).tobytes())
    return h.hexdigest()


@register_curriculum("gvm")
class GVMCurriculum(Curriculum):
    """GVM selector: m prompts per step from the pilot subset, n_x responses each, n_x = 0 dropped."""

    config_class = GVMConfig
    allows_singleton_groups = True  # n_x = 1 groups train with advantage = raw reward, as released (§6)

    def __init__(
        self, config: GVMConfig, num_prompts: int, pilot_table: Mapping[str, np.ndarray] | None = None
    ) -> None:
        super().__init__(config, num_prompts)
        self.config: GVMConfig = config
        if pilot_table is None:
            if not config.pilot_path:
                raise ValueError("gvm needs its pilot allocation: set curriculum.pilot_path to gvm_iter{i}.parquet")
            pilot_table = load_pilot_table(config.pilot_path)
        self.index, self.p, self.G, self.alloc = self._validate(pilot_table, num_prompts)
        if config.batch_size > self.index.size:
            raise ValueError(
                f"batch_size={config.batch_size} exceeds the {self.index.size} prompts of the pilot subset; "
                "lower data.train_batch_size"
            )
        self.table_hash = _table_hash(self.index, self.alloc)
        self.iteration = config.iteration
        self.rng = np.random.default_rng(config.seed)
        self.sampler = PassSampler(self.index.size, self.rng)  # over table rows; reshuffled each pass

    def _validate(
        self, table: Mapping[str, np.ndarray], num_prompts: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        index = np.asarray(table["index"], dtype=np.int64)
        p = np.asarray(table["p"], dtype=np.float64)
        g = np.asarray(table["G"], dtype=np.float64)
        if index.ndim != 1 or index.size == 0 or p.shape != index.shape or g.shape != index.shape:
            raise ValueError("pilot table columns index, p, G must be non-empty 1-D arrays of equal length")
        if np.unique(index).size != index.size:
            raise ValueError("pilot table has duplicate index values; regenerate it (one row per prompt)")
        if index.min() < 0 or index.max() >= num_prompts:
            raise ValueError(
                f"pilot table indices span {index.min()}..{index.max()} but the training pool has {num_prompts} "
                "prompts; use the pilot of this iteration's data.train_files"
            )
        gvm_weights(g, p, self.config.alpha, self.config.beta)  # validates p and G even when n is given
        if "n" in table and table["n"] is not None:
            alloc = np.asarray(table["n"])
            if alloc.shape != index.shape or not np.all(alloc == np.round(alloc)) or alloc.min() < 0:
                raise ValueError("pilot table column n must hold one non-negative integer per row")
            alloc = alloc.astype(np.int64)
        else:
            alloc = allocate_rollouts(g, p, self.config.n * index.size, self.config.alpha, self.config.beta)
        return index, p, g, alloc

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Draw m pilot rows, submit the n_x > 0 ones with per-prompt n_x, commit them all (a variable count)."""
        rows = self.sampler.next(self.config.batch_size)
        n = self.alloc[rows]
        keep = n > 0
        if not keep.any():
            logger.warning("gvm: all %d prompts drawn at step %d have n_x = 0; nothing to train", rows.size, ctx.step)
        groups = ctx.submit(self.index[rows[keep]], n[keep])
        ctx.commit(groups)
        return self._metrics(n, keep)

    def _metrics(self, n: np.ndarray, keep: np.ndarray) -> dict[str, float]:
        kept = n[keep]
        has_kept = kept.size > 0
        return {
            "gvm/pilot_acc_mean": float(self.p.mean()),
            "gvm/frac_p0": float((self.p == 0).mean()),
            "gvm/frac_p1": float((self.p == 1).mean()),
            "gvm/G_mean": float(self.G.mean()),
            "gvm/n_min": float(kept.min()) if has_kept else 0.0,
            "gvm/n_mean": float(kept.mean()) if has_kept else 0.0,
            "gvm/n_max": float(kept.max()) if has_kept else 0.0,
            "gvm/frac_zero_alloc": float((~keep).mean()),
            "gvm/responses_per_step": float(kept.sum()),
            "gvm/singleton_groups": float((kept == 1).sum()),
            "gvm/iteration": float(self.iteration),
        }

    def state_dict(self) -> dict[str, Any]:
        """RNG, pass sampler over the pilot rows, iteration index and the allocation hash."""
        return {
            "rng": get_rng_state(self.rng),
            "sampler": self.sampler.state_dict(),
            "iteration": self.iteration,
            "table_hash": self.table_hash,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state["table_hash"] != self.table_hash:
            raise ValueError(
                f"the GVM allocation changed since the checkpoint (hash {state['table_hash'][:12]} vs "
                f"{self.table_hash[:12]}); resume iteration {state['iteration']} with its own gvm_iter parquet"
            )
        set_rng_state(self.rng, state["rng"])
        self.sampler.load_state_dict(state["sampler"])
        self.iteration = int(state["iteration"])
