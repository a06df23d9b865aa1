"""Model cards: ``README.md`` (a huggingface_hub ``ModelCard``) and ``loss_curve.png``, written into every run folder.

The card is built from what the run left in its folder (``run_info.json``, ``run_config.yaml``, ``results.json``,
``trainer_state.json``, ``config.json``) plus the few facts only the recipe knows: pipeline tag, base model, and
which metrics go into the model-index. Its usage snippet loads from the folder, or from ``repo_id`` when the push
target is known; ``hfrecipes push`` to another repo points the snippet there and keeps the rest, user edits included.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .baselines import beside, describe, is_baseline
from .runs import CONFIG_FILE, INFO_FILE, RESULTS_FILE, is_main_process

logger = logging.getLogger(__name__)

CARD_FILE = "README.md"
LOSS_CURVE_FILE = "loss_curve.png"
DEFAULT_LICENSE = "apache-2.0"

TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

{{ description }}

## Usage

```python
{{ usage }}
```
{% if metrics %}
## Results

| metric | value |
|---|---|
{% for name, value in metrics %}| {{ name }} | {{ value }} |
{% endfor %}{% if baselines %}
{{ baselines }}
{% endif %}{% endif %}{% if sample %}
Sample (prompt `{{ sample_prompt }}`):

```text
{{ sample }}
```
{% endif %}
## Training

- Recipe: hfrecipes `recipes/{{ recipe }}.py`{% if git_commit %} at commit \
`{{ git_commit }}`{% endif %}
- Command: `{{ command }}`
- Data: {{ data }}
- Hardware: {{ hardware }}
- Started: {{ started }}{% if runtime %}; training time {{ runtime }}{% endif %}
- Libraries: {{ versions }}
{% if loss_curve %}
![Training and validation loss]({{ loss_curve }})
{% endif %}
<details>
<summary>Resolved config (rerun with <code>--config run_config.yaml</code>)</summary>

```yaml
{{ config }}
```

</details>
"""


def loss_history(output_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """(step, loss) points of the train and validation loss in the Trainer's ``trainer_state.json`` (may be empty)."""
    history = read_json(Path(output_dir) / "trainer_state.json").get("log_history", [])
    return {
        "train": [(e["step"], e["loss"]) for e in history if "loss" in e],
        "validation": [(e["step"], e["eval_loss"]) for e in history if "eval_loss" in e],
    }


def draw_loss_curves(ax, curves: dict[str, list[tuple[int, float]]]) -> None:
    """Draws :func:`loss_history`'s curves on a matplotlib axis."""
    for label, points in curves.items():
        if points:
            steps, losses = [s for s, _ in points], [v for _, v in points]
            ax.plot(steps, losses, marker="o" if len(points) < 20 else None, markersize=3, label=label)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    ax.legend()


def plot_loss_curve(output_dir: str | Path) -> Path | None:
    """``loss_curve.png`` from the Trainer's ``trainer_state.json`` log history; ``None`` when there is none."""
    curves = loss_history(output_dir)
    if not any(curves.values()):
        return None
    from matplotlib.figure import Figure  # no pyplot: no global backend state, renders with Agg

    fig = Figure(figsize=(6, 3.5), dpi=100)
    ax = fig.add_subplot()
    draw_loss_curves(ax, curves)
    ax.set_ylabel("loss")
    fig.tight_layout()
    path = Path(output_dir) / LOSS_CURVE_FILE
    fig.savefig(path)
    return path


def write_model_card(
    output_dir: str | Path,
    *,
    pipeline_tag: str | None = None,
    metrics: Sequence[str] = (),
    base_model: str | None = None,
    license: str = DEFAULT_LICENSE,
    tags: Sequence[str] = (),
    repo_id: str | None = None,
) -> Path | None:
    """Writes ``README.md`` and ``loss_curve.png`` into a finished run's folder (main process only).

    ``metrics`` names the ``results.json`` entries that go into the model-index; the card's table shows them all.
    ``base_model`` (a fine-tune's starting point) goes into the metadata when it is a Hub id, not a local folder.
    ``repo_id`` is used in the usage snippet (the local folder when ``None``).
    """
    if not is_main_process():
        return None
    from huggingface_hub import EvalResult, ModelCardData

    out = Path(output_dir)
    info, config, results = _read_run(out)
    recipe = info.get("recipe", "run")
    dataset_type, dataset_name = _dataset(config)
    eval_results = [
        EvalResult(
            task_type=pipeline_tag,
            dataset_type=dataset_type,
            dataset_name=dataset_name,
            dataset_split="validation",
            metric_type=name,
            metric_value=round(float(results[name]), 6),
        )
        for name in metrics
        if pipeline_tag and _is_number(results.get(name))
    ]
    card_data = ModelCardData(
        license=license,
        library_name="transformers",
        pipeline_tag=pipeline_tag,
        base_model=base_model if _is_hub_id(base_model) else None,
        datasets=_hub_datasets(config),
        tags=["hfrecipes", recipe, *tags],
        model_name=_model_name(out, repo_id),
        eval_results=eval_results or None,
    )
    plot_loss_curve(out)
    path = out / CARD_FILE
    render_model_card(out, card_data, repo_id, base_model).save(path)
    logger.info("Model card written to %s", path)
    return path


HARNESS_URL = "https://github.com/EleutherAI/lm-evaluation-harness"


def add_benchmark_results(output_dir: str | Path, benchmarks: dict[str, dict[str, Any]]) -> Path | None:
    """Adds lm-evaluation-harness scores (``hfrecipes.evaluation.benchmark_entries``) to the folder's card metadata.

    Each metric becomes one model-index entry (``EvalResult``: the task's dataset, config and split, the metric and
    its few-shot count); an entry that differs only in its value replaces the old one, everything else in the card
    (other results, tags, the body, user edits) is kept. A folder without a card is left alone (``None``).
    """
    from huggingface_hub import EvalResult, ModelCard

    path = Path(output_dir) / CARD_FILE
    if not is_main_process() or not path.is_file():
        return None
    card = ModelCard.load(path)
    new = [
        EvalResult(
            task_type="text-generation",
            task_name=task,
            dataset_type=entry.get("dataset") or task,
            dataset_name=task,
            dataset_config=entry.get("dataset_config"),
            dataset_split=entry.get("split"),
            metric_type=metric,
            metric_value=round(float(value), 6),
            metric_name=f"{metric} ({entry.get('num_fewshot') or 0}-shot)",
            metric_args={k: entry[k] for k in ("num_fewshot", "limit") if entry.get(k) is not None} or None,
            source_name="lm-evaluation-harness",
            source_url=HARNESS_URL,
        )
        for task, entry in benchmarks.items()
        for metric, value in entry.items()
        if _is_number(value) and "_stderr" not in metric and metric not in ("examples", "num_fewshot", "limit")
    ]
    old = [r for r in card.data.eval_results or [] if not any(r.is_equal_except_value(n) for n in new)]
    card.data.eval_results = old + new
    card.data.model_name = card.data.model_name or _model_name(Path(output_dir), None)
    card.save(path)
    logger.info("Model card %s: %d benchmark result(s) added to its model-index", path, len(new))
    return path


def render_model_card(output_dir: str | Path, card_data, repo_id: str | None = None, base_model: str | None = None):
    """The ``ModelCard`` for a run folder: ``card_data`` as its metadata, the body built from the folder's files."""
    from huggingface_hub import ModelCard

    out = Path(output_dir)
    info, config, results = _read_run(out)
    card_data.model_name = _model_name(out, repo_id)
    model_config = read_json(out / "config.json")
    ref = json.dumps(repo_id or str(out))  # a quoted Python string; card_for_repo finds it again
    base = base_model or card_data.base_model
    context = {
        "title": card_data.model_name,
        "description": _description(base, card_data.pipeline_tag, info, config, results, model_config),
        "usage": _usage(card_data.pipeline_tag, ref, results, model_config, chat=bool(info.get("chat"))),
        "metrics": [
            (k, beside(results, k, _format(v), _format))
            for k, v in sorted(results.items())
            if _is_number(v) and not _is_noise(k) and not is_baseline(k)  # a baseline is shown beside its figure
        ],
        "baselines": describe(results),
        "sample": results.get("sample"),
        "sample_prompt": str(results.get("sample_prompt", ""))[:60].replace("`", "'").replace("\n", " "),
        "recipe": info.get("recipe", "?"),
        "git_commit": info.get("git_commit"),
        "command": _command(info),
        "data": _data_text(config),
        "hardware": _hardware(info),
        "started": info.get("started", "?"),
        "runtime": _duration(results.get("train_runtime") or results.get("train_seconds")),
        "versions": ", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items() if v),
        "loss_curve": LOSS_CURVE_FILE if (out / LOSS_CURVE_FILE).is_file() else None,
        "config": yaml.safe_dump(config, sort_keys=True).strip() if config else "# run_config.yaml not found",
    }
    return ModelCard.from_template(card_data, template_str=TEMPLATE, **context)


def card_for_repo(output_dir: str | Path, repo_id: str) -> str:
    """The README to push to ``repo_id``: the folder's card, with its usage snippet, title and model-index name
    pointed at ``repo_id`` when it named another place (the folder, or another repo). Other edits are kept."""
    from huggingface_hub import ModelCard, ModelCardData

    out = Path(output_dir)
    path = out / CARD_FILE
    if not path.is_file():
        card_data = ModelCardData(license=DEFAULT_LICENSE, library_name="transformers", tags=["hfrecipes"])
        return str(render_model_card(out, card_data, repo_id))
    text = path.read_text(encoding="utf-8")
    card = ModelCard(text)
    old = re.search(r'(?:model=|from_pretrained\()("[^"\n]*")', card.text)
    new = json.dumps(repo_id)
    if old is None or old.group(1) == new:
        return text
    old_name, card.data.model_name = card.data.model_name, _model_name(out, repo_id)
    card.text = card.text.replace(old.group(1), new)
    if old_name:
        card.text = card.text.replace(f"# {old_name}\n", f"# {card.data.model_name}\n", 1)
    return str(card)


# --- pieces of the card


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file's object; ``{}`` when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _read_run(out: Path) -> tuple[dict, dict, dict]:
    try:
        config = yaml.safe_load((out / CONFIG_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    return read_json(out / INFO_FILE), config, read_json(out / RESULTS_FILE)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_noise(key: str) -> bool:
    # The Trainer's bookkeeping, not results: epoch fraction and the speed of the evaluation loop.
    return key == "epoch" or (key.startswith("eval_") and key.endswith(("_runtime", "_per_second")))


def _format(value: Any) -> str:
    """A metric as the card and the pipeline report show it: ints with separators, floats to 4 significant digits."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _model_name(out: Path, repo_id: str | None) -> str:
    return (repo_id or out.resolve().name).split("/")[-1]


def _is_hub_id(name: str | None) -> bool:
    return bool(name) and re.fullmatch(r"[\w.-]+/[\w.-]+", name) is not None and not Path(name).exists()


def _is_hub_dataset_name(name: Any) -> bool:
    local = str(name).startswith("builtin:") or Path(str(name)).exists()  # e.g. a pretokenize.py folder
    return bool(name) and not local


def _hub_datasets(config: dict) -> list[str] | None:
    """The Hub dataset ids the run trained on, for the card's ``datasets:`` metadata (``None``: none)."""
    mixture = config.get("dataset_mixture") or []
    if mixture:
        ids = [s["path"] for s in mixture if not s.get("data_files") and _is_hub_dataset_name(s.get("path"))]
        return list(dict.fromkeys(ids)) or None
    name = config.get("dataset_name")
    return [name] if _is_hub_dataset_name(name) and not config.get("train_file") else None


def _dataset(config: dict) -> tuple[str, str]:
    """(model-index dataset type, readable name) of the training data."""
    if config.get("dataset_mixture"):
        sources = _mixture_sources(config["dataset_mixture"])
        return "mixture", "mixture of " + ", ".join(f"{name} ({share:.0%})" for name, share in sources)
    files = config.get("train_file")
    if files:
        files = [files] if isinstance(files, str) else files
        return "local", "local files " + ", ".join(Path(f).name for f in files)
    return _named_dataset(config.get("dataset_name"), config.get("dataset_config"))


def _named_dataset(name: str | None, dataset_config: str | None = None) -> tuple[str, str]:
    name = str(name or "unknown")
    if Path(name).is_dir():
        return "local", f"local dataset {Path(name).name}"
    return name, name + (f" ({dataset_config})" if dataset_config else "")


def _mixture_sources(mixture: list[dict]) -> list[tuple[str, float]]:
    """(readable name, share of the weights) of each source of a ``dataset_mixture`` as run_config.yaml saves it."""
    weights = [float(s.get("weight", 1.0)) for s in mixture]
    sources = []
    for source, weight in zip(mixture, weights, strict=True):
        files = source.get("data_files")
        if files:
            if isinstance(files, dict):  # {split: paths}: the split it trains on
                files = files.get(source.get("split", "train")) or next(iter(files.values()))
            files = [files] if isinstance(files, str) else files
            name = "local files " + ", ".join(Path(f).name for f in files)
        else:
            name = _named_dataset(source.get("path"), source.get("name"))[1]
        sources.append((name, weight / sum(weights)))
    return sources


def _data_text(config: dict) -> str:
    """The training data in the card's prose: names in code spans (a mixture's shares outside them)."""
    if config.get("dataset_mixture"):
        sources = _mixture_sources(config["dataset_mixture"])
        return "a mixture of " + ", ".join(f"`{name}` ({share:.0%})" for name, share in sources)
    return f"`{_dataset(config)[1]}`"


def _description(base: str | None, pipeline_tag: str | None, info, config, results, model_config) -> str:
    recipe = f"hfrecipes' `recipes/{info.get('recipe', '?')}.py`"
    data = _data_text(config)
    if not model_config:
        vocab = results.get("vocab_size")
        return f"A tokenizer{f' ({vocab} tokens)' if vocab else ''} trained with {recipe} on {data}."
    arch = (model_config.get("architectures") or [model_config.get("model_type", "model")])[0]
    size = f" ({results['num_parameters'] / 1e6:.2f}M parameters)" if _is_number(results.get("num_parameters")) else ""
    if not base:
        origin = "trained from scratch"
    elif _is_hub_id(base):
        origin = f"fine-tuned from [`{base}`](https://huggingface.co/{base})"
    else:
        origin = f"fine-tuned from the local model `{Path(base).name}`"
    text = f"A `{arch}`{size} {origin} with {recipe} on {data}."
    labels = model_config.get("id2label") or {}
    if pipeline_tag == "text-classification" and labels:
        text += " Labels: " + ", ".join(f"`{labels[k]}`" for k in sorted(labels, key=int)) + "."
    return text


def _usage(pipeline_tag: str | None, ref: str, results: dict, model_config: dict, chat: bool = False) -> str:
    words = [w for w in str(results.get("sample_prompt") or "").split() if w.isalnum()]
    prompt = " ".join(words[:2])[:24] or "The"
    if pipeline_tag == "text-generation" and chat:  # the pipeline applies the chat template to a list of turns
        question = str(results.get("sample_prompt") or "Hello!")[:80]
        return (
            "from transformers import pipeline\n\n"
            f'chat = pipeline("text-generation", model={ref})\n'
            f'reply = chat([{{"role": "user", "content": {question!r}}}], max_new_tokens=60)\n'
            'print(reply[0]["generated_text"][-1]["content"])'
        )
    if pipeline_tag == "text-generation":
        context = model_config.get("n_positions") or model_config.get("max_position_embeddings") or 1024
        return (
            "from transformers import pipeline\n\n"
            f'generator = pipeline("text-generation", model={ref})\n'
            f'print(generator({prompt!r}, max_new_tokens={min(30, context // 4)})[0]["generated_text"])'
        )
    if pipeline_tag == "text-classification":
        trust = ", trust_remote_code=True" if model_config.get("auto_map") else ""  # hfrecipes.pooling's classes
        return (
            "from transformers import pipeline\n\n"
            f'classifier = pipeline("text-classification", model={ref}{trust})\n'
            f"print(classifier({prompt!r}))"
        )
    if not model_config:
        return (
            "from transformers import AutoTokenizer\n\n"
            f"tokenizer = AutoTokenizer.from_pretrained({ref})\n"
            'print(tokenizer.tokenize("Hello world"))'
        )
    return (
        "from transformers import AutoModel, AutoTokenizer\n\n"
        f"tokenizer = AutoTokenizer.from_pretrained({ref})\n"
        f"model = AutoModel.from_pretrained({ref})\n"
        'print(model(**tokenizer("Hello world", return_tensors="pt")))'
    )


def _command(info: dict) -> str:
    argv = list(info.get("argv") or [])
    if not argv:
        return "?"
    script = Path(argv[0])
    head = f"recipes/{script.name}" if script.parent.name == "recipes" else script.name
    return " ".join(["python", head, *(shlex.quote(a) for a in argv[1:])])


def _hardware(info: dict) -> str:
    parts = [info["cuda"]] if info.get("cuda") else []
    parts.append(f"{info.get('cpu_count', '?')} CPU cores")
    if (info.get("world_size") or 1) > 1:
        parts.append(f"{info['world_size']} processes")
    return ", ".join(parts) + f" ({info.get('platform', '?')}, Python {info.get('python', '?')})"


def _duration(seconds: Any) -> str | None:
    """Seconds as the card and the pipeline report show them (``None`` for a missing value)."""
    if not _is_number(seconds):
        return None
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
