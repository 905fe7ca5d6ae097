"""PCL value loss in verl's engine contract (docs/pcl.md §12)."""

from __future__ import annotations

import functools
import pickle

import numpy as np
import pytest
import torch
from verl.utils import tensordict_utils as tu

from verl_ext.workers.loss import TARGET_KEY, last_token_values, pcl_value_loss
from verl_ext.workers.value_worker import build_value_batch

V = [0.2, 0.9, 0.5]
YBAR = [0.25, 0.5, 0.5]
LENGTHS = [3, 5, 2]


def _values(per_row_last: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """Nested per-token values whose last entry of row i is ``per_row_last[i]`` (others are noise)."""
    rows = []
    for i, n in enumerate(lengths):
        noise = torch.full((n - 1,), 7.0 + i)  # other tokens must not matter
        rows.append(torch.cat([noise, per_row_last[i : i + 1]]))
    return torch.nested.as_nested_tensor(rows, layout=torch.jagged)


def _engine_loss(v: torch.Tensor, rows: list[int], dp_size: int, batch_num_tokens: int, activation: str = "none"):
    """The loss of one micro-batch made of ``rows``, as verl's engine would call the loss function."""
    ids = [[1] * LENGTHS[i] for i in rows]
    td, _ = build_value_batch(ids, dp_size=1, targets=np.asarray([YBAR[i] for i in rows]))
    tu.assign_non_tensor(td, dp_size=dp_size, batch_num_tokens=batch_num_tokens)
    out = {"values": _values(v[rows], [LENGTHS[i] for i in rows])}
    loss, metrics = pcl_value_loss(out, td, dp_group=None, head_activation=activation)
    assert metrics == {}
    return loss


def test_loss_matches_hand_computation() -> None:
    v = torch.tensor(V, requires_grad=True)
    loss = _engine_loss(v, [0, 1, 2], dp_size=1, batch_num_tokens=3)
    # ((0.2-0.25)^2 + (0.9-0.5)^2 + 0)/3 = (0.0025 + 0.16)/3
    assert loss.item() == pytest.approx(0.0541667, abs=1e-7)
    loss.backward()
    np.testing.assert_allclose(v.grad.numpy(), 2 * (np.array(V) - np.array(YBAR)) / 3, rtol=1e-6)


@pytest.mark.parametrize(
    "split",
    [
        [[[0], [1], [2]]],  # dp=1, three micro-batches
        [[[0, 2]], [[1]]],  # dp=2 (uneven rows per rank), one micro-batch each
        [[[2], [0]], [[1]]],  # dp=2, rank 0 with two micro-batches
        [[[0]], [[1]], [[2]]],  # dp=3
    ],
)
def test_micro_batch_and_dp_splits_give_the_same_loss_and_gradient(split: list[list[list[int]]]) -> None:
    full = torch.tensor(V, requires_grad=True)
    ref = _engine_loss(full, [0, 1, 2], dp_size=1, batch_num_tokens=3)
    ref.backward()

    dp = len(split)
    v = torch.tensor(V, requires_grad=True)
    rank_losses = []
    for rank_micro in split:
        # each rank back-propagates the sum of its micro-batch losses; FSDP averages gradients over ranks and the
        # worker all-reduces the summed loss with AVG (engine_workers.py _postprocess_output)
        total = sum(_engine_loss(v, mb, dp_size=dp, batch_num_tokens=3) for mb in rank_micro)
        rank_losses.append(total)
    (sum(rank_losses) / dp).backward()
    assert (sum(rank_losses) / dp).item() == pytest.approx(ref.item(), rel=1e-6)
    np.testing.assert_allclose(v.grad.numpy(), full.grad.numpy(), rtol=1e-6)


def test_sigmoid_loss_uses_the_sigmoid_output() -> None:
    raw = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    loss = _engine_loss(raw, [0, 1, 2], dp_size=1, batch_num_tokens=3, activation="sigmoid")
    expected = float(np.mean((1 / (1 + np.exp(-raw.detach().numpy())) - np.array(YBAR)) ** 2))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    raw_loss = _engine_loss(raw, [0, 1, 2], dp_size=1, batch_num_tokens=3, activation="none")
    assert raw_loss.item() != pytest.approx(expected, rel=1e-3)


def test_padding_rows_carry_no_loss() -> None:
    td, num_real = build_value_batch([[1, 2, 3], [4, 5]], dp_size=4, targets=np.array([0.5, 1.0]))
    assert (len(td), num_real) == (4, 2)
    mask = td["loss_mask"]
    assert mask.values().sum().item() == 2  # the engine's batch_num_tokens = number of real prompts
    np.testing.assert_array_equal(last_token_values(mask).numpy(), [1, 1, 0, 0])
    tu.assign_non_tensor(td, dp_size=1, batch_num_tokens=2)
    # huge errors on the padding rows must not move the loss
    values = torch.nested.as_nested_tensor(
        [torch.tensor([0.0, 0.0, 0.5]), torch.tensor([0.0, 1.0]), torch.tensor([99.0]), torch.tensor([-99.0])],
        layout=torch.jagged,
    )
    loss, _ = pcl_value_loss({"values": values}, td)
    assert loss.item() == pytest.approx(0.0)


def test_loss_function_pickles_with_its_activation() -> None:
    fn = pickle.loads(pickle.dumps(functools.partial(pcl_value_loss, head_activation="sigmoid")))
    assert fn.keywords == {"head_activation": "sigmoid"}


def test_bad_inputs_name_the_fix() -> None:
    with pytest.raises(ValueError, match="head_activation"):
        pcl_value_loss({"values": _values(torch.zeros(3), LENGTHS)}, build_value_batch([[1]] * 3, 1, np.zeros(3))[0],
                       head_activation="tanh")  # fmt: skip
    with pytest.raises(ValueError, match="zero tokens"):
        build_value_batch([[1], []], dp_size=1)
    with pytest.raises(ValueError, match="targets"):
        build_value_batch([[1], [2]], dp_size=1, targets=np.zeros(3))
    assert TARGET_KEY == "pcl_target"
