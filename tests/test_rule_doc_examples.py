"""Each rule's documentation is a test, as Fixit's valid/invalid examples are: the code block of
its `## Example` section must be reported by that rule, and the one of `## Use instead` must
not be (the rule stays silent on the fix it recommends)."""

from __future__ import annotations

import re

import pytest

from torchpit.analyzers.engine.config import Config
from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.semantic.inference import JediOptions
from torchpit.analyzers.engine.registry import all_rules

CODE_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
# The imports every example assumes (the docs leave them out, as ruff's do).
PRELUDE = """\
import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torch.autograd import Variable
from torchvision.io import read_image
"""
RULES = sorted(all_rules(), key=lambda r: r.code)


def _block(rule, section: str) -> str:
    found = CODE_BLOCK.findall(rule.doc_sections()[section])
    assert found, f"{rule.code}: `## {section}` has no python code block"
    return "\n\n".join(found)


def _codes(text: str, code: str) -> list[str]:
    result = analyze(PRELUDE + text, "example.py", Config(select=(code,)), JediOptions(enabled=False))
    assert not result.rule_errors, [str(e) for e in result.rule_errors]
    return [d.code for d in result.diagnostics]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_the_example_is_reported(rule) -> None:
    assert rule.code in _codes(_block(rule, "Example"), rule.code), f"{rule.code}: its `## Example` is not reported"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_use_instead_is_not_reported(rule) -> None:
    assert rule.code not in _codes(_block(rule, "Use instead"), rule.code), f"{rule.code}: its `## Use instead` is reported"
