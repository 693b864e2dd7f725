"""Packages as a whole: the libraries the catalogue knows (their top-level names), and those
that define no ``nn.Module`` a training script builds."""

from __future__ import annotations

import sys

# Top-level names of the libraries whose APIs the catalogue holds. No module of facts/,
# semantic/ or rules/ spells a name under one of them (tests/test_catalogue.py).
LIBRARY_ROOTS = frozenset({
    "torch", "torchvision", "timm", "numpy", "PIL", "cv2", "transformers", "lightning", "pytorch_lightning",
    "lightning_fabric", "accelerate", "deepspeed", "diffusers", "bitsandbytes", "apex", "torch_optimizer",
})

# Top-level packages that define no nn.Module a training script builds: the standard library and
# common numeric / data libraries. Asking jedi where their names are defined is time wasted.
NO_MODEL_PACKAGES = frozenset(sys.stdlib_module_names) | {
    "numpy", "scipy", "pandas", "sklearn", "PIL", "cv2", "matplotlib", "onnxruntime", "onnx",
    "tqdm", "yaml", "requests", "h5py", "tensorboardX", "wandb", "absl", "einops", "functorch",
}

# Context-manager stacks whose ``enter_context(torch.no_grad())`` turns gradients off for the rest of the block.
EXIT_STACKS = frozenset({"contextlib.ExitStack", "contextlib.AsyncExitStack"})

# Packages whose code never changes torch's grad mode: a context manager or decorator of theirs
# (``open``, ``contextlib.nullcontext``, ``functools.wraps``) keeps the caller's.
GRAD_NEUTRAL_PACKAGES = frozenset(sys.stdlib_module_names)

# Decorators that turn a generator function into a context manager: the code under ``with f():``
# runs where the generator yields.
CONTEXT_MANAGER_DECORATORS = frozenset({"contextlib.contextmanager", "contextlib.asynccontextmanager"})
