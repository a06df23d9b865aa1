"""The effect of recipes/prepare_data.py on a pretraining figure: bits/byte at equal wall time, same held-out text.

A "crawl" is made from WikiText-2 raw (the first 90% of its sections, heading and paragraphs, as documents): every
section once, a third of them again 1-4 times (web text repeats), a fifth wrapped in an HTML page with navigation
and a footer, and junk documents (cookie banners repeated, symbol soup, one-liners) at 15% of the documents. The
last 10% of the sections, clean and never in the crawl, are the validation text of both runs. Run A trains a
tokenizer and a tiny GPT-2 on the crawl as it is; run B first prepares it (web.yaml: HTML extraction, Gopher, C4,
exact and MinHash dedup), then trains both on the result. Both pretrain for the same wall time (--minutes).

    python benchmarks/prepare_data.py pretrain --minutes 2
"""

import json
import random
import sys
from pathlib import Path

from big_corpus import ROOT, run_measured

SHARED = ROOT.parent / "shared" / "data"


def _page(text: str, i: int) -> str:
    return (
        f"<!DOCTYPE html><html><head><title>Article {i}</title></head><body><nav>Home | News | Sport | Login | "
        f"Subscribe</nav><div class='ad'>Advertisement</div><article><p>{text}</p></article><footer>Copyright 2024 "
        "Example Media. All rights reserved. Privacy policy | Cookie settings</footer></body></html>"
    )


def wikitext_sections() -> list[str]:
    """WikiText-2 raw (test) as documents: each section, its heading and its paragraphs (a page, not a line)."""
    lines = (SHARED / "wikitext-2-raw" / "wiki.test.raw").read_text(encoding="utf-8").splitlines()
    sections, current = [], []
    for line in (x.strip() for x in lines):
        if line.startswith("=") and current:
            sections.append("\n\n".join(current))
            current = []
        if line:
            current.append(line)
    return sections + ["\n\n".join(current)]


def make_crawl(work: Path, seed: int = 0) -> tuple[Path, Path]:
    rng = random.Random(seed)
    paragraphs = [s for s in wikitext_sections() if len(s.split()) >= 50]
    cut = int(0.9 * len(paragraphs))
    train, held_out = paragraphs[:cut], paragraphs[cut:]
    docs = list(train)
    docs += [p for p in train if rng.random() < 1 / 3 for _ in range(rng.randint(1, 4))]
    docs = [_page(d, i) if rng.random() < 0.2 else d for i, d in enumerate(docs)]
    junk = [
        "We use cookies to improve your experience. Accept all cookies.\n" * 20,
        " ".join(rng.choice("#$%&*@!^~|<>{}=+") * rng.randint(1, 5) for _ in range(200)),
        "Click here",
    ]
    docs += [rng.choice(junk) + f" {i}" for i in range(int(0.15 * len(docs)))]
    rng.shuffle(docs)
    crawl = work / "crawl.jsonl"
    crawl.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs), encoding="utf-8")
    # the same held-out paragraphs in the format of each run's training files (a recipe takes one file type)
    import pyarrow as pa
    import pyarrow.parquet as pq

    (work / "validation.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in held_out), encoding="utf-8")
    pq.write_table(pa.table({"text": held_out}), work / "validation.parquet")
    return crawl, work / "validation.jsonl"


def _train(work: Path, name: str, train_file: str, validation: Path, minutes: float, env: dict) -> dict:
    tok, lm = work / f"{name}-tok", work / f"{name}-lm"
    py = sys.executable
    run_measured(
        [py, str(ROOT / "recipes/train_tokenizer.py"), "--train_file", train_file, "--vocab_size", "2048",
         "--output_dir", str(tok)], env, work / f"{name}-tok.log")  # fmt: skip
    measured = run_measured(
        [py, str(ROOT / "recipes/pretrain.py"), "--train_file", train_file, "--validation_file", str(validation),
         "--tokenizer_name", str(tok), "--max_train_minutes", str(minutes), "--save_strategy", "no",
         "--report_to", "none", "--output_dir", str(lm)], env, work / f"{name}-lm.log")  # fmt: skip
    results = json.loads((lm / "results.json").read_text())
    keys = ("eval_bits_per_byte", "train_steps", "train_tokens", "train_runtime")
    return {**{k: results.get(k) for k in keys}, "wall_seconds": measured["wall_seconds"]}


def pretrain_effect(args, work: Path) -> dict:
    import os

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    crawl, validation = make_crawl(work)
    raw = _train(work, "raw", str(crawl), validation, args.minutes, env)
    prepared = work / "prepared"
    cmd = [sys.executable, str(ROOT / "recipes/prepare_data.py"), "--config", args.config, "--train_file", str(crawl)]
    cmd += ["--output_dir", str(prepared), "--workers", str(args.workers)]
    prep = run_measured(cmd, env, work / "prepare.log")
    prep_results = json.loads((prepared / "results.json").read_text())
    clean = _train(
        work, "prepared", str(prepared / "data" / "*.parquet"), work / "validation.parquet", args.minutes, env
    )
    return {
        "figure": "pretrain",
        "minutes_each": args.minutes,
        "crawl_documents": prep_results["documents_in"],
        "crawl_mb": round(prep_results["bytes_in"] / 1e6, 2),
        "prepared_documents": prep_results["documents_out"],
        "prepared_mb": round(prep_results["bytes_out"] / 1e6, 2),
        "prepare_seconds": prep["wall_seconds"],
        "raw": raw,
        "prepared": clean,
        "bits_per_byte_gain": round(raw["eval_bits_per_byte"] - clean["eval_bits_per_byte"], 4),
    }
