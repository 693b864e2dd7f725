"""The engine's contracts: noqa, configuration, rule isolation, registry, parse recovery, jedi."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from torchpit.analyzers.engine import analysis as engine
from torchpit.analyzers.engine.config import Config, ConfigError, config_from_table, load_config
from torchpit.analyzers.core.diagnostics import Severity
from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.semantic.inference import JediOptions
from torchpit.analyzers.engine.registry import all_rules
from torchpit.analyzers.rules.rule import DOC_SECTIONS

LINE = "    return F.cross_entropy(F.softmax(x, dim=1), y)"
HEAD = "import torch.nn.functional as F\n\ndef f(x, y):\n"


def codes(text: str, config: Config | None = None, path: str = "t.py") -> list[str]:
    return [d.code for d in analyze(text, path, config, JediOptions(enabled=False)).diagnostics]


@pytest.mark.parametrize(
    "comment, suppressed",
    [
        ("  # noqa: PIT101", True),
        ("  # noqa", True),
        ("  #noqa:PIT101,PIT301", True),
        ("  # NOQA: PIT101", True),
        ("  # noqa: PIT301", False),
        ("  # a comment", False),
    ],
)
def test_noqa(comment, suppressed):
    assert codes(HEAD + LINE + comment + "\n") == ([] if suppressed else ["PIT101"])


def test_select_ignore_severity_and_per_file_ignores(tmp_path):
    text = HEAD + LINE + "\n"
    assert codes(text, Config(select=("PIT3",))) == []
    assert codes(text, Config(ignore=("PIT1",))) == []
    assert codes(text, Config(select=("PIT101",), ignore=("PIT1",))) == ["PIT101"]  # more specific wins
    cfg = config_from_table({"severity": {"PIT1": "error", "PIT101": "hint"}}, "p", None)
    assert analyze(text, "t.py", cfg).diagnostics[0].severity is Severity.HINT
    cfg = config_from_table({"per-file-ignores": {"tests/*.py": ["PIT101"]}}, "p", str(tmp_path))
    assert codes(text, cfg, str(tmp_path / "tests" / "t.py")) == []
    assert codes(text, cfg, str(tmp_path / "src" / "t.py")) == ["PIT101"]


def test_nearest_pyproject_wins(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.torchpit]\nignore = ["PIT1"]\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no torchpit table: skipped
    deeper = sub / "deeper"
    deeper.mkdir()
    (deeper / "pyproject.toml").write_text('[tool.torchpit]\nselect = ["PIT101"]\n')
    assert load_config(str(sub / "a.py")).ignore == ("PIT1",)
    assert load_config(str(deeper / "a.py")).select == ("PIT101",)


@pytest.mark.parametrize(
    "table, message",
    [
        ({"selct": []}, "selct: unknown key (did you mean 'select'?)"),
        ({"select": "PIT1X"}, "unknown rule selector 'PIT1X'"),
        ({"jedi": "yes"}, "jedi: expected true or false"),
        ({"jedi-timeout": -1}, "expected a number of seconds >= 0"),
        ({"exclude": [1]}, "exclude: expected a list of strings"),
    ],
)
def test_bad_configuration_is_named(table, message):
    with pytest.raises(ConfigError, match=".*" + message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        config_from_table(table, "pyproject.toml", None)


def test_a_crashing_rule_is_isolated(monkeypatch):
    from torchpit.analyzers.rules.pitfalls.functional_dropout_without_training import FunctionalDropoutWithoutTraining

    def boom(self, node, ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr(FunctionalDropoutWithoutTraining, "check", boom)
    result = analyze(HEAD + LINE + "\n", "t.py")
    assert [d.code for d in result.diagnostics] == ["PIT101"]
    assert [e.code for e in result.rule_errors] == ["PIT301"]
    assert "internal error in rule PIT301 on t.py" in str(result.rule_errors[0])


def test_registry_codes_unique_and_docs_complete():
    rules = all_rules()
    assert len({r.code for r in rules}) == len(rules)
    assert len({r.name for r in rules}) == len(rules)
    for r in rules:
        assert list(r.doc_sections()) == list(DOC_SECTIONS), r.code
        assert not list(r.validate())
        assert r.markdown().startswith(f"# {r.name} ({r.code})")


def test_one_traversal_serves_every_rule(monkeypatch):
    calls = []
    real = engine.traverse

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(engine, "traverse", counting)
    analyze(HEAD + LINE + "\n", "t.py")
    assert len(calls) == 1


@pytest.mark.parametrize(
    "broken",
    [
        "x = (1,\n",  # unclosed bracket at the end
        "def f(:\n    pass\n",  # bad signature, with a body
        "for x in loader\n    train(x)\n",  # missing colon
        "model.\n",  # half-typed attribute
        "if x:\nelse:\n    pass\n",  # empty block
    ],
)
def test_syntax_errors_keep_the_other_findings(broken):
    text = HEAD + LINE + "\n\n" + broken + "\n\ndef g(x, y):\n" + LINE + "\n"
    found = codes(text)
    assert found.count("PIT001") == 1
    assert found.count("PIT101") == 2


def test_jedi_follows_a_model_defined_in_another_module(tmp_path):
    pkg = tmp_path / "proj"
    pkg.mkdir()
    (pkg / "models.py").write_text(
        textwrap.dedent(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 2)

                def forward(self, x):
                    return F.softmax(self.fc(x), dim=1)
            """
        )
    )
    train = pkg / "train.py"
    train.write_text(
        textwrap.dedent(
            """
            import torch.nn.functional as F
            from models import Net

            def step(x, y):
                model = Net()
                return F.cross_entropy(model(x), y)
            """
        )
    )
    text = train.read_text()
    on = analyze(text, str(train), Config(), JediOptions(enabled=True, budget_s=30, project_root=str(pkg)))
    off = analyze(text, str(train), Config(), JediOptions(enabled=False))
    assert [d.code for d in on.diagnostics] == ["PIT101"]
    assert on.diagnostics[0].related[0].path == str(pkg / "models.py")
    # The project's own modules resolve through the engine's module index: jedi is not needed.
    assert [d.code for d in off.diagnostics] == ["PIT101"]
    assert off.diagnostics[0].related[0].path == str(pkg / "models.py")


@pytest.mark.parametrize("layer, expected", [("nn.Conv2d(1, 4, 3)", []), ("nn.Dropout(0.5)", ["PIT203"])])
def test_jedi_tells_whether_an_imported_model_has_train_only_layers(tmp_path, layer, expected):
    pkg = tmp_path / "proj"
    pkg.mkdir()
    (pkg / "net.py").write_text(
        "import torch.nn as nn\n\n\nclass Net(nn.Module):\n"
        f"    def __init__(self):\n        super().__init__()\n        self.layer = {layer}\n\n"
        "    def forward(self, x):\n        return self.layer(x)\n"
    )
    main = pkg / "main.py"
    main.write_text(
        "import torch\nfrom net import Net\n\nmodel = Net()\n\n\n"
        "def test(loader):\n    with torch.no_grad():\n        for x in loader:\n            preds = model(x).argmax(1)\n"
    )
    result = analyze(main.read_text(), str(main), Config(), JediOptions(enabled=True, budget_s=30, project_root=str(pkg)))
    assert [d.code for d in result.diagnostics] == expected


@pytest.mark.parametrize("typed", ["warm ", "warm = min(1", "        for g", "x = (", "        if step % 50 == 0:"])
def test_half_typed_line_inside_a_loop_keeps_the_other_findings(typed):
    """Typing happens inside indented blocks, and the broken line's own indentation is not to be trusted."""
    text = (
        "import torch.nn.functional as F\n\n"
        "def train(model, loader, opt):\n"
        "    for x, y in loader:\n"
        "        opt.zero_grad()\n"
        f"{typed}\n"
        "        loss = F.cross_entropy(F.softmax(model(x), dim=1), y)\n"
        "        loss.backward()\n"
        "        opt.step()\n"
    )
    found = codes(text)
    assert found.count("PIT001") == 1
    assert "PIT101" in found


def test_an_analysis_leaves_nothing_for_the_cycle_collector():
    """The model breaks its own cycles (and parents are weak references), so reference counting
    frees an analysis at once; before, each left ~56,000 objects for the collector."""
    import gc

    texts = [p.read_text() for p in sorted((Path(__file__).parent / "fixtures").glob("PIT2*/positive_*.py"))[:6]]
    assert len(texts) == 6
    analyze(texts[0])  # imports and caches
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        for t in texts:
            analyze(t)
        left = gc.collect()
    finally:
        if was:
            gc.enable()
    assert left < 50 * len(texts), left
    assert gc.isenabled() == was  # analyze() restores the collector's state


def _write(root, files):
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


PROJECT_MODEL = """
    import torch.nn as nn

    class Scorer(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Sequential(nn.Linear(8, 3), nn.Softmax(dim=-1))
            self.aux = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(x), self.aux(x)
"""

TRAIN_SCRIPT = """
    import torch.nn as nn
    {import_line}

    criterion = nn.CrossEntropyLoss()

    def step(batch, labels, aux_labels):
        net = Scorer().cuda()
        scores, aux = net(batch)
        return criterion(scores, labels) + criterion(aux, aux_labels)
"""


@pytest.mark.parametrize(
    "layout, script, import_line",
    [
        # a marker at the root; an absolute import of a package module from a script in a subfolder
        ({"pyproject.toml": "", "nets/__init__.py": "", "nets/scoring.py": PROJECT_MODEL}, "scripts/train.py", "from nets.scoring import Scorer"),
        # no marker: the import resolves from an ancestor of the script, as `python -m` would
        ({"models/scoring.py": PROJECT_MODEL}, "training/run.py", "from models.scoring import Scorer"),
        # a relative import inside a package, and a re-export through the package's __init__
        ({"setup.py": "", "pkg/__init__.py": "from .impl import Scorer\n", "pkg/impl.py": PROJECT_MODEL}, "pkg/train.py", "from . import Scorer"),
        ({".git/HEAD": "", "pkg/__init__.py": "", "pkg/impl.py": PROJECT_MODEL}, "pkg/sub/train.py", "from ..impl import Scorer"),
    ],
)
def test_project_modules_resolve_without_jedi(tmp_path, layout, script, import_line):
    """A model class of the project, its forward returning a tuple unpacked at the call: only
    the element that ends in a softmax is reported."""
    _write(tmp_path, {**layout, script: TRAIN_SCRIPT.format(import_line=import_line)})
    train = tmp_path / script
    result = analyze(train.read_text(), str(train), Config(), JediOptions(enabled=False))
    assert [(d.code, d.range.start.line + 1) for d in result.diagnostics] == [("PIT101", 10)]


def test_an_unresolvable_project_import_stays_unknown(tmp_path):
    _write(tmp_path, {"pyproject.toml": "", "train.py": TRAIN_SCRIPT.format(import_line="from nowhere.scoring import Scorer")})
    train = tmp_path / "train.py"
    result = analyze(train.read_text(), str(train), Config(), JediOptions(enabled=False))
    assert result.diagnostics == []


BASE_LOSS = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class ClusterLoss(nn.Module):
        def forward(self, z, centroids):
            q = F.{norm}(z @ centroids.T, dim=1)
            return self.penalty(spread=q.mean(dim=0))

        def penalty(self, spread):
            return -(spread * spread.log()).sum()
"""

SUBCLASS_LOSS = """
    import torch.nn.functional as F
    from losses.base import ClusterLoss

    class PriorClusterLoss(ClusterLoss):
        def __init__(self, prior):
            super().__init__()
            self.prior = prior

        def penalty(self, spread):
            return F.kl_div(spread, self.prior, reduction="sum")
"""


@pytest.mark.parametrize("norm, expected", [("softmax", [("PIT104", 11)]), ("log_softmax", [])])
def test_a_hook_overridden_in_another_module_sees_what_the_base_class_passes(tmp_path, norm, expected):
    """The base class (another module) calls self.penalty(...) with the batch mean of a softmax;
    the subclass's override hands it to kl_div as the input."""
    _write(tmp_path, {"setup.cfg": "", "losses/__init__.py": "", "losses/base.py": BASE_LOSS.format(norm=norm), "losses/prior.py": SUBCLASS_LOSS})
    sub = tmp_path / "losses" / "prior.py"
    result = analyze(sub.read_text(), str(sub), Config(), JediOptions(enabled=False))
    assert [(d.code, d.range.start.line + 1) for d in result.diagnostics] == expected
    if expected:
        assert result.diagnostics[0].related[0].path == str(tmp_path / "losses" / "base.py")


def test_values_that_depend_on_themselves_stay_unknown():
    """Loop-carried names (``node = node.parent``, ``key, value = value.split('=')``) used to
    recurse without end in the qualified-name and tuple-unpacking lookups."""
    text = textwrap.dedent(
        """
        import torch.nn.functional as F

        def walk(node, steps, values, y):
            for _ in range(steps):
                node = node.parent
                node.visit()
            for value in values:
                key, value = value.split("=")
                F.interpolate(value, size=(2, 2))
            return F.cross_entropy(node, y)
        """
    )
    result = analyze(text, "t.py", Config(), JediOptions(enabled=False))
    assert result.rule_errors == [] and result.diagnostics == []


def test_project_modules_answer_without_jedi_for_names_that_are_not_classes(tmp_path, monkeypatch):
    """A name the project's module binds to a function (here through a star import), or one the
    standard library holds, is not a model class: jedi, the slow path, is not asked."""
    from torchpit.analyzers.semantic import inference

    _write(tmp_path, {"pyproject.toml": "", "pkg/__init__.py": "from .layers import *\n", "pkg/layers.py": "def make_head(n):\n    return n\n"})
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(
        """
        import torch.nn.functional as F
        from collections import OrderedDict
        from pkg import make_head

        def step(x, y):
            head, table = make_head(3), OrderedDict()
            return F.cross_entropy(head(x), y) + F.cross_entropy(table(x), y)
        """
    ))
    asked = []
    monkeypatch.setattr(inference.JediInference, "goto", lambda self, node: asked.append(node) or None)
    analyze(script.read_text(), str(script), Config(), JediOptions(enabled=True, budget_s=5, project_root=str(tmp_path)))
    assert asked == []


def test_a_module_added_later_is_found_by_the_next_analysis(tmp_path):
    """The language server runs for hours: a project module created after one analysis must be
    resolved by the next one (no stale answer from an earlier lookup)."""
    _write(tmp_path, {"pyproject.toml": "", "nets/__init__.py": ""})
    _write(tmp_path, {"train.py": TRAIN_SCRIPT.format(import_line="from nets.scoring import Scorer")})
    script = tmp_path / "train.py"
    before = analyze(script.read_text(), str(script), Config(), JediOptions(enabled=False))
    _write(tmp_path, {"nets/scoring.py": PROJECT_MODEL})
    after = analyze(script.read_text(), str(script), Config(), JediOptions(enabled=False))
    assert before.diagnostics == [] and [d.code for d in after.diagnostics] == ["PIT101"]


def test_one_finding_per_rule_and_place():
    """A forward that lies in two of a rule's regions (after ``.eval()``, and in a loop that
    never backpropagates) is one finding, not two at the same place."""
    code = textwrap.dedent(
        """
        import torch
        import torch.nn as nn

        G = nn.Linear(4, 4)
        fixed_z = torch.randn(2, 4)
        samples = []
        for epoch in range(3):
            for x in range(10):
                fake = G(torch.randn(2, 4))
            G.eval()
            samples_z = G(fixed_z)
            samples.append(samples_z)
            G.train()
        """
    )
    found = [(d.code, d.range.start.line) for d in analyze(code, "t.py").diagnostics if d.code == "PIT201"]
    assert found == [("PIT201", 11)]
