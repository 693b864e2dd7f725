"""``timm``: model factories (every model it builds is trainable), its optimizers and schedulers."""

from __future__ import annotations

from .records import LrScheduler, ModelFactory, Optimizer, Record

# ``timm.create_model`` matches as a prefix, as the constructors under ``timm.models`` do.
RECORDS: list[Record] = [
    ModelFactory("timm.create_model"),
    ModelFactory("timm.models", namespace=True),
    *(Optimizer(f"timm.optim.{name}") for name in (
        "create_optimizer_v2", "create_optimizer", "optim_factory.create_optimizer_v2", "Lamb", "Lars", "AdamP", "SGDP",
        "Lookahead",
    )),
    LrScheduler("timm.scheduler.create_scheduler"),
    LrScheduler("timm.scheduler.create_scheduler_v2"),
]
