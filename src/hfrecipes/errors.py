"""The errors every module shares: :class:`UserError`, and one line for a failure to load something from the Hub.

A leaf: it imports nothing else from hfrecipes, so any module can import it (``hfrecipes.config.UserError`` is the
same class, kept importable there for the recipes).
"""

from __future__ import annotations

from collections.abc import Iterator


class UserError(Exception):
    """A mistake in the user's input: reported as one line, no traceback, exit status 2.

    ``same_on_every_rank``: every process of a distributed launch meets it identically (a config error), so only
    rank 0 prints it; the others exit 2 quietly.
    """

    same_on_every_rank = False


def exception_chain(err: BaseException | None) -> Iterator[BaseException]:
    """``err``, then its ``__cause__`` (or ``__context__``), and so on, each exception once."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def class_names(err: BaseException) -> set[str]:
    """The names of the exception's classes, its bases included.

    The HTTP client's errors are matched by class name: huggingface_hub 1.x raises httpx errors, 2.x httpx2 errors,
    with the same class names. huggingface_hub's own errors are matched with isinstance (huggingface_hub.errors).
    """
    return {cls.__name__ for cls in type(err).__mro__}


def load_error(err: BaseException, what: str, name: str, revision: str | None = None) -> str | None:
    """One line for a failure to load ``name`` (a model, tokenizer or dataset) from the Hub, or ``None`` (a bug).

    Walks the exception chain (transformers and datasets wrap huggingface_hub's errors in OSError, ValueError or
    their own classes) and names the id and the fix for: a missing or private repo, a gated repo, a missing revision,
    a missing config or split, a script dataset, and no connection (offline, or not in the cache).
    """
    from datasets.exceptions import DatasetNotFoundError
    from huggingface_hub import constants, errors

    offline = constants.HF_HUB_OFFLINE
    at = f" at revision '{revision}'" if revision else ""
    for e in exception_chain(err):
        text = str(e)
        first = text.strip().splitlines()[0][:200] if text.strip() else type(e).__name__
        if isinstance(e, errors.GatedRepoError):  # a RepositoryNotFoundError: test it first
            return (
                f"{what} '{name}' is gated: accept its conditions on its Hub page, then log in with a token that "
                "may read it (HF_TOKEN or `hf auth login`)"
            )
        if isinstance(e, errors.RevisionNotFoundError | errors.RevisionResolutionError):
            return f"{what} '{name}' has no revision '{revision}'; give an existing branch, tag or commit"
        if isinstance(e, errors.RepositoryNotFoundError | DatasetNotFoundError):
            if offline and isinstance(e, DatasetNotFoundError):  # datasets' word for "not in the cache" offline
                break
            return (
                f"no {what} '{name}'{at} on the Hub, or it is private; check the id (owner/name), or log in "
                "(HF_TOKEN or `hf auth login`) if it is yours"
            )
        # datasets raises these as RuntimeError / ValueError: only the message tells them apart
        if "Dataset scripts are no longer supported" in text:
            return (
                f"dataset '{name}' is a loading script, which datasets >= 4 does not run; pick a version of it stored "
                "as parquet/json files on the Hub, or download the data and pass --train_file"
            )
        if "BuilderConfig" in text and "not found" in text:
            available = text.split("Available:", 1)[-1].strip() if "Available:" in text else ""
            return f"dataset '{name}' has no config {first.split()[1]}; set --dataset_config to one of {available}"
        if text.startswith(("Unknown split", "Bad split")):
            return f"dataset '{name}': {first}; name the split with --dataset_train_split / --dataset_eval_split"
        if isinstance(e, errors.OfflineModeIsEnabled | errors.LocalEntryNotFoundError | ConnectionError):
            break
        if class_names(e) & {"ConnectError", "TimeoutException"}:  # httpx's or httpx2's, whichever the Hub uses
            break
    else:
        return None
    return (
        f"cannot reach the Hub for {what} '{name}'{' (HF_HUB_OFFLINE=1 is set)' if offline else ''} and it is not in "
        "the local cache; connect (unset HF_HUB_OFFLINE), or give a local folder or file instead"
    )
