import subprocess
import sys

from conftest import ROOT


def hfrecipes(*args):
    code = "import sys; from hfrecipes.cli import main; main(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_list_shows_recipes_and_configs():
    out = hfrecipes("list").stdout
    assert "pretrain" in out and "recipes/configs/pretrain/default.yaml" in out and "train_tokenizer" in out


def test_env_prints_versions():
    out = hfrecipes("env").stdout
    assert "transformers" in out and "torch" in out and "git_commit" in out


def test_unknown_command_is_one_line_error():
    proc = hfrecipes("nope")
    assert proc.returncode != 0 and proc.stderr.strip().startswith("error: unknown command 'nope'")


def test_runs_a_recipe_with_its_arguments(tmp_path):
    proc = hfrecipes("train_tokenizer", "--vocab_size", "10", "--output_dir", str(tmp_path / "t"))
    assert proc.returncode == 2 and "vocab_size 10 is below" in proc.stderr
