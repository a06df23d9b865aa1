import json
import subprocess
import sys

import pytest
from conftest import ROOT, load_recipe

from hfrecipes import cli, paths
from hfrecipes.errors import UserError


def hfrecipes(*args):
    code = "import sys; from hfrecipes.cli import main; main(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def one_line_error(capsys, *argv) -> str:
    """Runs ``hfrecipes ARGV`` in this process; asserts exit status 2 and one ``error:`` line; returns it."""
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(argv))
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_list_shows_recipes_and_configs():
    out = hfrecipes("list").stdout
    assert "pretrain" in out and "recipes/configs/pretrain/default.yaml" in out and "train_tokenizer" in out


def test_env_prints_versions():
    out = hfrecipes("env").stdout
    assert "transformers" in out and "torch" in out and "git_commit" in out


def test_unknown_command_is_one_line_error(capsys):
    line = one_line_error(capsys, "nope")
    assert line.startswith("error: unknown command 'nope'") and "launch, list" in line


def test_runs_a_recipe_with_its_arguments(tmp_path):
    proc = hfrecipes("train_tokenizer", "--vocab_size", "10", "--output_dir", str(tmp_path / "t"))
    assert proc.returncode == 2 and "vocab_size 10 is below" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["list", "extra"], "unexpected argument 'extra'; see hfrecipes list --help"),
        (["env", "extra"], "unexpected argument 'extra'; see hfrecipes env --help"),
        (["env", "--verbose"], "unexpected option '--verbose'"),
        (["report", "a", "b"], "unexpected argument 'b'; see hfrecipes report --help"),
        (["push", "a", "b"], "unexpected argument 'b'; see hfrecipes push --help"),
        (["pipeline", "--config", "c.yaml", "extra"], "unexpected argument 'extra'"),
        (["new", "a", "b", "--from", "classify"], "unexpected argument 'b'"),
        (["generate", "outputs/sft", "extra"], "'extra'"),  # the recipe's parser (hfrecipes.config) says it
        (["launch"], "no script to launch"),
    ],
)
def test_a_stray_argument_is_an_error_for_every_command(argv, message, capsys):
    assert message in one_line_error(capsys, *argv)


def test_options_take_an_equals_sign(tmp_path, capsys):
    missing = tmp_path / "missing.yaml"
    assert f"config file not found: {missing}" in one_line_error(capsys, "pipeline", f"--config={missing}")
    assert f"config file not found: {missing}" in one_line_error(capsys, "pipeline", "--config", str(missing))
    # no abbreviations, as in the recipes: --conf is not --config
    assert "required: --config" in one_line_error(capsys, "pipeline", "--conf", str(missing))
    assert f"output folder not found: {missing}" in one_line_error(capsys, "push", f"--output_dir={missing}")
    assert f"output folder not found: {missing}" in one_line_error(capsys, "push", str(missing), "--repo_id=a/b")


@pytest.mark.parametrize(
    "command, message",
    [("report", "holds no pipeline stage folder"), ("push", "output folder not found")],
)
def test_folder_is_positional_or_a_flag(command, message, tmp_path, capsys):
    folder = str(tmp_path / "run")
    for argv in ([folder], ["--output_dir", folder], [f"--output_dir={folder}"], ["--output-dir", folder]):
        line = one_line_error(capsys, command, *argv)
        assert message in line and folder in line, (argv, line)
    assert "two folders given" in one_line_error(capsys, command, folder, "--output_dir", str(tmp_path / "other"))
    assert f"give the folder: hfrecipes {command} DIR (or --output_dir DIR)" in one_line_error(capsys, command)


def test_generate_takes_the_model_positionally_or_as_a_flag():
    generate = load_recipe("generate")
    flag = "--model_name_or_path"
    assert generate.model_argument(["outputs/sft", "--prompt", "hi"]) == [flag, "outputs/sft", "--prompt", "hi"]
    assert generate.model_argument([flag, "outputs/sft"]) == [flag, "outputs/sft"]
    with pytest.raises(UserError, match="the model is given twice"):
        generate.model_argument(["a", f"{flag}=b"])
    assert generate.join_repeated(["--prompt=a", "--prompt", "b", "c", "--seed", "1"]) == [
        *("--seed", "1", "--prompt", "a", "b", "c")
    ]


def test_new_outside_the_checkout_writes_to_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cli.main(["new", "my_task", "--from", "classify"])
    assert (tmp_path / "recipes" / "my_task.py").is_file()
    assert (tmp_path / "recipes" / "configs" / "my_task" / "default.yaml").is_file()
    assert not (ROOT / "recipes" / "my_task.py").exists() and not (ROOT / "recipes" / "configs" / "my_task").exists()
    out = capsys.readouterr().out
    assert "wrote recipes/my_task.py" in out
    assert "Run it with: hfrecipes launch recipes/my_task.py --config recipes/configs/my_task/default.yaml" in out


def test_a_copy_of_sft_still_records_that_it_makes_a_chat_model(tmp_path, monkeypatch):
    """generate and the card read "chat" from run_info.json, never the recipe's name (which a copy changes)."""
    from hfrecipes.runs import save_run_config

    monkeypatch.chdir(tmp_path)
    cli.main(["new", "my_chat", "--from", "sft"])
    text = (tmp_path / "recipes" / "my_chat.py").read_text()
    call = next(line for line in text.splitlines() if "save_run_config(" in line)
    assert 'recipe="my_chat"' in call and "chat=True" in call
    save_run_config(tmp_path / "run", recipe="my_chat", chat=True)
    assert json.loads((tmp_path / "run" / "run_info.json").read_text())["chat"] is True


def test_new_from_an_installed_package_never_writes_into_it(tmp_path, monkeypatch, capsys):
    """A non-editable install: the package in site-packages, whose parents are the Python installation (here with a
    stray recipes/ folder that is not ours); run outside a checkout, there are no recipe sources to copy."""
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "hfrecipes"
    site.mkdir(parents=True)
    (tmp_path / "venv" / "lib" / "python3.11" / "recipes").mkdir()
    (tmp_path / "venv" / "lib" / "python3.11" / "recipes" / "classify.py").write_text("# not ours\n")
    monkeypatch.setattr(paths, "PACKAGE_DIR", site)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert paths.package_checkout() is None and paths.recipes_dir() is None
    line = one_line_error(capsys, "new", "my_task", "--from", "classify")
    assert "the recipes ship with the hfrecipes repository, not the installed package" in line
    assert "ship with the hfrecipes repository" in one_line_error(capsys, "list")
    assert "unknown command 'pretrain'" in one_line_error(capsys, "pretrain")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["classify.py"]


def test_no_recipe_shadows_an_installed_module():
    """`python recipes/X.py` puts recipes/ first on sys.path: a recipe named like a package (evaluate, datasets, ...)
    would replace it for every recipe run that way."""
    import importlib.util

    for script in sorted((ROOT / "recipes").glob("*.py")):
        assert importlib.util.find_spec(script.stem) is None, f"recipes/{script.name} shadows the module {script.stem}"
