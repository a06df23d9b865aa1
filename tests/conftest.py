import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Offline before any HF library is imported; tests never reach the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HFRECIPES_SHARED_DATA", ROOT.parent / "shared" / "data"))


def load_recipe(name: str):
    """Imports recipes/<name>.py as a module (recipes are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def launch(
    recipe: str, *args: str, timeout: int = 600, check: bool = True, env=None, accelerate_config: str = "cpu.yaml"
) -> subprocess.CompletedProcess:
    """Runs a recipe the way users do: accelerate launch, by default with the single-process CPU config."""
    cmd = [*_accelerate(accelerate_config), str(ROOT / "recipes" / f"{recipe}.py"), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{recipe} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def _accelerate(config: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(ROOT / "accelerate_configs" / config),
    ]


def launch_killed(recipe: str, kill: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Launches a recipe as ``launch`` does, but SIGKILLed at ``kill`` (``step:N`` or ``save:N``, see killable.py)."""
    cmd = [
        *_accelerate("cpu.yaml"),
        str(ROOT / "tests" / "killable.py"),
        str(ROOT / "recipes" / f"{recipe}.py"),
        *args,
    ]
    env = {**os.environ, "HFRECIPES_KILL": kill}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    assert proc.returncode != 0 and "SIGKILL" in proc.stderr, f"{recipe} was not killed:\n{proc.stderr[-3000:]}"
    return proc


def max_weight_diff(a: Path, b: Path, name: str = "model.safetensors") -> float:
    """Largest absolute difference between the tensors of two output folders (same names and shapes)."""
    from safetensors.torch import load_file

    x, y = load_file(str(a / name)), load_file(str(b / name))
    assert x.keys() == y.keys()
    return max((x[k].double() - y[k].double()).abs().max().item() for k in x)


def run_script(recipe: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Runs a recipe with plain python (for error-path tests: exit code and stderr)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "recipes" / f"{recipe}.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.fixture(autouse=True)
def _release_output_dirs():
    """A recipe's ``main()`` run in this process keeps its output folder locked; free it for later subprocesses."""
    yield
    from hfrecipes.runs import release_output_dirs

    release_output_dirs()


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory) -> Path:
    """A 512-token BPE trained on part of the builtin corpus, shared by the tests."""
    out = tmp_path_factory.mktemp("tokenizer")
    load_recipe("train_tokenizer").main(
        ["--vocab_size", "512", "--max_train_samples", "600", "--output_dir", str(out), "--overwrite"]
    )
    return out


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_lm(tiny_tokenizer, tmp_path_factory) -> Path:
    """A tiny GPT-2 pretrained for 20 steps by recipes/pretrain.py (folder with model + tokenizer), for fine-tunes."""
    out = tmp_path_factory.mktemp("tiny_lm") / "model"
    load_recipe("pretrain").main(
        [
            "--tokenizer_name",
            str(tiny_tokenizer),
            "--n_layer",
            "1",
            "--n_head",
            "2",
            "--n_embd",
            "32",
            "--block_size",
            "64",
            "--max_train_samples",
            "200",
            "--max_steps",
            "20",
            "--max_train_minutes",
            "0",
            "--per_device_train_batch_size",
            "8",
            "--learning_rate",
            "3e-3",
            "--save_strategy",
            "no",
            "--report_to",
            "none",
            "--output_dir",
            str(out),
        ]
    )
    return out
