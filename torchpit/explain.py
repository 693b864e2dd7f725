"""``torchpit explain CODE``: a rule's documentation, or what a built-in code (PIT001-PIT004) means."""

from __future__ import annotations

from torchpit.analyzers.core import diagnostics as d

# The codes that are not rules report a problem with the input, or with torchpit itself.
BUILTIN_DOCS = {
    d.SYNTAX_ERROR: (
        "a file that Python cannot parse",
        "The file (or a notebook cell) has a syntax error: the message says what Python's parser "
        "reported and the position is where it stopped. torchpit still analyzes the statements "
        "around the error, so the other findings of the file are kept.",
        "Fix the syntax error. A `# noqa` comment does not silence it.",
    ),
    d.UNREADABLE: (
        "a file that cannot be read or decoded",
        "torchpit could not read the file (permissions, a dangling link), could not decode it "
        "(not UTF-8 and no PEP 263 coding cookie), or the notebook is not valid JSON. The other "
        "files of the run are still analyzed.",
        "Make the file readable, save it as UTF-8 (or declare its encoding), or exclude it "
        "with `--extend-exclude` or `extend-exclude` in `[tool.torchpit]`.",
    ),
    d.TOO_COMPLEX: (
        "a file too large or too deeply nested to analyze",
        "The file parsed, but its syntax tree is nested too deeply for the analysis (for example "
        "an expression of thousands of nested parentheses, as generated code has). torchpit reports "
        "this instead of crashing; the file is not analyzed for pitfalls.",
        "Exclude generated files, or split the expression.",
    ),
    d.INTERNAL_ERROR: (
        "a bug in torchpit",
        "One of torchpit's rules failed on this file. The other rules still ran; the failing rule's "
        "findings are missing for this file.",
        "Please report it with the file (or the smallest part of it that shows the problem) and "
        "the output of `torchpit --version`.",
    ),
}


def explain(code: str) -> str | None:
    """Markdown for a rule code or name, or a built-in code; None when unknown."""
    from torchpit.analyzers.engine.registry import rule_by_code

    rule = rule_by_code(code)
    if rule is not None:
        return rule.markdown()
    key = code.upper()
    if key not in BUILTIN_DOCS:
        return None
    summary, what, todo = BUILTIN_DOCS[key]
    return (
        f"# {d.BUILTIN_CODES[key]} ({key})\n\n*{summary}* — not a rule: it cannot be selected or ignored.\n\n"
        f"## What it means\n{what}\n\n## What to do\n{todo}\n"
    )
