# Developer entry points. A fresh clone needs only `make demo` and `make test`: both run `setup` when .venv is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# CPU build of torch; the wheel lies on the dev/CI machines' disk. GPU machines use `make setup-gpu`.
TORCH_CPU ?= torch==2.13.0
PYTEST_ARGS ?=
export VERL_EXT_CACHE ?= $(CURDIR)/data/cache

.PHONY: help setup setup-gpu test test-fast test-e2e lint typecheck demo demo-grpo data configs check-scripts eval clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_CPU)
	$(PIP) install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed  ## create .venv: CPU torch, then this package (editable) with the dev extra

setup-gpu:  ## create .venv on a GPU node: verl 0.9.1's CUDA torch, vLLM, SGLang, flash-attn
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install -e ".[gpu,dev]"
	touch $(VENV)/.installed

test: setup  ## ruff, then every test (CPU end-to-end runs included)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

test-fast: setup  ## every test except the end-to-end runs
	$(VENV)/bin/pytest -q -m "not e2e" $(PYTEST_ARGS)

test-e2e: setup  ## only the CPU end-to-end runs of verl's trainer
	$(VENV)/bin/pytest -q -m e2e $(PYTEST_ARGS)

lint: setup  ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup  ## mypy over verl_ext
	$(VENV)/bin/mypy verl_ext --ignore-missing-imports

# `make demo DEMO_METHODS="grpo cures" DEMO_STEPS=20 DEMO_ARGS="actor_rollout_ref.actor.optim.lr=5e-5"`
DEMO_ARGS ?=
demo: setup  ## CPU: GRPO, CurES and PCL train a tiny model on the synthetic task; comparison table and plot
	PYTHON=$(abspath $(PY)) bash scripts/demo.sh $(DEMO_ARGS)

demo-grpo: setup  ## CPU: verl's stock GRPO trainer on the same task, then a resume from its checkpoint
	PYTHON=$(abspath $(PY)) bash scripts/demo_grpo.sh $(DEMO_ARGS)

data: setup  ## prepare the training and evaluation sets into $$DATA_DIR (needs the Hugging Face hub)
	bash scripts/prepare_all.sh

configs: setup  ## compose and validate every experiment config against verl 0.9.1
	$(VENV)/bin/pytest -q tests/configs

check-scripts: setup  ## bash -n and DRY_RUN=1 every launch and run script
	bash scripts/check_scripts.sh

clean:  ## remove caches and run outputs (keeps .venv)
	rm -rf .pytest_cache .ruff_cache .mypy_cache outputs checkpoints
