"""Classes imported from the project's own modules are found by the project's index, and jedi is
asked only what it could answer: a name from a package that is not installed, or a member of a
project class, costs no jedi query (each query parses the whole file again)."""

from __future__ import annotations

import pytest

from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.engine.config import Config
from torchpit.analyzers.semantic import inference
from torchpit.analyzers.semantic.inference import JediOptions

NET = (
    "import torch.nn as nn\n\n\n"
    "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.fc = nn.Linear(4, 2)\n\n"
    "    @classmethod\n    def pretrained(cls):\n        return cls()\n\n"
    "    def forward(self, x):\n        return self.fc(x)\n"
)

EVALUATE = (
    "import torch\n{imports}\n\n\n"
    "def evaluate(loader):\n    net = {ctor}\n    correct = 0\n"
    "    for x, y in loader:\n        correct += (net(x).argmax(1) == y).sum().item()\n"
    "    return correct\n"
)


def _project(tmp_path, init: str, imports: str, ctor: str):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.py").write_text(NET)
    (tmp_path / "models" / "__init__.py").write_text(init)
    main = tmp_path / "main.py"
    main.write_text(EVALUATE.format(imports=imports, ctor=ctor))
    return main


@pytest.fixture
def gotos(monkeypatch):
    """Every jedi goto the analysis makes (the name it asks about)."""
    asked: list[str] = []
    real = inference.JediInference.goto

    def goto(self, node):
        import ast

        asked.append(ast.unparse(node))
        return real(self, node)

    monkeypatch.setattr(inference.JediInference, "goto", goto)
    return asked


def _codes(main, jedi: bool = False) -> list[str]:
    result = analyze(main.read_text(), str(main), Config(root=str(main.parent)), JediOptions(enabled=jedi, project_root=str(main.parent)))
    return [d.code for d in result.diagnostics]


def test_a_class_imported_twice_by_a_package_is_the_one_class(tmp_path):
    # the same name imported twice in the package's __init__ binds one thing: the project's class
    init = "from .net import Net\nfrom .net import Net  # noqa: F811\n"
    assert _codes(_project(tmp_path, init, "from models import Net", "Net()")) == ["PIT201"]


def test_two_imports_of_different_things_under_one_name_are_not_followed(tmp_path):
    # ``Net`` is bound to the class, then to something else: which one is unknown, so silence
    (tmp_path / "other.py").write_text("def Net():\n    return None\n")
    init = "from .net import Net\nfrom other import Net  # noqa: F811\n"
    assert _codes(_project(tmp_path, init, "from models import Net", "Net()")) == []


def test_a_member_of_a_project_class_is_answered_without_jedi(tmp_path, gotos):
    init = "from .net import Net\n"
    main = _project(tmp_path, init, "from models import Net", "Net.pretrained()")
    _codes(main, jedi=True)
    assert "Net.pretrained" not in gotos


def test_a_name_from_a_package_that_is_not_installed_is_not_asked_of_jedi(tmp_path, gotos):
    init = "from torchpit_no_such_package.layers import Block\n"
    main = _project(tmp_path, init, "from models import Block", "Block()")
    assert _codes(main, jedi=True) == []
    assert gotos == []


def test_a_name_from_an_installed_package_is_still_asked_of_jedi(tmp_path, gotos):
    # lsprotocol is installed with torchpit: jedi may know what it is, so it is asked
    main = _project(tmp_path, "", "from lsprotocol.types import Position", "Position(line=0, character=0)")
    _codes(main, jedi=True)
    assert gotos == ["Position"]


def test_an_installed_package_is_found_on_jedis_search_path():
    assert inference._importable(None, "lsprotocol")
    assert inference._importable(None, "sys")  # built in
    assert not inference._importable(None, "torchpit_no_such_package")
