"""The finish stage of :mod:`hfrecipes.prep` (run by :class:`hfrecipes.prep_steps.Finish`): the data report
(``data_report.md``/``.json``), the dataset card (``README.md``, Hub layout), the shards moved into
``<output_dir>/data``, and ``results.json``, last.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from .errors import UserError
from .prep_config import WORK_DIR, PrepareDataArguments

DATA_DIR = "data"  # inside output_dir: the prepared shards, named as the Hub's parquet layout wants
REPORT_JSON = "data_report.json"
REPORT_MD = "data_report.md"
DECONT_FILE = "decontamination.json"
_EXAMPLES_PER_REASON = 3


def _stage_stats(work: Path, stage: str) -> list[dict]:
    path = work / "logs" / stage / "stats.json"
    if not path.is_file():  # a stage whose tasks all ran before (resumed): sum the per-task files
        from datatrove.utils.stats import PipelineStats

        total = PipelineStats()
        for part in sorted((work / "logs" / stage / "stats").glob("*.json")):
            total += PipelineStats.from_json(json.loads(part.read_text()))
        return json.loads(total.to_json()) if total.stats else []
    return json.loads(path.read_text())


def _examples(folder: Path, limit: int = _EXAMPLES_PER_REASON) -> dict[str, list[dict]]:
    """A few dropped documents per reason, from the exclusion writers' files."""
    found: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                doc = json.loads(line)
                reason = (doc.get("metadata") or {}).get("filter_reason") or "dropped"
                if len(found.setdefault(reason, [])) < limit:
                    found[reason].append({"id": doc.get("id"), "text": doc.get("text", "")[:300]})
    return found


def _number(stats: dict, key: str) -> float:
    value = stats.get(key, 0)
    return value.get("total", 0) if isinstance(value, dict) else value


def build_report(args: PrepareDataArguments, out: Path, eval_texts: list[dict] | None = None) -> dict[str, Any]:
    """Documents and bytes in and out per step, drop reasons with counts and examples, duplicate rate, tokens."""
    work = out / WORK_DIR
    steps = []
    for stage in ("filter", "exact_filter", "output"):
        for step in _stage_stats(work, stage):
            name = _step_key(step["name"])
            if name is None:
                continue
            stats = step["stats"]
            total = _number(stats, "total")
            kept = _number(stats, "forwarded") if "forwarded" in stats or "dropped" in stats else total
            steps.append(
                {
                    "step": name,
                    "documents_in": total,
                    "documents_out": kept,
                    "dropped": total - kept,
                    "chars_out": _number(stats, "doc_len"),
                    "reasons": {k.removeprefix("dropped_"): v for k, v in stats.items() if k.startswith("dropped_")},
                }
            )
    counts = {}
    for stage, name in (("filter", "input"), ("output", "output")):
        for step in _stage_stats(work, stage):
            if step["name"].endswith(f"STATS: {name}"):
                counts[name] = step["stats"]
    source = next((s["stats"] for s in _stage_stats(work, "filter") if "READER" in s["name"]), {})
    inp, outp = counts.get("input", {}), counts.get("output", {})
    dedup = [s for s in steps if s["step"] in ("exact_dedup", "minhash_dedup")]
    duplicates = sum(s["dropped"] for s in dedup)
    after_filters = dedup[0]["documents_in"] if dedup else None
    removed = work / "removed"
    examples = {name.name: _examples(name) for name in sorted(removed.glob("*")) if name.is_dir()}
    report = {
        "documents_in": _number(inp, "total"),
        "bytes_in": _number(inp, "bytes"),
        "words_in": _number(inp, "words"),
        "documents_out": _number(outp, "total"),
        "bytes_out": _number(outp, "bytes"),
        "words_out": _number(outp, "words"),
        "tokens_out": _number(outp, "tokens") if args.tokenizer_name else None,
        "tokenizer": args.tokenizer_name,
        "skipped_empty_rows": _number(source, "skipped_empty"),
        "duplicates_removed": duplicates,
        "duplicate_rate": duplicates / after_filters if after_filters else 0.0,
        "steps": steps,
        "examples": examples,
    }
    report["decontamination"] = _decont_report(args, work, eval_texts) if eval_texts else None
    return report


# datatrove's step names -> the config's names for them (the ones the removed/ folders and results.json use)
_STEP_KEYS = {
    "hfrecipes clean": "clean",
    "hfrecipes length": "length",
    "Gopher Repetition": "gopher_repetition",
    "Gopher Quality": "gopher_quality",
    "C4 Quality": "c4",
    "Language ID": "language",
    "exact-deduplication stage 3": "exact_dedup",
    "MinHash stage 4": "minhash_dedup",
    "hfrecipes decontaminate": "decontaminate",
}


def _step_key(name: str) -> str | None:
    return next((key for label, key in _STEP_KEYS.items() if name.endswith(label)), None)


def _decont_report(args: PrepareDataArguments, work: Path, eval_texts: list[dict]) -> dict[str, Any]:
    """Which evaluation texts (read once, at the start, by the recipe) the decontamination step found, and where."""
    overlaps: dict[int, list[str]] = {}
    ngrams: dict[int, str] = {}
    for path in sorted((work / "decont").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            for i in item["eval"]:
                overlaps.setdefault(i, []).append(item["doc"])
                ngrams.setdefault(i, item["ngram"])
    examples = [
        {**eval_texts[i], "training_documents": docs[:5], "training_document_count": len(docs), "ngram": ngrams[i]}
        for i, docs in sorted(overlaps.items())
    ]
    docs = {d for item in overlaps.values() for d in item}
    return {
        "eval_files": sorted({t["file"] for t in eval_texts}),
        "eval_texts": len(eval_texts),
        "ngram": args.decontaminate_ngram,
        "action": args.decontaminate_action,
        "eval_texts_overlapping": len(examples),
        "training_documents_overlapping": len(docs),
        "overlaps": examples,
    }


def report_markdown(report: dict[str, Any]) -> str:
    mb = 1e6
    lines = [
        "# Data report",
        "",
        f"- documents: {report['documents_in']:,} in, {report['documents_out']:,} out "
        f"({_share(report['documents_out'], report['documents_in'])} kept)",
        f"- bytes: {report['bytes_in'] / mb:,.2f} MB in, {report['bytes_out'] / mb:,.2f} MB out",
        f"- words out: {report['words_out']:,}"
        + (f"; tokens out: {report['tokens_out']:,} ({report['tokenizer']})" if report.get("tokens_out") else ""),
        f"- duplicates removed: {report['duplicates_removed']:,} (duplicate rate {report['duplicate_rate']:.1%} "
        "of the documents left after filtering)",
        "",
        "| step | documents in | out | dropped | reasons |",
        "|---|---:|---:|---:|---|",
    ]
    for step in report["steps"]:
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(step["reasons"].items(), key=lambda kv: -kv[1]))
        lines.append(
            f"| {step['step']} | {step['documents_in']:,} | {step['documents_out']:,} | {step['dropped']:,} "
            f"| {reasons} |"
        )
    if report["examples"]:
        lines += ["", "## Examples of dropped documents", ""]
        for step, reasons in report["examples"].items():
            for reason, docs in reasons.items():
                lines.append(f"- **{step} / {reason}**:")
                lines += [f"  - `{d['id']}`: {_quote(d['text'])}" for d in docs]
    decont = report.get("decontamination")
    if decont:
        lines += [
            "",
            "## Decontamination",
            "",
            f"{decont['eval_texts_overlapping']:,} of {decont['eval_texts']:,} evaluation texts share a "
            f"{decont['ngram']}-gram with {decont['training_documents_overlapping']:,} training documents "
            f"({'dropped' if decont['action'] == 'drop' else 'reported, kept'}); "
            f"files: {', '.join(decont['eval_files'])}.",
            "",
        ]
        for item in decont["overlaps"][:20]:
            lines.append(
                f"- {item['file']} row {item['row']} ({item['column']}): {_quote(item['text'])} — in "
                f"{item['training_document_count']} document(s), e.g. `{item['training_documents'][0]}`"
            )
    return "\n".join(lines) + "\n"


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _quote(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return (text[:limit] + "…") if len(text) > limit else text


def dataset_card(args: PrepareDataArguments, report: dict[str, Any], files: list[str]) -> str:
    """README.md in the Hub's dataset layout: ``configs:`` names the shards, so ``load_dataset`` reads them."""
    import yaml

    pattern = f"{DATA_DIR}/train-*.{'parquet' if args.output_format == 'parquet' else 'jsonl'}"
    header = {"configs": [{"config_name": "default", "data_files": [{"split": "train", "path": pattern}]}]}
    source = ", ".join(args.train_file) if args.train_file else args.dataset_name
    return (
        f"---\n{yaml.safe_dump(header, sort_keys=False)}---\n\n"
        f"# Prepared corpus\n\nPrepared from {source} with hfrecipes' `recipes/prepare_data.py` (datatrove): "
        f'{len(files)} shard(s). Load it with `datasets.load_dataset("<this repo>")`; train on it with '
        f'`--dataset_name <this repo>`, or locally with `--train_file "{pattern}"`.\n\n'
        + report_markdown(report).replace("# Data report", "## Data report", 1)
    )


def finish(args: PrepareDataArguments, out: Path, eval_texts: list[dict] | None = None) -> dict[str, Any]:
    """Checks the output is not empty, writes the report and card, moves the shards into ``data/``, then
    ``results.json``. Nothing already in ``out`` is replaced before the checks pass."""
    from .runs import staged_save, write_results

    work = out / WORK_DIR
    report = build_report(args, out, eval_texts)
    if report["documents_out"] == 0:
        reasons = [f"{s['step']} {s['dropped']:,}" for s in report["steps"] if s["dropped"]]
        raise UserError(
            f"every one of the {report['documents_in']:,} documents was removed "
            f"({', '.join(reasons) or 'none read'}); "
            "loosen the thresholds (e.g. --gopher_quality_args, --min_chars) or turn filters off"
        )
    produced = sorted(p for p in (work / "output").glob("*") if p.is_file())
    names = [f"train-{i:05d}-of-{len(produced):05d}{p.suffix}" for i, p in enumerate(produced)]
    timing = json.loads((work / "timing.json").read_text()) if (work / "timing.json").is_file() else {}
    with staged_save(out) as staging:
        (staging / DATA_DIR).mkdir()
        for path, name in zip(produced, names, strict=True):
            shutil.copy2(path, staging / DATA_DIR / name) if args.keep_work else os.replace(
                path, staging / DATA_DIR / name
            )
        (staging / REPORT_JSON).write_text(json.dumps(report, indent=2), encoding="utf-8")
        (staging / REPORT_MD).write_text(report_markdown(report), encoding="utf-8")
        (staging / "README.md").write_text(dataset_card(args, report, names), encoding="utf-8")
    seconds = timing.get("seconds")
    results = {
        **{k: v for k, v in report.items() if k not in ("steps", "examples", "decontamination")},
        # per step, and per reason where the step gives one: {"gopher_quality/gopher_short_doc": 3, "exact_dedup": 2}
        "dropped": {
            **{s["step"]: s["dropped"] for s in report["steps"] if s["dropped"] and not s["reasons"]},
            **{f"{s['step']}/{r}": n for s in report["steps"] for r, n in s["reasons"].items()},
        },
        "files": [f"{DATA_DIR}/{n}" for n in names],
        "workers": args.workers,
        "tasks": args.num_tasks,
        "seconds": seconds,
        "mb_per_second": report["bytes_in"] / 1e6 / seconds if seconds else None,
    }
    if report["decontamination"]:
        d = report["decontamination"]
        results.update(
            eval_texts_overlapping=d["eval_texts_overlapping"],
            training_documents_overlapping=d["training_documents_overlapping"],
        )
        (out / DECONT_FILE).write_text(json.dumps(d, indent=2), encoding="utf-8")
    write_results(out, results)
    return results
