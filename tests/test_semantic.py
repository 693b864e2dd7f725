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
    assert len(m.enclosing_withs(find_call(m, "model.teacher(x)"))) == 1


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
