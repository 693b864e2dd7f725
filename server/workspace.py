"""Workspace diagnostics (``torchpit.diagnosticMode: "workspace"``): every Python file of a
workspace folder, for ``workspace/diagnostic``, through the batch mode.

:func:`scan` is a pure function of its :class:`Scan` (and the files). It runs in a background
worker process (``scheduler.Scheduler.background``), never on the event loop and never in the
analysis worker, at the lowest CPU priority, and it waits between files while an open
document is being analysed: typing keeps its latency. Files are found as ``torchpit check``
finds them (``batch.discover``: excludes, .gitignore) and analysed as it does
(``batch.check_file``), through its cache (``batch.Cache``, in the folder's ``.torchpit_cache``
or ``$TORCHPIT_CACHE_DIR``): a file ``torchpit check`` has seen, unchanged, costs a hash.
A report's result id is that cache key (content, path, configuration, torchpit's version), so
an unchanged file is reported ``unchanged``. Open documents are left out (their diagnostics come
through ``textDocument/diagnostic``), and so are notebooks (a cell's URI is the client's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import lru_cache

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from torchpit.batch import NB_SUFFIX, Cache, FixMode, check_file, discover, read_python

from .analysis import resolve_config, too_large_diagnostic
from .background import wait_for_quiet
from .convert import Lines, path_to_uri, related_to_uris, to_lsp_diagnostics
from .settings import Settings

CACHE_DIR_ENV = "TORCHPIT_CACHE_DIR"


@dataclass(frozen=True)
class Scan:
    folder: str  # the workspace folder's path
    settings: Settings
    encoding: str
    skip: frozenset[str] = frozenset()  # paths of open documents
    previous: dict[str, str] = field(default_factory=dict)  # URI -> the result id the client has


def cache_dir(folder: str) -> str:
    return os.environ.get(CACHE_DIR_ENV) or os.path.join(folder, ".torchpit_cache")


def scan(job: Scan) -> list[types.WorkspaceDocumentDiagnosticReport]:
    settings = job.settings

    @lru_cache(maxsize=1024)
    def config_for(directory: str):
        config = resolve_config(None, directory, settings)[0]  # a broken pyproject.toml: the defaults
        return config if settings.jedi else replace(config, jedi=False)

    def config_of(path: str):
        return config_for(path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)))

    cache = Cache(cache_dir(job.folder))
    codec = PositionCodec(job.encoding)
    reports: list[types.WorkspaceDocumentDiagnosticReport] = []
    for path in discover([job.folder], config_of):
        if path.endswith(NB_SUFFIX) or os.path.abspath(path) in job.skip:
            continue
        wait_for_quiet()  # an open document is being analysed: let it go first
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError:
            continue  # gone since it was listed
        config = config_of(path)
        key = Cache.key(raw, path, config)
        too_large = bool(settings.max_file_size) and len(raw) > settings.max_file_size
        if too_large:
            key += ":too-large"  # the limit is not in the cache key: a changed limit changes the report
        uri = path_to_uri(path)
        if job.previous.get(uri) == key:
            reports.append(types.WorkspaceUnchangedDocumentDiagnosticReport(uri=uri, version=None, result_id=key))
            continue
        if too_large:  # as an open document: not analysed, and one diagnostic says so
            items = to_lsp_diagnostics([too_large_diagnostic(len(raw), settings.max_file_size)], Lines("", codec), uri, None)
            reports.append(types.WorkspaceFullDocumentDiagnosticReport(uri=uri, items=items, version=None, result_id=key))
            continue
        result = cache.get(key, path)
        if result is None:
            result = check_file(path, config, FixMode(), settings.python_path)
            cache.put(key, result)
        try:
            text = read_python(raw).text
        except (UnicodeError, LookupError):
            text = ""  # the diagnostic says why; its position is the file's start
        diags = [related_to_uris(d, path) for d in result.diagnostics]
        items = to_lsp_diagnostics(diags, Lines(text, codec), uri, None)
        reports.append(types.WorkspaceFullDocumentDiagnosticReport(uri=uri, items=items, version=None, result_id=key))
    return reports
