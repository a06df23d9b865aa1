"""Helpers of the scaling benchmarks: a big text corpus generated from the shared data, and a process tree's memory.

The corpus repeats the paragraphs of tinyshakespeare and wikitext-2-raw, each copy in its own shuffled order under
its own heading, until it reaches the asked size; paragraphs are blank-line separated (one document each).
"""

import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HFRECIPES_SHARED_DATA", ROOT.parent / "shared" / "data"))


def seed_paragraphs() -> list[str]:
    shakespeare = (SHARED / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8").split("\n\n")
    wiki = (SHARED / "wikitext-2-raw" / "wiki.test.raw").read_text(encoding="utf-8").splitlines()
    return [p.strip() for p in shakespeare + wiki if p.strip()]


@contextlib.contextmanager
def scratch_folder(prefix: str, keep: bool = False):
    """A temporary folder for the corpora and runs, deleted at the end (even on failure) unless ``keep``."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        if keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def seed_tokenizer(work: Path, env: dict, vocab_size: int) -> Path:
    """A BPE tokenizer trained on the seed paragraphs by recipes/train_tokenizer.py, in ``work/tokenizer``."""
    seed, tok = work / "seed.txt", work / "tokenizer"
    seed.write_text("\n\n".join(seed_paragraphs()), encoding="utf-8")
    cmd = [sys.executable, "recipes/train_tokenizer.py", "--train_file", str(seed), "--vocab_size", str(vocab_size)]
    run_measured([*cmd, "--output_dir", str(tok)], {**env, "HF_HOME": str(work / "hf_tok")}, work / "tokenizer.log")
    return tok


def write_corpus(path: Path, target_bytes: int) -> int:
    """Writes about ``target_bytes`` of text to ``path``; returns the bytes written."""
    paragraphs = seed_paragraphs()
    written, copy = 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target_bytes:
            random.Random(copy).shuffle(paragraphs)
            chunk = f"= Copy {copy} =\n\n" + "\n\n".join(paragraphs) + "\n\n"
            written += f.write(chunk)  # characters; the seed text is nearly all ASCII
            copy += 1
    return path.stat().st_size


def run_measured(cmd: list[str], env: dict, log: Path, interval: float = 0.2) -> dict:
    """Runs ``cmd`` and polls the summed RSS of its whole process tree; returns wall time and memory figures."""
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        root = psutil.Process(proc.pid)
        samples = []
        while proc.poll() is None:
            total, largest = 0, 0
            for p in [root, *root.children(recursive=True)]:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:  # exited between listing and reading
                    continue
                total, largest = total + rss, max(largest, rss)
            samples.append((time.perf_counter() - start, total, largest))
            time.sleep(interval)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[2:4]} failed ({proc.returncode}); see {log}")
    gib = 2**30
    return {
        "wall_seconds": round(wall, 1),
        "peak_tree_rss_gib": round(max(s[1] for s in samples) / gib, 3),
        "peak_process_rss_gib": round(max(s[2] for s in samples) / gib, 3),
        # Tree RSS at a quarter, half and three quarters of the wall time: flat if nothing accumulates.
        "tree_rss_gib_at_25_50_75pct": [
            round(next(s[1] for s in samples if s[0] >= q * wall) / gib, 3) for q in (0.25, 0.5, 0.75)
        ],
    }
