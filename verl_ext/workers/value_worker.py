"""PCL's prompt-value model as a verl ``TrainingWorker`` group (docs/pcl.md §3).

The worker is verl's own ``verl.workers.engine_workers.TrainingWorker`` with ``model_type="value_model"`` (a
token-classification model with one label, initialised from a causal-LM checkpoint with a fresh linear head), in
its own ``RayWorkerGroup`` on the trainer's resource pool. It is *not* verl's PPO critic path: no GAE, no clipped
value loss; its loss is :func:`verl_ext.workers.loss.pcl_value_loss`.

Batches: one row per prompt, jagged ``input_ids``/``position_ids`` of the chat-templated prompt (no response),
``loss_mask`` 1 only at the last prompt token (0 on dp-padding rows), dense ``pcl_target`` (ȳ) for training.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import types
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu

from verl_ext.workers.loss import HEAD_ACTIVATIONS, TARGET_KEY, apply_head_activation, last_token_values, pcl_value_loss

logger = logging.getLogger(__name__)

__all__ = [
    "ValueWorkerGroup",
    "build_value_batch",
    "build_worker_config",
    "DEFAULT_HEAD_INIT_VALUE",
    "create_value_worker_group",
    "find_value_head",
    "head_init_value",
    "install_fp32_head",
    "local_param_digest",
    "prepare_value_head",
    "release_device_cache",
    "seed_worker",
    "split_value_model_node",
]

# Keys of ``curriculum.value_model`` that are PCL's own, not verl's critic schema (removed before conversion).
_PCL_KEYS = ("head_activation", "head_init_value")


def split_value_model_node(node: Any, actor_model_path: str | None = None) -> tuple[Any, str]:
    """Split ``curriculum.value_model`` into verl's critic-schema config and PCL's ``head_activation``.

    Args:
        node: the ``curriculum.value_model`` DictConfig (critic schema, e.g. composed from ``dp_critic`` +
            ``hf_model``), optionally with ``head_activation: none|sigmoid``.
        actor_model_path: filled in as ``model.path`` when the node leaves it null (the spec's default: the
            value model starts from the policy's base checkpoint).

    Returns:
        ``(critic_config, head_activation)``; ``critic_config`` is verl's dataclass (e.g. ``FSDPCriticConfig``).
    """
    from omegaconf import OmegaConf
    from verl.utils.config import omega_conf_to_dataclass

    if node is None:
        raise ValueError(
            "curriculum.value_model is missing: PCL needs it (compose critic@curriculum.value_model: dp_critic and "
            "model@curriculum.value_model.model: hf_model)"
        )
    container = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node)
    head_activation = str(container.pop("head_activation", "none") or "none")
    if head_activation not in HEAD_ACTIVATIONS:
        raise ValueError(
            f"curriculum.value_model.head_activation={head_activation!r}; valid: {', '.join(HEAD_ACTIVATIONS)}"
        )
    head_init_value(container.pop("head_init_value", DEFAULT_HEAD_INIT_VALUE), head_activation)  # checked; see setup
    model = container.get("model") or {}
    if model.get("path") in (None, "", "???"):
        if actor_model_path is None:
            raise ValueError("curriculum.value_model.model.path is unset and no actor model path to default to")
        model["path"] = actor_model_path
        container["model"] = model
    return omega_conf_to_dataclass(OmegaConf.create(container)), head_activation


# curriculum.value_model.head_init_value when the key is absent (docs/pcl.md §4: the project's choice, = τ's default)
DEFAULT_HEAD_INIT_VALUE = 0.5


def head_init_value(value: Any, head_activation: str = "none") -> float | None:
    """Check ``curriculum.value_model.head_init_value``: ``None`` (HF's random head) or the initial prediction.

    A number ``c`` initialises the head to weight 0 and bias ``c`` (``none``) or ``logit(c)`` (``sigmoid``), so
    V(x) = c for every prompt before the first value update (docs/pcl.md §4). Callers pass
    ``DEFAULT_HEAD_INIT_VALUE`` when the key is absent.
    """
    if value is None or (isinstance(value, str) and value.lower() in ("null", "none", "")):
        return None
    try:
        c = float(value)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"curriculum.value_model.head_init_value={value!r}: a number (the initial prediction) or null "
            "(HF's random head)"
        ) from e
    if not math.isfinite(c) or (head_activation == "sigmoid" and not 0.0 < c < 1.0):
        raise ValueError(
            f"curriculum.value_model.head_init_value={value!r} must be finite"
            + (" and in (0, 1) with head_activation=sigmoid" if head_activation == "sigmoid" else "")
        )
    return c


def find_value_head(module: Any) -> torch.nn.Linear:
    """The scalar value head of verl's value model: the ``score`` ``Linear(hidden, 1)`` of the HF
    token-classification model verl's ``load_valuehead_model`` builds (also under FSDP wrappers)."""
    heads = [
        (name, m)
        for name, m in module.named_modules()
        if name.split(".")[-1] == "score" and isinstance(m, torch.nn.Linear) and m.out_features == 1
    ]
    if len(heads) != 1:
        raise RuntimeError(
            f"expected one value head 'score' (Linear(hidden, 1)) in {type(module).__name__}, found "
            f"{[n for n, _ in heads]}; PCL supports verl's AutoModelForTokenClassification value models"
        )
    return heads[0][1]


def _fp32_linear_forward(self: torch.nn.Linear, hidden: torch.Tensor) -> torch.Tensor:
    """``Linear.forward`` in fp32 with autocast off: fp32 inputs, weights and accumulation, fp32 output."""
    with torch.autocast(device_type=hidden.device.type, enabled=False):
        bias = None if self.bias is None else self.bias.float()
        return torch.nn.functional.linear(hidden.float(), self.weight.float(), bias)


def install_fp32_head(head: torch.nn.Linear) -> None:
    """Make the value head compute in fp32 even under bf16 autocast / FSDP mixed precision.

    verl's engine runs the forward under ``torch.autocast(bf16)`` when ``mixed_precision.param_dtype`` is bf16 (its
    GPU default), so the head's matmul and output are bf16: scores are quantised to 2^-8 ≈ 0.004 near τ = 0.5 and
    many candidates tie. The instance's ``forward`` is replaced (the parameters, their names, the FSDP hooks and the
    checkpoints are untouched); the weights are the ones FSDP gathered (bf16-rounded under mixed precision), the
    hidden state is upcast, the product is accumulated and returned in fp32.
    """
    head.forward = types.MethodType(_fp32_linear_forward, head)


def _local(t: torch.Tensor) -> torch.Tensor:
    """This rank's part of a parameter (an FSDP2 ``DTensor``'s local shard; a plain tensor as is), no collective."""
    t = t.detach()
    return t.to_local() if hasattr(t, "to_local") else t


def prepare_value_head(worker: Any, init_value: float | None, head_activation: str = "none") -> dict[str, float]:
    """Inside a ``TrainingWorker`` after ``reset`` (``Worker.execute_with_func_generator``): fp32 head, and with
    ``init_value`` the constant initialisation of :func:`head_init_value` (weight 0, bias c or logit(c)).

    The head's parameters are written where they live: FSDP2 ``DTensor`` shards in place; FSDP1 flat parameters
    inside ``summon_full_params(writeback=True)``; with parameter offload the model is brought to the device for
    it and offloaded again. Returns this rank's local ``bias`` (NaN when its shard holds none) and ``weight_abs_sum``.
    """
    from contextlib import nullcontext

    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP1

    engine = worker.engine
    install_fp32_head(find_value_head(engine.module))
    if init_value is not None:
        b = math.log(init_value / (1.0 - init_value)) if head_activation == "sigmoid" else init_value
        offload = bool(getattr(engine, "is_param_offload_enabled", False))
        if offload:
            from verl.utils.device import get_device_name

            engine.to(get_device_name(), model=True, optimizer=False, grad=False)
        root = engine.module
        summon = FSDP1.summon_full_params(root, writeback=True) if isinstance(root, FSDP1) else nullcontext()
        with summon, torch.no_grad():
            head = find_value_head(root)
            if head.bias is None:
                raise RuntimeError(
                    "head_init_value needs a head with a bias; set curriculum.value_model.head_init_value=null"
                )
            head.weight.zero_()
            head.bias.fill_(b)
        if offload:
            engine.to("cpu", model=True, optimizer=False, grad=False)
    head = find_value_head(engine.module)
    bias = _local(head.bias) if head.bias is not None else torch.zeros(0)
    return {
        "bias": float(bias.float().reshape(-1)[0]) if bias.numel() else float("nan"),
        "weight_abs_sum": float(_local(head.weight).float().abs().sum()),
    }


def build_worker_config(critic_cfg: Any) -> Any:
    """``TrainingWorkerConfig`` for the value model, as verl builds the critic's (``trainer_base.py:265-283``).

    The engine defaults to dynamic batch sizes with no token limit (``TypeError`` in ``prepare_micro_batches``), so
    the limits are set from the critic schema like the stock critic does.
    """
    from verl.workers.config import TrainingWorkerConfig

    critic_cfg.engine.max_token_len_per_gpu = critic_cfg.ppo_max_token_len_per_gpu
    critic_cfg.engine.infer_max_token_len_per_gpu = critic_cfg.ppo_infer_max_token_len_per_gpu
    return TrainingWorkerConfig(
        model_type="value_model",
        model_config=critic_cfg.model,
        engine_config=critic_cfg.engine,
        optimizer_config=critic_cfg.optim,
        checkpoint_config=critic_cfg.checkpoint,
    )


def create_value_worker_group(resource_pool: Any, worker_config: Any, device_name: str, **wg_kwargs: Any) -> Any:
    """A ``RayWorkerGroup`` of ``TrainingWorker`` on ``resource_pool`` (colocated with the actor when it is the
    trainer's global pool: each worker takes ``1/max_colocate_count`` of a GPU)."""
    import ray
    from verl.single_controller.ray import RayClassWithInitArgs, RayWorkerGroup
    from verl.workers.engine_workers import TrainingWorker

    cls = RayClassWithInitArgs(cls=ray.remote(TrainingWorker), config=worker_config)
    return RayWorkerGroup(resource_pool=resource_pool, ray_cls_with_init=cls, device_name=device_name, **wg_kwargs)


def build_value_batch(
    prompt_ids: Sequence[Sequence[int]], dp_size: int, targets: np.ndarray | None = None
) -> tuple[TensorDict, int]:
    """One value-model batch: a row per prompt, padded to a multiple of ``dp_size``.

    Args:
        prompt_ids: token ids of each chat-templated prompt, lengths ``L_i >= 1``.
        dp_size: data-parallel size of the worker group (the dispatch splits rows evenly over ranks).
        targets: ȳ per prompt, shape ``(len(prompt_ids),)``, for training; ``None`` for scoring.

    Returns:
        ``(batch, num_real)``: the TensorDict (rows ``num_real..`` are padding copies of a one-token prompt with
        zero ``loss_mask``) and the number of real rows.
    """
    if not prompt_ids:
        raise ValueError("no prompts to score or train on")
    if any(len(p) == 0 for p in prompt_ids):
        raise ValueError("a prompt tokenised to zero tokens; check the dataset's prompt column and chat template")
    num_real = len(prompt_ids)
    num_pad = (-num_real) % dp_size
    rows = [torch.as_tensor(list(p), dtype=torch.int64) for p in prompt_ids]
    rows += [rows[0][-1:].clone() for _ in range(num_pad)]
    mask = [torch.zeros(len(r), dtype=torch.int64) for r in rows]
    for m in mask[:num_real]:
        m[-1] = 1  # the loss reads the last prompt token only; batch_num_tokens then counts real prompts
    fields: dict[str, Any] = {
        "input_ids": torch.nested.as_nested_tensor(rows, layout=torch.jagged),
        "position_ids": torch.nested.as_nested_tensor([torch.arange(len(r)) for r in rows], layout=torch.jagged),
        "loss_mask": torch.nested.as_nested_tensor(mask, layout=torch.jagged),
    }
    if targets is not None:
        y = np.asarray(targets, dtype=np.float32).reshape(-1)
        if y.shape[0] != num_real:
            raise ValueError(f"{y.shape[0]} targets for {num_real} prompts")
        fields[TARGET_KEY] = torch.cat([torch.from_numpy(y), torch.zeros(num_pad, dtype=torch.float32)])
    td = tu.get_tensordict(fields)
    tu.assign_non_tensor(td, temperature=1.0)
    return td, num_real


def _metric_value(value: Any) -> float:
    """A float from a worker metric (verl returns scalars or per-mini-batch lists)."""
    if isinstance(value, list | tuple):
        return float(np.mean([_metric_value(v) for v in value]))
    if hasattr(value, "value"):  # verl Metric
        return _metric_value(value.value)
    return float(value)


def seed_worker(worker: Any, seed: int) -> None:
    """Seed torch's RNG inside a worker (``Worker.execute_with_func_generator``) before its engine builds the model.

    The value model's scalar head is freshly initialised by the HF loader from torch's global RNG, which verl's FSDP
    engine seeds only under ``full_determinism``; without this, every run starts from a different head and picks a
    different first batch for the same ``seed``.
    """
    del worker
    torch.manual_seed(seed)


def local_param_digest(worker: Any) -> str:
    """SHA-256 of one ``TrainingWorker``'s local parameter shards (names, dtypes, shapes and bytes, in order).

    Runs inside the worker (``Worker.execute_with_func_generator``). Each rank hashes what it holds -- FSDP2
    ``DTensor`` local shards, FSDP1 flat parameters -- wherever they live (offloaded to host or on the device), so
    the digest needs no collective and costs one read of the rank's parameters.
    """
    from verl.utils.device import get_torch_device

    # verl offloads parameters with non-blocking device-to-host copies (utils/fsdp_utils.py
    # offload_fsdp2_model_to_cpu: "a caller that reads the tensors on the host must synchronize first")
    get_torch_device().synchronize()
    h = hashlib.sha256()
    for name, param in worker.engine.module.named_parameters():
        t = param.detach()
        t = t.to_local() if hasattr(t, "to_local") else t
        t = t.to("cpu").contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(param.shape)}|{t.numel()}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def release_device_cache(worker: Any) -> None:
    """Return the worker's cached, unused device memory to the driver (``Worker.execute_with_func_generator``).

    With optimizer offload, verl's FSDP engine moves the optimizer states to the host *after* the model offload's
    ``empty_cache`` (``FSDPEngine.to``), so their device blocks stay in this process's caching allocator; the
    value workers are separate processes, so that memory would be missing when the colocated rollout wakes up.
    """
    from verl.utils.device import get_torch_device

    del worker
    get_torch_device().empty_cache()


class ValueWorkerGroup:
    """Scoring, training and checkpoints of the prompt-value model over a ``TrainingWorker`` group.

    Args:
        worker_group: a ``RayWorkerGroup`` of ``TrainingWorker(model_type="value_model")``, not yet reset.
        head_activation: ``none`` (raw head output) or ``sigmoid``.
        head_init: the head's constant initial prediction (:func:`head_init_value`); ``None`` keeps HF's random head.
        seed: seeds the workers' torch RNG before the model is built (the head's initialisation) and is handed to
            ``train_mini_batch`` (only orders rows; one mini-batch, one epoch).
    """

    def __init__(
        self,
        worker_group: Any,
        head_activation: str = "none",
        seed: int = 1,
        head_init: float | None = DEFAULT_HEAD_INIT_VALUE,
    ) -> None:
        if head_activation not in HEAD_ACTIVATIONS:
            raise ValueError(f"head_activation={head_activation!r}; valid: {', '.join(HEAD_ACTIVATIONS)}")
        self.wg = worker_group
        self.head_activation = head_activation
        self.head_init = head_init_value(head_init, head_activation)
        self.seed = seed
        self.dp_size = int(worker_group.world_size)

    def initialize(self) -> None:
        """Build the engine (model, optimizer) on every worker from a seeded head, make the head compute in fp32,
        initialise it (``head_init``; ``None`` keeps HF's random head) and install the PCL loss."""
        self.wg.execute_all_sync("execute_with_func_generator", seed_worker, self.seed)
        self.wg.reset()
        heads = self.wg.execute_all_sync(
            "execute_with_func_generator", prepare_value_head, self.head_init, self.head_activation
        )
        logger.info("PCL value head (fp32; init %s): %s", self.head_init, heads[0] if heads else None)
        # a partial of a module-level function pickles to the workers
        self.wg.set_loss_fn(functools.partial(pcl_value_loss, head_activation=self.head_activation))

    def score(self, prompt_ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Predictions f(V(x)) at the last prompt token, one forward pass over all prompts; shape ``(len,)``.

        Unclipped and fp32 (the head computes in fp32): ranking, loss and metrics use the raw prediction.
        """
        td, num_real = build_value_batch(prompt_ids, self.dp_size)
        tu.assign_non_tensor(td, compute_loss=False)
        out = self.wg.infer_batch(td)
        out = out.get() if hasattr(out, "get") and not isinstance(out, TensorDict) else out
        values = last_token_values(out["values"]).float()
        return apply_head_activation(values, self.head_activation)[:num_real].numpy().astype(np.float64)

    def train(self, prompt_ids: Sequence[Sequence[int]], targets: np.ndarray) -> dict[str, float]:
        """One optimizer step on L = (1/m)·Σ (f(V(x_i)) − ȳ_i)² over all prompts (one mini-batch, one epoch).

        Returns ``pcl/value/loss`` (the pre-step loss) and ``pcl/value/grad_norm``.
        """
        td, _ = build_value_batch(prompt_ids, self.dp_size, targets)
        tu.assign_non_tensor(
            td, mini_batch_size=len(td), global_batch_size=len(td), epochs=1, seed=self.seed, compute_loss=True
        )
        out = self.wg.train_mini_batch(td)
        out = out.get() if hasattr(out, "get") and not isinstance(out, TensorDict) else out
        self.wg.execute_all_sync("execute_with_func_generator", release_device_cache)
        metrics = tu.get(out, "metrics")
        result = {"pcl/value/loss": _metric_value(metrics["loss"])}
        if "grad_norm" in metrics:
            result["pcl/value/grad_norm"] = _metric_value(metrics["grad_norm"])
        return result

    def param_digest(self) -> str:
        """SHA-256 over every rank's :func:`local_param_digest`, in rank order: equal iff all shards are bit-equal
        (same dp layout). Used to check that a resume restored exactly the saved value model."""
        per_rank = self.wg.execute_all_sync("execute_with_func_generator", local_param_digest)
        return hashlib.sha256("".join(f"{r}:{d};" for r, d in enumerate(per_rank)).encode()).hexdigest()

    def save(self, path: str, global_step: int = 0) -> None:
        """``TrainingWorker.save_checkpoint`` (model, optimizer, RNG as the checkpoint config says)."""
        self.wg.save_checkpoint(path, None, global_step)

    def load(self, path: str) -> None:
        """``TrainingWorker.load_checkpoint`` from a folder written by :meth:`save`."""
        self.wg.load_checkpoint(path, None, False)
        # the optimizer states were loaded on the device and offloaded after the cache was emptied
        self.wg.execute_all_sync("execute_with_func_generator", release_device_cache)
