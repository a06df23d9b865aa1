# make demo: install, then train a tokenizer and pretrain GPT-2 on the embedded corpus (offline, ~3 min on CPU).
# make test: install, then run the test suite.   make lint: ruff.
PYTHON ?= python3
# torch is installed first and only when missing, so an existing (e.g. CUDA) build is kept; CI pins the CPU wheel.
TORCH_SPEC ?= torch==2.13.0
ACCELERATE = $(PYTHON) -m accelerate.commands.launch --config_file accelerate_configs/cpu.yaml
OFFLINE = HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

.PHONY: install demo test lint format

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install -q "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -q -e ".[dev]"

demo: install
	$(OFFLINE) $(ACCELERATE) recipes/train_tokenizer.py --overwrite
	$(OFFLINE) $(ACCELERATE) recipes/pretrain.py --overwrite
	@echo "Results: outputs/tokenizer/results.json and outputs/pretrain/results.json (TensorBoard: outputs/pretrain/runs)"

test: install
	$(OFFLINE) $(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check src recipes tests benchmarks
	$(PYTHON) -m ruff format --check src recipes tests benchmarks

format:
	$(PYTHON) -m ruff check --fix src recipes tests benchmarks
	$(PYTHON) -m ruff format src recipes tests benchmarks
