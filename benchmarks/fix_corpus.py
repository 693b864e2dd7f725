"""Apply every fix (safe and unsafe) to a copy of real code and check the result.

usage: python benchmarks/fix_corpus.py PATH [--keep] [-- extra torchpit check options]

PATH (a folder, e.g. one holding several repositories) is copied to a temporary folder (its
``.git`` folders and symbolic links left out); PATH itself is never written. On the copy it runs, with the
torchpit of this Python:

1. ``torchpit check --output-format json``: the findings and the fixes they offer;
2. ``torchpit check --fix --unsafe-fixes``: writes every fix (as a user would);
3. checks that every file the fixes changed still parses (a notebook: each code cell, joined as
   torchpit joins them);
4. ``torchpit check --output-format json`` again: a finding of a (file, rule) that was not
   there before is a new finding the fixes created;
5. ``torchpit check --fix --unsafe-fixes`` again: a file it changes was not left at a fixed
   point;
6. every line a fix of step 1 inserts above a statement (in a .py file): it must not separate a
   comment from the line below it, nor follow a backslash continuation.

It prints one line per repository (the first folder level under PATH) and a total, and the
details of every parse failure, new finding and file still changing. Exit status 1 when any
of those is not zero.
"""

from __future__ import annotations

import argparse
import ast
import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

SUFFIXES = (".py", ".ipynb")


def torchpit(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torchpit", "check", *args], capture_output=True, text=True)


def findings(root: Path, extra: list[str]) -> list[dict]:
    out = root.parent / "findings.json"
    run = torchpit([str(root), "--no-cache", "--exit-zero", "--output-format", "json", "-o", str(out), *extra])
    if run.returncode != 0:
        sys.exit(f"torchpit check failed:\n{run.stderr[-3000:]}")
    return json.loads(out.read_text(encoding="utf-8"))


def fix(root: Path, extra: list[str]) -> int:
    """Run ``--fix --unsafe-fixes``; the number of fixes it says it applied."""
    run = torchpit([str(root), "--no-cache", "--exit-zero", "--fix", "--unsafe-fixes", "--output-format", "concise", *extra])
    if run.returncode != 0:
        sys.exit(f"torchpit check --fix failed:\n{run.stderr[-3000:]}")
    m = re.search(r"\((\d+) fixed", run.stdout + run.stderr)
    return int(m.group(1)) if m else 0


def digests(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(SUFFIXES):
                p = os.path.join(dirpath, name)
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def parse_error(path: Path) -> str | None:
    """Why the file does not parse (None when it does)."""
    raw = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if path.suffix == ".ipynb":
                from torchpit.analyzers.syntax.notebook import read_notebook

                ast.parse(read_notebook(raw.decode("utf-8")).joined.text)
            else:
                ast.parse(raw)
        except SyntaxError as exc:
            return f"line {exc.lineno}: {exc.msg}"
        except Exception as exc:  # noqa: BLE001 - a notebook that no longer reads is a failure too
            return f"{type(exc).__name__}: {exc}"
    return None


def misplaced(root: Path, before: list[dict]) -> tuple[int, list[str]]:
    """(inserted lines checked, those that separate a comment from the line below it or follow a
    backslash continuation): the fixes' pure line insertions in .py files, on the original text."""
    import io
    import tokenize

    checked, bad = 0, []
    texts: dict[str, tuple[list[str], set[int]]] = {}
    for f in before:
        fix = f.get("fix")
        if not fix or fix["applicability"] not in ("safe", "unsafe") or f.get("cell") is not None:
            continue
        for e in fix["edits"]:
            loc, end = e["location"], e["end_location"]
            if loc != end or loc["column"] != 1 or not e["content"].endswith("\n"):
                continue
            if f["filename"] not in texts:
                text = Path(f["filename"]).read_text(encoding="utf-8", errors="replace")
                try:
                    toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
                except (tokenize.TokenError, SyntaxError):
                    continue
                texts[f["filename"]] = (text.split("\n"), {t.start[0] - 1 for t in toks if t.type == tokenize.COMMENT and not t.line[: t.start[1]].strip()})
            lines, comments = texts[f["filename"]]
            at = loc["row"] - 1
            checked += 1
            above, below = (lines[at - 1] if at else ""), (lines[at] if at < len(lines) else "")
            indent = lambda t: len(t) - len(t.lstrip())  # noqa: E731
            if at - 1 in comments and below.strip() and indent(above) <= indent(below):
                bad.append(f"{rel(root, f['filename'])}:{at + 1}: {f['code']} inserts between the comment {above.strip()!r} and its line")
            elif above.rstrip().endswith("\\") and at - 1 not in comments:
                bad.append(f"{rel(root, f['filename'])}:{at + 1}: {f['code']} inserts after a line continuation")
    return checked, bad


def repo_of(rel: str) -> str:
    return rel.split(os.sep, 1)[0] if os.sep in rel else "."


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--keep", action="store_true", help="keep the fixed copy and print where it is")
    ap.add_argument("extra", nargs="*", help="more torchpit check options (after --)")
    opts = ap.parse_args(argv)
    src = opts.path.resolve()
    tmp = Path(tempfile.mkdtemp(prefix="torchpit-fix-corpus-"))
    root = tmp / src.name
    shutil.copytree(src, root, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    # A link in the copy could lead a fix back into PATH: links are removed, never followed.
    for dirpath, dirs, names in os.walk(root):
        for name in [*dirs, *names]:
            if os.path.islink(os.path.join(dirpath, name)):
                os.unlink(os.path.join(dirpath, name))
    files = digests(root)
    broken_before = {r for r in files if parse_error(root / r) is not None}
    before = findings(root, opts.extra)
    placement = misplaced(root, before)
    applied = fix(root, opts.extra)
    fixed = digests(root)
    changed = {r for r, h in fixed.items() if files.get(r) != h}
    failures = {r: err for r in sorted(changed) if (err := parse_error(root / r)) is not None}
    after = findings(root, opts.extra)
    applied_again = fix(root, opts.extra)
    still = sorted(r for r, h in digests(root).items() if fixed.get(r) != h)
    return report(root, src, files, broken_before, before, after, applied, changed, failures, applied_again, still, placement, opts.keep, tmp)


def rel(root: Path, filename: str) -> str:
    return os.path.relpath(os.path.abspath(filename), root)


def report(root, src, files, broken_before, before, after, applied, changed, failures, applied_again, still, placement, keep, tmp) -> int:
    def key(f):
        return (rel(root, f["filename"]), f["code"])

    count_before = collections.Counter(key(f) for f in before)
    count_after = collections.Counter(key(f) for f in after)
    new = count_after - count_before
    offered = collections.Counter(repo_of(rel(root, f["filename"])) for f in before if f.get("fix") and f["fix"]["applicability"] in ("safe", "unsafe"))
    offered_rules = collections.Counter(f["code"] for f in before if f.get("fix") and f["fix"]["applicability"] in ("safe", "unsafe"))
    repos = sorted({repo_of(r) for r in files})
    w = max([len(r) for r in repos] + [10])
    print(f"# {src} (copied to {root}); torchpit check --fix --unsafe-fixes")
    print(f"{'repository':{w}s} {'files':>6s} {'finds':>6s} {'fixes':>6s} {'changed':>7s} {'parse-fail':>10s} {'new':>4s}")
    tot = collections.Counter()
    for r in repos:
        row = {
            "files": sum(1 for f in files if repo_of(f) == r),
            "finds": sum(n for (f, _), n in count_before.items() if repo_of(f) == r),
            "fixes": offered[r],
            "changed": sum(1 for f in changed if repo_of(f) == r),
            "fail": sum(1 for f in failures if repo_of(f) == r),
            "new": sum(n for (f, _), n in new.items() if repo_of(f) == r),
        }
        tot.update(row)
        print(f"{r:{w}s} {row['files']:6d} {row['finds']:6d} {row['fixes']:6d} {row['changed']:7d} {row['fail']:10d} {row['new']:4d}")
    print(f"{'TOTAL':{w}s} {tot['files']:6d} {tot['finds']:6d} {tot['fixes']:6d} {tot['changed']:7d} {tot['fail']:10d} {tot['new']:4d}")
    print(f"files that did not parse before (never fixed): {len(broken_before)}")
    print(f"fixes offered (safe or unsafe) by rule: {dict(sorted(offered_rules.items()))}")
    print(f"fixes applied (torchpit's count, all passes): {applied}; files changed: {len(changed)}")
    print(f"inserted lines (first pass, .py files) checked: {placement[0]}; misplaced (between a comment and its line, or after a backslash): {len(placement[1])}")
    for line in placement[1]:
        print(f"  {line}")
    print(f"parse failures after fixing: {len(failures)}")
    for f, err in failures.items():
        print(f"  {f}: {err}")
    print(f"new findings after fixing: {sum(new.values())}")
    for (f, code), n in sorted(new.items()):
        print(f"  {f}: {code} x{n}")
    left = [f for f in after if f.get("fix") and f["fix"]["applicability"] in ("safe", "unsafe")]
    unparsed = [f for f in left if rel(root, f["filename"]) in broken_before]
    print(
        f"fixes still offered after fixing: {len(left)} ({len(unparsed)} in files that did not parse before, which "
        f"torchpit never fixes; the others overlapped another fix or would not parse)"
    )
    for f in left:
        where = " (file did not parse before)" if f in unparsed else ""
        print(f"  {rel(root, f['filename'])}:{f['location']['row']}: {f['code']} {f['fix']['message']}{where}")
    print(f"fixes applied by a second --fix run (0: a fixed point): {applied_again}; files it changed: {len(still)}")
    for f in still:
        print(f"  {f}")
    if keep:
        print(f"fixed copy kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures or new or applied_again or still or placement[1] else 0


if __name__ == "__main__":
    sys.exit(main())
