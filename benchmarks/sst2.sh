#!/usr/bin/env bash
# SST-2 from scratch on CPU (issue 3): tokenizer + pretraining + fine-tuning within 30 minutes wall, then SST-2 dev
# accuracy (goal >= 0.83; TF-IDF 1-2-grams + logistic regression reaches 0.822). Pretraining text: the SST-2 *train*
# sentences and WikiText-2, lowercased like SST-2; no dev or test file of any GLUE task is read before evaluation.
# Then, outside the 30 minutes, CoLA, MRPC and STS-B fine-tunes of the same pretrained model (TASKS, GLUE_MIN each).
# Usage (from the repository root):
#   bash benchmarks/sst2.sh                                  # the full figure, ~30 min on 2 cores, + 3 x 4 min
#   PRETRAIN_MIN=1.5 FINETUNE_MIN=2 GLUE_MIN=1 bash benchmarks/sst2.sh   # a short check that it all runs
#   TASKS= bash benchmarks/sst2.sh                           # SST-2 only
set -euo pipefail
DATA=${HFRECIPES_SHARED_DATA:-../shared/data}
WORK=${WORK:-/tmp/hfrecipes-bench/sst2}
PRETRAIN_MIN=${PRETRAIN_MIN:-12}
FINETUNE_MIN=${FINETUNE_MIN:-14}
GLUE_MIN=${GLUE_MIN:-4}
TASKS=${TASKS-CoLA MRPC STS-B}
LAUNCH="python -m accelerate.commands.launch --config_file accelerate_configs/cpu.yaml"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$WORK"

start=$(date +%s.%N)
# Pretraining text, one document per blank-line separated paragraph: the distinct SST-2 train phrases (sentences and
# their sub-phrases; labels dropped), then WikiText-2 paragraphs (its valid/test files: this copy has no train file).
python - "$DATA" "$WORK/pretrain.txt" <<'PY'
import csv, sys
data, out = sys.argv[1], sys.argv[2]
with open(f"{data}/glue/SST-2/train.tsv", encoding="utf-8", newline="") as f:
    phrases = list(dict.fromkeys(row["sentence"].strip() for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)))
wiki = []
for name in ("valid.txt", "test.txt"):
    text = open(f"{data}/wikitext-2/{name}", encoding="utf-8").read().replace(" <unk>", "")
    for mark, char in ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", ".")):  # WikiText's split-number markers
        text = text.replace(mark, char)
    wiki += [p.strip().lower() for p in text.split("\n") if len(p.strip()) > 40 and not p.strip().startswith("=")]
with open(out, "w", encoding="utf-8") as f:
    f.write("\n\n".join(phrases + wiki) + "\n")
print(f"pretraining text: {len(phrases)} SST-2 train phrases + {len(wiki)} WikiText-2 paragraphs")
PY
$LAUNCH recipes/train_tokenizer.py --train_file "$WORK/pretrain.txt" --vocab_size 8192 \
  --output_dir "$WORK/tokenizer" --overwrite
$LAUNCH recipes/pretrain.py --config recipes/configs/pretrain/sst2.yaml --tokenizer_name "$WORK/tokenizer" \
  --train_file "$WORK/pretrain.txt" --output_dir "$WORK/pretrain" --max_train_minutes "$PRETRAIN_MIN" --overwrite
$LAUNCH recipes/classify.py --config recipes/configs/classify/sst2.yaml --model_name_or_path "$WORK/pretrain" \
  --glue_dir "$DATA/glue" --output_dir "$WORK/sst2" --max_train_minutes "$FINETUNE_MIN" --overwrite "$@"
end=$(date +%s.%N)

for task in $TASKS; do
  $LAUNCH recipes/classify.py --config recipes/configs/classify/glue_small.yaml --task_name "$task" \
    --model_name_or_path "$WORK/pretrain" --glue_dir "$DATA/glue" --output_dir "$WORK/$task" \
    --max_train_minutes "$GLUE_MIN" --overwrite
done

python - "$WORK" "$start" "$end" $TASKS <<'PY'
import json, sys
work, start, end, tasks = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
pre = json.load(open(f"{work}/pretrain/results.json"))
sst2 = json.load(open(f"{work}/sst2/results.json"))
report = {"wall_seconds": round(end - start, 1), "within_30_minutes": end - start <= 1800,
          "sst2_dev_accuracy": round(sst2["eval_accuracy"], 4), "goal": 0.83, "tfidf_logreg": 0.822,
          "pretrain_steps": pre["train_steps"], "pretrain_tokens": pre["train_tokens"],
          "pretrain_eval_loss": round(pre["eval_loss"], 3), "finetune_steps": sst2["train_steps"]}
keys = {"CoLA": "eval_matthews_correlation", "MRPC": "eval_f1", "STS-B": "eval_pearson", "RTE": "eval_accuracy"}
for task in tasks:
    r = json.load(open(f"{work}/{task}/results.json"))
    report[f"{task} {keys.get(task, 'eval_accuracy')[5:]}"] = round(r[keys.get(task, "eval_accuracy")], 4)
print(json.dumps(report, indent=2))
PY
