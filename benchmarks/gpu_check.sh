#!/usr/bin/env bash
# GPU figures in one go on a single-GPU machine, offline (nothing from the Hub: stand-ins and the builtin corpus):
#   pretrain_eager, pretrain_compile  GPT-2 small (124M: 12 x 768, block 1024, batch 16, vocab padded to 50304) in
#                                     bf16 with recipes/configs/pretrain/gpt2_small.yaml: tokens/s and MFU, eager and
#                                     torch_compile, over the whole run and over the steps after warm-up (steady)
#   qlora                             recipes/configs/sft/qlora.yaml on a random-weight model of Qwen2.5-0.5B's
#                                     shape (tokenizer and template from tests/standins.py): tokens/s, MFU, memory
#   fsdp_1gpu                         the GPT-2 small run under accelerate_configs/fsdp.yaml with one process
#   kill_resume                       pretraining SIGKILLed after a checkpoint (tests/killable.py), rerun with the
#                                     same command: resumed-from step, max weight difference to an uninterrupted run
# Each step has its own time limit and is independent: a failed step records its error and the script goes on.
#
#   bash benchmarks/gpu_check.sh [--work DIR] [--steps N] [--only "pretrain_eager qlora"] [--cpu-smoke]
#
# Writes DIR/gpu_check.json (default DIR: outputs/gpu_check): the machine, then per step ok, seconds and figures or
# the error (last log lines); each step's log is DIR/<step>.log. --only reruns some steps (the JSON gathers every
# step found in DIR). Expected ~6-8 minutes on one H100/H200 (not yet run on one). --cpu-smoke runs the same steps
# on CPU with tiny shapes in fp32 (accelerate_configs/cpu.yaml, cpu_fsdp.yaml; ~3 minutes on 2 cores): it checks
# the script and its launch lines, not the figures.
set -u
cd "$(dirname "$0")/.."

WORK=outputs/gpu_check
STEPS=100
ONLY=""
SMOKE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --work) WORK=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --cpu-smoke) SMOKE=1; shift ;;
    *) echo "error: unknown option $1; see the header of $0" >&2; exit 2 ;;
  esac
done
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export HF_HOME="$WORK/hf_home"  # an empty cache: nothing is read from, or written to, the user's

if [ "$SMOKE" = 1 ]; then
  ACCELERATE=accelerate_configs/cpu.yaml
  FSDP=(--config_file accelerate_configs/cpu_fsdp.yaml --num_processes 2)
  STEPS=6
  LIMIT=300
  # size and device only: one small block, fp32 on CPU
  SIZE=(--n_layer 1 --n_head 2 --n_embd 32 --block_size 64 --per_device_train_batch_size 2 --vocab_multiple 64
        --bf16 false)
  SFT_SIZE=(--max_steps 2 --per_device_train_batch_size 2 --gradient_accumulation_steps 1 --max_train_samples 8
            --max_eval_samples 4 --max_length 128 --bf16 false)
else
  if ! python -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    echo "error: no CUDA GPU visible to torch; run on a GPU machine, or pass --cpu-smoke" >&2
    exit 2
  fi
  ACCELERATE=accelerate_configs/single_gpu.yaml
  FSDP=(--config_file accelerate_configs/fsdp.yaml --num_processes 1)
  LIMIT=420
  SIZE=(--vocab_multiple 50304)  # GPT-2's padded vocab (nanoGPT's 50304) whatever the tokenizer's size
  SFT_SIZE=(--max_steps 20)
fi
LAUNCH=(python -m accelerate.commands.launch)
PRETRAIN=(--config recipes/configs/pretrain/gpt2_small.yaml --dataset_name builtin:python-docs --streaming false
          --tokenizer_name "$WORK/tokenizer" "${SIZE[@]}" --gradient_accumulation_steps 1 --eval_strategy no
          --report_to none --logging_steps 10 --skip_memory_metrics false)

wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
limited() { timeout --kill-after=20 "$STEP_LIMIT" "$@"; }  # the whole process group goes at the limit

# run_step NAME SECONDS COMMAND...: output to WORK/NAME.log, "exit-status seconds" to WORK/NAME.rc. A command is run
# under the step's time limit; a function of this script puts each of its commands under it.
run_step() {
  local name=$1 start rc
  STEP_LIMIT=$2
  shift 2
  [ "${ALWAYS:-0}" = 1 ] || wanted "$name" || return 0
  echo "== $name (limit ${STEP_LIMIT}s per command)" >&2
  start=$(date +%s)
  if declare -F "$1" >/dev/null; then "$@"; else limited "$@"; fi >"$WORK/$name.log" 2>&1
  rc=$?
  echo "$rc $(($(date +%s) - start))" >"$WORK/$name.rc"
  if [ $rc -eq 0 ]; then echo "   ok in $(($(date +%s) - start)) s"; else echo "   failed ($rc): $WORK/$name.log"; fi >&2
}

# The step times come from benchmarks/kill_resume.py's --wrap mode (it logs each Trainer step's start time).
timed_pretrain() {  # timed_pretrain NAME ARGS...
  local name=$1
  shift
  rm -f "$WORK/$name.steps"
  HFRECIPES_STEP_LOG="$WORK/$name.steps" limited "${LAUNCH[@]}" --config_file "$ACCELERATE" benchmarks/kill_resume.py \
    --wrap recipes/pretrain.py "${PRETRAIN[@]}" --save_strategy no --output_dir "$WORK/$name" --overwrite "$@"
}

kill_resume() {
  local dir="$WORK/kill_resume" args
  rm -rf "$dir" && mkdir -p "$dir"  # fresh folders, and no --overwrite: the rerun must resume
  args=("${PRETRAIN[@]}" --torch_compile false --block_size 256 --max_steps 60 --save_strategy steps --save_steps 20)
  limited "${LAUNCH[@]}" --config_file "$ACCELERATE" recipes/pretrain.py "${args[@]}" --output_dir "$dir/whole" ||
    return
  HFRECIPES_KILL=step:30 limited "${LAUNCH[@]}" --config_file "$ACCELERATE" tests/killable.py recipes/pretrain.py \
    "${args[@]}" --output_dir "$dir/killed"
  if [ ! -f "$dir/killed/checkpoint-20/trainer_state.json" ] || [ -f "$dir/killed/results.json" ]; then
    echo "error: the run was not killed between checkpoint-20 and its end" >&2
    return 1
  fi
  limited "${LAUNCH[@]}" --config_file "$ACCELERATE" recipes/pretrain.py "${args[@]}" --output_dir "$dir/killed"
}

qlora_model() {  # a model of Qwen2.5-0.5B's shape (its config.json) around the stand-in's tokenizer and template
  limited python - "$WORK" "$SMOKE" <<'PY'
import json, shutil, sys
from pathlib import Path

sys.path[:0] = ["tests", "src"]
from standins import QWEN25, build_standins

work, smoke = Path(sys.argv[1]), sys.argv[2] == "1"
source = build_standins(work / "standins") / "models" / QWEN25
target = work / "qwen2.5-0.5b-shape"
shutil.rmtree(target, ignore_errors=True)
if smoke:  # the tiny stand-in as is
    shutil.copytree(source, target)
    sys.exit()
import torch
from transformers import AutoConfig, AutoModelForCausalLM

config = json.loads((source / "config.json").read_text())
config.update(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
              num_key_value_heads=2, max_window_layers=24, vocab_size=151936)
model_type = config.pop("model_type")
torch.manual_seed(0)
model = AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **config), dtype=torch.bfloat16)
model.save_pretrained(target)
for file in source.iterdir():
    if file.name not in ("config.json", "model.safetensors") and not (target / file.name).exists():
        shutil.copy(file, target)
print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters in {target}")
PY
}

# the tokenizer and the QLoRA model are made whenever a step needs them, whatever --only says
[ -f "$WORK/tokenizer/results.json" ] && ! wanted tokenizer ||
  ALWAYS=1 run_step tokenizer 120 python recipes/train_tokenizer.py --output_dir "$WORK/tokenizer" --overwrite
run_step pretrain_eager "$LIMIT" timed_pretrain pretrain_eager --max_steps "$STEPS" --torch_compile false
run_step pretrain_compile $((LIMIT + 180)) timed_pretrain pretrain_compile --max_steps "$STEPS" --torch_compile true
if wanted qlora; then ALWAYS=1 run_step qlora_model 300 qlora_model; fi
run_step qlora "$LIMIT" "${LAUNCH[@]}" --config_file "$ACCELERATE" recipes/sft.py \
  --config recipes/configs/sft/qlora.yaml --model_name_or_path "$WORK/qwen2.5-0.5b-shape" "${SFT_SIZE[@]}" \
  --logging_steps 5 --report_to none \
  --skip_memory_metrics false --output_dir "$WORK/qlora" --overwrite
run_step fsdp_1gpu "$LIMIT" "${LAUNCH[@]}" "${FSDP[@]}" recipes/pretrain.py "${PRETRAIN[@]}" --torch_compile false \
  --max_steps $((STEPS / 2 > 2 ? STEPS / 2 : 2)) --save_strategy no --output_dir "$WORK/fsdp_1gpu" --overwrite
run_step kill_resume 300 kill_resume

python - "$WORK" "$SMOKE" <<'EOF'
"""Gathers every step's figures into WORK/gpu_check.json."""
import json, sys
from pathlib import Path

work, smoke = Path(sys.argv[1]), sys.argv[2] == "1"
FIGURES = ("train_tokens_per_second", "mfu", "achieved_tflops", "peak_tflops", "model_flops_per_token", "precision",
           "device", "train_runtime", "train_steps", "train_tokens", "train_loss", "eval_loss", "num_parameters",
           "trainable_share", "world_size")


def read(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def memory(folder):
    """The Trainer's memory figures (--skip_memory_metrics false) from the last train entry, in GiB."""
    history = (read(folder / "trainer_state.json") or {}).get("log_history", [])
    entry = next((h for h in reversed(history) if "train_runtime" in h), {})
    return {k: round(v / 2**30, 3) for k, v in entry.items() if "_mem_" in k}


def steady(name, results):
    """Tokens/s and MFU between the first step after warm-up (a fifth of the run, at least 5 steps) and the last."""
    log = work / f"{name}.steps"
    if not log.is_file() or not results:
        return {}
    starts = {}
    for line in log.read_text().split("\n"):
        if line.strip():
            step, t = line.split()
            starts.setdefault(int(step), float(t))  # a step's first micro-batch
    steps = sorted(s for s in starts if s >= 0)
    if len(steps) < 3:
        return {}
    first, last = steps[max(5, len(steps) // 5)] if len(steps) > 6 else steps[1], steps[-1]
    tokens_per_step = results["train_tokens"] / results["train_steps"]
    tps = tokens_per_step * (last - first) / (starts[last] - starts[first])
    peak = results.get("peak_tflops")
    mfu = tps * results["model_flops_per_token"] / (peak * 1e12) / results["world_size"] if peak else None
    return {"steady_steps": [first, last], "steady_tokens_per_second": tps, "steady_mfu": mfu,
            "steady_achieved_tflops": tps * results["model_flops_per_token"] / 1e12 / results["world_size"]}


def kill_resume_figures():
    from safetensors.torch import load_file

    folder = work / "kill_resume"
    a, b = (load_file(str(folder / run / "model.safetensors")) for run in ("whole", "killed"))
    log = (work / "kill_resume.log").read_text(errors="replace")
    resumed = [line.split(" from ")[-1].split()[0] for line in log.splitlines() if "Resuming the unfinished" in line]
    return {
        "resumed_from": resumed[-1] if resumed else None,
        "max_abs_weight_diff": max((a[k].double() - b[k].double()).abs().max().item() for k in a),
        "train_loss_whole_run": (read(folder / "whole" / "results.json") or {}).get("train_loss"),
        # the resumed run's mean loss is over its own steps only
        "train_loss_after_resume": (read(folder / "killed" / "results.json") or {}).get("train_loss"),
    }


def machine():
    import platform

    import torch
    import transformers

    info = {"mode": "cpu-smoke" if smoke else "gpu", "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "cuda": torch.version.cuda}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    try:
        import bitsandbytes

        info["bitsandbytes"] = bitsandbytes.__version__
    except Exception as err:  # recorded, not fatal: only the qlora step needs it
        info["bitsandbytes"] = f"unavailable: {err}"
    return info


report = {"machine": machine(), "steps": {}}
for rc_file in sorted(work.glob("*.rc"), key=lambda p: p.stat().st_mtime):
    name = rc_file.stem
    rc, seconds = (int(x) for x in rc_file.read_text().split())
    entry = {"ok": rc == 0, "seconds": seconds}
    if rc != 0:
        tail = (work / f"{name}.log").read_text(errors="replace").strip().splitlines()[-6:]
        entry["error"] = ("timed out; " if rc in (124, 137) else f"exit status {rc}; ") + " | ".join(tail)
    try:
        results = read(work / name / "results.json")
        if results:
            entry["figures"] = {k: results[k] for k in FIGURES if k in results}
            entry["figures"].update(steady(name, results), **memory(work / name))
        if name == "kill_resume" and rc == 0:
            entry["figures"] = kill_resume_figures()
    except Exception as err:  # a figure that cannot be read is recorded, the others still are
        entry["figures_error"] = f"{type(err).__name__}: {err}"
    report["steps"][name] = entry
(work / "gpu_check.json").write_text(json.dumps(report, indent=2))
print(json.dumps(report, indent=2))
failed = [name for name, entry in report["steps"].items() if not entry["ok"]]
print(f"{len(report['steps']) - len(failed)} steps ok, failed: {failed or 'none'}; {work / 'gpu_check.json'}",
      file=sys.stderr)
EOF
