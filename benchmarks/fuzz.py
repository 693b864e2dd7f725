"""Random edits sent to the real language server, every published result checked against the
batch analysis of the same text.

A plain JSON-RPC client over stdio (``bench_latency.Client``) starts ``python -m
torchpit.server``, opens real-looking files (the examples and the rules' test fixtures) and
notebooks made of them, and edits them at random: characters, tokens, pasted blocks of other
files, unclosed brackets and strings, deleted spans and lines, undos (a whole-document change),
several changes in one ``didChange``, emoji and CJK text, so that UTF-16 positions matter, and
the characters where ``str.splitlines`` and LSP disagree on line ends (form feed, ``\v``, U+2028).
Edits go in bursts of one to five without waiting, as a person types.

For every ``publishDiagnostics`` of a text document, the published diagnostics must equal
those of a fresh ``analyze()`` (no incremental parser, no memo) of the text of that version,
converted as the server converts them. A notebook's cells are checked once the server has
published every cell after an edit. It counts:

- edits and publishes;
- crashes: the server exited, or a request went unanswered;
- stale publishes: a version older than one already published for that document;
- mismatches: a published result that is not the batch analysis of its text;
- missing: the last version of a burst never published.

    python benchmarks/fuzz.py [--seed 0] [--edits 3000] [--docs 12] [--notebooks 3] [--malformed]

It prints the counts and exits 1 if any crash, stale publish, mismatch or missing publish
was seen. ``tests/test_fuzz.py`` runs a short fixed-seed session in the test suite.

``--malformed`` mixes malformed protocol traffic into the same session, between bursts of
edits (``--malformed-rate`` of them): the transport tests' cases (``MALFORMED``, from
``tests/server/malformed.py``: bad or missing Content-Length, lowercase and LF-only headers,
truncated JSON, no method, batch arrays, ``"jsonrpc": "1.0"``...), each sent at least once, and
random broken frames. After each, the replies the case must get are checked and a valid
request must be answered (a recovery); a server that dies or stops answering is a crash. The
session then ends with requests after ``shutdown`` (each must get -32600) and ``exit`` (status
0). It counts the cases sent, their replies as expected, wrong or missing replies, and the
recoveries, next to the edits' counts; the edits after the traffic must still publish the
batch analysis of their text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from bench_latency import Client  # noqa: E402
from lsprotocol.converters import get_converter  # noqa: E402
from pygls.workspace.position_codec import PositionCodec  # noqa: E402

from tests.server import malformed as transport_cases  # noqa: E402
from torchpit.analyzers.engine.analysis import analyze  # noqa: E402
from torchpit.analyzers.semantic.inference import JediOptions  # noqa: E402
from torchpit.analyzers.syntax.notebook import join_cells, localize  # noqa: E402
from server.analysis import resolve_config  # noqa: E402
from server.convert import Lines, related_to_uris, to_lsp_diagnostics  # noqa: E402
from server.settings import parse_settings  # noqa: E402

SETTINGS = {"debounce": 0, "jedi": False}
CORPUS = sorted([*(ROOT / "examples").rglob("*.py"), *(ROOT / "tests" / "fixtures").rglob("*.py")])
_CONVERTER = get_converter()

# What is typed: characters, wide ones among them (two UTF-16 units for the emoji).
CHARS = list("abcxyz_ ()[]{}:.,=+-*/#'\"\n\t0123456789") + ["é", "中", "文", "😀", "🔥", "\n    ", "\n        "]
# Characters Python's str.splitlines ends a line at and LSP does not (a form feed, \v, U+2028):
# the server's copy of the text must keep them inside their line (issue 14).
CHARS += ["\f", "\v", "\u2028", "\r\n"]
TOKENS = [
    "torch", "model.eval()", "model.train()", "optimizer.zero_grad()", "loss.backward()", "with torch.no_grad():",
    "F.softmax(x, dim=1)", "import torch\n", "import torch.nn.functional as F\n", "def f(", "class K(", "@torch.no_grad()\n",
    "return ", "for x, y in loader:\n", "if x:\n", "else:\n", "'''", '"""', "# ", "😀", "中文", "x = '😀中'", "lambda: (",
]
# Broken code that reaches past its line.
UNCLOSED = ["from .resnet import (", "x = F.interpolate(", "y = [1,", "s = '''", 'doc = """', "@decorator", "def g(:", "z = {"]


# ---------------------------------------------------------------------------- positions
def utf16_position(text: str, offset: int) -> dict[str, int]:
    """The LSP position (UTF-16 code units) of code point ``offset`` in ``text``: lines end at
    ``\\n``, ``\\r\\n`` and ``\\r``, as in LSP (``offset`` is never between a ``\\r`` and its ``\\n``)."""
    line = text.count("\n", 0, offset) + text.count("\r", 0, offset) - text.count("\r\n", 0, offset)
    start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    return {"line": line, "character": sum(2 if ord(c) > 0xFFFF else 1 for c in text[start:offset])}


def _between_cr_lf(text: str, offset: int) -> int:
    """``offset``, moved before the ``\\r`` when it falls inside a ``\\r\\n``: no LSP position
    is there (a change at such an offset would make the client's text and the server's differ,
    the fault of the client, not of the server)."""
    return offset - 1 if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n" else offset


def apply_change(text: str, start: int, end: int, new: str) -> tuple[str, dict[str, Any]]:
    """``text`` with ``[start, end)`` replaced by ``new``, and the LSP change that says so."""
    change = {"range": {"start": utf16_position(text, start), "end": utf16_position(text, end)}, "text": new}
    return text[:start] + new + text[end:], change


# ---------------------------------------------------------------------------- edits
def _line_starts(text: str) -> list[int]:
    return [0, *(i + 1 for i, c in enumerate(text) if c == "\n")]


def random_change(rng: random.Random, text: str, corpus: list[str]) -> tuple[int, int, str]:
    """One random change of ``text``: (start, end, new text), offsets in code points."""
    n = len(text)
    at = _between_cr_lf(text, rng.randint(0, n))
    op = rng.random()
    if op < 0.3:
        return at, at, "".join(rng.choice(CHARS) for _ in range(rng.randint(1, 3)))
    if op < 0.5:
        return at, at, rng.choice(TOKENS)
    if op < 0.65:
        return at, _between_cr_lf(text, min(n, at + rng.randint(1, 40))), ""
    starts = _line_starts(text)
    line_at = rng.choice(starts)
    if op < 0.8:  # a pasted block of another file
        other = rng.choice(corpus).split("\n")
        i = rng.randrange(len(other))
        return line_at, line_at, "\n".join(other[i : i + rng.randint(1, 10)]) + "\n"
    if op < 0.9:  # an unclosed bracket or string, at the start of a line or indented
        return line_at, line_at, rng.choice(["", "    "]) + rng.choice(UNCLOSED) + "\n"
    k = starts.index(line_at)  # deleted lines
    end = starts[min(k + rng.randint(1, 5), len(starts) - 1)]
    return line_at, end, ""


@dataclass
class Edit:
    text: str  # the document after it
    changes: list[dict[str, Any]]  # what didChange carries


def random_edit(rng: random.Random, text: str, corpus: list[str], history: list[str]) -> Edit:
    """One didChange: mostly one change, sometimes several (each on the text the one before
    left), sometimes an undo to an older version (a whole-document change)."""
    if history and rng.random() < 0.1:
        old = rng.choice(history)
        return Edit(old, [{"text": old}])
    changes = []
    for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 4)):
        text, change = apply_change(text, *random_change(rng, text, corpus))
        changes.append(change)
    return Edit(text, changes)


# ---------------------------------------------------------------------------- the expected result
def _plain(lsp: list[Any]) -> list[Any]:
    return json.loads(json.dumps(_CONVERTER.unstructure(lsp)))


def batch_result(texts: list[str], uris: list[str], path: str, folder: str, notebook: bool, version: int | None = None) -> dict[str, list[Any]]:
    """What a fresh analysis of this text (a notebook's code cells) publishes, per URI
    (``version``: the text document's, which the diagnostics' data carry)."""
    settings, _ = parse_settings(SETTINGS)
    config, _ = resolve_config(path, folder, settings)
    codec = PositionCodec("utf-16")
    if not notebook:
        result = analyze(texts[0], path, config, jedi=JediOptions(enabled=False))
        diags = [related_to_uris(d, path) for d in result.diagnostics]
        return {uris[0]: _plain(to_lsp_diagnostics(diags, Lines(texts[0], codec), uris[0], version))}
    joined = join_cells(texts)
    result = analyze(joined.text, path, config, jedi=JediOptions(enabled=False))
    per_cell: dict[int, list[Any]] = {i: [] for i in range(len(texts))}
    for d in result.diagnostics:
        index, local = localize(related_to_uris(d, path), joined, lambda i: uris[i])
        if index is not None:
            per_cell[index].append(local)
    # the server's published cell diagnostics carry no version (a notebook's cells have none)
    return {u: _plain(to_lsp_diagnostics(per_cell[i], Lines(t, codec), u, None)) for i, (u, t) in enumerate(zip(uris, texts))}


def _without_version(diags: list[Any]) -> list[Any]:
    for d in diags:
        if isinstance(d.get("data"), dict):
            d["data"].pop("version", None)
    return diags


# ---------------------------------------------------------------------------- the client
@dataclass
class Counts:
    edits: int = 0
    publishes: int = 0
    crashes: int = 0
    stale: int = 0
    mismatches: int = 0
    missing: int = 0
    checked: int = 0  # publishes compared with the batch analysis
    bursts: int = 0  # bursts of edits; the last version of each must be published and compared
    malformed: int = 0  # malformed-traffic cases sent (--malformed)
    replies: int = 0  # replies those cases must get, received as expected
    wrong_replies: int = 0  # ... missing or not the expected result or error code
    recovered: int = 0  # a valid request answered right after a case
    examples: list[str] = field(default_factory=list)  # the first problems, to reproduce

    def problem(self, what: str) -> None:
        if len(self.examples) < 10:
            self.examples.append(what)

    @property
    def bad(self) -> int:
        return self.crashes + self.stale + self.mismatches + self.missing + self.wrong_replies

    def line(self) -> str:
        out = (
            f"edits {self.edits}, publishes {self.publishes} ({self.checked} compared), crashes {self.crashes}, "
            f"stale {self.stale}, mismatches {self.mismatches}, missing {self.missing}"
        )
        if self.malformed:
            out += (
                f"; malformed traffic {self.malformed} (replies {self.replies} as expected, {self.wrong_replies} wrong or missing; "
                f"recovered {self.recovered})"
            )
        return out


class FuzzClient(Client):
    """``bench_latency.Client`` that keeps every publish with its diagnostics."""

    def __init__(self, cmd: list[str], settings: dict[str, Any] | None) -> None:
        super().__init__(cmd, settings)
        self.log: list[tuple[float, dict[str, Any]]] = []  # (time, publishDiagnostics params)
        self.other: list[dict[str, Any]] = []  # responses to raw requests (malformed traffic)

    def on_notification(self, msg: dict[str, Any], now: float) -> None:
        if msg.get("method") == "textDocument/publishDiagnostics":
            self.log.append((now, msg["params"]))

    def on_other_response(self, msg: dict[str, Any], now: float) -> None:
        self.other.append(msg)

    def send_raw(self, data: bytes) -> None:
        """Bytes as they are, framing included (for the malformed-traffic cases)."""
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(data)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


# The malformed-traffic cases (see the module docs), shared with tests/server/test_transport.py.
MALFORMED: list[transport_cases.Case] = transport_cases.CASES


class Malformed:
    """Malformed traffic sent to the session's server, and what came back."""

    def __init__(self, client: FuzzClient, rng: random.Random, counts: Counts, timeout: float) -> None:
        self.client, self.rng, self.counts, self.timeout = client, rng, counts, timeout
        self.todo = list(MALFORMED)
        rng.shuffle(self.todo)
        self.sent = 0

    async def _reply(self, msg_id: Any) -> dict[str, Any] | None:
        def found() -> dict[str, Any] | None:
            return next((m for m in self.client.other if m.get("id", "missing") == msg_id), None)

        await _wait(lambda: found() is not None or not self.client.alive, self.timeout)
        reply = found()
        if reply is not None:
            self.client.other.remove(reply)
        return reply

    async def round(self) -> bool:
        """One case (the next of MALFORMED, or random broken frames), then a valid request.
        False when the server did not recover (it died or stopped answering)."""
        if self.todo and (self.rng.random() < 0.5 or len(self.todo) == len(MALFORMED)):
            case = self.todo.pop()
            name, data, replies = case.name, case.data, case.replies
        else:
            name, data, replies = "random broken frames", b"".join(transport_cases.random_broken(self.rng) for _ in range(self.rng.randint(1, 3))), {}
        self.counts.malformed += 1
        self.client.send_raw(data)
        for msg_id, expected in replies.items():
            reply = await self._reply(msg_id)
            if reply is not None and transport_cases.outcome(reply) == expected:
                self.counts.replies += 1
            else:
                self.counts.wrong_replies += 1
                self.counts.problem(f"{name}: the reply to id {msg_id!r} is {reply!r}, expected {expected}")
        self.sent += 1
        msg_id = f"fuzz-recovery-{self.sent}"
        self.client.send_raw(transport_cases.frame(transport_cases.explain(msg_id)))
        reply = await self._reply(msg_id)
        if reply is None or "PIT101" not in str(reply.get("result")):
            if self.client.alive:
                self.counts.crashes += 1  # deaf: as good as dead to the editor
                self.counts.problem(f"{name}: the next request got {reply!r}")
            return False
        self.counts.recovered += 1
        self.client.other.clear()  # what came before the recovery's reply belonged to the case
        return True

    async def rest(self) -> bool:
        """The cases not sent yet (a short session still sends each once)."""
        while self.todo:
            if not await self.round():
                return False
        return True

    async def end(self) -> None:
        """Requests after shutdown, then exit: every reply as it must be, and status 0."""
        for msg, expected in transport_cases.AFTER_SHUTDOWN:
            self.counts.malformed += 1
            self.client.send_raw(transport_cases.frame(msg))
            reply = await self._reply(msg["id"])
            if reply is not None and transport_cases.outcome(reply) == expected:
                self.counts.replies += 1
            else:
                self.counts.wrong_replies += 1
                self.counts.problem(f"after shutdown: the reply to {msg['method']} (id {msg['id']}) is {reply!r}, expected {expected}")
        self.client.send_raw(transport_cases.frame(transport_cases.EXIT))
        status = await asyncio.wait_for(self.client.proc.wait(), self.timeout)  # type: ignore[union-attr]
        if status != 0:
            self.counts.crashes += 1
            self.counts.problem(f"exit after shutdown: status {status}")


@dataclass
class Doc:
    uri: str
    path: Path
    text: str
    version: int = 1
    versions: dict[int, str] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    newest_published: int = 0


async def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


class Session:
    """One server, its open documents, and what was checked."""

    def __init__(self, client: FuzzClient, root: Path, rng: random.Random, counts: Counts, timeout: float) -> None:
        self.client, self.root, self.rng, self.counts, self.timeout = client, root, rng, counts, timeout
        self.seen = 0  # publishes of self.client.log looked at
        self.docs: dict[str, Doc] = {}
        self.corpus = [p.read_text(encoding="utf-8") for p in CORPUS]

    def open(self, name: str, text: str) -> Doc:
        path = self.root / name
        path.write_text(text, encoding="utf-8")  # the file on disk stays as opened
        doc = Doc(path.as_uri(), path, text, 1, {1: text}, [text])
        self.docs[doc.uri] = doc
        self.client.notify("textDocument/didOpen", {"textDocument": {"uri": doc.uri, "languageId": "python", "version": 1, "text": text}})
        return doc

    def edit(self, doc: Doc) -> None:
        e = random_edit(self.rng, doc.text, self.corpus, doc.history)
        doc.version += 1
        doc.text = e.text
        doc.versions[doc.version] = e.text
        doc.history.append(e.text)
        self.client.notify("textDocument/didChange", {"textDocument": {"uri": doc.uri, "version": doc.version}, "contentChanges": e.changes})
        self.counts.edits += 1

    def check_publishes(self) -> None:
        """Compare the publishes that arrived since the last call with the batch analysis."""
        log = self.client.log
        while self.seen < len(log):
            _, params = log[self.seen]
            self.seen += 1
            doc = self.docs.get(params["uri"])
            if doc is None:
                continue  # a notebook cell (checked by the notebook round), or a closed document
            self.counts.publishes += 1
            version = params.get("version")
            if version is None or version not in doc.versions:
                self.counts.mismatches += 1
                self.counts.problem(f"{doc.path.name}: a publish for an unknown version {version}")
                continue
            if version < doc.newest_published:
                self.counts.stale += 1
                self.counts.problem(f"{doc.path.name}: version {version} published after {doc.newest_published}")
            doc.newest_published = max(doc.newest_published, version)
            text = doc.versions[version]
            want = batch_result([text], [doc.uri], str(doc.path), str(self.root), False, version)[doc.uri]
            self.counts.checked += 1
            if params["diagnostics"] != want:
                self.counts.mismatches += 1
                got_codes = [(d.get("code"), d["range"]["start"]["line"]) for d in params["diagnostics"]]
                want_codes = [(d.get("code"), d["range"]["start"]["line"]) for d in want]
                self.counts.problem(f"{doc.path.name} v{version}: published {got_codes}, batch {want_codes}")

    async def burst(self, doc: Doc) -> None:
        """One to five edits of ``doc`` without waiting, then wait for the last version."""
        for _ in range(self.rng.randint(1, 5)):
            self.edit(doc)
        self.counts.bursts += 1
        last = doc.version
        ok = await _wait(lambda: doc.newest_published >= last or not self.client.alive or self._arrived(doc.uri, last), self.timeout)
        self.check_publishes()
        if not self.client.alive:
            return
        if not ok or doc.newest_published < last:
            self.counts.missing += 1
            self.counts.problem(f"{doc.path.name}: version {last} was never published")
        doc.versions = {v: t for v, t in doc.versions.items() if v >= doc.newest_published}
        del doc.history[:-20]

    def _arrived(self, uri: str, version: int) -> bool:
        return any(p["uri"] == uri and p.get("version") == version for _, p in self.client.log[self.seen :])

    # -------------------------------------------------------------- notebooks
    async def notebook_round(self, name: str, cells: list[str], edits: int) -> None:
        """Open a notebook of ``cells`` (a markdown cell among them), edit its code cells one
        change at a time, and after each check every cell's last publish."""
        nb_uri = (self.root / name).as_uri()
        (self.root / name).write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
        texts = list(cells)
        uris = [f"{nb_uri}#cell{i}" for i in range(len(cells))]
        versions = [1] * len(cells)
        md_uri = f"{nb_uri}#notes"
        self.client.notify("notebookDocument/didOpen", {
            "notebookDocument": {
                "uri": nb_uri, "notebookType": "jupyter-notebook", "version": 1,
                "cells": [{"kind": 2, "document": u} for u in uris] + [{"kind": 1, "document": md_uri}],
            },
            "cellTextDocuments": [{"uri": u, "languageId": "python", "version": 1, "text": t} for u, t in zip(uris, texts)]
            + [{"uri": md_uri, "languageId": "markdown", "version": 1, "text": "# Notes 中文 😀"}],
        })
        await self._check_notebook(nb_uri, uris, texts, versions, time.perf_counter() - 3600)
        for k in range(edits):
            i = self.rng.randrange(len(texts))
            e = random_edit(self.rng, texts[i], self.corpus, [])
            texts[i] = e.text
            versions[i] += 1
            sent = time.perf_counter()
            self.client.notify("notebookDocument/didChange", {
                "notebookDocument": {"uri": nb_uri, "version": k + 2},
                "change": {"cells": {"textContent": [{"document": {"uri": uris[i], "version": versions[i]}, "changes": e.changes}]}},
            })
            self.counts.edits += 1
            await self._check_notebook(nb_uri, uris, texts, versions, sent)
            if not self.client.alive:
                return
        self.client.notify("notebookDocument/didClose", {"notebookDocument": {"uri": nb_uri}, "cellTextDocuments": [{"uri": u} for u in [*uris, md_uri]]})

    async def _check_notebook(self, nb_uri: str, uris: list[str], texts: list[str], versions: list[int], sent: float) -> None:
        def last(uri: str) -> dict[str, Any] | None:
            return next((p for t, p in reversed(self.client.log) if p["uri"] == uri and t >= sent), None)

        def current() -> bool:
            return all((p := last(u)) is not None and p.get("version") == v for u, v in zip(uris, versions))

        ok = await _wait(lambda: current() or not self.client.alive, self.timeout)
        new = [p for t, p in self.client.log if t >= sent and p["uri"] in uris]
        self.counts.publishes += len(new)
        if not self.client.alive:
            return
        if not ok:
            self.counts.missing += 1
            self.counts.problem(f"{nb_uri}: a cell's last version was never published")
            return
        want = batch_result(texts, uris, str(self.root / nb_uri.rsplit("/", 1)[-1]), str(self.root), True)
        for u in uris:
            got = last(u)
            self.counts.checked += 1
            if got is None or _without_version(got["diagnostics"]) != _without_version(want[u]):
                self.counts.mismatches += 1
                self.counts.problem(f"{u}: published {[(d.get('code'), d['range']['start']['line']) for d in (got or {}).get('diagnostics', [])]}, "
                                    f"batch {[(d.get('code'), d['range']['start']['line']) for d in want[u]]}")
        self.seen = len(self.client.log)


def notebook_cells(text: str, rng: random.Random) -> list[str]:
    """A Python file cut into notebook cells at blank lines before top-level statements."""
    cells, current = [], []
    for line in text.split("\n"):
        if current and line and not line[0].isspace() and not current[-1].strip() and rng.random() < 0.5:
            cells.append("\n".join(current).strip("\n"))
            current = []
        current.append(line)
    cells.append("\n".join(current).strip("\n"))
    return [c for c in cells if c] or [""]


# ---------------------------------------------------------------------------- the run
async def fuzz(seed: int, edits: int, docs: int, notebooks: int, notebook_edits: int = 40, malformed: bool = False,
               timeout: float = 60.0, malformed_rate: float = 0.2) -> Counts:
    rng = random.Random(seed)
    counts = Counts()
    root = Path(tempfile.mkdtemp(prefix="torchpit-fuzz-"))
    client = FuzzClient([sys.executable, "-m", "torchpit.server"], SETTINGS)
    try:
        await client.start(root)
        session = Session(client, root, rng, counts, timeout)
        # Its own generator: the edits of a seed are the same with and without --malformed.
        traffic = Malformed(client, random.Random(seed + 1_000_003), counts, timeout) if malformed else None
        files = rng.sample(CORPUS, min(docs, len(CORPUS)))
        open_docs = [session.open(f"{i:02d}_{p.name}", p.read_text(encoding="utf-8")) for i, p in enumerate(files)]
        per_doc = max(edits // max(len(open_docs), 1), 1)
        deaf = False
        for doc in open_docs:
            while doc.version - 1 < per_doc and client.alive and not deaf:
                await session.burst(doc)
                if traffic is not None and traffic.rng.random() < malformed_rate:
                    deaf = not await traffic.round()
            if not client.alive or deaf:
                break
        for k in range(notebooks if client.alive else 0):
            cells = notebook_cells(rng.choice(CORPUS).read_text(encoding="utf-8"), rng)
            await session.notebook_round(f"nb{k}.ipynb", cells, notebook_edits)
            if not client.alive:
                break
        if traffic is not None and client.alive and not deaf:
            deaf = not await traffic.rest()
        if not client.alive:
            counts.crashes += 1
            counts.problem(f"the server exited with {client.proc.returncode if client.proc else None}")
        elif deaf:
            pass  # counted as a crash by the round that found it
        elif traffic is not None:
            try:
                await traffic.end()
            except Exception as exc:  # it did not exit: the server is stuck
                counts.crashes += 1
                counts.problem(f"exit after shutdown: {exc!r}")
        else:
            try:
                await client.request("shutdown", None, timeout=timeout)
                client.notify("exit", None)
                await asyncio.wait_for(client.proc.wait(), timeout)  # type: ignore[union-attr]
            except Exception as exc:  # unanswered, or it did not exit: the server is stuck
                counts.crashes += 1
                counts.problem(f"shutdown and exit: {exc!r}")
    finally:
        if client.alive:
            client.proc.kill()  # type: ignore[union-attr]
        if client.proc is not None:
            await client.proc.wait()
        if client.reader_task:
            client.reader_task.cancel()
        shutil.rmtree(root, ignore_errors=True)
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--edits", type=int, default=3000, help="edits of text documents, spread over --docs of them")
    ap.add_argument("--docs", type=int, default=12)
    ap.add_argument("--notebooks", type=int, default=3)
    ap.add_argument("--notebook-edits", type=int, default=40, help="edits per notebook")
    ap.add_argument("--malformed", action="store_true", help="also send malformed protocol traffic between bursts of edits (MALFORMED, random broken frames)")
    ap.add_argument("--malformed-rate", type=float, default=0.2, help="with --malformed: the share of bursts followed by malformed traffic")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    counts = asyncio.run(fuzz(args.seed, args.edits, args.docs, args.notebooks, args.notebook_edits, args.malformed, malformed_rate=args.malformed_rate))
    print(f"seed {args.seed}: {counts.line()} in {time.perf_counter() - t0:.0f} s")
    for example in counts.examples:
        print("  " + example)
    return 1 if counts.bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
