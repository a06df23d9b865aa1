"""Do benchmark scores mean something? recipes/eval.py on python_docs_mc: trained models vs random init (issue 17).

    python benchmarks/eval_sanity.py                      # ~3 min on 2 CPU cores
    python benchmarks/eval_sanity.py --seeds 0 1 2 3 4 --demo outputs/pretrain --work /tmp/eval_sanity

Models, each scored on the whole test split of python_docs_mc (246 items with Python 3.11, chance 0.25):

- ``sanity``: the model of tests/test_evaluate.py (1 layer, 64 wide, 300 steps of 8 x 64 tokens, 512-token BPE);
- ``tiny_lm``: the shape and 20 steps of the tests' shared ``tiny_lm`` fixture (1 layer, 32 wide);
- ``random``: random init of the sanity shape, one model per seed;
- ``demo``: a copy of the demo pipeline's model (``--demo outputs/pretrain``, after ``make demo``), when given.

Every model is scored once per seed, the task's shuffles drawn from that seed (``--metadata '{"seed": S}'``); a random
model's init uses the same seed. Prints one JSON object: per model the accuracy per seed, mean and standard deviation,
and the evaluation time (seconds per 1,000 examples in the model, and wall time of the harness call with data prep)
with ``--threads`` torch threads (default: one per core). Models train on one thread, as in the test.
"""

import argparse
import importlib.util
import json
import shutil
import statistics
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def pretrain(tokenizer: Path, out: Path, width: str, steps: str) -> Path:
    """Trained on one thread, as tests/test_evaluate.py does: the same weights whatever the core count."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    args = ["--tokenizer_name", str(tokenizer), "--n_layer", "1", "--n_head", "2", "--n_embd", width]
    args += ["--block_size", "64", "--max_train_samples", "1000", "--max_steps", steps, "--max_train_minutes", "0"]
    args += ["--per_device_train_batch_size", "8", "--learning_rate", "3e-3", "--seed", "0", "--save_strategy", "no"]
    try:
        recipe("pretrain")([*args, "--report_to", "none", "--output_dir", str(out), "--overwrite"])
    finally:
        torch.set_num_threads(threads)
    return out


def random_init(like: Path, out: Path, seed: int) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(like)).save_pretrained(out)
    AutoTokenizer.from_pretrained(like).save_pretrained(out)
    return out


def score(model: Path, out: Path, seed: int) -> dict:
    metadata = json.dumps({"seed": seed})
    args = ["--model_name_or_path", str(model), "--metadata", metadata, "--output_dir", str(out), "--overwrite"]
    recipe("evaluate")(args)
    results = json.loads((out / "results.json").read_text())
    return {
        "acc": results["python_docs_mc/acc"],
        "examples": results["examples"],
        "model_s_per_1000": results["seconds_per_1000_examples"],
        "wall_s_per_1000": 1000 * results["eval_runtime"] / results["examples"],
    }


def summary(runs: list[dict]) -> dict:
    accs = [r["acc"] for r in runs]
    return {
        "acc": [round(a, 4) for a in accs],
        "mean": round(statistics.mean(accs), 4),
        "std": round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0,
        "examples": runs[0]["examples"],
        "model_s_per_1000": round(statistics.median(r["model_s_per_1000"] for r in runs), 2),
        "wall_s_per_1000": round(statistics.median(r["wall_s_per_1000"] for r in runs), 2),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--demo", help="A pretrain output folder (copied first: its results.json is not touched).")
    parser.add_argument("--work", help="Where to write (default: a temporary folder, removed at the end).")
    parser.add_argument("--threads", type=int, help="torch threads while evaluating (default: torch's, the cores).")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    work = Path(args.work or tempfile.mkdtemp(prefix="eval-sanity-"))
    try:
        tokenizer = work / "tokenizer"
        if not (tokenizer / "results.json").is_file():
            args_ = ["--vocab_size", "512", "--max_train_samples", "600", "--output_dir", str(tokenizer)]
            recipe("train_tokenizer")(args_)
        models = {"sanity": pretrain(tokenizer, work / "sanity", "64", "300")}
        models["tiny_lm"] = pretrain(tokenizer, work / "tiny_lm", "32", "20")
        if args.demo:
            models["demo"] = shutil.copytree(args.demo, work / "demo", dirs_exist_ok=True, ignore=_no_checkpoints)
        report = {}
        for name, model in models.items():
            report[name] = summary([score(model, work / f"eval-{name}-{s}", s) for s in args.seeds])
        randoms = {s: random_init(models["sanity"], work / f"random-{s}", s) for s in args.seeds}
        report["random"] = summary([score(model, work / f"eval-random-{s}", s) for s, model in randoms.items()])
        report["seeds"] = args.seeds
        print(json.dumps(report, indent=2))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


def _no_checkpoints(folder, names):
    return [n for n in names if n.startswith("checkpoint-") or n == "eval"]


if __name__ == "__main__":
    main()
