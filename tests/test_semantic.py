"""The semantic model the rules share: names, values, classes, enclosing facts."""

from __future__ import annotations

import ast
import textwrap

from torchpit.analyzers.engine.analysis import traverse
from torchpit.analyzers.syntax.parsing import parse_source
from torchpit.analyzers.facts.patterns import softmax_evidence
from torchpit.analyzers.semantic.model import SemanticModel
from torchpit.analyzers.syntax.source import SourceFile


def build(code: str) -> SemanticModel:
    code = textwrap.dedent(code)
    tree = parse_source(code).tree
    assert tree is not None
    model = SemanticModel(tree, "m.py", None, SourceFile(code, "m.py"))
    traverse(tree, model, set())
    return model


def calls(model: SemanticModel) -> list[ast.Call]:
    return [n for n in ast.walk(model.tree) if isinstance(n, ast.Call)]


def find_call(model: SemanticModel, text: str) -> ast.Call:
    for c in calls(model):
        if ast.unparse(c) == text:
            return c
    raise AssertionError(f"no call {text!r}")


def test_import_aliases_resolve_to_qualified_names():
    m = build(
        """
        import torch
        import torch as T
        import torch.nn.functional as F
        from torch import nn
        from torch.nn import CrossEntropyLoss as CE
        F.cross_entropy(a, b)
        nn.functional.cross_entropy(a, b)
        T.nn.functional.cross_entropy(a, b)
        torch.nn.functional.cross_entropy(a, b)
        CE()
        nn.CrossEntropyLoss()
        torch.nn.modules.loss.CrossEntropyLoss()
        """
    )
    names = [m.call_name(c) for c in calls(m)]
    assert names[:4] == ["torch.nn.functional.cross_entropy"] * 4
    assert names[4:] == ["torch.nn.CrossEntropyLoss"] * 3


def test_local_shadowing_is_respected():
    m = build(
        """
        import torch.nn.functional as F
        def f(F):
            return F.softmax(x)
        """
    )
    assert m.call_name(find_call(m, "F.softmax(x)")) is None  # F is a parameter here


def test_reaching_assignments_through_branches():
    m = build(
        """
        import torch.nn.functional as F
        def f(x, flag):
            out = F.softmax(x, dim=1)
            if flag:
                out = F.log_softmax(x, dim=1)
            use(out)
            out = x
            after(out)
        """
    )
    use = find_call(m, "use(out)").args[0]
    values = sorted(ast.unparse(v.node) for v in m.values(use))
    assert values == ["F.log_softmax(x, dim=1)", "F.softmax(x, dim=1)"]
    after = find_call(m, "after(out)").args[0]
    assert [ast.unparse(v.node) for v in m.values(after)] == ["x"]


def test_instance_attributes_across_methods_and_forward_outputs():
    m = build(
        """
        import torch.nn as nn
        import torch.nn.functional as F
        class Base(nn.Module):
            pass
        class Net(Base):
            def __init__(self):
                super().__init__()
                self.criterion = nn.CrossEntropyLoss()
                self.head = nn.Sequential(nn.Linear(4, 2), nn.Softmax(dim=1))
            def forward(self, x):
                return F.softmax(x, dim=-1)
            def training_step(self, batch):
                out = self(batch)
                return self.criterion(out, batch)
        net = Net().cuda()
        y = net(inp)
        z = net.head(inp)
        """
    )
    net = m.classes["Net"]
    assert m.is_nn_module(net) and m.is_nn_module(m.classes["Base"])
    crit = find_call(m, "self.criterion(out, batch)")
    assert [m.call_name(v.node) for v in m.values(crit.func)] == ["torch.nn.CrossEntropyLoss"]
    assert softmax_evidence(m, crit.args[0]) is not None  # self(batch) -> forward ends in softmax
    assert softmax_evidence(m, find_call(m, "net(inp)")) is not None  # through .cuda()
    assert softmax_evidence(m, find_call(m, "net.head(inp)")) is not None  # Sequential ending in Softmax


def test_enclosing_loops_withs_and_no_grad():
    m = build(
        """
        import torch
        @torch.no_grad()
        def evaluate(model, loader):
            for x in loader:
                model(x)
        def train(model, loader):
            for x in loader:
                with torch.no_grad():
                    model.teacher(x)
                model(x)
            with torch.set_grad_enabled(False):
                model.other(x)
        """
    )
    ev = [c for c in calls(m) if ast.unparse(c) == "model(x)"]
    assert m.under_no_grad(ev[0]) and not m.under_no_grad(ev[1])
    assert len(m.enclosing_loops(ev[1])) == 1
    assert m.under_no_grad(find_call(m, "model.teacher(x)"))
    assert m.under_no_grad(find_call(m, "model.other(x)"))


def test_local_function_returns_are_followed():
    m = build(
        """
        import torch
        def probs(x):
            return torch.softmax(x, 1)
        def f(x):
            p = probs(x)
            g(p)
        """
    )
    assert softmax_evidence(m, find_call(m, "g(p)").args[0]) is not None


def _param(model: SemanticModel, func: str, name: str) -> ast.arg:
    for n in ast.walk(model.tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == func:
            a = n.args
            for p in (*a.posonlyargs, *a.args, a.vararg, *a.kwonlyargs, a.kwarg):
                if p is not None and p.arg == name:
                    return p
    raise AssertionError(f"no parameter {func}({name})")


def test_argument_for_binds_as_python_does():
    from torchpit.analyzers.semantic.callsites import UNKNOWN, argument_for, parameter_slot

    m = build(
        """
        def f(p, /, a, b=1, *rest, k, **kw): ...
        class C:
            def method(self, x, *, y=None): ...
        f(1, 2, k=3)
        f(1, b=5, a=4, k=3)
        f(1, *xs, k=3)
        f(*xs, k=3)
        f(1, 2, 3, 4, k=3, p=9)
        f(1, **opts)
        f(1, a=2, **opts)
        """
    )
    p, a, b, k = (_param(m, "f", n) for n in ("p", "a", "b", "k"))
    rest, kw = _param(m, "f", "rest"), _param(m, "f", "kw")
    assert [parameter_slot(x)[1] for x in (p, a, b, k, rest, kw)] == [0, 1, 2, None, None, None]
    x, y = _param(m, "method", "x"), _param(m, "method", "y")
    assert parameter_slot(_param(m, "method", "self")) is None  # self is never an argument
    assert parameter_slot(x)[1] == 0 and parameter_slot(y)[1] is None  # counted after self

    def arg(call: str, param: ast.arg):
        got = argument_for(find_call(m, call), param, parameter_slot(param)[1])
        return got if got is None or got is UNKNOWN else ast.unparse(got)

    assert arg("f(1, 2, k=3)", a) == "2"  # positional
    assert arg("f(1, 2, k=3)", k) == "3"  # keyword-only
    assert arg("f(1, 2, k=3)", b) is None  # not passed: the default holds
    assert arg("f(1, b=5, a=4, k=3)", a) == "4"  # a positional parameter passed by keyword
    assert arg("f(1, *xs, k=3)", p) == "1"  # before the *args: known
    assert arg("f(1, *xs, k=3)", a) is UNKNOWN  # the *args may hold it
    assert arg("f(*xs, k=3)", p) is UNKNOWN
    assert arg("f(*xs, k=3)", k) == "3"  # a keyword is bound whatever *args holds
    assert arg("f(1, 2, 3, 4, k=3, p=9)", p) == "1"  # positional-only: p=9 goes to **kw
    assert arg("f(1, 2, 3, 4, k=3, p=9)", rest) is UNKNOWN  # *rest gets a tuple, no one argument
    assert arg("f(1, 2, 3, 4, k=3, p=9)", kw) is UNKNOWN
    assert arg("f(1, **opts)", a) is UNKNOWN  # **opts may hold it
    assert arg("f(1, **opts)", p) == "1"  # a positional-only parameter is never in **opts
    assert arg("f(1, a=2, **opts)", a) == "2"  # passed by name: **opts cannot hold it too


def test_call_site_arguments_bind_past_unpacking_and_positional_only():
    """The call sites of ``train``: ``train(net, *rest)`` passes ``net`` to ``model`` whatever
    ``rest`` holds, and ``train(net2, model=other)`` passes ``other`` to ``**kw``, not to the
    positional-only ``model`` (before the shared ``argument_for``, the first site gave no
    answer for the whole function and the second answered ``other``)."""
    from torchpit.analyzers.semantic.callsites import call_site_arguments

    m = build(
        """
        def train(model, /, *args, **kw): ...
        train(net, *rest)
        train(net2, model=other)
        """
    )
    sites = call_site_arguments(m, _param(m, "train", "model"))
    assert sites is not None
    assert [ast.unparse(a) for _, a in sites] == ["net", "net2"]
