"""recipes/prepare_data.py figures (issue 15): dedup precision/recall, drops, MB/s, peak RSS, effect on pretraining.

    python benchmarks/prepare_data.py dedup                  # injected duplicates, junk, eval sentences (the test)
    python benchmarks/prepare_data.py drops                  # per-filter drop counts on WikiText-2 raw (web.yaml)
    python benchmarks/prepare_data.py speed --mb 40          # MB/s with 1 and 2 workers, same corpus, one by one
    python benchmarks/prepare_data.py memory --sizes_gb 1 4  # peak RSS of the process tree (tasks grow with the size)
    python benchmarks/prepare_data.py pretrain --minutes 2   # bits/byte at equal wall time, with and without the stage

Corpora are generated from ../shared/data (benchmarks/big_corpus.py: WikiText-2 and tinyshakespeare paragraphs,
reshuffled; documents are 3 to 8 paragraphs) in a temporary folder, deleted at the end unless --keep. Each figure
prints one JSON line.
"""

import argparse
import json
import os
import random
import sys
from pathlib import Path

from big_corpus import ROOT, run_measured, scratch_folder, seed_paragraphs

sys.path.insert(0, str(ROOT / "tests"))
SHARED = ROOT.parent / "shared" / "data"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
RECIPE = [sys.executable, str(ROOT / "recipes" / "prepare_data.py")]


def dedup(args, work: Path) -> dict:
    """The test's injected set (tests/test_prepare_data.py): what was caught, precision and recall per kind."""
    import pyarrow.parquet as pq
    from test_prepare_data import GOPHER_QUALITY, N_NEAR, build_corpus

    info = build_corpus(SHARED, work)
    out = work / "prepared"
    cmd = [*RECIPE, "--train_file", str(work / "corpus-*.jsonl"), "--output_dir", str(out), "--workers", "2"]
    cmd += ["--min_chars", "50", "--gopher_quality_args", GOPHER_QUALITY]
    cmd += ["--decontaminate_files", str(SHARED / "glue/SST-2/dev.tsv"), "--decontaminate_columns", "sentence"]
    run_measured(cmd, ENV, work / "dedup.log")
    kept = {i for f in (out / "data").glob("*.parquet") for i in pq.read_table(f, columns=["id"])["id"].to_pylist()}
    report = json.loads((out / "data_report.json").read_text())
    docs = info["docs"]
    figures = {}
    for kind, step in (("exact", "exact_dedup"), ("near", "minhash_dedup")):
        pairs = [(info["id_of"][v["of"]], d) for d, v in docs.items() if v["kind"] == kind]
        caught = sum((a in kept) != (b in kept) for a, b in pairs)
        both_filtered = sum(a not in kept and b not in kept for a, b in pairs)
        dropped = next(s["dropped"] for s in report["steps"] if s["step"] == step)
        figures[kind] = {
            "pairs": len(pairs),
            "caught": caught,
            "both_dropped_by_filters": both_filtered,
            "recall": round(caught / len(pairs), 3),
            "recall_of_pairs_reaching_dedup": round(caught / max(len(pairs) - both_filtered, 1), 3),
            "precision": round(caught / max(dropped, 1), 3),
            "dropped_by_stage": dropped,
        }
    junk = {k: sum(d not in kept for d, v in docs.items() if v["kind"] == k) for k in ("repeated", "symbols", "short")}
    planted = {v["of"] for v in docs.values() if v["kind"] == "planted"}
    named = {o["text"].strip() for o in json.loads((out / "decontamination.json").read_text())["overlaps"]}
    return {
        "figure": "dedup",
        **figures,
        "near_changed_words": 2,
        "n_near": N_NEAR,
        "junk_removed": junk,
        "planted_eval_sentences_named": f"{len(planted & named)}/{len(planted)}",
        "dropped": json.loads((out / "results.json").read_text())["dropped"],
    }


def drops(args, work: Path) -> dict:
    """web.yaml (datatrove's Gopher defaults, C4 on) on WikiText-2 raw test, one document per section."""
    from prepare_data_pretrain import wikitext_sections

    corpus = work / "wikitext.jsonl"
    corpus.write_text("".join(json.dumps({"text": s}) + "\n" for s in wikitext_sections()), encoding="utf-8")
    out = work / "wikitext"
    cmd = [*RECIPE, "--config", str(ROOT / "recipes/configs/prepare_data/web.yaml"), "--train_file", str(corpus)]
    measured = run_measured([*cmd, "--output_dir", str(out), "--workers", "1"], ENV, work / "drops.log")
    results = json.loads((out / "results.json").read_text())
    keys = ("documents_in", "documents_out", "bytes_in", "bytes_out", "duplicates_removed", "dropped")
    return {"figure": "drops", "corpus": "wikitext-2-raw test, sections", **{k: results[k] for k in keys}, **measured}


def write_jsonl_corpus(folder: Path, target_bytes: int, files: int, seed: int = 0) -> int:
    """``files`` jsonl files of distinct documents (3 to 8 paragraphs each, shuffled) totalling ``target_bytes``."""
    paragraphs = seed_paragraphs()
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    handles = [open(folder / f"part-{i:03d}.jsonl", "w", encoding="utf-8") for i in range(files)]
    written, n = 0, 0
    try:
        while written < target_bytes:
            text = "\n\n".join(rng.sample(paragraphs, rng.randint(3, 8)))
            written += handles[n % files].write(json.dumps({"text": text}) + "\n")
            n += 1
    finally:
        for h in handles:
            h.close()
    return sum(p.stat().st_size for p in folder.glob("*.jsonl"))


def _run(corpus: Path, out: Path, workers: int, tasks: int, log: Path, config: str) -> dict:
    cmd = [*RECIPE, "--config", config, "--train_file", str(corpus / "*.jsonl"), "--output_dir", str(out)]
    cmd += ["--workers", str(workers), "--tasks", str(tasks), "--overwrite"]
    measured = run_measured(cmd, ENV, log)
    results = json.loads((out / "results.json").read_text())
    return {
        "workers": workers,
        "tasks": tasks,
        "input_mb": round(results["bytes_in"] / 1e6, 1),
        "documents_in": results["documents_in"],
        "documents_out": results["documents_out"],
        "pipeline_seconds": round(results["seconds"], 1),
        "mb_per_second": round(results["mb_per_second"], 3),
        **measured,
    }


def speed(args, work: Path) -> dict:
    corpus = work / "corpus"
    write_jsonl_corpus(corpus, int(args.mb * 1e6), files=4)
    runs = [_run(corpus, work / f"w{w}", w, max(w, 2), work / f"speed{w}.log", args.config) for w in (1, 2)]
    return {
        "figure": "speed",
        "config": args.config,
        "runs": runs,
        "speedup_2_vs_1": round(runs[0]["wall_seconds"] / runs[1]["wall_seconds"], 2),
    }


def memory(args, work: Path) -> dict:
    runs = []
    for gb in args.sizes_gb:
        corpus = work / f"corpus-{gb}gb"
        tasks = max(2, int(gb * args.tasks_per_gb))
        write_jsonl_corpus(corpus, int(gb * 1e9), files=tasks)
        runs.append(
            {"size_gb": gb, **_run(corpus, work / f"m{gb}", args.workers, tasks, work / f"mem{gb}.log", args.config)}
        )
        print(json.dumps(runs[-1]), file=sys.stderr, flush=True)  # each size as it finishes
        if not args.keep:
            import shutil

            shutil.rmtree(corpus)
    return {"figure": "memory", "config": args.config, "runs": runs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figure", choices=["dedup", "drops", "speed", "memory", "pretrain"])
    parser.add_argument("--mb", type=float, default=40, help="speed: corpus size")
    parser.add_argument("--sizes_gb", type=float, nargs="+", default=[1, 4])
    parser.add_argument("--tasks_per_gb", type=float, default=4, help="memory: tasks grow with the corpus")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=2, help="pretrain: wall-time budget of each run")
    parser.add_argument("--config", default=str(ROOT / "recipes/configs/prepare_data/web.yaml"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with scratch_folder("hfrecipes-prepare-", args.keep) as work:
        if args.figure == "pretrain":
            from prepare_data_pretrain import pretrain_effect

            result = pretrain_effect(args, work)
        else:
            result = globals()[args.figure](args, work)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
