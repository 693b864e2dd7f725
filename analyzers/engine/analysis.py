"""The analysis entry point: one parse, one traversal, every rule.

``analyze(text, path, config)`` is a pure function of its inputs (plus jedi's view of the
user's environment when inference is on). The batch mode, the flake8 plugin and the language
server all call it.
"""

from __future__ import annotations

import ast
import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from ..core import diagnostics as d
from ..core.diagnostics import Diagnostic, Range, Severity
from ..facts.flow import FLOW_NODE_TYPES
from ..rules.rule import Context, Rule
from ..semantic.build import Unit, load_module_model, traverse
from ..semantic.inference import JediInference, JediOptions
from ..semantic.model import SemanticModel
from ..syntax.incremental import IncrementalParser
from ..syntax.parsing import ParseResult, parse_source
from ..syntax.source import SourceFile
from . import collector
from .config import Config
from .memo import RuleMemo
from .registry import all_rules

log = logging.getLogger("torchpit.analyzers")

# Node types the shared recognizers look up through SemanticModel.nodes_of (never a re-walk).
SHARED_NODE_TYPES = frozenset({ast.Call, ast.For, ast.AsyncFor, ast.ListComp, ast.GeneratorExp})


@dataclass
class RuleError:
    code: str
    path: str | None
    line: int | None
    message: str
    traceback: str

    def __str__(self) -> str:
        where = f"{self.path or '<buffer>'}" + (f":{self.line + 1}" if self.line is not None else "")
        return f"internal error in rule {self.code} on {where}: {self.message} (the rule was skipped for this file)"


@dataclass
class AnalysisResult:
    diagnostics: list[Diagnostic]
    parse: ParseResult
    rule_errors: list[RuleError] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    jedi_queries: int = 0
    source: SourceFile | None = None
    model: SemanticModel | None = None
    rule_timings: dict[str, float] = field(default_factory=dict)  # seconds per rule (shared work goes to the first asker)


# Test hook, the only one: TORCHPIT_TEST_FAULT=PIT101[,PIT301] makes those rules raise, so the
# tests (the language server's above all) can prove a broken rule is logged and skipped
# while every other rule still reports. Read once at import; unset in normal use.
_TEST_FAULTS = frozenset(c.strip().upper() for c in os.environ.get("TORCHPIT_TEST_FAULT", "").split(",") if c.strip())


def active_rules(config: Config, path: str | None) -> list[type[Rule]]:
    return [r for r in all_rules() if config.is_enabled(r.code, path)]


def analyze(
    text: str,
    path: str | None = None,
    config: Config | None = None,
    jedi: JediOptions | None = None,
    *,
    rules: Sequence[type[Rule]] | None = None,
    apply_noqa: bool = True,
    keep_model: bool = False,
    parser: IncrementalParser | None = None,
    memo: RuleMemo | None = None,
    checkpoint: Callable[[], None] | None = None,
) -> AnalysisResult:
    """Analyze one Python source text and return its diagnostics, sorted by position.

    The language server passes the document's incremental ``parser`` and rule ``memo``;
    the result is the same as without them (tests/test_rule_memo.py), only faster. It also
    passes a ``checkpoint`` for a long analysis (a document's first): called between its
    steps (after the traversal, after each top-level statement's per-node rules, before each
    whole-file rule, and, as ``SemanticModel.checkpoint``, between the top-level statements of
    PIT201's evaluation facts). Another analysis run there uses its own model; nothing the two
    share (the models of the project's other modules) is half built at those points. So the
    caller can run other, short work there (the keystrokes of the documents being typed in).
    """
    with collector.paused():  # see engine/collector.py
        return _analyze(text, path, config, jedi, rules, apply_noqa, keep_model, parser, memo, checkpoint)


def _analyze(
    text: str,
    path: str | None,
    config: Config | None,
    jedi: JediOptions | None,
    rules: Sequence[type[Rule]] | None,
    apply_noqa: bool,
    keep_model: bool,
    parser: IncrementalParser | None,
    memo: RuleMemo | None = None,
    checkpoint: Callable[[], None] | None = None,
) -> AnalysisResult:
    config = config or Config()
    t0 = time.perf_counter()
    source = SourceFile(text, path)
    # The language server passes the document's incremental parser: it re-parses only the
    # top-level statements an edit touched (analyzers/syntax/incremental.py).
    parsed = parser.parse(text) if parser is not None else parse_source(text, path or "<buffer>")
    t_parse = time.perf_counter()
    out: list[Diagnostic] = []
    for err in parsed.errors:
        out.append(
            Diagnostic(
                code=d.SYNTAX_ERROR,
                name=d.BUILTIN_CODES[d.SYNTAX_ERROR],
                message=err.message,
                range=Range.of(err.line, err.col, err.end_line, err.end_col),
                severity=Severity.ERROR,
            )
        )
    result = AnalysisResult(out, parsed, source=source)
    if parsed.fatal:
        out.append(
            Diagnostic(
                code=d.TOO_COMPLEX,
                name=d.BUILTIN_CODES[d.TOO_COMPLEX],
                message=f"torchpit could not analyze this file: {parsed.fatal}",
                range=Range.of(0, 0, 0, 0),
                severity=Severity.WARNING,
            )
        )
    if parsed.tree is None:
        result.timings = {"parse": t_parse - t0, "total": time.perf_counter() - t0}
        return result

    selected = list(rules) if rules is not None else active_rules(config, path)
    jedi_opts = jedi if jedi is not None else JediOptions(enabled=config.jedi, budget_s=config.jedi_timeout)
    inference = JediInference(text, path, jedi_opts) if jedi_opts.enabled else None
    model = SemanticModel(parsed.tree, path, inference, source, loader=load_module_model)
    instances = [(cls, cls()) for cls in selected]
    wanted = {t for cls, _ in instances for t in cls.node_types} | FLOW_NODE_TYPES | SHARED_NODE_TYPES
    fragments = None
    if memo is not None:
        model.tracking = True  # record reads, so that findings and answers can be kept (analyzers/engine/memo.py)
        model.shared_scopes = True  # the document's statements keep their part of the model
        model.module_scope = memo.module_scope(parsed.tree)
        model.scopes = {parsed.tree: model.module_scope}
        fragments = memo.fragments(frozenset(wanted))
    units: list[Unit] = []
    try:
        buckets = traverse(parsed.tree, model, wanted, units, fragments)
    except RecursionError:
        out.append(
            Diagnostic(
                code=d.TOO_COMPLEX,
                name=d.BUILTIN_CODES[d.TOO_COMPLEX],
                message="torchpit could not analyze this file: it is too deeply nested",
                range=Range.of(0, 0, 0, 0),
            )
        )
        return result
    model.node_buckets = buckets  # the loop model (flow.py) reads its nodes from here instead of walking again
    if checkpoint is not None:
        model.checkpoint = checkpoint  # also between the statements of a whole-file fact
    step = model.checkpoint
    if memo is not None:
        source.reads_of = model._current_reads  # the lines a check reads are recorded too (reset below)
    t_model = time.perf_counter()

    ctx = Context(source, model, path)
    per_rule: dict[str, float] = {cls.code: 0.0 for cls, _ in instances}
    failed: set[str] = set()

    def fail(cls: type[Rule], exc: Exception, node: ast.AST | None) -> None:
        line = getattr(node, "lineno", None)
        err = RuleError(cls.code, path, line - 1 if line else None, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        result.rule_errors.append(err)
        log.error("%s\n%s", err, err.traceback)
        failed.add(cls.code)

    for cls, _ in instances:
        if _TEST_FAULTS and cls.code in _TEST_FAULTS:
            try:
                raise RuntimeError(f"TORCHPIT_TEST_FAULT: {cls.code} raised on purpose")
            except RuntimeError as exc:
                fail(cls, exc, None)

    # The per-node rules, one top-level statement at a time. With a memo (the language
    # server), a statement whose findings can't have changed since the last version keeps them.
    node_rules = [(cls, rule) for cls, rule in instances if cls.node_types]
    if memo is not None:
        retexted = parser.stats.retexted if parser is not None else frozenset()
        changed = parser.stats.changed_lines if parser is not None else frozenset()
        memo.begin((path, config.fingerprint(), repr(jedi_opts), tuple(cls.code for cls in selected)), units, source, retexted, changed)
        model.persistent = memo.persistent
    step()
    # Without a memo nothing is kept per statement: each rule runs once over the slices of its
    # buckets that the statements cover (the same nodes in the same order; the findings are
    # sorted below), not once per statement.
    for unit in units if memo is not None else _as_one_unit(units):
        kept = memo.reuse(unit) if memo is not None else None
        if kept is not None:
            ctx.findings.extend(kept)
            continue
        first = len(ctx.findings)
        if memo is not None:
            model.begin_unit()
        for cls, rule in node_rules:
            if cls.code in failed:
                continue
            t_rule = time.perf_counter()
            ctx.rule = cls
            before = len(ctx.findings)
            current: ast.AST | None = None
            try:
                for tp in cls.node_types:
                    bucket = buckets.get(tp, ())
                    for node in bucket[unit.start.get(tp, 0) : unit.end.get(tp, 0)]:
                        current = node
                        rule.check(node, ctx)
            except Exception as exc:  # one broken rule must never take the others down
                del ctx.findings[before:]
                fail(cls, exc, current)
            per_rule[cls.code] += time.perf_counter() - t_rule
        if memo is not None:
            reads = model.reads
            model.end_unit()
            if reads is not None and not any(cls.code in failed for cls, _ in node_rules):
                memo.store(unit, ctx.findings[first:], reads)
        step()

    # The whole-file rules run on every version whose statements are not all the last one's.
    for cls, rule in instances:
        if not cls.whole_file or cls.code in failed:
            continue
        step()
        t_rule = time.perf_counter()
        ctx.rule = cls
        before = len(ctx.findings)
        kept = memo.reuse_file_rule(cls.code) if memo is not None else None
        if kept is not None:
            ctx.findings.extend(kept)
            per_rule[cls.code] += time.perf_counter() - t_rule
            continue
        if memo is not None:
            model.begin_unit()  # record what it reads
        try:
            rule.check_file(ctx)
        except Exception as exc:
            del ctx.findings[before:]
            fail(cls, exc, None)
        if memo is not None:
            reads = model.reads
            model.end_unit()
            if cls.code not in failed:
                memo.store_file_rule(cls.code, ctx.findings[before:], reads)
        per_rule[cls.code] += time.perf_counter() - t_rule
    if failed:
        ctx.findings[:] = [f for f in ctx.findings if f.code not in failed]  # skipped for this file
    source.reads_of = None  # (the result keeps the source; it must not keep the model)
    t_rules = time.perf_counter()

    reported: set[tuple[str, Range]] = set()
    for diag in ctx.findings:
        if (diag.code, diag.range) in reported:
            continue  # one rule, one finding per place (a forward in two of a rule's regions)
        reported.add((diag.code, diag.range))
        if apply_noqa and source.is_suppressed(diag.code, diag.noqa_line if diag.noqa_line is not None else diag.range.start.line):
            continue
        if parsed.masked_lines and diag.range.start.line in parsed.masked_lines:
            continue
        sev = config.severity_for(diag.code, diag.severity)
        out.append(diag if sev is diag.severity else _with_severity(diag, sev))
    out.sort(key=lambda x: (x.range.start, x.code, x.range.end, x.message))
    result.jedi_queries = inference.queries if inference else 0
    if keep_model:
        result.model = model
    else:
        model.release()
    result.timings = {
        "parse": t_parse - t0,
        "model": t_model - t_parse,
        "rules": t_rules - t_model,
        "jedi": inference.spent_s if inference else 0.0,
        "total": time.perf_counter() - t0,
    }
    result.rule_timings = per_rule
    return result


def _as_one_unit(units: list[Unit]) -> list[Unit]:
    """The top-level statements' units as one: their bucket slices are consecutive (the
    traversal fills the buckets one statement after the other), so one slice from the first's
    start to the last's end holds the same nodes in the same order."""
    if len(units) < 2:
        return units
    first, last = units[0], units[-1]
    return [Unit(first.stmt, first.start, last.end, set())]


def _with_severity(diag: Diagnostic, sev: Severity) -> Diagnostic:
    from dataclasses import replace

    return replace(diag, severity=sev)


def unreadable(path: str, message: str) -> Diagnostic:
    return Diagnostic(
        code=d.UNREADABLE,
        name=d.BUILTIN_CODES[d.UNREADABLE],
        message=message,
        range=Range.of(0, 0, 0, 0),
        severity=Severity.ERROR,
    )


def codes(diags: Iterable[Diagnostic]) -> list[str]:
    return [x.code for x in diags]
