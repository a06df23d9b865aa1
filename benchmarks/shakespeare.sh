#!/usr/bin/env bash
# Quality at equal wall time (issue 2, figure 1): tokenizer on the first 90% of tinyshakespeare, then pretraining
# with the shakespeare config, the last 10% as --validation_file; tokenizer + pretraining within 300 s wall.
# Usage: bash benchmarks/shakespeare.sh [extra pretrain flags...]     (from the repository root)
set -euo pipefail
DATA=${HFRECIPES_SHARED_DATA:-../shared/data}/tinyshakespeare/input.txt
WORK=${WORK:-/tmp/hfrecipes-bench/shakespeare}
LAUNCH="python -m accelerate.commands.launch --config_file accelerate_configs/cpu.yaml"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$WORK"
# nanoGPT's split: first 90% of the characters for training, the rest for validation.
python - "$DATA" "$WORK" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
n = int(len(text) * 0.9)
open(f"{sys.argv[2]}/train.txt", "w", encoding="utf-8").write(text[:n])
open(f"{sys.argv[2]}/val.txt", "w", encoding="utf-8").write(text[n:])
PY
start=$(date +%s.%N)
$LAUNCH recipes/train_tokenizer.py --config recipes/configs/train_tokenizer/shakespeare.yaml \
  --train_file "$WORK/train.txt" --validation_file "$WORK/val.txt" --output_dir "$WORK/tokenizer" --overwrite
$LAUNCH recipes/pretrain.py --config recipes/configs/pretrain/shakespeare.yaml --tokenizer_name "$WORK/tokenizer" \
  --train_file "$WORK/train.txt" --validation_file "$WORK/val.txt" --output_dir "$WORK/pretrain" --overwrite "$@"
end=$(date +%s.%N)
python - "$WORK" "$start" "$end" <<'PY'
import json, math, sys
work, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
r = json.load(open(f"{work}/pretrain/results.json"))
val = open(f"{work}/val.txt", encoding="utf-8").read()
bpb = r["eval_bits_per_byte"]
nats_per_char = bpb * math.log(2) * len(val.encode("utf-8")) / len(val)
print(json.dumps({"wall_seconds": round(end - start, 1), "eval_bits_per_byte": round(bpb, 4),
                  "nats_per_char": round(nats_per_char, 4), "eval_loss": round(r["eval_loss"], 4),
                  "train_steps": r["train_steps"], "train_tokens_per_second": round(r["train_tokens_per_second"]),
                  "goal_bits_per_byte": 2.16}, indent=2))
PY
