"""The batch mode behind ``torchpit check``: discovery, caching, parallel analysis, fixes."""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import stat
import sys
import tokenize
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Iterator

import pathspec

from torchpit import __version__
from torchpit.analyzers.engine.config import Config, ConfigError, describe_size, load_config
from torchpit.analyzers.core.diagnostics import Diagnostic
from torchpit.analyzers.engine import collector
from torchpit.analyzers.engine.analysis import analyze, unreadable
from torchpit.analyzers.engine.fixes import fix_until_stable, parses, unified_diff, write_atomic
from torchpit.analyzers.semantic.inference import JediOptions
from torchpit.analyzers.syntax.notebook import Notebook, NotebookError, map_diagnostic, read_notebook
from torchpit.noqa import unknown_noqa_warnings

PY_SUFFIXES = (".py", ".pyi")
NB_SUFFIX = ".ipynb"
PARALLEL_THRESHOLD = 8  # below this many files to analyze, a process pool costs more than it saves


@dataclass(frozen=True)
class Overrides:
    """Command-line settings that override ``[tool.torchpit]``."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    jedi: bool | None = None
    config_file: str | None = None
    exclude: tuple[str, ...] | None = None  # replaces the configuration's (and the default) list
    extend_exclude: tuple[str, ...] = ()
    max_file_size: int | None = None  # bytes; 0: no limit

    def apply(self, config: Config) -> Config:
        out = config.with_overrides(
            select=self.select, extend_select=self.extend_select, jedi=self.jedi, exclude=self.exclude, max_file_size=self.max_file_size
        )
        if self.ignore:
            out = out.with_overrides(ignore=(*out.ignore, *self.ignore))
        if self.extend_exclude:
            out = out.with_overrides(extend_exclude=(*out.extend_exclude, *self.extend_exclude))
        return out


@dataclass(frozen=True)
class FixMode:
    fix: bool = False
    unsafe: bool = False
    diff: bool = False  # show the change, write nothing

    @property
    def active(self) -> bool:
        return self.fix or self.diff


@dataclass
class FileResult:
    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    rule_errors: list[str] = field(default_factory=list)
    notebook: bool = False
    lines: int = 0
    cached: bool = False
    fixed: int = 0
    fixed_codes: list[str] = field(default_factory=list)  # the code of each fix applied (or shown by --diff)
    diff: str = ""
    fixed_text: str | None = None  # with FixMode.diff: the whole fixed file (stdin --fix prints it)
    # Problems with the file's directives, such as an unknown code in `# noqa: PIT999`.
    warnings: list[str] = field(default_factory=list)
    # `check --probe`: probe results (ProbeResult.to_dict()) by index into `diagnostics`.
    probes: dict[int, list[dict]] = field(default_factory=dict)
    skipped: bool = False  # above max-file-size: not analysed (a warning says so; never cached)

    def to_cache(self) -> dict:
        return {
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "rule_errors": self.rule_errors,
            "warnings": self.warnings,
            "notebook": self.notebook,
            "lines": self.lines,
        }

    @classmethod
    def from_cache(cls, path: str, data: dict) -> "FileResult":
        return cls(
            path,
            [Diagnostic.from_dict(d) for d in data["diagnostics"]],
            list(data.get("rule_errors", [])),
            bool(data.get("notebook")),
            int(data.get("lines", 0)),
            cached=True,
            warnings=list(data.get("warnings", [])),
        )


def diff_name(path: str) -> str:
    """``path`` as diff headers and messages show it: relative to the working folder, no ``./``."""
    rel = os.path.relpath(path)
    return os.path.normpath(path) if rel.startswith("..") else rel


class UsageError(Exception):
    """Exit code 2: a path that does not exist or is a special file (a FIFO, a socket, a device)."""


# ---------------------------------------------------------------------- special files
class NotARegularFile(OSError):
    """A named pipe, a socket or a device: torchpit never reads one (reading a FIFO blocks)."""


def special_kind(mode: int) -> str | None:
    """What a file of this ``st_mode`` is, when it is neither a regular file nor a folder."""
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "not a regular file"


def read_bytes(path: str) -> bytes:
    """A regular file's content. Raises OSError, and :class:`NotARegularFile` for a special file,
    which is never opened for reading (and a FIFO swapped in meanwhile does not block the open)."""
    kind = special_kind(os.stat(path).st_mode)
    if kind is None:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with open(fd, "rb") as fh:
            kind = special_kind(os.fstat(fd).st_mode)
            if kind is None:
                return fh.read()
    raise NotARegularFile(f"not a regular file ({kind})")


def _warn(message: str) -> None:
    print(f"torchpit: warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------------- discovery
def _is_venv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


@lru_cache(maxsize=4096)
def _gitignore(directory: str) -> pathspec.GitIgnoreSpec | None:
    path = os.path.join(directory, ".gitignore")
    try:
        return pathspec.GitIgnoreSpec.from_lines(read_bytes(path).decode("utf-8", errors="replace").splitlines())
    except OSError:
        return None


@lru_cache(maxsize=256)
def _exclude_spec(patterns: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(patterns)


def _excluded(path: str, config: Config, is_dir: bool) -> bool:
    name = os.path.basename(path)
    patterns = (*config.exclude, *config.extend_exclude)
    if name in patterns:
        return True
    rel = config.relative(path) + ("/" if is_dir else "")
    return _exclude_spec(patterns).match_file(rel)


def _ignored_by_git(path: str, root: str, is_dir: bool) -> bool:
    """Match ``path`` against every .gitignore from ``root`` down to its folder."""
    directory = os.path.dirname(path)
    chain = []
    cur = directory
    while True:
        chain.append(cur)
        if os.path.abspath(cur) == os.path.abspath(root) or os.path.dirname(cur) == cur:
            break
        cur = os.path.dirname(cur)
    for d in reversed(chain):
        spec = _gitignore(d)
        if spec is not None:
            rel = os.path.relpath(path, d).replace(os.sep, "/") + ("/" if is_dir else "")
            if spec.match_file(rel):
                return True
    return False


def discover(paths: Iterable[str], config_for: Callable[[str], Config], warn: Callable[[str], None] = _warn) -> list[str]:
    """The files to analyze under ``paths``.

    Raises UsageError for a path that does not exist or is a special file (a FIFO, a socket, a
    device). In folders, special files are skipped without being opened, and a folder that
    cannot be listed is skipped with a warning (``warn``).
    """
    out: list[str] = []
    seen: set[str] = set()

    def unlisted(exc: OSError) -> None:
        warn(f"{exc.filename}: cannot read the folder ({exc.strerror or exc}); skipped")

    for given in paths:
        try:
            mode = os.stat(given).st_mode
        except OSError:
            raise UsageError(f"{given}: no such file or directory") from None
        if not stat.S_ISDIR(mode):
            kind = special_kind(mode)
            if kind is not None:
                raise UsageError(f"{given}: not a regular file ({kind}); give files or folders")
            if given not in seen:
                seen.add(given)
                out.append(given)
            continue
        root = given
        for dirpath, dirnames, filenames in os.walk(root, onerror=unlisted):
            config = config_for(dirpath)
            keep = []
            for d in sorted(dirnames):
                full = os.path.join(dirpath, d)
                if d.startswith(".git") and d == ".git" or _is_venv(full) or _excluded(full, config, True):
                    continue
                if config.respect_gitignore and _ignored_by_git(full, root, True):
                    continue
                keep.append(d)
            dirnames[:] = keep
            for f in sorted(filenames):
                if not f.endswith((*PY_SUFFIXES, NB_SUFFIX)):
                    continue
                full = os.path.join(dirpath, f)
                if _is_special(full) or _excluded(full, config, False):
                    continue
                if config.respect_gitignore and _ignored_by_git(full, root, False):
                    continue
                if full not in seen:
                    seen.add(full)
                    out.append(full)
    return out


def _is_special(path: str) -> bool:
    """A FIFO, socket or device (a dangling link is not: reading it reports the problem)."""
    try:
        return special_kind(os.stat(path).st_mode) is not None
    except OSError:
        return False


# ---------------------------------------------------------------------- reading
@dataclass
class SourceText:
    text: str
    encoding: str = "utf-8"
    newline: str | None = None


class EncodingDeclarationError(LookupError):
    """A coding cookie Python rejects: an unknown encoding, or one that contradicts a UTF-8 BOM."""


def read_python(raw: bytes) -> SourceText:
    """Decode Python source as the interpreter does (UTF-8 or the PEP 263 coding cookie).

    Raises UnicodeDecodeError (naming the byte), LookupError (a codec that is not a text
    encoding) or EncodingDeclarationError, wherever Python itself would refuse the file.
    """
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as exc:
        # Either the first lines are not UTF-8 (decoding as UTF-8 names the offending byte)
        # or, the text being UTF-8, the cookie is what Python rejects.
        raw.decode("utf-8")  # raises UnicodeDecodeError
        if raw.startswith(codecs.BOM_UTF8):
            reason = "it starts with a UTF-8 BOM but its coding declaration names another encoding"
        else:
            reason = f"its coding declaration (PEP 263) is rejected: {exc.msg}"
            if "unknown encoding" in exc.msg:
                # A codec a package registers at start-up (future_fstrings) is unknown here, but
                # may be known where the file runs.
                raise EncodingDeclarationError(f"{reason}; Python refuses to run this file unless a package registers that codec") from None
        raise EncodingDeclarationError(f"{reason}; Python refuses to run this file") from None
    return SourceText(raw.decode(encoding), encoding)  # raises UnicodeDecodeError


def _decode_error(path: str, exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"cannot decode {os.path.basename(path)} as {exc.encoding}: byte 0x{exc.object[exc.start]:02x} "
            f"at offset {exc.start} is invalid; save the file as UTF-8 or declare its encoding (PEP 263)"
        )
    return f"cannot decode {os.path.basename(path)}: {exc}"


# ---------------------------------------------------------------------- the size limit
def analysed_size(path: str, raw: bytes) -> int:
    """What ``max-file-size`` is compared with: the file's bytes; for a notebook, its code
    cells' source in UTF-8 (as the language server counts it), not its outputs."""
    if path.endswith(NB_SUFFIX):
        try:
            nb = read_notebook(raw.decode("utf-8"))
        except (UnicodeDecodeError, NotebookError):
            return len(raw)
        return sum(len(c.encode("utf-8", "surrogatepass")) for c in nb.cells)
    return len(raw)


def skipped_for_size(path: str, config: Config, raw: bytes | None = None) -> FileResult | None:
    """A file above ``config.max_file_size``: a result with no findings and the warning that
    says why. None when it is within the limit (or cannot be read: reading it reports that).

    Without ``raw`` the size on disk is asked first, so a huge Python file is never read. A
    notebook's JSON is at least as long as its code cells' source, so only one larger than
    the limit is read to count its cells.
    """
    limit = config.max_file_size
    if not limit:
        return None
    if raw is None:
        try:
            size = os.stat(path).st_size
            if size > limit and path.endswith(NB_SUFFIX):
                size = analysed_size(path, read_bytes(path))
        except OSError:
            return None
    else:
        size = analysed_size(path, raw) if len(raw) > limit else len(raw)
    if size <= limit:
        return None
    what = "its code cells are" if path.endswith(NB_SUFFIX) else "it is"
    message = (
        f"{diff_name(path)}: not analysed: {what} {describe_size(size)}, above max-file-size ({describe_size(limit)}); "
        "raise max-file-size in [tool.torchpit] or pass --max-file-size (0: no limit)"
    )
    return FileResult(path, notebook=path.endswith(NB_SUFFIX), warnings=[message], skipped=True)


# ---------------------------------------------------------------------- one file
def check_file(path: str, config: Config, fix_mode: FixMode = FixMode(), jedi_python: str | None = None) -> FileResult:
    """Analyze one file; apply fixes if asked. Never raises for a bad file: it becomes a
    diagnostic. A file above ``max-file-size`` is not read (a notebook's code cells counted)."""
    skipped = skipped_for_size(path, config)
    if skipped is not None:
        return skipped
    try:
        raw = read_bytes(path)
    except OSError as exc:
        result = FileResult(path, notebook=path.endswith(NB_SUFFIX))
        result.diagnostics.append(unreadable(path, f"cannot read {path}: {exc.strerror or exc}"))
        return result
    return check_source(path, raw, config, fix_mode, jedi_python)


def check_source(path: str, raw: bytes, config: Config, fix_mode: FixMode = FixMode(), jedi_python: str | None = None) -> FileResult:
    """Analyze the content ``raw`` of ``path`` (a file's bytes, or stdin's with ``--stdin-filename``)."""
    skipped = skipped_for_size(path, config, raw)
    if skipped is not None:
        return skipped
    result = FileResult(path, notebook=path.endswith(NB_SUFFIX))
    jedi = JediOptions(enabled=config.jedi, budget_s=config.jedi_timeout, python_path=jedi_python, project_root=config.root)
    if result.notebook:
        return _check_notebook(path, raw, config, jedi, result, fix_mode)
    declared: list = []
    try:
        src = read_python(raw)
    except EncodingDeclarationError as exc:
        # The text is UTF-8 but its cookie names a codec this Python does not know (often one a
        # package registers, such as future_fstrings): say so, and analyse it as UTF-8 so that
        # nothing else is lost. No fix is written into such a file.
        declared.append(unreadable(path, _decode_error(path, exc) + "; analysed as UTF-8"))
        src = SourceText(raw.decode("utf-8-sig", errors="replace"))
        fix_mode = FixMode()
    except (UnicodeError, LookupError) as exc:
        result.diagnostics.append(unreadable(path, _decode_error(path, exc)))
        return result
    text = src.text
    result.lines = text.count("\n") + 1
    if fix_mode.active:
        fixed = fix_until_stable(text, lambda t: analyze(t, path, config, jedi).diagnostics, unsafe=fix_mode.unsafe)
        if fixed.applied and fixed.text != text and parses(fixed.text):
            result.fixed = len(fixed.applied)
            result.fixed_codes = [d.code for d in fixed.applied]
            if fix_mode.diff:
                result.diff = unified_diff(diff_name(path), text, fixed.text)
                result.fixed_text = fixed.text
            else:
                write_atomic(path, fixed.text, src.encoding)
                text = fixed.text
    analysis = analyze(text, path, config, jedi)
    result.diagnostics = declared + analysis.diagnostics
    result.rule_errors = [str(e) for e in analysis.rule_errors]
    result.warnings = unknown_noqa_warnings(analysis.source, diff_name(path))
    return result


def _check_notebook(path: str, raw: bytes, config: Config, jedi: JediOptions, result: FileResult, fix_mode: FixMode) -> FileResult:
    try:
        nb = read_notebook(raw.decode("utf-8"))
    except (UnicodeDecodeError, NotebookError) as exc:
        msg = _decode_error(path, exc) if isinstance(exc, UnicodeDecodeError) else f"{os.path.basename(path)}: {exc}"
        result.diagnostics.append(unreadable(path, msg))
        return result
    analysis = analyze(nb.joined.text, path, config, jedi)
    result.lines = nb.joined.text.count("\n")
    result.diagnostics = [map_diagnostic(d, nb) for d in analysis.diagnostics]
    result.rule_errors = [str(e) for e in analysis.rule_errors]
    result.warnings = unknown_noqa_warnings(analysis.source, diff_name(path), nb)
    if fix_mode.active:
        _fix_notebook(path, raw, nb, result, fix_mode)
    return result


def _eol(cell: str) -> str:
    return cell if cell.endswith("\n") else cell + "\n"


def _fix_notebook(path: str, raw: bytes, nb: Notebook, result: FileResult, fix_mode: FixMode) -> None:
    """Apply fixes cell by cell; magics stay as they are, and the joined result must parse."""
    from torchpit.analyzers.engine.fixes import apply_edits, apply_fixes
    from torchpit.analyzers.syntax.notebook import join_cells, neutralize_magics

    code_cells = nb.code_cells  # the validated JSON of read_notebook, rewritten in place
    by_cell: dict[int, list[Diagnostic]] = {}
    for d in result.diagnostics:
        if d.cell is not None and d.fix is not None:
            by_cell.setdefault(nb.cell_numbers.index(d.cell), []).append(d)
    new_cells = list(nb.cells)
    applied: list[Diagnostic] = []
    for index, diags in by_cell.items():
        chosen = apply_fixes(neutralize_magics(nb.cells[index]), diags, unsafe=fix_mode.unsafe).applied
        if chosen:
            new_cells[index] = apply_edits(nb.cells[index], [e for d in chosen for e in d.fix.edits])  # type: ignore[union-attr]
            applied.extend(chosen)
    if not applied or not parses(join_cells(new_cells).text):
        return
    for index in by_cell:
        code_cells[index]["source"] = new_cells[index].splitlines(keepends=True)
    new_raw = json.dumps(nb.data, indent=1, ensure_ascii=False) + ("\n" if raw.endswith(b"\n") else "")
    result.fixed = len(applied)
    result.fixed_codes = [d.code for d in applied]
    if fix_mode.diff:
        name = diff_name(path)
        result.diff = "".join(  # per cell, as ruff shows a notebook's changes; not a diff of the JSON
            unified_diff(f"{name}:cell {nb.cell_numbers[i]}", _eol(nb.cells[i]), _eol(new_cells[i])) for i in sorted(by_cell) if new_cells[i] != nb.cells[i]
        )
        result.fixed_text = new_raw
    else:
        write_atomic(path, new_raw)
        fixed_ids = {id(x) for x in applied}
        result.diagnostics = [d for d in result.diagnostics if id(d) not in fixed_ids]


# ---------------------------------------------------------------------- cache
def default_cache_dir() -> str:
    return os.environ.get("TORCHPIT_CACHE_DIR") or os.path.join(os.getcwd(), ".torchpit_cache")


class Cache:
    """Results keyed by file content, configuration and torchpit's version.

    With jedi on, a result can depend on other modules of the project; the cache does not
    track those, so after changing a module that others import, use ``--no-cache`` once.
    """

    def __init__(self, directory: str) -> None:
        self.directory = os.path.join(directory, __version__)
        self.enabled = True
        try:
            os.makedirs(self.directory, exist_ok=True)
            marker = os.path.join(directory, ".gitignore")
            if not os.path.exists(marker):
                with open(marker, "w") as fh:
                    fh.write("# Automatically created by torchpit.\n*\n")
        except OSError:
            self.enabled = False

    @staticmethod
    def key(raw: bytes, path: str, config: Config) -> str:
        h = hashlib.sha256()
        h.update(raw)
        h.update(b"\0" + os.path.abspath(path).encode() + b"\0" + config.fingerprint().encode() + __version__.encode())
        return h.hexdigest()

    def _file(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key[2:] + ".json")

    def get(self, key: str, path: str) -> FileResult | None:
        if not self.enabled:
            return None
        try:
            with open(self._file(key), encoding="utf-8") as fh:
                return FileResult.from_cache(path, json.load(fh))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, result: FileResult) -> None:
        if not self.enabled or result.rule_errors or result.skipped:
            return
        target = self._file(key)
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            write_atomic(target, json.dumps(result.to_cache()))
        except OSError:
            pass


# ---------------------------------------------------------------------- the run
@dataclass
class RunOptions:
    overrides: Overrides = Overrides()
    fix_mode: FixMode = FixMode()
    use_cache: bool = True
    cache_dir: str | None = None
    jobs: int | None = None


def config_loader(overrides: Overrides) -> Callable[[str], Config]:
    @lru_cache(maxsize=4096)
    def for_dir(directory: str) -> Config:
        base = load_config(directory, overrides.config_file)
        return overrides.apply(base)

    def config_for(path: str) -> Config:
        directory = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
        return for_dir(os.path.abspath(directory))

    return config_for


def _work(args: tuple[str, Config, FixMode]) -> FileResult:
    path, config, fix_mode = args
    return check_file(path, config, fix_mode)


def run_check(paths: list[str], options: RunOptions) -> Iterator[FileResult]:
    """Analyze every file under ``paths``. Raises UsageError / ConfigError before any work."""
    config_for = config_loader(options.overrides)
    files = discover(paths, config_for)
    configs = {f: config_for(f) for f in files}  # raises ConfigError early, naming the file
    cache = Cache(options.cache_dir or default_cache_dir()) if options.use_cache and not options.fix_mode.active else None
    todo: list[tuple[str, Config, FixMode]] = []
    keys: dict[str, str] = {}
    for f in files:
        skipped = skipped_for_size(f, configs[f])
        if skipped is not None:
            yield skipped  # before the cache: its key would read the whole file
            continue
        if cache is not None:
            try:
                key = Cache.key(read_bytes(f), f, configs[f])
            except OSError:
                key = None
            if key is not None:
                hit = cache.get(key, f)
                if hit is not None:
                    yield hit
                    continue
                keys[f] = key
        todo.append((f, configs[f], options.fix_mode))
    jobs = options.jobs or os.cpu_count() or 1
    if len(todo) >= PARALLEL_THRESHOLD and jobs > 1:
        # Each worker keeps what its files' analyses leave alive frozen, uncollected until a
        # sweep (engine/collector.py).
        with ProcessPoolExecutor(max_workers=jobs, initializer=collector.keep_survivors_frozen, initargs=(True, False)) as pool:
            # Small chunks in path order: a package's files stay together (one worker parses the
            # modules they import once), and no worker is left with a long last chunk while the
            # others idle (a chunk of 16 large files is a second of one core).
            results = pool.map(_work, todo, chunksize=max(1, min(4, len(todo) // (jobs * 8) or 1)))
            for r in results:
                if cache is not None and r.path in keys:
                    cache.put(keys[r.path], r)
                yield r
    else:
        with collector.survivors_frozen(young=False):
            for item in todo:
                r = _work(item)
                if cache is not None and r.path in keys:
                    cache.put(keys[r.path], r)
                yield r


__all__ = ["ConfigError", "FileResult", "FixMode", "Overrides", "RunOptions", "UsageError", "check_file", "discover", "run_check"]
