"""PCLExtension's order of operations with a fake value group (no Ray): docs/pcl.md §6."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from verl_ext.curriculum.base import Group
from verl_ext.curriculum.pcl import PclConfig, PclCurriculum, select_closest
from verl_ext.curriculum.testing import FakeRolloutContext
from verl_ext.trainer.extension import build_extension
from verl_ext.workers.pcl_extension import DIGEST_FILE, VALUE_CHECKPOINT_DIR, PCLExtension
from verl_ext.workers.prompts import PromptEncoder

M, K, POOL = 3, 2, 20


class CharTokenizer:
    """``apply_chat_template`` stand-in: the prompt text's character codes, then a generation-prompt marker."""

    def apply_chat_template(self, messages, add_generation_prompt, tokenize, return_dict, **kw):
        assert add_generation_prompt and tokenize and not return_dict
        return [ord(c) for c in messages[-1]["content"]] + ([kw["marker"]] if "marker" in kw else [0])


class Dataset:
    def __len__(self) -> int:
        return POOL

    def __getitem__(self, i: int) -> dict:
        return {"raw_prompt": [{"role": "user", "content": f"q{i:02d}"}]}


class FakeValue:
    """Value of a prompt = a fixed per-prompt number; records every call in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.dp_size = 1
        self.weights = "w0"  # stands for the parameters: each train step changes them, load restores the saved
        self.saved: dict[str, str] = {}

    @staticmethod
    def value_of(ids: list[int]) -> float:
        return ((ids[1] - 48) * 10 + ids[2] - 48) / (POOL - 1)  # "qNN" -> NN / 19, spread over [0, 1]

    def score(self, prompt_ids):
        self.calls.append(("score", [tuple(p) for p in prompt_ids]))
        return np.array([self.value_of(p) for p in prompt_ids])

    def train(self, prompt_ids, targets):
        self.calls.append(("train", ([tuple(p) for p in prompt_ids], np.asarray(targets).tolist())))
        self.weights += "+"
        return {"pcl/value/loss": 0.25, "pcl/value/grad_norm": 1.5}

    def param_digest(self) -> str:
        return f"sha({self.weights})"

    def save(self, path: str, global_step: int = 0) -> None:
        os.makedirs(path)
        self.saved[path] = self.weights
        self.calls.append(("save", (path, global_step)))

    def load(self, path: str) -> None:
        self.weights = self.saved.get(path, "corrupt")
        self.calls.append(("load", path))


class FakeHandle:
    """The fields of ``ExtensionHandle`` PCL uses; ``global_steps`` settable, contexts from the fake rollout."""

    def __init__(self) -> None:
        self.config = OmegaConf.create(
            {"data": {"apply_chat_template_kwargs": {"marker": 999}},
             "actor_rollout_ref": {"model": {"path": "m", "custom_chat_template": None}},
             "curriculum": {"seed": 1}}
        )  # fmt: skip
        self.tokenizer = CharTokenizer()
        self.train_dataset = Dataset()
        self.global_steps = 0
        self.curriculum = PclCurriculum(PclConfig(batch_size=M, n=4, seed=3, k=K, tau=0.5), num_prompts=POOL)

    def new_context(self, scorer) -> FakeRolloutContext:
        return FakeRolloutContext(np.full(POOL, 0.5), seed=0, value_fn=scorer, start_step=self.global_steps)


def _index(ids: tuple[int, ...]) -> int:
    return (ids[1] - 48) * 10 + ids[2] - 48


@pytest.fixture
def setup() -> tuple[PCLExtension, FakeHandle, FakeValue]:
    ext, trainer, value = PCLExtension(), FakeHandle(), FakeValue()
    ext.attach(trainer, value)
    return ext, trainer, value


def test_registered_for_pcl() -> None:
    assert isinstance(build_extension("pcl"), PCLExtension)


def test_first_pick_scores_k_m_candidates_and_keeps_the_closest(setup) -> None:
    ext, trainer, value = setup
    ext.on_init_end(trainer)
    (kind, scored), = value.calls  # fmt: skip
    assert kind == "score" and len(scored) == K * M
    assert all(p[-1] == 999 for p in scored)  # data.apply_chat_template_kwargs reached the template
    cand = np.array([_index(p) for p in scored])
    keep = select_closest(np.array([FakeValue.value_of(list(p)) for p in scored]), M, 0.5)
    np.testing.assert_array_equal(trainer.curriculum.pending, cand[keep])


def test_resumed_pending_selection_is_not_redrawn(setup) -> None:
    ext, trainer, value = setup
    trainer.curriculum.pending = np.array([1, 2, 3])
    trainer.curriculum.pending_values = np.zeros(3)
    ext.on_init_end(trainer)
    assert value.calls == []


def test_after_step_trains_on_ybar_by_index_then_selects(setup) -> None:
    ext, trainer, value = setup
    trained = [
        Group(handle="b", index=7, rewards=np.array([1.0, 0.0, 0.0, 0.0])),
        Group(handle="a", index=2, rewards=np.array([1.0, 1.0, 0.0, 1.0])),
        Group(handle="c", index=11, rewards=np.array([0.0, 0.0, 0.0, 0.0])),
    ]
    metrics = ext.after_step(trainer, trained)
    assert [c[0] for c in value.calls] == ["train", "score"]  # V^{pi_t} scores step t+1's candidates
    ids, targets = value.calls[0][1]
    assert [_index(p) for p in ids] == [2, 7, 11]
    assert targets == [0.75, 0.25, 0.0]
    assert trainer.curriculum.pending is not None and len(trainer.curriculum.pending) == M
    assert metrics["pcl/value/loss"] == 0.25 and metrics["pcl/value/grad_norm"] == 1.5
    assert metrics["pcl/time/value_train_s"] >= 0 and metrics["pcl/time/value_score_s"] >= 0
    assert not any(k.startswith("pcl/select/") for k in metrics)  # logged at the step that trains the pick


def test_save_and_load_use_the_step_folder(setup, tmp_path: Path) -> None:
    ext, trainer, value = setup
    trainer.global_steps = 4
    step_dir = tmp_path / "global_step_4"
    ext.save(trainer, str(step_dir))
    assert value.calls[-1] == ("save", (str(step_dir / VALUE_CHECKPOINT_DIR), 4))
    saved = json.loads((step_dir / VALUE_CHECKPOINT_DIR / DIGEST_FILE).read_text())
    assert saved == {"sha256": "sha(w0)", "global_step": 4, "dp_size": 1}
    value.weights = "w0++"  # trained on after the save
    ext.load(trainer, str(step_dir))
    assert value.calls[-1] == ("load", str(step_dir / VALUE_CHECKPOINT_DIR)) and value.weights == "w0"
    with pytest.raises(FileNotFoundError, match="pcl_value"):
        ext.load(trainer, str(tmp_path / "global_step_8"))


def test_load_refuses_parameters_that_differ_from_the_saved_digest(setup, tmp_path: Path) -> None:
    ext, trainer, value = setup
    step_dir = tmp_path / "global_step_2"
    ext.save(trainer, str(step_dir))
    value.saved.clear()  # the shards on disk no longer give back what was saved
    with pytest.raises(RuntimeError, match="differs from the one saved there at step 0"):
        ext.load(trainer, str(step_dir))
    (step_dir / VALUE_CHECKPOINT_DIR / DIGEST_FILE).unlink()  # older checkpoints: loaded, only warned about
    ext.load(trainer, str(step_dir))


def test_after_step_records_targets_and_rescored_predictions(setup) -> None:
    ext, trainer, value = setup
    trainer.curriculum.config.rescore_trained = True
    ext.on_init_end(trainer)  # the pick for step 1
    record = trainer.curriculum.selections[-1]
    assert record["step"] is None and record["selected_after"] == 0
    np.testing.assert_array_equal(record["candidates"][record["kept"]], trainer.curriculum.pending)
    trainer.global_steps = 1
    idx = trainer.curriculum.pending.copy()
    record["step"] = 1  # what run_step does when step 1 submits the pick
    trained = [Group(handle=str(i), index=int(i), rewards=np.array([1.0, 0.0])) for i in idx]
    metrics = ext.after_step(trainer, trained)
    assert [c[0] for c in value.calls[1:]] == ["score", "train", "score", "score"]  # before, update, after, pick
    assert metrics["pcl/value/mse_after"] == pytest.approx(np.mean((record["pred_after"] - 0.5) ** 2))
    np.testing.assert_array_equal(record["trained"], np.sort(idx))
    np.testing.assert_array_equal(record["targets"], np.full(M, 0.5))
    assert record["pred_before"].shape == record["pred_after"].shape == (M,)
    assert trainer.curriculum.selections[-1]["selected_after"] == 1


def test_prompt_encoder_matches_the_policy_template() -> None:
    from transformers import AutoTokenizer

    from verl_ext.testing.tiny import build_qwen_tokenizer

    tok = AutoTokenizer.from_pretrained(str(build_qwen_tokenizer()))
    enc = PromptEncoder(tok, Dataset())
    ids = enc(np.array([5]))[0]
    assert ids == list(tok.apply_chat_template([{"role": "user", "content": "q05"}], add_generation_prompt=True,
                                               tokenize=True, return_dict=False))  # fmt: skip
    assert tok.decode(ids).endswith("q05<|im_end|>\n<|im_start|>assistant\n")
    plain = PromptEncoder(tok, Dataset(), chat_template="{{ messages[0]['content'] }}")  # pass-through template
    assert tok.decode(plain(np.array([5]))[0]) == "q05"
    with pytest.raises(IndexError, match="outside the training set"):
        enc(np.array([POOL]))
