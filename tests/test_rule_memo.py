"""Reused findings and answers (analyzers/engine/memo.py) equal a fresh analysis of every version.

The rule (issue 14): the result of any sequence of edits is the analysis of the final text, a
fresh ``analyze()`` with no incremental parser and no memo, broken syntax included.

The language server analyses each version of a document with its incremental parser and its
rule memo: unchanged top-level statements keep their nodes, their part of the semantic model,
the loop model's answers about them, and the per-node rules' findings, unless something
those were computed from changed (analyzers/syntax/reads.py). These tests edit files and compare,
version by version, against ``analyze()`` without a memo.

A longer run over any folder of Python files:

    python tests/test_rule_memo.py FOLDER... [--seeds 10] [--files 40] [--edits 30]
"""

from __future__ import annotations

import argparse
import ast
import random
import re
import sys
import warnings
from pathlib import Path

import pytest

from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.syntax.incremental import IncrementalParser
from torchpit.analyzers.semantic.inference import JediOptions
from torchpit.analyzers.engine.memo import RuleMemo
from torchpit.analyzers.rules.rule import Rule
from torchpit.analyzers.syntax.parsing import parse_source

ROOT = Path(__file__).resolve().parents[1]
# Files with findings of every rule, and near misses: the rules' own fixtures and the examples.
FILES = sorted([*(ROOT / "tests" / "fixtures").rglob("*.py"), *(ROOT / "examples").rglob("*.py")])
NO_JEDI = JediOptions(enabled=False)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Lines that change what other statements mean: mode switches, grad mode, imports, bindings.
_LINES = [
    "model.eval()", "model.train()", "optimizer.zero_grad()", "loss.backward()", "optimizer.step()",
    "with torch.no_grad():", "x = F.softmax(x, dim=1)", "import torch.nn.functional as F", "def train(model):",
    "requires_grad = False", "pass", "Embedding = 1", "return x", "F = None", "out = model(x)",
]
# Half-typed code whose error is not confined to its line (issue 14: after such an edit, a
# finding of the previous version survived).
_BROKEN = ["from .resnet import (", "x = F.interpolate(", '"""', "@torch.no_grad()", "def f(:", "if x:", "else:", "y = [1,"]


def edit(rng: random.Random, text: str) -> str:
    """One random edit: swap a name for another of the file's, delete or copy lines, insert a
    line that changes meaning elsewhere, or type a character that breaks the syntax."""
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    op = rng.random()
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    if op < 0.25:
        names = list(_IDENT.finditer(lines[i]))
        pool = _IDENT.findall(text)
        if names and pool:
            m = rng.choice(names)
            lines[i] = lines[i][: m.start()] + rng.choice(pool) + lines[i][m.end() :]
    elif op < 0.4:
        del lines[i]
    elif op < 0.55:
        lines.insert(i, indent + lines[rng.randrange(len(lines))].strip())
    elif op < 0.65:
        del lines[i : i + rng.randrange(1, 6)]
    elif op < 0.8:
        cut = len(lines[i]) // 2
        lines[i] = lines[i][:cut] + rng.choice(["x", "(", ")", ":", " ", "#", "1", ".eval()"]) + lines[i][cut:]
    elif op < 0.9:  # at the line's indentation, or at module level
        lines.insert(i, ("" if rng.random() < 0.3 else indent) + rng.choice(_LINES))
    else:  # broken syntax that reaches past its line: an unclosed bracket or string, a header
        lines[i:i] = [("" if rng.random() < 0.5 else indent) + rng.choice(_BROKEN)] + (["# a comment"] if rng.random() < 0.5 else [])
    return "\n".join(lines)


def _dicts(result) -> list[dict]:
    return [d.to_dict() for d in result.diagnostics]


def differential(files: list[Path], seed: int, n_files: int, n_edits: int) -> tuple[int, int, list[str]]:
    """(versions compared, statements reused, mismatches) over random edit sequences."""
    rng = random.Random(seed)
    compared = reused = 0
    mismatches: list[str] = []
    for path in rng.sample(files, min(n_files, len(files))):
        text = path.read_text(encoding="utf-8", errors="replace")
        if parse_source(text).errors:
            continue
        parser, memo = IncrementalParser(str(path)), RuleMemo()
        history: list[str] = []
        for k in range(n_edits + 1):
            if k:
                text = rng.choice(history) if rng.random() < 0.3 else edit(rng, text)
            history.append(text)
            a = analyze(text, str(path), jedi=NO_JEDI, parser=parser, memo=memo)
            b = analyze(text, str(path), jedi=NO_JEDI)  # fresh: the batch mode's parse, no memo
            compared += 1
            reused += memo.stats.reused
            if _dicts(a) != _dicts(b):
                mismatches.append(f"{path} (seed {seed}, edit {k})")
                break
    return compared, reused, mismatches


@pytest.mark.parametrize("seed", range(3))
def test_random_edits_reuse_nothing_stale(seed: int) -> None:
    """Thousands of versions: the memo's findings are exactly a fresh analysis's, while most
    statements are reused. (Skipping any one kind of read, or the move of a reused statement's
    positions, makes this fail within a few hundred versions.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compared, reused, mismatches = differential(FILES, seed, n_files=40, n_edits=20)
    assert not mismatches, mismatches
    assert compared > 500
    assert reused > compared  # several statements reused per version on average


RESNET = """\
from .resnet import (
# the backbone
import torch
import torch.nn.functional as F
from torchvision.io import read_image


def load(path):
    return F.interpolate(read_image(path), size=(224, 224))
"""


def test_lines_typed_after_an_unclosed_import_leave_no_finding_behind() -> None:
    """The issue's case: an unclosed `from .resnet import (`, lines inserted after the comment
    below it, anywhere; each version is what a fresh analysis of its text gives."""
    lines = RESNET.split("\n")
    for i in range(1, len(lines)):
        typed = "\n".join([*lines[:i], "x = 1", "y = 2", *lines[i:]])
        versions = [RESNET, typed, RESNET]
        got = _memo_run(versions)
        assert got == _fresh(versions), f"two lines inserted at line {i}"
        assert "PIT403" in [d["code"] for d in got[1]]


def _memo_run(versions: list[str], path: str = "m.py") -> list[list[dict]]:
    parser, memo = IncrementalParser(path), RuleMemo()
    return [_dicts(analyze(v, path, jedi=NO_JEDI, parser=parser, memo=memo)) for v in versions]


def _fresh(versions: list[str], path: str = "m.py") -> list[list[dict]]:
    return [_dicts(analyze(v, path, jedi=NO_JEDI)) for v in versions]


SOFTMAX = """\
import torch
import torch.nn.functional as F


def loss_of(logits, target):
    probs = F.softmax(logits, dim=1)
    return F.cross_entropy(probs, target)


def unrelated(x):
    return x + 1
"""


def test_an_import_changed_elsewhere_reaches_the_finding() -> None:
    """The finding's statement is unchanged; the import it resolves F through is not."""
    renamed = SOFTMAX.replace("import torch.nn.functional as F", "import torch.nn as F")
    versions = [SOFTMAX, renamed, SOFTMAX]
    got = _memo_run(versions)
    assert got == _fresh(versions)
    assert [len(v) for v in got] == [1, 0, 1]


def test_findings_follow_their_statement_when_lines_move() -> None:
    """Three lines typed into a function above: the finding below is reused, three lines down."""
    text = SOFTMAX.replace("\n\ndef loss_of", "\n\ndef before(x):\n    return x\n\n\ndef loss_of")
    moved = text.replace("    return x\n", "    y = x\n    z = y\n    x = z\n    return x\n", 1)
    parser, memo = IncrementalParser("m.py"), RuleMemo()
    first = analyze(text, "m.py", jedi=NO_JEDI, parser=parser, memo=memo)
    second = analyze(moved, "m.py", jedi=NO_JEDI, parser=parser, memo=memo)
    assert memo.stats.reused == memo.stats.units - 1  # all but before()
    assert _dicts(second) == _fresh([moved])[0]
    (a,), (b,) = first.diagnostics, second.diagnostics
    assert b.range.start.line == a.range.start.line + 3
    assert b.related[0].range.start.line == a.related[0].range.start.line + 3
    assert b.fix is not None and b.fix.edits[0].range.start.line == a.fix.edits[0].range.start.line + 3


HELPER = """\
import torch


def validate(model, loader):
    model.eval()
    for x, y in loader:
        model(x)


def train(model, loader, optimizer, val_loader):
    for epoch in range(10):
        for x, y in loader:
            optimizer.zero_grad()
            loss = model(x).sum()
            loss.backward()
            optimizer.step()
            validate(model, val_loader)
"""


def test_a_helper_changed_elsewhere_reaches_the_loop_that_calls_it() -> None:
    """The loop model's events of train()'s loops are kept across versions; they inline
    validate(), so an edit there must reach them (PIT204, missing train mode)."""
    fixed = HELPER.replace("        model(x)\n", "        model(x)\n    model.train()\n")
    versions = [HELPER, HELPER.replace("loader):\n    model.eval()", "loader):\n    model.eval()  # eval"), fixed, HELPER]
    got = _memo_run(versions)
    assert got == _fresh(versions)
    codes = [[d["code"] for d in v] for v in got]
    assert "PIT204" in codes[0] and "PIT204" in codes[1] and "PIT204" not in codes[2] and "PIT204" in codes[3]


def test_module_level_code_after_eval_is_followed_to_the_next_statements() -> None:
    """After a module-level ``model.eval()``, the region runs over the next top-level
    statements: a forward added there is seen (PIT201), and removed again."""
    text = "import torch\nmodel = torch.nn.Linear(2, 2)\nmodel.eval()\nx = 1\n"
    with_forward = text + "for batch in torch.randn(3, 1, 2):\n    out = model(batch)\n"  # repeated: reported
    versions = [text, with_forward, text, with_forward]
    got = _memo_run(versions)
    assert got == _fresh(versions)
    assert [len(v) for v in got] == [0, 1, 0, 1]


def test_a_read_of_a_module_level_variable_elsewhere_reaches_the_fix() -> None:
    """PIT101's fix is safe only when nothing else reads the softmax's variable: a read added
    in another top-level statement makes it unsafe."""
    text = (
        "import torch\nimport torch.nn.functional as F\n\nlogits = torch.randn(4, 3)\n"
        "y = torch.tensor([0, 1, 2, 0])\nprobs = F.softmax(logits, dim=1)\nloss = F.cross_entropy(probs, y)\n"
    )
    read_elsewhere = text.replace("y = torch.tensor", "print(probs)\ny = torch.tensor")
    versions = [text, read_elsewhere, text]
    got = _memo_run(versions)
    assert got == _fresh(versions)
    assert [v[0]["fix"]["applicability"] for v in got] == ["safe", "unsafe", "safe"]


def test_unchanged_statements_are_reused() -> None:
    text = SOFTMAX + "\n\n" + HELPER.replace("import torch\n", "")
    parser, memo = IncrementalParser("m.py"), RuleMemo()
    first = analyze(text, "m.py", jedi=NO_JEDI, parser=parser, memo=memo)
    assert memo.stats.reused == 0 and memo.stats.units == 6
    edited = text.replace("return x + 1", "return x + 2")
    second = analyze(edited, "m.py", jedi=NO_JEDI, parser=parser, memo=memo)
    assert memo.stats.reused == 5  # all but unrelated()
    assert _dicts(second) == _dicts(first) == _fresh([edited])[0]


def test_a_changed_selection_starts_afresh() -> None:
    from torchpit.analyzers.engine.config import Config

    parser, memo = IncrementalParser("m.py"), RuleMemo()
    analyze(SOFTMAX, "m.py", jedi=NO_JEDI, parser=parser, memo=memo)
    none = analyze(SOFTMAX, "m.py", Config(ignore=["PIT101"]), jedi=NO_JEDI, parser=parser, memo=memo)
    assert memo.stats.reused == 0 and not none.diagnostics


def test_what_the_memo_drops_is_freed_without_the_cycle_collector() -> None:
    """The server freezes what its first analysis left out of the collector's sight
    (gc.freeze): a replaced statement's part of the model, and a dropped memo, must be freed
    by reference counting alone."""
    import gc

    text = SOFTMAX + "\n\n" + HELPER.replace("import torch\n", "")
    parser, memo = IncrementalParser("m.py"), RuleMemo()
    analyze(text, "m.py", jedi=NO_JEDI, parser=parser, memo=memo)
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        for i in range(4):
            text = text.replace("            optimizer.step()", f"            optimizer.step()  # {i}")
            analyze(text, "m.py", jedi=NO_JEDI, parser=parser, memo=memo)
        left_by_edits = gc.collect()
        memo.release()
        del memo, parser
        left_by_release = gc.collect()
    finally:
        if was:
            gc.enable()
    assert left_by_edits < 20, left_by_edits
    assert left_by_release < 20, left_by_release


def test_the_server_keeps_memos_for_the_documents_being_typed_in_only() -> None:
    from torchpit.server.analysis import Parsers

    states = Parsers(capacity=5, memo_capacity=2)
    for name in ("a", "b", "c", "a"):
        with states.use(name, None) as state:
            assert state.memo is not None  # the document analysed now always has one
    with states.use("d", None):
        pass
    kept = {k: s.memo is not None for k, s in states._states.items()}
    assert kept == {"b": False, "c": False, "a": True, "d": True}
    states.forget("a")
    assert "a" not in states._states


def test_a_warm_document_is_one_whose_memo_holds_something() -> None:
    from torchpit.server.analysis import Parsers

    states = Parsers(capacity=5, memo_capacity=2)
    assert not states.is_warm("a")
    with states.use("a", None) as state:
        assert not states.is_warm("a")  # its first analysis is under way: nothing kept yet
        analyze(SOFTMAX, "m.py", jedi=NO_JEDI, parser=state.parser, memo=state.memo)
    assert states.is_warm("a")
    for name in ("b", "c"):
        with states.use(name, None):
            pass
    assert not states.is_warm("a")  # its memo was dropped


def test_other_analyses_run_at_the_checkpoints_of_a_first_analysis_leave_both_results_unchanged() -> None:
    """The language server runs the keystrokes of other documents at the checkpoints of a
    document's first analysis (between top-level statements, between whole-file rules, between
    the statements of PIT201's facts): each result is the one it would be alone."""
    other = SOFTMAX + "\n\n" + EVAL_BESIDE.replace("import torch\n", "")
    first = EVAL_BESIDE + "\n\n" + SOFTMAX.replace("import torch\n", "")
    parser, memo = IncrementalParser("o.py"), RuleMemo()
    analyze(other, "o.py", jedi=NO_JEDI, parser=parser, memo=memo)
    edits = [other.replace("return x + 1", f"return x + {i}") for i in range(2, 40)]
    got_other = []

    def run_other() -> None:
        if edits:
            text = edits.pop(0)
            got_other.append((text, _dicts(analyze(text, "o.py", jedi=NO_JEDI, parser=parser, memo=memo))))

    result = analyze(first, "f.py", jedi=NO_JEDI, parser=IncrementalParser("f.py"), memo=RuleMemo(), checkpoint=run_other)
    assert len(got_other) >= 5  # it was called at several steps
    assert _dicts(result) == _dicts(analyze(first, "f.py", jedi=NO_JEDI))
    for text, got in got_other:
        assert got == _dicts(analyze(text, "o.py", jedi=NO_JEDI))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Differential check of the rule memo over folders of Python files.")
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--edits", type=int, default=30)
    args = ap.parse_args(argv)
    files = sorted(p for f in args.folders for p in Path(f).rglob("*.py"))
    warnings.simplefilter("ignore")
    bad = 0
    for seed in range(args.seeds):
        compared, reused, mismatches = differential(files, seed, args.files, args.edits)
        print(f"seed {seed}: {compared} versions, {reused} statements reused, {len(mismatches)} mismatches {mismatches}")
        bad += len(mismatches)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())


MODULE_LOOP = """\
import torch

model = torch.nn.Linear(2, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)


def evaluate(x):
    with torch.no_grad():
        return model(x).sum()


for step in range(10):
    loss = model(torch.randn(3, 2)).sum()
    loss.backward()
    opt.step()
    opt.zero_grad()
    print(evaluate(torch.randn(3, 2)))
x = 1
"""


def test_the_module_level_events_of_unchanged_statements_are_kept(monkeypatch) -> None:
    """A function called at the top level of a file that trains there (PIT201's evaluations
    found by what they do) asks for the events of the whole module. Each top-level
    statement's events are kept across versions: an edit of the last line walks that line
    only, not every statement of the file again (the load benchmark typed at the end of its
    files and paid for the whole file on every keystroke)."""
    from torchpit.analyzers.facts import flow

    walked: list[ast.AST] = []
    real = flow._walk_ordered
    monkeypatch.setattr(flow, "_walk_ordered", lambda stmt: walked.append(stmt) or real(stmt))
    parser, memo = IncrementalParser("m.py"), RuleMemo()
    analyze(MODULE_LOOP, "m.py", jedi=NO_JEDI, parser=parser, memo=memo)
    edited = MODULE_LOOP.replace("x = 1", "x = 2")
    walked.clear()
    result = analyze(edited, "m.py", jedi=NO_JEDI, parser=parser, memo=memo)
    top = [s for s in walked if s in result.parse.tree.body]
    assert [ast.unparse(s) for s in top] == ["x = 2"]
    versions = [MODULE_LOOP, edited, MODULE_LOOP.replace("    loss.backward()\n", ""), MODULE_LOOP]
    assert _memo_run(versions) == _fresh(versions)


MAIN_GUARD = """\
import os
import torch
import torch.nn as nn


def evaluate(net, xs):
    with torch.no_grad():
        return [net(x).argmax(1) for x in xs]


def fit(net, opt, xs, ys):
    net.train()
    for x, y in zip(xs, ys):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    return evaluate(net, xs)


def main():
    net = nn.Linear(4, 3)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    return fit(net, opt, [torch.randn(2, 4)], [torch.tensor([0, 1])])


def warmup(other, steps):
    other.train()
    for group in other.parameters():
        group.grad = None
    return steps


if __name__ == "__main__":
    print(main(), os.getcwd(), len(sys.argv))
"""


def test_an_edit_of_another_training_function_keeps_the_main_guard_events(monkeypatch) -> None:
    """The events of ``if __name__ == "__main__": print(main(), ...)`` follow ``main()`` into
    the training code, and are kept while nothing they read changes. ``print``, ``len`` (builtins)
    and ``os`` (a Python module: what ``import`` binds) are facts, not values whose module-ness
    must be proven by searching the whole file for ``.train()`` / ``.parameters()`` calls: so an
    edit of another function that calls those methods (``warmup``) leaves them kept."""
    from torchpit.analyzers.facts import flow

    asked: list[ast.AST] = []
    real = flow.Flow._top_events
    monkeypatch.setattr(flow.Flow, "_top_events", lambda self, stmt: asked.append(stmt) or real(self, stmt))
    parser, memo = IncrementalParser("m.py"), RuleMemo()
    analyze(MAIN_GUARD, "m.py", jedi=NO_JEDI, parser=parser, memo=memo)
    assert any(isinstance(s, ast.If) for s in asked)  # asked for (PIT201's evaluations called from training code)
    edited = MAIN_GUARD.replace("    return steps", "    return steps + 1")
    asked.clear()
    analyze(edited, "m.py", jedi=NO_JEDI, parser=parser, memo=memo)
    assert not any(isinstance(s, ast.If) for s in asked)
    versions = [MAIN_GUARD, edited, edited.replace("import os\n", "from os import *\n"), MAIN_GUARD]
    assert _memo_run(versions) == _fresh(versions)


CALLED_HELPERS = """\
import torch
import torch.nn as nn
import torch.nn.functional as F


def train_epoch(net, opt, batches):
    net.train(True)
    for step, (images, labels) in enumerate(batches):
        logits = net(images)
        opt.zero_grad(set_to_none=True)
        F.nll_loss(F.log_softmax(logits, dim=1), labels).backward()
        opt.step()


def predict(net, xs):
    with torch.no_grad():
        return net(xs)


def save(net, path):
    torch.save(net.state_dict(), path)


def run(xs, ys):
    net = nn.Linear(4, 3)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for epoch in range(3):
        train_epoch(net, opt, zip(xs, ys))
        print(predict(net, xs[0]))
        save(net, "best.pt")
"""


def test_an_edit_of_a_training_function_keeps_what_was_asked_of_the_helpers_beside_it(monkeypatch) -> None:
    """PIT201 asks of every function called from training code whether it is an evaluation
    (a forward under no_grad, called where a backward and a step run). ``save`` runs no
    forward: that is asked of ``save`` itself first, so the answer does not read the events of
    its caller ``run``, which follow ``train_epoch``; an edit of ``train_epoch`` keeps it."""
    from torchpit.analyzers.facts import flow

    asked: list[str] = []
    real = flow.Flow.trains_around
    monkeypatch.setattr(flow.Flow, "trains_around", lambda self, call: asked.append(ast.unparse(call.func)) or real(self, call))
    parser, memo = IncrementalParser("m.py"), RuleMemo()
    analyze(CALLED_HELPERS, "m.py", jedi=NO_JEDI, parser=parser, memo=memo)
    assert "predict" in asked  # (a forward under no_grad: its callers are asked about)
    edited = CALLED_HELPERS.replace("        opt.step()\n", "        opt.step()\n        print(step)\n")
    asked.clear()
    analyze(edited, "m.py", jedi=NO_JEDI, parser=parser, memo=memo)
    assert "save" not in asked and "predict" in asked
    versions = [CALLED_HELPERS, edited, edited.replace(".backward()", ".sum()"), CALLED_HELPERS]
    assert _memo_run(versions) == _fresh(versions)


def test_builtins_and_imports_are_not_module_instances() -> None:
    """``print``/``len`` unbound in the file are builtins, unless a star import may bind them;
    ``import x`` binds a Python module; ``from torch import nn`` a library object."""
    from torchpit.analyzers.facts.flow import _module_verdict, flow_of

    src = "import os\nfrom torch import nn\nfrom mylib import net\nprint(os, nn, net, len)\n"
    model = analyze(src, "m.py", jedi=NO_JEDI, keep_model=True).model
    call = model._tree.body[-1].value
    flow = flow_of(model)
    verdicts = {ast.unparse(a): _module_verdict(flow, a, 0, frozenset()) for a in [call.func, *call.args]}
    assert verdicts == {"print": False, "os": False, "nn": False, "net": None, "len": False}
    star = analyze("from helpers import *\nprint(len)\n", "m.py", jedi=NO_JEDI, keep_model=True).model
    c = star._tree.body[-1].value
    assert not star.is_builtin(c.func) and not star.is_builtin(c.args[0])


def test_typing_a_broken_line_beside_a_finding_equals_a_fresh_analysis() -> None:
    """Each character typed into a line that stays broken gives the same tree, and the
    statement keeps its nodes and the facts about them (``IncrementalStats.retexted``); its
    findings, which quote and rewrite its text, are made again from the new text."""
    line = "    w = max(0.5, (step + 1) / warmup"
    versions = [SOFTMAX]
    for n in range(len("    w = max("), len(line) + 1):
        versions.append(SOFTMAX.replace("    return F.cross_entropy", line[:n] + "\n    return F.cross_entropy"))
    parser, memo = IncrementalParser("m.py"), RuleMemo()
    kept = 0
    for v in versions:
        got = _dicts(analyze(v, "m.py", jedi=NO_JEDI, parser=parser, memo=memo))
        kept += bool(parser.stats.retexted)
        assert got == _dicts(analyze(v, "m.py", jedi=NO_JEDI))
        assert any(d["code"] == "PIT101" for d in got)
    assert kept >= len(versions) - 3


EVAL_BESIDE = """\
import torch


def evaluate(model, loader):
    model.eval()
    correct = 0
    for x, y in loader:
        correct += (model(x).argmax(1) == y).sum().item()
    return correct


def schedule(step, warmup):
    lr = 0.1
    return lr
"""


def test_whole_file_findings_are_kept_while_a_line_elsewhere_stays_broken() -> None:
    """PIT201 is a whole-file rule. While a line of another function is half typed, every
    statement keeps its nodes and lines: its findings are kept (``file_rules_reused``), and
    equal a fresh analysis of each version."""
    line = "    w = min(1.0, (step + 1) / warmup"
    versions = [EVAL_BESIDE] + [EVAL_BESIDE.replace("    return lr", line[:n] + "\n    return lr") for n in range(len("    w = min("), len(line) + 1)]
    parser, memo = IncrementalParser("m.py"), RuleMemo()
    reused = 0
    for v in versions:
        got = _dicts(analyze(v, "m.py", jedi=NO_JEDI, parser=parser, memo=memo))
        reused += memo.stats.file_rules_reused
        assert got == _dicts(analyze(v, "m.py", jedi=NO_JEDI))
        assert [d["code"] for d in got if d["code"] != "PIT001"] == ["PIT201"]
    assert reused >= len(versions) - 3


def test_a_whole_file_finding_in_the_broken_function_is_made_again() -> None:
    """The same typing inside the function that has the finding: its fix rewrites that
    function's lines, so the finding is made again from the new text."""
    line = "    w = min(1.0, len(loader)"
    versions = [EVAL_BESIDE] + [EVAL_BESIDE.replace("    return correct", line[:n] + "\n    return correct") for n in range(len("    w = min("), len(line) + 1)]
    assert _memo_run(versions) == _fresh(versions)


def test_a_module_changed_on_disk_reaches_whole_file_findings_while_typing(tmp_path) -> None:
    """A whole-file rule that read another module of the project is run again on every
    version: that module may change on disk while the document's statements do not."""
    import os

    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    net = tmp_path / "net.py"
    net.write_text("import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return x\n")
    main = tmp_path / "main.py"
    src = EVAL_BESIDE.replace("import torch\n", "import torch\nfrom net import Net\n").replace("def evaluate(model, loader):\n", "def evaluate(loader):\n    model = Net()\n")
    src = src.replace("    model.eval()\n", "")  # the construction alone says what ``model`` is
    parser, memo = IncrementalParser(str(main)), RuleMemo()
    typed = src.replace("    return lr", "    w = min(\n    return lr")
    typed2 = src.replace("    return lr", "    w = min(1\n    return lr")
    for v in (src, typed):
        assert "PIT201" in [d.code for d in analyze(v, str(main), jedi=NO_JEDI, parser=parser, memo=memo).diagnostics]
    net.write_text("def Net():\n    return None\n")
    os.utime(net, ns=(10**18, 10**18))  # a new mtime, whatever the clock's resolution
    got = analyze(typed2, str(main), jedi=NO_JEDI, parser=parser, memo=memo)  # the same statements as ``typed``
    assert parser.stats.retexted
    assert _dicts(got) == _dicts(analyze(typed2, str(main), jedi=NO_JEDI))
    assert "PIT201" not in [d.code for d in got.diagnostics]


# ---------------------------------------------------------------------------- text read by a check
# Two checks that read text, for the memo's sake only (not registered): one quotes the whole
# function it reports on, one asks the tokenizer whether a line is a comment.


class _QuotesItsFunction(Rule):
    code = "PIT998"
    name = "quotes-its-function"
    summary = "test rule"
    node_types = (ast.FunctionDef,)

    def check(self, node: ast.AST, ctx) -> None:
        ctx.report(node, f"{len(ctx.text(node))} characters")


class _AsksTheTokenizer(Rule):
    code = "PIT997"
    name = "asks-the-tokenizer"
    summary = "test rule"
    node_types = (ast.FunctionDef,)

    def check(self, node: ast.AST, ctx) -> None:
        above = node.lineno - 2
        if ctx.source.line_text(above).startswith("#"):
            ctx.report(node, f"comment above: {ctx.source.is_comment_line(above)}")


def _typed_into_a_broken_line(text: str, anchor: str, line: str) -> list[str]:
    """``text`` with ``line`` typed character by character (from its first bracket) above
    ``anchor``: a line that stays broken, so the tree stays the same."""
    start = line.index("(") + 1
    return [text.replace(anchor, line[:n] + "\n" + anchor) for n in range(start, len(line) + 1)]


def test_typing_in_a_broken_line_keeps_the_findings_of_checks_that_did_not_read_it() -> None:
    """The statement is kept with its tree (``retexted``); PIT101's check read the text of its
    own lines only, not the line being typed, so its finding is kept, not made again."""
    versions = [SOFTMAX, *_typed_into_a_broken_line(SOFTMAX, "    return F.cross_entropy", "    w = max(0.5, (step + 1) / warmup")]
    parser, memo = IncrementalParser("m.py"), RuleMemo()
    kept_all = 0
    for v in versions:
        got = _dicts(analyze(v, "m.py", jedi=NO_JEDI, parser=parser, memo=memo))
        assert got == _dicts(analyze(v, "m.py", jedi=NO_JEDI))
        kept_all += bool(parser.stats.retexted) and memo.stats.reused == memo.stats.units
    assert kept_all >= len(versions) - 3


def _each_equals_fresh(versions: list[str], rule: type[Rule]) -> tuple[IncrementalParser, list[list[dict]]]:
    """Analyse the versions one after another with a parser and a memo, ``rule`` alone; each
    result must be a fresh analysis's. Returns the parser and the results."""
    parser, memo = IncrementalParser("m.py"), RuleMemo()
    results = []
    for v in versions:
        got = _dicts(analyze(v, "m.py", jedi=NO_JEDI, rules=[rule], parser=parser, memo=memo))
        assert got == _dicts(analyze(v, "m.py", jedi=NO_JEDI, rules=[rule]))
        results.append(got)
    return parser, results


def test_a_check_that_read_the_line_being_typed_is_made_again() -> None:
    versions = [SOFTMAX, *_typed_into_a_broken_line(SOFTMAX, "    return F.cross_entropy", "    w = max(0.5, (step + 1) / warmup")]
    _, results = _each_equals_fresh(versions, _QuotesItsFunction)
    messages = {d["message"] for got in results for d in got}
    assert len(messages) >= len(versions) - 2  # the function's length, new on each keystroke


def test_a_check_that_asked_the_tokenizer_is_made_again_when_the_text_changes() -> None:
    """An unclosed bracket in a masked line elsewhere leaves the tree as it was, but the
    tokenizer fails on the whole text: no line is a comment line then."""
    text = SOFTMAX.replace("def unrelated(x):", "# a comment\ndef unrelated(x):")
    open_line = text.replace("    return F.cross_entropy", "    w = max(0.5\n    return F.cross_entropy")
    closed_line = text.replace("    return F.cross_entropy", "    w = max 0.5\n    return F.cross_entropy")
    parser, results = _each_equals_fresh([closed_line, open_line, closed_line, open_line], _AsksTheTokenizer)
    assert parser.stats.retexted and results[0] != results[1]


class _QuotesEveryFunction(Rule):
    code = "PIT996"
    name = "quotes-every-function"
    summary = "test rule"
    whole_file = True

    def check_file(self, ctx) -> None:
        for f in ctx.model.nodes_of(ast.FunctionDef):
            ctx.report(f, f"{len(ctx.text(f))} characters")


def test_a_whole_file_check_that_read_the_line_being_typed_is_made_again() -> None:
    versions = [SOFTMAX, *_typed_into_a_broken_line(SOFTMAX, "    return F.cross_entropy", "    w = max(0.5, (step + 1) / warmup")]
    _, results = _each_equals_fresh(versions, _QuotesEveryFunction)
    assert len({d["message"] for got in results for d in got}) >= len(versions) - 1


MODE_CALL = """\
import torch


def before(x):
    return x


def evaluate(model, loader):
    model.eval()
    correct = 0
    for x, y in loader:
        correct += (model(x).argmax(1) == y).sum().item()
    torch.set_grad_enabled(False)
    return correct
"""


def test_a_functions_first_grad_mode_call_kept_across_versions_moves_with_it() -> None:
    """``torch.set_grad_enabled(False)`` after the forward leaves it with autograd on. The
    answer (which statement first sets the mode) is kept while evaluate() is unchanged, and
    three lines typed into the function above move both: the forward still runs before it."""
    moved = MODE_CALL.replace("    return x\n", "    y = x\n    z = y\n    x = z\n    return x\n", 1)
    versions = [MODE_CALL, moved, MODE_CALL]
    got = _memo_run(versions)
    assert got == _fresh(versions)
    assert [[d["code"] for d in v] for v in got] == [["PIT201"]] * 3


TRACED = """\
import torch
import torch.nn as nn


def evaluate(model, loader):
    correct = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
    return correct


def main(loader, example):
    net = nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 2))
    return evaluate(net, loader)
"""


def test_a_trace_handed_in_by_a_call_site_typed_elsewhere_reaches_the_kept_answer() -> None:
    """Whether evaluate()'s model may be a ``torch.jit.trace`` result is kept across versions;
    main() starts and stops handing it a trace, and the finding follows: no eval(), then
    traced in train mode (its mode fixed at the trace), then no eval() again."""
    traced = TRACED.replace("return evaluate(net, loader)", "return evaluate(torch.jit.trace(net, example), loader)")
    versions = [TRACED, traced, TRACED, traced]
    got = _memo_run(versions)
    assert got == _fresh(versions)
    said = [[("traced" in d["message"]) for d in v] for v in got]
    assert said == [[False], [True], [False], [True]]
