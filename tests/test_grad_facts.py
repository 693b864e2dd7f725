"""Requires-grad and frozen-module facts where a fixture file cannot show them: across modules of
a project (through jedi), and what the PIT103 fix does when the program runs (torch on CPU)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.engine.fixes import apply_fixes
from torchpit.analyzers.semantic.inference import JediOptions

NETS = '''
import torch.nn as nn


class ValueNet(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, 32), nn.ReLU(), nn.Linear(32, n_out))
        self.criterion = nn.SmoothL1Loss()

    def forward(self, obs):
        return self.body(obs)
'''

LEARNER = '''
import torch
from nets import ValueNet


class Learner:
    def __init__(self):
        self.online = ValueNet(6, 3)
        self.shadow = ValueNet(6, 3)
        self.opt = torch.optim.RMSprop(self.online.parameters())

    def sync(self):
        self.shadow.load_state_dict(self.online.state_dict())

    def update(self, obs, act, rew, nxt):
        pred = self.online.forward(obs).gather(1, act).squeeze(1)
        best = self.shadow(nxt).max(1)[0]
        goal = rew + 0.9 * best
        loss = self.online.criterion(pred, goal)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
'''


@pytest.mark.parametrize("budget_s", [30.0, 1e-9], ids=["budget", "one-query"])
def test_target_network_and_loss_module_from_a_sibling_module(tmp_path: Path, budget_s: float) -> None:
    """The class, its loss module and the copy live in two modules; the learner imports its
    sibling by bare name below the project root. With a jedi budget spent by the first query,
    both constructions of the imported class still resolve (one query per imported name)."""
    pkg = tmp_path / "rl"
    pkg.mkdir()
    (pkg / "nets.py").write_text(NETS)
    learner = pkg / "learner.py"
    learner.write_text(LEARNER)
    result = analyze(LEARNER, str(learner), jedi=JediOptions(enabled=True, budget_s=budget_s, project_root=str(tmp_path)))
    found = [(d.code, d.range.start.line + 1, d.range.start.col) for d in result.diagnostics if d.code == "PIT103"]
    line = LEARNER.splitlines().index("        loss = self.online.criterion(pred, goal)") + 1
    assert found == [("PIT103", line, LEARNER.splitlines()[line - 1].index("goal"))]


PROGRAM = textwrap.dedent(
    '''
    import copy

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(0)
    policy = nn.Linear(4, 2)
    target = copy.deepcopy(policy)
    opt = torch.optim.SGD(policy.parameters(), lr=0.1)
    s, s2 = torch.randn(8, 4), torch.randn(8, 4)
    a, r = torch.randint(0, 2, (8, 1)), torch.randn(8)
    q = policy(s).gather(1, a).squeeze(1)
    y = r + 0.9 * target(s2).max(1)[0]
    loss = F.mse_loss(y, q)
    opt.zero_grad()
    loss.backward()
    opt.step()
    '''
)


def _run(text: str) -> dict:
    scope: dict = {}
    exec(compile(text, "<fixture>", "exec"), scope)
    return scope


def test_the_detach_fix_keeps_backward_running_and_stops_training_the_target() -> None:
    result = analyze(PROGRAM, "dqn.py", jedi=JediOptions(enabled=False))
    diags = [d for d in result.diagnostics if d.code == "PIT103"]
    assert len(diags) == 1 and diags[0].fix is not None  # the target side, written first
    before = _run(PROGRAM)
    assert before["target"].weight.grad is not None  # the pitfall: the copy receives a gradient
    fixed = apply_fixes(PROGRAM, diags, unsafe=True).text
    assert "target(s2).max(1)[0]).detach()" in fixed or "y.detach()" in fixed
    after = _run(fixed)
    assert after["target"].weight.grad is None
    assert after["policy"].weight.grad is not None  # backward still reaches the trained network
    again = analyze(fixed, "dqn.py", jedi=JediOptions(enabled=False))
    assert not [d for d in again.diagnostics if d.code == "PIT103"]


def test_no_fix_when_detaching_could_cut_the_only_path() -> None:
    text = textwrap.dedent(
        '''
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        teacher = nn.Linear(4, 2)
        teacher.load_state_dict(torch.load("teacher.pt"))


        def hint(student_out, x):
            # student_out comes from callers we cannot see: it may not require grad
            return F.mse_loss(student_out, teacher(x))
        '''
    )
    result = analyze(text, "kd.py", jedi=JediOptions(enabled=False))
    diags = [d for d in result.diagnostics if d.code == "PIT103"]
    assert len(diags) == 1 and diags[0].fix is None
