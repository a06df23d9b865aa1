"""Two CPU processes with DDP vs one process at the same global batch (issue 6): tokens/s and final eval loss.

Trains a 2048-token tokenizer on builtin:python-docs, then pretrains the same GPT-2 (4 layers x 128, block 128) for a
fixed number of steps at a global batch of 16 sequences, launched as users do:

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/pretrain.py --per_device_train_batch_size 16
    accelerate launch --config_file accelerate_configs/cpu_ddp.yaml recipes/pretrain.py --per_device_train_batch_size 8

Runs alternate (one, two, two, one, ...) so a slow moment of a shared machine hits both. One process uses torch's
default threads (one per core); torchrun gives each DDP process one thread, so both settings use every core.
Reports the median tokens/s (timed by the Trainer, start-up excluded), each command's wall time and the eval losses.

    python benchmarks/ddp_cpu.py [--steps 150] [--rounds 2] [--keep]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from big_corpus import ROOT, scratch_folder

CONFIGS = {"one_process": ("cpu.yaml", 16), "two_processes_ddp": ("cpu_ddp.yaml", 8)}


def launch(config: str, recipe: str, args: list[str], env: dict, log) -> float:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", f"accelerate_configs/{config}"]
    start = time.perf_counter()
    proc = subprocess.run([*cmd, f"recipes/{recipe}.py", *args], env=env, cwd=ROOT, stdout=log, stderr=log)
    if proc.returncode != 0:
        raise SystemExit(f"{recipe} under {config} failed; see {log.name}")
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="Keep the outputs.")
    args = parser.parse_args()

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with scratch_folder("hfrecipes-ddp-", args.keep) as work, open(work / "log.txt", "w") as log:
        tok = work / "tokenizer"
        launch("cpu.yaml", "train_tokenizer", ["--vocab_size", "2048", "--output_dir", str(tok)], env, log)
        # fmt: off
        common = ["--tokenizer_name", str(tok), "--n_layer", "4", "--n_head", "4", "--n_embd", "128",
                  "--block_size", "128", "--max_steps", str(args.steps), "--max_train_minutes", "0",
                  "--learning_rate", "1e-3", "--warmup_steps", "10", "--save_strategy", "no", "--report_to", "none",
                  "--logging_steps", "50", "--seed", "42"]
        # fmt: on
        runs = {name: [] for name in CONFIGS}
        order = [name for r in range(args.rounds) for name in (list(CONFIGS) if r % 2 == 0 else list(CONFIGS)[::-1])]
        for i, name in enumerate(order):
            config, per_device = CONFIGS[name]
            out = work / f"{name}_{i}"
            run_args = [*common, "--per_device_train_batch_size", str(per_device), "--output_dir", str(out)]
            wall = launch(config, "pretrain", run_args, env, log)
            res = json.loads((out / "results.json").read_text())
            runs[name].append(
                {"tokens_per_second": res["train_tokens_per_second"], "eval_loss": res["eval_loss"], "wall": wall}
            )
            print(name, json.dumps(runs[name][-1]), file=sys.stderr)

        summary = {
            name: {
                "tokens_per_second": round(statistics.median(r["tokens_per_second"] for r in rs)),
                "eval_loss": [round(r["eval_loss"], 4) for r in rs],
                "wall_seconds": [round(r["wall"], 1) for r in rs],
            }
            for name, rs in runs.items()
        }
        one, two = (summary[name]["tokens_per_second"] for name in CONFIGS)
        summary["ddp_speedup"] = round(two / one, 2)
        summary["global_batch"] = 16
        summary["steps"] = args.steps
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
