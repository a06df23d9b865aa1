"""One error boundary for data files: whatever a reader raises, a malformed file is reported as one line.

Readers (``datasets.load_dataset``, ``load_from_disk``, the GLUE TSV reader, a stream read deep inside the Trainer)
fail with their library's exception, which rarely names the file and never the line. The boundary does not try to
interpret those exceptions. It reads the files itself, with :func:`diagnose`, and reports what it finds there:

    FILE line N: what is wrong; how to fix it

(no line where none applies, e.g. a parquet file). If the files are fine, the original exception goes on as it was:
a real bug keeps its traceback and is never turned into a made-up user error.

- :func:`reading` is the boundary of an eager read: ``with reading(files): load_dataset(...)``.
- :func:`lazy_reading` and :func:`reader_error_message` are the boundary of a lazy (streaming) read, which fails only
  while it is iterated: only for an exception of a reader's type, and only about files a loader registered.
- :func:`precheck` holds the checks cheap enough to run before every load (a folder, binary data, a parquet file that
  is not one, a JSON object where a list of rows was expected): problems that readers accept without failing.

Every check streams (one line, one CSV record, one parquet row group at a time) and stops at the first problem,
except a JSON file that is one array or one object, which its reader parses whole as well.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import UserError, exception_chain

TEXT_SUFFIXES = (".txt", ".json", ".jsonl", ".csv", ".tsv")
DATA_SUFFIXES = (*TEXT_SUFFIXES, ".parquet")
SAVED_FIX = "save the dataset again (save_to_disk, or recipes/pretokenize.py)"
_BINARY_PROBE = 8192  # bytes read to tell binary from text, as git does
_JSON_OBJECT_LIMIT = 16 << 20  # a JSON file that is one object spanning lines is parsed whole up to this size
# The loggers of datasets' file readers: they log "Failed to read file 'X' ..." right before raising.
_READER_LOGGERS = tuple(
    f"datasets.packaged_modules.{name}.{name}" for name in ("json", "csv", "parquet", "text", "arrow")
)


class _Found(Exception):
    """A problem found in a file; its message is the one-line diagnosis."""


# --- diagnose: the first problem in one file


def diagnose(path: str | Path, *, quotechar: str | None = '"') -> str | None:
    """The first problem in the local data file or folder ``path``, as one line, or ``None`` if none is found.

    By format, from the suffix: every text format (.txt, .json, .jsonl, .csv, .tsv) must be UTF-8 text without NUL
    bytes; JSON must parse, as one array, one object or JSON Lines (one object per non-blank line), the shapes
    ``datasets`` reads; CSV/TSV records must have as many fields as the header, and a header needs rows under it
    (``quotechar=None``: fields are never quoted, as in GLUE's TSVs); parquet must open and every row group must
    read. A folder is either a ``save_to_disk`` folder, checked (its JSON files, and every Arrow file it lists), or
    a folder given where files were expected.
    """
    path = Path(path)
    try:
        if path.is_dir():
            return _saved_problem(path) if _is_saved(path) else folder_message(path)
        if not path.is_file():
            return f"{path} does not exist; check the path"
        if path.stat().st_size == 0:
            return f"data file {path} is empty; give a file with data in it"
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            return _parquet_problem(path)
        if suffix in TEXT_SUFFIXES:
            _check_text_start(path)
            if suffix in (".json", ".jsonl"):
                _check_json(path)
            elif suffix in (".csv", ".tsv"):
                _check_table(path, "\t" if suffix == ".tsv" else ",", quotechar)
            elif not _has_text(path):
                return f"{path} holds only blank lines; give a file with text in it"
    except _Found as found:
        return str(found)
    return None


def precheck(path: str | Path, alone: bool = True) -> str | None:
    """The problems that are cheap to look for before every load, or ``None``: some that readers accept silently.

    Reads a few bytes of each file: the first 8 KiB of a text file (NUL bytes: a binary file), the ends of a parquet
    file (its magic bytes). A JSON file of up to 16 MiB that is ``alone`` (the only file its path or glob names) and
    is one object holding rows (a list of objects under a key, or columns) is an error: ``datasets`` would read it
    as a single row. (Many files of one object each are one row per file, which is fine.) A folder is named as such.
    """
    path = Path(path)
    if path.is_dir():
        return folder_message(path)
    suffix = path.suffix.lower()
    try:
        if suffix in TEXT_SUFFIXES:
            _check_text_start(path)
            if alone and suffix in (".json", ".jsonl"):
                _check_one_object(path)
        elif suffix == ".parquet":
            _check_parquet_magic(path)
    except _Found as found:
        return str(found)
    return None


def folder_message(path: str | Path, flag: str | None = None) -> str:
    """The error for a folder given where data files were expected, with a glob that names its files."""
    path = Path(path)
    if _is_saved(path):
        return f"{path} is a folder written by save_to_disk, not a data file; pass it as --dataset_name {path}"
    counts: Counter[str] = Counter()
    nested = False
    with contextlib.suppress(OSError):
        for depth, (root, dirs, names) in enumerate(os.walk(path)):  # top-down: the first folder with data files
            dirs.sort()
            counts = Counter(s for s in (Path(n).suffix.lower() for n in names) if s in DATA_SUFFIXES)
            if counts or depth >= 100:
                nested = Path(root) != path
                break
    suffix = counts.most_common(1)[0][0] if counts else ".txt"
    pattern = f"{path}/{'**/' if nested else ''}*{suffix}"
    given = f"{flag} '{pattern}'" if flag else f"'{pattern}'"
    return f"{path} is a folder, not a data file; name the files in it, e.g. {given}"


def not_utf8_message(files: Iterable[str | Path]) -> str | None:
    """The error for the first file that is not valid UTF-8, naming the line and byte offset; None if all are."""
    for path in files:
        try:
            for _ in _lines(path, nul=False):
                pass
        except _Found as found:
            return str(found)
    return None


def fields_message(path: str | Path, line: int, fields: int, expected: int, what: str = "the header has") -> str:
    """The error for a CSV/TSV record with the wrong number of fields."""
    tsv = Path(path).suffix.lower() == ".tsv"
    fix = "fix or remove that row (a tab inside a field, or a field missing?)"
    if not tsv:
        fix = 'fix or remove that row, or quote a field that holds a comma ("a, b")'
    return f"{path} line {line} has {fields} field{'s' * (fields != 1)}, {what} {expected}; {fix}"


def _lines(path: str | Path, nul: bool = True) -> Iterator[tuple[int, str]]:
    """``(number, text)`` for each line, decoded; raises :class:`_Found` at a NUL byte or a byte that is not UTF-8."""
    offset = 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):  # b"\n" is never part of a multi-byte UTF-8 character
            if nul and b"\x00" in raw:
                raise _Found(_binary_message(path, offset + raw.index(b"\x00")))
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                where = f"line {number}, byte {offset + err.start}"
                raise _Found(f"{path} is not valid UTF-8 ({where}: {err.reason}); re-encode it as UTF-8") from None
            offset += len(raw)
            yield number, text.removeprefix("\ufeff") if number == 1 else text


def _binary_message(path, offset: int) -> str:
    return f"{path} is binary data, not text (a NUL byte at byte {offset}); give a UTF-8 text file"


def _check_text_start(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(_BINARY_PROBE)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _Found(f"{path} is UTF-16 text; re-encode it as UTF-8")
    if b"\x00" in head:
        raise _Found(_binary_message(path, head.index(b"\x00")))


def _has_text(path: Path) -> bool:
    found = False
    for _, text in _lines(path):  # every line: each must be UTF-8
        found = found or bool(text.strip())
    return found


# --- JSON


def _kind(value) -> str:
    """A JSON value's kind, as JSON names it, with an article."""
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    kinds = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def _syntax(path, err: json.JSONDecodeError, line: int | None = None, fix: str = "fix the JSON there") -> str:
    if err.msg == "Extra data":
        return (
            f"{path} line {line or err.lineno}: more JSON after the first value ends; write one list of objects "
            "([{...}, {...}]) or one object per line (JSON Lines)"
        )
    return f"{path} line {line or err.lineno}: not valid JSON ({err.msg} at column {err.colno}); {fix}"


def _rows_inside(value: dict) -> str | None:
    """Why a JSON object looks like a container of rows (a list of objects under a key, or columns), or None."""
    for key, item in value.items():
        if isinstance(item, list) and item and all(isinstance(x, dict) for x in item):
            if not {"role", "from"} & set(item[0]):  # a list of chat turns is one row, a chat
                return f"its rows look like the list under '{key}'"
    scalars = [isinstance(v, list) and not any(isinstance(x, dict | list) for x in v) for v in value.values()]
    if value and all(scalars) and any(len(v) > 1 for v in value.values()):  # columns of values, not a chat
        return f"it looks like the columns {', '.join(list(value)[:5])}"
    return None


def _object_message(path, line: int, why: str) -> str:
    return (
        f"{path} line {line}: a JSON object where a list of rows was expected ({why}); write the rows as a list "
        "([{...}, {...}]) or one object per line (JSON Lines)"
    )


def _first_value(path: Path) -> tuple[int, str]:
    """The number and text of the first non-blank line."""
    for number, text in _lines(path):
        if text.strip():
            return number, text
    return 0, ""


def _check_one_object(path: Path) -> None:
    """Precheck: a file that is one JSON object holding rows (``datasets`` reads it as one row).

    Reads the first line, and a little after it; the whole file (at most 16 MiB) only when its first line starts an
    object that goes on over several lines."""
    if path.stat().st_size > _JSON_OBJECT_LIMIT:
        return
    with open(path, "rb") as f:
        first, line = f.readline().removeprefix(codecs.BOM_UTF8), 1
        while not first.strip() and first:
            first, line = f.readline(), line + 1
        if not first.lstrip().startswith(b"{"):
            return
        try:
            value = json.loads(first)
        except (json.JSONDecodeError, UnicodeDecodeError):
            value = None  # an object over several lines, or a broken line
        if value is not None:
            while chunk := f.read(_BINARY_PROBE):
                if chunk.strip():
                    return  # JSON Lines: one object per line
        else:
            f.seek(0)
            text = f.read().decode("utf-8", errors="replace").removeprefix("\ufeff")
            start = len(text) - len(text.lstrip())
            try:
                value, end = json.JSONDecoder().raw_decode(text, start)
            except json.JSONDecodeError:
                return  # broken JSON: the reader fails, and diagnose names the line
            if text[end:].strip():
                return
            line = text.count("\n", 0, start) + 1
    if isinstance(value, dict) and (why := _rows_inside(value)):
        raise _Found(_object_message(path, line, why))


def _check_json(path: Path) -> None:
    """Diagnose JSON as ``datasets`` reads it: one array (of objects, or of values), else JSON Lines, where a first
    line that is not complete JSON starts one object spanning lines."""
    number, first = _first_value(path)
    if not number:
        raise _Found(f"{path} holds no rows (only blank lines); give a file with data in it")
    stripped = first.strip()
    whole = stripped.startswith("[")
    if stripped.startswith("{"):
        try:
            json.loads(first)
        except json.JSONDecodeError:
            whole = True  # an object (or a broken line): the reader then parses the whole file
    if whole:
        _check_json_whole(path)
    else:
        _check_json_lines(path)


def _check_json_lines(path: Path) -> None:
    rows, first, why = 0, 0, None
    for number, text in _lines(path):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise _Found(_syntax(path, err, number, "fix or remove that line")) from None
        if not isinstance(value, dict):
            example = '{"text": ...}'
            raise _Found(
                f"{path} line {number}: {_kind(value)}, not a JSON object; write one object per line, e.g. {example}"
            )
        if rows == 0:
            first, why = number, _rows_inside(value)
        rows += 1
    if rows == 1 and why:  # one line, one object holding rows
        raise _Found(_object_message(path, first, why))


def _check_json_whole(path: Path) -> None:
    text = "".join(t for _, t in _lines(path))
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise _Found(_syntax(path, err)) from None
    start = len(text) - len(text.lstrip())
    line = text.count("\n", 0, start) + 1
    if isinstance(value, dict):
        if why := _rows_inside(value):
            raise _Found(_object_message(path, line, why))
        return
    if not value:
        raise _Found(f"{path} line {line}: an empty list, no rows; give a file with data in it")
    if isinstance(value[0], dict):  # a list of objects: every item must be one
        bad = next((i for i, item in enumerate(value) if not isinstance(item, dict)), None)
        if bad is not None:
            where = _item_line(text, start, bad)
            raise _Found(
                f"{path} line {where}: item {bad + 1} of the list is {_kind(value[bad])}, not an object; "
                "make every item a {...} row"
            )


def _item_line(text: str, start: int, index: int) -> int:
    """The line on which item ``index`` of the JSON array at ``text[start]`` begins."""
    decoder, pos = json.JSONDecoder(), start + 1
    for i in range(index + 1):
        while text[pos] in " \t\r\n,":
            pos += 1
        if i == index:
            break
        _, pos = decoder.raw_decode(text, pos)
    return text.count("\n", 0, pos) + 1


# --- CSV / TSV


class _CountingLines:
    """The decoded lines of a file for ``csv.reader``, counting lines and quote characters as they are read."""

    def __init__(self, path: Path):
        self.lines = _lines(path)
        self.number = 0
        self.quotes = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        self.number, text = next(self.lines)
        self.quotes += text.count('"')
        return text


def _check_table(path: Path, sep: str, quotechar: str | None) -> None:
    csv.field_size_limit(sys.maxsize)  # pandas has no field size limit
    lines = _CountingLines(path)
    quoting = {"quotechar": quotechar} if quotechar else {"quoting": csv.QUOTE_NONE}
    reader = csv.reader(lines, delimiter=sep, **quoting)
    header, rows, start, unclosed = None, 0, 1, False
    while True:
        start, lines.quotes = lines.number + 1, 0
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise _Found(f"{path} line {start}: {err}; fix that row") from None
        if not row:
            continue  # a blank line: skipped by the reader too
        unclosed = quotechar is not None and lines.quotes % 2 == 1 and lines.number > start
        if header is None:
            header = row
        elif len(row) != len(header):
            if unclosed:
                break
            raise _Found(fields_message(path, start, len(row), len(header)))
        else:
            rows += 1
    if unclosed:
        raise _Found(f'{path} line {start}: a quoted field is never closed (it runs to the end); add the closing "')
    if header is None:
        raise _Found(f"{path} holds no rows (only blank lines); give a file with data in it")
    if rows == 0:
        raise _Found(f"{path} has a header ({sep.join(header)[:80]}) but no rows; add rows below it")


# --- parquet


def _first_sentence(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text.split(". ")[0].rstrip(".")


def _check_parquet_magic(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(max(size - 4, 0))
        tail = f.read(4)
    if head != b"PAR1":
        raise _Found(
            f"{path} is not a parquet file (it does not begin with the magic bytes PAR1); give a parquet file, "
            "or name the file for the format it holds"
        )
    if size < 12 or tail != b"PAR1":
        raise _Found(f"{path} is cut short (a parquet file ends with the magic bytes PAR1); copy or write it again")


def _parquet_problem(path: Path) -> str | None:
    import pyarrow.parquet as pq

    try:
        _check_parquet_magic(path)
    except _Found as found:
        return str(found)
    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... for a file it cannot open
        return f"{path} is not a readable parquet file ({_first_sentence(err)}); copy or write it again"
    with parquet:
        for i in range(parquet.num_row_groups):
            try:
                parquet.read_row_group(i)
            except Exception as err:
                where = f"row group {i + 1} of {parquet.num_row_groups}"
                return f"{path}: {where} cannot be read ({_first_sentence(err)}); write the file again"
    return None


# --- save_to_disk folders


def _is_saved(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def _read_json_file(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise _Found(f"{path} is not valid UTF-8 ({err.reason}); {SAVED_FIX}") from None
    except json.JSONDecodeError as err:
        problem = f"not valid JSON ({err.msg} at column {err.colno})"
        raise _Found(f"{path} line {err.lineno}: {problem}; {SAVED_FIX}") from None


def _saved_problem(folder: Path) -> str | None:
    """The first problem in a ``save_to_disk`` folder of a ``DatasetDict`` or a ``Dataset``."""
    try:
        index = folder / "dataset_dict.json"
        if index.is_file():
            value = _read_json_file(index)
            splits = value.get("splits") if isinstance(value, dict) else None
            if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
                raise _Found(f"{index} has no list of 'splits'; {SAVED_FIX}")
            for split in splits:
                if not (folder / split / "state.json").is_file():
                    missing = f"{folder} lists split '{split}' but {folder / split} holds no saved data"
                    raise _Found(f"{missing}; {SAVED_FIX}")
                _check_saved_dataset(folder / split)
        else:
            _check_saved_dataset(folder)
    except _Found as found:
        return str(found)
    return None


def _check_saved_dataset(folder: Path) -> None:
    import pyarrow as pa

    values = {}
    for name in ("state.json", "dataset_info.json"):
        if not (folder / name).is_file():
            raise _Found(f"{folder} has no {name}, so it is not a whole save_to_disk folder; {SAVED_FIX}")
        values[name] = _read_json_file(folder / name)
        if not isinstance(values[name], dict):
            raise _Found(f"{folder / name} holds {_kind(values[name])}, not a JSON object; {SAVED_FIX}")
    files = values["state.json"].get("_data_files")
    if not isinstance(files, list) or not files or not all(isinstance(f, dict) and "filename" in f for f in files):
        raise _Found(f"{folder / 'state.json'} lists no data files ('_data_files'); {SAVED_FIX}")
    for entry in files:
        path = folder / str(entry["filename"])
        if not path.is_file():
            raise _Found(f"{path} is missing (it is listed in {folder / 'state.json'}); {SAVED_FIX}")
        try:
            with pa.memory_map(str(path)) as source:  # memory-mapped: reads the batches' headers, copies nothing
                for _ in pa.ipc.open_stream(source):
                    pass
        except Exception as err:  # pyarrow raises ArrowInvalid or OSError for a truncated or foreign file
            raise _Found(f"{path} is not a readable Arrow file ({_first_sentence(err)}); {SAVED_FIX}") from None


# --- the boundary: eager reads, lazy reads, and the files the loaders registered

_registered: dict[str, None] = {}  # an ordered set of the local files and folders the loaders read


def register(paths: Iterable[str | Path]) -> None:
    """Records local files or folders a loader reads, for :func:`reader_error_message` (lazy reads)."""
    _registered.update(dict.fromkeys(str(p) for p in paths))


def registered() -> list[str]:
    """The files and folders registered since the last :func:`forget`, in order."""
    return list(_registered)


def forget() -> None:
    """Clears the registry; a recipe calls it before it loads its data, so older files are never blamed."""
    _registered.clear()


def _reader_error_types() -> tuple[type[BaseException], ...]:
    """The exceptions file readers raise for malformed data; modules not imported cannot have raised theirs."""
    types: list[type[BaseException]] = [json.JSONDecodeError, UnicodeDecodeError, csv.Error]
    if (exceptions := sys.modules.get("datasets.exceptions")) is not None:
        types.append(exceptions.DatasetGenerationError)
    if (pa := sys.modules.get("pyarrow")) is not None:
        types.append(pa.ArrowException)
    if (errors := sys.modules.get("pandas.errors")) is not None:
        types += [errors.ParserError, errors.EmptyDataError]
    return tuple(types)


def is_reader_error(err: BaseException) -> bool:
    """Whether the exception chain (``__cause__``/``__context__``) holds an exception of a file reader's type."""
    types = _reader_error_types()
    return any(isinstance(e, types) for e in exception_chain(err))


_QUOTED = re.compile(r"'([^']+)'")


def first_problem(
    paths: Iterable[str | Path], err: BaseException | None = None, notes: Iterable[str] = (), **kwargs
) -> str | None:
    """:func:`diagnose` of each path until one has a problem; the files that ``err`` or the reader's log ``notes``
    name are looked at first (datasets logs "Failed to read file 'X'")."""
    paths = [str(p) for p in paths]
    given = {os.path.realpath(p): p for p in paths}  # a file the error names, as the user named it
    texts = [*(str(e) for e in exception_chain(err)), *notes] if err is not None else list(notes)
    named = [
        given.get(os.path.realpath(m), m)
        for text in texts
        for m in _QUOTED.findall(text)
        if m in paths or (Path(m).suffix.lower() in DATA_SUFFIXES and Path(m).is_file())
    ]
    for path in dict.fromkeys([*named, *paths]):
        if Path(path).exists() and (message := diagnose(path, **kwargs)):
            return message
    return None


def reader_error_message(err: BaseException, notes: Iterable[str] = ()) -> str | None:
    """The one-line error for an exception a lazy read raised (a stream read inside the Trainer), or ``None``.

    A message only when both hold: the exception chain holds a reader's exception (datasets' DatasetGenerationError,
    pyarrow's ArrowException, json.JSONDecodeError, UnicodeDecodeError, csv.Error, pandas' ParserError), and
    :func:`diagnose` finds a problem in one of the files the loaders registered (or that the error names). Otherwise
    the caller must let the exception go on as it is: it is a bug, or a problem the files do not show.
    ``config.cli_main`` calls it for exceptions that reach it.
    """
    if isinstance(err, UserError) or not is_reader_error(err):
        return None
    return first_problem(registered(), err, notes)


class _HoldReaderLogs(logging.Filter):
    """Holds the errors datasets' readers log just before they raise: the one-line error replaces them, and a bug's
    traceback comes after them as it would have."""

    def __init__(self):
        super().__init__()
        self.holds: list[list[logging.LogRecord]] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if self.holds and record.levelno >= logging.ERROR:
            self.holds[-1].append(record)
            return False
        return True

    @contextlib.contextmanager
    def holding(self) -> Iterator[list[logging.LogRecord]]:
        for name in _READER_LOGGERS:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)
        held: list[logging.LogRecord] = []
        self.holds.append(held)
        try:
            yield held
        finally:
            del self.holds[next(i for i, h in enumerate(self.holds) if h is held)]
            for record in held:  # replayed unless the caller cleared them (the error was diagnosed)
                logging.getLogger(record.name).handle(record)


_hold = _HoldReaderLogs()


@contextlib.contextmanager
def _boundary(decide: Callable[[Exception, list[str]], str | None]) -> Iterator[None]:
    """Turns an exception raised inside into ``UserError(decide(err, held log lines))``, unless that is None."""
    with _hold.holding() as held:
        try:
            yield
        except UserError:
            raise
        except Exception as err:
            message = decide(err, [r.getMessage() for r in held])
            if message is None:
                raise
            held.clear()
            raise UserError(message) from err


def reading(paths: Iterable[str | Path], **kwargs):
    """The boundary of an eager read of local ``paths`` (files or save_to_disk folders): an exception raised inside
    becomes ``UserError(diagnosis)`` when :func:`diagnose` finds a problem in those files; otherwise it goes on
    unchanged. ``kwargs`` go to :func:`diagnose`. The paths are registered for lazy reads."""
    paths = [str(p) for p in paths]
    register(paths)
    return _boundary(lambda err, notes: first_problem(paths, err, notes, **kwargs))


def lazy_reading():
    """The boundary of a lazy read (iterating a stream): :func:`reader_error_message` decides."""
    return _boundary(reader_error_message)


def local_data_files(folder: str | Path, limit: int = 10_000) -> list[str]:
    """The data files (by suffix) under a local folder, sorted, at most ``limit``: what ``load_dataset(folder)`` may
    read."""
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files += [os.path.join(root, n) for n in sorted(names) if Path(n).suffix.lower() in DATA_SUFFIXES]
        if len(files) >= limit:
            break
    return files[:limit]
