"""Pre-tokenization throughput (issue 6): MB of text/s of recipes/pretokenize.py, one process vs --num_proc.

Generates a ~200 MB corpus in a temporary folder (benchmarks/big_corpus.py), trains an 8192-token tokenizer on the
seed text, then runs `python recipes/pretokenize.py --train_file corpus.txt` twice: `--num_proc 1` (one tokenizing
process: datasets 5.2 runs it in a pool of one worker, the same work as a plain single-process map) and
`--num_proc 2`, each with its own empty datasets cache so nothing is reused.
Reports MB of text/s of tokenize + pack (timed inside the recipe: results.json), each command's wall time (text
loading and saving included), the peak RSS of the process tree, and checks both runs wrote the same blocks.
TOKENIZERS_PARALLELISM=false (as under `make`; map sets it for num_proc >= 1 anyway), so --num_proc is the only
parallelism. The tree RSS sums the forked workers, so it counts their shared pages twice. Everything is deleted after.

    python benchmarks/pretokenize_speed.py [--mb 200] [--num_proc 2] [--vocab_size 8192] [--keep]
"""

import argparse
import json
import os
import sys

from big_corpus import run_measured, scratch_folder, seed_tokenizer, write_corpus


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--num_proc", type=int, default=2)
    parser.add_argument("--vocab_size", type=int, default=8192)
    parser.add_argument("--block_size", type=int, default=512)
    parser.add_argument("--keep", action="store_true", help="Keep the corpus and outputs.")
    args = parser.parse_args()

    with scratch_folder("hfrecipes-pretokenize-", args.keep) as work:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        tok = seed_tokenizer(work, env, args.vocab_size)
        corpus = work / "corpus.txt"
        write_corpus(corpus, int(args.mb * 1e6))

        runs = {}
        for name, num_proc in [("num_proc_1", 1), (f"num_proc_{args.num_proc}", args.num_proc)]:
            out = work / name
            cmd = [sys.executable, "recipes/pretokenize.py", "--train_file", str(corpus), "--tokenizer_name", str(tok)]
            cmd += ["--block_size", str(args.block_size), "--num_proc", str(num_proc), "--output_dir", str(out)]
            # A fresh, empty datasets cache per run: nothing tokenized or packed before can be reused.
            figures = run_measured(cmd, {**env, "HF_HOME": str(work / f"hf_{name}")}, work / f"{name}.log")
            results = json.loads((out / "results.json").read_text())
            runs[name] = {
                "text_mb_per_second": round(results["text_mb_per_second"], 2),
                "tokenize_and_pack_seconds": results["tokenize_and_pack_seconds"],
                "tokens": results["train_tokens"] + results.get("validation_tokens", 0),
                **figures,
            }
            print(name, json.dumps(runs[name]), file=sys.stderr)

        from datasets import load_from_disk

        a, b = (load_from_disk(str(work / name)) for name in runs)
        same = all(a[split].data.table.equals(b[split].data.table) for split in a)
        single, multi = runs.values()
        print(
            json.dumps(
                {
                    "corpus_mb": round(corpus.stat().st_size / 1e6, 1),
                    "vocab_size": args.vocab_size,
                    "block_size": args.block_size,
                    "speedup": round(multi["text_mb_per_second"] / single["text_mb_per_second"], 2),
                    "same_blocks": same,
                    "runs": runs,
                    "cpu_count": os.cpu_count(),
                    "load_average_1_5_15": os.getloadavg(),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
