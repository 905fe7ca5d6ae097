"""PCL — Prompt Curriculum Learning (arXiv 2510.01135, Algorithm 1; docs/pcl.md §3).

Each step: k·m candidates from the pass sampler, one value-model score each (``ctx.score``), keep the m whose
raw value V(x) is closest to τ (Algorithm 1 line 4: |V(x) − τ|, no clipping), roll out n responses each.
Step t+1's prompts are chosen at the end of step t
(after the value update, while vLLM sleeps): the trainer calls :meth:`PclCurriculum.select_next`;
:meth:`PclCurriculum.run_step` selects on the spot only when nothing is pending (first step, or a trainer that
does not pre-select). The value model itself lives in the trainer; the pure helpers here give its regression
targets (:func:`value_targets`), loss (:func:`mse_loss`) and the explained-variance metric (Eq. 3).

Every selection is kept as a record in :attr:`PclCurriculum.selections` (saved in ``curriculum_state.pt``), so a
run can be audited afterwards: which candidates were drawn, what V said about each, which m were kept, and, once
the step has trained, the prompts' mean rewards ȳ (see :func:`new_selection_record`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, Group, RolloutContext, register_curriculum
from verl_ext.curriculum.sampler import PassSampler

__all__ = [
    "PclConfig",
    "PclCurriculum",
    "explained_variance",
    "diagnostic_ev",
    "mse_loss",
    "new_selection_record",
    "select_closest",
    "value_targets",
]


def select_closest(values: np.ndarray, m: int, tau: float) -> np.ndarray:
    """Positions of the m candidates with the smallest |V(x) − τ| on the raw value (PCL Algorithm 1 line 4).

    The raw value is ranked, never ``clip(V, 0, 1)``: with τ ≠ 0.5 the two orders differ. At τ = 0.1, V = 0.25
    is 0.15 away and V = −0.3 is 0.4 away, so 0.25 is kept first; clipped, −0.3 would count as 0 (0.1 away) and win.
    Ties are broken by lower position (stable sort = candidate order).

    Args:
        values: raw scores of the candidates, shape ``(K,)``.
        m: how many to keep, 0 <= m <= K.
        tau: target in [0, 1].

    Returns:
        int64 positions, shape ``(m,)``, ascending.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("values contain NaN/inf; check the value model's output")
    if not 0 <= m <= v.size:
        raise ValueError(f"cannot keep m={m} of {v.size} candidates; raise the candidate multiplier k")
    dev = np.abs(v - tau)
    return np.sort(np.argsort(dev, kind="stable")[:m]).astype(np.int64)


def explained_variance(p: np.ndarray, v: np.ndarray) -> float:
    """PCL Eq. 3: ``EV = 1 − Var(p − V)/Var(p)`` (ddof 0), shapes ``(k,)``; NaN when Var(p) = 0."""
    pp = np.asarray(p, dtype=np.float64)
    vv = np.asarray(v, dtype=np.float64)
    if pp.shape != vv.shape or pp.ndim != 1:
        raise ValueError(f"p and v must be 1-D of equal length, got {pp.shape} and {vv.shape}")
    var_p = float(np.var(pp)) if pp.size else 0.0
    if var_p == 0.0:
        return float("nan")
    return 1.0 - float(np.var(pp - vv)) / var_p


def diagnostic_ev(values: np.ndarray, rewards: np.ndarray, rollouts: Sequence[int]) -> dict[str, float]:
    """The explained-variance diagnostic of docs/pcl.md §7 (PCL Fig. 7) on fresh, unfiltered prompts.

    Args:
        values: V's predictions, shape ``(P,)``.
        rewards: binary rewards, shape ``(P, n)`` (n responses per prompt, in generation order).
        rollouts: the j of ``ev_rollouts_j``, each ``<= n``.

    Returns:
        ``pcl/diag/ev``: Eq. 3 with p = the n-response mean and V as predictor; ``pcl/diag/ev_rollouts_j``: Eq. 3
        with the mean of the first j responses as predictor of the same p (docs/pcl.md's definition: the j responses
        are part of p). NaN entries (Var(p) = 0) are left out.
    """
    r = np.asarray(rewards, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if r.ndim != 2 or v.shape != (r.shape[0],):
        raise ValueError(f"rewards must be (P, n) and values (P,), got {r.shape} and {v.shape}")
    p = r.mean(axis=1)
    out = {"pcl/diag/ev": explained_variance(p, v)}
    for j in rollouts:
        if not 1 <= j <= r.shape[1]:
            raise ValueError(f"ev_rollouts_{j}: j must lie in [1, {r.shape[1]}] (responses per diagnostic prompt)")
        out[f"pcl/diag/ev_rollouts_{j}"] = explained_variance(p, r[:, :j].mean(axis=1))
    return {k: val for k, val in out.items() if not np.isnan(val)}


def mse_loss(values: np.ndarray, targets: np.ndarray) -> float:
    """PCL value loss (Eq. 2 divided by m): ``(1/m) Σ (V(x_i) − ȳ_i)²``, shapes ``(m,)``."""
    v = np.asarray(values, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    if v.shape != y.shape or v.ndim != 1 or v.size == 0:
        raise ValueError(f"values and targets must be non-empty 1-D of equal length, got {v.shape} and {y.shape}")
    return float(np.mean((v - y) ** 2))


def value_targets(groups: Sequence[Group]) -> tuple[np.ndarray, np.ndarray]:
    """Regression targets ȳ = mean reward of each prompt's responses (PCL Alg. 1 line 8).

    Groups sharing an index are pooled (mean over all their responses); groups without rewards are skipped.

    Returns:
        ``(indices, ybar)``: sorted unique int64 indices, shape ``(k,)``, and float64 means, shape ``(k,)``.
    """
    scored = [g for g in groups if g.n > 0]
    if not scored:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    idx = np.array([g.index for g in scored], dtype=np.int64)
    total = np.array([float(np.sum(g.rewards)) for g in scored])
    count = np.array([g.n for g in scored], dtype=np.float64)
    uniq, inv = np.unique(idx, return_inverse=True)
    return uniq, np.bincount(inv, weights=total) / np.bincount(inv, weights=count)


def new_selection_record(
    selected_after: int, tau: float, candidates: np.ndarray, scores: np.ndarray, kept: np.ndarray
) -> dict[str, Any]:
    """One entry of :attr:`PclCurriculum.selections` (plain dict of numpy arrays: loadable without this package).

    Keys set at selection:

    - ``selected_after``: ``ctx.step`` when the pick was made (PCL picks step t+1's prompts after step t's value
      update, so t; 0 = before training);
    - ``step``: the global step that trains it (``None`` while pending);
    - ``tau``; ``candidates``: int64 dataset indices, shape ``(k·m,)``, loader order; ``scores``: float64 raw V
      of each candidate, ``(k·m,)``; ``kept``: int64 positions into ``candidates``, ``(m,)``, ascending
      (``candidates[kept]`` is the batch).

    Added after the step's value update (:meth:`PclCurriculum.record_value_step`): ``trained`` (dataset indices
    whose rewards arrived, sorted), ``targets`` (their ȳ), and, with ``rescore_trained``, ``pred_before`` /
    ``pred_after`` (V on ``trained`` just before / after the update).
    """
    return {
        "selected_after": int(selected_after),
        "step": None,
        "tau": float(tau),
        "candidates": np.asarray(candidates, dtype=np.int64).copy(),
        "scores": np.asarray(scores, dtype=np.float64).copy(),
        "kept": np.asarray(kept, dtype=np.int64).copy(),
    }


DIAG_ROLLOUTS = (1, 2, 3, 4, 8)  # the j of pcl/diag/ev_rollouts_j (docs/pcl.md §7, Fig. 7)


@dataclasses.dataclass
class PclConfig(CurriculumConfig):
    """PCL options (docs/pcl.md §3): k candidates per slot, target τ.

    ``rescore_trained`` (diagnostic, off in paper runs): score the m trained prompts again just before and just
    after each value update (two extra forward passes over m prompts) and log ``pcl/value/mse_after``, the MSE of
    the updated V on the same (prompt, ȳ) pairs; both predictions go into the step's selection record.

    ``diag_every`` (0 = off, the default; the paper's figure used 8): after every ``diag_every``-th step's value
    update, score ``diag_prompts`` random prompts of the whole pool (own RNG stream, not the pass) with the updated
    V while the rollout sleeps (docs/pcl.md §6); at the next step's start, with the rollout awake, generate
    ``diag_n`` responses each from the new policy and log :func:`diagnostic_ev` at that step. Its responses are
    never trained and count in ``curriculum/responses``.
    """

    k: int = 4
    tau: float = 0.5
    rescore_trained: bool = False
    diag_every: int = 0
    diag_prompts: int = 256
    diag_n: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k < 1:
            raise ValueError(f"curriculum.k={self.k} must be >= 1 (candidates = k·m; k=1 is plain GRPO order)")
        if not 0.0 <= self.tau <= 1.0:
            raise ValueError(f"curriculum.tau={self.tau} must lie in [0, 1] (target prompt accuracy)")
        if self.diag_every < 0 or self.diag_prompts < 2 or self.diag_n < max(DIAG_ROLLOUTS):
            raise ValueError(
                f"curriculum diagnostic: diag_every={self.diag_every} must be >= 0 (0 = off), "
                f"diag_prompts={self.diag_prompts} >= 2, diag_n={self.diag_n} >= {max(DIAG_ROLLOUTS)}"
            )


@register_curriculum("pcl")
class PclCurriculum(Curriculum):
    """Value-model prompt selection; ``pending`` holds the next step's prompts (saved in ``state_dict``)."""

    config_class = PclConfig
    extension = "verl_ext.workers.pcl_extension:PCLExtension"  # the prompt-value worker group behind ctx.score

    def __init__(self, config: PclConfig, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        if config.k * config.batch_size > num_prompts:
            raise ValueError(
                f"k·m = {config.k * config.batch_size} candidates exceed the pool of {num_prompts}; lower curriculum.k "
                "or data.train_batch_size"
            )
        self.config: PclConfig = config
        self.rng = np.random.default_rng(config.seed)
        self.sampler = PassSampler(num_prompts, self.rng)
        self.pending: np.ndarray | None = None
        self.pending_values: np.ndarray | None = None
        self.select_metrics: dict[str, float] = {}
        self.trained_values: dict[int, float] = {}
        # one record per selection, in order (new_selection_record): ~16 bytes per candidate and step
        self.selections: list[dict[str, Any]] = []
        # the diagnostic's own stream: drawing its prompts never moves the pass or the selection RNG
        self.diag_rng = np.random.default_rng([config.seed, 0xD1A6])
        self.diag_pending: tuple[np.ndarray, np.ndarray] | None = None  # (prompts, V) scored, not yet rolled out

    def select_next(self, ctx: RolloutContext) -> dict[str, float]:
        """Choose the next step's m prompts: k·m candidates, ``ctx.score``, keep the closest to τ."""
        cfg = self.config
        candidates = self.sampler.next(cfg.k * cfg.batch_size)
        values = np.asarray(ctx.score(candidates), dtype=np.float64)
        if values.shape != candidates.shape:
            raise ValueError(f"ctx.score returned shape {values.shape} for {candidates.size} candidates")
        keep = select_closest(values, cfg.batch_size, cfg.tau)
        self.pending = candidates[keep]
        self.pending_values = values[keep]
        self.selections.append(new_selection_record(ctx.step, cfg.tau, candidates, values, keep))
        self.select_metrics = {
            "pcl/select/abs_dev": float(np.mean(np.abs(values[keep] - cfg.tau))),
            "pcl/select/v_mean": float(values[keep].mean()),
            "pcl/select/cand_v_mean": float(values.mean()),
            "pcl/candidates": float(candidates.size),
            "pcl/dropped_at_pass_end": float(self.sampler.dropped_at_pass_end),
        }
        every = cfg.diag_every
        if every > 0 and ctx.step >= 1 and ctx.step % every == 0:
            self.score_diagnostic(ctx)
        return dict(self.select_metrics)

    def score_diagnostic(self, ctx: RolloutContext) -> None:
        """First half of the EV diagnostic (:class:`PclConfig`), with :meth:`select_next` after the value update
        (rollout asleep): score ``diag_prompts`` random prompts with the just-updated V."""
        size = min(self.config.diag_prompts, self.num_prompts)
        idx = np.sort(self.diag_rng.choice(self.num_prompts, size=size, replace=False)).astype(np.int64)
        self.diag_pending = (idx, np.asarray(ctx.score(idx), dtype=np.float64))

    def run_diagnostic(self, ctx: RolloutContext) -> dict[str, float]:
        """Second half, at the next step's start (rollout awake): ``diag_n`` responses per scored prompt from the
        new policy, released (never trained), then :func:`diagnostic_ev`."""
        assert self.diag_pending is not None
        idx, values = self.diag_pending
        groups = ctx.generate(idx, self.config.diag_n)
        ctx.release(groups)
        self.diag_pending = None
        by_index = {g.index: np.asarray(g.rewards, dtype=np.float64) for g in groups}
        rewards = np.stack([by_index[int(i)] for i in idx])
        return {
            **diagnostic_ev(values, rewards, DIAG_ROLLOUTS),
            "pcl/diag/prompts": float(idx.size),
            "pcl/diag/responses": float(rewards.size),
        }

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Submit the pending prompts (selecting now if none) with n responses each and commit them; first the
        rollouts of a scored EV diagnostic, if one is pending."""
        diag = self.run_diagnostic(ctx) if self.diag_pending is not None else {}
        if self.pending is None:
            self.select_next(ctx)
        assert self.pending is not None and self.pending_values is not None
        idx, values = self.pending, self.pending_values
        last = self.selections[-1] if self.selections else None
        if last is not None and last["step"] is None and np.array_equal(last["candidates"][last["kept"]], idx):
            last["step"] = int(ctx.step)
        groups = ctx.submit(idx, self.config.n)
        ctx.commit(groups)
        self.trained_values = {int(i): float(v) for i, v in zip(idx, values, strict=True)}
        self.pending, self.pending_values = None, None
        return {
            **self.select_metrics,
            **diag,
        }

    def observe(self, trained: Sequence[Group], screened: Sequence[Group] = ()) -> dict[str, float]:
        """MSE and EV of the (pre-update V at selection, ȳ) pairs of the trained prompts. The value model's
        calibration on them is the trainer's ``curriculum/calib/*`` (from :meth:`predicted_success`)."""
        metrics: dict[str, float] = {}
        idx, ybar = value_targets(trained)
        known = np.array([i in self.trained_values for i in idx], dtype=bool)
        if known.any():
            v = np.array([self.trained_values[int(i)] for i in idx[known]])
            metrics["pcl/value/mse"] = mse_loss(v, ybar[known])
            ev = explained_variance(ybar[known], v)
            if not np.isnan(ev):
                metrics["pcl/value/ev"] = ev
        return metrics

    def predicted_success(self, indices: np.ndarray) -> np.ndarray | None:
        """V(x) as used at this step's selection (Algorithm 1 line 4), clipped to [0, 1] as a success probability.

        Returns ``None`` unless every index was selected this step (no value was used for the others).
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if not self.trained_values or any(int(i) not in self.trained_values for i in idx):
            return None
        return np.clip(np.array([self.trained_values[int(i)] for i in idx], dtype=np.float64), 0.0, 1.0)

    def record_value_step(
        self,
        step: int,
        trained: np.ndarray,
        targets: np.ndarray,
        pred_before: np.ndarray | None = None,
        pred_after: np.ndarray | None = None,
    ) -> dict[str, Any] | None:
        """Attach step ``step``'s value-update data to the record of the selection it trained (or ``None``).

        Args:
            step: the global step whose value update this is.
            trained: sorted dataset indices of the trained prompts with rewards, shape ``(m',)``.
            targets: their ȳ, shape ``(m',)``.
            pred_before, pred_after: V on ``trained`` just before / after the update (``rescore_trained``).
        """
        record = next((r for r in reversed(self.selections) if r["step"] == step), None)
        if record is None:
            return None
        record["trained"] = np.asarray(trained, dtype=np.int64).copy()
        record["targets"] = np.asarray(targets, dtype=np.float64).copy()
        for key, value in (("pred_before", pred_before), ("pred_after", pred_after)):
            if value is not None:
                record[key] = np.asarray(value, dtype=np.float64).copy()
        return record

    def state_dict(self) -> dict[str, Any]:
        """RNG, pass position, the pending selection with its values and metrics, and the selection records."""
        return {
            "rng": self.rng.bit_generator.state,
            "sampler": self.sampler.state_dict(),
            "pending": None if self.pending is None else self.pending.copy(),
            "pending_values": None if self.pending_values is None else self.pending_values.copy(),
            "select_metrics": dict(self.select_metrics),
            "selections": copy.deepcopy(self.selections),
            "diag_rng": copy.deepcopy(self.diag_rng.bit_generator.state),
            "diag_pending": copy.deepcopy(self.diag_pending),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.rng.bit_generator.state = state["rng"]
        self.sampler.load_state_dict(state["sampler"])
        pending = state["pending"]
        self.pending = None if pending is None else np.asarray(pending, dtype=np.int64).copy()
        values = state["pending_values"]
        self.pending_values = None if values is None else np.asarray(values, dtype=np.float64).copy()
        self.select_metrics = dict(state["select_metrics"])
        # states written before selection records existed have none
        self.selections = copy.deepcopy(list(state.get("selections", [])))
        if "diag_rng" in state:  # absent in states written before the diagnostic existed
            self.diag_rng.bit_generator.state = copy.deepcopy(dict(state["diag_rng"]))
            self.diag_pending = copy.deepcopy(state["diag_pending"])
