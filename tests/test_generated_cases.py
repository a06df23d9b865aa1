"""Generated bad inputs: every field of every recipe's config classes gets an invalid value of its kind.

Kinds: wrong type (int, float, bool, dict, the stack's own types), not finite (nan), out of range (just outside the
field's range in `hfrecipes.validation.RANGES`), unknown choice (enums, Literals and `validation.CHOICES`), empty
string, broken JSON (dict fields). Each goes through the recipe's real entry point (`cli_main(main)` with the flag on
its command line; one case per kind also as a YAML key) and must give exit status 2, exactly one `error:` line naming
the key, no traceback, and leave the output folder as it was. A hand-written table of known-bad values below checks
the rules themselves (the generated values come from them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
from pathlib import Path

import pytest
from conftest import load_recipe

from hfrecipes import validation
from hfrecipes.config import _Parser, cli_main

RECIPES = ["train_tokenizer", "pretokenize", "pretrain", "sft", "classify", "generate", "prepare_data"]


def invalid_values(action, field, declared: str | None) -> list[tuple[str, str]]:
    """(kind, value) pairs that must be refused for this parser action."""
    cases: list[tuple[str, str]] = []
    choices = validation.choices_of(action)
    kind = validation.kind_of(action)
    if kind == "int":
        cases += [("wrong type", "abc"), ("wrong type", "1.5")]
    elif kind == "float":
        cases += [("wrong type", "abc"), ("not finite", "nan")]
    elif kind == "string_to_bool":
        cases.append(("wrong type", "maybe"))
    elif validation.is_dict_field(declared):
        cases += [("broken JSON", "{broken"), ("not a JSON object", "[1, 2]")]
    elif kind != "str" and choices is None:
        cases.append(("wrong type", "{abc"))  # dict, DebugOption, ParallelismConfig, ...
    if validation.is_numeric(action):
        rule = validation.range_of(action.dest, validation.field_default(field))
        cases += [("out of range", repr(v)) for v in rule.outside()]
    if choices is not None:
        cases.append(("unknown choice", "no-such-choice"))
    if kind == "str" and validation.field_default(field) != "":
        cases.append(("empty string", ""))
    return cases


def _generate():
    params = []
    for name in RECIPES:
        recipe = load_recipe(name)
        parser = _Parser(recipe.CONFIG_CLASSES)
        fields = {f.name: f for cls in recipe.CONFIG_CLASSES for f in dataclasses.fields(cls)}
        types = validation.declared_types(recipe.CONFIG_CLASSES)
        for key, action in sorted(parser.actions.items()):
            if action.type is None or not any(o == f"--{key}" for o in action.option_strings):
                continue  # --no_X switches of booleans
            for kind, value in invalid_values(action, fields.get(key), types.get(key)):
                params.append(pytest.param(name, key, value, id=f"{name}-{key}-{kind.replace(' ', '_')}-{value!r}"))
    return params


CASES = _generate()


def _snapshot(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))}


@functools.cache
def _recipe(name: str):
    return load_recipe(name)  # once per recipe, not once per case (executing a recipe file is not free)


def _run(recipe: str, argv: list[str], cwd: Path) -> tuple[int, str]:
    main = _recipe(recipe).main
    err = io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as stop:
        cli_main(lambda: main(argv))
    return stop.value.code, err.getvalue()


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sentinel.txt").write_text("keep me\n")
    return tmp_path


def _outputs(recipe: str, key: str, workdir: Path) -> list[str]:
    return [] if recipe == "generate" or key == "output_dir" else ["--output_dir", str(workdir / "out")]


def _check(code: int, stderr: str, key: str, before, workdir: Path) -> str:
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert key in lines[0], f"the error does not name '{key}': {lines[0]}"
    assert _snapshot(workdir) == before, "the run touched the output folder"
    return lines[0]


def test_every_field_has_generated_cases():
    """The walk reaches every recipe and every kind; each numeric field has a bound to step outside of."""
    assert len(CASES) > 400
    recipes = {p.values[0] for p in CASES}
    assert recipes == set(RECIPES)
    ids = " ".join(p.id for p in CASES)
    for kind in ("wrong_type", "not_finite", "out_of_range", "unknown_choice", "empty_string", "broken_JSON"):
        assert f"-{kind}-" in ids
    for name in RECIPES:
        recipe = load_recipe(name)
        for key, action in _Parser(recipe.CONFIG_CLASSES).actions.items():
            if validation.is_numeric(action):
                assert f"{name}-{key}-out_of_range" in ids, f"{name}: {key} has no range"


@pytest.mark.parametrize("recipe, key, value", CASES)
def test_generated_invalid_value_is_one_line_naming_the_key(recipe, key, value, workdir):
    before = _snapshot(workdir)
    code, stderr = _run(recipe, [f"--{key}", value, *_outputs(recipe, key, workdir)], workdir)
    _check(code, stderr, key, before, workdir)


# One value of each kind as a YAML key instead of a flag: the message names the key and the file.
YAML_CASES = [
    ("pretrain", "learning_rate", "-1"),
    ("pretrain", "per_device_train_batch_size", "lots"),
    ("sft", "lora_dropout", "1.5"),
    ("sft", "lr_scheduler_type", "no-such-schedule"),
    ("classify", "warmup_steps", ".nan"),
    ("classify", "lr_scheduler_kwargs", "'{broken'"),
    ("train_tokenizer", "text_column", "''"),
    ("generate", "top_p", "0"),
]


@pytest.mark.parametrize("recipe, key, value", YAML_CASES)
def test_generated_invalid_yaml_value_names_key_and_file(recipe, key, value, workdir):
    (workdir / "bad.yaml").write_text(f"{key}: {value}\n")
    before = _snapshot(workdir)
    argv = ["--config", str(workdir / "bad.yaml"), *_outputs(recipe, key, workdir)]
    line = _check(*_run(recipe, argv, workdir), key, before, workdir)
    assert "bad.yaml" in line


# Hand-written: known-bad values and the message each must give (independent of the rule table).
KNOWN = [
    ("pretrain", ["--learning_rate", "-1"], "--learning_rate is -1.0; it must be > 0"),
    ("pretrain", ["--learning_rate", "0"], "--learning_rate is 0.0; it must be > 0"),
    ("pretrain", ["--per_device_train_batch_size", "0"], "it must be >= 1"),
    ("pretrain", ["--gradient_accumulation_steps", "0"], "it must be >= 1"),
    ("pretrain", ["--warmup_steps", "-1"], "--warmup_steps is -1.0; it must be >= 0"),
    ("pretrain", ["--num_train_epochs", "-2"], "--num_train_epochs is -2.0; it must be >= 0"),
    ("pretrain", ["--max_steps", "-2"], "it must be >= 0 or -1"),
    ("pretrain", ["--weight_decay", "-0.1"], "it must be >= 0"),
    ("pretrain", ["--adam_beta2", "1.0"], "it must be in [0, 1)"),
    ("pretrain", ["--seed", "-1"], "--seed is -1; it must be in [0, 4294967295]"),
    ("pretrain", ["--dropout", "1"], "--dropout is 1.0; it must be in [0, 1)"),
    ("pretrain", ["--block_size", "0"], "--block_size is 0; it must be >= 1"),
    ("pretrain", ["--logging_steps", "0"], "--logging_steps is 0.0; it must be > 0"),
    ("pretrain", ["--lr_scheduler_type", "cosine_with_min_lr"], "One of min_lr or min_lr_rate should be set"),
    ("pretrain", ["--optim", "galore_adamw"], "optim 'galore_adamw' cannot run here"),
    ("pretrain", ["--report_to", "nosuchtracker"], "unknown integration 'nosuchtracker'"),
    ("pretrain", ["--deepspeed", "missing.json"], "--deepspeed names no file"),
    ("sft", ["--lora_r", "0"], "--lora_r is 0; it must be >= 1"),
    ("sft", ["--lora_task_type", "CAUSAL"], "not one of: "),
    ("sft", ["--attn_implementation", "fast"], "'fast', which is not one of: eager, sdpa"),
    ("classify", ["--validation_split_percentage", "100"], "it must be in [0, 100)"),
    ("classify", ["--max_seq_length", "0"], "it must be >= 1"),
    ("generate", ["--temperature", "-1"], "--temperature is -1.0; it must be >= 0"),
    ("generate", ["--top_p", "1.5"], "--top_p is 1.5; it must be in (0, 1]"),
    ("train_tokenizer", ["--vocab_size", "-5"], "--vocab_size is -5; it must be >= 1"),
]


@pytest.mark.parametrize("recipe, argv, message", KNOWN, ids=[f"{r}-{a[0][2:]}={a[1]}" for r, a, _ in KNOWN])
def test_known_bad_values(recipe, argv, message, workdir):
    before = _snapshot(workdir)
    line = _check(*_run(recipe, [*argv, *_outputs(recipe, "", workdir)], workdir), argv[0][2:], before, workdir)
    assert message in line
