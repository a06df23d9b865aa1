"""The pipeline's report: ``report.md`` and ``report.html`` in its output folder, built from what each stage wrote.

Stage metrics (``results.json``; the budget-matched baselines of :mod:`hfrecipes.baselines` beside them), timings
(``pipeline.json``), loss curves (each stage's ``loss_curve.png`` plus one combined ``loss_curves.png``), benchmark
scores (lm-evaluation-harness, ``recipes/eval.py``: the ``eval`` stage and the ``benchmarks`` each model folder's
results.json collects), tokenizer statistics, sample generations, hardware and library versions (``run_info.json``).
Images are linked by relative paths, so the folder can be moved or zipped.
``hfrecipes report OUTPUT_DIR`` writes it again from the folder.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from .baselines import beside, describe
from .cards import LOSS_CURVE_FILE, _duration, _format, draw_loss_curves, loss_history, plot_loss_curve, read_json
from .errors import UserError
from .runs import INFO_FILE, RESULTS_FILE
from .stages import STAGE_NAMES

COMBINED_FIGURE = "loss_curves.png"
# The metrics of each stage shown in the summary table (classification adds every eval_ metric of its task).
KEY_METRICS = {
    "prepare_data": ["documents_in", "documents_out", "bytes_out", "duplicate_rate"],
    "tokenizer": ["vocab_size", "bytes_per_token"],
    "pretrain": ["eval_loss", "perplexity", "eval_bits_per_byte", "train_tokens_per_second"],
    "sft": ["eval_loss_before", "eval_loss", "eval_mean_token_accuracy"],
    "classify": ["eval_loss"],
}
Block = tuple  # ("h", text) | ("p", text) | ("table", header, rows) | ("img", alt, path) | ("code", text)


def write_report(output_dir: str | Path) -> Path:
    """Writes ``report.md`` and ``report.html`` into a pipeline's output folder; returns the markdown path."""
    out = Path(output_dir)
    state = read_json(out / "pipeline.json")
    names = [n for n in STAGE_NAMES if (out / n).is_dir()]
    if not names:
        raise UserError(f"{out} holds no pipeline stage folder ({', '.join(STAGE_NAMES)}); run hfrecipes pipeline")
    results = {n: read_json(out / n / RESULTS_FILE) for n in names}
    intro = (
        f"Output folder `{out.resolve()}`, pipeline config `{state.get('config', '?')}`. Each stage's resolved "
        "config is in `configs/`, its full output in `logs/`, its model and metrics in its own folder."
    )
    blocks: list[Block] = [("h", "Pipeline report"), ("p", intro)]
    blocks += _summary(names, results, state.get("stages", {}))
    blocks += _benchmarks(names, results)
    blocks += _data_report(out, names)
    blocks += _loss_curves(out, names)
    blocks += _tokenizer(out, results.get("tokenizer"))
    blocks += _samples(results)
    blocks += _environment(out, names)
    (out / "report.md").write_text(to_markdown(blocks), encoding="utf-8")
    (out / "report.html").write_text(to_html(blocks), encoding="utf-8")
    return out / "report.md"


# --- sections


def _summary(names: list[str], results: dict[str, dict], stages: dict[str, dict]) -> list[Block]:
    rows = []
    for name in names:
        res, entry = results[name], stages.get(name, {})
        status = entry.get("status", "?") if res else "not finished"
        rows.append([name, status, _seconds(entry.get("seconds")), _seconds(_train_time(res)), _metrics(name, res)])
    total = sum(stages.get(n, {}).get("seconds") or 0 for n in names)
    notes = [("p", f"{name}: {describe(results[name])}") for name in names if describe(results[name])]
    return [
        ("h2", "Stages"),
        ("table", ["stage", "status", "wall time", "training time", "key metrics"], rows),
        ("p", f"Wall time of the stages as last run: {_seconds(total)} (a skipped stage keeps its earlier time)."),
        *notes,
    ]


def _metrics(name: str, res: dict[str, Any]) -> str:
    keys = list(KEY_METRICS.get(name, []))
    if name == "classify":
        keys += sorted(k for k in res if k.startswith("eval_") and k not in keys and not _hidden_in_summary(k))
        keys += ["task"]
    if name == "eval":  # recipes/eval.py: "arc_easy/acc", ... (not their stderr or example counts)
        keys += [k for k in res if "/" in k and not k.endswith(("_stderr", "/examples"))]
    shown = [k for k in keys if k in res and res[k] is not None]
    return ", ".join(f"{k} {beside(res, k, _format(res[k]), _format)}" for k in shown)


def _benchmarks(names: list[str], results: dict[str, dict]) -> list[Block]:
    """The lm-evaluation-harness scores each model folder collected (``benchmarks`` in its results.json)."""
    rows = []
    for name in names:
        for task, entry in (results[name].get("benchmarks") or {}).items():
            for metric, value in entry.items():
                if metric in _BENCHMARK_INFO or metric.endswith("_stderr") or not isinstance(value, (int, float)):
                    continue
                stderr = entry.get(f"{metric}_stderr")
                shown = _format(value) + (f" ± {_format(stderr)}" if isinstance(stderr, (int, float)) else "")
                shots, limit = entry.get("num_fewshot"), entry.get("limit")
                rows.append([name, task, metric, shown, _format(entry.get("examples")), str(shots), str(limit or "-")])
    if not rows:
        return []
    header = ["model", "task", "metric", "value", "examples", "n-shot", "limit"]
    note = "lm-evaluation-harness through `recipes/eval.py`; a limit means a subset of the task, not comparable."
    return [("h2", "Benchmarks"), ("table", header, rows), ("p", note)]


_BENCHMARK_INFO = {"examples", "num_fewshot", "limit", "apply_chat_template"}


def _data_report(out: Path, names: list[str]) -> list[Block]:
    """The prepare_data stage's drop table (its data_report.json): what each step removed, and why."""
    report = read_json(out / "prepare_data" / "data_report.json") if "prepare_data" in names else {}
    if not report:
        return []
    rows = [
        [
            s["step"],
            f"{s['documents_in']:,}",
            f"{s['documents_out']:,}",
            ", ".join(f"{k} {v:,}" for k, v in s["reasons"].items()),
        ]
        for s in report.get("steps", [])
    ]
    text = (
        f"{report['documents_out']:,} of {report['documents_in']:,} documents kept; duplicate rate "
        f"{report['duplicate_rate']:.1%}. Examples of what was dropped: `prepare_data/data_report.md`."
    )
    return [("h2", "Data preparation"), ("p", text), ("table", ["step", "documents in", "out", "drop reasons"], rows)]


def _loss_curves(out: Path, names: list[str]) -> list[Block]:
    blocks: list[Block] = [("h2", "Loss curves")]
    curves = {}
    for name in names:
        if not (out / name / LOSS_CURVE_FILE).is_file():
            plot_loss_curve(out / name)
        if (out / name / LOSS_CURVE_FILE).is_file():
            curves[name] = f"{name}/{LOSS_CURVE_FILE}"
    if not curves:
        return blocks + [("p", "No stage logged a loss.")]
    _combined_figure(out, list(curves))
    blocks.append(("img", "training loss of every stage", COMBINED_FIGURE))
    blocks += [("img", f"{name} loss", path) for name, path in curves.items()]
    return blocks


def _combined_figure(out: Path, names: list[str]) -> None:
    """One row of panels, the train (and validation) loss of each stage against its steps."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4 * len(names), 3.2), dpi=100)
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        draw_loss_curves(ax, loss_history(out / name))
        ax.set_title(name)
    fig.axes[0].set_ylabel("loss")
    fig.tight_layout()
    fig.savefig(out / COMBINED_FIGURE)


def _tokenizer(out: Path, res: dict[str, Any] | None) -> list[Block]:
    if not res:
        return []
    rows = [[k, _format(res[k])] for k in ("vocab_size", "bytes_per_token", "validation_bytes", "train_seconds")]
    rows.append(["special tokens", ", ".join(f"`{t}`" for t in res.get("special_tokens", []))])
    blocks: list[Block] = [("h2", "Tokenizer"), ("table", ["statistic", "value"], rows)]
    example = "def read_json(path):\n    return json.loads(open(path).read())"
    pieces = _tokenize(out / "tokenizer" / "tokenizer.json", example)
    if pieces:
        blocks += [("p", f"How it splits a line of Python ({len(pieces)} tokens):"), ("code", " | ".join(pieces))]
    return blocks


def _tokenize(path: Path, text: str) -> list[str]:
    if not path.is_file():
        return []
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    return [tokenizer.decode([i]).replace("\n", "\\n") for i in tokenizer.encode(text).ids]


def _samples(results: dict[str, dict]) -> list[Block]:
    blocks: list[Block] = []
    for name, title in (("pretrain", "continuation of"), ("sft", "answer to")):
        res = results.get(name) or {}
        if res.get("sample"):
            prompt = _one_line(res.get("sample_prompt", ""))
            blocks += [("p", f"{name}, {title} `{prompt}`:"), ("code", res["sample"])]
    return [("h2", "Sample generations"), *blocks] if blocks else []


def _environment(out: Path, names: list[str]) -> list[Block]:
    info = next((i for i in (read_json(out / n / INFO_FILE) for n in names) if i), {})
    if not info:
        return []
    hardware = f"{info.get('cpu_count', '?')} CPU cores" + (f", {info['cuda']}" if info.get("cuda") else "")
    rows = [
        ["hardware", f"{hardware}, {info.get('world_size', 1)} process(es)"],
        ["platform", str(info.get("platform"))],
        ["python", str(info.get("python"))],
        ["git commit", f"`{info.get('git_commit')}`"],
        *[[name, str(version)] for name, version in (info.get("versions") or {}).items() if version],
    ]
    return [("h2", "Hardware and versions"), ("table", ["", ""], rows)]


# --- rendering


def to_markdown(blocks: list[Block]) -> str:
    parts = []
    for kind, *args in blocks:
        if kind == "h":
            parts.append(f"# {args[0]}")
        elif kind == "h2":
            parts.append(f"## {args[0]}")
        elif kind == "p":
            parts.append(args[0])
        elif kind == "code":
            parts.append(f"```text\n{args[0]}\n```")
        elif kind == "img":
            parts.append(f"![{args[0]}]({args[1]})")
        elif kind == "table":
            header, rows = args
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def to_html(blocks: list[Block]) -> str:
    parts = []
    for kind, *args in blocks:
        if kind in ("h", "h2"):
            tag = "h1" if kind == "h" else "h2"
            parts.append(f"<{tag}>{_inline(args[0])}</{tag}>")
        elif kind == "p":
            parts.append(f"<p>{_inline(args[0])}</p>")
        elif kind == "code":
            parts.append(f"<pre>{html.escape(args[0])}</pre>")
        elif kind == "img":
            parts.append(f'<p><img src="{html.escape(args[1])}" alt="{html.escape(args[0])}"></p>')
        elif kind == "table":
            header, rows = args
            head = "".join(f"<th>{_inline(h)}</th>" for h in header)
            body = "".join("<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in row) + "</tr>" for row in rows)
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}img{max-width:100%}"
    )
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>Pipeline report</title><style>{style}</style>'
        f"</head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def _inline(text: str) -> str:
    """Markdown's `code` as HTML, the rest escaped."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text))


# --- small helpers


def _train_time(res: dict[str, Any]) -> float | None:
    return res.get("train_runtime") or res.get("train_seconds")


def _hidden_in_summary(key: str) -> bool:
    """Eval keys the summary's metrics column leaves out: loop speeds, and the loss (the first column has it)."""
    return key.endswith(("_runtime", "_per_second")) or key == "eval_loss"


def _seconds(value: Any) -> str:
    return _duration(value) or "-"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:80].replace("`", "'")
