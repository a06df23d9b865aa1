"""Safe outputs (one run per output folder, crash-safe final saves) and security defaults."""

import dataclasses
import inspect
import re
import subprocess
import sys
import time

import pytest
import yaml
from conftest import ROOT, load_recipe

from hfrecipes.errors import UserError
from hfrecipes.runs import LOCK_FILE, STAGING_DIR, claim_output_dir, release_output_dirs, staged_save


def test_second_run_into_the_same_folder_is_refused_until_the_first_dies(tiny_tokenizer, tmp_path):
    out = tmp_path / "run"
    args = ["--tokenizer_name", str(tiny_tokenizer), "--n_layer", "1", "--n_head", "2", "--n_embd", "32"]
    args += ["--block_size", "32", "--max_steps", "100000", "--max_train_minutes", "0", "--report_to", "none"]
    first = subprocess.Popen(
        [sys.executable, str(ROOT / "recipes" / "pretrain.py"), *args, "--output_dir", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not ((out / LOCK_FILE).is_file() and (out / LOCK_FILE).read_text()):
            assert first.poll() is None and time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.2)
        second = subprocess.run(
            [sys.executable, str(ROOT / "recipes" / "train_tokenizer.py"), "--output_dir", str(out)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert second.stderr.strip() == (
            f"error: {out} is in use by another run (pid {first.pid}); wait for it or pick another --output_dir"
        )
    finally:
        first.kill()  # SIGKILL: no cleanup runs, and the kernel drops the lock with the process
        first.wait()
    assert claim_output_dir(out) == out


def test_crash_mid_save_leaves_no_model_that_looks_finished(tmp_path):
    out = claim_output_dir(tmp_path / "run")
    with pytest.raises(RuntimeError, match="disk full"):
        with staged_save(out) as staging:
            (staging / "config.json").write_text("{}")
            (staging / "model.safetensors").write_bytes(b"half a model")
            raise RuntimeError("disk full")
    assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_FILE, STAGING_DIR])  # nothing in place

    release_output_dirs()
    claim_output_dir(out)  # the next run cleans up the staging folder...
    assert not (out / STAGING_DIR).exists()
    with staged_save(out) as staging:  # ...and saves normally
        (staging / "model.safetensors").write_bytes(b"a whole model")
        (staging / "adapter").mkdir()
        (staging / "adapter" / "adapter_model.safetensors").write_bytes(b"an adapter")
    assert (out / "model.safetensors").read_bytes() == b"a whole model"
    assert (out / "adapter" / "adapter_model.safetensors").is_file() and not (out / STAGING_DIR).exists()


def test_overwriting_a_finished_run_removes_its_results_before_moving_the_new_model_in(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"old model")
    (out / "results.json").write_text("{}")
    (out / "adapter").mkdir()
    (out / "adapter" / "stale.bin").write_bytes(b"old")
    with pytest.raises(UserError, match="already holds a finished run"):
        claim_output_dir(out)
    claim_output_dir(out, overwrite=True)
    with pytest.raises(RuntimeError):
        with staged_save(out) as staging:
            (staging / "model.safetensors").write_bytes(b"half")
            raise RuntimeError("killed")
    assert (out / "model.safetensors").read_bytes() == b"old model" and (out / "results.json").is_file()
    with staged_save(out) as staging:
        (staging / "model.safetensors").write_bytes(b"new model")
        (staging / "adapter").mkdir()
    assert (out / "model.safetensors").read_bytes() == b"new model"
    assert not (out / "results.json").exists(), "results.json comes back only with write_results"
    assert list((out / "adapter").iterdir()) == [], "a folder is replaced whole"


def test_a_new_model_replaces_the_old_one_whole(tmp_path):
    """Full weights saved over a LoRA run (or the reverse) leave no stale weights that a loader would pick up."""
    out = tmp_path / "run"
    out.mkdir()
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json"):
        (out / name).write_text("old")
    with staged_save(out) as staging:
        (staging / "model.safetensors").write_bytes(b"full")
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors", "tokenizer.json"]
    with staged_save(out) as staging:
        (staging / "adapter_model.safetensors").write_bytes(b"lora")
        (staging / "adapter_config.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
    ]


# --- security defaults


def test_finished_runs_hold_safetensors_weights_and_no_pickled_weights(tiny_lm, tiny_tokenizer):
    assert (tiny_lm / "model.safetensors").is_file() and not (tiny_lm / ".staging").exists()
    for folder in (tiny_lm, tiny_tokenizer):
        pickles = [p.name for p in folder.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]
        assert pickles in ([], ["training_args.bin"]), pickles  # the Trainer's own arguments, never loaded by us


def test_trust_remote_code_is_off_unless_asked():
    for recipe in ("train_tokenizer", "pretrain", "pretokenize", "classify", "sft", "generate"):
        module = load_recipe(recipe)
        for cls in getattr(module, "CONFIG_CLASSES", ()):
            for f in dataclasses.fields(cls):
                if f.name == "trust_remote_code":
                    assert f.default is False, (recipe, cls.__name__)
    from hfrecipes import modeling

    for func in (modeling.load_tokenizer, modeling.load_causal_lm, modeling.load_sequence_classifier):
        assert inspect.signature(func).parameters["trust_remote_code"].default is False
    for path in (ROOT / "recipes" / "configs").rglob("*.yaml"):
        assert not (yaml.safe_load(path.read_text()) or {}).get("trust_remote_code"), path


def test_our_code_never_unpickles():
    unsafe = re.compile(r"torch\.load\(|pickle\.loads?\(|weights_only\s*=\s*False|use_safetensors\s*=\s*False")
    for path in [*(ROOT / "src").rglob("*.py"), *(ROOT / "recipes").rglob("*.py")]:
        hits = [line for line in path.read_text().splitlines() if unsafe.search(line)]
        assert not hits, (path, hits)
