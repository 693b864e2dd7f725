"""The incremental parser gives the tree a whole-file parse gives, and keeps errors where they are."""

from __future__ import annotations

import ast
import random
import warnings
from pathlib import Path

import pytest

from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.syntax.incremental import IncrementalParser
from torchpit.analyzers.syntax.parsing import group_starts, parse_group, parse_source, split_groups, statement_start
from torchpit.analyzers.syntax.source import split_lines

ROOT = Path(__file__).resolve().parents[1]
# Real Python to edit: this project's own sources and examples (fetched repositories are not
# committed; the same check ran on 472 files of pytorch/examples, nanoGPT, timm and yolov5).
SOURCES = sorted(
    p for d in ("analyzers", "torchpit", "server", "examples", "benchmarks") for p in (ROOT / d).rglob("*.py")
)

SNIPPETS = ["x", "(", ")", ":", " ", '"""', "#", "1", "\\", "@dec", "else:", "    pass", "def q():", "", "  y = 2"]


def _dump(tree: ast.AST) -> str:
    return ast.dump(tree, include_attributes=True)


def _edit(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    op = rng.random()
    if op < 0.3:
        cut = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:cut] + rng.choice(SNIPPETS) + lines[i][cut:]
    elif op < 0.5:
        del lines[i]
    elif op < 0.7:
        lines.insert(i, rng.choice(SNIPPETS))
    elif op < 0.85:
        del lines[i : i + rng.randrange(1, 6)]
    else:
        lines.insert(i, lines[rng.randrange(len(lines))])
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(4))
def test_random_edits_give_the_whole_file_tree(seed: int) -> None:
    """Random edits (and undos of the breaking ones) of real files: whenever the text is valid,
    the spliced tree equals ast.parse's, positions included; whenever it is not, an error is
    reported."""
    rng = random.Random(seed)
    checked_valid = checked_broken = 0
    for path in rng.sample(SOURCES, min(12, len(SOURCES))):
        text = path.read_text(encoding="utf-8")
        parser = IncrementalParser(str(path))
        parser.parse(text)
        history = [text]
        for _ in range(25):
            if len(history) > 1 and rng.random() < 0.6 and parse_source(history[-1]).errors:
                text = history[-2]  # undo the edit that broke it
            else:
                text = _edit(rng, text)
            history.append(text)
            result = parser.parse(text)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    full = ast.parse(text)
                except SyntaxError:
                    full = None
            if full is None:
                assert result.errors, f"{path.name}: a syntax error was missed after edit {len(history)}"
                checked_broken += 1
            else:
                assert not result.errors, f"{path.name}: a spurious error {result.errors[0]} after edit {len(history)}"
                assert _dump(result.tree) == _dump(full), f"{path.name}: the spliced tree differs after edit {len(history)}"
                checked_valid += 1
    assert checked_valid > 20 and checked_broken > 20


def test_only_the_edited_statement_is_parsed_again() -> None:
    text = "import torch\n\n\ndef a():\n    return 1\n\n\ndef b():\n    return 2\n"
    parser = IncrementalParser()
    first = parser.parse(text)
    untouched = first.tree.body[1]
    second = parser.parse(text.replace("return 2", "return 22"))
    assert parser.stats.mode == "region"
    assert parser.stats.reparsed_lines < len(text.splitlines())
    assert second.tree.body[1] is untouched  # def a() kept its tree
    assert _dump(second.tree) == _dump(ast.parse(text.replace("return 2", "return 22")))


def test_typing_inside_a_line_that_stays_broken_keeps_the_statement() -> None:
    """While a line is half typed it is masked, and each further character gives the same
    tree: the statement keeps its nodes (salsa's early cutoff), named in ``retexted`` so that
    what was read from its text is read again; the errors are the new text's."""
    base = "def f(model, x):\n    y = model(x)\n    return y\n"
    parser = IncrementalParser()
    parser.parse(base)
    one = parser.parse(base.replace("    return y", "    z = min(\n    return y"))
    assert one.errors and one.masked_lines
    typed = base.replace("    return y", "    z = min(1.0,\n    return y")
    two = parser.parse(typed)
    assert two.tree.body[0] is one.tree.body[0]
    assert parser.stats.retexted == {id(one.tree.body[0])}
    assert two.errors == parse_source(typed).errors and _dump(two.tree) == _dump(parse_source(typed).tree)
    # a character that changes the tree, or a changed line that is not masked: parsed anew
    fixed = base.replace("    return y", "    z = min(1.0, 2.0)\n    return y")
    three = parser.parse(fixed)
    assert three.tree.body[0] is not two.tree.body[0] and not parser.stats.retexted
    renamed = fixed.replace("return y", "return y  # the output")
    four = parser.parse(renamed)
    assert four.tree.body[0] is not three.tree.body[0] and not parser.stats.retexted


def test_inserted_lines_move_the_statements_after_them() -> None:
    text = "def a():\n    x = 1\n\n\ndef b():\n    return 2\n"
    parser = IncrementalParser()
    parser.parse(text)
    edited = text.replace("x = 1\n", "x = 1\n    y = 2\n    z = 3\n")
    result = parser.parse(edited)
    assert result.tree.body[1].lineno == 7
    assert _dump(result.tree) == _dump(ast.parse(edited))


def test_statements_moved_again_and_again_stay_where_a_whole_parse_puts_them() -> None:
    """A moved group keeps the list of its nodes (``_shift``): the second and later moves go
    through that list, up and down, also for a statement kept through a broken line."""
    text = "def a():\n    x = 1\n\n\ndef b(p=(1, 2)):\n    return [q for q in p if q]\n\n\nclass C:\n    y: int = 3\n"
    parser = IncrementalParser()
    parser.parse(text)
    versions = [
        text.replace("x = 1\n", "x = 1\n\n"),  # one line down
        text.replace("x = 1\n", "x = 1\n\n\n\n"),  # three down
        text.replace("x = 1\n", "x = (1\n\n"),  # a broken line in a, two down
        text.replace("x = 1\n", "x = (12\n\n"),  # typing in that broken line
        text,  # back up
        text.replace("x = 1\n", ""),  # one line up
    ]
    for edited in versions:
        result = parser.parse(edited)
        assert _dump(result.tree) == _dump(parse_source(edited).tree)
    moved = parser._groups[-1]
    assert moved.positioned is not None and all(n in moved.positioned for n in ast.walk(moved.stmts[0]) if "lineno" in n._attributes)


def test_half_typed_statement_keeps_the_rest_and_its_error_in_place() -> None:
    text = "import torch.nn.functional as F\n\n\ndef f(x):\n    return x\n\n\ndef g(logits, y):\n    return F.cross_entropy(F.softmax(logits, dim=1), y)\n"
    parser = IncrementalParser()
    parser.parse(text)
    broken = text.replace("    return x\n", "    z = min(1.0, (\n    return x\n")
    result = parser.parse(broken)
    assert [e.line for e in result.errors] == [4]
    # Analysis through the parser: the syntax error and g's finding, as a whole-file parse gives.
    fresh = IncrementalParser()
    fresh.parse(text)
    codes = [d.code for d in analyze(broken, parser=fresh).diagnostics]
    assert codes == [d.code for d in analyze(broken).diagnostics] == ["PIT001", "PIT101"]
    fixed = parser.parse(text)
    assert not fixed.errors and _dump(fixed.tree) == _dump(ast.parse(text))


# (name, versions): the versions are parsed one after another; the last is valid Python and
# its tree must be ast.parse's.
EDGE_CASES = [
    # A deleted header joins its body to the statement above.
    ("deleted-header", ["def f():\n    a = 1\n\ndef g():\n    b = 2\n", "def f():\n    a = 1\n\n    b = 2\n"]),
    # A string opened in one statement and closed in the next, or in one further away.
    ("string-across", ["a = 1\nb = 2\nc = 3\n", 'a = """\nb = 2\nc = 3\n', 'a = """\nb = 2\nc = """\n']),
    ("string-far", ["a = 1\nb = 2\nc = 3\nd = 4\n", 'a = """\nb = 2\nc = 3\nd = 4\n', 'a = """\nb = 2\nc = 3\nd = """\n']),
    # A decorator typed above the next statement.
    ("decorator", ["class A:\n    x = 1\n\n\ndef f():\n    pass\n", "class A:\n    x = 1\n\n@dec\ndef f():\n    pass\n"]),
    # lineno does not count a backslash line before a statement: it stays with it.
    ("bare-continuation", ['x\n\\\n"""A"""\n"""B"""\n', 'else:\nx\n\\\n"""A"""\n"""B"""\n', 'x\n\\\n"""A"""\n"""B"""\n']),
]


@pytest.mark.parametrize("versions", [v for _, v in EDGE_CASES], ids=[n for n, _ in EDGE_CASES])
def test_edits_across_statement_boundaries(versions: list[str]) -> None:
    parser = IncrementalParser()
    for text in versions:
        result = parser.parse(text)
    assert not result.errors
    assert _dump(result.tree) == _dump(ast.parse(versions[-1]))


def _parse_view(result) -> tuple:
    return (_dump(result.tree) if result.tree is not None else None, result.errors, sorted(result.masked_lines), result.fatal)


# Edits that leave a file broken the way half-typed code is: brackets, strings and blocks
# opened and not closed, decorators and headers without their statement, text at column 0.
BROKEN = ["from .resnet import (", "x = (", "y = [1,", '"""', "'''", "s = 'abc", "@decorator", "def g(:", "class K(",
          "if x:", "else:", "    a    b,", ")", "]", "\\", "import torch", "for i in range(3):", "return (",
          "lambda: (", "f(x", "# a comment", "é = 1", "x = '中文'  # 😀", "z = \"😀"]


def _broken_edit(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    op = rng.random()
    if op < 0.35:
        lines.insert(i, rng.choice(BROKEN))
    elif op < 0.55:
        cut = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:cut] + rng.choice(BROKEN) + lines[i][cut:]
    elif op < 0.7:
        del lines[i : i + rng.randrange(1, 4)]
    elif op < 0.85:
        lines[i:i] = [rng.choice(BROKEN), lines[rng.randrange(len(lines))]]
    else:
        return _edit(rng, text)
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(4))
def test_every_version_is_the_batch_parse_of_its_text(seed: int) -> None:
    """Whatever the edits before, broken syntax included, the incremental parser's result is
    parse_source's for the same text: the same tree, the same errors, the same masked lines.
    (Before, a region was recovered on its own and kept its errors as the history left them:
    two files with the same text could show different errors.)"""
    rng = random.Random(100 + seed)
    compared = broken = 0
    for path in rng.sample(SOURCES, min(8, len(SOURCES))):
        text = path.read_text(encoding="utf-8")
        parser = IncrementalParser(str(path))
        history = [text]
        for _ in range(25):
            roll = rng.random()
            if roll < 0.3:
                text = rng.choice(history)  # an undo, or a paste of an older version
            elif roll < 0.7:
                text = _broken_edit(rng, text)
            else:
                text = _edit(rng, text)
            history.append(text)
            got = _parse_view(parser.parse(text))
            want = _parse_view(parse_source(text, str(path)))
            assert got == want, f"{path.name}: version {len(history)} differs from the batch parse of its text"
            compared += 1
            broken += bool(want[1])
    assert broken > 40


def test_a_syntax_error_is_one_diagnostic_in_the_editor_and_in_the_batch_mode() -> None:
    """One real error, one diagnostic, opened or typed into: the import's bracket is not
    reported as never closed, nor its last lines as unexpected."""
    text = "from x import (\n    a    b,\n    c,\n)\n"
    typed = IncrementalParser("m.py")
    typed.parse("from x import (\n    a,\n    c,\n)\n")
    for parsed in (parse_source(text), IncrementalParser("m.py").parse(text), typed.parse(text)):
        assert [(e.line, e.message) for e in parsed.errors] == [(1, "SyntaxError: invalid syntax")]
    diags = [(d.code, d.range.start.line) for d in analyze(text, "m.py").diagnostics]
    assert diags == [("PIT001", 1)]


def test_the_file_on_disk_does_not_move_an_error(tmp_path) -> None:
    """For a SyntaxError, CPython reads the line back from the file named in the parse to
    place the column; the editor's text is not the file on disk."""
    path = tmp_path / "m.py"
    path.write_text("import torch\n\n\ndef f():\n    return 1\n")
    edited = "import torch\n\n\ndef f():\n    return 1\n\n                return True\n"
    assert parse_source(edited, str(path)).errors == parse_source(edited).errors
    parser = IncrementalParser(str(path))
    parser.parse(path.read_text())
    assert parser.parse(edited).errors == parse_source(edited).errors


def test_an_unclosed_bracket_is_confined_to_its_statement() -> None:
    """An unclosed bracket ends at the next `def`, `class` or `import` at column 0, in both
    modes: the functions after it keep their trees and findings."""
    text = "import torch.nn.functional as F\n\nx = F.softmax(\n\n\ndef g(logits, y):\n    return F.cross_entropy(F.softmax(logits, dim=1), y)\n"
    codes = [d.code for d in analyze(text).diagnostics]
    assert codes == ["PIT001", "PIT101"]
    parser = IncrementalParser()
    parser.parse(text.replace("x = F.softmax(\n", "x = 1\n"))
    assert [d.code for d in analyze(text, parser=parser).diagnostics] == codes


def test_an_unclosed_bracket_ends_at_the_decorators_of_the_next_def() -> None:
    """``print(`` typed in a function above ``@torch.no_grad()`` / ``def evaluate``: the
    decorated function is a group of its own (its decorator line first), so typing into the
    broken line re-parses the broken function alone."""
    text = (
        "import torch\n\n\ndef train(model, x):\n    loss = model(x).sum()\n    loss.backward()\n\n\n"
        "@torch.no_grad()\n# evaluation\n@staticmethod\ndef evaluate(model, x):\n    return model(x).argmax(1)\n"
    )
    broken = text.replace("    loss.backward()\n", "    print(loss.backward()\n")
    lines = split_lines(broken)
    assert list(group_starts(lines)) == [3, 8]  # def train, then @torch.no_grad()
    parser = IncrementalParser()
    first = parser.parse(text)
    again = parser.parse(broken)
    assert again.tree.body[-1] is first.tree.body[-1]  # evaluate: the same statement, kept
    assert _dump(again.tree) == _dump(parse_source(broken, "<unknown>").tree)


TRICKY_VALID = [
    "x = 1\n\\\nclass A:\n    pass\n",  # a line that is only a backslash joins the class line
    "x = (a\n@b)\n\n@dec\ndef f():\n    pass\n",  # a matmul at column 0 closes the bracket: no decorator
    "x = (a\n@b\n)\ny = [1\n@c]\n",  # in brackets, and no def after them
    "@dec\n\n@other(\n  1)\ndef f():\n    pass\n",
    "if x:\n    pass\nelif y:\n    pass\nelse:\n    pass\ntry:\n    pass\nexcept* E:\n    pass\nfinally:\n    pass\n",
    's = """\ndef not_a_def():\n"""\nt = \'\\\nclass\'\n',
    "x = [\n1,\n]\ny = (1 +\n2)\n",
    "z = 1 + \\\n  2\nf(r'\\'', \"#\")  # ( [\nw = 2\n",
]


@pytest.mark.parametrize("text", TRICKY_VALID + [p.read_text(encoding="utf-8") for p in SOURCES], ids=lambda t: t[:12])
def test_in_a_file_that_parses_every_group_starts_a_statement(text: str) -> None:
    """What makes the incremental result exact: every group start of a valid file is a
    top-level statement's first line, and each group parses on its own to the same trees."""
    lines = split_lines(text)
    tree = ast.parse(text)
    firsts = {statement_start(s) - 1 for s in tree.body}
    starts = list(group_starts(lines))
    assert set(starts) <= firsts
    for g in split_groups(lines, list(tree.body)):
        alone = parse_group(lines, g.start, g.end, "x")
        assert alone is not None and not alone.errors
        assert [_dump(s) for s in alone.stmts] == [_dump(s) for s in g.stmts]


def test_a_lone_surrogate_is_a_finding_not_a_traceback() -> None:
    """A client can send a lone UTF-16 surrogate (JSON "\\ud800"); ast.parse raises
    UnicodeEncodeError on it. Both modes report that the file cannot be analyzed."""
    text = 'x = "\ud800"\n'
    parser = IncrementalParser()
    parser.parse("x = 1\n")
    for result in (analyze(text), analyze(text, parser=parser)):
        assert [d.code for d in result.diagnostics] == ["PIT003"]
        assert "surrogates not allowed" in result.diagnostics[0].message
