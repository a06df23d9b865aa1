"""Runs every bad input of tests/bad_inputs.py as a user would (`python recipes/X.py ...`) and prints the markdown
table of input -> the one-line error it gave.

    python benchmarks/bad_inputs_table.py            # ~2-4 min on 2 CPU cores: one process per case
    python benchmarks/bad_inputs_table.py --lm outputs/pretrain

The cases that fine-tune need a small model folder: --lm, or a tiny one trained here first (~30 s).
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bad_inputs import CASES, prepare, run  # noqa: E402
from conftest import load_recipe  # noqa: E402


def tiny_lm(folder: Path) -> Path:
    """A 512-token tokenizer and a one-layer GPT-2 trained for 5 steps: enough for errors about a model folder."""
    load_recipe("train_tokenizer").main(
        ["--vocab_size", "512", "--max_train_samples", "300", "--output_dir", str(folder / "tok")]
    )
    pretrain = ["--tokenizer_name", str(folder / "tok"), "--n_layer", "1", "--n_head", "2", "--n_embd", "32"]
    pretrain += ["--block_size", "64", "--max_train_samples", "100", "--max_steps", "5", "--max_train_minutes", "0"]
    pretrain += ["--save_strategy", "no", "--report_to", "none", "--output_dir", str(folder / "lm")]
    load_recipe("pretrain").main(pretrain)
    return folder / "lm"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lm", type=Path, help="Model folder from recipes/pretrain.py (default: train a tiny one).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        lm = args.lm.resolve() if args.lm else tiny_lm(root)
        rows = []
        for case in CASES:
            tmp = root / case.id
            outcome = run(case, prepare(case, tmp, lm), tmp, in_subprocess=True)
            errors = [line for line in outcome.stderr.splitlines() if line.startswith("error: ")]
            message = errors[-1] if errors else f"(no error line; exit {outcome.returncode})"
            message = message.replace(str(tmp), "DIR").replace(str(lm), "LM")
            message = message.replace("|", "\\|")
            rows.append(f"| {case.input} | `{case.recipe}` | {outcome.returncode} | `` {message} `` |")
            print(f"{case.id}: {outcome.returncode}", file=sys.stderr)
    print("| input | recipe | exit | message |\n|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
