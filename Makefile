# Developer entry points. A fresh clone needs only `make demo` and `make test`: both run `setup` when .venv is missing.
# GPU nodes: `make setup-gpu` (vLLM) or `make setup-sglang` (SGLang), from the locks in requirements/ (docs/install.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# CPU build of torch; the wheel lies on the dev/CI machines' disk. GPU machines use `make setup-gpu`.
TORCH_CPU ?= torch==2.13.0
PYTEST_ARGS ?=
export VERL_EXT_CACHE ?= $(CURDIR)/data/cache

# GPU environments. GPU_PYTHON must be the locks' Python (3.12). TORCH_INDEX_URL picks another CUDA build of the
# locked torch (e.g. https://download.pytorch.org/whl/cu128). flash-attn (pinned in the lock) is built from its sdist
# against the installed torch (needs nvcc of torch's CUDA major: CUDA_HOME), unless FLASH_ATTN_WHEEL names a prebuilt
# wheel (URL or path) of the same version.
GPU_PYTHON ?= python3.12
TORCH_INDEX_URL ?=
FLASH_ATTN_WHEEL ?=
MAX_JOBS ?= 8
LOCK_DATE ?=
# A GPU environment records its engine in $(VENV)/.gpu-env before installing anything; such a venv is used as is
# (or refused when stale or unfinished), never set up again by the CPU recipe.
GPU_ENGINE := $(strip $(shell cat $(VENV)/.gpu-env 2>/dev/null))

.PHONY: help setup setup-gpu setup-sglang gpu-env-check locks check-locks test test-fast test-e2e lint typecheck demo \
	demo-grpo data configs check-scripts eval clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup:  ## create .venv: CPU torch, then this package (editable) with the dev and cpu extras; a GPU venv is kept as is
ifneq ($(GPU_ENGINE),)
setup: gpu-env-check
else
setup: $(VENV)/.installed-cpu
endif

$(VENV)/.installed-cpu: pyproject.toml
	+@for d in $(VENV)/lib/python3*/site-packages/{vllm,sglang}; do if [ -d "$$d" ]; then \
	  echo "$(VENV) holds $$(basename $$d) (a GPU environment without its stamp): the CPU setup will not install" \
	    "CPU torch over it. Run make setup-gpu (vLLM) or make setup-sglang, or remove $(VENV)." >&2; exit 1; fi; done
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_CPU)
	$(PIP) install --quiet -e ".[dev,cpu]"
	touch $@

# Runs even under `make -n` (+): a stale or unfinished GPU environment stops every target that needs the venv.
gpu-env-check:
	+@engine="$(GPU_ENGINE)"; stamp="$(VENV)/.installed-gpu-$$engine"; lock="requirements/gpu-$$engine.txt"; \
	case "$$engine" in vllm) fix="make setup-gpu";; sglang) fix="make setup-sglang";; \
	  *) echo "$(VENV)/.gpu-env names an unknown engine '$$engine' (valid: vllm, sglang)" >&2; exit 1;; esac; \
	[ "$(VENV)" = .venv ] || fix="$$fix VENV=$(VENV)"; \
	if [ ! -e "$$stamp" ]; then echo "$(VENV) is a $$engine GPU environment whose setup did not finish:" \
	  "run $$fix (the CPU setup never installs over a GPU environment)" >&2; exit 1; fi; \
	for f in pyproject.toml "$$lock"; do if [ "$$f" -nt "$$stamp" ]; then echo "$$f is newer than $(VENV)'s" \
	  "$$engine install ($$stamp): run $$fix (the CPU setup never installs over a GPU environment)" >&2; exit 1; fi; done

# $(1): engine (vllm | sglang), $(2): lock file. Pre-flight first: nothing is created when it fails.
define gpu_setup
	$(PYTHON) scripts/check_gpu_env.py --engine $(1) --lock $(2) --venv $(VENV) --gpu-python $(GPU_PYTHON) \
	  $(if $(TORCH_INDEX_URL),--torch-index-url $(TORCH_INDEX_URL)) $(if $(FLASH_ATTN_WHEEL),--flash-attn-wheel $(FLASH_ATTN_WHEEL))
	$(GPU_PYTHON) -m venv $(VENV)
	rm -f $(VENV)/.installed-gpu-$(1)
	echo $(1) > $(VENV)/.gpu-env
	$(PIP) install --quiet --upgrade pip
	$(if $(TORCH_INDEX_URL),$(PIP) install --index-url $(TORCH_INDEX_URL) $$(grep -E '^(torch|torchvision|torchaudio)==' $(2)))
	grep -v '^flash-attn==' $(2) > $(VENV)/.lock-without-flash-attn.txt
	$(PIP) install -r $(VENV)/.lock-without-flash-attn.txt
	$(PIP) install --no-deps -e .
	$(if $(FLASH_ATTN_WHEEL),$(PIP) install --no-deps "$(FLASH_ATTN_WHEEL)",MAX_JOBS=$(MAX_JOBS) $(PIP) install --no-build-isolation --no-deps $$(grep '^flash-attn==' $(2)))
	$(PY) scripts/check_gpu_env.py --engine $(1) --lock $(2) --smoke $(if $(TORCH_INDEX_URL),--torch-index-url $(TORCH_INDEX_URL))
	touch $(VENV)/.installed-gpu-$(1)
endef

setup-gpu:  ## GPU node, vLLM engine (most rows): pre-flight, requirements/gpu-vllm.txt, this package, flash-attn
	$(call gpu_setup,vllm,requirements/gpu-vllm.txt)

setup-sglang:  ## GPU node, SGLang engine (PCL Table 11 rows; own venv, e.g. VENV=.venv-sglang)
	$(call gpu_setup,sglang,requirements/gpu-sglang.txt)

locks: setup  ## regenerate requirements/gpu-*.txt from pyproject's extras (uv, metadata only; LOCK_DATE=index date)
	$(PY) scripts/gpu_locks.py compile $(if $(LOCK_DATE),--exclude-newer $(LOCK_DATE))

check-locks: setup  ## re-resolve each GPU lock from pyproject and compare (what the tests/install check runs)
	$(PY) scripts/gpu_locks.py check

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

# `make arena ARENA_ARGS="--curricula uniform,pcl --seeds 1 2"`; scripts/arena.py --help lists every option
ARENA_ARGS ?=
.PHONY: arena
arena: setup  ## simulated arena: every registered curriculum on one rollout budget, 3 seeds; table and plots (docs/arena.md)
	$(PY) scripts/arena.py $(ARENA_ARGS)

data: setup  ## prepare the training and evaluation sets into $$DATA_DIR (needs the Hugging Face hub)
	bash scripts/prepare_all.sh

configs: setup  ## compose and validate every experiment config against verl 0.9.1
	$(VENV)/bin/pytest -q tests/configs

check-scripts: setup  ## bash -n and DRY_RUN=1 every launch and run script
	bash scripts/check_scripts.sh

clean:  ## remove caches and run outputs (keeps .venv)
	rm -rf .pytest_cache .ruff_cache .mypy_cache outputs checkpoints
