"""Does pretraining help? SST-2 fine-tuning of a pretrained model vs a random init of the same shape, N seeds each.

    python benchmarks/sst2_pretrain_vs_scratch.py --model /tmp/hfrecipes-bench/sst2/pretrain [--seeds 3]
        [--minutes 10] [--config recipes/configs/classify/sst2.yaml] [--work /tmp/hfrecipes-bench/pvs] [-- ARGS]

`--model` is the output folder of recipes/pretrain.py (`bash benchmarks/sst2.sh` leaves one at
/tmp/hfrecipes-bench/sst2/pretrain). For each seed, recipes/classify.py runs twice with the same config, budget and
seed: once from `--model`, once from a copy of it whose weights are re-drawn from the model's own initialisation
(same config and tokenizer; the init differs per seed). Arguments after `--` go to both runs (e.g. `-- --pooling
last`, or `-- --max_train_minutes 0 --max_steps 3000` for the same number of steps rather than the same minutes).
Model selection is the config's (sst2.yaml: a split of train); the SST-2 dev set is only scored. Prints one JSON:
dev accuracy per seed, mean and sample std for each arm, and the difference of the means (the issue's goal: the
pretrained arm ahead by >= 2 points). Skips (exit 0) when ../shared/data/glue/SST-2 is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HFRECIPES_SHARED_DATA", ROOT.parent / "shared" / "data"))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def random_init(model: Path, out: Path, seed: int) -> Path:
    """``model``'s config and tokenizer with freshly initialised weights (``from_config`` under ``seed``)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, set_seed

    if (out / "model.safetensors").is_file():
        return out
    set_seed(seed)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model)).save_pretrained(out)
    AutoTokenizer.from_pretrained(model).save_pretrained(out)
    return out


def fine_tune(model: Path, out: Path, seed: int, args, extra: list[str]) -> dict:
    cmd = [sys.executable, str(ROOT / "recipes" / "classify.py"), "--config", args.config]
    cmd += ["--model_name_or_path", str(model), "--glue_dir", str(args.glue_dir), "--output_dir", str(out)]
    cmd += ["--seed", str(seed), "--overwrite", "--report_to", "none"]
    if args.minutes is not None:
        cmd += ["--max_train_minutes", str(args.minutes)]
    log = out.with_suffix(".log")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        proc = subprocess.run([*cmd, *extra], stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=ENV)
    if proc.returncode != 0:
        sys.exit(f"fine-tuning failed ({proc.returncode}); see {log}")
    res = json.loads((out / "results.json").read_text())
    keys = ("eval_accuracy", "selection_accuracy", "train_steps", "train_runtime", "best_step", "stopped_early")
    return {k: res.get(k) for k in keys}


def summary(values: list[float]) -> dict:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 4), "std": round(std, 4), "runs": [round(v, 4) for v in values]}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Output folder of recipes/pretrain.py.")
    parser.add_argument("--seeds", type=int, default=3, help="Seeds per arm (>= 3 for the issue's figure).")
    parser.add_argument("--minutes", type=float, default=None, help="Fine-tuning budget per run (default: config).")
    parser.add_argument("--config", default=str(ROOT / "recipes" / "configs" / "classify" / "sst2.yaml"))
    parser.add_argument("--glue_dir", type=Path, default=DATA / "glue")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hfrecipes-bench/pretrain_vs_scratch"))
    args = parser.parse_args(argv)
    if not (args.glue_dir / "SST-2" / "train.tsv").is_file():
        print(json.dumps({"skipped": f"no SST-2 at {args.glue_dir / 'SST-2'}"}))
        return
    model = Path(args.model)
    if not (model / "config.json").is_file():
        sys.exit(f"no model at {model}; make one with `bash benchmarks/sst2.sh` (it leaves WORK/pretrain)")
    runs = {"pretrained": [], "random_init": []}
    for seed in range(1, args.seeds + 1):
        scratch = random_init(model, args.work / f"random_init-{seed}", seed)
        for arm, start in (("pretrained", model), ("random_init", scratch)):
            result = fine_tune(start, args.work / f"{arm}-seed{seed}", seed, args, extra)
            runs[arm].append(result)
            print(f"{arm} seed {seed}: {result}", file=sys.stderr, flush=True)
    report = {arm: summary([r["eval_accuracy"] for r in rs]) for arm, rs in runs.items()}
    report["pretrained_minus_random_init"] = round(report["pretrained"]["mean"] - report["random_init"]["mean"], 4)
    report["goal"] = ">= 0.02"
    report["selection_accuracy"] = {
        arm: summary([r["selection_accuracy"] or 0.0 for r in rs]) for arm, rs in runs.items()
    }
    report["config"], report["extra_args"], report["seeds"] = args.config, extra, args.seeds
    report["runs"] = runs
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
