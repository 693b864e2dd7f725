"""The server's pure functions, without a server: settings, positions, noqa edits, cells."""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from torchpit.analyzers.engine.config import Config
from torchpit.analyzers.core.diagnostics import Position, Severity
from torchpit.server.actions import noqa_edit, wants
from torchpit.server.analysis import Cell, Job, run_job
from torchpit.server.convert import Lines, fix_from_data
from torchpit.server.hover import noqa_codes_at
from torchpit.server.session import Session
from torchpit.server.settings import RUN_ON_SAVE, Settings, extract_section, parse_settings

from .conftest import PIT101_SRC


def test_settings_parse_and_defaults_for_bad_values():
    s, problems = parse_settings({
        "select": ["pit1"], "ignore": "PIT101", "severity": {"PIT3": "error"}, "run": "onSave", "debounce": 0,
        "pythonPath": "/usr/bin/python3", "probe": {"enable": True, "timeout": 5},
    })
    assert problems == []
    assert s.select == ("PIT1",) and s.ignore == ("PIT101",) and s.severity == (("PIT3", Severity.ERROR),)
    assert s.run == RUN_ON_SAVE and s.debounce_ms == 0 and s.python_path == "/usr/bin/python3"
    assert s.probe.enable and s.probe.timeout == 5.0 and s.probe.device == "auto"

    s, problems = parse_settings({"select": ["PITX"], "debounce": -1, "jedi": "yes", "colour": "red", "debounce_ms": 3})
    assert s == Settings()
    joined = "\n".join(problems)
    for name in ("torchpit.select", "torchpit.debounce", "torchpit.jedi", "torchpit.colour"):
        assert name in joined
    assert parse_settings("nonsense")[1] and parse_settings(None) == (Settings(), [])
    assert extract_section({"torchpit": {"enable": False}}) == {"enable": False}


def test_editor_severity_wins_over_the_pyproject():
    base = Config(select=("PIT1",), ignore=("PIT102",), severity=(("PIT1", Severity.INFO),))
    merged = Settings(ignore=("PIT101",), severity=(("PIT1", Severity.ERROR),)).apply_to(base)
    assert merged.select == ("PIT1",) and set(merged.ignore) == {"PIT101", "PIT102"}
    assert merged.severity_for("PIT101", Severity.WARNING) is Severity.ERROR


def test_positions_round_trip_in_each_encoding():
    text = 'x = "😋"; y = 1\n'
    for encoding, col in (("utf-16", 12), ("utf-8", 14), ("utf-32", 11)):
        lines = Lines(text, PositionCodec(encoding))
        client = lines.to_client(Position(0, 11))
        assert client == types.Position(0, col), encoding
        assert lines.from_client(client) == Position(0, 11)
    lines = Lines(text, PositionCodec("utf-16"))
    assert lines.to_client(Position(9, 0)) == types.Position(1, 0)  # past the end: clamped


def test_form_feed_does_not_split_lines():
    lines = Lines("a = 1\x0cb\nc = 2\n", PositionCodec("utf-16"))
    assert lines.line(1) == "c = 2"


def test_noqa_edit_appends_or_adds():
    codec = PositionCodec("utf-16")
    lines = Lines("a = f(x)\nb = g(x)  # noqa: PIT101\nc = h(x)  # noqa\nd = 1 + \\\n    2\n", codec)
    add = noqa_edit(lines, 0, "PIT301")
    assert add.new_text == "  # noqa: PIT301" and add.range.start == Position(0, 8)
    append = noqa_edit(lines, 1, "PIT301")
    assert append.new_text == ", PIT301" and append.range.start == Position(1, len("b = g(x)  # noqa: PIT101"))
    assert noqa_edit(lines, 1, "PIT101") is None  # already there
    assert noqa_edit(lines, 2, "PIT301") is None  # a bare noqa silences everything
    assert noqa_edit(lines, 3, "PIT301") is None  # after a line continuation


def test_hover_finds_the_code_under_the_cursor_in_a_noqa():
    lines = Lines("x = 1  # noqa: PIT101, PIT301\n", PositionCodec("utf-16"))
    codes, rng = noqa_codes_at(lines, Position(0, 25))
    assert codes == ["PIT301"] and rng.start.col == 23
    codes, _ = noqa_codes_at(lines, Position(0, 9))
    assert codes == ["PIT101", "PIT301"]
    assert noqa_codes_at(lines, Position(0, 1)) is None


def test_fix_data_is_used_only_for_its_version():
    data = {"version": 3, "fix": {"message": "m", "applicability": "safe", "edits": []}, "noqaLine": 4}
    usable, fix, noqa = fix_from_data(data, 3)
    assert usable and fix.message == "m" and noqa == 4
    assert fix_from_data(data, 4)[0] is False
    assert fix_from_data({"version": 3, "fix": {"bad": 1}}, 3)[0] is False
    assert fix_from_data(None, 3)[0] is False


def test_code_action_kind_filter():
    assert wants(None, "quickfix") and wants(["source"], "source.fixAll.torchpit")
    assert wants(["source.fixAll"], "source.fixAll.torchpit") and not wants(["quickfix"], "source.fixAll.torchpit")
    assert not wants(["source.fixAllx"], "source.fixAll.torchpit")


def test_notebook_job_maps_diagnostics_and_fixes_to_cells():
    cells = (
        Cell("nb#0", 1, "%matplotlib inline\nimport torch.nn.functional as F"),
        Cell("nb#1", 1, "logits = model(x)\nloss = F.cross_entropy(F.softmax(logits, dim=1), y)"),
    )
    job = Job("nb", 1, 1, None, Settings(jedi=False), None, "utf-16", cells=cells)
    out = run_job(job)
    assert out.docs["nb#0"].diagnostics == []
    (d,) = out.docs["nb#1"].diagnostics
    assert d.code == "PIT101" and d.range.start == Position(1, 23)
    assert d.fix.edits[0].range.start == Position(1, 23) and d.noqa_line == 1
    Session.render(out.docs["nb#1"], None)  # the one conversion to LSP, done by the session
    assert out.docs["nb#1"].lsp[0].data["version"] == 1


def test_disabled_settings_give_no_diagnostics():
    job = Job("a", 1, 1, None, Settings(enable=False), None, "utf-16", text=PIT101_SRC)
    assert run_job(job).docs["a"].diagnostics == []


def test_probe_command_arguments():
    from torchpit.server.probes import probe_target

    assert probe_target(("pit301",)) == ("PIT301", None, None, None)
    assert probe_target(({"code": "PIT101", "uri": "file:///a.py", "line": 3, "spec": {"rule": "PIT101"}},)) == (
        "PIT101", "file:///a.py", 3, {"rule": "PIT101"},
    )
    vscode = ("file:///a.py", {"code": {"value": "PIT301"}, "range": {"start": {"line": 7, "character": 1}}, "source": "torchpit"})
    assert probe_target(vscode) == ("PIT301", "file:///a.py", 7, None)
    import pytest

    with pytest.raises(ValueError):
        probe_target((42,))


# ---------------------------------------------------------------------- the scheduler's queue
def test_the_dispatcher_runs_the_documents_being_typed_in_first():
    """Analyses of documents being typed in go before the others (documents just opened,
    re-analysed after a settings change); a cancelled job never runs."""
    import concurrent.futures
    import threading

    from torchpit.server.scheduler import Dispatcher

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        d = Dispatcher(pool, max_wait=60)
        gate, order = threading.Event(), []
        busy = d.submit(lambda _: gate.wait(5), None, urgent=False)  # the worker is busy
        opened = [d.submit(order.append, f"open{i}", urgent=False) for i in range(3)]
        typed = d.submit(order.append, "edit", urgent=True)
        superseded = d.submit(order.append, "superseded", urgent=True)
        assert superseded.cancel()
        gate.set()
        for f in (busy, *opened, typed):
            f.result(5)
        assert order == ["edit", "open0", "open1", "open2"]
        assert superseded.cancelled() and d.waiting() == 0
    finally:
        pool.shutdown()


def test_the_dispatcher_hands_out_the_waiting_keystrokes_of_other_documents_to_run_between_steps():
    """``take_waiting``: the urgent jobs a predicate accepts leave the queue (to be run by the
    worker between two steps of a long analysis); the others stay, in order; cancelled ones
    are dropped; the other queue is not touched."""
    import concurrent.futures
    import threading

    from torchpit.server.scheduler import Dispatcher

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        d = Dispatcher(pool, max_wait=60)
        gate, order = threading.Event(), []
        busy = d.submit(lambda _: gate.wait(5), None, urgent=True)  # the long analysis under way
        opened = d.submit(order.append, "open", urgent=False)
        warm = d.submit(order.append, "warm-b", urgent=True)
        cold = d.submit(order.append, "cold-c", urgent=True)
        gone = d.submit(order.append, "warm-d", urgent=True)
        assert gone.cancel()
        taken = d.take_waiting(lambda arg: arg.startswith("warm"))
        assert [arg for _, arg, _ in taken] == ["warm-b"]
        for fn, arg, fut in taken:
            fut.set_result(fn(arg))
        assert warm.result(1) is None and order == ["warm-b"]
        gate.set()
        for f in (busy, opened, cold):
            f.result(5)
        assert order == ["warm-b", "cold-c", "open"]  # what was not taken runs as before
    finally:
        pool.shutdown()


def test_the_dispatcher_gives_the_other_jobs_a_turn_once_a_second_under_a_stream_of_edits():
    import concurrent.futures
    import threading

    from torchpit.server.scheduler import Dispatcher

    now = [0.0]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        d = Dispatcher(pool, max_wait=1.0, clock=lambda: now[0])
        gate, order = threading.Event(), []
        busy = d.submit(lambda _: gate.wait(5), None, urgent=True)
        jobs = [d.submit(order.append, name, urgent=name.startswith("edit")) for name in ("open0", "open1", "edit0", "edit1", "edit2")]
        now[0] = 5.0  # they have all waited 5 s; no other job started in the last second
        gate.set()
        for f in (busy, *jobs):
            f.result(5)
        assert order == ["open0", "edit0", "edit1", "edit2", "open1"]  # one other job per second
    finally:
        pool.shutdown()


def test_the_dispatcher_does_not_recurse_through_jobs_done_at_once():
    """A job can be done before its callback is added (a superseded job returns at once): its
    callback then runs at once, and handing over the next job must not recurse (thousands of
    them queue up when hundreds of documents open)."""
    import concurrent.futures

    from torchpit.server.scheduler import Dispatcher

    class Inline(concurrent.futures.Executor):
        """Runs each job at once, except the first, which is done when the test says so."""

        def __init__(self) -> None:
            self.first: concurrent.futures.Future | None = None

        def submit(self, fn, *args):
            f: concurrent.futures.Future = concurrent.futures.Future()
            if self.first is None:
                self.first = f
            else:
                f.set_result(fn(*args))
            return f

    pool = Inline()
    d = Dispatcher(pool)
    first = d.submit(lambda _: None, None, urgent=True)
    rest = [d.submit(lambda x: x, i, urgent=True) for i in range(5000)]
    pool.first.set_result("done")  # its callback hands over the 5,000 others, each done at once
    assert first.result(1) == "done" and [f.result(1) for f in rest] == list(range(5000))


def test_the_published_json_is_what_lsprotocols_converter_makes():
    """``publish`` writes each diagnostic's JSON itself (``diagnostic_json``): it must be the
    converter's, field for field, for every finding of the examples (fixes, related locations,
    probe flags) and for a diagnostic with every field set."""
    import json
    from pathlib import Path

    from lsprotocol.converters import get_converter

    from torchpit.analyzers.engine.analysis import analyze
    from torchpit.analyzers.semantic.inference import JediOptions
    from torchpit.server.convert import diagnostic_json, to_lsp_diagnostics

    converter = get_converter()
    codec = PositionCodec(types.PositionEncodingKind.Utf16)
    seen = 0
    for path in sorted((Path(__file__).resolve().parents[2] / "examples").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        result = analyze(text, str(path), Config(), JediOptions(enabled=False))
        for d in to_lsp_diagnostics(result.diagnostics, Lines(text, codec), path.as_uri(), 7, {("PIT101", 0): ["note"]}):
            assert diagnostic_json(d) == converter.unstructure(d)
            json.dumps(diagnostic_json(d))
            seen += 1
    assert seen >= 10
    rng = types.Range(types.Position(1, 2), types.Position(3, 4))
    full = types.Diagnostic(
        range=rng, message="m", severity=types.DiagnosticSeverity.Hint, code="PIT999",
        code_description=types.CodeDescription(href="https://example.org"), source="torchpit",
        tags=[types.DiagnosticTag.Unnecessary, types.DiagnosticTag.Deprecated],
        related_information=[types.DiagnosticRelatedInformation(types.Location("file:///a.py", rng), "here")],
        data={"version": None, "fix": {"edits": [1, None]}},
    )
    bare = types.Diagnostic(range=rng, message="only a message")
    for d in (full, bare):
        assert diagnostic_json(d) == converter.unstructure(d)
