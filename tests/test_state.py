"""Optimizer and module state across modules of a project (analyzers/facts/state.py).

The fixture runner analyzes one file at a time; these tests write small projects of several
modules to a temporary folder and analyze the training script, with jedi off, so that what
the engine finds through its own reading of the project's modules is what is tested.
"""

from __future__ import annotations

import textwrap

import pytest

from torchpit.analyzers.engine.config import Config
from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.semantic.inference import JediOptions

TRAIN = """
import torch
import torch.nn as nn
{imp}

net = nn.Linear(4, 2)
sgd = torch.optim.SGD(net.parameters(), lr=0.1)
batches = [torch.randn(3, 4) for _ in range(5)]

for x in batches:
    net(x).pow(2).mean().backward()
    {call}
    sgd.step()
"""

HELPERS = {
    "clamps": "def tidy(optimizer, limit):\n    for group in optimizer.param_groups:\n        for p in group['params']:\n            if p.grad is not None:\n                p.grad.data.clamp_(-limit, limit)\n",
    "clears": "def tidy(optimizer, limit):\n    optimizer.zero_grad()\n",
    "hands_on": "from elsewhere import something\n\n\ndef tidy(optimizer, limit):\n    something(optimizer)\n",
}


def _codes(tmp_path, helper: str | None, layout: str) -> list[str]:
    proj = tmp_path / "proj"
    (proj / "pkg").mkdir(parents=True)
    if layout == "sibling":
        script, imp, call = proj / "train.py", "import tools", "tools.tidy(sgd, 1.0)"
        helper_path = proj / "tools.py"
    else:
        script, imp, call = proj / "pkg" / "train.py", "from .tools import tidy", "tidy(sgd, limit=1.0)"
        helper_path = proj / "pkg" / "tools.py"
        (proj / "pkg" / "__init__.py").write_text("")
    if helper is not None:
        helper_path.write_text(HELPERS[helper])
    script.write_text(textwrap.dedent(TRAIN).format(imp=imp, call=call))
    result = analyze(script.read_text(), str(script), Config(), JediOptions(enabled=False), apply_noqa=False)
    return [d.code for d in result.diagnostics if d.code.startswith("PIT2")]


@pytest.mark.parametrize("layout", ["sibling", "relative"])
def test_an_optimizer_handed_to_a_project_helper_that_only_clamps_is_still_never_cleared(tmp_path, layout):
    assert _codes(tmp_path, "clamps", layout) == ["PIT207"]


@pytest.mark.parametrize("helper", ["clears", "hands_on", None])
def test_a_helper_that_may_clear_or_cannot_be_read_keeps_the_rule_silent(tmp_path, helper):
    assert _codes(tmp_path, helper, "sibling") == []


@pytest.mark.parametrize(
    "layer, expected",
    [("nn.Conv2d(1, 4, 3)", []), ("nn.Dropout(0.5)", ["PIT203"]), ("nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))", ["PIT203"])],
)
def test_an_imported_model_class_decides_whether_evaluation_in_train_mode_matters(tmp_path, layer, expected):
    """Without jedi: the class is read from the project module its import names."""
    proj = tmp_path / "proj"
    (proj / "models").mkdir(parents=True)
    (proj / "models" / "__init__.py").write_text("")
    (proj / "models" / "small.py").write_text(
        "import torch.nn as nn\n\n\nclass Small(nn.Module):\n"
        f"    def __init__(self):\n        super().__init__()\n        self.layer = {layer}\n\n"
        "    def forward(self, x):\n        return self.layer(x)\n"
    )
    script = proj / "run.py"
    script.write_text(
        "import torch\nfrom models.small import Small\n\nnet = Small()\n\n\n"
        "def check_accuracy(batches):\n    with torch.no_grad():\n        for x in batches:\n            print(net(x).argmax(1))\n\n\n"
        "def fit(batches, opt):\n    for x in batches:\n        opt.zero_grad()\n        net(x).sum().backward()\n        opt.step()\n"
        "    check_accuracy(batches)\n"
    )
    result = analyze(script.read_text(), str(script), Config(), JediOptions(enabled=False))
    assert [d.code for d in result.diagnostics] == expected


# ---------------------------------------------------------------------- what a helper of another module does
# The helpers' names say nothing: what counts is what their bodies do to the objects handed to them.
MODULE_HELPERS = {
    # clears the gradients of the module it is handed (no optimizer goes to it)
    "tidy_clears": "def tidy(m):\n    for p in m.parameters():\n        p.grad = None\n",
    # named like a clear, clears nothing
    "zero_grad_stats": "def zero_grad_stats(m):\n    return {n: float(p.norm()) for n, p in m.named_parameters()}\n",
    # switches its model back to train mode
    "prepare_trains": "def prepare(m):\n    m.train()\n    return m\n",
    # named like a train-mode switch, only logs
    "set_train_mode_logs": "def set_train_mode(m):\n    print(sum(p.numel() for p in m.parameters()))\n",
    # evaluates, and leaves the model in eval mode
    "score_evals": "import torch\n\n\ndef score(m, xs):\n    m.eval()\n    with torch.no_grad():\n        return [m(x).sum().item() for x in xs]\n",
}

CLEAR_SCRIPT = """
import torch
import torch.nn as nn
from tools import {name}

net = nn.Linear(4, 2)
sgd = torch.optim.SGD(net.parameters(), lr=0.1)
batches = [torch.randn(3, 4) for _ in range(5)]

for x in batches:
    {name}(net)
    net(x).pow(2).mean().backward()
    sgd.step()
"""

MODE_SCRIPT = """
import torch
import torch.nn as nn
from tools import {name}

net = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
o = torch.optim.SGD(net.parameters(), lr=0.1)
batches = [torch.randn(3, 4) for _ in range(5)]

net.train()
for epoch in range(3):
    for x in batches:
        o.zero_grad()
        net(x).pow(2).mean().backward()
        o.step()
    net.eval()
    {name}(net)
    with torch.no_grad():
        print(net(batches[0]).sum())
"""


def _project_codes(tmp_path, helper: str, script_text: str, name: str) -> list[str]:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
    (proj / "tools.py").write_text(MODULE_HELPERS[helper])
    script = proj / "train.py"
    script.write_text(textwrap.dedent(script_text).format(name=name))
    result = analyze(script.read_text(), str(script), Config(), JediOptions(enabled=False), apply_noqa=False)
    return sorted(d.code for d in result.diagnostics if d.code.startswith("PIT2"))


def test_a_project_helper_that_clears_the_model_it_is_handed_counts_as_a_clear(tmp_path):
    assert _project_codes(tmp_path, "tidy_clears", CLEAR_SCRIPT, "tidy") == []


def test_a_project_helper_named_like_a_clear_that_clears_nothing_is_no_clear(tmp_path):
    assert _project_codes(tmp_path, "zero_grad_stats", CLEAR_SCRIPT, "zero_grad_stats") == ["PIT207"]


def test_a_project_helper_that_calls_train_on_its_parameter_restores_the_mode(tmp_path):
    assert _project_codes(tmp_path, "prepare_trains", MODE_SCRIPT, "prepare") == []


def test_a_project_helper_named_like_a_mode_switch_that_does_not_switch_is_no_switch(tmp_path):
    assert _project_codes(tmp_path, "set_train_mode_logs", MODE_SCRIPT, "set_train_mode") == ["PIT204"]


def test_an_optimizer_built_by_a_factory_of_another_module_is_an_optimizer(tmp_path):
    """``o = build(net)`` where the project's ``build`` returns ``torch.optim.SGD(...)``: its step
    is an optimizer step, whatever the names (here the clear between backward and step)."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
    (proj / "factory.py").write_text("import torch\n\n\ndef build(m, lr=0.1):\n    return torch.optim.SGD(m.parameters(), lr=lr)\n")
    script = proj / "train.py"
    script.write_text(
        "import torch\nimport torch.nn as nn\nfrom factory import build\n\nnet = nn.Linear(4, 2)\no = build(net)\n"
        "batches = [torch.randn(3, 4) for _ in range(5)]\n\nfor x in batches:\n"
        "    net(x).pow(2).mean().backward()\n    o.zero_grad()\n    o.step()\n"
    )
    result = analyze(script.read_text(), str(script), Config(), JediOptions(enabled=False), apply_noqa=False)
    assert [d.code for d in result.diagnostics] == ["PIT208"]


def test_a_project_helper_that_leaves_its_model_in_eval_mode_is_reported_where_it_is_called(tmp_path):
    script = MODE_SCRIPT.replace("    net.eval()\n    {name}(net)\n", "    {name}(net, batches)\n")
    assert "net.eval()" not in script
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
    (proj / "tools.py").write_text(MODULE_HELPERS["score_evals"])
    path = proj / "train.py"
    path.write_text(textwrap.dedent(script).format(name="score"))
    result = analyze(path.read_text(), str(path), Config(), JediOptions(enabled=False), apply_noqa=False)
    found = [d for d in result.diagnostics if d.code == "PIT204"]
    assert len(found) == 1 and "inside the call here" in found[0].message
    assert path.read_text().splitlines()[found[0].range.start.line].strip() == "score(net, batches)"
