"""A recipe's one-line error is the last thing printed, however it is launched (``hfrecipes launch``, ``-q``).

Three runs of a real recipe (each a process tree importing torch) and in-process runs of tiny scripts, which take
accelerate's and torchrun's failure paths without loading torch in the children.
"""

import os
import signal
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest
from conftest import ROOT

from hfrecipes import launch
from hfrecipes.errors import UserError

CONFIGS = ROOT / "accelerate_configs"
LAUNCHER_NOISE = ("Traceback", "ChildFailedError", "CalledProcessError", "FAILED", "exitcode", "closing signal")


def free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def run(*cmd, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([*cmd], capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=env)


def bad_pretrain(tmp_path):
    """pretrain with a tokenizer folder that does not exist: fails before any model or data loads."""
    missing = tmp_path / "no-tokenizer"
    return [str(ROOT / "recipes" / "pretrain.py"), "--tokenizer_name", str(missing), "--output_dir", str(tmp_path)], (
        f"no tokenizer folder at {missing}"
    )


def assert_ends_on_the_line(proc, needle, status=2):
    assert proc.returncode == status, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and needle in last, proc.stderr[-3000:]
    for noise in LAUNCHER_NOISE:
        assert noise not in proc.stderr, proc.stderr[-3000:]
    return last


def test_bad_input_one_process(tmp_path):
    args, needle = bad_pretrain(tmp_path)
    proc = run(sys.executable, "-m", "hfrecipes.cli", "launch", "--config_file", str(CONFIGS / "cpu.yaml"), *args)
    assert_ends_on_the_line(proc, needle)


def test_bad_input_two_processes(tmp_path):
    """torchrun's failure log lines, its ChildFailedError block and traceback are gone; a config error, the same on
    every rank, is said once (by rank 0)."""
    args = [str(ROOT / "recipes" / "pretrain.py"), "--learning_rate", "-1", "--output_dir", str(tmp_path)]
    config = ["--config_file", str(CONFIGS / "cpu_ddp.yaml"), "--main_process_port", free_port()]
    proc = run(sys.executable, "-m", "hfrecipes.launch", *config, *args)
    last = assert_ends_on_the_line(proc, "--learning_rate is -1.0; it must be > 0")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [last], proc.stderr[-3000:]


def test_accelerate_launch_quiet_one_process(tmp_path):
    """The README's other way for one process: plain ``accelerate launch -q`` ends on the line too, but exits 1."""
    args, needle = bad_pretrain(tmp_path)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "-q", "--config_file", str(CONFIGS / "cpu.yaml")]
    assert_ends_on_the_line(run(*cmd, *args), needle, status=1)


# In-process: accelerate's own launchers, children that are plain Python scripts.


def script(tmp_path, body: str):
    path = tmp_path / "script.py"
    path.write_text("import os, signal, sys, time\n" + body)
    return str(path)


def test_exit_status_of_one_process_is_the_scripts(tmp_path, capfd):
    path = script(tmp_path, "print('error: bad thing; fix it', file=sys.stderr)\nsys.exit(2)\n")
    assert launch.launch(["--config_file", str(CONFIGS / "cpu.yaml"), path]) == 2
    err = capfd.readouterr().err
    assert err.strip().splitlines()[-1] == "error: bad thing; fix it" and "Traceback" not in err


def test_exit_status_of_torchrun_is_the_failing_ranks(tmp_path, capfd):
    # rank 1 fails with status 3 while rank 0 still runs: the agent stops rank 0 with SIGTERM (status -15)
    body = "if os.environ['RANK'] == '1':\n    print('error: rank 1 says no', file=sys.stderr)\n    sys.exit(3)\n"
    path = script(tmp_path, body + "time.sleep(60)\n")
    config = ["--config_file", str(CONFIGS / "cpu_ddp.yaml"), "--main_process_port", free_port()]
    assert launch.launch([*config, path]) == 3
    err = capfd.readouterr().err
    assert err.strip().splitlines()[-1] == "error: rank 1 says no", err
    assert not any(noise in err for noise in LAUNCHER_NOISE), err


def test_a_killed_recipe_gets_one_line(tmp_path, capfd):
    path = script(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)\n")
    assert launch.launch(["--config_file", str(CONFIGS / "cpu.yaml"), path]) == 128 + signal.SIGKILL
    last = capfd.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "was killed by SIGKILL" in last and "out of memory" in last


def test_root_failure_prefers_an_exit_status_to_the_agents_sigterm():
    failure = lambda code, t: SimpleNamespace(exitcode=code, timestamp=t)  # noqa: E731
    assert launch._worst({0: failure(-signal.SIGTERM, 1), 1: failure(2, 5)}) == (1, failure(2, 5))
    assert launch._worst({0: failure(-signal.SIGTERM, 1), 1: failure(-signal.SIGKILL, 5)})[0] == 1
    assert launch._worst({0: failure(2, 3), 1: failure(1, 2)})[0] == 1  # the earliest


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "no script to launch; usage: hfrecipes launch"),
        (["--config_file", "nope.yaml", "recipes/pretrain.py"], "accelerate config not found: nope.yaml"),
        (["--config_file", str(CONFIGS / "cpu.yaml"), "recipes/nope.py"], "no script recipes/nope.py"),
        (["--no-such-flag", "recipes/pretrain.py"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_launch_arguments_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        launch.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err


def test_accelerates_own_checks_are_one_line():
    with pytest.raises(UserError, match="accelerate launch: You need to use at least 2 processes"):
        launch.launch(["--multi_gpu", "--num_processes", "1", str(ROOT / "recipes" / "pretrain.py")])
