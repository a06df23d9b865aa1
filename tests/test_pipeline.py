import csv
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT
from hub_server import HubServer
from test_hub import USERS, hub_env

from hfrecipes.errors import UserError
from hfrecipes.pipeline import last_error_line, load_pipeline_config

TINY = {
    "tokenizer": {"vocab_size": 512, "max_train_samples": 600},
    "pretrain": {
        **{"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 64, "max_train_samples": 200},
        **{"max_eval_samples": 40, "max_steps": 20, "max_train_minutes": 0, "per_device_train_batch_size": 8},
        **{"learning_rate": 3.0e-3, "save_strategy": "no", "report_to": "none", "logging_steps": 5},
    },
    "sft": {
        **{"max_train_samples": 64, "max_eval_samples": 16, "max_steps": 8, "per_device_train_batch_size": 8},
        **{"report_to": "none", "logging_steps": 2},
    },
    "classify": {
        **{"max_train_samples": 100, "max_eval_samples": 50, "max_steps": 10, "max_seq_length": 64},
        **{"report_to": "none", "logging_steps": 2, "eval_strategy": "no"},
    },
    "eval": {"tasks": ["python_docs_mc"], "limit": 16, "batch_size": 16},
}


def hfrecipes(*args, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "hfrecipes.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=env)


def write_config(path, **config):
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    config = write_config(tmp / "tiny.yaml", output_dir=str(tmp / "out"), **TINY)
    proc = hfrecipes("pipeline", "--config", str(config))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return config, tmp / "out", proc


def test_tiny_pipeline_end_to_end(tiny_pipeline):
    _, out, proc = tiny_pipeline
    for stage in ("tokenizer", "pretrain", "sft", "classify", "eval"):
        assert (out / stage / "results.json").is_file() and (out / "logs" / f"{stage}.log").is_file()
        assert f"=== Stage {stage}: recipes/" in proc.stdout
    assert (out / "pretrain" / "tokenizer.json").is_file(), "pretrain got the tokenizer stage's output"
    assert json.loads((out / "sft" / "run_info.json").read_text())["recipe"] == "sft"
    sft_config = yaml.safe_load((out / "configs" / "sft.yaml").read_text())
    assert sft_config["model_name_or_path"] == str(out / "pretrain")
    report = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for png in ("loss_curves.png", "pretrain/loss_curve.png", "sft/loss_curve.png", "classify/loss_curve.png"):
        assert (out / png).stat().st_size > 1000 and f"]({png})" in report and f'src="{png}"' in html
    assert "| tokenizer | ran |" in report and "bytes_per_token" in report and "transformers" in report
    assert "## Sample generations" in report and "<table>" in html
    pretrain = json.loads((out / "pretrain" / "results.json").read_text())
    sft = json.loads((out / "sft" / "results.json").read_text())
    classify = json.loads((out / "classify" / "results.json").read_text())
    assert 0 < pretrain["eval_loss"] < 7 and pretrain["sample"]
    assert sft["eval_loss"] < sft["eval_loss_before"] < 8
    n = classify["eval_samples"]  # accuracy is a count of right answers out of the eval rows
    assert n > 0 and classify["eval_accuracy"] * n == pytest.approx(round(classify["eval_accuracy"] * n))
    assert f"Report: {out / 'report.md'}" in proc.stdout and f"Sample answer from {out / 'sft'}" in proc.stdout


def test_rerun_skips_finished_stages_and_reruns_later_ones(tiny_pipeline):
    config, out, _ = tiny_pipeline
    stamps = {s: (out / s / "results.json").stat().st_mtime_ns for s in ("tokenizer", "pretrain", "sft", "classify")}
    weights = (out / "pretrain" / "model.safetensors").stat().st_mtime_ns
    proc = hfrecipes("pipeline", "--config", str(config), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("finished") == 5 and "=== Stage" not in proc.stdout
    assert {s: (out / s / "results.json").stat().st_mtime_ns for s in stamps} == stamps
    assert "| sft | skipped |" in (out / "report.md").read_text()

    (out / "sft" / "results.json").unlink()  # SFT reruns, and classification after it
    proc = hfrecipes("pipeline", "--config", str(config))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (
        "=== Stage sft" in proc.stdout
        and "=== Stage classify" in proc.stdout
        and "=== Stage pretrain" not in proc.stdout
    )
    assert "Stage classify: rerunning, an earlier stage ran again" in proc.stderr
    # pretrain did not run again (the eval stage, which ran again, adds its scores to pretrain's results.json)
    assert (out / "pretrain" / "model.safetensors").stat().st_mtime_ns == weights
    assert "python_docs_mc" in json.loads((out / "pretrain" / "results.json").read_text())["benchmarks"]
    assert (out / "classify" / "results.json").stat().st_mtime_ns > stamps["classify"]
    # The logs start with the command: classification starts over from the new SFT model; SFT, cut short with the same
    # inputs, is free to resume its checkpoints.
    assert "--overwrite" in (out / "logs" / "classify.log").read_text().splitlines()[0]
    assert "--overwrite" not in (out / "logs" / "sft.log").read_text().splitlines()[0]


def test_push_every_stage_at_the_end(tiny_pipeline, tmp_path):
    config, out, _ = tiny_pipeline
    hub = HubServer(tmp_path / "hub-storage", USERS)
    hub.start()
    settings = {**yaml.safe_load(config.read_text()), "push_to_hub": True, "hub_model_id": "demo"}
    push_config = write_config(tmp_path / "push.yaml", **settings)
    env = hub_env(hub.endpoint, tmp_path / "hf_home")
    cmd = [sys.executable, "-m", "hfrecipes.cli", "pipeline", "--config", str(push_config)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    finally:
        hub.stop()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "=== Stage" not in proc.stdout, "finished stages are pushed, not rerun"
    for stage in ("tokenizer", "pretrain", "sft", "classify"):
        assert f"Pushed {stage} to {hub.endpoint}/alice/demo-{stage}" in proc.stdout


def test_failing_stage_is_one_line_carrying_the_stages_own_error(tmp_path):
    # a bad value the recipe's parser finds (the pipeline checks keys and types only), before any data loads
    config = write_config(tmp_path / "bad.yaml", output_dir=str(tmp_path / "out"), tokenizer={"vocab_size": 10})
    proc = hfrecipes("pipeline", f"--config={config}", timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    log = tmp_path / "out" / "logs" / "tokenizer.log"
    # the stage ran through hfrecipes launch: its output ends on the recipe's one line, with no launcher traceback
    stage_lines = log.read_text().strip().splitlines()
    assert stage_lines[0].split()[1:3] == ["-m", "hfrecipes.launch"] and stage_lines[-1].startswith("error: ")
    assert "Traceback" not in log.read_text() and "Traceback" not in proc.stderr
    stage_error = stage_lines[-1][len("error: ") :]
    assert "vocab_size 10 is below" in stage_error
    assert proc.stderr.strip().splitlines()[-1] == f"error: stage tokenizer: {stage_error} (log: {log})"


def test_last_error_line_of_a_stage():
    output = b"step 1\rstep 2\rerror: early\nTraceback (most recent call last):\nerror: bad value; fix it\r\nbye\n"
    assert last_error_line(output) == "bad value; fix it"
    assert last_error_line(b"Traceback (most recent call last):\n  ...\nValueError: x\n") is None
    assert last_error_line(b"\xff error: x\nerror: caf\xc3\xa9\n") == "caf\u00e9"


def test_config_errors_are_one_line(tmp_path):
    config = write_config(tmp_path / "c.yaml", pretrain={"lerning_rate": 1e-3})
    with pytest.raises(UserError, match="stage pretrain: unknown key 'lerning_rate'.*did you mean 'learning_rate'"):
        load_pipeline_config(config)
    config = write_config(tmp_path / "c.yaml", classify={"glue_dir": str(tmp_path / "glue")})
    with pytest.raises(UserError, match=re.escape(f"stage classify: glue_dir {tmp_path / 'glue'} not found")):
        load_pipeline_config(config)
    with pytest.raises(UserError, match="unknown key 'sfft'"):
        load_pipeline_config(write_config(tmp_path / "c.yaml", sfft={}))
    with pytest.raises(UserError, match="enables no stage"):
        load_pipeline_config(write_config(tmp_path / "c.yaml", sft={"enabled": False}))


@pytest.mark.parametrize("name", ["default", "shakespeare_glue"])
def test_pipeline_configs_parse(name, request):
    if name != "default":
        request.getfixturevalue("shared_data")  # skips without ../shared/data
    path = ROOT / "recipes" / "configs" / "pipeline" / f"{name}.yaml"
    assert path.read_text().startswith("#") and "Launch" in path.read_text()[:600]
    cwd = os.getcwd()
    os.chdir(ROOT)  # the configs' paths are relative to the checkout
    try:
        settings, stages = load_pipeline_config(path)
    finally:
        os.chdir(cwd)
    expected = ["tokenizer", "pretrain", "sft", "classify"] + (["eval"] if name == "default" else [])
    assert [s.name for s in stages] == expected
    assert stages[1].config["tokenizer_name"] == f"{settings['output_dir']}/tokenizer"


def test_list_shows_pipeline_configs():
    assert "recipes/configs/pipeline/default.yaml" in hfrecipes("list", timeout=60).stdout


def test_new_recipe_runs_on_a_csv_task(tmp_path, tiny_lm):
    proc = hfrecipes("new", "my_task", "--from", "classify", "--dest", str(tmp_path / "recipes"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    script = tmp_path / "recipes" / "my_task.py"
    text = script.read_text()
    assert 'recipe="my_task"' in text and '"configs" / "my_task"' in text and "recipes/my_task.py" in text
    config = (tmp_path / "recipes" / "configs" / "my_task" / "default.yaml").read_text()
    assert "output_dir: outputs/my_task" in config and "recipes/my_task.py" in config
    again = hfrecipes("new", "my_task", "--from", "classify", "--dest", str(tmp_path / "recipes"), timeout=60)
    assert again.returncode == 2 and again.stderr.startswith("error: ") and "already exists" in again.stderr

    rows = [(f"{w} fun {w} great", "pos") for w in "abcdefghij"] + [(f"{w} dull {w} bad", "neg") for w in "klmnopqrst"]
    for split, part in (("train", rows), ("dev", rows[::3])):
        with open(tmp_path / f"{split}.csv", "w", newline="") as f:
            csv.writer(f).writerows([("review", "sentiment"), *part])
    spec = importlib.util.spec_from_file_location("my_task", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "out"
    module.main(
        [
            *("--train_file", str(tmp_path / "train.csv"), "--validation_file", str(tmp_path / "dev.csv")),
            *("--text_column", "review", "--label_column", "sentiment", "--model_name_or_path", str(tiny_lm)),
            *("--max_steps", "6", "--per_device_train_batch_size", "4", "--report_to", "none"),
            *("--output_dir", str(out)),
        ]
    )
    results = json.loads((out / "results.json").read_text())
    assert results["label_names"] == ["neg", "pos"] and results["eval_samples"] == 7  # the dev file's rows
    assert results["eval_accuracy"] * 7 == pytest.approx(round(results["eval_accuracy"] * 7))
    assert json.loads((out / "run_info.json").read_text())["recipe"] == "my_task"
