"""Step time of recipes/pretrain.py vs nanoGPT's train.py at nanoGPT's CPU shape (issue 14, figure 2), side by side.

Shape: 4 layers x 4 heads x 128, block 64, batch 12, dropout 0, on tinyshakespeare (first 90%). nanoGPT runs from a
temp copy of ``../shared/peers/nanoGPT`` (unmodified; its README's CPU recipe, character level, 65 tokens) and is
timed by its own log lines (``iter N: loss ..., time X ms``). The recipe runs as a subprocess of this script with
``recipes/configs/pretrain/shakespeare.yaml`` at the same shape, timed by a TrainerCallback (the wall time between
two ``on_step_end``: data, callbacks and logging included). Both skip the first ``--warmup`` steps (compilation,
allocator) and nanoGPT's evaluation iterations; the figure of a run is its median step. Process CPU time per step is
measured too (a global optimizer-step hook for nanoGPT, the callback for the recipe): on cores shared with other jobs
it moves much less than the wall time. Each round runs every variant for every tokenizer, with a nanoGPT run after
every ``--nanogpt-every`` recipe runs; each recipe run is compared with the mean of the nanoGPT runs just before and
after it, so a change in the machine's load hits both alike. The ratio is nanoGPT's ms/step over the recipe's: > 1
is a recipe faster than nanoGPT.

Variants (``--list``): "before" is the recipe before issue 14's step-time work (sdpa attention, ``gelu_new``, no
compile, bf16 autocast), each other one adds one switch to it (then combinations), "shipped" is the config as it is.
Switches without a recipe flag are patched in the child (``gelu_new``; a labels=input_ids collator).

Tokenizers: byte-level BPE from recipes/train_tokenizer.py on the same 90%: the shakespeare config's 2048 tokens and
the byte-level minimum (260 = 256 bytes + 4 special tokens, padded to 320 in the model), nearest to nanoGPT's 65.

    python benchmarks/nanogpt_side_by_side.py --variants before shipped --rounds 3 --threads 1
    python benchmarks/nanogpt_side_by_side.py --rounds 2 --threads 1     # every variant, ~45 min
    python benchmarks/nanogpt_side_by_side.py --rounds 0 --variants before shipped --profile 20
    python benchmarks/nanogpt_side_by_side.py --list      # the variants and their switches

``--threads N`` sets OMP_NUM_THREADS for both programs (default: torch's, one per core; on busy shared cores one
thread gives steadier figures). ``--profile K`` runs each once more under torch.profiler for K steps after the
warm-up (the optimizer-step hook marks the step boundaries of both programs alike) and prints the top ops by self
CPU time per step. ``--extra="--block_size 128 --per_device_train_batch_size 16"`` times the recipe at another shape
(nanoGPT keeps its own, so the ratio is then not like for like).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HFRECIPES_SHARED_DATA", ROOT.parent / "shared" / "data"))
PEERS = Path(os.environ.get("HFRECIPES_PEERS", ROOT.parent / "shared" / "peers"))
SHAPE = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "batch_size": 12}
NANOGPT_EVAL_INTERVAL = 250  # config/train_shakespeare_char.py: those iterations include an evaluation

# The recipe at nanoGPT's shape: the shakespeare config with the budget off, a fixed number of steps, no held-out
# split (no evaluation) and the shape overridden. Every variant adds its switches to this.
BASE_ARGV = [
    "--config",
    "recipes/configs/pretrain/shakespeare.yaml",
    "--validation_split_percentage",
    "0",
    "--block_size",
    str(SHAPE["block_size"]),
    "--n_layer",
    str(SHAPE["n_layer"]),
    "--n_head",
    str(SHAPE["n_head"]),
    "--n_embd",
    str(SHAPE["n_embd"]),
    "--dropout",
    "0",
    "--per_device_train_batch_size",
    str(SHAPE["batch_size"]),
    "--max_train_minutes",
    "0",
    "--overwrite",
]

# The recipe as it was before issue 14's step-time work (bf16 autocast, sdpa, gelu_new, eager): each switch is measured
# on top of it, one at a time, then the combinations; "shipped" is the shakespeare config as it is now.
# name -> (recipe flags, patches applied in the child where the stack has no recipe flag for the switch)
BEFORE = {"torch_compile": "false", "attn_implementation": "sdpa"}
GELU_NEW = ["gelu_new"]  # patch: GPT-2's default activation (the library now builds gelu_pytorch_tanh)
FP32, COMPILE, EAGER = {"bf16": "false"}, {"torch_compile": "true"}, {"attn_implementation": "eager"}
VARIANTS = {
    "before": (BEFORE, GELU_NEW),
    "fp32": (BEFORE | FP32, GELU_NEW),
    "compile": (BEFORE | COMPILE, GELU_NEW),
    "gelu_tanh": (BEFORE, []),  # GPT2Config(activation_function="gelu_pytorch_tanh"): the same function, one kernel
    "eager_attn": (BEFORE | EAGER, GELU_NEW),
    "packed_collator": (BEFORE, [*GELU_NEW, "packed_collator"]),  # default_data_collator, labels = input_ids
    "no_tqdm": (BEFORE | {"disable_tqdm": "true"}, GELU_NEW),
    "report_none": (BEFORE | {"report_to": "none"}, GELU_NEW),
    "log_rarely": (BEFORE | {"logging_steps": "1000000"}, GELU_NEW),
    "tokens_seen": (BEFORE | {"include_num_input_tokens_seen": "true"}, GELU_NEW),
    "no_avg_tokens": (BEFORE | {"average_tokens_across_devices": "false"}, GELU_NEW),
    "no_nan_filter": (BEFORE | {"logging_nan_inf_filter": "false"}, GELU_NEW),
    "drop_last": (BEFORE | {"dataloader_drop_last": "true"}, GELU_NEW),
    "workers1": (BEFORE | {"dataloader_num_workers": "1"}, GELU_NEW),
    "adamw_unfused": (BEFORE | {"optim": "adamw_torch"}, GELU_NEW),  # torch's AdamW, not fused: nanoGPT's on CPU
    "fp32_gelu_tanh": (BEFORE | FP32, []),
    "fp32_eager_attn": (BEFORE | FP32 | EAGER, GELU_NEW),
    "fp32_compile": (BEFORE | FP32 | COMPILE, GELU_NEW),
    "gelu_tanh_eager_attn": (BEFORE | EAGER, []),
    "compile_eager_attn": (BEFORE | COMPILE | EAGER, GELU_NEW),
    "fp32_compile_eager_attn": (BEFORE | FP32 | COMPILE | EAGER, GELU_NEW),
    "shipped": ({}, []),
    "shipped_sdpa": ({"attn_implementation": "sdpa"}, []),  # in fp32 (a CPU without bf16) sdpa may be the faster one
    "shipped_max_autotune": ({"torch_compile_mode": "max-autotune-no-cudagraphs"}, []),
}


# ------------------------------------------------------------------ child processes (one run each)


def _optimizer_step_clock(out: Path, warmup: int, profile: int = 0):
    """A global optimizer step hook (any program, unmodified): wall and process CPU time at every optimizer step,
    written to ``out`` at exit; with ``profile``, torch.profiler over steps warmup+1 .. warmup+profile instead."""
    import atexit

    from torch.optim.optimizer import register_optimizer_step_post_hook
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    state = {"wall": [], "cpu": [], "prof": None}

    def hook(optimizer, args, kwargs):
        state["wall"].append(time.perf_counter())
        state["cpu"].append(time.process_time())
        n = len(state["wall"])
        if profile and n == warmup:
            state["prof"] = profiler(activities=[ProfilerActivity.CPU])
            state["prof"].__enter__()
        elif profile and n == warmup + profile and state["prof"] is not None:
            state["prof"].__exit__(None, None, None)
            ops = [
                {"name": e.key, "self_ms": e.self_cpu_time_total / 1e3 / profile, "calls": e.count / profile}
                for e in state["prof"].key_averages()
            ]
            wall = (state["wall"][-1] - state["wall"][warmup - 1]) * 1e3 / profile
            out.write_text(json.dumps({"wall_ms": wall, "ops": ops}))
            sys.stdout.flush()
            os._exit(0)

    def dump():
        if not profile:
            out.write_text(json.dumps({k: _diffs(state[k]) for k in ("wall", "cpu")}))

    register_optimizer_step_post_hook(hook)
    atexit.register(dump)


def _diffs(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def child_recipe(spec: dict) -> None:
    """Runs recipes/pretrain.py's main in this process with a step clock (and the spec's patches, a profiler)."""
    import runpy

    import transformers
    from transformers import TrainerCallback

    out = Path(spec["out"])
    if spec.get("profile"):
        _optimizer_step_clock(out, spec["warmup"], spec["profile"])

    class StepClock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.wall, self.cpu = [time.perf_counter()], [time.process_time()]

        def on_step_end(self, args, state, control, **kwargs):
            self.wall.append(time.perf_counter())
            self.cpu.append(time.process_time())

        def on_train_end(self, args, state, control, **kwargs):
            out.write_text(json.dumps({"wall": _diffs(self.wall), "cpu": _diffs(self.cpu)}))
            sys.stdout.flush()
            os._exit(0)  # the step times are all we need: skip saving, the sample and the card

    transformers.trainer.DEFAULT_CALLBACKS.append(StepClock)
    if "gelu_new" in spec["patches"]:
        import hfrecipes.modeling as modeling

        build = modeling.build_gpt2

        def build_gelu_new(*a, **k):
            model = build(*a, **k)
            model.config.activation_function = "gelu_new"
            for block in model.transformer.h:
                block.mlp.act = transformers.activations.ACT2FN["gelu_new"]
            return model

        modeling.build_gpt2 = build_gelu_new
    if "packed_collator" in spec["patches"]:

        def packed_collator(tokenizer, mlm=False, **kwargs):
            def collate(features):
                batch = transformers.default_data_collator(features)
                batch["labels"] = batch["input_ids"]  # packed blocks: no padding to mask
                return batch

            return collate

        transformers.DataCollatorForLanguageModeling = packed_collator
    recipe = runpy.run_path(str(ROOT / "recipes" / "pretrain.py"), run_name="pretrain_bench")
    recipe["main"](spec["argv"])


def child_nanogpt(spec: dict) -> None:
    """Runs nanoGPT's train.py (its copy's folder, unmodified) under the optimizer-step clock (or profiler)."""
    import runpy

    os.chdir(spec["cwd"])
    sys.path.insert(0, spec["cwd"])
    _optimizer_step_clock(Path(spec["out"]), spec["warmup"], spec.get("profile", 0))
    sys.argv = ["train.py", *spec["argv"]]
    runpy.run_path("train.py", run_name="__main__")


# ------------------------------------------------------------------ setup


def run(cmd, env=None, cwd=None, log=None):
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if log is not None:
        Path(log).write_text(proc.stdout)
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stdout[-3000:]}")
    return proc.stdout


def setup(work: Path, vocabs: list[int], env: dict) -> tuple[Path, dict[int, Path], Path]:
    text_file = SHARED / "tinyshakespeare" / "input.txt"
    if not text_file.is_file() or not (PEERS / "nanoGPT" / "train.py").is_file():
        sys.exit(f"needs {text_file} and {PEERS / 'nanoGPT'} (see ../shared/peers/README.md)")
    work.mkdir(parents=True, exist_ok=True)
    nano = work / "nanoGPT"
    if not (nano / "data" / "shakespeare_char" / "train.bin").is_file():
        shutil.rmtree(nano, ignore_errors=True)
        shutil.copytree(PEERS / "nanoGPT", nano)
        shutil.copy(text_file, nano / "data" / "shakespeare_char" / "input.txt")  # prepare.py would download it
        run([sys.executable, "data/shakespeare_char/prepare.py"], env=env, cwd=nano)
    text = text_file.read_text(encoding="utf-8")
    train = work / "train.txt"  # nanoGPT's split: the first 90% of the characters
    train.write_text(text[: int(len(text) * 0.9)], encoding="utf-8")
    tokenizers = {}
    for vocab in vocabs:
        tokenizers[vocab] = work / f"tokenizer-{vocab}"
        if not (tokenizers[vocab] / "tokenizer.json").is_file():
            cmd = [sys.executable, "recipes/train_tokenizer.py", "--config"]
            cmd += ["recipes/configs/train_tokenizer/shakespeare.yaml", "--train_file", str(train)]
            cmd += ["--vocab_size", str(vocab), "--output_dir", str(tokenizers[vocab]), "--overwrite"]
            run(cmd, env=env, cwd=ROOT)
    return nano, tokenizers, train


# ------------------------------------------------------------------ one timed run


def nanogpt_argv(steps: int) -> list[str]:
    return [
        "config/train_shakespeare_char.py",
        "--device=cpu",
        "--compile=False",
        "--eval_iters=20",
        "--log_interval=1",
        f"--block_size={SHAPE['block_size']}",
        f"--batch_size={SHAPE['batch_size']}",
        f"--n_layer={SHAPE['n_layer']}",
        f"--n_head={SHAPE['n_head']}",
        f"--n_embd={SHAPE['n_embd']}",
        f"--max_iters={steps}",
        "--lr_decay_iters=2000",
        "--dropout=0.0",
    ]


def time_nanogpt(nano: Path, steps: int, warmup: int, env: dict, out: Path) -> tuple[list[float], list[float]]:
    """Wall s/step from nanoGPT's own log lines and process CPU s/step from the step clock, evaluations excluded."""
    spec = {"cwd": str(nano), "argv": nanogpt_argv(steps), "warmup": warmup, "out": str(out)}
    log = run([sys.executable, __file__, "--child-nanogpt", json.dumps(spec)], env=env, cwd=ROOT)
    wall = []
    for n, ms in re.findall(r"^iter (\d+): loss [\d.]+, time ([\d.]+)ms", log, re.MULTILINE):
        if int(n) >= warmup and int(n) % NANOGPT_EVAL_INTERVAL:
            wall.append(float(ms) / 1e3)
    cpu = json.loads(out.read_text())["cpu"]  # cpu[i - 1]: iteration i (from the end of i - 1 to the end of i)
    cpu = [t for i, t in enumerate(cpu, start=1) if i >= warmup and i % NANOGPT_EVAL_INTERVAL]
    return wall, cpu


def recipe_spec(
    variant: str, tokenizer: Path, train: Path, steps: int, warmup: int, out: Path, work: Path, extra=()
) -> dict:
    flags, patches = VARIANTS[variant]
    argv = [*BASE_ARGV, "--tokenizer_name", str(tokenizer), "--train_file", str(train)]
    argv += ["--max_steps", str(steps), "--output_dir", str(work / "runs" / variant)]
    argv += [item for name, value in flags.items() for item in (f"--{name}", value)]
    argv += list(extra)  # e.g. the config's own shape (the nanoGPT ratio is then not like for like)
    return {"argv": argv, "patches": patches, "out": str(out), "warmup": warmup}


def time_recipe(spec: dict, warmup: int, env: dict, log: Path) -> tuple[list[float], list[float], float]:
    run([sys.executable, __file__, "--child", json.dumps(spec)], env=env, cwd=ROOT, log=log)
    steps = json.loads(Path(spec["out"]).read_text())
    return steps["wall"][warmup:], steps["cpu"][warmup:], steps["wall"][0]


def summary(wall: list[float], cpu: list[float]) -> dict:
    """Medians in ms per step (robust to the odd slow step on shared cores), and the mean wall time."""
    return {
        "median_ms": 1e3 * statistics.median(wall),
        "mean_ms": 1e3 * statistics.fmean(wall),
        "cpu_ms": 1e3 * statistics.median(cpu),
        "n": len(wall),
    }


def load_average() -> float:
    return os.getloadavg()[0]


# ------------------------------------------------------------------ profiles


def profile_table(profiles: dict[str, dict], top: int) -> str:
    """Markdown: the top ops by self CPU ms per step, one column per program, and the wall ms per step."""
    per = {name: {op["name"]: op for op in p["ops"]} for name, p in profiles.items()}
    union = {}
    for ops in per.values():
        for key, op in ops.items():
            union[key] = max(union.get(key, 0.0), op["self_ms"])
    keys = sorted(union, key=union.get, reverse=True)[:top]
    names = list(profiles)
    lines = ["| op | " + " | ".join(f"{n} ms/step (calls)" for n in names) + " |"]
    lines.append("|---" * (len(names) + 1) + "|")
    for key in keys:
        cells = [f"{per[n][key]['self_ms']:.2f} ({per[n][key]['calls']:.0f})" if key in per[n] else "-" for n in names]
        lines.append(f"| `{key[:60]}` | " + " | ".join(cells) + " |")
    in_ops = [sum(op["self_ms"] for op in p["ops"]) for p in profiles.values()]
    lines.append("| all ops (self) | " + " | ".join(f"{v:.2f}" for v in in_ops) + " |")
    lines.append("| wall (profiled) | " + " | ".join(f"{p['wall_ms']:.2f}" for p in profiles.values()) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=150, help="Timed steps per run (after the warm-up).")
    parser.add_argument("--warmup", type=int, default=30, help="Steps not timed (compilation, allocator).")
    parser.add_argument("--vocabs", type=int, nargs="+", default=[2048, 260], help="Tokenizer vocab sizes.")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--nanogpt-every", type=int, default=2, help="A nanoGPT run after every N recipe runs.")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of both (default: torch's).")
    parser.add_argument("--profile", type=int, default=0, help="Also profile K steps of each (0: no profiles).")
    parser.add_argument("--top", type=int, default=18, help="Rows of the profile table.")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "hfrecipes-bench" / "side_by_side")
    parser.add_argument(
        "--extra",
        type=shlex.split,
        default=[],
        help='Recipe flags for every run, e.g. --extra="--block_size 128" (then not nanoGPT\'s shape).',
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-nanogpt", help=argparse.SUPPRESS)
    parser.add_argument("--list", action="store_true", help="Print the variants and their switches.")
    args = parser.parse_args()
    if args.child:
        return child_recipe(json.loads(args.child))
    if args.child_nanogpt:
        return child_nanogpt(json.loads(args.child_nanogpt))
    if args.list:
        for name, (flags, patches) in VARIANTS.items():
            switches = [f"--{k} {v}" for k, v in flags.items()] + [f"[patch: {p}]" for p in patches]
            print(f"{name:24s} {' '.join(switches)}")
        return

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    nano, tokenizers, train = setup(args.work, args.vocabs, env)
    total = args.steps + args.warmup
    jobs = [(vocab, variant) for vocab in tokenizers for variant in args.variants]
    nano_out = args.work / "runs" / "nanogpt.json"
    nano_out.parent.mkdir(parents=True, exist_ok=True)  # a fresh work folder: nanoGPT runs before any recipe run
    nano_runs, runs, loads = [], {}, [load_average()]  # runs: key -> one summary per round
    for r in range(args.rounds):
        pending = []  # recipe runs since the last nanoGPT run: each is compared with the nanoGPT runs around it
        nano_runs.append(summary(*time_nanogpt(nano, total, args.warmup, env, nano_out)))
        print(f"round {r} nanogpt: {nano_runs[-1]['median_ms']:.1f} ms/step (load {load_average():.1f})", flush=True)
        for i, (vocab, variant) in enumerate(jobs):
            key = f"{variant}@{vocab}"
            out = args.work / "runs" / f"{key}.json"
            spec = recipe_spec(variant, tokenizers[vocab], train, total, args.warmup, out, args.work, args.extra)
            wall, cpu, first = time_recipe(spec, args.warmup, env, args.work / "runs" / f"{key}.log")
            run_ = {**summary(wall, cpu), "first_s": first, "before": nano_runs[-1]}
            runs.setdefault(key, []).append(run_)
            pending.append(run_)
            print(f"round {r} {key}: {run_['median_ms']:.1f} ms/step, CPU {run_['cpu_ms']:.1f} ms "
                  f"(first step {first:.1f} s)", flush=True)  # fmt: skip
            if (i + 1) % args.nanogpt_every == 0 or i == len(jobs) - 1:
                nano_runs.append(summary(*time_nanogpt(nano, total, args.warmup, env, nano_out)))
                for p in pending:
                    before = p.pop("before")
                    for unit in ("median_ms", "cpu_ms"):
                        p[f"ratio_{unit}"] = (before[unit] + nano_runs[-1][unit]) / 2 / p[unit]
                print(f"round {r} nanogpt: {nano_runs[-1]['median_ms']:.1f} ms/step (load {load_average():.1f}); "
                      + ", ".join(f"{p['ratio_median_ms']:.2f}x" for p in pending), flush=True)  # fmt: skip
                pending = []
        loads.append(load_average())
    if args.rounds:
        print_report(args, nano_runs, runs, loads)
    if args.profile:
        print_profiles(args, nano, tokenizers, train, total, env)


def _stats(values: list[float], digits: int = 3) -> dict:
    return {"median": round(statistics.median(values), digits), "range": [round(min(values), digits),
            round(max(values), digits)]}  # fmt: skip


def print_report(args, nano_runs: list[dict], runs: dict, loads: list[float]) -> None:
    rows = [{"run": "nanogpt", "wall_ms": _stats([n["median_ms"] for n in nano_runs], 1),
             "cpu_ms": _stats([n["cpu_ms"] for n in nano_runs], 1)}]  # fmt: skip
    for key, rs in runs.items():
        rows.append({
            "run": key,
            "wall_ms": _stats([r["median_ms"] for r in rs], 1),
            "mean_wall_ms": round(statistics.median(r["mean_ms"] for r in rs), 1),
            "cpu_ms": _stats([r["cpu_ms"] for r in rs], 1),
            # each run against the mean of the nanoGPT runs just before and after it
            "x_nanogpt_wall": _stats([r["ratio_median_ms"] for r in rs]),
            "x_nanogpt_cpu": _stats([r["ratio_cpu_ms"] for r in rs]),
            "first_step_s": [round(r["first_s"], 1) for r in rs],
        })  # fmt: skip
    report = {
        "shape": SHAPE,
        "timed_steps": args.steps,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "threads": args.threads or "torch default",
        "load_average": [round(x, 2) for x in loads],
        "runs": rows,
    }
    print(json.dumps(report, indent=1))
    print("\n| run | wall ms/step | x nanoGPT (wall) | CPU ms/step | x nanoGPT (CPU) |\n|---|---|---|---|---|")

    def cell(stat, fmt):
        lo, hi = stat["range"]
        return f"{stat['median']:{fmt}} ({lo:{fmt}}-{hi:{fmt}})"

    for row in rows:
        wall_x = cell(row["x_nanogpt_wall"], ".2f") if "x_nanogpt_wall" in row else "1"
        cpu_x = cell(row["x_nanogpt_cpu"], ".2f") if "x_nanogpt_cpu" in row else "1"
        print(f"| {row['run']} | {cell(row['wall_ms'], '.1f')} | {wall_x} | {cell(row['cpu_ms'], '.1f')} | {cpu_x} |")


def print_profiles(args, nano: Path, tokenizers: dict, train: Path, total: int, env: dict) -> None:
    if True:
        profiles = {}
        spec = {"cwd": str(nano), "argv": nanogpt_argv(total), "warmup": args.warmup, "profile": args.profile}
        spec["out"] = str(args.work / "runs" / "profile-nanogpt.json")
        run([sys.executable, __file__, "--child-nanogpt", json.dumps(spec)], env=env, cwd=ROOT)
        profiles["nanogpt"] = json.loads(Path(spec["out"]).read_text())
        for vocab, tok in tokenizers.items():
            for variant in args.variants:
                key = f"{variant}@{vocab}"
                out = args.work / "runs" / f"profile-{key}.json"
                spec = recipe_spec(variant, tok, train, total, args.warmup, out, args.work, args.extra)
                spec["profile"] = args.profile
                run([sys.executable, __file__, "--child", json.dumps(spec)], env=env, cwd=ROOT)
                profiles[key] = json.loads(out.read_text())
        (args.work / "profiles.json").write_text(json.dumps(profiles))
        print(f"\nProfile, {args.profile} steps after {args.warmup} (self CPU ms per step; {args.work}/profiles.json)")
        print(profile_table(profiles, args.top))


if __name__ == "__main__":
    main()
