"""Pushing a finished run to the Hugging Face Hub (or any Hub-compatible server named by ``HF_ENDPOINT``).

A recipe pushes once, at the end, after ``results.json`` and the model card are written:

    hub = hub_target(training_args)      # right after parsing: checks the token, turns the Trainer's own push off
    ...
    write_results(out, results)
    write_model_card(out, pipeline_tag="text-generation", metrics=[...], repo_id=hub and hub.repo_id)
    if hub:
        push_folder(out, hub.repo_id, hub.private)

The token comes from ``HF_TOKEN`` or ``hf auth login``, never from a flag or config (``--hub_token`` is refused:
it would be saved in ``training_args.bin``). A failed push is a one-line error naming the cause; the folder is left
as it was, and ``hfrecipes push OUTPUT_DIR --repo-id ID`` uploads it later.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .cliargs import command_parser, folder, folder_argument
from .errors import UserError, class_names, exception_chain
from .runs import CONFIG_FILE, INFO_FILE, RESULTS_FILE, is_main_process

logger = logging.getLogger(__name__)

# What a run folder holds but a model repo should not: checkpoints (optimizer state), TensorBoard logs, the pickled
# TrainingArguments, temporary files of atomic writes.
IGNORE_PATTERNS = ["checkpoint-*", "runs/*", "training_args.bin", "*.pt", "*.pth", ".*", "*/.*", "README.md"]
NO_TOKEN = "no Hugging Face token found: set HF_TOKEN or run `hf auth login` (a token is never read from a config)"


@dataclass
class HubArguments:
    """The push flags, for recipes without ``TrainingArguments`` (which has the same three fields)."""

    push_to_hub: bool = field(default=False, metadata={"help": "Push the output folder to the Hub at the end."})
    hub_model_id: str | None = field(
        default=None, metadata={"help": "Repo id, 'user/name' or 'name' (default: the output folder's name)."}
    )
    hub_private_repo: bool | None = field(default=None, metadata={"help": "Create the repo as private."})


@dataclass(frozen=True)
class HubTarget:
    repo_id: str
    private: bool | None = None


def hub_target(args, output_dir: str | Path | None = None) -> HubTarget | None:
    """The push a run asked for with ``--push_to_hub`` (``TrainingArguments`` or ``HubArguments``), or ``None``.

    Call it right after parsing: it refuses ``--hub_token``, checks on the main process that a token exists and
    that the Hub accepts it (a network failure only warns: the push at the end says what is wrong), and turns the
    Trainer's own push off: it would push mid-run, and before results.json and the card exist.
    """
    if getattr(args, "hub_token", None):
        raise UserError(
            "--hub_token is not accepted: it would be saved with the run; set HF_TOKEN or run `hf auth login`"
        )
    if not args.push_to_hub:
        return None
    args.push_to_hub = False
    repo_id = args.hub_model_id or Path(output_dir or args.output_dir).resolve().name
    if is_main_process():
        repo_id = _preflight(repo_id)
    return HubTarget(repo_id, args.hub_private_repo)


def _preflight(repo_id: str) -> str:
    """Checks the token before training; returns ``repo_id`` with the user's namespace when it had none."""
    from huggingface_hub import HfApi, constants, get_token

    if constants.is_offline_mode():
        raise UserError("--push_to_hub needs the network but HF_HUB_OFFLINE=1 is set; unset it to push")
    if get_token() is None:
        raise UserError(NO_TOKEN)
    api = HfApi()
    try:
        user = api.whoami()
    except Exception as err:
        cause = _cause(err, api.endpoint, repo_id)
        if cause is None:
            raise
        if _status(err) in (401, 403):
            raise UserError(f"cannot push to {repo_id}: {cause}") from None
        logger.warning("Could not check the Hub token before training (%s); the push at the end will retry", cause)
        return repo_id
    if (user.get("auth", {}).get("accessToken") or {}).get("role") == "read":
        raise UserError(f"cannot push to {repo_id}: the token is read-only; use a token with write access")
    return repo_id if "/" in repo_id else f"{user['name']}/{repo_id}"


def files_to_push(output_dir: str | Path) -> list[tuple[str, Path]]:
    """(path in repo, local path) of every file a push uploads, the model card excepted."""
    from huggingface_hub.utils import filter_repo_objects

    out = Path(output_dir)
    files = {p.relative_to(out).as_posix(): p for p in sorted(out.rglob("*")) if p.is_file()}
    return [(rel, files[rel]) for rel in filter_repo_objects(list(files), ignore_patterns=IGNORE_PATTERNS)]


def push_folder(
    output_dir: str | Path,
    repo_id: str,
    private: bool | None = None,
    commit_message: str | None = None,
    repo_type: str | None = None,
) -> str:
    """Uploads a finished run (model, tokenizer, results, config, card, loss curve) to ``repo_id``; returns its URL.

    One commit, so a push is all or nothing. The folder is not written to, except that after a successful push the
    local card is replaced by the one pushed when it had to be re-rendered for ``repo_id``. ``repo_type`` is
    ``model`` or ``dataset``; by default what the run recorded in ``run_info.json`` (recipes/prepare_data.py makes
    datasets), else ``model``. A dataset's card is its own README.md (the Hub's ``configs:`` layout), as written.
    """
    repo_type = repo_type or run_repo_type(output_dir)
    if not is_main_process():
        return ""
    from huggingface_hub import CommitOperationAdd, HfApi, constants, get_token

    from .cards import CARD_FILE, card_for_repo

    out = Path(output_dir)
    if not (out / RESULTS_FILE).is_file():
        raise UserError(f"{out} holds no finished run ({RESULTS_FILE} is missing); push a recipe's output folder")
    retry = f"the run in {out} is complete; retry with: hfrecipes push {out} --repo-id {repo_id}"
    if constants.is_offline_mode():
        raise UserError(f"cannot push to {repo_id}: HF_HUB_OFFLINE=1 is set; {retry}")
    if get_token() is None:
        raise UserError(f"cannot push to {repo_id}: {NO_TOKEN}; {retry}")
    api = HfApi()
    with _explained(api.endpoint, repo_id, retry):
        user = api.whoami()["name"]
        repo_id = repo_id if "/" in repo_id else f"{user}/{repo_id}"
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type=repo_type)
        if private and not api.repo_info(repo_id, repo_type=repo_type).private:
            raise UserError(
                f"{repo_id} already exists and is public, so it was not made private; "
                "make it private on the Hub or pick another --repo-id"
            )
        dataset = repo_type == "dataset"
        card = (out / CARD_FILE).read_text(encoding="utf-8") if dataset else card_for_repo(out, repo_id)
        operations = [CommitOperationAdd(rel, str(path)) for rel, path in files_to_push(out)]
        operations.append(CommitOperationAdd(CARD_FILE, card.encode("utf-8")))
        message = commit_message or f"Upload {out.resolve().name} with hfrecipes"
        commit = api.create_commit(repo_id, operations, commit_message=message, repo_type=repo_type)
    if (out / CARD_FILE).is_file() and (out / CARD_FILE).read_text(encoding="utf-8") != card:
        (out / CARD_FILE).write_text(card, encoding="utf-8")
    url = f"{api.endpoint}/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"
    logger.info("Pushed %d files to %s (commit %s)", len(operations), url, commit.oid[:8])
    return url


def run_repo_type(output_dir: str | Path) -> str:
    """``dataset`` or ``model``: what the run in ``output_dir`` recorded it makes (``repo_type`` in run_info.json)."""
    path = Path(output_dir) / INFO_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("repo_type") or "model"
    except (OSError, ValueError):
        return "model"


@contextlib.contextmanager
def _explained(endpoint: str, repo_id: str, retry: str):
    """Turns Hub, HTTP and network failures into one-line ``UserError``s naming the cause."""
    try:
        yield
    except UserError:
        raise
    except Exception as err:
        cause = _cause(err, endpoint, repo_id)
        if cause is None:
            raise
        raise UserError(f"push to {repo_id} failed: {cause}; {retry}") from None


def _status(err: BaseException) -> int | None:
    from huggingface_hub import errors

    for e in exception_chain(err):
        response = getattr(e, "response", None)
        if response is not None and isinstance(e, errors.HfHubHTTPError):
            return response.status_code
    return None


def _cause(err: BaseException, endpoint: str, repo_id: str) -> str | None:
    """A short human cause for a push failure, or ``None`` when it is not a Hub/network failure (a bug)."""
    from huggingface_hub import errors

    for e in exception_chain(err):
        names = class_names(e)
        if isinstance(e, errors.LocalTokenNotFoundError):
            return NO_TOKEN
        if isinstance(e, errors.OfflineModeIsEnabled):
            return "HF_HUB_OFFLINE=1 is set"
        if isinstance(e, errors.HfHubHTTPError) and getattr(e, "response", None) is not None:
            status = e.response.status_code
            server = (e.response.headers.get("X-Error-Message") or getattr(e, "server_message", "") or "").strip()
            server = server.splitlines()[0][:160] if server else e.response.reason_phrase
            if status == 401 and not isinstance(e, errors.RepositoryNotFoundError):
                return f"the Hub rejected the token (401 Unauthorized: {server}); check HF_TOKEN or `hf auth login`"
            if status == 403:
                return f"the token may not write to {repo_id} (403 Forbidden: {server})"
            if status in (401, 404):
                return f"repository {repo_id} not found or not accessible with this token ({status})"
            if status >= 500:
                return f"the Hub at {endpoint} failed with {status} {server}"
            return f"the Hub answered {status} ({server})"
        if "ConnectError" in names or "ConnectionRefusedError" in names:
            return f"cannot connect to {endpoint} (server down or unreachable; check the network and HF_ENDPOINT)"
        if "TimeoutException" in names or "TimeoutError" in names:
            return f"{endpoint} did not answer in time ({type(e).__name__})"
        if names & {"NetworkError", "RemoteProtocolError", "ConnectionError"}:
            return f"the connection to {endpoint} was cut during the upload ({type(e).__name__})"
    return None


def push_command(argv: list[str]) -> None:
    """``hfrecipes push OUTPUT_DIR [--repo-id ID] [--private]``: uploads a finished run, e.g. after a failed push.

    The folder is positional or ``--output_dir``; every option also takes its ``_`` spelling (``--repo_id``), as the
    recipes and ``accelerate launch`` do, and ``--name=value``.
    """
    parser = command_parser("push", description="Upload a finished run's output folder to the Hugging Face Hub.")
    folder_argument(parser, "A recipe's output folder (holds results.json).")
    parser.add_argument(
        "--repo-id", "--repo_id", help="'user/name' or 'name' (default: the run's hub_model_id or folder name)."
    )
    parser.add_argument("--private", action="store_true", default=None, help="Create the repo as private.")
    parser.add_argument("--commit-message", "--commit_message", default=None)
    args = parser.parse_args(argv)
    args.output_dir = folder(parser, args)
    out = Path(args.output_dir)
    if not out.is_dir():
        raise UserError(f"output folder not found: {out}")
    saved = {}
    if (out / CONFIG_FILE).is_file():
        saved = yaml.safe_load((out / CONFIG_FILE).read_text(encoding="utf-8")) or {}
    repo_id = args.repo_id or saved.get("hub_model_id") or out.resolve().name
    private = args.private if args.private is not None else saved.get("hub_private_repo")
    url = push_folder(out, repo_id, private, args.commit_message)
    print(f"Pushed {out} to {url}")
