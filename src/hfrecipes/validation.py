"""Checks every value of a recipe's config before anything loads: one rule table for every config class.

The same rules cover our dataclasses and the stack's (``TrainingArguments``, ``SFTConfig``, ``ModelConfig``), by field
name, so a field added upstream is checked too:

- numbers: finite, and in the range of the first rule whose pattern matches the name (``RANGES``); a field no
  rule names must be >= 0 (or >= its default, when the default is a negative "unset" value, ``local_rank: -1``);
- choices: the parser's own ``choices`` (enums, ``Literal``) and ``CHOICES`` for string fields that have none;
- strings: an empty string is never a value (leave the key out instead);
- dict fields (``lr_scheduler_kwargs``, ...): a JSON object, or for ``deepspeed``, ``fsdp_config`` and
  ``accelerator_config`` a file that exists; list-of-dict fields (``dataset_mixture``): a non-empty list of objects
  (YAML), or its JSON text (command line);
- what this machine can run: bf16 without a bf16 device, DeepSpeed or Liger kernels not installed, a reporting
  integration that is not installed, a DDP backend without its device, the optimizer and LR schedule as the Trainer
  would build them (so missing packages and scheduler arguments fail now, not after the model has loaded).

Each problem is one line naming the key, where its value came from, and a valid value.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .lr_schedule import schedule_kwargs


@dataclass(frozen=True)
class Range:
    """``low <= value <= high`` (ends excluded where ``*_open``); ``also`` lists sentinel values allowed too."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    also: tuple = ()

    def __contains__(self, value: float) -> bool:
        if value in self.also:
            return True
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text = f"in {left}{_num(self.low)}, {_num(self.high)}{right}"
        elif self.low is not None:
            text = f"{'>' if self.low_open else '>='} {_num(self.low)}"
        else:
            text = f"{'<' if self.high_open else '<='} {_num(self.high)}"
        return text + "".join(f" or {_num(v)}" for v in self.also)

    def outside(self) -> list[float]:
        """Values just outside the range (for tests)."""
        values = []
        if self.low is not None:
            below = self.low if self.low_open else self.low - 1
            values.append(below if below not in self.also else min(self.also) - 1)
        if self.high is not None:
            values.append(self.high if self.high_open else self.high + 1)
        return values


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


_OPEN = {"low_open": True}
# First match wins (re.fullmatch on the field name).
RANGES: list[tuple[str, Range]] = [
    (r".*learning_rate|.*_lr", Range(0, **_OPEN)),
    (r"seed|data_seed", Range(0, 2**32 - 1)),
    (r"max_steps", Range(0, also=(-1,))),  # -1: train for num_train_epochs
    (r"(logging|eval|save)_steps", Range(0, **_OPEN)),  # below 1: a ratio of the training steps
    (r".*_ratio", Range(0, 1)),
    (r".*dropout|.*_pdrop|label_smoothing_factor|adam_beta[12]|.*momentum", Range(0, 1, high_open=True)),
    (r"(validation|selection)_split_percentage", Range(0, 100, high_open=True)),
    (r"top_p", Range(0, 1, **_OPEN)),
    (r"adam_epsilon|lora_alpha|neftune_noise_alpha|rope_theta", Range(0, **_OPEN)),
    (r".*batch_size|.*_accumulation_steps|torch_empty_cache_steps|dataloader_prefetch_factor", Range(1)),
    (r"lora_r|vocab_size|vocab_multiple|min_frequency|n_embd|n_head|n_layer|n_positions", Range(1)),
    (r"block_size|max_length|max_seq_length|max_new_tokens|.*num_proc|max_.*_samples", Range(1)),
    (r"save_total_limit|ddp_timeout|ddp_bucket_cap_mb", Range(1)),
    (r"n_kv_head|intermediate_size", Range(1)),
    (r"max_chars|workers|tasks|max_file_size_mb|decontaminate_ngram|decontaminate_min_words", Range(1)),
]

_ATTENTION = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention", "paged_attention")
_DTYPES = ("bfloat16", "float16", "float32", "float64", "int8", "uint8")


def _peft_task_types() -> list[str]:
    from peft import TaskType

    return [t.value for t in TaskType]


def _compile_backends() -> list[str]:
    import torch._dynamo

    return list(torch._dynamo.list_backends(exclude_tags=()))


def _report_integrations() -> list[str]:
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    return ["none", "all", *INTEGRATION_TO_CALLBACK]


# String fields with a fixed set of values the parser does not know (no Enum/Literal type upstream).
CHOICES: dict[str, Callable[[], Iterable[str]]] = {
    "attn_implementation": lambda: _ATTENTION,
    "bnb_4bit_quant_storage": lambda: _DTYPES,
    "lora_task_type": _peft_task_types,
    "torch_compile_mode": lambda: ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
    "torch_compile_backend": _compile_backends,
}
# attn_implementation also takes Hub kernels ("kernels-community/flash-attn"): a value with a "/" is not checked.
_OPEN_CHOICES = {"attn_implementation": lambda v: "/" in v}
# Dict fields that may also name a JSON file.
_PATH_OR_JSON = {"deepspeed", "fsdp_config", "accelerator_config"}
# Examples for list-of-object fields (a generic one otherwise).
_OBJECT_LIST_EXAMPLES = {
    "dataset_mixture": '[{"path": "builtin:python-docs", "weight": 0.7}, {"data_files": ["x.jsonl"], "weight": 0.3}]'
}


def range_of(name: str, default: Any = None) -> Range:
    for pattern, rule in RANGES:
        if re.fullmatch(pattern, name):
            return rule
    if isinstance(default, (int, float)) and not isinstance(default, bool) and default < 0:
        return Range(default)  # a negative default is an "unset" value (local_rank: -1)
    return Range(0)


def choices_of(action: argparse.Action) -> list[str] | None:
    if action.choices is not None:
        return [str(getattr(c, "value", c)) for c in action.choices]
    if action.dest in CHOICES:
        return list(CHOICES[action.dest]())
    return None


def kind_of(action: argparse.Action) -> str | None:
    """``int``, ``float``, ``str``, ``string_to_bool``, ...: the converter's name (TRL wraps the ``T`` of a
    ``T | None`` field in a converter that also reads 'none', under the same name)."""
    return getattr(action.type, "__name__", None) if action.type is not None else None


def is_numeric(action: argparse.Action) -> bool:
    return kind_of(action) in ("int", "float")


def declared_types(classes: Iterable[type]) -> dict[str, str]:
    """Each field's annotation as written (HfArgumentParser rewrites ``field.type``: ``dict | str`` to ``str``)."""
    types: dict[str, str] = {}
    for cls in classes:
        for klass in reversed(cls.__mro__):
            types.update({k: str(v) for k, v in vars(klass).get("__annotations__", {}).items()})
    return types


def is_dict_field(declared: str | None) -> bool:
    return declared is not None and "dict" in declared and "str" in declared


def is_object_list_field(declared: str | None) -> bool:
    """A list of objects (``list[dict] | str``): a YAML list, or its JSON text on the command line."""
    return declared is not None and declared.replace(" ", "").startswith("list[dict") and "str" in declared


class _Problem(Exception):
    pass


def check_namespace(
    values: dict[str, Any],
    actions: dict[str, argparse.Action],
    fields: dict[str, dataclasses.Field],
    where: Callable[[str], str],
    types: dict[str, str] | None = None,
) -> str | None:
    """The first problem with the parsed values, as one line, or ``None``. ``where(key)`` says where a value came from
    (``--key`` or ``'key' in FILE``)."""
    for key, action in actions.items():
        if key not in values or action.type is None or values[key] is None:
            continue
        try:
            _check_value(key, values[key], action, fields.get(key), (types or {}).get(key))
        except _Problem as problem:
            return f"{where(key)} {problem}"
    return None


def field_default(field: dataclasses.Field | None) -> Any:
    if field is None:
        return None
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _check_value(
    key: str, value: Any, action: argparse.Action, field: dataclasses.Field | None, declared: str | None
) -> None:
    items = value if isinstance(value, list) else [value]
    default = field_default(field)
    for item in items:
        if isinstance(item, str) and item.strip() == "" and default != "":
            example = f" (e.g. {default!r})" if isinstance(default, str) and default else ""
            raise _Problem(f"is empty; give a value{example} or leave it out")
    if is_numeric(action):
        rule = range_of(key, default)
        for item in items:
            if isinstance(item, (int, float)) and not isinstance(item, bool) and item not in rule:
                raise _Problem(f"is {item!r}; it must be {rule.describe()} (e.g. {_example(default, action, rule)})")
    choices = choices_of(action)
    if choices is not None:
        for item in items:
            text = str(getattr(item, "value", item))
            if text not in choices and not _OPEN_CHOICES.get(key, lambda v: False)(text):
                shown = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
                raise _Problem(f"is {text!r}, which is not one of: {shown}")
    if key == "report_to":
        _check_report_to(items)
    if is_object_list_field(declared):
        _check_object_list(value, _OBJECT_LIST_EXAMPLES.get(key, '[{"key": 1}, {"key": 2}]'))
    elif is_dict_field(declared) and isinstance(value, str):
        if value.lstrip().startswith("{"):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as err:
                raise _Problem(  # noqa: B904
                    f"is not valid JSON ({err.msg} at column {err.colno}); give an object like '{{\"key\": 1}}'"
                )
            if not isinstance(parsed, dict):
                raise _Problem("must be a JSON object like '{\"key\": 1}'")
        elif key in _PATH_OR_JSON:
            if not Path(value).is_file():
                raise _Problem(f"names no file ({value}); give a JSON file that exists or a JSON object")
        else:
            raise _Problem(f"is {value!r}; give a JSON object like '{{\"key\": 1}}'")


def _check_object_list(value: Any, example: str) -> None:
    if isinstance(value, str):
        if not value.lstrip().startswith("["):
            raise _Problem(f"is {value!r}; give a JSON list of objects like '{example}'")
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise _Problem(  # noqa: B904
                f"is not valid JSON ({err.msg} at column {err.colno}); give a list of objects like '{example}'"
            )
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _Problem(f"must be a list of objects like '{example}'")
    if not value:
        raise _Problem("is an empty list; give at least one object, or leave the key out")


def _example(default: Any, action: argparse.Action, rule: Range) -> str:
    if isinstance(default, (int, float)) and not isinstance(default, bool) and default in rule:
        return str(default)
    low = rule.low if rule.low is not None else 0
    value = low + (1 if rule.low_open and kind_of(action) == "int" else 0)
    if rule.low_open and kind_of(action) == "float":
        value = low + 0.1 if rule.high is None or rule.high > low + 0.1 else (low + rule.high) / 2
    return _num(value)


def _check_report_to(names: list[Any]) -> None:
    from transformers.integrations.integration_utils import get_available_reporting_integrations

    flat = [n.strip() for item in names for n in str(item).split(",")]
    known = _report_integrations()
    for name in flat:
        if name not in known:
            raise _Problem(f"names an unknown integration {name!r}; use one of: {', '.join(known)}")
        if name not in ("none", "all") and name not in get_available_reporting_integrations():
            raise _Problem(f"is {name!r}, which is not installed; pip install {name.replace('_', '-')} or use none")


def check_machine(values: dict[str, Any]) -> str | None:
    """What this machine cannot run, from the parsed values (before the dataclasses, whose checks would raise
    tracebacks or other libraries' messages), or ``None``."""
    if values.get("bf16") or values.get("bf16_full_eval"):
        from transformers.utils import is_torch_bf16_gpu_available

        if not values.get("use_cpu") and not is_torch_bf16_gpu_available():
            return (
                "bf16: true needs a GPU with bf16 and none was found; on a CPU add use_cpu: true (--use_cpu true), "
                "or set bf16: false"
            )
    if values.get("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        return "deepspeed is set but DeepSpeed is not installed; pip install deepspeed, or leave deepspeed unset"
    if values.get("use_liger_kernel") and importlib.util.find_spec("liger_kernel") is None:
        return "use_liger_kernel: true needs liger-kernel; pip install liger-kernel, or set use_liger_kernel: false"
    if values.get("ddp_backend") == "nccl":
        import torch

        if not torch.cuda.is_available():
            return "ddp_backend 'nccl' needs CUDA GPUs and none was found; use gloo on a CPU, or leave it unset"
    return None


def cpu_without_bf16(values: dict[str, Any]) -> bool:
    """True when ``values`` ask for bf16 on the CPU (``use_cpu``) and this CPU has no bf16 kernels (oneDNN's need
    AVX-512 or AMX): there PyTorch's bf16 matmuls fall back to a scalar loop some 50-80x slower than fp32."""
    if not (values.get("bf16") or values.get("bf16_full_eval")) or not values.get("use_cpu"):
        return False
    import torch

    try:
        return not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without the check: leave bf16 as asked
        return False


def check_optimizer(config: Any, decay_ratio: float | None = None) -> str | None:
    """The optimizer and LR schedule of a built ``TrainingArguments`` (or subclass), built as the Trainer would
    (``decay_ratio``: ``OptimizerArguments.lr_decay_ratio``, which sets the WSD decay steps)."""
    if not hasattr(config, "optim") or not hasattr(config, "lr_scheduler_type"):
        return None
    return _dry_run_optimizer(config, decay_ratio)


def _dry_run_optimizer(config: Any, decay_ratio: float | None) -> str | None:
    """Builds the optimizer and LR schedule the Trainer would build, on one dummy parameter."""
    import torch
    from transformers import Trainer, get_scheduler

    from .modeling import bitsandbytes_optimizer_problem

    if problem := bitsandbytes_optimizer_problem(config.optim):
        return problem
    optim = getattr(config.optim, "value", config.optim)
    try:
        cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(config)
    except (ImportError, ValueError, TypeError, KeyError) as err:
        return f"optim {optim!r} cannot run here: {_first_line(err)}; choose another --optim (e.g. adamw_torch)"
    if "galore" in optim or "apollo" in optim or "lomo" in optim:
        return None  # these need the model's modules; the Trainer checks them when it builds the optimizer
    param = torch.nn.Parameter(torch.zeros(2, 2))
    try:
        optimizer = cls([param], **kwargs)
    except (ValueError, TypeError, RuntimeError) as err:
        return f"optim {optim!r} rejects its settings: {_first_line(err)}; fix optim_args or the optimizer's fields"
    name = getattr(config.lr_scheduler_type, "value", config.lr_scheduler_type)
    kwargs = schedule_kwargs(config, 10, decay_ratio)
    try:
        get_scheduler(name, optimizer, num_warmup_steps=0, num_training_steps=10, scheduler_specific_kwargs=kwargs)
    except (ValueError, TypeError, KeyError) as err:
        return (
            f"lr_scheduler_type {name!r} with lr_scheduler_kwargs {config.lr_scheduler_kwargs or {}}: "
            f"{_first_line(err)}; fix lr_scheduler_kwargs"
        )
    return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__).rstrip(".")
