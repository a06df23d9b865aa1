"""Tokenizer training speed (issue 2, figure 3): recipes/train_tokenizer.py vs raw `tokenizers` on the same files.

Builds a >= 25 MB corpus in /tmp by repeating tinyshakespeare, then times, side by side and alternating:
  recipe: python recipes/train_tokenizer.py --train_file big.txt (whole command: imports, datasets load, training,
          saving, bytes/token on the validation file)
  raw:    a script calling tokenizers' Tokenizer.train([big.txt]) with the same model, trainer and special tokens.
Both are separate processes, so both pay their own start-up.

    python benchmarks/tokenizer_speed.py [--repeat 23] [--vocab_size 8192] [--rounds 2]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HFRECIPES_SHARED_DATA", ROOT.parent / "shared" / "data")) / "tinyshakespeare" / "input.txt"

RAW = """
import sys
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from hfrecipes.tokenization import SPECIAL_TOKENS
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=int(sys.argv[2]), min_frequency=2, special_tokens=SPECIAL_TOKENS,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
tok.train([sys.argv[1]], trainer=trainer)
tok.save(sys.argv[3])
"""


def timed(cmd, env):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=23)
    parser.add_argument("--vocab_size", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hfrecipes-tokbench-"))
    text = DATA.read_text(encoding="utf-8")
    big, val = work / "big.txt", work / "val.txt"
    big.write_text(text * args.repeat, encoding="utf-8")
    val.write_text(text[-100_000:], encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(work / "hf")}
    recipe = [
        sys.executable,
        "recipes/train_tokenizer.py",
        "--train_file",
        str(big),
        "--validation_file",
        str(val),
        "--vocab_size",
        str(args.vocab_size),
        "--output_dir",
        str(work / "recipe_tok"),
        "--overwrite",
    ]
    raw = [sys.executable, "-c", RAW, str(big), str(args.vocab_size), str(work / "raw_tokenizer.json")]

    times = {"recipe_cold_cache": timed(recipe, env), "recipe": [], "raw": []}
    for _ in range(args.rounds):
        times["raw"].append(timed(raw, env))
        times["recipe"].append(timed(recipe, env))
    recipe_s, raw_s = statistics.median(times["recipe"]), statistics.median(times["raw"])
    results = json.loads((work / "recipe_tok" / "results.json").read_text())
    print(
        json.dumps(
            {
                "corpus_mb": round(big.stat().st_size / 1e6, 1),
                "vocab_size": args.vocab_size,
                "raw_seconds": round(raw_s, 2),
                "recipe_seconds": round(recipe_s, 2),
                "recipe_seconds_first_run_cold_datasets_cache": round(times["recipe_cold_cache"], 2),
                "recipe_train_seconds_inside": results["train_seconds"],
                "ratio_recipe_over_raw": round(recipe_s / raw_s, 3),
                "goal_ratio": 1.25,
                "runs": {k: v for k, v in times.items() if isinstance(v, list)},
            },
            indent=2,
        )
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
