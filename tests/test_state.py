"""Optimizer and module state across modules of a project (analyzers/state.py).

The fixture runner analyzes one file at a time; these tests write small projects of several
modules to a temporary folder and analyze the training script, with jedi off, so that what
the engine finds through its own reading of the project's modules is what is tested.
"""

from __future__ import annotations

import textwrap

import pytest

from torchpit.analyzers.config import Config
from torchpit.analyzers.engine import analyze
from torchpit.analyzers.inference import JediOptions

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
