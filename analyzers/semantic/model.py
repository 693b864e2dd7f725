"""The semantic model the rules share, built in the engine's single traversal.

It answers the questions every rule asks:
- what does this name or attribute chain refer to (``F.cross_entropy`` ->
  ``torch.nn.functional.cross_entropy``)?
- which expressions may have produced this value (through assignments, ``self.x`` attributes
  set in another method, returns of functions and ``forward`` of local modules)?
- what encloses this node (function, class, loops, ``with torch.no_grad()``)?

Every answer is conservative: when the chain of evidence breaks, the model says "unknown"
(an empty list or None) and the rule stays silent.
"""

from __future__ import annotations

import ast
import builtins
import operator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ..catalogue import torch_api
from ..syntax.reads import NameIndex, Reads
from ..syntax.tree import FIELD, PARENT, ancestors, end_pos, parent, pos, top_statement
from . import grad_mode
from .project import module_file

if TYPE_CHECKING:
    from .inference import JediInference
    from ..syntax.source import SourceFile

SCOPE_TYPES = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
FUNCTION_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef)
_OWN_SCOPE_TYPES = (*FUNCTION_TYPES, ast.ClassDef, ast.Lambda)  # their body only is their scope
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# Blocks that always run when the statement before them runs: they do not make a binding conditional.
TRANSPARENT_BLOCKS = {(ast.With, "body"), (ast.AsyncWith, "body"), (ast.Try, "body")}
if hasattr(ast, "TryStar"):
    TRANSPARENT_BLOCKS.add((ast.TryStar, "body"))  # type: ignore[attr-defined]

MAX_VALUE_DEPTH = 12


@dataclass
class Binding:
    """One place a name gets a value."""

    name: str
    kind: str  # assign | augassign | annassign | for | with | import | star | def | class | param | walrus | other
    node: ast.AST  # the binding site (Name target, alias, def...)
    stmt: ast.AST  # the statement (or expression) that binds
    scope: "Scope"
    value: ast.expr | None = None  # the expression assigned, when known element-wise
    qualname: str | None = None  # for imports: the module or object imported
    visible_from: tuple[int, int] = (0, 0)  # source position after which the binding holds
    # ``a, b = f(x)``: the name holds element ``index`` of what ``expr`` evaluates to (a tuple).
    unpacked: "tuple[ast.expr, int] | None" = None


@dataclass
class Scope:
    node: ast.AST
    parent: "Scope | None"
    bindings: dict[str, list[Binding]] = field(default_factory=dict)

    @property
    def is_function(self) -> bool:
        return isinstance(self.node, (*FUNCTION_TYPES, ast.Lambda))

    def add(self, b: Binding) -> None:
        self.bindings.setdefault(b.name, []).append(b)


class ModuleScope(Scope):
    """The module's scope: it also notes what each top-level statement binds in it."""

    record: "StatementRecord | None" = None  # set by SemanticModel.begin_statement

    def add(self, b: Binding) -> None:
        self.bindings.setdefault(b.name, []).append(b)
        rec = self.record
        if rec is not None:
            rec.names.add(b.name)
            rec.module_bindings.append(b)


@dataclass
class StatementRecord:
    """What one top-level statement added to the model while it was traversed.

    The language server keeps it with the statement's nodes (analyzers/engine/memo.py), and the next
    version of the document adopts it instead of walking an unchanged statement again
    (:meth:`SemanticModel.adopt`).
    """

    line: int  # the statement's first line when the positions in its bindings were last right
    names: set[str] = field(default_factory=set)  # module-level names it binds; def/class names anywhere
    module_bindings: list[Binding] = field(default_factory=list)
    scopes: dict[ast.AST, Scope] = field(default_factory=dict)
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=list)
    classes: list[ClassInfo] = field(default_factory=list)


@dataclass
class ClassInfo:
    name: str
    node: ast.ClassDef
    methods: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    # self.<attr> = <value> in any method, in source order
    attrs: dict[str, list[ast.expr]] = field(default_factory=dict)


@dataclass(frozen=True)
class Value:
    """An expression that may have produced a value, and the model it belongs to."""

    node: ast.AST
    model: "SemanticModel"


class SemanticModel:
    """Built by :meth:`visit` during the engine's traversal, then queried by the rules."""

    def __init__(
        self,
        tree: ast.Module,
        path: str | None = None,
        inference: "JediInference | None" = None,
        source: "SourceFile | None" = None,
        loader: "Callable[[str], SemanticModel | None] | None" = None,
    ):
        self._tree = tree
        # The models of the project's other modules, by path (semantic/build.py's
        # load_module_model); None: this file alone.
        self.loader = loader
        self.path = path
        self.source = source
        self.inference = inference
        self.module_scope = ModuleScope(tree, None)
        self.scopes: dict[ast.AST, Scope] = {tree: self.module_scope}
        # What the rule checking one top-level statement read beyond it (analyzers/syntax/reads.py);
        # None while nothing is recorded (building the model, whole-file rules, the CLI).
        self.reads: Reads | None = None
        # Record reads in cached answers too (the language server's analyses, with a RuleMemo).
        self.tracking = False
        # The scopes and bindings belong to the document's RuleMemo (kept across versions).
        self.shared_scopes = False
        # Answers kept across the document's versions (see remember_across_versions): (kind, *ids
        # of the key's nodes) -> (nodes, value, reads, their top-level statements).
        self.persistent: dict[tuple, tuple[tuple[ast.AST, ...], Any, Reads | None, tuple[ast.AST, ...]]] | None = None
        self.classes: dict[str, ClassInfo] = NameIndex(self._current_reads)
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = NameIndex(self._current_reads)
        # What the top-level statement being traversed adds (the engine starts one per statement).
        self.statement: StatementRecord | None = None
        self._class_of_node: dict[ast.ClassDef, ClassInfo] = {}
        self._pending_self_attrs: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str, ast.expr]] = []
        self._return_cache: dict[ast.AST, list[ast.expr]] = {}
        self._is_module_cache: dict[ast.ClassDef, tuple[bool, Reads | None]] = {}
        self._call_name_cache: dict[ast.AST, str | None] = {}
        self._values_cache: dict[tuple[ast.AST, bool], tuple[Value, ...]] = {}
        self._unpacking: set[int] = set()  # unpacked bindings being followed (cycle guard)
        self.grad_cache: dict[tuple[str, ast.AST], Any] = {}  # grad_mode's effects, per expression
        self.mode_call_cache: dict[ast.AST, Any] = {}  # grad_mode: per top-level statement, each function's first grad-mode statement
        # Shared recognizers (patterns.py, indexing.py) memoise per node here: several rules
        # ask the same question of the same node.
        self.memo: dict[tuple[str, ast.AST], Any] = {}
        # Whole-file indexes, built once per analysis; their readers record what they read.
        self.file_memo: dict[object, Any] = {}
        # Nodes by type from the engine's traversal (the loop model reads them, never re-walks).
        self.node_buckets: dict[type, list[ast.AST]] = {}
        # Where each top-level statement's nodes lie in those buckets (id(stmt) -> (start, end)
        # per type): the traversal is in pre-order, so a statement's nodes follow each other.
        self.statement_spans: dict[int, tuple[dict[type, int], dict[type, int]]] = {}
        self._external = True  # see local_only()
        # Called between independent steps of a long computation over the whole file (one per
        # top-level statement), where the caller may run other, short work (engine.analyze's
        # ``checkpoint``); a no-op unless given.
        self.checkpoint: Callable[[], None] = _nothing

    @property
    def tree(self) -> ast.Module:
        """The whole file's tree (reading it is a read of the whole file)."""
        self.read_whole()
        return self._tree

    def _current_reads(self) -> "Reads | None":
        return self.reads

    def read_whole(self) -> None:
        r = self.reads
        if r is not None:
            r.whole = True

    def read_outside(self) -> None:
        """A read beyond this text's tree: jedi, or another module (see ``Reads.outside``)."""
        r = self.reads
        if r is not None:
            r.whole = r.outside = True

    def text_contains(self, needle: str) -> bool:
        """``needle`` occurs in the file's text (a prefilter); recorded with its answer."""
        key = ("text", needle)
        found = self.file_memo.get(key)
        if found is None:
            found = self.file_memo[key] = self.source is not None and needle in self.source.text
        r = self.reads
        if r is not None:
            r.texts[needle] = found
        return found

    def begin_unit(self) -> Reads:
        """Start recording for the rules' check of one top-level statement."""
        self.reads = Reads()
        return self.reads

    def end_unit(self) -> None:
        self.reads = None

    def remember(self, cache: dict, key: object, compute: Callable[[], Any]) -> Any:
        """``cache[key]``, computed by ``compute()`` on a miss, with what computing it read.

        While reads are recorded (``tracking``), an answer computed for one statement's check
        and reused for another's brings its reads along, so both record them.
        """
        hit = cache.get(key, _MISS)
        if hit is not _MISS:
            value, reads = hit
            if reads is not None and self.reads is not None:
                self.reads.merge(reads)
            return value
        if not self.tracking:
            value = compute()
            cache[key] = (value, None)
            return value
        outer = self.reads
        frame = self.reads = Reads()
        try:
            value = compute()
        finally:
            self.reads = outer
            if outer is not None:
                outer.merge(frame)
        cache[key] = (value, None if frame.empty else frame)
        return value

    def remember_across_versions(self, cache: dict, kind: str, key: Any, compute: Callable[[], Any]) -> Any:
        """As :meth:`remember`, and kept for the document's next versions (``persistent``,
        given by the engine from the document's RuleMemo) while nothing it read changes.

        ``key`` is a node, or a tuple of nodes; the answer must hold no positions and nothing
        of this version's model (nodes and their ids are fine: unchanged statements keep them).
        """
        # (the hot path of every fact query: a hit in this version, then one kept from the last)
        hit = cache.get(key, _MISS)
        if hit is not _MISS:
            value, reads = hit
            if reads is not None and self.reads is not None:
                self.reads.merge(reads)
            return value
        persistent = self.persistent
        if persistent is None:
            return self.remember(cache, key, compute)
        if type(key) is tuple:
            nodes = key
            pkey = (kind, *map(id, nodes))
        else:
            nodes = (key,)
            pkey = (kind, id(key))
        kept = persistent.get(pkey)
        if kept is not None and all(map(operator.is_, kept[0], nodes)):  # (the ids in pkey may be reused)
            value, reads = kept[1], kept[2]
            cache[key] = (value, reads)
            if reads is not None and self.reads is not None:
                self.reads.merge(reads)
            return value
        value = self.remember(cache, key, compute)
        reads = cache[key][1]
        if reads is None or not (reads.whole or reads.read_text):  # (the text changes where the tree does not)
            self.persistent[pkey] = (nodes, value, reads, tuple(top_statement(n) for n in nodes))
        return value

    def remember_each(self, cache: dict, kind: str, keys: Iterable[ast.AST], compute: Callable[[Any], Any]) -> list[Any]:
        """``remember_across_versions(cache, kind, key, lambda: compute(key))`` for each node
        of ``keys``, in order, in one loop: the per-statement parts of a whole-file fact (a
        keystroke finds all but one or two of them kept). After each answer computed anew,
        the engine's ``checkpoint`` (other short work may run there)."""
        out: list[Any] = []
        persistent = self.persistent
        for key in keys:
            hit = cache.get(key, _MISS)
            if hit is _MISS and persistent is not None:
                kept = persistent.get((kind, id(key)))
                if kept is not None and kept[0][0] is key:  # (the id may be reused)
                    hit = cache[key] = (kept[1], kept[2])
            if hit is not _MISS:
                value, reads = hit
                if reads is not None and self.reads is not None:
                    self.reads.merge(reads)
                out.append(value)
                continue
            out.append(self.remember_across_versions(cache, kind, key, lambda: compute(key)))  # noqa: B023 (called at once)
            self.checkpoint()
        return out

    @contextmanager
    def local_only(self) -> Iterator[None]:
        """Within this block, answers use this file alone (no jedi lookups in other modules)."""
        saved, self._external = self._external, False
        try:
            yield
        finally:
            self._external = saved

    def nodes_of(self, *types: type) -> list[ast.AST]:
        """Every node of these types in the file, by type: a read of the whole file."""
        self.read_whole()
        if len(types) == 1:
            return self.all_nodes(types[0])
        return [n for t in types for n in self.all_nodes(t)]

    def all_nodes(self, tp: type) -> list[ast.AST]:
        """Every node of type ``tp``, from the engine's single traversal, *not* recorded as a
        read: for indexes whose answer depends only on the node asked about.

        Falls back to one walk only for a model built without the engine (tests, other files).
        """
        if self.node_buckets and tp in self.node_buckets:
            return self.node_buckets[tp]
        walked = self.file_memo.get("walked")
        if walked is None:
            walked = self.file_memo["walked"] = {}
            for n in ast.walk(self._tree):
                walked.setdefault(type(n), []).append(n)
        return walked.get(tp, [])

    def module_code(self) -> list[ast.stmt]:
        """The top-level statements that run when the module runs (not a def or class): a read
        of those alone. Each of them binds ``MODULE_CODE``, so an edit that adds, removes or
        changes one drops what was read, and an edit inside a function does not."""
        if self.reads is not None:
            self.reads.binds.add(MODULE_CODE)
        return [s for s in self._tree.body if _runs_at_import(s)]

    def nodes_in_statement(self, stmt: ast.stmt, tp: type) -> list[ast.AST]:
        """The nodes of type ``tp`` in the top-level statement ``stmt``, in the traversal's
        order. Not recorded as a read: they are part of ``stmt``."""
        span = self.statement_spans.get(id(stmt))
        bucket = self.node_buckets.get(tp)
        if span is None or bucket is None:
            return [n for n in ast.walk(stmt) if type(n) is tp]
        return bucket[span[0].get(tp, 0) : span[1].get(tp, 0)]

    def release(self) -> None:
        """Break this model's reference cycles (scope <-> binding, value -> model, the loop
        model's caches) so that reference counting frees it, and its tree, at once.

        Without this every analysis leaves some 50,000 objects in cycles, and the cyclic
        collector's passes over them were a third of the language server's time per keystroke
        (benchmarks/README.md). The model answers nothing after this.
        """
        self.persistent = None  # the document's RuleMemo owns it
        for value in list(self.file_memo.values()):
            release = getattr(value, "release", None)
            if callable(release):
                release()  # a fact layer's per-file model (the loop model) breaks its own cycles
        if not self.shared_scopes:
            for scope in self.scopes.values():
                scope.bindings.clear()
        for value in list(vars(self).values()):
            if isinstance(value, (dict, list, set)):
                value.clear()
        vars(self).clear()

    # ------------------------------------------------------------------ building
    def begin_statement(self, stmt: ast.stmt) -> StatementRecord:
        """The traversal enters a top-level statement: record what it adds."""
        rec = StatementRecord(stmt.lineno)
        if _runs_at_import(stmt):
            rec.names.add(MODULE_CODE)  # see module_code()
        self.statement = self.module_scope.record = rec
        return rec

    def end_statements(self) -> None:
        self.statement = self.module_scope.record = None

    def adopt(self, rec: StatementRecord, line: int) -> None:
        """Add what an unchanged top-level statement added last time, now starting at ``line``."""
        module = self.module_scope.bindings
        for b in rec.module_bindings:
            module.setdefault(b.name, []).append(b)
        self.scopes.update(rec.scopes)
        for f in rec.functions:
            self.functions.setdefault(f.name, []).append(f)
        for info in rec.classes:
            self.classes.setdefault(info.name, info)
            self._class_of_node[info.node] = info
        delta = line - rec.line
        if delta:  # the statement moved: so did the positions after which its bindings hold
            for b in rec.module_bindings:
                if b.visible_from[0]:
                    b.visible_from = (b.visible_from[0] + delta, b.visible_from[1])
            for scope in rec.scopes.values():
                for bs in scope.bindings.values():
                    for b in bs:
                        if b.visible_from[0]:
                            b.visible_from = (b.visible_from[0] + delta, b.visible_from[1])
            rec.line = line

    def scope_for_new(self, node: ast.AST, enclosing: Scope) -> Scope:
        scope = Scope(node, enclosing)
        self.scopes[node] = scope
        if self.statement is not None:
            self.statement.scopes[node] = scope
        return scope

    def visitor_table(self) -> dict[type, "Callable[[Any, Scope], Scope]"]:
        """Node type -> handler that records bindings and returns the scope of its children.

        Types absent from the table bind nothing; the traversal skips them without a call.
        """
        table: dict[type, Callable[[Any, Scope], Scope]] = {
            ast.Assign: self._visit_assign,
            ast.AnnAssign: self._visit_assign,
            ast.AugAssign: self._visit_assign,
            ast.For: self._visit_for,
            ast.AsyncFor: self._visit_for,
            ast.With: self._visit_with,
            ast.AsyncWith: self._visit_with,
            ast.NamedExpr: self._visit_walrus,
            ast.Import: self._visit_import,
            ast.ImportFrom: self._visit_import_from,
            ast.FunctionDef: self._visit_function,
            ast.AsyncFunctionDef: self._visit_function,
            ast.Lambda: self._visit_lambda,
            ast.ClassDef: self._visit_class,
        }
        for comp in COMPREHENSIONS:
            table[comp] = self._visit_comprehension
        return table

    def _visit_for(self, node: ast.For | ast.AsyncFor, scope: Scope) -> Scope:
        self._bind_target(node.target, None, "for", node, scope, end_pos(node.iter))
        return scope

    def _visit_with(self, node: ast.With | ast.AsyncWith, scope: Scope) -> Scope:
        for item in node.items:
            if item.optional_vars is not None:
                self._bind_target(item.optional_vars, item.context_expr, "with", node, scope, end_pos(item))
        return scope

    def _visit_walrus(self, node: ast.NamedExpr, scope: Scope) -> Scope:
        if isinstance(node.target, ast.Name):
            scope.add(Binding(node.target.id, "walrus", node.target, node, scope, node.value, visible_from=end_pos(node)))
        return scope

    def _visit_import(self, node: ast.Import, scope: Scope) -> Scope:
        for alias in node.names:
            name = alias.asname or alias.name.split(".")[0]
            qual = alias.name if alias.asname else name
            scope.add(Binding(name, "import", alias, node, scope, qualname=qual, visible_from=end_pos(node)))
        return scope

    def _visit_import_from(self, node: ast.ImportFrom, scope: Scope) -> Scope:
        base = self._import_base(node)
        for alias in node.names:
            if alias.name == "*":
                # one binding under the name "*" (no identifier): a name the file does not bind
                # may come from here (``is_builtin``), and adding or removing one rebinds it
                scope.add(Binding("*", "star", alias, node, scope, qualname=base, visible_from=end_pos(node)))
                continue
            qual = f"{base}{alias.name}" if base.endswith(".") else f"{base}.{alias.name}" if base else alias.name
            scope.add(Binding(alias.asname or alias.name, "import", alias, node, scope, qualname=qual, visible_from=end_pos(node)))
        return scope

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: Scope) -> Scope:
        scope.add(Binding(node.name, "def", node, node, scope, visible_from=pos(node)))
        self.functions.setdefault(node.name, []).append(node)
        if self.statement is not None:
            self.statement.names.add(node.name)
            self.statement.functions.append(node)
        inner = self.scope_for_new(node, scope)
        args = node.args
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None:
                inner.add(Binding(a.arg, "param", a, node, inner, visible_from=(0, 0)))
        if isinstance(scope.node, ast.ClassDef):
            info = self._class_of_node.get(scope.node)
            if info is not None:
                info.methods[node.name] = node
        return inner

    def _visit_lambda(self, node: ast.Lambda, scope: Scope) -> Scope:
        inner = self.scope_for_new(node, scope)
        for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
            inner.add(Binding(a.arg, "param", a, node, inner))
        return inner

    def _visit_class(self, node: ast.ClassDef, scope: Scope) -> Scope:
        scope.add(Binding(node.name, "class", node, node, scope, visible_from=pos(node)))
        info = ClassInfo(node.name, node)
        self.classes.setdefault(node.name, info)
        self._class_of_node[node] = info
        if self.statement is not None:
            self.statement.names.add(node.name)
            self.statement.classes.append(info)
        return self.scope_for_new(node, scope)

    def _visit_comprehension(self, node: ast.AST, scope: Scope) -> Scope:
        inner = self.scope_for_new(node, scope)
        for gen in node.generators:  # type: ignore[attr-defined]
            self._bind_target(gen.target, None, "for", gen, inner, (0, 0))
        return inner

    def _import_base(self, node: ast.ImportFrom) -> str:
        if node.level:  # relative import: resolved by jedi when needed
            return "." * node.level + (node.module or "")
        return node.module or ""

    def _visit_assign(self, node: ast.Assign | ast.AnnAssign | ast.AugAssign, scope: Scope) -> Scope:
        visible = end_pos(node)
        if isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind_target(target, node.value, "assign", node, scope, visible)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None or isinstance(scope.node, ast.ClassDef):
                self._bind_target(node.target, node.value, "annassign", node, scope, visible)
        else:
            if isinstance(node.target, ast.Name):
                scope.add(Binding(node.target.id, "augassign", node.target, node, scope, None, visible_from=visible))
            else:
                self._bind_target(node.target, None, "augassign", node, scope, visible)
        return scope

    def _bind_target(self, target: ast.AST, value: ast.expr | None, kind: str, stmt: ast.AST, scope: Scope, visible: tuple[int, int]) -> None:
        if isinstance(target, ast.Name):
            scope.add(Binding(target.id, kind, target, stmt, scope, value, visible_from=visible))
        elif isinstance(target, (ast.Tuple, ast.List)):
            elts = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) else None
            starred = any(isinstance(e, ast.Starred) for e in target.elts)
            for i, elt in enumerate(target.elts):
                if isinstance(elt, ast.Starred):
                    elt = elt.value
                if elts is None and value is not None and not starred and isinstance(elt, ast.Name) and kind in ("assign", "annassign"):
                    # ``out, hidden = model(x)``: element i of whatever the call returns
                    scope.add(Binding(elt.id, kind, elt, stmt, scope, None, visible_from=visible, unpacked=(value, i)))
                    continue
                self._bind_target(elt, elts[i] if elts else None, kind, stmt, scope, visible)
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and value is not None:
            func = self.enclosing_function_of_scope(scope)
            if func is not None and _first_param(func) == target.value.id:
                self._pending_self_attrs.append((func, target.attr, value))
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value, None, kind, stmt, scope, visible)

    def finish(self) -> None:
        """Called once the traversal is complete."""
        for func, attr, value in self._pending_self_attrs:
            cls = self.enclosing_class(func)
            if cls is not None:
                cls.attrs.setdefault(attr, []).append(value)
        self._pending_self_attrs.clear()

    # ------------------------------------------------------------------ structure
    @staticmethod
    def enclosing_function_of_scope(scope: Scope) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        return scope.node if isinstance(scope.node, FUNCTION_TYPES) else None

    def scope_of(self, node: ast.AST) -> Scope:
        """The scope in which ``node`` is evaluated.

        Decorators, default values and class bases belong to the enclosing scope; only a
        def's, class's or lambda's body is inside its own scope.
        """
        # (``ancestors`` written out: every name lookup starts here)
        scopes = self.scopes
        child = node
        ref = getattr(node, PARENT, None)
        while ref is not None:
            anc = ref()
            if anc is None:
                break
            scope = scopes.get(anc)
            if scope is not None:
                if not isinstance(anc, _OWN_SCOPE_TYPES):
                    return scope  # the module, a comprehension
                if getattr(child, FIELD, None) == "body":
                    return scope
            child = anc
            ref = getattr(anc, PARENT, None)
        return self.module_scope

    def enclosing_function(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        ref = getattr(node, PARENT, None)
        while ref is not None:
            anc = ref()
            if anc is None or isinstance(anc, FUNCTION_TYPES):
                return anc
            ref = getattr(anc, PARENT, None)
        return None

    def enclosing_class(self, node: ast.AST) -> ClassInfo | None:
        """The class whose method (directly) contains ``node``."""
        func = node if isinstance(node, FUNCTION_TYPES) else self.enclosing_function(node)
        while func is not None:
            p = parent(func)
            if isinstance(p, ast.ClassDef):
                return self._class_of_node.get(p)
            func = self.enclosing_function(func)
        return None

    def enclosing_loops(self, node: ast.AST) -> list[ast.For | ast.AsyncFor | ast.While]:
        """Loops around ``node`` within its function, innermost first (a loop's iterator is not inside it)."""
        out = []
        child = node
        for anc in ancestors(node):
            if isinstance(anc, (*FUNCTION_TYPES, ast.Lambda, ast.ClassDef)):
                break
            if isinstance(anc, (ast.For, ast.AsyncFor, ast.While)) and getattr(child, FIELD, None) in ("body", "orelse"):
                out.append(anc)
            child = anc
        return out

    def statement_of(self, node: ast.AST) -> ast.stmt | None:
        cur: ast.AST | None = node
        while cur is not None and not isinstance(cur, ast.stmt):
            cur = parent(cur)
        return cur

    # ------------------------------------------------------------------ names
    def lookup(self, name: str, at: ast.AST) -> list[Binding]:
        """Bindings of ``name`` that may reach ``at``, the latest first."""
        scope = self.scope_of(at)
        use = pos(at)
        first = True
        while scope is not None:
            if scope is self.module_scope and self.reads is not None:
                self.reads.binds.add(name)  # bound by other top-level statements
            if isinstance(scope.node, ast.ClassDef) and not first:
                scope = scope.parent  # class bodies are not visible from their methods
                continue
            bindings = scope.bindings.get(name)
            if bindings:
                if first and scope.is_function:
                    found = self._reaching(bindings, at, use)
                elif first and scope.node is self._tree:
                    found = self._reaching(bindings, at, use)
                else:
                    found = [bindings[-1]] if len(bindings) == 1 else list(reversed(bindings))
                if found:
                    return found
            first = False
            scope = scope.parent
        return []

    def _reaching(self, bindings: list[Binding], at: ast.AST, use: tuple[int, int]) -> list[Binding]:
        out: list[Binding] = []
        # The nearest earlier binding that runs on every path to the use.
        dom = next((b for b in reversed(bindings) if b.kind != "param" and b.visible_from <= use and _dominates(b.stmt, at)), None)
        for b in reversed(bindings):
            if b.visible_from > use and not (b.kind == "param"):
                # A later binding still reaches a use inside a loop that contains both, through
                # the back edge, unless a binding inside that loop runs before every such use.
                loop = _common_loop(b.stmt, at)
                if loop is None or (dom is not None and dom.stmt is not loop and any(a is loop for a in ancestors(dom.stmt))):
                    continue
            out.append(b)
            if b.kind == "param" or (b.visible_from <= use and _dominates(b.stmt, at)):
                break
        return out

    def qualified_name(self, expr: ast.AST | None, _depth: int = 0) -> str | None:
        """``F.cross_entropy`` -> ``torch.nn.functional.cross_entropy``; None when unknown."""
        if expr is None or _depth > 4:
            return None
        parts: list[str] = []
        cur = expr
        while isinstance(cur, ast.Attribute):
            parts.append(cur.attr)
            cur = cur.value
        if not isinstance(cur, ast.Name):
            return None
        head = self._name_qualname(cur, _depth)
        if head is None:
            return None
        return torch_api.canonical(".".join([head, *reversed(parts)]))

    def _name_qualname(self, name: ast.Name, depth: int) -> str | None:
        if depth > 4:
            return None
        bindings = self.lookup(name.id, name)
        if not bindings:
            return _BUILTIN_QUALNAMES.get(name.id)
        # Several bindings that may reach (`import torch` twice, `from torch.nn import functional
        # as F` and `import torch.nn.functional as F`) name one thing when they agree.
        quals = {self._binding_qualname(b, depth) for b in bindings}
        return quals.pop() if len(quals) == 1 else None

    def _binding_qualname(self, b: Binding, depth: int) -> str | None:
        if b.kind == "import":
            return b.qualname
        if b.kind in ("assign", "annassign") and isinstance(b.value, (ast.Name, ast.Attribute)):
            return self.qualified_name(b.value, depth + 1)  # `F = torch.nn.functional`
        return None

    def call_name(self, call: ast.AST) -> str | None:
        if not isinstance(call, ast.Call):
            return None
        # Memoised per node: every rule asks for the name of every call (bindings are final).
        hit = self._call_name_cache.get(call)
        if hit is not None:
            if hit[1] is not None and self.reads is not None:
                self.reads.merge(hit[1])
            return hit[0]
        return self.remember(self._call_name_cache, call, lambda: self.qualified_name(call.func))

    # ------------------------------------------------------------------ values
    def values(self, expr: ast.AST, depth: int = 0, *, module_identity: bool = False) -> list[Value]:
        """The terminal expressions that may have produced the value of ``expr``.

        Follows names to their reaching assignments, ``self.x`` to assignments in any method
        of the class, calls of local functions to their returns. A parameter, a loop variable
        or anything else it cannot see through is returned as is. With ``module_identity``,
        calls that return the same module (``model.to(device)``, ``nn.DataParallel(model)``,
        ``torch.compile(model)``) are seen through as well.
        """
        if depth == 0:
            return list(self.remember(self._values_cache, (expr, module_identity), lambda: tuple(self._values_list(expr, module_identity))))
        return self._values_list(expr, module_identity, depth)

    def _values_list(self, expr: ast.AST, module_identity: bool, depth: int = 0) -> list[Value]:
        out: list[Value] = []
        self._values(expr, depth, out, set(), module_identity)
        return out

    def _values(self, expr: ast.AST, depth: int, out: list[Value], seen: set[int], mod: bool = False) -> None:
        if depth > MAX_VALUE_DEPTH or id(expr) in seen:
            out.append(Value(expr, self))
            return
        seen.add(id(expr))
        if isinstance(expr, ast.Name):
            bindings = self.lookup(expr.id, expr)
            followed = False
            for b in bindings:
                if b.value is not None and b.kind in ("assign", "annassign", "walrus", "with"):
                    self._values(b.value, depth + 1, out, seen, mod)
                    followed = True
                elif b.unpacked is not None:
                    self._unpacked_values(b, depth, out, mod)
                    followed = True
                else:
                    out.append(Value(b.node if b.kind != "param" else b.node, self))
                    followed = True
            if not followed:
                out.append(Value(expr, self))
        elif isinstance(expr, ast.Attribute) and self._is_self(expr.value):
            cls = self.enclosing_class(expr)
            assigned = cls.attrs.get(expr.attr) if cls else None
            if assigned:
                for v in assigned:
                    self._values(v, depth + 1, out, seen, mod)
            else:
                out.append(Value(expr, self))
        elif isinstance(expr, ast.Attribute) and (attrs := self._instance_attr(expr, depth)) is not None:
            for v in attrs:
                self._values(v, depth + 1, out, seen, mod)
        elif isinstance(expr, ast.NamedExpr):
            self._values(expr.value, depth + 1, out, seen, mod)
        elif isinstance(expr, ast.IfExp):
            self._values(expr.body, depth + 1, out, seen, mod)
            self._values(expr.orelse, depth + 1, out, seen, mod)
        elif mod and isinstance(expr, ast.Call) and (inner := self._module_passthrough(expr)) is not None:
            self._values(inner, depth + 1, out, seen, mod)
        elif isinstance(expr, ast.Call) and (returns := self.local_call_returns(expr)) is not None:
            for r in returns:
                self._values(r, depth + 1, out, seen, mod)
        else:
            out.append(Value(expr, self))

    def _unpacked_values(self, b: Binding, depth: int, out: list[Value], mod: bool) -> None:
        """``a, b = f(x)``: the values of element ``i`` of every tuple ``f(x)`` may return (a
        local function's ``return x, y``, a module whose forward returns a tuple). Anything else
        is unknown: the binding itself."""
        assert b.unpacked is not None
        expr, i = b.unpacked
        if depth > MAX_VALUE_DEPTH // 2 or id(b) in self._unpacking:
            out.append(Value(b.node, self))  # ``a, b = f(a, b)`` in a loop: the answer depends on itself
            return
        self._unpacking.add(id(b))
        try:
            self._unpack_into(b, expr, i, depth, out, mod)
        finally:
            self._unpacking.discard(id(b))

    def _unpack_into(self, b: Binding, expr: ast.expr, i: int, depth: int, out: list[Value], mod: bool) -> None:
        found: list[Value] = []
        for v in self._values_list(expr, mod, depth + 1):
            tuples = [v] if isinstance(v.node, (ast.Tuple, ast.List)) else None
            if tuples is None and isinstance(v.node, ast.Call):
                tuples = v.model.module_call_outputs(v.node)
            if not tuples:
                out.append(Value(b.node, self))
                return
            for t in tuples:
                elts = getattr(t.node, "elts", None)
                if not isinstance(t.node, (ast.Tuple, ast.List)) or elts is None or i >= len(elts) or any(isinstance(e, ast.Starred) for e in elts):
                    out.append(Value(b.node, self))
                    return
                found.extend(t.model.values(elts[i], depth + 1, module_identity=mod))
        out.extend(found or [Value(b.node, self)])

    def _instance_attr(self, expr: ast.Attribute, depth: int) -> list[ast.expr] | None:
        """``model.fc`` where ``model = Net()`` and Net (a local class) sets ``self.fc``."""
        owners = self.values(expr.value, depth + 1, module_identity=True)
        found: list[ast.expr] = []
        for o in owners:
            if o.model is not self or not isinstance(o.node, ast.Call):
                return None
            cls = self.local_class_of(o.node.func)
            assigned = cls.attrs.get(expr.attr) if cls else None
            if not assigned:
                return None
            found.extend(assigned)
        return found or None

    def _module_passthrough(self, call: ast.Call) -> ast.expr | None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in _MODULE_RETURNING_METHODS:
            return func.value
        if self.call_name(call) in torch_api.MODULE_WRAPPERS and call.args:
            return call.args[0]
        return None

    def is_builtin(self, name: ast.Name) -> bool:
        """``name`` is one of Python's builtins here (``print``, ``len``, ``dict``): the file binds
        no such name where it is used, and no star import could bring one."""
        return name.id in _BUILTINS and not self.lookup(name.id, name) and not self.lookup("*", name)

    def _is_self(self, expr: ast.AST) -> bool:
        if not isinstance(expr, ast.Name):
            return False
        func = self.enclosing_function(expr)
        while func is not None and not isinstance(parent(func), ast.ClassDef):
            func = self.enclosing_function(func)
        return func is not None and _first_param(func) == expr.id

    def function_returns(self, func: ast.AST) -> list[ast.expr]:
        """The expressions a function returns (not those of nested functions)."""
        cached = self._return_cache.get(func)
        if cached is not None:
            return cached
        out: list[ast.expr] = []
        stack = list(getattr(func, "body", []))
        while stack:
            n = stack.pop()
            if isinstance(n, ast.Return) and n.value is not None:
                out.append(n.value)
            elif not isinstance(n, (*FUNCTION_TYPES, ast.ClassDef, ast.Lambda)):
                stack.extend(ast.iter_child_nodes(n))
        out.sort(key=pos)
        self._return_cache[func] = out
        return out

    def local_call_returns(self, call: ast.Call) -> list[ast.expr] | None:
        """What a call to a function or method defined in this file returns; None if not local."""
        func = call.func
        if isinstance(func, ast.Name):
            bindings = self.lookup(func.id, func)
            if len(bindings) == 1 and bindings[0].kind == "def":
                return self.function_returns(bindings[0].node)
            return None
        if isinstance(func, ast.Attribute) and self._is_self(func.value):
            cls = self.enclosing_class(call)
            method = self.find_method(cls, func.attr) if cls else None
            if method is not None:
                return self.function_returns(method)
        return None

    # ------------------------------------------------------------------ classes and modules
    def class_named(self, name: str) -> ClassInfo | None:
        return self.classes.get(name)

    def local_class_of(self, expr: ast.AST) -> ClassInfo | None:
        """The local class that ``expr`` (a Name or Attribute) refers to, if any."""
        if isinstance(expr, ast.Name):
            bindings = self.lookup(expr.id, expr)
            if len(bindings) == 1 and bindings[0].kind == "class":
                return self._class_of_node.get(bindings[0].node)  # type: ignore[arg-type]
        return None

    def base_classes(self, cls: ClassInfo) -> list[ClassInfo]:
        out = []
        for b in cls.node.bases:
            local = self.local_class_of(b)
            if local is not None and local is not cls:
                out.append(local)
        return out

    def find_method(self, cls: ClassInfo, name: str, _depth: int = 0) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        if name in cls.methods:
            return cls.methods[name]
        if _depth > 8:
            return None
        for base in self.base_classes(cls):
            m = self.find_method(base, name, _depth + 1)
            if m is not None:
                return m
        return None

    def base_names(self, cls: ClassInfo) -> list[str | None]:
        """Qualified names of the bases of ``cls`` (None: unresolvable)."""
        return [self.qualified_name(b) for b in cls.node.bases]

    def is_nn_module(self, cls: ClassInfo, _depth: int = 0) -> bool:
        """An ``nn.Module`` (or LightningModule) subclass, directly or through local bases."""
        if _depth == 0:
            return self.remember(self._is_module_cache, cls.node, lambda: self._is_nn_module(cls, 0))
        return self._is_nn_module(cls, _depth)

    def _is_nn_module(self, cls: ClassInfo, depth: int) -> bool:
        if depth > 8:
            return False
        for qual in self.base_names(cls):
            if qual in torch_api.MODULE_BASES or torch_api.nn_class(qual):
                return True
        return any(self.is_nn_module(b, depth + 1) for b in self.base_classes(cls))

    def module_call_outputs(self, call: ast.Call) -> list[Value] | None:
        """For ``model(x)``: what the module's forward returns, when the module is known.

        Handles instances of local ``nn.Module`` classes (also through ``self.net``) and
        ``nn.Sequential(...)`` (its last layer, as a constructor call). None when unknown.
        """
        out: list[Value] = []
        if self._is_self(call.func):  # self(x) inside a module's method
            cls = self.enclosing_class(call)
            forward = self.find_method(cls, "forward") if cls and self.is_nn_module(cls) else None
            if forward is None:
                return None
            for r in self.function_returns(forward):
                out.extend(self.values(r))
            return out or None
        for v in self.values(call.func, module_identity=True):
            node = v.node
            if not isinstance(node, ast.Call):
                return None
            model = v.model
            qual = model.call_name(node)
            if qual == torch_api.SEQUENTIAL:
                if not node.args:
                    return None
                out.append(Value(node.args[-1], model))
                continue
            cls = model.local_class_of(node.func)
            if cls is None:
                external = model.external_class(node.func)
                if external is None:
                    return None
                model, cls = external
            if not model.is_nn_module(cls):
                return None
            forward = model.find_method(cls, "forward")
            if forward is None:
                return None
            for r in model.function_returns(forward):
                out.extend(model.values(r))
        return out or None

    # ------------------------------------------------------------------ grad mode
    def context_grad_effect(self, expr: ast.AST) -> frozenset[str]:
        """The grad modes the body of ``with expr:`` may run in (``grad_mode.context_effect``):
        ``{OFF}`` for ``torch.no_grad()``, ``{ON}`` for ``torch.enable_grad()``, ``{INHERIT}``
        for a context that keeps the mode, ``{UNKNOWN}`` where nothing tells."""
        return grad_mode.context_effect(self, expr)

    def decorator_grad_effect(self, expr: ast.AST) -> frozenset[str]:
        """The grad modes the body of a function decorated with ``expr`` may run in."""
        return grad_mode.decorator_effect(self, expr)

    def grad_states_at(self, node: ast.AST) -> frozenset[str]:
        """The grad modes ``node`` may run in by the ``with`` blocks and decorators around it,
        the innermost winning; INHERIT: its function's caller decides."""
        return grad_mode.lexical_states(self, node)

    def is_no_grad_context(self, expr: ast.AST) -> bool:
        """``with expr:`` turns gradients off: ``torch.no_grad()``, ``torch.inference_mode()``,
        ``torch.set_grad_enabled(False)``, a project's context manager that does."""
        return self.context_grad_effect(expr) == grad_mode.OFF_ONLY

    def function_is_no_grad(self, func: ast.AST) -> bool:
        """The decorators of ``func`` turn gradients off in its body."""
        states = grad_mode.UNCHANGED
        for d in reversed(getattr(func, "decorator_list", ())):
            states = grad_mode.apply(states, self.decorator_grad_effect(d))
        return states == grad_mode.OFF_ONLY

    def under_no_grad(self, node: ast.AST) -> bool:
        """Gradients are off at ``node`` by what encloses it: ``with torch.no_grad()`` (or
        ``stack.enter_context(torch.no_grad())`` in ``with ExitStack() as stack``), a decorator
        that turns them off, and no ``with torch.enable_grad()`` inside those."""
        return self.grad_states_at(node) == grad_mode.OFF_ONLY

    def grad_not_off(self, node: ast.AST) -> bool:
        """Nothing around ``node`` turns gradients off or hides the mode (a context nothing
        describes): they are on there whenever its function is called with them on."""
        return grad_mode.not_off(self.grad_states_at(node))

    # ------------------------------------------------------------------ inference fallback
    def external_class(self, expr: ast.AST) -> tuple["SemanticModel", ClassInfo] | None:
        """A class imported from another module of the user's project: through the project's
        own module index (``project.module_file``) first, then through jedi."""
        if not self._external or not isinstance(expr, (ast.Name, ast.Attribute)):
            return None
        qual = self.qualified_name(expr)
        if qual is None or qual.startswith((torch_api.TORCH, torch_api.TORCHVISION, "builtins.")) or qual.split(".")[0] in torch_api.NO_MODEL_PACKAGES:
            return None  # only the user's own modules (and model libraries) are worth a look
        self.read_outside()  # another module (and, for jedi, the whole text)
        found = self.project_class(qual)
        if isinstance(found, str):
            return None  # the project's module says what it is: jedi would say the same, slower
        if isinstance(found, tuple) or self.inference is None:
            return found if isinstance(found, tuple) else None
        if isinstance(found, Outside):
            top = found.qual.split(".")[0]
            if not top or not self.inference.can_import(top):
                return None  # neither the project's nor installed where jedi looks: jedi cannot tell
        # one jedi query per imported name: every use of it names the same class
        key = ("external_class", qual)
        if key in self.file_memo:
            target = self.file_memo[key]
        else:
            target = self.file_memo[key] = self.inference.goto(expr)
        if target is None:
            return None
        other = self.loader(target[0]) if self.loader is not None else None
        if other is None:
            return None
        for info in other.classes.values():
            if info.node.lineno == target[1]:
                return other, info
        return None

    def project_class(self, qual: str, depth: int = 0) -> "tuple[SemanticModel, ClassInfo] | str | Outside | None":
        """The class ``qual`` (``models.net.Net``, ``.resnet.ResNet``) names, when it is defined in a
        module of this file's project, also when that module re-exports it (``from .net import
        Net`` in a package's ``__init__``, or ``from .layers import *``). ``NOT_A_CLASS`` when the
        project's module binds the name to something else (a function, a variable): no need to ask
        jedi. None when the project's modules do not tell."""
        stripped = qual.lstrip(".")
        dots = qual[: len(qual) - len(stripped)]
        if depth > 3 or not ("." in stripped or dots):
            return None
        self.read_outside()  # the project's files
        head, _, name = stripped.rpartition(".")
        module = dots + head  # ``from . import X``: the package's __init__ (module ".")
        path = module_file(self.path, module)
        other = self.loader(path) if path and self.loader is not None else None
        if other is None:
            member = self._class_member(module, name, depth)
            if member is None and not dots and path is None and module_file(self.path, stripped.split(".")[0]) is None:
                return Outside(stripped)  # the import leaves the project here
            return member
        info = other.classes.get(name)
        if info is not None and isinstance(parent(info.node), ast.Module):
            return other, info
        bindings = other.module_scope.bindings.get(name, [])
        imported = {b.qualname for b in bindings if b.kind == "import"}
        if bindings and len(imported) == 1 and None not in imported and all(b.kind == "import" for b in bindings):
            # one import, or the same name imported twice: either way it binds one thing
            return other.project_class(next(iter(imported)), depth + 1)  # type: ignore[arg-type]
        if bindings:
            return NOT_A_CLASS if all(b.kind in ("def", "assign", "annassign") for b in bindings) else None
        for stmt in other._tree.body:  # ``from .layers import *``: the name may come from there
            if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
                base = "." * stmt.level + (stmt.module or "")
                found = other.project_class(f"{base}{name}" if base.endswith(".") else f"{base}.{name}", depth + 1)
                if found is not None and not isinstance(found, Outside):
                    return found
        return None

    def _class_member(self, owner: str, name: str, depth: int) -> "tuple[SemanticModel, ClassInfo] | str | Outside | None":
        """``owner.name`` where ``owner`` is a class of the project (``GPT.from_pretrained``):
        a class nested in it, or ``NOT_A_CLASS`` for any other member (a method, an attribute).
        None when ``owner`` is not a project class."""
        found = self.project_class(owner, depth + 1)
        if not isinstance(found, tuple):
            return None
        other, info = found
        for stmt in info.node.body:
            if isinstance(stmt, ast.ClassDef) and stmt.name == name:
                nested = next((c for c in other.classes.values() if c.node is stmt), None)
                return (other, nested) if nested is not None else None
        return NOT_A_CLASS

    def infer_types(self, expr: ast.AST) -> list[str]:
        """Fully qualified type names of ``expr`` from jedi (canonicalised); [] when off or unknown."""
        if self.inference is None:
            return []
        self.read_outside()  # jedi's answer may come from anywhere in the file
        return [t for t in (torch_api.canonical(n) for n in self.inference.infer(expr)) if t]


_MISS = object()




_BUILTIN_QUALNAMES: dict[str, str] = {}


def _nothing() -> None:
    pass
# What a top-level statement that runs at import "binds" (no identifier can clash with it).
MODULE_CODE = "<module code>"


def _runs_at_import(stmt: ast.stmt) -> bool:
    """A top-level statement whose body runs when the module runs (not a def or a class)."""
    return not isinstance(stmt, (*FUNCTION_TYPES, ast.ClassDef))
_BUILTINS = frozenset(vars(builtins))


@dataclass(frozen=True)
class Outside:
    """project_class's answer for a name whose import chain leaves the project: ``qual`` is the
    dotted name in the first module that is not one of the project's files."""

    qual: str


NOT_A_CLASS = "not a class"  # project_class's answer for a name the project binds to something else


_MODULE_RETURNING_METHODS = torch_api.MODULE_RETURNING_METHODS


def _first_param(func: ast.AST) -> str | None:
    args = getattr(func, "args", None)
    if args is None:
        return None
    params = [*args.posonlyargs, *args.args]
    if not params:
        return None
    if any(_decorator_name(d) == "staticmethod" for d in getattr(func, "decorator_list", ())):
        return None
    return params[0].arg


def _decorator_name(d: ast.AST) -> str | None:
    if isinstance(d, ast.Name):
        return d.id
    if isinstance(d, ast.Attribute):
        return d.attr
    return None


def _inside_field(node: ast.AST, anc: ast.AST, fieldname: str) -> bool:
    child = node
    for a in ancestors(node):
        if a is anc:
            return getattr(child, FIELD, None) == fieldname
        child = a
    return False


def _block_of(stmt: ast.AST) -> tuple[ast.AST | None, str | None]:
    """The statement list that ``stmt`` belongs to, looking through always-run blocks."""
    cur = stmt
    while True:
        p = parent(cur)
        f = getattr(cur, FIELD, None)
        if p is None:
            return None, None
        if (type(p), f) in TRANSPARENT_BLOCKS:
            cur = p
            continue
        if isinstance(cur, ast.stmt) or isinstance(cur, ast.excepthandler):
            return p, f
        cur = p


def _dominates(stmt: ast.AST, use: ast.AST) -> bool:
    """Whether ``stmt`` runs on every path that reaches ``use`` (within one function)."""
    if isinstance(stmt, (ast.For, ast.AsyncFor, ast.comprehension)):
        return _inside_field(use, stmt, "body") or isinstance(stmt, ast.comprehension)
    block = _block_of(stmt)
    if block[0] is None:
        return True
    if isinstance(block[0], (ast.Module, *FUNCTION_TYPES)) and block[1] == "body":
        return True
    # The use must be in the same statement list (or nested in a later statement of it).
    child = use
    for anc in ancestors(use):
        if anc is block[0] and getattr(child, FIELD, None) == block[1]:
            return True
        child = anc
    return False


def _common_loop(stmt: ast.AST, use: ast.AST) -> ast.AST | None:
    """The innermost loop that contains both ``stmt`` and ``use``."""
    loops_b = {id(a) for a in ancestors(stmt) if isinstance(a, (ast.For, ast.AsyncFor, ast.While))}
    return next((a for a in ancestors(use) if isinstance(a, (ast.For, ast.AsyncFor, ast.While)) and id(a) in loops_b), None)

