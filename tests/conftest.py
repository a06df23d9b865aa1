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


def launch_killed(
    recipe: str, kill: str, *args: str, timeout: int = 600, accelerate_config: str = "cpu.yaml"
) -> subprocess.CompletedProcess:
    """Launches a recipe as ``launch`` does, but SIGKILLed at ``kill`` (``step:N``, ``save:N``, ...: killable.py)."""
    cmd = [
        *_accelerate(accelerate_config),
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


class StandinHub:
    """The loopback Hub server seeded with stand-ins of real Hub repos (``tests/standins.py``), for one test session.

    ``env(home)`` is this process's environment pointed at it: online, no stored or inherited token (``token`` sets
    ``HF_TOKEN``), its own ``HF_HOME`` (hub and datasets caches under ``home``); ``overrides`` are set last.
    ``tokens["reader"]`` is a read token of a user with no access to the gated repos, ``tokens["granted"]`` one of a
    user given access to them (``standins.GATED_MODEL``, ``standins.GATED_DATASET``).
    """

    def __init__(self, server, seeded: dict, tokens: dict[str, str]):
        self.server, self.seeded, self.tokens = server, seeded, tokens

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def env(self, home: Path, token: str | None = None, **overrides: str) -> dict:
        drop = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"}
        drop |= {"TRANSFORMERS_OFFLINE", "HF_DATASETS_CACHE", "TRANSFORMERS_CACHE"}
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env.update(
            HF_ENDPOINT=self.endpoint,
            HF_HUB_DISABLE_XET="1",
            HF_HUB_OFFLINE="0",
            HF_DATASETS_OFFLINE="0",
            HF_HOME=str(home),
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            PYTHONPATH=str(ROOT / "src"),
        )
        if token:
            env["HF_TOKEN"] = token
        env.update(overrides)
        return env


@pytest.fixture(scope="session")
def standin_hub(tmp_path_factory):
    """A HubServer serving stand-ins of openai-community/gpt2, SmolLM2, Qwen2.5, Llama-3.2, nyu-mll/glue, ... by id.

    Built once per machine under ``HFRECIPES_STANDINS_CACHE`` (default ``~/.cache/hfrecipes-standins``), keyed by
    the stand-ins' version and sources; the server's storage is a fresh temporary folder.
    """
    import secrets

    from hub_server import HubServer
    from standins import GATED_DATASET, GATED_MODEL, seed_hub

    tokens = {"reader": f"hf_reader_{secrets.token_hex(16)}", "granted": f"hf_granted_{secrets.token_hex(16)}"}
    server = HubServer(tmp_path_factory.mktemp("standin-hub"), {t: (user, "read") for user, t in tokens.items()})
    cache = os.environ.get("HFRECIPES_STANDINS_CACHE") or Path.home() / ".cache" / "hfrecipes-standins"
    seeded = seed_hub(server, cache)
    server.grant(GATED_MODEL, "granted")
    server.grant(GATED_DATASET, "granted", repo_type="dataset")
    server.start()
    yield StandinHub(server, seeded, tokens)
    server.stop()
