import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, load_recipe

from hfrecipes import validation
from hfrecipes.config import _Parser, check_config_file, config_to_dict, parse_config
from hfrecipes.errors import UserError


@dataclass
class A:
    lr: float = 0.1
    name: str = "a"
    steps: int = 10
    files: list[str] | None = None
    flag: bool = False


@dataclass
class B:
    depth: int = field(default=2)

    def __post_init__(self):
        if self.depth < 1:
            raise ValueError("depth must be >= 1")


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_precedence_defaults_yaml_cli(tmp_path):
    cfg = write(tmp_path, "lr: 0.5\nname: yaml\nfiles: [x.txt, y.txt]\n")
    a, b = parse_config([A, B], ["--config", str(cfg), "--name", "cli"])
    assert (a.lr, a.name, a.steps, a.files, b.depth) == (0.5, "cli", 10, ["x.txt", "y.txt"], 2)
    a, _ = parse_config([A, B], [])
    assert (a.lr, a.name) == (0.1, "a")


def test_bf16_on_a_cpu_without_bf16_instructions_trains_in_fp32(monkeypatch, caplog, tmp_path):
    """bf16 with use_cpu is the fast path on CPUs with AVX-512/AMX and a 50-80x slower one on the others (an AVX2
    EPYC, say): there the config trains in fp32, with a warning, and the resolved config says so."""
    import torch
    from transformers import TrainingArguments

    argv = ["--output_dir", str(tmp_path), "--bf16", "true", "--use_cpu", "true", "--report_to", "none"]
    for has_bf16 in (True, False):
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda has_bf16=has_bf16: has_bf16)
        caplog.clear()
        (args,) = parse_config([TrainingArguments], argv)
        assert args.bf16 is has_bf16 and args.use_cpu
        assert ("bf16 is off: this CPU has no bf16 instructions" in caplog.text) is not has_bf16
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    (args,) = parse_config([TrainingArguments], ["--output_dir", str(tmp_path), "--report_to", "none"])
    assert not args.bf16  # nothing asked, nothing said


def test_default_config_used_without_flag(tmp_path):
    cfg = write(tmp_path, "steps: 7\n")
    (a, _) = parse_config([A, B], [], default_config=cfg)
    assert a.steps == 7
    other = tmp_path / "other.yaml"
    other.write_text("steps: 3\n")
    (a, _) = parse_config([A, B], ["--config", str(other)], default_config=cfg)
    assert a.steps == 3


def test_yaml_types_are_checked_and_coerced(tmp_path):
    a, _ = parse_config([A, B], ["--config", str(write(tmp_path, "lr: 1\nflag: true\nname: 5\n"))])
    assert a.lr == 1.0 and isinstance(a.lr, float) and a.flag is True and a.name == "5"
    with pytest.raises(UserError, match="'steps' has value 'many'"):
        parse_config([A, B], ["--config", str(write(tmp_path, "steps: many\n"))])


def test_unknown_yaml_key_names_closest(tmp_path):
    with pytest.raises(UserError, match=r"unknown key 'setps'.*did you mean 'steps'"):
        parse_config([A, B], ["--config", str(write(tmp_path, "setps: 3\n"))])


def test_unknown_cli_flag_names_closest():
    with pytest.raises(UserError, match=r"unknown option '--deptj'.*did you mean 'depth'"):
        parse_config([A, B], ["--deptj", "3"])


def test_malformed_yaml_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="malformed YAML"):
        parse_config([A, B], ["--config", str(write(tmp_path, "lr: [0.1\nname: x\n"))])
    with pytest.raises(UserError, match="config file not found"):
        parse_config([A, B], ["--config", str(tmp_path / "nope.yaml")])
    with pytest.raises(UserError, match="must be a YAML mapping"):
        parse_config([A, B], ["--config", str(write(tmp_path, "- a\n- b\n"))])


def test_post_init_errors_become_user_errors():
    with pytest.raises(UserError, match="depth must be >= 1"):
        parse_config([A, B], ["--depth", "0"])


def test_check_config_file_reports_bad_keys_and_types(tmp_path):
    assert check_config_file([A, B], write(tmp_path, "steps: 3\n")) == {"steps": 3}
    with pytest.raises(UserError, match="did you mean 'depth'"):
        check_config_file([A, B], write(tmp_path, "dept: 3\n"))


def test_config_round_trip(tmp_path):
    a, b = parse_config([A, B], ["--lr", "0.3", "--files", "p.txt"])
    path = tmp_path / "resolved.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(a, b)))
    a2, b2 = parse_config([A, B], ["--config", str(path)])
    assert (a2, b2) == (a, b)


# Pipeline configs (recipes/configs/pipeline/) are checked by tests/test_pipeline.py.
CONFIGS = sorted(p for p in (ROOT / "recipes" / "configs").rglob("*.yaml") if p.parent.name != "pipeline")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_recipe_config_parses(path):
    recipe = path.relative_to(ROOT / "recipes" / "configs").parts[0]
    module = load_recipe(recipe)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#") and any("Launch" in line or "launch" in line for line in lines[:4]), (
        "a config starts with a comment saying what it trains and how to launch it"
    )
    values = check_config_file(module.CONFIG_CLASSES, path)  # keys are fields, values have the fields' types
    assert set(values) == set(yaml.safe_load(path.read_text()))
    # and every value is in range (machine checks aside: gpt2_small.yaml's bf16 is for GPUs)
    parser = _Parser(module.CONFIG_CLASSES)
    fields = {f.name: f for cls in module.CONFIG_CLASSES for f in dataclasses.fields(cls)}
    types = validation.declared_types(module.CONFIG_CLASSES)
    assert validation.check_namespace(values, parser.actions, fields, str, types) is None


def test_every_accelerate_config_parses():
    from accelerate.commands.config.config_args import load_config_from_file

    paths = sorted((ROOT / "accelerate_configs").glob("*.yaml"))
    assert {"cpu.yaml", "cpu_ddp.yaml", "cpu_fsdp.yaml", "single_gpu.yaml", "multi_gpu.yaml"} <= {
        p.name for p in paths
    }
    for path in paths:
        assert path.read_text().startswith("#")
        cfg = load_config_from_file(str(path))
        one = cfg.distributed_type == "NO"
        assert cfg.num_processes == 1 if one else cfg.num_processes >= 2, f"{path.name}: {cfg.num_processes} processes"
        ds_file = (cfg.deepspeed_config or {}).get("deepspeed_config_file")
        if ds_file:  # validated even where DeepSpeed is not installed
            assert json.loads((ROOT / ds_file).read_text())["zero_optimization"]["stage"] in (2, 3)
