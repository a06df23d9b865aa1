# make demo: install, then run the default pipeline on the embedded corpus (tokenizer -> pretrain -> SFT -> classify
# -> report; offline, ~5 min on 2 CPU cores; a second run skips the finished stages).
# make test: install, then run the test suite.   make lint: ruff.
PYTHON ?= python3
# torch is installed first and only when missing, so an existing (e.g. CUDA) build is kept; CI pins the CPU wheel.
TORCH_SPEC ?= torch==2.13.0
OFFLINE = HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

.PHONY: install demo test lint format

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install -q "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -q -e ".[dev]"

demo: install
	$(OFFLINE) $(PYTHON) -m hfrecipes.cli pipeline --config recipes/configs/pipeline/default.yaml

test: install
	$(OFFLINE) $(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check src recipes tests benchmarks
	$(PYTHON) -m ruff format --check src recipes tests benchmarks

format:
	$(PYTHON) -m ruff check --fix src recipes tests benchmarks
	$(PYTHON) -m ruff format src recipes tests benchmarks
