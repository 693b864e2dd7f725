"""Model forwards and evaluations as facts, across the modules of a project (star imports)."""

from __future__ import annotations

from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.engine.config import Config
from torchpit.analyzers.semantic.inference import JediOptions

MAIN = (
    "import torch\nfrom models import *\n\nnet = {ctor}\nparams = list(net.parameters())\n\n\n"
    "def sample(batches):\n    with torch.no_grad():\n        return [net(b).argmax(1) for b in batches]\n"
)


def _codes(tmp_path, models: str, ctor: str) -> list[str]:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "models.py").write_text(models)
    main = tmp_path / "main.py"
    main.write_text(MAIN.format(ctor=ctor))
    result = analyze(main.read_text(), str(main), Config(), JediOptions(enabled=False))
    return [d.code for d in result.diagnostics]


def test_a_star_imported_class_without_mode_dependent_layers_is_not_reported(tmp_path):
    # adaptive instance norm: F.batch_norm with training=True always, so the mode changes nothing
    models = (
        "import torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
        "class AdaIN(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n"
        "        self.register_buffer('running_mean', None)\n\n"
        "    def forward(self, x):\n        return F.batch_norm(x, None, None, None, None, True, 0.1, 1e-5)\n\n\n"
        "class Decoder(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 3, 3)\n        self.norm = AdaIN(3)\n\n"
        "    def forward(self, x):\n        return self.norm(self.conv(x))\n"
    )
    assert _codes(tmp_path, models, "Decoder()") == []


def test_a_star_imported_class_with_tracked_instance_norm_is_reported(tmp_path):
    # InstanceNorm2d(track_running_stats=True) normalises with running statistics in eval mode only
    models = (
        "import torch.nn as nn\n\n\n"
        "class Generator(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.InstanceNorm2d(8, affine=True, track_running_stats=True))\n\n"
        "    def forward(self, x):\n        return self.body(x)\n"
    )
    assert _codes(tmp_path, models, "Generator()") == ["PIT203"]

