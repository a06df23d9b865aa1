import json
import zipfile
from types import SimpleNamespace

import pytest

from hfrecipes.errors import UserError
from hfrecipes.runs import is_usable_checkpoint, prepare_output_dir


def checkpoint(out, step, state="complete"):
    """A checkpoint folder as the Trainer leaves it: complete, killed before trainer_state.json, or mid-write."""
    folder = out / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    with zipfile.ZipFile(folder / "rng_state_1.pth", "w") as f:  # torch.save writes zip files
        f.writestr("data.pkl", b"state")
    if state == "rng-truncated":  # another rank was still writing its RNG state
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        data = (folder / "rng_state_1.pth").read_bytes()
        (folder / "rng_state_1.pth").write_bytes(data[: len(data) - 30])
    text = json.dumps({"global_step": step, "log_history": []}, indent=2)
    if state == "complete":
        (folder / "trainer_state.json").write_text(text)
    elif state == "truncated":
        (folder / "trainer_state.json").write_text(text[: len(text) // 2])
    return folder


def prepare(out, overwrite=False, resume=None):
    return prepare_output_dir(SimpleNamespace(output_dir=str(out), resume_from_checkpoint=resume), overwrite)


def test_unfinished_run_resumes_from_its_last_complete_checkpoint(tmp_path):
    assert prepare(tmp_path) == (tmp_path, None)
    good = checkpoint(tmp_path, 5)
    checkpoint(tmp_path, 10, "missing")
    checkpoint(tmp_path, 15, "truncated")
    checkpoint(tmp_path, 20, "rng-truncated")
    (tmp_path / "checkpoint-x").mkdir()  # not a Trainer checkpoint: left alone
    assert [is_usable_checkpoint(tmp_path / f"checkpoint-{s}") for s in (5, 10, 15, 20)] == [True, False, False, False]
    assert prepare(tmp_path) == (tmp_path, str(good))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".hfrecipes.lock", "checkpoint-5", "checkpoint-x"], "broken ones deleted; the run's lock is there"


def test_only_broken_checkpoints_start_fresh(tmp_path):
    checkpoint(tmp_path, 10, "missing")
    assert prepare(tmp_path) == (tmp_path, None) and not (tmp_path / "checkpoint-10").exists()


def test_finished_run_is_refused_and_overwrite_starts_fresh(tmp_path):
    checkpoint(tmp_path, 5)
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(UserError, match="already holds a finished run"):
        prepare(tmp_path)
    assert prepare(tmp_path, overwrite=True) == (tmp_path, None)
    assert [p.name for p in tmp_path.iterdir()] == [".hfrecipes.lock"], "old checkpoints and results.json deleted"


def test_explicit_checkpoint(tmp_path):
    good, broken = checkpoint(tmp_path, 5), checkpoint(tmp_path, 10, "missing")
    (tmp_path / "results.json").write_text("{}")
    assert prepare(tmp_path, resume=str(good)) == (tmp_path, str(good)), "a finished run may be resumed explicitly"
    with pytest.raises(UserError, match="is not a complete checkpoint"):
        prepare(tmp_path, resume=str(broken))
    assert prepare(tmp_path, resume="true") == (tmp_path, str(good))
    with pytest.raises(UserError, match="no complete checkpoint"):
        prepare(tmp_path / "empty", resume="true")
