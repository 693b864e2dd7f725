"""Qualified names of the torch API the rules reason about, and their canonical spellings.

The semantic model resolves ``F.cross_entropy``, ``nn.functional.cross_entropy`` and
``torch.nn.functional.cross_entropy`` to one qualified name; jedi reports definitions where
they live (``torch.nn.modules.loss.CrossEntropyLoss``). ``canonical`` folds both onto the
public spelling that the sets below use.
"""

from __future__ import annotations

import re

_MODULES_RE = re.compile(r"^torch\.nn\.modules\.[a-z_]+\.")
_ALIASES = {
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
    if qualname in _ALIASES:
        return _ALIASES[qualname]
    if qualname.startswith("torch.nn.modules."):
        return _MODULES_RE.sub("torch.nn.", qualname)
    return qualname


MODULE_BASES = {"torch.nn.Module", "pytorch_lightning.LightningModule"}

SOFTMAX_FUNCS = {
    "torch.softmax",
    "torch.nn.functional.softmax",
    "torch.special.softmax",
}
LOG_SOFTMAX_FUNCS = {
    "torch.log_softmax",
    "torch.nn.functional.log_softmax",
    "torch.special.log_softmax",
}
SOFTMAX_MODULES = {"torch.nn.Softmax", "torch.nn.Softmax2d"}
LOG_SOFTMAX_MODULES = {"torch.nn.LogSoftmax"}

CROSS_ENTROPY_FUNCS = {"torch.nn.functional.cross_entropy"}
CROSS_ENTROPY_MODULES = {"torch.nn.CrossEntropyLoss"}

NO_GRAD_CONTEXTS = {"torch.no_grad", "torch.inference_mode"}

DROPOUT_FUNCS = {
    "torch.nn.functional.dropout",
    "torch.nn.functional.dropout1d",
    "torch.nn.functional.dropout2d",
    "torch.nn.functional.dropout3d",
    "torch.nn.functional.alpha_dropout",
    "torch.nn.functional.feature_alpha_dropout",
}

SEQUENTIAL = "torch.nn.Sequential"
