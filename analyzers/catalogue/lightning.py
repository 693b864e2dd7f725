"""Lightning (``pytorch_lightning`` / ``lightning.pytorch``): the module base class and the
hooks the trainer calls (``aliases`` folds the other spellings of the base class onto this one);
Fabric (and its predecessor ``LightningLite``), a training engine."""

from __future__ import annotations

from .records import Accelerator, Hook, ModuleBase, Record

BASE = "pytorch_lightning.LightningModule"

# Hook names the trainer calls besides the per-batch steps (``on_train_start``,
# ``validation_epoch_end``, ``train_dataloader``): functions the framework runs, not evaluations.
HOOK_NAME_PATTERN = r"^(validation_step|test_step|predict_step|.*_epoch_end|on_.*|.*_dataloader)$"

RECORDS: list[Record] = [
    ModuleBase(BASE),
    Hook(f"{BASE}.training_step", per_batch=True, grad_enabled=True, trains=True),
    Hook(f"{BASE}.validation_step", per_batch=True, grad_enabled=False),
    Hook(f"{BASE}.test_step", per_batch=True, grad_enabled=False),
    Hook(f"{BASE}.predict_step", per_batch=True, grad_enabled=False),
]

# ``model, opt = fabric.setup(model, opt)``, under the spellings code uses.
FABRIC: list[Record] = [
    *(Accelerator(q, wrapping_methods=("setup", "setup_optimizers")) for q in (
        "lightning.Fabric", "lightning.fabric.Fabric", "lightning_fabric.Fabric", "lightning.fabric.fabric.Fabric",
    )),
    Accelerator("pytorch_lightning.lite.LightningLite", wrapping_methods=("setup",)),
]

RECORDS += FABRIC
