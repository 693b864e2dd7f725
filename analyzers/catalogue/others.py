"""Smaller libraries of training code: Hugging Face ``accelerate`` and ``diffusers``, DeepSpeed,
and the optimizer packages ``bitsandbytes``, NVIDIA ``apex`` and ``torch_optimizer``."""

from __future__ import annotations

from .records import Accelerator, LrScheduler, Optimizer, PretrainedModels, Record

ACCELERATORS: list[Record] = [
    # ``model, opt = accelerator.prepare(model, opt)``; ``accelerator.backward(loss)``.
    *(Accelerator(q, wrapping_methods=("prepare", "prepare_optimizer")) for q in (
        "accelerate.Accelerator", "accelerate.accelerator.Accelerator",
    )),
    # ``engine, opt, _, _ = deepspeed.initialize(...)``
    Accelerator("deepspeed.initialize", returns_engine_tuple=True),
]

OPTIMIZERS: list[Record] = [
    *(Optimizer(f"bitsandbytes.optim.{name}") for name in ("Adam8bit", "AdamW8bit", "PagedAdamW8bit")),
    *(Optimizer(f"apex.optimizers.{name}") for name in ("FusedAdam", "FusedLAMB", "FusedSGD")),
    *(Optimizer(f"torch_optimizer.{name}") for name in ("Lamb", "RAdam", "Ranger")),
]

DIFFUSERS: list[Record] = [
    PretrainedModels(
        "diffusers",
        model_endings=("UNet2DModel", "UNet2DConditionModel", "Transformer2DModel"),
        not_model_endings=("Pipeline", "Scheduler"),
    ),
    LrScheduler("diffusers.optimization.get_scheduler"),
]

RECORDS: list[Record] = ACCELERATORS + OPTIMIZERS + DIFFUSERS
