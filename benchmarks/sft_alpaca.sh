#!/usr/bin/env bash
# SFT on Alpaca (issue 4 figures): a tokenizer and a GPT-2 pretrained within PRETRAIN_MINUTES of CPU training on
# WikiText-2 raw (test split) + the Alpaca training records as plain text, then full SFT and LoRA SFT on
# ../shared/data/alpaca_en_demo/alpaca_en_demo.json with its last 99 records held out. Reports the held-out eval loss
# (answer tokens) before and after SFT, LoRA's trainable-parameter share, tokens/s and two sample answers.
# Usage: bash benchmarks/sft_alpaca.sh [extra pretrain flags...]   (from the repository root; ~15 min on 2 CPU cores)
#        PRETRAIN_MINUTES=2 SFT_EPOCHS=0.25 bash benchmarks/sft_alpaca.sh   (a ~6-minute smoke version)
#        REUSE_PRETRAIN=1 ... reuses $WORK/pretrain from an earlier run (SFT only)
set -euo pipefail
DATA=${HFRECIPES_SHARED_DATA:-../shared/data}
WORK=${WORK:-/tmp/hfrecipes-bench/sft_alpaca}
PRETRAIN_MINUTES=${PRETRAIN_MINUTES:-8}
SFT_EPOCHS=${SFT_EPOCHS:-3}
LAUNCH="python -m accelerate.commands.launch --config_file accelerate_configs/cpu.yaml"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$WORK"
python - "$DATA" "$WORK" <<'PY'
import json, sys
data, work = sys.argv[1], sys.argv[2]
records = json.load(open(f"{data}/alpaca_en_demo/alpaca_en_demo.json", encoding="utf-8"))
train, held_out = records[:-99], records[-99:]
json.dump(train, open(f"{work}/alpaca_train.json", "w", encoding="utf-8"))
json.dump(held_out, open(f"{work}/alpaca_val.json", "w", encoding="utf-8"))
# Pretraining text: WikiText-2 raw lines (CRLF, no blank lines) and the Alpaca training records, one document each.
wiki = [line.strip() for line in open(f"{data}/wikitext-2-raw/wiki.test.raw", encoding="utf-8") if line.strip()]
alpaca = ["\n".join(t for t in (r["instruction"], r["input"], r["output"]) if t.strip()) for r in train]
with open(f"{work}/pretrain.jsonl", "w", encoding="utf-8") as f:
    for text in wiki + alpaca:
        f.write(json.dumps({"text": text}) + "\n")
# Two held-out instructions without an input, for the sample answers.
questions = [r["instruction"] for r in held_out if not r["input"].strip()][:2]
open(f"{work}/questions.txt", "w", encoding="utf-8").write("\n".join(questions) + "\n")
PY
if [[ "${REUSE_PRETRAIN:-0}" == 1 && -f "$WORK/pretrain/results.json" ]]; then
  echo "Reusing the pretrained model in $WORK/pretrain"
else
  $LAUNCH recipes/train_tokenizer.py --train_file "$WORK/pretrain.jsonl" --vocab_size 4096 \
    --output_dir "$WORK/tokenizer" --overwrite
  $LAUNCH recipes/pretrain.py --tokenizer_name "$WORK/tokenizer" --train_file "$WORK/pretrain.jsonl" \
    --n_layer 4 --n_head 4 --n_embd 128 --block_size 256 --max_train_minutes "$PRETRAIN_MINUTES" \
    --per_device_train_batch_size 16 --learning_rate 2e-3 --save_strategy no --report_to none \
    --output_dir "$WORK/pretrain" --overwrite "$@"
fi
SFT=(--config recipes/configs/sft/alpaca.yaml --model_name_or_path "$WORK/pretrain" --max_length 256
  --train_file "$WORK/alpaca_train.json" --validation_file "$WORK/alpaca_val.json" --num_train_epochs "$SFT_EPOCHS"
  --eval_strategy no --report_to none --overwrite)
$LAUNCH recipes/sft.py "${SFT[@]}" --learning_rate 5e-4 --output_dir "$WORK/sft-full"
$LAUNCH recipes/sft.py "${SFT[@]}" --learning_rate 2e-3 --use_peft --lora_r 16 --lora_alpha 32 \
  --lora_target_modules c_attn c_proj c_fc --output_dir "$WORK/sft-lora"
for run in sft-full sft-lora; do
  while IFS= read -r question; do
    python recipes/generate.py --model_name_or_path "$WORK/$run" --prompt "$question" --max_new_tokens 80 \
      --temperature 0.7 --top_p 0.9 --seed 0
  done < "$WORK/questions.txt" > "$WORK/$run/samples.txt"
done
python - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
full, lora = (json.load(open(f"{work}/{run}/results.json")) for run in ("sft-full", "sft-lora"))
pre = json.load(open(f"{work}/pretrain/results.json"))
print(json.dumps({
    "pretrain_minutes": round(pre["train_runtime"] / 60, 2), "pretrain_eval_loss": round(pre["eval_loss"], 4),
    "held_out_eval_loss_before_sft": round(full["eval_loss_before"], 4),
    "held_out_eval_loss_full_sft": round(full["eval_loss"], 4),
    "held_out_eval_loss_lora_sft": round(lora["eval_loss"], 4),
    "lora_trainable_share": round(lora["trainable_share"], 4),
    "full_sft_tokens_per_second": round(full["train_tokens_per_second"]),
    "lora_sft_tokens_per_second": round(lora["train_tokens_per_second"]),
    "sft_runtime_seconds": {"full": round(full["train_runtime"], 1), "lora": round(lora["train_runtime"], 1)},
    "samples": {run: open(f"{work}/{run}/samples.txt", encoding="utf-8").read().strip()
                for run in ("sft-full", "sft-lora")},
}, indent=2))
PY
