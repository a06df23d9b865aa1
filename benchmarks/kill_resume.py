"""Kill and resume: SIGKILL a recipe mid-training, rerun the same command, compare with an uninterrupted run.

    OMP_NUM_THREADS=1 python benchmarks/kill_resume.py [--recipes pretrain classify sft] [--work /tmp/kill_resume]

For each recipe: an uninterrupted run; the same command into another folder, SIGKILLed (the whole process group of
`accelerate launch`, from outside) a few steps after a checkpoint; then the same command again, which resumes.
Prints JSON per recipe: the max abs difference between the final weights of the two, the step the run was killed
at and the checkpoint it resumed from, the wall time the original run took to reach the killed step (from its
command's start), the time the resumed run took to get back there, and that time split into start-up (command to
`Trainer.train`: imports, data, model), the Trainer's setup until the first step (for the resumed run: loading the
checkpoint and skipping the batches it had trained on) and redoing the steps after the checkpoint.
classify and sft start from the pretrain run's model: `--recipes classify sft` needs a pretrain run in `--work`.
Step times come from a wrapper that records when Trainer.train and each step start (the training is unchanged).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
STEP_LOG = "HFRECIPES_STEP_LOG"


def wrapped_recipe() -> None:
    """Child mode: run the recipe, appending ``global_step wall_time`` to $HFRECIPES_STEP_LOG at each step."""
    import runpy

    from transformers import Trainer

    training_step = Trainer.training_step

    def timed_step(self, *args, **kwargs):
        with open(os.environ[STEP_LOG], "a") as f:
            f.write(f"{self.state.global_step} {time.time()}\n")
        return training_step(self, *args, **kwargs)

    Trainer.training_step = timed_step
    train = Trainer.train

    def timed_train(self, *args, **kwargs):
        with open(os.environ[STEP_LOG], "a") as f:
            f.write(f"-1 {time.time()}\n")  # -1: Trainer.train() entered (imports, data and model are done)
        return train(self, *args, **kwargs)

    Trainer.train = timed_train
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name="__main__")


def run(recipe: str, args: list[str], out: Path, kill_after: tuple[int, int] | None = None) -> dict:
    """Launches the recipe; with ``kill_after=(checkpoint, step)``, SIGKILLs it once both are reached."""
    log = out.with_suffix(".steps")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "accelerate_configs/cpu.yaml"]
    cmd += [__file__, "--wrap", str(ROOT / "recipes" / f"{recipe}.py"), *args, "--output_dir", str(out)]
    start = time.time()
    with open(out.with_suffix(".log"), "a") as stderr:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**ENV, STEP_LOG: str(log)}, stdout=stderr, stderr=stderr,
                                start_new_session=True)  # fmt: skip
        while proc.poll() is None:
            if kill_after and (out / f"checkpoint-{kill_after[0]}" / "trainer_state.json").is_file():
                if steps(log, start) and max(steps(log, start)) >= kill_after[1]:
                    os.killpg(proc.pid, signal.SIGKILL)  # accelerate launch and the training process it spawned
                    proc.wait()
                    break
            time.sleep(0.02)
    if not kill_after and proc.returncode != 0:
        raise SystemExit(f"{recipe} failed; see {out.with_suffix('.log')}")
    return {"start": start, "steps": steps(log, start), "returncode": proc.returncode}


def steps(log: Path, since: float) -> dict[int, float]:
    """Seconds from ``since`` to the start of each step after ``global_step`` steps, from the step log."""
    if not log.is_file():
        return {}
    rows = [line.split() for line in log.read_text().splitlines() if line.strip()]
    return {int(s): float(t) - since for s, t in rows if float(t) >= since}


def max_diff(a: Path, b: Path, name: str) -> float:
    from safetensors.torch import load_file

    x, y = load_file(str(a / name)), load_file(str(b / name))
    return max((x[k].double() - y[k].double()).abs().max().item() for k in x)


def kill_resume(recipe: str, args: list[str], work: Path, checkpoint: int, kill_at: int) -> dict:
    for old in work.glob(f"{recipe}-*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    whole = run(recipe, args, work / f"{recipe}-whole")
    killed_dir = work / f"{recipe}-killed"
    killed = run(recipe, args, killed_dir, kill_after=(checkpoint, kill_at))
    if killed["returncode"] == 0:
        raise SystemExit(f"{recipe} ended before it could be killed; see {killed_dir.with_suffix('.log')}")
    reached = max(killed["steps"])  # the step the killed run had reached (done steps) when it died
    resumed_from = max(int(p.name.split("-")[1]) for p in killed_dir.glob("checkpoint-*"))
    resumed = run(recipe, args, killed_dir)
    original, again = whole["steps"][reached], resumed["steps"][reached]
    return {
        "recipe": recipe,
        "max_abs_weight_diff": max_diff(work / f"{recipe}-whole", killed_dir, "model.safetensors"),
        "killed_at_step": reached,
        "resumed_from_checkpoint": resumed_from,
        "original_s_to_killed_step": round(original, 2),
        "resumed_s_to_killed_step": round(again, 2),
        "saved_s_vs_restarting": round(original - again, 2),
        "original_startup_s": round(whole["steps"][-1], 2),
        "resumed_startup_s": round(resumed["steps"][-1], 2),
        "original_train_to_first_step_s": round(whole["steps"][0] - whole["steps"][-1], 2),
        "resumed_train_to_first_step_s": round(resumed["steps"][resumed_from] - resumed["steps"][-1], 2),
        "redo_s": round(again - resumed["steps"][resumed_from], 2),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--wrap":
        return wrapped_recipe()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=["pretrain", "classify", "sft"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/kill_resume"))
    opts = parser.parse_args()
    opts.work.mkdir(parents=True, exist_ok=True)
    tok = opts.work / "tokenizer"
    if not tok.is_dir():
        train = [sys.executable, "recipes/train_tokenizer.py", "--vocab_size", "1024", "--max_train_samples", "2000"]
        subprocess.run([*train, "--output_dir", str(tok)], cwd=ROOT, env=ENV, check=True, stdout=sys.stderr)
    common = ["--report_to", "none", "--logging_steps", "10", "--save_strategy", "steps", "--save_steps", "50"]
    base = ["--model_name_or_path", str(opts.work / "pretrain-whole"), "--max_steps", "200"]
    # fmt: off
    setups = {
        "pretrain": ["--tokenizer_name", str(tok), "--n_layer", "2", "--n_head", "2", "--n_embd", "64",
                     "--block_size", "64", "--dropout", "0.1", "--max_train_samples", "2000", "--max_train_minutes",
                     "0", "--max_steps", "200", "--per_device_train_batch_size", "16", "--learning_rate", "2e-3"],
        "classify": [*base, "--max_train_minutes", "0", "--per_device_train_batch_size", "16", "--eval_strategy",
                     "no", "--max_seq_length", "64"],
        "sft": [*base, "--per_device_train_batch_size", "8", "--max_length", "64", "--max_train_samples", "1200",
                "--max_eval_samples", "32"],
    }
    # fmt: on
    results = []
    for recipe in opts.recipes:
        result = kill_resume(recipe, [*setups[recipe], *common], opts.work, checkpoint=100, kill_at=130)
        print(json.dumps(result), flush=True)
        results.append(result)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
