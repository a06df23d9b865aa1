"""tinyshakespeare pretraining, one change at a time at equal wall time (issue 14: figure 1 and the options table).

    python benchmarks/shakespeare_sweep.py --split tune --variants current muon wsd   # choose, on a dev split
    python benchmarks/shakespeare_sweep.py --split final --variants before current    # the scored figure
    python benchmarks/shakespeare_sweep.py --list

Every variant is ``recipes/pretrain.py --config recipes/configs/pretrain/shakespeare.yaml`` plus its flags, with the
config's own budget (``max_train_minutes``, or ``--minutes``), one after the other, so each ratio comes from one
run of this script. The tokenizer (``recipes/configs/train_tokenizer/shakespeare.yaml``) is trained once per split on
its training part. Splits of tinyshakespeare by characters: ``final`` is nanoGPT's (first 90% train, last 10%
validation: the figure in the issue); ``tune`` trains on the first 80% and scores on 80-90%, so choosing a config
never reads the final validation text. Prints one JSON and a markdown table: steps, train loss, validation
bits/byte and nats/char, wall seconds of the pretraining process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HFRECIPES_SHARED_DATA", ROOT.parent / "shared" / "data"))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

CONFIG = ROOT / "recipes" / "configs" / "pretrain" / "shakespeare.yaml"
# "before": the config as issue 14 found it, written from the current one without the keys added since (sdpa
# attention, no compile, cosine schedule; gelu_new is not a config key and stays the new gelu_pytorch_tanh, the same
# function in one kernel). A variant named before* is that config plus its flags; every other variant is the current
# config plus its flags.
BEFORE = {"drop": ["attn_implementation", "torch_compile", "lr_decay_ratio"], "set": {"lr_scheduler_type": "cosine"}}
VARIANTS = {
    "before": "",
    "current": "",
    "dropout0.1": "--dropout 0.1",
    "dropout0.2": "--dropout 0.2",
    "wider": "--n_embd 192 --n_head 6",
    "deeper": "--n_layer 6",
    "muon": "--matrix_optimizer muon",
    "muon_lr0.02": "--matrix_optimizer muon --muon_learning_rate 0.02",
    "linear_to_zero": "--lr_scheduler_type linear",
    "batch32_sqrt": "--per_device_train_batch_size 32 --lr_reference_batch_size 16",
    "batch8_sqrt": "--per_device_train_batch_size 8 --lr_reference_batch_size 16",
    "lr1e-3": "--learning_rate 1e-3",
    "lr4e-3": "--learning_rate 4e-3",
    "sdpa": "--attn_implementation sdpa",  # the faster attention in fp32 (a CPU without bf16), eager's in bf16
}


def split(work: Path, name: str) -> tuple[Path, Path]:
    text = (DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    n = len(text)
    cut, end = (int(n * 0.9), n) if name == "final" else (int(n * 0.8), int(n * 0.9))
    train, val = work / "train.txt", work / "val.txt"
    train.write_text(text[:cut], encoding="utf-8")
    val.write_text(text[cut:end], encoding="utf-8")
    return train, val


def before_config(work: Path) -> Path:
    """The shakespeare config as it was before issue 14's changes (see ``BEFORE``)."""
    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    for key in BEFORE["drop"]:
        config.pop(key, None)
    config.update(BEFORE["set"])
    path = work / "before.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run(cmd: list[str], log: Path, threads: int | None) -> float:
    env = {**ENV, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    start = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=["tune", "final"], default="tune")
    parser.add_argument("--variants", nargs="+", default=["current"])
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS", help="an extra variant")
    parser.add_argument("--minutes", type=float, help="budget of every variant (default: the config's)")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS (default: torch's, one per core)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hfrecipes-bench/shakespeare-sweep"))
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    variants = dict(VARIANTS)
    variants.update(v.split("=", 1) for v in args.variant)
    if args.list:
        for k, v in variants.items():
            print(f"{k:20s} {'before.yaml' if k.startswith('before') else 'shakespeare.yaml'} {v}")
        return
    if not (DATA / "tinyshakespeare" / "input.txt").is_file():
        print(f"skipped: {DATA}/tinyshakespeare/input.txt not found")
        return
    unknown = [v for v in args.variants if v not in variants]
    if unknown:
        sys.exit(f"unknown variant(s) {unknown}; --list shows them, --variant NAME=FLAGS adds one")
    work = args.work / args.split
    work.mkdir(parents=True, exist_ok=True)
    train, val = split(work, args.split)
    tokenizer = work / "tokenizer"
    run([sys.executable, "recipes/train_tokenizer.py", "--config", "recipes/configs/train_tokenizer/shakespeare.yaml",
         "--train_file", str(train), "--validation_file", str(val), "--output_dir", str(tokenizer), "--overwrite"],
        work / "tokenizer.log", args.threads)  # fmt: skip
    chars_per_byte = len(val.read_text(encoding="utf-8")) / val.stat().st_size
    rows = []
    for name in args.variants:
        out = work / name
        config = before_config(work) if name.startswith("before") else CONFIG
        cmd = [sys.executable, "recipes/pretrain.py", "--config", str(config),
               "--tokenizer_name", str(tokenizer), "--train_file", str(train), "--validation_file", str(val),
               "--output_dir", str(out), "--overwrite", "--report_to", "none", *variants[name].split()]  # fmt: skip
        if args.minutes is not None:
            cmd += ["--max_train_minutes", str(args.minutes)]
        wall = run(cmd, work / f"{name}.log", args.threads)
        r = json.loads((out / "results.json").read_text())
        bpb = r["eval_bits_per_byte"]
        nats = bpb * math.log(2) / chars_per_byte
        rows.append({"variant": name, "flags": variants[name], "train_steps": r["train_steps"],
                     "train_loss": round(r["train_loss"], 3), "eval_loss": round(r["eval_loss"], 3),
                     "eval_bits_per_byte": round(bpb, 4), "nats_per_char": round(nats, 4),
                     "wall_seconds": round(wall, 1)})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"split": args.split, "threads": args.threads, "rows": rows}, indent=2))
    print("\n| variant | flags | steps | train loss | eval loss | bits/byte | nats/char | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | `{r['flags']}` | {r['train_steps']} | {r['train_loss']} | {r['eval_loss']} | "
              f"{r['eval_bits_per_byte']} | {r['nats_per_char']} | {r['wall_seconds']} |")  # fmt: skip


if __name__ == "__main__":
    main()
