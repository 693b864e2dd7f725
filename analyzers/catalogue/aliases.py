"""Canonical spellings of qualified names.

The semantic model resolves ``F.cross_entropy``, ``nn.functional.cross_entropy`` and
``torch.nn.functional.cross_entropy`` to one qualified name; jedi reports definitions where
they live (``torch.nn.modules.loss.CrossEntropyLoss``). ``canonical`` folds both onto the
public spelling that the records use.
"""

from __future__ import annotations

import re

_MODULES_RE = re.compile(r"^torch\.nn\.modules\.[a-z_]+\.")
ALIASES = {
    "torch.nn.functional.F": "torch.nn.functional",
    "torch._C._nn": "torch.nn.functional",
    "torch.autograd.variable.Variable": "torch.autograd.Variable",
    "torch.autograd.grad_mode.no_grad": "torch.no_grad",
    "torch.autograd.grad_mode.inference_mode": "torch.inference_mode",
    "torch.autograd.grad_mode.enable_grad": "torch.enable_grad",
    "torch.autograd.grad_mode.set_grad_enabled": "torch.set_grad_enabled",
    "torch.autograd.no_grad": "torch.no_grad",
    "torch.autograd.inference_mode": "torch.inference_mode",
    "torch.nn.modules.module.Module": "torch.nn.Module",
    "torch.nn.parameter.Parameter": "torch.nn.Parameter",
    "lightning.pytorch.LightningModule": "pytorch_lightning.LightningModule",
    "lightning.LightningModule": "pytorch_lightning.LightningModule",
    "pytorch_lightning.core.module.LightningModule": "pytorch_lightning.LightningModule",
    "pytorch_lightning.core.lightning.LightningModule": "pytorch_lightning.LightningModule",
}


def canonical(qualname: str | None) -> str | None:
    if qualname is None:
        return None
    if qualname in ALIASES:
        return ALIASES[qualname]
    if qualname.startswith("torch.nn.modules."):
        return _MODULES_RE.sub("torch.nn.", qualname)
    return qualname


def spellings(qualname: str) -> frozenset[str]:
    """``qualname`` and the aliases that ``canonical`` folds onto it."""
    return frozenset({qualname, *(a for a, c in ALIASES.items() if c == qualname)})
