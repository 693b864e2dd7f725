"""The grad mode is computed (analyzers/semantic/grad_mode.py), never read from spellings: what a
context manager or decorator sets (off, on, kept, unknown), through aliases and imports, what a
project's own context managers and decorators do (read from their bodies, in the file or in
another module), and the innermost block winning."""

from __future__ import annotations

import ast
import textwrap

import pytest

from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.facts.flow import flow_of
from torchpit.analyzers.semantic import grad_mode
from torchpit.analyzers.semantic.build import load_module_model
from torchpit.analyzers.semantic.inference import JediOptions
from torchpit.analyzers.semantic.model import SemanticModel

from .test_semantic import build, find_call

OFF, ON, INHERIT, UNKNOWN = grad_mode.OFF, grad_mode.ON, grad_mode.INHERIT, grad_mode.UNKNOWN


def _with_effects(code: str) -> dict[str, frozenset[str]]:
    """The effect of every ``with`` item of ``code``, by its text."""
    m = build(code)
    return {
        ast.unparse(i.context_expr): m.context_grad_effect(i.context_expr)
        for n in ast.walk(m.tree) if isinstance(n, (ast.With, ast.AsyncWith))
        for i in n.items
    }


def test_library_contexts_set_off_on_keep_or_unknown():
    effects = _with_effects(
        """
        import contextlib
        import torch
        import torch as th
        from torch import no_grad as frozen, inference_mode
        from torch.autograd import grad_mode
        from tqdm import tqdm

        def f(x, flag, ctx, ctxs):
            with torch.no_grad(): pass
            with th.enable_grad(): pass
            with frozen(): pass
            with grad_mode.no_grad(): pass
            with inference_mode(): pass
            with inference_mode(False): pass
            with torch.inference_mode(mode=False): pass
            with torch.set_grad_enabled(False): pass
            with torch.set_grad_enabled(True): pass
            with torch.set_grad_enabled(flag): pass
            with torch.autocast("cuda"): pass
            with contextlib.nullcontext(): pass
            with open(x) as fh: pass
            with tqdm(x) as bar: pass
            with ctx: pass
            with ctxs[0]: pass
        """
    )
    assert effects == {
        "torch.no_grad()": {OFF},
        "th.enable_grad()": {ON},
        "frozen()": {OFF},
        "grad_mode.no_grad()": {OFF},
        "inference_mode()": {OFF},
        "inference_mode(False)": {ON},  # measured: turns gradients on, also inside no_grad
        "torch.inference_mode(mode=False)": {ON},
        "torch.set_grad_enabled(False)": {OFF},
        "torch.set_grad_enabled(True)": {ON},
        "torch.set_grad_enabled(flag)": {OFF, ON},
        "torch.autocast('cuda')": {INHERIT},
        "contextlib.nullcontext()": {INHERIT},
        "open(x)": {INHERIT},
        "tqdm(x)": {UNKNOWN},  # a library the catalogue does not describe
        "ctx": {UNKNOWN},  # a parameter
        "ctxs[0]": {UNKNOWN},
    }


def test_a_context_held_in_a_name_is_followed_to_its_value():
    m = build(
        """
        import contextlib
        import torch

        def f(model, x, train):
            ctx = torch.no_grad()
            with ctx:
                model.a(x)
            maybe = torch.enable_grad() if train else contextlib.nullcontext()
            with torch.no_grad():
                with maybe:
                    model.b(x)
        """
    )
    assert m.under_no_grad(find_call(m, "model.a(x)"))
    assert m.grad_states_at(find_call(m, "model.b(x)")) == {ON, OFF}  # on, or the no_grad around it
    assert not m.under_no_grad(find_call(m, "model.b(x)"))


def test_the_innermost_block_wins():
    m = build(
        """
        import torch

        @torch.no_grad()
        def f(model, x):
            model.a(x)
            with torch.enable_grad():
                model.b(x)
                with torch.inference_mode():
                    model.c(x)
            with torch.set_grad_enabled(True):
                model.d(x)

        @torch.enable_grad()
        def g(model, x):
            model.e(x)
        """
    )
    assert m.under_no_grad(find_call(m, "model.a(x)"))
    assert not m.under_no_grad(find_call(m, "model.b(x)"))
    assert m.grad_states_at(find_call(m, "model.b(x)")) == {ON}
    assert m.under_no_grad(find_call(m, "model.c(x)"))
    assert not m.under_no_grad(find_call(m, "model.d(x)"))
    assert m.grad_states_at(find_call(m, "model.e(x)")) == {ON}


def test_project_context_managers_and_decorators_are_read_for_what_they_do():
    m = build(
        """
        import contextlib
        import functools
        import torch

        @contextlib.contextmanager
        def evaluating(model):
            model.eval()
            with torch.no_grad():
                yield model
            model.train()

        @contextlib.contextmanager
        def no_grad_timer():
            yield  # named after no_grad; times the block, gradients as they were

        def eval_ctx():
            return torch.inference_mode()

        def smart_inference_mode(torch_1_9=True):
            def decorate(fn):
                return (torch.inference_mode if torch_1_9 else torch.no_grad)()(fn)
            return decorate

        def frozen(fn):
            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                with torch.no_grad():
                    return fn(*args, **kwargs)
            return wrapper

        def no_grad_wrapper(fn):
            return fn  # a registry's marker, whatever its name

        @contextlib.contextmanager
        def switched():
            prev = torch.is_grad_enabled()
            torch.set_grad_enabled(False)
            yield
            torch.set_grad_enabled(prev)

        class Quiet:
            def __enter__(self):
                return self
            def __exit__(self, *exc):
                return False

        class Sub(torch.no_grad):
            pass

        def run(model, x):
            with evaluating(model):
                model.a(x)
            with no_grad_timer():
                model.b(x)
            with eval_ctx():
                model.c(x)
            with Quiet():
                model.d(x)
            with Sub():
                model.e(x)
            with switched():
                model.s(x)

        @smart_inference_mode()
        def p(model, x):
            return model.f(x)

        @frozen
        def q(model, x):
            return model.g(x)

        @no_grad_wrapper
        def r(model, x):
            return model.h(x)
        """
    )
    states = {t: m.grad_states_at(find_call(m, t)) for t in ("model.a(x)", "model.b(x)", "model.c(x)", "model.d(x)", "model.e(x)", "model.f(x)", "model.g(x)", "model.h(x)", "model.s(x)")}
    assert states == {
        "model.a(x)": {OFF},
        "model.b(x)": {INHERIT},
        "model.c(x)": {OFF},
        "model.d(x)": {INHERIT},
        "model.e(x)": {INHERIT, UNKNOWN},  # derives from a library class: kept, or set to something unknown
        "model.f(x)": {OFF},
        "model.g(x)": {OFF},
        "model.h(x)": {INHERIT},
        "model.s(x)": {INHERIT, UNKNOWN},  # set_grad_enabled called as a statement: not followed
    }
    assert [n for n in ("model.a(x)", "model.b(x)", "model.c(x)", "model.f(x)", "model.g(x)", "model.h(x)") if m.under_no_grad(find_call(m, n))] == [
        "model.a(x)", "model.c(x)", "model.f(x)", "model.g(x)",
    ]


def test_a_context_manager_that_leads_back_to_itself_is_unknown():
    m = build(
        """
        import contextlib

        @contextlib.contextmanager
        def loop():
            with loop():
                yield

        def f(model, x):
            with loop():
                model(x)
        """
    )
    assert m.grad_states_at(find_call(m, "model(x)")) == {INHERIT, UNKNOWN}  # kept, or set to something unknown
    assert not m.under_no_grad(find_call(m, "model(x)")) and not m.grad_not_off(find_call(m, "model(x)"))


def test_callers_decide_where_nothing_around_does():
    m = build(
        """
        import torch

        def score(model, x):
            return model(x).argmax(1)

        def opaque(model, x):
            return model.o(x)

        def plain(model, x):
            return model.p(x)

        def main(model, x, ctx):
            with torch.no_grad():
                score(model, x)
                with torch.enable_grad():
                    plain(model, x)
            with ctx:
                opaque(model, x)
        """
    )
    flow = flow_of(m)
    assert flow.no_grad_at(find_call(m, "model(x)")) and not flow.grad_on_at(find_call(m, "model(x)"))
    assert flow.grad_on_at(find_call(m, "model.p(x)")) and not flow.no_grad_at(find_call(m, "model.p(x)"))
    assert not flow.grad_on_at(find_call(m, "model.o(x)")) and not flow.no_grad_at(find_call(m, "model.o(x)"))


YOLO_UTILS = textwrap.dedent(
    """
    import torch


    def frozen_mode(torch_1_9=True):
        # yolov5's smart_inference_mode, under a name that says nothing of grad
        def decorate(fn):
            return (torch.inference_mode if torch_1_9 else torch.no_grad)()(fn)

        return decorate


    def no_grad_logged(fn):
        # named after no_grad; logs the call, gradients as they were
        def wrapper(*args, **kwargs):
            print(fn.__name__)
            return fn(*args, **kwargs)

        return wrapper
    """
)

VAL = textwrap.dedent(
    """
    import torch.nn as nn

    from utils.torch_utils import {decorator}


    @{decorator}{call}
    def run(dataloader):
        model = nn.Linear(4, 2)
        model.eval()
        correct = 0
        for im, targets in dataloader:
            correct += (model(im).argmax(1) == targets).sum().item()
        return correct
    """
)


@pytest.mark.parametrize(("decorator", "call", "reported"), [("frozen_mode", "()", False), ("no_grad_logged", "", True)])
def test_a_decorator_of_another_module_of_the_project_is_read(tmp_path, decorator, call, reported):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "__init__.py").write_text("")
    (tmp_path / "utils" / "torch_utils.py").write_text(YOLO_UTILS)
    val = tmp_path / "val.py"
    text = VAL.format(decorator=decorator, call=call)
    val.write_text(text)
    result = analyze(text, str(val), jedi=JediOptions(enabled=False, project_root=str(tmp_path)))
    assert ("PIT201" in [d.code for d in result.diagnostics]) is reported


def test_a_context_manager_of_another_module_is_read(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "helpers.py").write_text(
        "import contextlib\nimport torch\n\n\n@contextlib.contextmanager\ndef frozen():\n    with torch.no_grad():\n        yield\n"
    )
    main = tmp_path / "main.py"
    main.write_text("from helpers import frozen\n\n\ndef f(model, x):\n    with frozen():\n        return model(x)\n")
    m = load_module_model(str(main))
    assert isinstance(m, SemanticModel)
    assert m.under_no_grad(find_call(m, "model(x)"))


def test_an_unknown_context_inside_no_grad_leaves_the_mode_unknown():
    m = build(
        """
        import torch

        def validate(model, x, amp_autocast):
            with torch.no_grad():
                with amp_autocast():
                    model.a(x)
                model.b(x)
        """
    )
    a, b = find_call(m, "model.a(x)"), find_call(m, "model.b(x)")
    assert m.grad_states_at(a) == {OFF, UNKNOWN}  # kept off, or set to something unknown
    assert not m.under_no_grad(a) and not m.grad_not_off(a)
    assert m.under_no_grad(b)


WRAPPED = '''\
import torch


def frozen(fn):
    def wrapper(*args, **kwargs):
        with torch.no_grad():
            return fn(*args, **kwargs)

    return wrapper


@frozen
def validate(model, loader):
    model.eval()
    correct = 0
    for x, y in loader:
        correct += (model(x).argmax(1) == y).sum().item()
    return correct
'''


def test_an_edit_of_the_decorator_reaches_the_kept_findings_of_the_function_it_decorates():
    """The evaluation's statement is unchanged; what its decorator does is not (the answers
    kept across versions record that they read ``frozen``)."""
    from .test_rule_memo import _fresh, _memo_run

    plain = WRAPPED.replace("        with torch.no_grad():\n            return fn(*args, **kwargs)", "        return fn(*args, **kwargs)")
    enabled = WRAPPED.replace("torch.no_grad()", "torch.enable_grad()")
    versions = [WRAPPED, plain, WRAPPED, enabled, WRAPPED]
    got = _memo_run(versions)
    assert got == _fresh(versions)
    assert [[d["code"] for d in v] for v in got] == [[], ["PIT201"], [], ["PIT201"], []]


def test_after_a_grad_mode_call_made_as_a_statement_the_mode_is_unknown():
    m = build(
        """
        import torch

        def evaluate(model, loader):
            model.before(loader)
            torch.set_grad_enabled(False)
            with torch.enable_grad():
                model.a(loader)
            return [model(x).argmax(1) for x in loader]
        """
    )
    assert m.grad_states_at(find_call(m, "model.before(loader)")) == {INHERIT}
    assert UNKNOWN in m.grad_states_at(find_call(m, "model.a(loader)"))
    assert m.grad_states_at(find_call(m, "model(x)")) == {INHERIT, UNKNOWN}


def test_a_builtin_name_a_star_import_may_shadow_is_unknown():
    """``open`` is the builtin (the mode is kept) unless a star import may bring another."""
    plain = _with_effects(
        """
        def f(x):
            with open(x) as fh: pass
        """
    )
    starred = _with_effects(
        """
        from helpers import *

        def f(x):
            with open(x) as fh: pass
        """
    )
    assert plain["open(x)"] == grad_mode.UNCHANGED
    assert starred["open(x)"] != grad_mode.UNCHANGED
