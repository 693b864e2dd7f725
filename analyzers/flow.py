"""The loop model: what runs in one iteration of a training or evaluation loop, in order.

Built lazily from the :class:`SemanticModel` (``model.flow``), once per file, only when a rule
asks. It answers:

- which calls of this file a call reaches (``train_one_epoch(...)``, ``self.validate()``,
  ``obj.method()`` on an instance of a local class), and who calls each function;
- the ordered *events* of one iteration of a loop (or of one call of a function), following
  local helpers to a bounded depth: ``backward``, optimizer ``step``, ``zero_grad``, ``eval`` /
  ``train`` mode switches, ``autograd.grad``;
- whether a node runs with gradients off: lexically (``with torch.no_grad()``, a decorator) or
  because every caller of its function in this file does;
- which code is an evaluation: a function named like validate / evaluate / test / predict /
  infer, a loop over a loader named like val / test / eval, or the code after ``model.eval()``,
  that runs a model forward and never calls ``backward``.

Everything is conservative: where the chain of evidence breaks, the answer is "unknown" and the
rules stay silent.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from . import torch_api
from .callsites import calls_named
from .semantic import FUNCTION_TYPES, SemanticModel, ancestors, child_fields, parent, pos

MAX_INLINE_DEPTH = 4  # helper calls followed below a loop
MAX_CALLER_DEPTH = 4  # callers followed up when asking "do all callers ...?"

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
LOOP_TYPES = (ast.For, ast.AsyncFor, ast.While)
_SKIP_BODIES = (*FUNCTION_TYPES, ast.ClassDef, ast.Lambda)

BACKWARD, STEP, ZERO_GRAD, EVAL, TRAIN, MODE, GRAD, FORWARD = "backward", "step", "zero_grad", "eval", "train", "mode", "grad", "forward"

_OPT_RE = re.compile(r"(?i)(^opt|optim|optimi[sz]er|_opt$|^opt_|opt[gd]$)")
_NOT_OPT_RE = re.compile(r"(?i)(sched|lr_|warmup|env|option|opts$|^opts)")
_ACCEL_RE = re.compile(r"(?i)(accelerat|fabric|engine|deepspeed|^amp$|^self$)")
_SCALER_RE = re.compile(r"(?i)scaler")
_ZERO_GRAD_NAME_RE = re.compile(r"(?i)(zero|clear|reset|none)_?grads?|grads?_?(zero|clear|reset|to_none)")
MODEL_NAME_RE = re.compile(
    r"(?i)^(model|models|net|network|module|.*_model|model_.*|.*_net|net_.*|net[A-Z0-9].*|.*net|"
    r"[GD]|[GD]_[a-z]+|generator|discriminator|encoder|decoder|backbone|classifier|policy|actor|critic|"
    r"teacher|student|ema|ema_model|q_net|qnet|target_net|unet|vae|autoencoder|transformer|bert|gpt|llm|detector|"
    r".*_critic|.*_policy|.*_actor|actor_.*|.*backbone|.*_head|.*_encoder|.*_decoder|trunk|.*_trunk|(net|model)[GD]|"
    r"cnn|rnn|lstm|gru|mlp|vgg|vit|regressor|predictor|segmenter|seq2seq|.*_cnn|.*_rnn|.*_lstm|.*_mlp)$"
)
_RUNNER_RE = re.compile(r"(?i)(trainer|runner|engine|evaluator|validator|tester|learner|agent|experiment|solver|predictor|inferencer|pipeline|wrapper)")
_VERB_RE = re.compile(r"(?i)^(get|create|build|load|make|init|setup|set|copy|save|export|wrap|prepare|to|convert|fuse|register|freeze|unfreeze|update|reset)_")
_NOT_MODEL_RE = re.compile(r"(?i)(loss|criterion|metric|optim|sched|loader|dataset|subnet_mask)")
EVAL_NAME_TOKENS = {
    "val", "valid", "validate", "validation", "eval", "evaluate", "evaluation", "test", "testing",
    "predict", "prediction", "predictions", "infer", "inference",
}
EVAL_LOADER_RE = re.compile(r"(?i)(?<![a-z])(val|valid|validation|test|testing|eval|evaluation|dev|holdout)(?![a-z])")
_HOOK_RE = re.compile(r"^(validation_step|test_step|predict_step|.*_epoch_end|on_.*|.*_dataloader)$")
BN_CLASSES = {
    "torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d", "torch.nn.BatchNorm3d", "torch.nn.SyncBatchNorm",
    "torch.nn.LazyBatchNorm1d", "torch.nn.LazyBatchNorm2d", "torch.nn.LazyBatchNorm3d",
}
DROPOUT_CLASSES = {"torch.nn.Dropout", "torch.nn.Dropout1d", "torch.nn.Dropout2d", "torch.nn.Dropout3d", "torch.nn.AlphaDropout"}
# torchvision constructors of models that contain batch norm (all of their variants do).
_TV_BN_RE = re.compile(
    r"^torchvision\.models\.(.*\.)?(resnet\d+|resnext\w+|wide_resnet\w+|densenet\d+|vgg\d+_bn|inception_v3|googlenet|"
    r"mobilenet_v[23]\w*|efficientnet\w*|regnet\w+|shufflenet\w+|mnasnet\w+|convnext\w*|fcn_\w+|deeplabv3\w*|"
    r"fasterrcnn\w+|maskrcnn\w+|retinanet\w+|keypointrcnn\w+|r3d_18|r2plus1d_18|mc3_18)$"
)


# Node types the loop model asks the engine's traversal to collect (see Flow.nodes).
FLOW_NODE_TYPES = frozenset({
    ast.Call, ast.Expr, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Assign,
    ast.FunctionDef, ast.If, ast.Attribute,
})


def text_of(node: ast.AST | None) -> str | None:
    """``self.model`` / ``model`` / ``nets[0]`` as written (None for anything else)."""
    if node is None:
        return None
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - malformed trees from error recovery
        return None


def last_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def is_false(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value in (False, None, 0)


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def keeps_graph(call: ast.Call) -> bool:
    """A backward that keeps its graph: ``retain_graph`` or ``create_graph`` not literally off."""
    for name in ("retain_graph", "create_graph"):
        v = keyword(call, name)
        if v is not None and not is_false(v):
            return True
    if any(k.arg is None for k in call.keywords):
        return True  # **kwargs: cannot tell
    return False


@dataclass(frozen=True)
class Event:
    kind: str
    node: ast.AST  # the call (or assignment) in its own function
    chain: tuple[ast.Call, ...]  # local call sites followed to reach it, outermost first
    subject: str | None  # the model / optimizer it acts on, in the caller's words
    conditional: bool  # under an if / try handler / inner while between the frame root and it
    branches: frozenset  # (id(if), field) pairs on the way, to tell exclusive branches apart
    no_grad: bool  # under no_grad somewhere along the chain
    loss: ast.expr | None = None  # for backward: the tensor it is called on

    @property
    def order(self) -> tuple:
        """Execution-order key within the iteration: the positions of the call sites followed,
        then its own. Read from the nodes, so events kept across versions of the document stay
        right when their statements move."""
        return (*(pos(c) for c in self.chain), pos(self.node))

    @property
    def site(self) -> ast.AST:
        """The node in the frame's own function that leads to this event."""
        return self.chain[0] if self.chain else self.node

    def exclusive(self, other: "Event") -> bool:
        mine = dict(self.branches)
        return any(k in mine and mine[k] != f for k, f in other.branches)


@dataclass
class EvalRegion:
    """Code that evaluates a model: a forward pass and no backward."""

    kind: str  # "function" | "loop" | "after-eval"
    func: FunctionNode | None
    target: ast.stmt  # what a fix wraps / precedes: the outermost loop around the forwards, in the region
    forwards: list[ast.Call] = field(default_factory=list)
    anchor: ast.AST | None = None  # the eval() call for "after-eval" regions
    # id(forward) -> (the model it runs, in the region's words; the forward call itself), where
    # the region's call runs a helper that runs the model, or is ``model.generate(...)``
    subjects: dict = field(default_factory=dict)

    def subject_of(self, flow: "Flow", call: ast.Call) -> str | None:
        hit = self.subjects.get(id(call))
        return hit[0] if hit else flow.is_model_forward(call)

    def forward_of(self, call: ast.Call) -> ast.AST:
        """The call that runs the model itself (in a helper, or ``call``)."""
        hit = self.subjects.get(id(call))
        return hit[1] if hit else call


class file_fact:
    """A fact of the whole file (every loop, every function): computed once per analysis, and
    every read of it is recorded as a read of the whole file (analyzers/reads.py)."""

    def __init__(self, fn: Callable[["Flow"], Any]) -> None:
        self.fn = fn
        self.slot = "_fact_" + fn.__name__
        self.__doc__ = fn.__doc__

    def __get__(self, flow: "Flow | None", owner: type | None = None) -> Any:
        if flow is None:
            return self
        flow.model.read_whole()
        d = flow.__dict__
        if self.slot not in d:
            d[self.slot] = self.fn(flow)
        return d[self.slot]


class Flow:
    def __init__(self, model: SemanticModel):
        self.model = model
        self._events_cache: dict[tuple[int, int], list[Event]] = {}
        self._callee_cache: dict[int, FunctionNode | None] = {}
        # id(statement) -> its calls and assignments in order: a helper's body is inlined into
        # every loop that calls it, an inner loop's into the outer one; walk each once.
        self._walk_cache: dict[int, list[tuple[ast.AST, bool, frozenset]]] = {}
        self._caches: dict[str, dict] = {}

    def kept(self, kind: str, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``'s answer for ``key`` (a node or a tuple of nodes), cached for this
        version and kept for the document's next ones while nothing it read changes."""
        return self.model.remember_across_versions(self._caches.setdefault(kind, {}), kind, key, compute)

    def nodes(self, *types: type) -> list[ast.AST]:
        """Every node of these types in the file: a read of the whole file."""
        return self.model.nodes_of(*types)

    # ------------------------------------------------------------------ call graph
    def callee(self, call: ast.Call) -> FunctionNode | None:
        """The function or method of this file that ``call`` runs, if it can tell."""
        return self.model.remember_across_versions(self._callee_cache, "callee", call, lambda: self._resolve(call))

    def _resolve(self, call: ast.Call) -> FunctionNode | None:
        m = self.model
        func = call.func
        if isinstance(func, ast.Name):
            bindings = m.lookup(func.id, func)
            if len(bindings) == 1 and bindings[0].kind == "def":
                return bindings[0].node  # type: ignore[return-value]
            return None
        if isinstance(func, ast.Attribute):
            if m._is_self(func.value):
                cls = m.enclosing_class(call)
                return m.find_method(cls, func.attr) if cls else None
            if isinstance(func.value, ast.Name):
                owners = m.values(func.value)
                if len(owners) == 1 and isinstance(owners[0].node, ast.Call) and owners[0].model is m:
                    cls = m.local_class_of(owners[0].node.func)
                    if cls is not None:
                        return m.find_method(cls, func.attr)
        return None

    def callers_of(self, func: FunctionNode) -> list[ast.Call]:
        """The calls of this file that run ``func`` (not from inside it); found by its name."""
        return [
            c
            for c in calls_named(self.model, func.name)
            if isinstance(c.func, (ast.Name, ast.Attribute)) and self.callee(c) is func and self.model.enclosing_function(c) is not func
        ]

    # ------------------------------------------------------------------ grad mode
    def no_grad_at(self, node: ast.AST, _depth: int = 0, _seen: frozenset = frozenset()) -> bool:
        """Gradients are off at ``node``: lexically, or because every caller in this file turns them off."""
        if self.model.under_no_grad(node) or self._opaque_with(node):
            return True
        func = self.model.enclosing_function(node)
        for f in (a for a in ancestors(node) if isinstance(a, FUNCTION_TYPES)):
            for d in f.decorator_list:  # @smart_inference_mode(), @no_grad_wrapper: a project's own spelling
                t = (text_of(d) or "").lower()
                if "no_grad" in t or "inference_mode" in t:
                    return True
        if func is None or _depth >= MAX_CALLER_DEPTH or id(func) in _seen:
            return False
        seen = _seen | {id(func)}
        calls = self.callers_of(func)
        if not calls:
            # Passed as a callback (``run_eval(step)``): gradients are off where the receiving
            # function of this file calls it, on every such call.
            calls = self.callback_calls(func)
            return bool(calls) and all(self.no_grad_at(c, _depth + 1, seen) for c in calls)
        return all(self.no_grad_at(c, _depth + 1, seen) for c in calls)

    def callback_calls(self, func: FunctionNode) -> list[ast.Call]:
        """Where ``func``, handed as an argument to a function of this file, is called there
        (``def run_eval(fn): ... fn(batch)``). [] when any hand-over goes somewhere we cannot
        follow (a library, ``*args``, a parameter stored away)."""
        m = self.model
        m.read_whole()  # every call of the file is looked at
        out: list[ast.Call] = []
        for site in m.all_nodes(ast.Call):
            if not isinstance(site, ast.Call):
                continue
            passed = [(i, None) for i, a in enumerate(site.args) if self._names_function(a, func)]
            passed += [(None, k.arg) for k in site.keywords if self._names_function(k.value, func)]
            if not passed:
                continue
            target = self.callee(site)
            if target is None:
                return []
            params = [*target.args.posonlyargs, *target.args.args]
            if params and isinstance(parent(target), ast.ClassDef) and isinstance(site.func, ast.Attribute):
                params = params[1:]  # self
            for index, keyword in passed:
                name = params[index].arg if index is not None and index < len(params) else keyword
                if name is None:
                    return []
                uses = [n for n in ast.walk(target) if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)]
                called = [u for u in uses if isinstance(parent(u), ast.Call) and parent(u).func is u]
                if not called or len(called) != len(uses):
                    return []  # stored, passed on or returned: its calls are elsewhere
                out.extend(parent(u) for u in called)  # type: ignore[misc]
        return out

    def _names_function(self, expr: ast.AST, func: FunctionNode) -> bool:
        if isinstance(expr, ast.Name) and expr.id == func.name:
            return [b.node for b in self.model.lookup(expr.id, expr)] == [func]
        if isinstance(expr, ast.Attribute) and expr.attr == func.name and self.model._is_self(expr.value):
            cls = self.model.enclosing_class(expr)
            return cls is not None and self.model.find_method(cls, expr.attr) is func
        return False

    def _opaque_with(self, node: ast.AST) -> bool:
        """Under a ``with`` whose context we cannot see (``with ctx:``) or that speaks of grad."""
        for w in self.model.enclosing_withs(node):
            for item in w.items:
                e = item.context_expr
                if isinstance(e, (ast.Name, ast.IfExp, ast.Subscript)):
                    return True
                t = text_of(e) or ""
                if "grad" in t.lower() or "inference" in t.lower():
                    return True
        return False

    # ------------------------------------------------------------------ events
    def classify(self, node: ast.AST, subst: dict[str, str]) -> tuple[str, str | None, ast.expr | None] | None:
        """(kind, subject, loss) for a call or statement that matters to a training loop."""
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and t.attr == "grad":
                    return ZERO_GRAD, None, None  # p.grad = None / torch.zeros_like(p) / *= 0
            return None
        if not isinstance(node, ast.Call):
            return None
        func = node.func
        name = self.model.call_name(node)
        if name and name.startswith("torch.distributed."):
            return None  # distributed autograd: gradients live in a per-iteration context
        if name in ("torch.autograd.backward",):
            return BACKWARD, None, node.args[0] if node.args else keyword(node, "tensors")
        if name in ("torch.autograd.grad",):
            return GRAD, None, node.args[0] if node.args else keyword(node, "outputs")
        if not isinstance(func, ast.Attribute):
            if isinstance(func, ast.Name) and _ZERO_GRAD_NAME_RE.search(func.id):
                return ZERO_GRAD, _subst(text_of(node.args[0]) if node.args else None, subst), None
            if (
                isinstance(func, ast.Name)
                and _trains_by_name(func.id)
                and node.args
                and MODEL_NAME_RE.match(last_name(node.args[0]) or "")
                and self.callee(node) is None
                and not (name or "").startswith("torch")
            ):
                # set_train_mode(model), imported train_one_epoch(model, ...): may switch the mode back
                return MODE, _subst(text_of(node.args[0]), subst), None
            return None
        attr = func.attr
        recv = func.value
        recv_name = last_name(recv) or ""
        if attr == "backward":
            if isinstance(recv, ast.Call) and isinstance(recv.func, ast.Attribute) and recv.func.attr == "scale" and recv.args:
                return BACKWARD, None, recv.args[0]
            if node.args and _ACCEL_RE.search(recv_name):
                return BACKWARD, None, node.args[0]
            return BACKWARD, None, recv
        if attr == "manual_backward" and node.args:
            return BACKWARD, None, node.args[0]
        if attr in ("step", "optimizer_step"):
            if (_SCALER_RE.search(recv_name) or attr == "optimizer_step") and node.args:
                return STEP, _subst(text_of(node.args[0]), subst), None
            if attr == "step" and self._is_optimizer(recv):
                return STEP, _subst(text_of(recv), subst), None
            return None
        if attr == "zero_grad" or _ZERO_GRAD_NAME_RE.search(attr):
            return ZERO_GRAD, _subst(text_of(recv), subst), None
        if attr in ("zero_", "detach_", "fill_", "copy_", "set_"):
            t = text_of(recv) or ""
            if t.endswith(".grad") or t.endswith(".grad.data"):
                return ZERO_GRAD, None, None
            return None
        if attr == "eval" and not node.args and not node.keywords:
            return EVAL, _subst(text_of(recv), subst), None
        if attr == "train":
            mode = node.args[0] if node.args else keyword(node, "mode")
            if mode is None or is_true(mode):
                return TRAIN, _subst(text_of(recv), subst), None
            if is_false(mode):
                return EVAL, _subst(text_of(recv), subst), None
            return MODE, _subst(text_of(recv), subst), None
        return None

    def _is_optimizer(self, recv: ast.AST) -> bool:
        n = last_name(recv)
        if n is None:
            return False
        if _OPT_RE.search(n) and not _NOT_OPT_RE.search(n):
            return True
        for v in self.model.values(recv):
            q = v.model.call_name(v.node) if isinstance(v.node, ast.Call) else None
            if q and q.startswith("torch.optim.") and "lr_scheduler" not in q and q.count(".") == 2:
                return True
        return False

    def events(self, root: ast.AST) -> list[Event]:
        """Ordered events of one iteration of ``root`` (a loop) or one call of it (a function)."""
        return self.model.remember_across_versions(self._events_cache, "events", root, lambda: self._events(root))

    def _events(self, root: ast.AST) -> list[Event]:
        stmts = root.body if isinstance(root, (*LOOP_TYPES, *FUNCTION_TYPES)) else [root]
        out: list[Event] = []
        self._collect(stmts, root, (), {}, False, frozenset(), (), False, out, {id(root)})
        out.sort(key=lambda e: e.order)
        return out

    def _collect(self, stmts, frame_root, chain, subst, cond, branches, order, nograd, out, stack) -> None:
        for stmt in stmts:
            walked = self._walk_cache.get(id(stmt))
            if walked is None:
                walked = self._walk_cache[id(stmt)] = _walk_ordered(stmt)
            for node, c, br in walked:
                node_cond = cond or c
                node_branches = branches | br
                node_order = (*order, pos(node))
                node_ng = nograd or self.model.under_no_grad(node)
                kind = self.classify(node, subst)
                if kind is None and isinstance(node, ast.Call):
                    fw = self.is_model_forward(node)
                    if fw is not None:
                        kind = (FORWARD, _subst(fw, subst), None)
                if kind is not None:
                    out.append(Event(kind[0], node, chain, kind[1], node_cond, node_branches, node_ng, kind[2]))
                    if kind[0] in (BACKWARD, STEP, ZERO_GRAD, GRAD, EVAL, TRAIN, MODE):
                        continue
                if isinstance(node, ast.Call) and len(chain) < MAX_INLINE_DEPTH:
                    f = self.callee(node)
                    if f is not None and id(f) not in stack:
                        self._collect(
                            f.body, f, (*chain, node), {**subst, **_param_map(f, node, subst, self.model)},
                            node_cond, node_branches, node_order, node_ng, out, stack | {id(f)},
                        )

    def nested_loop(self, root: ast.AST, e: Event) -> bool:
        """``e`` runs inside a loop nested in ``root`` (in root's own body or in a helper)."""
        frames = [root, *(self.callee(c) for c in e.chain)]
        for x, fr in zip([*e.chain, e.node], frames):
            for anc in ancestors(x):
                if anc is fr or anc is None or isinstance(anc, _SKIP_BODIES):
                    break
                if isinstance(anc, LOOP_TYPES) and getattr(x, "_tp_field", None) != "iter" and not _in_iter(x, anc):
                    return True
        return False

    def innermost_training_loops(self) -> list[ast.AST]:
        """Training loops where a backward and a step run at the loop's own level (not in a nested loop)."""
        out = []
        for lp in self.training_loops:
            evs = [e for e in self.events(lp) if not self.nested_loop(lp, e)]
            if self.is_training(evs):
                out.append(lp)
        return out

    # ------------------------------------------------------------------ training loops
    def is_training(self, events: list[Event]) -> bool:
        kinds = {e.kind for e in events}
        return BACKWARD in kinds and STEP in kinds

    @file_fact
    def loops(self) -> list[ast.For | ast.AsyncFor | ast.While]:
        return sorted(self.nodes(*LOOP_TYPES), key=pos)

    def containers_mentioning(self, *names: str) -> set[int]:
        """ids of the functions and loops (and the module) in which ``x.<name>`` is written or
        ``<name>(...)`` is called, for any of ``names``. Built from the traversal's buckets:
        only the few matching nodes climb their ancestors, nothing is re-walked."""
        # Whether a given container is in the set depends on its own subtree only: not a read.
        key = ("mentions", names)
        found = self.model.file_memo.get(key)
        if found is None:
            found = set()
            wanted = set(names)
            hits = [n for n in self.model.all_nodes(ast.Attribute) if n.attr in wanted]  # type: ignore[attr-defined]
            hits += [n for n in self.model.all_nodes(ast.Call) if isinstance(n.func, ast.Name) and n.func.id in wanted]  # type: ignore[attr-defined]
            for n in hits:
                for anc in ancestors(n):
                    if isinstance(anc, (*FUNCTION_TYPES, *LOOP_TYPES, ast.Module)):
                        found.add(id(anc))
            self.model.file_memo[key] = found
        return found

    def backward_calls(self, scope: ast.AST) -> list[tuple[ast.Call, ast.expr]]:
        """(backward call, loss) written directly in ``scope`` (a function or the module), in
        source order. Grouped once per file from the traversal's calls."""
        self.model.read_whole()  # built with classify (lookups) over the whole file
        groups = self.model.file_memo.get("backward_calls")
        if groups is None:
            groups = {}
            for n in self.model.all_nodes(ast.Call):
                f = n.func  # type: ignore[attr-defined]
                if not ((isinstance(f, ast.Attribute) and f.attr in _BACKWARD_NAMES) or (isinstance(f, ast.Name) and f.id == "backward")):
                    continue
                k = self.classify(n, {})
                if k is None or k[0] != BACKWARD or k[2] is None:
                    continue
                owner = next((a for a in ancestors(n) if isinstance(a, (*FUNCTION_TYPES, ast.ClassDef, ast.Lambda))), self.model._tree)
                if isinstance(owner, (ast.ClassDef, ast.Lambda)):
                    continue
                groups.setdefault(id(owner), []).append((n, k[2]))
            for calls in groups.values():
                calls.sort(key=lambda t: pos(t[0]))
            self.model.file_memo["backward_calls"] = groups
        return list(groups.get(id(scope), ()))

    def mentions(self, root: ast.AST, *names: str) -> bool:
        return id(root) in self.containers_mentioning(*names)

    def may_backward(self, root: ast.AST) -> bool:
        """``root`` (a loop, a function) may reach a backward: lexically or through a local call."""
        return self.mentions(root, *_BACKWARD_NAMES) or self.kept("calls_backward", root, lambda: self._calls_backward(root))

    def _calls_backward(self, root: ast.AST) -> bool:
        """Some call in ``root`` runs a function of this file that may call backward."""
        for n in ast.walk(root):
            if isinstance(n, ast.Call) and isinstance(n.func, (ast.Name, ast.Attribute)):
                f = self.callee(n)
                if f is not None and self._backward_function(f, MAX_INLINE_DEPTH):
                    return True
        return False

    def _backward_function(self, f: FunctionNode, rounds: int) -> bool:
        """``f`` mentions backward, or (within ``rounds`` calls) calls a function that does;
        only calls directly in ``f`` count, not those of functions nested in it."""
        if self.mentions(f, *_BACKWARD_NAMES):
            return True
        if rounds == 0:
            return False
        return self.kept(f"backward_function{rounds}", f, lambda: any(
            (g := self.callee(c)) is not None and self._backward_function(g, rounds - 1) for c in _direct_calls(f)
        ))

    @file_fact
    def training_loops(self) -> list[ast.AST]:
        """Loops one iteration of which calls backward and an optimizer step (outermost included)."""
        return [lp for lp in self.loops if self.may_backward(lp) and self.is_training(self.events(lp))]

    # ------------------------------------------------------------------ models
    def is_model_forward(self, call: ast.Call) -> str | None:
        """``model(x)`` / ``self.net(x)`` / ``model.forward(x)``: the model's text, else None."""
        return self.kept("forward", call, lambda: self._is_model_forward(call))

    def _is_model_forward(self, call: ast.Call) -> str | None:
        func = call.func
        target = func
        if isinstance(func, ast.Attribute) and func.attr == "forward" and not self.model._is_self(func.value):
            target = func.value
        return self.model_text(target)

    def generates(self, call: ast.Call) -> str | None:
        """``model.generate(...)`` (Hugging Face): forwards of ``model`` in whatever mode it is in
        (``generate`` turns gradients off itself, so this is no evaluation forward for PIT201)."""
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "generate" and not self.model._is_self(func.value):
            return self.kept("generates", call, lambda: self.model_text(func.value))
        return None

    def model_text(self, target: ast.expr) -> str | None:
        """``target`` holds a model (by its construction or its name): its text, else None."""
        n = last_name(target)
        if n is None or _NOT_MODEL_RE.search(n) or _VERB_RE.match(n):
            return None
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Call):
            return None  # super().x(...), get().x(...): a method, not a stored model
        root = target
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root is not target and any(b.kind == "import" for b in self.model.lookup(root.id, root)):
            return None  # idist.auto_model(...), nn.RNN(...): a function or class of a module
        if isinstance(target, ast.Name):
            bindings = self.model.lookup(target.id, target)
            if not bindings or any(b.kind in ("def", "class", "import") for b in bindings):
                return None  # a function, a class (a constructor call), or a name from a star import
            if target.id[:1].isupper() and any(ch.islower() for ch in target.id):
                return None  # CamelCase: a class
        if MODEL_NAME_RE.match(n) or self.model_class_facts(target) is not None:
            return text_of(target)
        return None

    def is_layer_call(self, call: ast.Call) -> bool:
        """A call of an ``nn.Module`` instance whose construction is visible (a layer, a local model)."""
        if not isinstance(call.func, (ast.Name, ast.Attribute)):
            return False
        for v in self.model.values(call.func, module_identity=True):
            if not isinstance(v.node, ast.Call):
                return False
            q = v.model.call_name(v.node)
            if q and q.startswith("torch.nn.") and q[9:10].isupper() and "Loss" not in q:
                continue
            cls = v.model.local_class_of(v.node.func)
            if cls is None or not v.model.is_nn_module(cls):
                return False
        return True if self.model.values(call.func) else False

    def model_class_facts(self, expr: ast.AST) -> tuple[bool, bool] | None:
        """(has batch norm, has dropout) of the model ``expr`` holds, when its construction is known."""
        vals = self.model.values(expr, module_identity=True)
        if not vals:
            return None
        bn = drop = False
        for v in vals:
            facts = self._construction_facts(v.node, v.model, 0)
            if facts is None:
                return None
            bn, drop = bn or facts[0], drop or facts[1]
        return bn, drop

    def _construction_facts(self, node: ast.AST, m: SemanticModel, depth: int) -> tuple[bool, bool] | None:
        if not isinstance(node, ast.Call) or depth > 3:
            return None
        q = m.call_name(node)
        if q in BN_CLASSES:
            return True, False
        if q in DROPOUT_CLASSES:
            return False, True
        if q == "copy.deepcopy" and node.args:
            vals = m.values(node.args[0], module_identity=True)
            res = [self._construction_facts(v.node, v.model, depth + 1) for v in vals]
            if not res or any(r is None for r in res):
                return None
            return any(r[0] for r in res), any(r[1] for r in res)  # type: ignore[index]
        if q and _TV_BN_RE.match(q):
            return True, q.rsplit(".", 1)[-1].startswith(("vgg", "mobilenet", "efficientnet", "googlenet", "inception"))
        if q == torch_api.SEQUENTIAL:
            bn = drop = False
            for a in node.args:
                f = self._construction_facts(a, m, depth + 1)
                if f is None:
                    if isinstance(a, ast.Call) and (m.call_name(a) or "").startswith("torch.nn."):
                        continue
                    return None
                bn, drop = bn or f[0], drop or f[1]
            return bn, drop
        if q and q.startswith("torch.nn.") and q[9:10].isupper():
            return False, False
        cls = m.local_class_of(node.func)
        if cls is None:
            external = m.external_class(node.func)  # a model class from another module of the project
            if external is None:
                return None
            m, cls = external
        if not m.is_nn_module(cls):
            return None
        return m.flow.class_facts(cls, m)

    def class_facts(self, cls, m: SemanticModel) -> tuple[bool, bool] | None:
        """Batch norm / dropout in a local module class: its layers, F.dropout, local submodules."""
        bn = drop = False
        for n in ast.walk(cls.node):
            if isinstance(n, ast.Call):
                q = m.call_name(n)
                if q in BN_CLASSES or (q and "batch_norm" in q):
                    bn = True
                elif q in DROPOUT_CLASSES or q in torch_api.DROPOUT_FUNCS:
                    drop = True
                elif q is None or not q.startswith("torch"):
                    sub = m.local_class_of(n.func)
                    if sub is not None and sub is not cls and m.is_nn_module(sub):
                        f = self.class_facts(sub, m) if sub.node is not cls.node else (False, False)
                        if f is None:
                            return None
                        bn, drop = bn or f[0], drop or f[1]
                    elif q is not None and not q.startswith(("builtins", "math")) and isinstance(parent(n), ast.Assign):
                        return None  # a layer built by something we cannot see (timm, another module)
        for b in m.base_classes(cls):
            f = self.class_facts(b, m)
            if f is None:
                return None
            bn, drop = bn or f[0], drop or f[1]
        return bn, drop

    # ------------------------------------------------------------------ evaluation
    @file_fact
    def eval_roots(self) -> list[tuple[str, FunctionNode | None, ast.AST]]:
        """(kind, function, root) of each evaluation: a function named like one, or a loop over an
        evaluation loader, that reaches no backward, step or ``autograd.grad`` and asks for no gradient."""
        m = self.model
        out: list[tuple[str, FunctionNode | None, ast.AST]] = []
        for f in (f for fs in m.functions.values() for f in fs):
            if self.is_eval_function(f) and not self._trains(f):
                out.append(("function", f, f))
        for lp in self.loops:
            if isinstance(lp, (ast.For, ast.AsyncFor)) and EVAL_LOADER_RE.search(text_of(lp.iter) or "") and not self._trains(lp):
                out.append(("loop", m.enclosing_function(lp), lp))
        return out

    def _trains(self, root: ast.AST) -> bool:
        return any(e.kind in (BACKWARD, STEP, GRAD) for e in self.events(root)) or self.kept("wants_grad", root, lambda: _wants_grad(root))

    def calls_in(self, root: ast.AST) -> list[ast.Call]:
        """The calls in a function's or loop's body (kept while the body is unchanged)."""
        return self.kept("calls_in", root, lambda: _calls_in(root.body))  # type: ignore[attr-defined]

    @file_fact
    def eval_regions(self) -> list[EvalRegion]:
        regions: list[EvalRegion] = []
        seen_forwards: set[int] = set()
        for kind, func, root in self.eval_roots:
            fw = [c for c in self.calls_in(root) if self.is_model_forward(c)]
            if fw:
                self._add_regions(regions, kind, func, fw, seen_forwards, within=root)
        for kind, func, root in self.called_eval_roots:
            # known by what they do: only the forwards that run under no_grad are its evaluation
            fw = [c for c in self.calls_in(root) if self.is_model_forward(c) and _result_used(c) and self.no_grad_at(c)]
            if fw:
                self._add_regions(regions, kind, func, fw, seen_forwards, within=root)
        return regions

    @file_fact
    def called_eval_roots(self) -> list[tuple[str, FunctionNode | None, ast.AST]]:
        """Evaluations known by what they do, whatever their names: a function that reaches no
        backward, step or ``autograd.grad``, runs a model forward under no_grad (its own, its
        decorator's or every caller's), and is called from a function or loop that trains
        (backward and step in one run of it)."""
        m = self.model
        named = {id(r) for _, _, r in self.eval_roots}
        out: list[tuple[str, FunctionNode | None, ast.AST]] = []
        for f in (f for fs in m.functions.values() for f in fs):
            if id(f) in named or f.name.startswith("__") or _HOOK_RE.match(f.name):
                continue
            cls = m.enclosing_class(f)
            if cls is not None and parent(f) is cls.node and (m.is_nn_module(cls) or "forward" in cls.methods):
                continue  # a method of the model itself: its callers decide its mode
            if self._is_test_file() and f.name.startswith("test"):
                continue
            if self.kept("called_eval_root", f, lambda: self._is_called_eval_root(f)):  # noqa: B023 (called at once)
                out.append(("function", f, f))
        return out

    def _is_called_eval_root(self, f: FunctionNode) -> bool:
        if not any(self.trains_around(c) for c in self.callers_of(f)):
            return False  # (asked first: it is cheap where nothing around trains)
        return not self._trains(f) and any(
            e.kind == FORWARD and _result_used(e.site) and (e.no_grad or self.no_grad_at(e.node)) for e in self.events(f)
        )

    def trains_around(self, call: ast.Call) -> bool:
        """``call`` runs in a function (or at the top level of a file) one run of which trains."""
        outer = self.model.enclosing_function(call)
        if not self.may_backward(outer if outer is not None else self.model.tree):
            return False
        evs = self.events(outer) if outer is not None else self._module_events()
        return self.is_training(evs)

    @file_fact
    def helper_eval_regions(self) -> list[EvalRegion]:
        """Evaluations whose forward runs in a helper of the file (``self._forward_pass(x)``):
        the region's forwards are the calls of the helpers, ``subjects`` names the model each
        runs, in the caller's words."""
        regions: list[EvalRegion] = []
        direct = {id(c) for r in self.eval_regions for c in r.forwards}
        seen: set[int] = set()
        for kind, func, root in [*self.eval_roots, *self.called_eval_roots]:
            sites: dict[int, tuple[ast.Call, str, ast.AST]] = {}
            managed = False  # a mode switch runs first (in a helper, ``test_epoch()`` calls ``model.eval()``)
            for e in self.events(root):
                managed = managed or e.kind in (EVAL, MODE)
                if e.kind == FORWARD and e.chain and not managed and e.subject and not e.subject.startswith("<") and id(e.site) not in direct:
                    sites.setdefault(id(e.site), (e.chain[0], e.subject, e.node))
            for c in self.calls_in(root):
                g = self.generates(c)
                if g is not None:
                    sites.setdefault(id(c), (c, g, c))
            if not sites:
                continue
            before = len(regions)
            self._add_regions(regions, kind, func, [c for c, _, _ in sites.values()], seen, within=root)
            for r in regions[before:]:
                r.subjects.update({id(c): sites[id(c)][1:] for c in r.forwards})
        return regions

    def after_eval_regions(self) -> list[EvalRegion]:
        """The statements after ``model.eval()`` in its block (until ``model.train()``) that run it."""
        out: list[EvalRegion] = []
        for n in self.nodes(ast.Expr):
            if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call) and isinstance(n.value.func, ast.Attribute) and n.value.func.attr in ("eval", "train"):
                out.extend(self.kept("after_eval", n, lambda: self._regions_after(n)))  # noqa: B023 (called at once)
        return out

    def _regions_after(self, n: ast.Expr) -> list[EvalRegion]:
        f = self.model.enclosing_function(n)
        if self._is_test_file() and f is not None and f.name.startswith("test"):
            return []  # a unit test: it runs the model however it needs to
        kind = self.classify(n.value, {})
        if kind is None or kind[0] != EVAL or kind[1] is None:
            return []
        subject = kind[1]
        p, fld = parent(n), getattr(n, "_tp_field", None)
        if isinstance(p, ast.Module):
            self.model.read_whole()  # the statements after it are the file's next top-level statements
        block = getattr(p, fld, None) if p is not None and fld else None
        if not isinstance(block, list):
            return []
        after: list[ast.stmt] = []
        for s in block[block.index(n) + 1:]:
            sk = self.classify(s.value, {}) if isinstance(s, ast.Expr) else None
            if sk is not None and sk[0] in (TRAIN, MODE):
                break
            after.append(s)
        fw = [c for s in after for c in _calls_in([s]) if self.is_model_forward(c) == subject]
        if not fw:
            return []
        for s in after:
            if _wants_grad(s) or any(e.kind in (BACKWARD, STEP, GRAD) for e in self.events(s)):
                return []
        regions: list[EvalRegion] = []
        self._add_regions(regions, "after-eval", self.model.enclosing_function(n), fw, set(), within=None, stmts=after)
        for r in regions:
            r.anchor = n.value
        return regions

    def _add_regions(self, regions, kind, func, forwards, seen, within, stmts=None) -> None:
        groups: dict[int, EvalRegion] = {}
        for c in sorted(forwards, key=pos):
            if id(c) in seen:
                continue
            seen.add(id(c))
            target = self._target(c, within, stmts)
            if target is None:
                continue
            g = groups.get(id(target))
            if g is None:
                g = groups[id(target)] = EvalRegion(kind, func, target)
                regions.append(g)
            g.forwards.append(c)

    def _target(self, call: ast.Call, within: ast.AST | None, stmts: list[ast.stmt] | None) -> ast.stmt | None:
        """The outermost loop around ``call`` inside the region (or its statement)."""
        best: ast.stmt | None = self.model.statement_of(call)
        for anc in ancestors(call):
            if anc is within or isinstance(anc, _SKIP_BODIES):
                break
            if isinstance(anc, LOOP_TYPES):
                best = anc
            if stmts is not None and any(anc is s for s in stmts):
                return anc if isinstance(anc, (*LOOP_TYPES, ast.With, ast.AsyncWith)) else best
        if within is not None and isinstance(within, LOOP_TYPES) and best is not None and not isinstance(best, LOOP_TYPES):
            return within
        return best

    def _is_test_file(self) -> bool:
        path = (self.model.path or "").replace("\\", "/")
        base = path.rsplit("/", 1)[-1]
        return bool(re.search(r"(^|_)(unit)?tests?(_|\.py$)", base)) or "/tests/" in path or base == "conftest.py"

    def is_eval_function(self, f: FunctionNode) -> bool:
        name = f.name
        if _HOOK_RE.match(name):
            return False
        tokens = set(name.lower().strip("_").split("_"))
        if not tokens & EVAL_NAME_TOKENS:
            return False
        if name.lstrip("_").startswith("test") and self._is_test_file():
            return False
        if name.startswith("test") and not any(isinstance(n, LOOP_TYPES + COMPREHENSION_TYPES) for n in ast.walk(f)):
            params = [a for a in (*f.args.posonlyargs, *f.args.args) if a.arg not in ("self", "cls")]
            if not params or name.startswith("test_"):
                return False  # a smoke test / unit test (``def test(): net = ResNet18(); net(torch.randn(...))``)
        cls = self.model.enclosing_class(f)
        if cls is not None and parent(f) is cls.node:
            if self.model.is_nn_module(cls) or "forward" in cls.methods:
                return False  # a method of the model itself (predict/inference helpers): used in training too
            base_names = self.model.base_names(cls)
            imported_base = any(
                q is not None and q not in ("object", "builtins.object") and self.model.local_class_of(b) is None
                for q, b in zip(base_names, cls.node.bases)
            ) or any(q is None for q in base_names)
            if imported_base and not _RUNNER_RE.search(cls.name):
                return False  # a subclass of something we cannot see: maybe a model (GaussianDiffusion)
        return True

    def eval_mode_before(self, node: ast.AST, subject: str, _depth: int = 0, _seen: frozenset = frozenset(), inside: ast.AST | None = None) -> bool:
        """Some ``.eval()`` / ``.train(False)`` (or a mode switch we cannot read) runs before
        ``node`` on every path, in its function (also through helpers) or in all of its callers."""
        func = self.model.enclosing_function(node)
        stmt = self.model.statement_of(node)
        for e in (self.events(func) if func is not None else self._module_events()):
            # Any mode switch before it, even under an ``if``: the author manages the mode here
            # (``if train: model.train() else: model.eval()``; MC dropout's deliberate ``train()``).
            if e.kind in (EVAL, MODE) and pos(e.site) < pos(stmt):
                return True
            if e.kind == TRAIN and inside is not None and pos(e.site) < pos(stmt) and any(a is inside for a in ancestors(e.site)):
                return True  # train() inside the evaluation itself: chosen on purpose
        if func is None or _depth >= MAX_CALLER_DEPTH or id(func) in _seen:
            return False
        calls = self.callers_of(func)
        if not calls:
            return False
        return all(self.eval_mode_before(c, subject, _depth + 1, _seen | {id(func)}) for c in calls)

    def _module_events(self) -> list[Event]:
        return self.model.remember(self._events_cache, "<module>", self._module_events_uncached)

    def _module_events_uncached(self) -> list[Event]:
        tree = self.model.tree  # a read of the whole file
        out: list[Event] = []
        for stmt in tree.body:
            # Each top-level statement's events (with the helpers it calls) are kept across the
            # document's versions while nothing they read changes; in source order, statement
            # after statement, they are the module's.
            out.extend(self.kept("statement_events", stmt, lambda: self._statement_events(stmt)))  # noqa: B023 (called at once)
        return out

    def _statement_events(self, stmt: ast.stmt) -> list[Event]:
        out: list[Event] = []
        self._collect([stmt], stmt, (), {}, False, frozenset(), (), False, out, set())
        out.sort(key=lambda e: e.order)
        return out

    def mode_switches(self, subject: str) -> list[ast.Call]:
        """Every ``subject.eval()`` / ``subject.train(...)`` in the file."""
        out = []
        for n in self.nodes(ast.Call):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("eval", "train"):
                k = self.classify(n, {})
                if k is not None and k[0] in (EVAL, TRAIN, MODE) and k[1] == subject:
                    out.append(n)
        return out


# ---------------------------------------------------------------------- helpers
def _subst(t: str | None, subst: dict[str, str]) -> str | None:
    if t is None or not subst:
        return t
    head, dot, rest = t.partition(".")
    if head in subst:
        return subst[head] + dot + rest
    return t


def _param_map(f: FunctionNode, call: ast.Call, subst: dict[str, str], m: SemanticModel) -> dict[str, str]:
    """Parameter name -> argument text at ``call`` (``self`` -> the receiver for methods)."""
    out: dict[str, str] = {}
    params = [a.arg for a in (*f.args.posonlyargs, *f.args.args)]
    args = list(call.args)
    is_method = isinstance(parent(f), ast.ClassDef) and params and not any(
        isinstance(d, ast.Name) and d.id == "staticmethod" for d in f.decorator_list
    )
    if is_method:
        recv = call.func.value if isinstance(call.func, ast.Attribute) else None
        t = text_of(recv)
        if t is not None:
            out[params[0]] = _subst(t, subst) or t
        params = params[1:]
    # Any other name the callee uses is not the caller's: shadow them.
    for p_name, a in zip(params, args):
        if isinstance(a, ast.Starred):
            break
        t = text_of(a)
        if t is not None and isinstance(a, (ast.Name, ast.Attribute, ast.Subscript)):
            out[p_name] = _subst(t, subst) or t
    for k in call.keywords:
        if k.arg and isinstance(k.value, (ast.Name, ast.Attribute, ast.Subscript)):
            t = text_of(k.value)
            if t is not None:
                out[k.arg] = _subst(t, subst) or t
    # A parameter we cannot name in the caller's words must not collide with a caller's variable.
    for a in (*f.args.posonlyargs, *f.args.args, *f.args.kwonlyargs):
        out.setdefault(a.arg, f"<{a.arg} of {f.name}()>")
    return out


def _walk_ordered(stmt: ast.AST) -> list[tuple[ast.AST, bool, frozenset]]:
    """Calls and ``x.grad = None`` assignments in ``stmt``, in source order, with whether each
    is conditional and the (if, field) branches above it. Nested defs and classes are skipped."""
    stack: list[tuple[ast.AST, bool, frozenset]] = [(stmt, False, frozenset())]
    out: list[tuple[ast.AST, bool, frozenset]] = []
    pop, push = stack.pop, stack.append
    while stack:
        node, cond, br = pop()
        tp = type(node)
        if tp in _SKIP_BODY_TYPES:
            continue
        if tp in _EVENT_NODE_TYPES:
            out.append((node, cond, br))
        arms = _BRANCH_FIELDS.get(tp)
        conditional = _CONDITIONAL_FIELDS.get(tp)
        for fld in child_fields(tp):
            value = getattr(node, fld, None)
            if value is None:
                continue
            c, b = cond, br
            if arms is not None and fld in arms:
                c, b = True, br | {(id(node), fld)}
            elif conditional is not None and fld in conditional:
                c = True
            if type(value) is list:
                if tp is ast.BoolOp:  # every operand after the first may not run
                    for i, ch in enumerate(value):
                        push((ch, cond or i > 0, br))
                elif tp is _MATCH and fld == "cases":  # each case is a branch of its own
                    for ch in value:
                        push((ch, True, br | {(id(node), id(ch))}))
                else:
                    for ch in value:
                        if isinstance(ch, ast.AST):
                            push((ch, c, b))
            elif isinstance(value, ast.AST):
                push((value, c, b))
    out.sort(key=lambda t: pos(t[0]))
    return out


_SKIP_BODY_TYPES = frozenset({*FUNCTION_TYPES, ast.ClassDef, ast.Lambda})
_EVENT_NODE_TYPES = frozenset({ast.Call, ast.Assign, ast.AugAssign})
_MATCH = getattr(ast, "Match", None)
# Fields that are arms of a branch (recorded, so that events in different arms are told apart).
_BRANCH_FIELDS = {ast.If: ("body", "orelse"), ast.IfExp: ("body", "orelse"), ast.Try: ("handlers", "orelse")}
# Fields that may not run (or run any number of times), with no arm to record.
_CONDITIONAL_FIELDS = {
    ast.While: ("body",),
    **{t: ("elt", "key", "value") for t in (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)},
}


COMPREHENSION_TYPES = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _calls_in(stmts: list[ast.stmt]) -> list[ast.Call]:
    out = []
    stack: list[ast.AST] = list(stmts)
    while stack:
        n = stack.pop()
        if isinstance(n, _SKIP_BODIES):
            continue
        if isinstance(n, ast.Call):
            out.append(n)
        stack.extend(ast.iter_child_nodes(n))
    return sorted(out, key=pos)


def _direct_calls(f: FunctionNode) -> list[ast.Call]:
    """The calls whose innermost enclosing function is ``f`` (its decorators and defaults,
    lambdas and classes in it included; nested functions, and their decorators, not)."""
    out: list[ast.Call] = []
    stack: list[ast.AST] = list(ast.iter_child_nodes(f))
    while stack:
        n = stack.pop()
        if isinstance(n, FUNCTION_TYPES):
            continue
        if isinstance(n, ast.Call) and isinstance(n.func, (ast.Name, ast.Attribute)):
            out.append(n)
        stack.extend(ast.iter_child_nodes(n))
    return out


def _wants_grad(root: ast.AST) -> bool:
    """Code that asks for gradients on purpose: saliency maps, adversarial examples, attributions."""
    body = root.body if isinstance(root, (*LOOP_TYPES, *FUNCTION_TYPES)) else [root]
    stack: list[ast.AST] = list(body)
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Call):
            f = n.func
            if isinstance(f, ast.Attribute) and f.attr in ("requires_grad_", "retain_grad", "enable_grad", "set_grad_enabled"):
                return True
            if isinstance(f, ast.Attribute) and f.attr in ("backward", "grad"):
                return True
            if any(k.arg == "requires_grad" and not is_false(k.value) for k in n.keywords):
                return True
        elif isinstance(n, ast.Attribute) and n.attr in ("grad", "requires_grad") and isinstance(getattr(n, "ctx", None), (ast.Load, ast.Store)):
            return True
        elif isinstance(n, (ast.With, ast.AsyncWith)) and any("enable_grad" in (text_of(i.context_expr) or "") for i in n.items):
            return True
        stack.extend(ast.iter_child_nodes(n))
    return False


_BACKWARD_NAMES = ("backward", "manual_backward")


def _trains_by_name(name: str) -> bool:
    tokens = set(name.lower().split("_"))
    return "train" in tokens or ("training" in tokens and "mode" in tokens)


def bound_inside(model: SemanticModel, subject: str | None, at: ast.AST, block: ast.AST) -> bool:
    """The first name of ``subject`` (``model`` of ``model.encoder``), as seen at ``at``, is bound
    inside ``block``, or ``subject`` does not start with a name: a fix inserted before ``block``
    that names it would not see it bound."""
    root = (subject or "").split(".", 1)[0].split("[", 1)[0]
    if not root.isidentifier():
        return True
    return any(any(a is block for a in ancestors(b.stmt)) for b in model.lookup(root, at))


def _result_used(call: ast.AST) -> bool:
    """The value of ``call`` is kept or passed on (not a bare statement ``model(x)``, which runs
    the model for its side effects: re-estimating batch-norm statistics, warming up)."""
    return not isinstance(parent(call), ast.Expr)


def _in_iter(x: ast.AST, loop: ast.AST) -> bool:
    it = getattr(loop, "iter", None) or getattr(loop, "test", None)
    return it is not None and (x is it or any(a is it for a in ancestors(x)))


def _same_block_before(a: ast.stmt, b: ast.AST) -> bool:
    """``a`` is an earlier statement of a block that (transitively) contains ``b``."""
    p = parent(a)
    fld = getattr(a, "_tp_field", None)
    child = b
    for anc in ancestors(b):
        if anc is p and getattr(child, "_tp_field", None) == fld:
            return pos(a) < pos(b)
        child = anc
    return False


def flow_of(model: SemanticModel) -> Flow:
    """The loop model of ``model``'s file, built on first use and cached on the model."""
    return model.flow


# ---------------------------------------------------------------------- autograd graphs
_NO_GRAPH_METHODS = {
    "detach", "item", "numpy", "tolist", "size", "dim", "numel", "data",
    # integer / boolean results carry no graph
    "argmax", "argmin", "argsort", "long", "int", "bool", "byte", "eq", "ne", "gt", "lt", "ge", "le", "sign", "nonzero",
}


@dataclass
class GraphRoots:
    """The local bindings holding graph-carrying tensors that a loss depends on."""

    stmts: dict[int, ast.AST] = field(default_factory=dict)  # id(binding stmt) -> stmt
    opaque: bool = False  # depends on something we cannot follow (a parameter, self.x, a global)
    loop_carried: bool = False  # reads a value bound later in an enclosing loop (previous iteration)
    carrying_loops: list = field(default_factory=list)  # the loops through whose iterations such values pass

    def carried_across(self, node: ast.AST) -> bool:
        """A value of the previous iteration of a loop around ``node`` flows into the graph."""
        return any(any(a is lp for a in ancestors(node)) for lp in self.carrying_loops)


def graph_roots(flow: Flow, expr: ast.AST, depth: int = 0, acc: GraphRoots | None = None, seen: set | None = None) -> GraphRoots:
    """The graph roots of ``expr`` (cached; the answer is shared: do not change it)."""
    if depth == 0 and acc is None and seen is None:
        return flow.kept("graph_roots", expr, lambda: _graph_roots(flow, expr, 0, None, None))
    return _graph_roots(flow, expr, depth, acc, seen)


def _graph_roots(flow: Flow, expr: ast.AST, depth: int, acc: GraphRoots | None, seen: set | None) -> GraphRoots:
    m = flow.model
    acc = acc if acc is not None else GraphRoots()
    seen = seen if seen is not None else set()
    if depth > 8:
        acc.opaque = True
        return acc
    stack: list[ast.AST] = [expr]
    while stack:
        n = stack.pop()
        if isinstance(n, _SKIP_BODIES):
            continue
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _NO_GRAPH_METHODS:
            continue
        if isinstance(n, ast.Attribute) and n.attr == "data":
            continue
        if isinstance(n, ast.Compare):
            continue  # a boolean tensor: no graph
        if isinstance(n, ast.Attribute) and m._is_self(n.value) and isinstance(n.ctx, ast.Load):
            if not (isinstance(parent(n), ast.Call) and parent(n).func is n):
                acc.opaque = True
            continue
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            bindings = m.lookup(n.id, n)
            if not bindings:
                acc.opaque = True
            loops = m.enclosing_loops(n)
            if loops:
                # Bound earlier in this iteration: the later bindings of the loop are last iteration's values.
                earlier = [b for b in bindings if b.visible_from <= pos(n) and any(a is loops[0] for a in ancestors(b.stmt))]
                if earlier:
                    bindings = [b for b in bindings if b.visible_from <= pos(n)]
            for b in bindings:
                if b.kind in ("def", "class", "import"):
                    continue
                if b.kind == "param":
                    if n is expr and depth == 0:
                        acc.opaque = True  # the loss itself comes from the caller
                    continue
                if b.kind in ("with", "other"):
                    acc.opaque = True
                    continue
                if b.kind == "for":
                    continue  # a batch from a loader: a leaf
                if loops and b.visible_from > pos(n) and any(any(a is lp for a in ancestors(b.stmt)) for lp in loops):
                    acc.loop_carried = True
                    acc.carrying_loops.extend(lp for lp in loops if any(a is lp for a in ancestors(b.stmt)))
                if id(b.stmt) in seen:
                    continue
                seen.add(id(b.stmt))
                if m.under_no_grad(b.stmt):
                    continue
                value = b.value if b.value is not None else getattr(b.stmt, "value", None)
                if value is None:
                    continue
                if _has_forward(flow, value):
                    acc.stmts[id(b.stmt)] = b.stmt
                before = len(acc.stmts)
                graph_roots(flow, value, depth + 1, acc, seen)
                if len(acc.stmts) > before:
                    acc.stmts[id(b.stmt)] = b.stmt
            continue
        stack.extend(ast.iter_child_nodes(n))
    return acc


def _has_forward(flow: Flow, expr: ast.AST) -> bool:
    for c in _calls_in([expr]) if not isinstance(expr, ast.Call) else [expr, *_calls_in([expr])]:
        if isinstance(c.func, ast.Attribute) and c.func.attr in _NO_GRAPH_METHODS:
            continue
        if flow.is_model_forward(c) or flow.is_layer_call(c):
            return True
    return False
