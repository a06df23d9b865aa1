"""Streaming pretraining memory (issue 6): peak RSS of the process tree on 1 GB and 4 GB corpora, and tokens/s.

Generates the corpora in a temporary folder from the shared text (benchmarks/big_corpus.py), trains a tokenizer on
the seed text, then runs `accelerate launch recipes/pretrain.py --streaming` with a tiny GPT-2 for a fixed number of
steps on each corpus, and once more on the 4 GB corpus for 4x the steps (memory must not grow with the step count).
Polls the summed RSS of the launcher and its children with psutil. Goal: < 2 GiB, flat from 1 GB to 4 GB. The
corpora are deleted at the end. torch runs one intra-op thread by default (--threads): on cores shared with other
work, two spinning OpenMP threads can make a tiny model's steps 20x slower and the tokens/s meaningless.

    python benchmarks/streaming_memory.py [--sizes_gb 1 4] [--steps 300] [--threads 1] [--keep]
"""

import argparse
import json
import os
import sys

from big_corpus import run_measured, scratch_folder, seed_tokenizer, write_corpus

# fmt: off
TINY = ["--n_layer", "2", "--n_head", "2", "--n_embd", "64", "--block_size", "128",
        "--per_device_train_batch_size", "8", "--max_train_minutes", "0", "--max_eval_samples", "200",
        "--save_strategy", "no", "--report_to", "none", "--logging_steps", "50", "--disable_tqdm", "true",
        "--overwrite"]
# fmt: on


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes_gb", type=float, nargs="+", default=[1, 4])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the training process.")
    parser.add_argument("--keep", action="store_true", help="Keep the generated corpora and runs.")
    args = parser.parse_args()

    with scratch_folder("hfrecipes-streaming-", args.keep) as work:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        env["OMP_NUM_THREADS"] = str(args.threads)
        env["HF_HOME"] = str(work / "hf")  # streaming must not need the datasets cache; an empty one proves it
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "accelerate_configs/cpu.yaml"]
        tok = seed_tokenizer(work, env, vocab_size=4096)
        corpora = {}
        for gb in args.sizes_gb:
            corpora[gb] = work / f"corpus_{gb:g}gb.txt"
            write_corpus(corpora[gb], int(gb * 1e9))
        plan = [(gb, args.steps) for gb in args.sizes_gb] + [(max(args.sizes_gb), 4 * args.steps)]
        runs = []
        for gb, steps in plan:
            out = work / f"run_{gb:g}gb_{steps}"
            cmd = [
                *launch,
                "recipes/pretrain.py",
                "--train_file",
                str(corpora[gb]),
                "--streaming",
                "--tokenizer_name",
                str(tok),
                *TINY,
                "--max_steps",
                str(steps),
                "--output_dir",
                str(out),
            ]
            figures = run_measured(cmd, env, work / f"{out.name}.log")
            results = json.loads((out / "results.json").read_text())
            runs.append(
                {
                    "corpus_gb": round(corpora[gb].stat().st_size / 1e9, 2),
                    "steps": results["train_steps"],
                    "train_tokens_per_second": round(results["train_tokens_per_second"]),
                    "eval_loss": round(results["eval_loss"], 3),
                    **figures,
                }
            )
            print(json.dumps(runs[-1]), file=sys.stderr)
        peaks = [r["peak_tree_rss_gib"] for r in runs]
        print(
            json.dumps(
                {
                    "model": "GPT-2 2x64, block 128, batch 8, vocab 4096; accelerate_configs/cpu.yaml",
                    "torch_threads": args.threads,
                    "goal": "peak tree RSS < 2 GiB, flat between corpus sizes and step counts",
                    "peak_tree_rss_gib_max": max(peaks),
                    "peak_spread_gib": round(max(peaks) - min(peaks), 3),
                    "runs": runs,
                    "cpu_count": os.cpu_count(),
                    "load_average_1_5_15": os.getloadavg(),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
