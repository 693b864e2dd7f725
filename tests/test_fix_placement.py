"""Where a fix inserts a line above a statement (``Context.insertion_line``): where a person
would write it. Above the comment block that explains the statement, above its decorators,
after ``else:`` / ``except ...:`` and before their body's first comment; and nowhere when the
statement shares its line with code before it or continues the line above. A fix that wraps
statements in a block (PIT201's ``with torch.no_grad():``) starts at that same line: the
comment block that explains the first wrapped statement moves into the block with it."""

from __future__ import annotations

import ast
import textwrap

import pytest

from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.core.diagnostics import Applicability
from torchpit.analyzers.engine.fixes import apply_edits, apply_fixes
from torchpit.analyzers.rules.rule import Context
from torchpit.analyzers.semantic.build import traverse
from torchpit.analyzers.semantic.inference import JediOptions
from torchpit.analyzers.semantic.model import SemanticModel
from torchpit.analyzers.syntax.source import SourceFile


def _ctx(text: str) -> tuple[Context, ast.Module]:
    tree = ast.parse(text)
    source = SourceFile(text)
    model = SemanticModel(tree, None, None, source)
    traverse(tree, model, set())
    return Context(source, model), tree


def _insert(text: str, marker: str = "target()") -> str | None:
    """``text`` with ``new()`` inserted above the statement whose source is ``marker``."""
    text = textwrap.dedent(text)
    ctx, tree = _ctx(text)
    stmt = next(n for n in ast.walk(tree) if isinstance(n, ast.stmt) and ctx.text(n).startswith(marker))
    edit = ctx.insert_before_statement(stmt, "new()")
    if edit is None:
        return None
    lines = text.splitlines(True)
    line = edit.range.start.line
    return "".join(lines[:line]) + edit.new_text + "".join(lines[line:])


def test_above_the_comment_block_that_explains_the_statement():
    got = _insert(
        """
        x = 1
        # the comment
        # explains this
        target()
        """
    )
    assert got == "\nx = 1\nnew()\n# the comment\n# explains this\ntarget()\n"


def test_a_comment_block_ends_at_a_blank_line():
    got = _insert(
        """
        # about x
        x = 1

        target()
        """
    )
    assert got == "\n# about x\nx = 1\n\nnew()\ntarget()\n"


def test_not_above_a_deeper_comment_that_ends_the_block_before():
    got = _insert(
        """
        for a in b:
            f(a)
            # last words of the loop body
        target()
        """
    )
    assert got == "\nfor a in b:\n    f(a)\n    # last words of the loop body\nnew()\ntarget()\n"


@pytest.mark.parametrize(("opener", "header"), [("if a:", "else:"), ("for a in b:", "else:"), ("try:", "except ValueError:"), ("try:", "finally:")])
def test_after_else_or_except_and_before_their_first_comment(opener, header):
    got = _insert(
        f"""
        {opener}
            f()
        {header}
                # why (indented deeper than the body)
            # and why
            target()
        """
    )
    assert got == f"\n{opener}\n    f()\n{header}\n    new()\n        # why (indented deeper than the body)\n    # and why\n    target()\n"


def test_above_the_decorators():
    got = _insert(
        """
        x = 1
        # a decorated function
        @functools.lru_cache(
            maxsize=None,
        )
        @staticmethod
        def target():
            pass
        """,
        marker="def target",
    )
    assert got == "\nx = 1\nnew()\n# a decorated function\n@functools.lru_cache(\n    maxsize=None,\n)\n@staticmethod\ndef target():\n    pass\n"


def test_not_after_a_line_continuation():
    assert _insert("x = 1 + \\\n    2; \\\ntarget()\n") is None


def test_a_backslash_in_a_comment_is_no_continuation():
    assert _insert("x = 1  # ends with \\\ntarget()\n") == "x = 1  # ends with \\\nnew()\ntarget()\n"


@pytest.mark.parametrize("text", ["x = 1; target()\n", "for a in b: target()\n", "if a:\n    pass\nelif target():\n    pass\n"])
def test_not_where_code_comes_before_it_on_its_line(text):
    assert _insert(text, marker="target()" if "elif" not in text else "elif") is None


def test_a_hash_inside_a_string_is_no_comment():
    got = _insert('x = """\n# not a comment"""\ntarget()\n')
    assert got == 'x = """\n# not a comment"""\nnew()\ntarget()\n'


def test_never_above_a_shebang_or_encoding_line():
    got = _insert("#!/usr/bin/env python\n# -*- coding: utf-8 -*-\ntarget()\n")
    assert got == "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\nnew()\ntarget()\n"


# Each rule whose fix inserts a line, on code with a comment above the statement it inserts before.
RULE_CASES = {
    "PIT207": """
        import torch
        import torch.nn as nn

        model = nn.Linear(10, 2)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        loader = [(torch.randn(4, 10), torch.randint(0, 2, (4,)))]

        for x, y in loader:
            # forward pass
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        """,
    "PIT204": """
        import torch
        import torch.nn.functional as F


        @torch.no_grad()
        def validate(model, loader):
            model.eval()
            return [model(x) for x, _ in loader]


        def main(model, train_loader, val_loader, optimizer):
            model.train()
            for epoch in range(10):
                # one pass over the data
                for x, y in train_loader:
                    optimizer.zero_grad()
                    F.cross_entropy(model(x), y).backward()
                    optimizer.step()
                validate(model, val_loader)
        """,
    "PIT208": """
        import torch
        import torch.nn as nn

        model = nn.Linear(10, 2)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        loader = [(torch.randn(4, 10), torch.randint(0, 2, (4,)))]

        for x, y in loader:
            # forward pass
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            # start from clean gradients
            optimizer.zero_grad()  # before the step
            optimizer.step()
        """,
    "PIT203": """
        import torch
        import torch.nn as nn

        model = nn.Sequential(nn.Linear(10, 10), nn.Dropout(0.5))


        def evaluate(loader):
            total = 0
            with torch.no_grad():
                # score every batch
                for x, y in loader:
                    total += model(x).sum()
            return total
        """,
    "PIT201": """
        import torch
        import torch.nn as nn

        model = nn.Linear(10, 2)
        loader = [(torch.randn(4, 10), torch.randint(0, 2, (4,)))]


        def validate():
            model.eval()
            correct = 0
            # evaluate on the test set
            # (every batch)
            for x, y in loader:
                # score it

                correct += (model(x).argmax(1) == y).sum().item()
            return correct
        """,
    "PIT302": """
        import torch
        import torch.nn as nn

        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        loader = [(torch.randn(4, 3, 8, 8), torch.randn(4, 8, 6, 6))]

        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                # freeze the batch norm layers
                for p in m.parameters():
                    p.requires_grad = False
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
        """,
    "PIT303": """
        import torch
        import torch.nn as nn

        model = nn.Sequential(nn.Linear(10, 10), nn.BatchNorm1d(10))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)


        def train(loader, unlabeled):
            model.train()
            for x, y in loader:
                optimizer.zero_grad()
                loss = nn.functional.mse_loss(model(x), y)
                loss.backward()
                optimizer.step()
                # pseudo-labels for the next round
                with torch.no_grad():
                    labels = model(unlabeled)
        """,
}


@pytest.mark.parametrize("code", sorted(RULE_CASES))
def test_each_rule_inserts_above_the_comment(code):
    text = textwrap.dedent(RULE_CASES[code])
    diags = [d for d in analyze(text, "case.py", jedi=JediOptions(enabled=False)).diagnostics if d.code == code]
    assert diags and all(d.fix for d in diags), [(d.code, d.message) for d in diags]
    fixed = apply_fixes(text, diags, unsafe=True).text
    if all(d.fix.applicability is Applicability.DISPLAY_ONLY for d in diags):  # shown, never applied (PIT302)
        fixed = apply_edits(text, [e for d in diags for e in d.fix.edits])
    assert fixed != text
    ast.parse(fixed)
    before, after = text.splitlines(), fixed.splitlines()
    # every comment line still sits directly above the line it sat above
    for i, line in enumerate(before[:-1]):
        if line.strip().startswith("#"):
            j = after.index(line) if line in after else None
            if j is None:  # moved with its statement (PIT208): re-indented, still above it
                j = next(k for k, t in enumerate(after) if t.strip() == line.strip())
            assert after[j + 1].strip() == before[i + 1].strip(), f"{code}: {line.strip()!r} no longer above {before[i + 1].strip()!r}:\n{fixed}"


def test_pit208_never_deletes_code_that_shares_the_line():
    text = textwrap.dedent(
        """
        import torch
        import torch.nn as nn

        model = nn.Linear(10, 2)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        loader = [(torch.randn(4, 10), torch.randint(0, 2, (4,)))]
        steps = 0

        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.zero_grad(); steps += 1
            optimizer.step()
        """
    )
    diags = [d for d in analyze(text, "case.py", jedi=JediOptions(enabled=False)).diagnostics if d.code == "PIT208"]
    assert diags
    fixed = apply_fixes(text, diags, unsafe=True).text
    assert "steps += 1" in fixed


def _pit201_fixed(text: str) -> str:
    text = textwrap.dedent(text)
    diags = [d for d in analyze(text, "case.py", jedi=JediOptions(enabled=False)).diagnostics if d.code == "PIT201"]
    assert len(diags) == 1 and diags[0].fix, [(d.code, d.message) for d in diags]
    fixed = apply_fixes(text, diags, unsafe=True).text
    ast.parse(fixed)
    return fixed


PIT201_HEAD = """
import torch
import torch.nn as nn

model = nn.Linear(10, 2)
loader = [(torch.randn(4, 10), torch.randint(0, 2, (4,)))]
"""


def test_pit201_wraps_the_comment_block_that_explains_the_loop():
    fixed = _pit201_fixed(
        PIT201_HEAD
        + """
def validate():
    model.eval()
    correct = 0
    # evaluate on the test set
    #   (every batch)
    for x, y in loader:
        # score it

        correct += (model(x).argmax(1) == y).sum().item()
    return correct
"""
    )
    assert fixed.endswith(
        """
def validate():
    model.eval()
    correct = 0
    with torch.no_grad():
        # evaluate on the test set
        #   (every batch)
        for x, y in loader:
            # score it

            correct += (model(x).argmax(1) == y).sum().item()
    return correct
"""
    ), fixed


def test_pit201_wrap_keeps_comments_that_belong_elsewhere_outside():
    # a blank line ends the comment block; a deeper comment ends the block before
    fixed = _pit201_fixed(
        PIT201_HEAD
        + """
def validate():
    model.eval()
    for _ in range(2):
        pass
        # end of the warm-up
    # about the scores

    for x, y in loader:
        print(model(x).argmax(1).tolist())
"""
    )
    assert fixed.endswith(
        """
        # end of the warm-up
    # about the scores

    with torch.no_grad():
        for x, y in loader:
            print(model(x).argmax(1).tolist())
"""
    ), fixed


def test_pit201_wrap_of_the_first_statement_of_a_block_takes_its_comment():
    fixed = _pit201_fixed(
        PIT201_HEAD
        + """
def validate():
    model.eval()
    if True:
        # every batch
        for x, y in loader:
            print(model(x).argmax(1).tolist())
"""
    )
    assert fixed.endswith(
        """
    if True:
        with torch.no_grad():
            # every batch
            for x, y in loader:
                print(model(x).argmax(1).tolist())
"""
    ), fixed
