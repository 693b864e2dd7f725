"""``check --write-baseline FILE`` / ``check --baseline FILE``: adopt torchpit on a large code base.

The baseline records today's findings; a later run reports only the findings that are not
in it. A finding is matched on its code, its file and the text of the line it flags (not the
line number), so that edits above it do not bring it back. Two identical findings on two
identical lines are counted: a third copy is new.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from torchpit.analyzers.engine.fixes import write_atomic

from .batch import FileResult, UsageError, diff_name
from .render import Sources, iter_findings

VERSION = 1

Key = tuple[str, str, str]  # code, file (posix, relative to the working folder), flagged line's text


def finding_key(r: FileResult, d, sources: Sources) -> Key:
    return (d.code, diff_name(r.path).replace("\\", "/"), sources.line(r.path, d.cell, d.range.start.line).strip())


def write_baseline(path: str, results: Sequence[FileResult], sources: Sources) -> int:
    """Record every finding in ``path`` (written atomically). Returns how many."""
    counts = Counter(finding_key(r, d, sources) for r, d in iter_findings(results))
    entries = [{"code": c, "file": f, "line": t, "count": n} for (c, f, t), n in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2]))]
    doc = {"torchpit-baseline": VERSION, "findings": entries}
    try:
        write_atomic(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the baseline: {exc.strerror or exc}") from None
    return sum(counts.values())


@dataclass
class Baseline:
    path: str
    counts: Counter

    @classmethod
    def load(cls, path: str) -> "Baseline":
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except OSError as exc:
            raise UsageError(f"{path}: cannot read the baseline: {exc.strerror or exc}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: not a torchpit baseline (invalid JSON: {exc})") from None
        if not isinstance(doc, dict) or doc.get("torchpit-baseline") != VERSION or not isinstance(doc.get("findings"), list):
            raise UsageError(f"{path}: not a torchpit baseline (write one with `torchpit check --write-baseline {path}`)")
        counts: Counter = Counter()
        for i, e in enumerate(doc["findings"]):
            try:
                key = (str(e["code"]), str(e["file"]), str(e["line"]))
                counts[key] += int(e.get("count", 1))
            except (KeyError, TypeError, ValueError):
                raise UsageError(f"{path}: finding {i + 1} needs code, file, line and count") from None
        return cls(path, counts)

    def filter(self, results: Sequence[FileResult], sources: Sources) -> int:
        """Drop the findings the baseline holds, in place. Returns how many were dropped."""
        left = Counter(self.counts)
        dropped = 0
        for r in results:
            keep, probes = [], {}
            for i, d in enumerate(r.diagnostics):
                key = finding_key(r, d, sources)
                if left[key] > 0:
                    left[key] -= 1
                    dropped += 1
                    continue
                if i in r.probes:
                    probes[len(keep)] = r.probes[i]
                keep.append(d)
            r.diagnostics = keep
            r.probes = probes
        return dropped
