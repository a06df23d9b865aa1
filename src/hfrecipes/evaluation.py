"""Benchmarks through lm-evaluation-harness: the model and task loading, and what its results become in our folders.

The scoring is the harness's own (``lm_eval.simple_evaluate`` over its ``HFLM`` model, to which recipes/eval.py
hands the model it loaded the way every recipe does: :func:`hfrecipes.modeling.load_causal_lm`); this module only

- finds the tokenizer of a LoRA adapter folder, and refuses a classifier folder;
- finds the tasks: the harness's, ours (``src/hfrecipes/tasks/``, e.g. ``python_docs_mc``), the user's YAML files and
  folders, with close matches for a misspelled name. Indexing the harness's ~15k task names takes seconds, so an
  index is built once per process, and only when a task is not ours or the user's;
- turns the harness's result dict into JSON, a headline per task (its metrics with their standard errors), a short
  markdown table, and entries for the model folder's ``results.json`` (``benchmarks``) and model card.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from .errors import UserError, load_error

logger = logging.getLogger(__name__)

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
RESULTS_JSON = "eval_results.json"
RESULTS_MD = "eval_results.md"
_managers: dict[tuple, Any] = {}  # (include paths, harness tasks?, metadata) -> TaskManager, built once per process


def require_harness() -> None:
    """lm-evaluation-harness is an extra (``eval``; ``dev`` has it): a one-line error where it is missing."""
    import importlib.util

    if importlib.util.find_spec("lm_eval") is None:
        raise UserError("recipes/eval.py needs lm-evaluation-harness: pip install 'hfrecipes[eval]' (or lm-eval)")


def task_manager(include_paths: tuple[str, ...] = (), harness_tasks: bool = True, metadata: dict | None = None):
    """The harness's ``TaskManager`` over our tasks, ``include_paths`` and (``harness_tasks``) the harness's own;
    ``metadata`` goes to every task (lm-eval's ``--metadata``: our python_docs_mc reads its ``seed``)."""
    paths = tuple(str(Path(p).resolve()) for p in include_paths)
    key = (paths, harness_tasks, json.dumps(metadata, sort_keys=True))
    if key not in _managers:
        from lm_eval.tasks import TaskManager

        started = time.perf_counter()
        manager = TaskManager(include_path=[str(TASKS_DIR), *paths], include_defaults=harness_tasks, metadata=metadata)
        logger.info("Indexed %d task names in %.1f s", len(manager.all_tasks), time.perf_counter() - started)
        _managers[key] = manager
    return _managers[key]


def split_task_names(tasks: list[str]) -> list[str]:
    """``--tasks a b`` and ``--tasks a,b`` (the harness's spelling) both give ``[a, b]``."""
    return [name.strip() for item in tasks for name in item.split(",") if name.strip()]


def resolve_tasks(tasks: list[str], include_paths: list[str] | None = None, metadata: dict | None = None):
    """The task list for ``simple_evaluate`` and the ``TaskManager`` that knows every name in it.

    A name ending in ``.yaml``/``.yml`` (or naming a file) is a task file of the user's; any other name must be a task,
    group or tag of ours, of ``include_paths`` or of the harness, else a one-line error with the closest names.
    """
    include = tuple(include_paths or ())
    for folder in include:
        if not Path(folder).exists():
            raise UserError(f"--include_path {folder} does not exist; give a folder (or file) of task YAML files")
    specs, names = [], []
    for name in split_task_names(tasks):
        if name.endswith((".yaml", ".yml")) or Path(name).is_file():
            if not Path(name).is_file():
                raise UserError(f"task file not found: {name}; give an existing task YAML file or a task name")
            specs.append(str(Path(name).resolve()))
        else:
            specs.append(name)
            names.append(name)
    if not specs:
        raise UserError("--tasks is empty; give task names (e.g. python_docs_mc, arc_easy) or task YAML files")
    manager = task_manager(include, harness_tasks=False, metadata=metadata)
    if any(n not in manager.all_tasks for n in names):
        manager = task_manager(include, harness_tasks=True, metadata=metadata)
    for name in names:
        if name not in manager.all_tasks:
            close = difflib.get_close_matches(name, manager.all_tasks, n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise UserError(
                f"unknown task '{name}'{hint}; `lm-eval ls tasks` lists the harness's tasks, and a task YAML file of "
                "your own can be given by its path"
            )
    return specs, manager


def dataset_error(err: BaseException) -> str | None:
    """One line for a task dataset that cannot be loaded (missing, gated, a loading script, no connection), or None."""
    import re

    # datasets names the dataset in its messages: "Dataset 'x/y' doesn't exist ...", "... but found x.py"
    quoted = re.search(r"'([^'\s]+)'|found (\S+\.py)", str(err))
    name = (quoted[1] or quoted[2]) if quoted else "?"
    if "Dataset scripts are no longer supported" in str(err):
        return (
            f"a task's dataset is a loading script ({name}), which datasets >= 4 does not run; point a task YAML of "
            "yours at a copy of it stored as parquet/json files (dataset_path), see docs/evaluation.md"
        )
    if message := load_error(err, "dataset", name):
        return f"a task's dataset cannot be loaded: {message}"
    return None


def is_sequence_classifier(name: str) -> bool:
    """True for a local folder holding a classification head (recipes/classify.py), which scores no text."""
    try:
        config = json.loads((Path(name) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return any(a.endswith("ForSequenceClassification") for a in config.get("architectures") or [])


def tokenizer_source(name: str) -> str:
    """Where the tokenizer of ``name`` is: the folder itself, or for a LoRA adapter saved without one, its base."""
    folder = Path(name)
    if (folder / "adapter_config.json").is_file() and not (folder / "tokenizer_config.json").is_file():
        from peft import PeftConfig

        return PeftConfig.from_pretrained(str(folder)).base_model_name_or_path
    return name


def timed_lm_class():
    """``HFLM`` that adds up the seconds spent in the model's requests (the evaluation time, without data loading)."""
    from lm_eval.models.huggingface import HFLM

    class TimedHFLM(HFLM):
        model_seconds = 0.0

        def _timed(self, method, requests, **kwargs):
            started = time.perf_counter()
            try:
                return method(requests, **kwargs)
            finally:
                self.model_seconds += time.perf_counter() - started

        def loglikelihood(self, requests, **kwargs):
            return self._timed(super().loglikelihood, requests, **kwargs)

        def loglikelihood_rolling(self, requests, **kwargs):
            return self._timed(super().loglikelihood_rolling, requests, **kwargs)

        def generate_until(self, requests, **kwargs):
            return self._timed(super().generate_until, requests, **kwargs)

    return TimedHFLM


# --- what the harness returned


def jsonable(value: Any) -> Any:
    """The harness's result dict as strict JSON values (numpy numbers as numbers, NaN/inf and objects as strings)."""
    from lm_eval.utils import handle_non_serializable

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return jsonable(handle_non_serializable(value))


def _headline_names(results: dict) -> list[str]:
    """The entries a reader asked for: tasks and groups with scores of their own that no other entry contains;
    a group without scores of its own (a tag such as ``ai2_arc``) stands for its tasks."""
    subtasks = results.get("group_subtasks", {})
    contained = {child for children in subtasks.values() for child in children}
    scored = results.get("results", {})

    def expand(name: str) -> list[str]:
        if _metrics(scored.get(name, {})) or name not in subtasks:
            return [name] if name in scored else []
        return [n for child in subtasks[name] for n in expand(child)]

    return [n for name in scored if name not in contained for n in expand(name)]


def _metrics(entry: dict) -> dict[str, float | None]:
    """``{"acc": 0.41, "acc_stderr": 0.03, ...}`` from one harness entry (``"acc,none"``, ``"acc_stderr,none"``)."""
    out = {}
    for key, value in entry.items():
        if "," not in key or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        metric, filter_name = key.split(",", 1)
        name = metric if filter_name == "none" else f"{metric},{filter_name}"
        if metric.endswith("_stderr"):
            continue
        stderr = entry.get(f"{metric}_stderr,{filter_name}")
        out[name] = float(value)
        out[f"{name}_stderr"] = float(stderr) if isinstance(stderr, (int, float)) and math.isfinite(stderr) else None
    return out


def _examples(results: dict, name: str) -> int:
    """Examples scored for a task, or for a group: those of its tasks, through its subgroups."""
    if name in results.get("n-samples", {}):
        return results["n-samples"][name].get("effective", 0)
    return sum(_examples(results, child) for child in results.get("group_subtasks", {}).get(name, []))


def headline(results: dict) -> dict[str, dict[str, Any]]:
    """Per task (or group) asked for: its metrics with standard errors, examples, few-shot count and dataset."""
    out = {}
    for name in _headline_names(results):
        config = results.get("configs", {}).get(name, {})
        out[name] = {
            **_metrics(results["results"][name]),
            "examples": _examples(results, name) or None,
            "num_fewshot": results.get("n-shot", {}).get(name),
            "dataset": config.get("dataset_path"),
            "dataset_config": config.get("dataset_name"),
            "split": config.get("test_split") or config.get("validation_split"),
            "higher_is_better": results.get("higher_is_better", {}).get(name, {}),
        }
    return out


_INFO_KEYS = {"examples", "num_fewshot", "dataset", "dataset_config", "split", "higher_is_better"}


def flat_results(scores: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{"arc_easy/acc": 0.41, "arc_easy/acc_stderr": 0.03, "arc_easy/examples": 100, ...}`` for results.json."""
    return {
        f"{task}/{key}": value
        for task, entry in scores.items()
        for key, value in entry.items()
        if key == "examples" or (key not in _INFO_KEYS and value is not None)
    }


def markdown_table(scores: dict[str, dict[str, Any]], header: str) -> str:
    """The headline numbers as a short markdown table (``eval_results.md``)."""
    lines = [header, "", "| task | metric | value | stderr | examples | n-shot |", "|---|---|---|---|---|---|"]
    for task, entry in scores.items():
        for metric, value in entry.items():
            if metric in _INFO_KEYS or metric.endswith("_stderr"):
                continue
            stderr = entry.get(f"{metric}_stderr")
            arrow = {True: " ↑", False: " ↓"}.get(entry["higher_is_better"].get(metric.split(",")[0]), "")
            lines.append(
                f"| {task} | {metric}{arrow} | {value:.4f} | {'-' if stderr is None else f'{stderr:.4f}'} "
                f"| {entry['examples'] or '-'} | {entry['num_fewshot'] if entry['num_fewshot'] is not None else '-'} |"
            )
    return "\n".join(lines) + "\n"


def speed(results: dict, started: float, model_seconds: float) -> dict[str, Any]:
    """Examples scored, the harness call's wall time (``speed_metrics``: data preparation included) and the model's
    own time per example (``examples_per_second``, ``seconds_per_1000_examples``)."""
    from transformers.trainer_utils import speed_metrics

    examples = sum(n.get("effective", 0) for n in results.get("n-samples", {}).values())
    return {
        "examples": examples,
        **speed_metrics("eval", started, num_samples=examples),
        "model_seconds": model_seconds,
        "examples_per_second": examples / model_seconds if model_seconds else None,
        "seconds_per_1000_examples": 1000 * model_seconds / examples if examples else None,
    }


def benchmark_entries(scores: dict[str, dict[str, Any]], **run: Any) -> dict[str, dict[str, Any]]:
    """What goes into the model folder's ``results.json`` under ``benchmarks``: per task, its headline and ``run``
    (few-shot count, limit, chat template, where the full results are)."""
    return {task: {k: v for k, v in entry.items() if k != "higher_is_better"} | run for task, entry in scores.items()}


def results_location(output_dir: str | Path, model_dir: str | Path) -> str:
    """Where the full results are, as the model folder records it: relative to it when inside (``eval``), so the
    folder can move or be pushed; otherwise the absolute path."""
    out, model = Path(output_dir).resolve(), Path(model_dir).resolve()
    return str(out.relative_to(model)) if out.is_relative_to(model) else str(out)


def merge_into_model_folder(folder: str | Path, entries: dict[str, dict[str, Any]]) -> bool:
    """Adds ``entries`` to a finished run's ``results.json`` (``benchmarks``, task by task) and to its model card's
    model-index. A folder without ``results.json`` (not one of our runs, or unfinished) is left alone: ``False``."""
    from .cards import add_benchmark_results
    from .runs import RESULTS_FILE, write_results

    path = Path(folder) / RESULTS_FILE
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    results["benchmarks"] = {**(results.get("benchmarks") or {}), **entries}
    write_results(folder, results)
    add_benchmark_results(folder, entries)
    return True
