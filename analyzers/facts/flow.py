"""The loop model: what runs in one iteration of a training or evaluation loop, in order.

Built lazily from the :class:`SemanticModel` (``flow_of(model)``), once per file, only when a rule
asks. It answers:

- which calls of this file a call reaches (``train_one_epoch(...)``, ``self.validate()``,
  ``obj.method()`` on an instance of a local class), and who calls each function;
- the ordered *events* of one iteration of a loop (or of one call of a function), following
  local helpers to a bounded depth: ``backward``, optimizer ``step``, ``zero_grad``, ``eval`` /
  ``train`` mode switches, ``autograd.grad``; each function's own events (its *frame*) are
  collected once and composed into its callers';
- the grad mode a node runs in (off, on, or unknown): lexically, computed by
  semantic/grad_mode.py from the ``with`` blocks and decorators around it (the innermost
  winning; a project's own context managers and decorators read from their bodies), and where
  those leave it to the caller, from every caller of its function in this file;
- which calls are a model's forward: a call of a value proven to be an nn.Module instance (by
  construction, annotation, call sites or protocol: ``holds_module``), never by its name;
- which code is an evaluation, by what it does: a function or loop that runs a forward, reaches
  no ``backward`` / ``step``, and measures or keeps the outputs (``.item()``, ``argmax``, a
  comparison, ``+=`` across iterations), or iterates held-out data by construction
  (``train=False``, ``split="val"``); the code after ``model.eval()``; a function that training
  code calls and that runs the model under no_grad.

Everything is conservative: where the chain of evidence breaks, the answer is "unknown" and the
rules stay silent.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

from ..catalogue import torch_api
from ..semantic import grad_mode
from ..semantic.build import load_module_model
from ..semantic.callsites import UNKNOWN, argument_for, call_site_arguments, calls_named, calls_named_within, calls_passing, constructor_calls, inherited_call_sites, parameter_slot
from ..semantic.model import FUNCTION_TYPES, SemanticModel, Value
from ..semantic.project import project_function as _project_function
from ..syntax.tree import ancestors, child_fields, end_pos, parent, pos, top_statement

MAX_INLINE_DEPTH = 4  # helper calls followed below a loop
MAX_CALLER_DEPTH = 4  # callers followed up when asking "do all callers ...?"

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
LOOP_TYPES = (ast.For, ast.AsyncFor, ast.While)
_SKIP_BODIES = (*FUNCTION_TYPES, ast.ClassDef, ast.Lambda)

BACKWARD, STEP, ZERO_GRAD, EVAL, TRAIN, MODE, GRAD, FORWARD = "backward", "step", "zero_grad", "eval", "train", "mode", "grad", "forward"



# Node types the loop model asks the engine's traversal to collect (see Flow.nodes).
FLOW_NODE_TYPES = frozenset({
    ast.Call, ast.Expr, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Assign,
    ast.FunctionDef, ast.AsyncFunctionDef, ast.If, ast.Attribute,
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
    grad: frozenset  # the grad modes it may run in along the chain (semantic/grad_mode.py; INHERIT: the frame's caller's)
    loss: ast.expr | None = None  # for backward: the tensor it is called on

    @property
    def no_grad(self) -> bool:
        """Gradients are off at it, by the blocks and decorators along the chain."""
        return self.grad == grad_mode.OFF_ONLY

    @property
    def grad_not_off(self) -> bool:
        """Nothing along the chain turns gradients off or hides the mode."""
        return grad_mode.not_off(self.grad)

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
    every read of it is recorded as a read of the whole file (analyzers/syntax/reads.py)."""

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
        self._caches: defaultdict[str, dict] = defaultdict(dict)  # this version's answers, by kind (kept)
        self._framing: set[int] = set()  # the frames being made, one inside another (frame)

    def release(self) -> None:
        """Break the caches' cycles (called by ``SemanticModel.release``)."""
        for value in list(vars(self).values()):
            if isinstance(value, (dict, list, set)):
                value.clear()
        vars(self).clear()

    def kept(self, kind: str, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``'s answer for ``key`` (a node or a tuple of nodes), cached for this
        version and kept for the document's next ones while nothing it read changes."""
        return self.model.remember_across_versions(self._caches[kind], kind, key, compute)

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
    def grad_mode_at(self, node: ast.AST) -> frozenset[str]:
        """The grad modes ``node`` may run in: ``{OFF}``, ``{ON}``, or more than one (``UNKNOWN``
        among them where something around it is opaque). Lexically (``SemanticModel.grad_states_at``:
        the ``with`` blocks and decorators around it, the innermost winning), and where those
        leave it to the caller, from every call of its function in this file."""
        # several rules ask of the same forwards: kept per node
        return self.kept("grad_mode_at", node, lambda: self._grad_mode_at(node, 0, frozenset()))

    def no_grad_at(self, node: ast.AST) -> bool:
        """Gradients are off at ``node``, on every path to it."""
        return self.grad_mode_at(node) == grad_mode.OFF_ONLY

    def grad_on_at(self, node: ast.AST) -> bool:
        """Gradients are on at ``node``: nothing around it turns them off or hides its mode (a
        ``with`` of a context nothing describes), and it runs with them on from a caller."""
        return self.grad_mode_at(node) == grad_mode.ON_ONLY

    def _grad_mode_at(self, node: ast.AST, _depth: int, _seen: frozenset) -> frozenset[str]:
        lexical = self.model.grad_states_at(node)
        if grad_mode.INHERIT not in lexical:
            return lexical
        return (lexical - grad_mode.UNCHANGED) | self._callers_mode(node, _depth, _seen)

    def _callers_mode(self, node: ast.AST, _depth: int, _seen: frozenset) -> frozenset[str]:
        """The grad mode the callers of ``node``'s function run it in: off when every call of
        this file is under no_grad, on when one call runs with gradients on, unknown otherwise;
        on (the default) when this file does not call it."""
        func = self.model.enclosing_function(node)
        if func is None or _depth >= MAX_CALLER_DEPTH or id(func) in _seen:
            return grad_mode.ON_ONLY
        seen = _seen | {id(func)}
        # Passed as a callback (``run_eval(step)``): where the receiving function of this file calls it.
        calls = self.callers_of(func) or self.callback_calls(func)
        if not calls:
            return grad_mode.ON_ONLY
        modes = [self._grad_mode_at(c, _depth + 1, seen) for c in calls]
        if all(md == grad_mode.OFF_ONLY for md in modes):
            return grad_mode.OFF_ONLY
        if any(md == grad_mode.ON_ONLY for md in modes):
            return grad_mode.ON_ONLY
        return grad_mode.NOT_KNOWN

    def callback_calls(self, func: FunctionNode) -> list[ast.Call]:
        """Where ``func``, handed as an argument to a function of this file, is called there
        (``def run_eval(fn): ... fn(batch)``). [] when any hand-over goes somewhere we cannot
        follow (a library, ``*args``, a parameter stored away)."""
        m = self.model
        m.read_whole()  # every call of the file is looked at
        out: list[ast.Call] = []
        for site in calls_passing(m, func.name):  # (the others pass nothing that names it)
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

    # ------------------------------------------------------------------ events
    def classify(self, node: ast.AST, subst: dict[str, str]) -> tuple[str, str | None, ast.expr | None] | None:
        """(kind, subject, loss) for a call or statement that matters to a training loop.

        What a receiver *is* (an optimizer, a gradient scaler, an accelerator) is computed
        from its values (:meth:`object_fact`), never read from its name; a function of another
        module of the project is read for what it does (:meth:`project_effect`)."""
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
        if torch_api.in_distributed(name):
            return None  # distributed autograd: gradients live in a per-iteration context
        if name in torch_api.BACKWARD_CALLS:
            return BACKWARD, None, node.args[0] if node.args else keyword(node, "tensors")
        if name in torch_api.GRAD_CALLS:
            return GRAD, None, node.args[0] if node.args else keyword(node, "outputs")
        if not isinstance(func, ast.Attribute) or self._is_module_path(func):
            return self._call_effect(node, name, subst)
        attr = func.attr
        recv = func.value
        if attr == "backward":
            if isinstance(recv, ast.Call) and isinstance(recv.func, ast.Attribute) and recv.func.attr == "scale" and recv.args:
                return BACKWARD, None, recv.args[0]
            if node.args and not isinstance(node.args[0], ast.Starred):
                # x.backward(y): an accelerator's backward of the loss y, or a tensor's backward
                # with the gradient y; ``self`` (a LightningModule's backward) is no tensor
                engine = True if self.model._is_self(recv) else self.object_fact(recv, ACCELERATOR)
                if engine is True:
                    return BACKWARD, None, node.args[0]  # accelerator.backward(loss), fabric.backward(loss)
                if engine is None:
                    return BACKWARD, None, None  # x.backward(y): x's loss or x's gradient: cannot tell which
            return BACKWARD, None, recv
        if attr == "manual_backward" and node.args:
            return BACKWARD, None, node.args[0]
        if attr == "optimizer_step" and node.args:
            return STEP, _subst(text_of(node.args[0]), subst), None  # accelerator / Lightning hook
        if attr == "step":
            return self._step(node, recv, subst)
        if attr == "zero_grad":
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

    def _classified(self, node: ast.AST, subst: dict[str, str]) -> tuple[str, str | None, ast.expr | None] | None:
        """``classify(node, subst)``, from ``classify(node, {})`` kept across versions: the
        substitution only rewrites the subject's text (``_subst``), never what kind it is."""
        raw = self.kept("classify", node, lambda: self.classify(node, {}))
        if raw is None or not subst or raw[1] is None:
            return raw
        return raw[0], _subst(raw[1], subst), raw[2]

    def _step(self, node: ast.Call, recv: ast.expr, subst: dict[str, str]) -> tuple[str, str | None, ast.expr | None] | None:
        """``x.step(...)``: an optimizer's step, a scaler's or engine's step of the optimizer it
        is handed, or something else (a scheduler, an environment, a method of the project)."""
        opt = self.object_fact(recv, OPTIMIZER)
        if node.args or node.keywords:
            first = node.args[0] if node.args else None
            if first is not None and not isinstance(first, ast.Starred):
                if self.object_fact(recv, SCALER) is True or self.object_fact(first, OPTIMIZER) is True:
                    return STEP, _subst(text_of(first), subst), None  # scaler.step(optimizer)
            if opt is True:
                return STEP, _subst(text_of(recv), subst), None  # optimizer.step(closure)
            return None  # env.step(action), scheduler.step(metric), an unknown step with arguments
        if opt is True:
            return STEP, _subst(text_of(recv), subst), None
        if opt is False or self.callee(node) is not None:
            return None  # a scheduler, a profiler, a method of this file (followed into)
        if self.object_fact(recv, ACCELERATOR) is not None:
            return None  # an engine whose step() also clears (deepspeed), or something proven else
        # Nothing says what it is: a bare ``step()`` on an object we cannot see. It counts as a
        # step of the loop (``state.step_known`` tells the rules it is not proven an optimizer).
        return STEP, _subst(text_of(recv), subst), None

    def _call_effect(self, node: ast.Call, name: str | None, subst: dict[str, str]) -> tuple[str, str | None, ast.expr | None] | None:
        effects = self.call_effects(node, name, subst)
        return effects[0] if effects else None

    def call_effects(self, node: ast.Call, name: str | None, subst: dict[str, str]) -> list[tuple[str, str | None, ast.expr | None]]:
        """A call of a function (not a method): what a function of another module of the
        project does to the objects handed to it (clears gradients, switches a mode), read from
        its body; for a function nothing can read, that the mode of a module handed to it is
        unknown (MODE). [] for a function of this file (the events follow its body)."""
        raw = self.kept("call_effects", node, lambda: self._call_effects(node, name))
        return [(kind, _subst(t, subst) if t is not None else None, None) for kind, t in raw]

    def _call_effects(self, node: ast.Call, name: str | None) -> tuple[tuple[str, str | None], ...]:
        args = [*node.args, *(k.value for k in node.keywords)]
        if not any(isinstance(a, (ast.Name, ast.Attribute, ast.Subscript)) for a in args):
            return ()  # nothing of the caller's is handed over
        if name is not None and (name.startswith((torch_api.TORCH, torch_api.TORCHVISION, "builtins.")) or name.split(".")[0] in torch_api.NO_MODEL_PACKAGES):
            return ()  # a library we know: no training-state effect on what it is handed
        if isinstance(node.func, ast.Name) and self.model.is_builtin(node.func):
            return ()  # print(model), len(loader)
        if self.callee(node) is not None:
            return ()
        handed = [a for a in args if isinstance(a, (ast.Name, ast.Attribute)) and self._holds_state(a)]
        if not handed:
            return ()  # nothing handed over has gradients or a mode: no other module need be read
        effects = self.project_effect(node)
        if effects is None:
            effects = self.callback_effect(node)
        if effects is not None:
            out: list[tuple[str, str | None]] = []
            for kind, index, rest in effects:
                arg = _argument_at(node, index)
                t = text_of(arg) if isinstance(arg, (ast.Name, ast.Attribute, ast.Subscript)) else None
                out.append((kind, t + rest if t is not None else None))
            return tuple(out)
        if isinstance(node.func, ast.Attribute) and name is None:
            return ()  # a method of something we cannot see
        for a in handed:
            if self.methods_called_on(a) & (_MODULE_METHODS | {"__call__"}):
                # set_train_mode(model), an imported train_one_epoch(model, ...): a module handed
                # to code nothing can read, which may switch its mode
                return ((MODE, text_of(a)),)
        return ()

    def _holds_state(self, expr: ast.AST) -> bool:
        """``expr`` holds something whose gradients or mode the rules track, by what this
        top-level statement does with it: a module (``model(x)``, ``model.parameters()``,
        ``model.eval()``) or an optimizer (``opt.step()``, ``opt.zero_grad()``). (An optimizer
        handed to a function is also read by ``state.opaque_use``.)"""
        return bool(self.methods_called_on(expr) & _STATE_METHODS)

    def _is_module_path(self, func: ast.Attribute) -> bool:
        """``utils.tidy`` / ``pkg.helpers.tidy``: a function of an imported module."""
        return _imported_path(self.model, func)

    # ------------------------------------------------------------------ optimizers, scalers, accelerators
    def object_fact(self, expr: ast.AST, kind: str) -> bool | None:
        """Whether ``expr`` holds an object of ``kind`` (OPTIMIZER, SCALER, ACCELERATOR): True
        when every value it may hold is one, False when proven something else, None when
        unknown. Computed from its values: constructions (``torch.optim.X(...)``, the
        catalogue's factories and classes), assignments, ``self`` attributes, returns, tuples
        unpacked (``accelerator.prepare``, ``deepspeed.initialize``), parameters followed to
        their call sites; failing that, by protocol: an object on which both ``zero_grad()``
        and ``step()`` are called is an optimizer, one whose ``scale()`` is called a scaler,
        one whose ``prepare()``/``setup()`` is called an accelerator."""
        return self.kept("object_fact_" + kind, expr, lambda: self._object_fact(expr, kind, 0))

    def _object_fact(self, expr: ast.AST, kind: str, depth: int) -> bool | None:
        m = self.model
        if depth > MAX_OBJECT_DEPTH:
            return None
        vals = m.values(expr)
        answers = [self._value_fact(v, kind, depth) for v in vals if not _is_none(v.node)]
        answer = _all_agree(answers)
        if answer is None and depth == 0:
            answer = self._protocol(expr, kind)
        return answer

    def _value_fact(self, v: Value, kind: str, depth: int) -> bool | None:
        node, m = v.node, v.model
        if isinstance(node, ast.Constant) or isinstance(node, (ast.List, ast.Tuple, ast.Dict, ast.BinOp, ast.Compare, ast.JoinedStr, ast.Lambda)):
            return False
        if isinstance(node, ast.arg):
            return self._param_fact(node, m, kind, depth)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            return self._unpacked_fact(node, m, kind, depth)
        if isinstance(node, ast.Call):
            return self._construction_fact(node, m, kind, depth)
        return None

    def _construction_fact(self, call: ast.Call, m: SemanticModel, kind: str, depth: int) -> bool | None:
        fl = flow_of(m)
        if fl.is_model_forward(call) is not None or fl.is_layer_call(call):
            return False  # the output of a forward: a tensor
        q = m.call_name(call)
        if q is not None:
            if _is_kind(q, kind):
                return True
            if any(_is_kind(q, k) for k in OBJECT_KINDS if k != kind) or q in torch_api.LR_SCHEDULER_MAKERS:
                return False
            if q.split(".")[0] in ("torch", "torchvision", "builtins") or q.split(".")[0] in torch_api.NO_MODEL_PACKAGES:
                return False  # some other object of a library we know
        f = call.func
        if isinstance(f, ast.Attribute) and f.attr in torch_api.ACCELERATOR_WRAPPING_METHODS and len(call.args) == 1:
            if flow_of(m)._object_fact(f.value, ACCELERATOR, depth + 1) is True:
                return flow_of(m)._object_fact(call.args[0], kind, depth + 1)  # opt = accelerator.prepare(opt)
        if isinstance(f, ast.Attribute) and f.attr == "optimizers" and m._is_self(f.value) and kind == OPTIMIZER:
            cls = m.enclosing_class(call)
            if cls is not None and any(b in torch_api.MODULE_BASES and "lightning" in b for b in _all_base_names(m, cls)):
                return True  # a LightningModule's self.optimizers()
        cls = m.local_class_of(f)
        if cls is not None:
            return self._class_fact(cls, m, kind, local=True)
        if q is not None:
            external = m.external_class(f)
            if external is not None:
                return self._class_fact(external[1], external[0], kind, local=False)
        if q is not None:
            found = self._project_function(m, f)
            if found is not None:
                other, fn = found
                rets = other.function_returns(fn)
                return _all_agree([flow_of(other)._value_fact(r, kind, depth + 1) for r in (x for e in rets for x in other.values(e)) if not _is_none(r.node)]) if rets else False
        return None

    def _class_fact(self, cls, m: SemanticModel, kind: str, local: bool) -> bool:
        """An instance of a class of the project: an optimizer when it subclasses one; one of
        another module also when its ``step()`` steps an optimizer and clears nothing (a
        wrapper: ``NoamOpt``). Otherwise something else (the step of a class of this file is
        followed into by the events: what it steps and clears is seen there)."""
        bases = _all_base_names(m, cls)
        if kind == OPTIMIZER:
            if bases & torch_api.OPTIMIZER_BASES:
                return True
            step = m.find_method(cls, "step")
            if not local and step is not None:
                kinds = {e.kind for e in flow_of(m).events(step)}
                return STEP in kinds and ZERO_GRAD not in kinds
            return False
        if kind == ACCELERATOR:
            return bool(bases & torch_api.ACCELERATORS)
        return bool(bases & torch_api.GRAD_SCALERS)

    def _param_fact(self, param: ast.arg, m: SemanticModel, kind: str, depth: int) -> bool | None:
        """A parameter: what every call site of its function in the file passes (constructor
        calls of a class included, for ``__init__``); unknown without call sites."""
        sites = _param_sites(m, param)
        if not sites:
            return None
        return _all_agree([flow_of(sm)._object_fact(arg, kind, depth + 1) for sm, arg in sites])

    def _unpacked_fact(self, target: ast.Name, m: SemanticModel, kind: str, depth: int) -> bool | None:
        """``engine, opt, _, _ = deepspeed.initialize(...)``; ``model, opt = accelerator.prepare(model, opt)``."""
        tup = parent(target)
        stmt = parent(tup) if isinstance(tup, (ast.Tuple, ast.List)) else None
        if not isinstance(stmt, ast.Assign) or not isinstance(stmt.value, ast.Call):
            return None
        i = tup.elts.index(target)  # type: ignore[union-attr]
        call = stmt.value
        q = m.call_name(call)
        if q in torch_api.ACCELERATOR_TUPLE_MAKERS:
            return {0: kind == ACCELERATOR, 1: kind == OPTIMIZER}.get(i)
        f = call.func
        if isinstance(f, ast.Attribute) and f.attr in torch_api.ACCELERATOR_WRAPPING_METHODS and i < len(call.args):
            if not any(isinstance(a, ast.Starred) for a in call.args) and flow_of(m)._object_fact(f.value, ACCELERATOR, depth + 1) is True:
                return flow_of(m)._object_fact(call.args[i], kind, depth + 1)
        return None

    def _protocol(self, expr: ast.AST, kind: str) -> bool | None:
        """The methods called on the same object as ``expr`` within its top-level statement."""
        methods = self.methods_called_on(expr)
        if kind == OPTIMIZER:
            return True if {"zero_grad", "step"} <= methods else None
        if kind == SCALER:
            return True if "scale" in methods else None  # scaler.scale(loss).backward()
        if methods & torch_api.ACCELERATOR_WRAPPING_METHODS or {"step", "backward/1"} <= methods:
            return True  # accelerator.prepare(...), fabric.setup(...); engine.backward(loss) and engine.step()
        return None

    def methods_called_on(self, expr: ast.AST) -> set[str]:
        """Names of the methods (of ``_PROTOCOL_METHODS``) called, in the top-level statement
        that holds ``expr``, on something that is the same object: the same values (a
        parameter, a construction), or, where the values cannot be seen, the same expression in
        the same class (``self.opt``) or function."""
        mine = self._atoms(expr)
        if not mine:
            return set()
        index = self._protocol_index(top_statement(expr))
        out: set[str] = set()
        for atom in mine:
            out |= index.get(atom, set())
        return out

    def _protocol_index(self, top: ast.AST) -> dict:
        """For one top-level statement: each object atom -> the protocol methods called on it."""
        return self.kept("protocol_index", top, lambda: self._build_protocol_index(top))

    def _build_protocol_index(self, top: ast.AST) -> dict:
        index: dict = {}
        for n in self.model.nodes_in_statement(top, ast.Call):  # (the traversal's calls of it: no walk)
            f = n.func
            if isinstance(f, ast.Attribute) and f.attr in _PROTOCOL_METHODS:
                what, target = f.attr + ("/1" if f.attr == "backward" and n.args else ""), f.value
            elif (isinstance(f, ast.Name) and self._variable(f)) or (isinstance(f, ast.Attribute) and self.model._is_self(f.value)):
                what, target = "__call__", f  # called like a module's forward: model(x)
            else:
                continue
            for atom in self._atoms(target):
                index.setdefault(atom, set()).add(what)
        return index

    def identity_atoms(self, expr: ast.AST) -> frozenset:
        """What object ``expr`` is: the ids of the nodes that may have made it (a construction, a
        parameter), or, for what cannot be seen through, ``("text", owner, text)``."""
        return self._atoms(expr)

    def _variable(self, name: ast.Name) -> bool:
        """A name bound by an assignment or a parameter (not a def, class, import or builtin)."""
        bindings = self.model.lookup(name.id, name)
        return bool(bindings) and not any(b.kind in ("def", "class", "import") for b in bindings)

    def _atoms(self, expr: ast.AST) -> frozenset:
        if not isinstance(expr, (ast.Name, ast.Attribute)):
            return frozenset()
        return self.kept("atoms", expr, lambda: self._atoms_uncached(expr))

    def _atoms_uncached(self, expr: ast.AST) -> frozenset:
        m = self.model
        out: set = set()
        for v in m.values(expr, module_identity=True):
            if v.model is m and isinstance(v.node, (ast.Name, ast.Attribute)) and isinstance(v.node.ctx, ast.Load):
                # cannot be seen through: the expression as written, in its class or function
                root = v.node
                while isinstance(root, ast.Attribute):
                    root = root.value
                scope = m.enclosing_class(v.node) if m._is_self(root) else None
                owner = scope.node if scope is not None else m.enclosing_function(v.node)
                out.add(("text", id(owner), text_of(v.node)))
            elif not _is_none(v.node):
                out.add(id(v.node))
        return frozenset(out)

    def is_module_object(self, expr: ast.AST) -> bool:
        """``expr`` holds an ``nn.Module``: its construction is a module's, or, by protocol,
        ``eval()``/``train()``/``parameters()`` is called on the same object."""
        if self.methods_called_on(expr) & (_MODULE_METHODS | {"__call__"}):
            return True
        return self.model_class_facts(expr) is not None

    def callback_effect(self, call: ast.Call) -> list[tuple[str, int | str | None, str]] | None:
        """``fn(model)`` where ``fn`` is a parameter: what the functions of this file that every
        call site passes for it do (None when a site passes something else, or none is seen)."""
        f = call.func
        if not isinstance(f, ast.Name):
            return None
        vals = self.model.values(f)
        if len(vals) != 1 or not isinstance(vals[0].node, ast.arg) or vals[0].model is not self.model:
            return None
        sites = _param_sites(self.model, vals[0].node)
        if not sites:
            return None
        found: list | None = None
        for sm, arg in sites:
            if sm is not self.model or not isinstance(arg, ast.Name):
                return None
            bindings = self.model.lookup(arg.id, arg)
            if len(bindings) != 1 or bindings[0].kind != "def":
                return None
            effects = self.kept("summary", bindings[0].node, lambda: _summary(self.model, bindings[0].node, 0))  # noqa: B023
            if effects is None:
                return None
            if found is not None and effects != found:
                return None
            found = effects
        return found

    # ------------------------------------------------------------------ functions of other modules
    def _project_function(self, m: SemanticModel, func: ast.AST) -> tuple[SemanticModel, FunctionNode] | None:
        return project_function(m, func)

    def project_effect(self, call: ast.Call) -> list[tuple[str, int | str | None, str]] | None:
        """What a function of another module of the project does to what it is handed, read
        from its body (:func:`_summary`): ``[(kind, index of the parameter it acts on, or None,
        the rest of the subject)]`` for clears (ZERO_GRAD) and mode switches (EVAL, TRAIN,
        MODE), in order; [] when it does none of these; None when it cannot be read."""
        found = project_function(self.model, call.func)
        if found is None:
            return None
        other, f = found
        return flow_of(other).kept("summary", f, lambda: _summary(other, f, 0))

    def events(self, root: ast.AST) -> list[Event]:
        """Ordered events of one iteration of ``root`` (a loop) or one call of it (a function)."""
        return self.model.remember_across_versions(self._events_cache, "events", root, lambda: self._events(root))

    def _events(self, root: ast.AST) -> list[Event]:
        out = self._framed(root)
        out.sort(key=lambda e: e.order)
        return out

    def _framed(self, root: ast.AST) -> list[Event]:
        """The events of ``root``'s frame (its body, or ``root`` itself for a statement), made
        from :meth:`frame`; where the local calls it reaches go round in a cycle, collected by
        following every call into its body (``_collect``), whose stack stops the cycle."""
        try:
            frame = self.frame(root)
        except _CallCycle:
            stmts = root.body if isinstance(root, (*LOOP_TYPES, *FUNCTION_TYPES)) else [root]
            out: list[Event] = []
            self._collect(stmts, root, (), {}, False, frozenset(), (), grad_mode.UNCHANGED, out, {id(root)})
            return out
        return [Event(k, n, ch, subj, c, br, _entered_in(grad_mode.UNCHANGED, effs), loss) for k, n, ch, subj, c, br, effs, loss in frame]

    def frame(self, root: ast.AST) -> tuple[FrameEvent, ...]:
        """The events of one run of ``root``'s body (a function, a loop) in its own words: the
        subjects named as its body names them (its parameters unsubstituted), conditions and
        branches from its body down, the grad-mode effects from its body down, unapplied. A
        local function it calls contributes its own frame, composed at the call (``_compose``):
        so each function's body is collected once, and a keystroke in one function collects
        that function and re-composes its callers' frames, not their callees' bodies. The same
        events, in the same order, as following every call into its body (``_collect``), as
        deep (MAX_INLINE_DEPTH). Raises _CallCycle where the calls go round in a cycle (kept
        by no one: the caller falls back to ``_collect``)."""
        return self.kept("frame", root, lambda: self._frame(root))

    def _frame(self, root: ast.AST) -> tuple[FrameEvent, ...]:
        busy = self._framing
        if id(root) in busy:
            raise _CallCycle()
        busy.add(id(root))
        try:
            return tuple(self._frame_of(root))
        finally:
            busy.discard(id(root))

    def _frame_of(self, root: ast.AST) -> list[FrameEvent]:
        stmts = root.body if isinstance(root, (*LOOP_TYPES, *FUNCTION_TYPES)) else [root]
        out: list[FrameEvent] = []
        for stmt in stmts:
            walked = self.kept("walk", stmt, lambda: _walk_ordered(stmt))  # noqa: B023 (called at once)
            for node, c, br in walked:
                effect = self.model.grad_states_at(node)  # the blocks around it in its own function
                kind = self._classified(node, {})
                if kind is None and isinstance(node, ast.Call):
                    fw = self.is_model_forward(node)
                    if fw is not None:
                        kind = (FORWARD, fw, None)
                if kind is not None:
                    out.append((kind[0], node, (), kind[1], c, br, (effect,), kind[2]))
                    if kind[0] in (ZERO_GRAD, EVAL, TRAIN, MODE) and isinstance(node, ast.Call) and (
                        isinstance(node.func, ast.Name) or (isinstance(node.func, ast.Attribute) and self._is_module_path(node.func))
                    ):
                        # a function of another module that does several things: the rest, in its order
                        for extra in self.call_effects(node, self.model.call_name(node), {})[1:]:
                            out.append((extra[0], node, (), extra[1], c, br, (effect,), extra[2]))
                    if kind[0] in (BACKWARD, STEP, ZERO_GRAD, GRAD, EVAL, TRAIN, MODE):
                        continue
                if isinstance(node, ast.Call):
                    f = self.callee(node)
                    if f is not None and f is not root:
                        _compose(out, self.frame(f), node, _param_map(f, node, {}, self.model), c, br, effect)
        return out

    def _collect(self, stmts, frame_root, chain, subst, cond, branches, order, grad, out, stack) -> None:
        for stmt in stmts:
            # A statement's walk depends on its own subtree only: kept while it is unchanged.
            walked = self.kept("walk", stmt, lambda: _walk_ordered(stmt))  # noqa: B023 (called at once)
            for node, c, br in walked:
                node_cond = cond or c
                node_branches = branches | br
                node_order = (*order, pos(node))
                # the blocks around it in its own function, entered in the mode of the call site
                node_ng = grad_mode.apply(grad, self.model.grad_states_at(node))
                kind = self._classified(node, subst)
                if kind is None and isinstance(node, ast.Call):
                    fw = self.is_model_forward(node)
                    if fw is not None:
                        kind = (FORWARD, _subst(fw, subst), None)
                if kind is not None:
                    out.append(Event(kind[0], node, chain, kind[1], node_cond, node_branches, node_ng, kind[2]))
                    if kind[0] in (ZERO_GRAD, EVAL, TRAIN, MODE) and isinstance(node, ast.Call) and (
                        isinstance(node.func, ast.Name) or (isinstance(node.func, ast.Attribute) and self._is_module_path(node.func))
                    ):
                        # a function of another module that does several things: the rest, in its order
                        for extra in self.call_effects(node, self.model.call_name(node), subst)[1:]:
                            out.append(Event(extra[0], node, chain, extra[1], node_cond, node_branches, node_ng, extra[2]))
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
        # (each loop's answer kept: a keystroke elsewhere does not ask it again)
        return [lp for lp in self.training_loops if self.kept("trains_at_own_level", lp, lambda: self.is_training([e for e in self.events(lp) if not self.nested_loop(lp, e)]))]  # noqa: B023

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
            if self.model.persistent is not None:
                # The language server: each top-level statement's part is kept while it is
                # unchanged, so a keystroke looks at the edited statement only.
                tree = self.model._tree
                kind = "mentioning " + " ".join(names)
                for part in self.model.remember_each(self._caches[kind], kind, tree.body, lambda stmt: _mentioning_in(self.model, stmt, wanted)):
                    if part is not None:
                        found |= part
                        found.add(id(tree))
            else:
                hits = [n for n in self.model.all_nodes(ast.Attribute) if n.attr in wanted]  # type: ignore[attr-defined]
                hits += [n for n in self.model.all_nodes(ast.Call) if isinstance(n.func, ast.Name) and n.func.id in wanted]  # type: ignore[attr-defined]
                for n in hits:
                    for anc in ancestors(n):
                        if isinstance(anc, _CONTAINER_TYPES):
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
            # The calls named like a backward, from the file's index of calls by name (in the
            # traversal's order: at one position, the outer call first).
            named = [c for name in _BACKWARD_NAMES for c in calls_named(self.model, name)]
            if len(_BACKWARD_NAMES) > 1:
                named.sort(key=lambda c: (pos(c), tuple(-x for x in end_pos(c))))
            for n in named:
                f = n.func  # type: ignore[attr-defined]
                if not ((isinstance(f, ast.Attribute) and f.attr in _BACKWARD_NAMES) or (isinstance(f, ast.Name) and f.id == "backward")):
                    continue
                k = self._classified(n, {})
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

    def backward_scopes(self) -> list[tuple[ast.AST, list[tuple[ast.Call, ast.expr]]]]:
        """``(scope, backward_calls(scope))`` for the module and each function that writes a
        backward call, the module first, then the functions by name."""
        m = self.model
        out = []
        for scope in (m.tree, *(f for fs in m.functions.values() for f in fs)):
            calls = self.backward_calls(scope)
            if calls:
                out.append((scope, calls))
        return out

    def mentions(self, root: ast.AST, *names: str) -> bool:
        if isinstance(root, ast.Module) and self.model.reads is not None:
            # the module mentions a name when any of its statements does: an edited statement
            # that mentions one may change the answer
            self.model.reads.mentions.update(names)
        return id(root) in self.containers_mentioning(*names)

    def may_backward(self, root: ast.AST) -> bool:
        """``root`` (a loop, a function) may reach a backward: lexically or through a local call."""
        return self.mentions(root, *_BACKWARD_NAMES) or self.kept("calls_backward", root, lambda: self._calls_backward(root))

    def _calls_backward(self, root: ast.AST) -> bool:
        """Some call in ``root`` runs a function of this file that may call backward."""
        if not self.containers_mentioning(*_BACKWARD_NAMES):
            # No function of the file mentions backward, so none of its calls reaches one: a
            # fact of the whole file (a backward typed anywhere may change it).
            self.model.read_whole()
            return False
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
        return [lp for lp in self.loops if self.kept("training_loop", lp, lambda: self.may_backward(lp) and self.is_training(self.events(lp)))]  # noqa: B023

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
        if isinstance(func, ast.Attribute) and func.attr in torch_api.GENERATE_METHODS and not self.model._is_self(func.value):
            return self.kept("generates", call, lambda: self.model_text(func.value))
        return None

    def model_text(self, target: ast.expr) -> str | None:
        """``target`` holds an nn.Module instance (proven, see ``holds_module``): its text, else None."""
        if isinstance(target, ast.Name) and self.model._is_self(target):
            return None  # ``self(x)`` inside a method: the callers decide what it is
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Call) and isinstance(target.value.func, ast.Name) and target.value.func.id == "super":
            return None  # super().forward(x): the module's own method
        if self.model.qualified_name(target) is not None:
            return None  # ``F.relu``, ``torch.cat``, ``nn.Linear``: a library function or class, no instance
        return text_of(target) if self.holds_module(target) else None

    # ------------------------------------------------------------------ module values
    def holds_module(self, expr: ast.AST) -> bool:
        """Every value ``expr`` may hold is an nn.Module instance that has weights, and that is
        proven: by its construction (a torch.nn layer, a local or project nn.Module class, a zoo or
        Hugging Face constructor, through assignments, returns, unpacking, ``self`` attributes,
        ``.to()`` / ``.eval()`` chains and DataParallel / DDP / compile wrappers), by an annotation,
        by what the file's call sites pass for a parameter, or by protocol (``.eval()``,
        ``.parameters()``, ``.state_dict()``... called on the same value). Unknown is False."""
        return self.kept("holds_module", expr, lambda: _module_verdict(self, expr, 0, frozenset()) is True)

    def may_run_module(self, call: ast.Call) -> bool:
        """For the autograd-graph facts only (``graph_roots``, whose loss is known to be backwarded):
        ``call`` runs a value that may be a module, one nothing proves to be something else (a
        parameter, an attribute, a loop variable), not a function, a class or an import."""
        func = call.func
        target = func.value if isinstance(func, ast.Attribute) and func.attr == "forward" else func
        if not isinstance(target, (ast.Name, ast.Attribute, ast.Subscript)) or self.model._is_self(target):
            return False
        vals = self.model.values(target, module_identity=True)
        if not vals or any(isinstance(v.node, (*FUNCTION_TYPES, ast.ClassDef, ast.Lambda, ast.Import, ast.ImportFrom, ast.alias)) for v in vals):
            return False
        if not all(isinstance(v.node, ast.arg) or (isinstance(v.node, ast.Attribute) and _handed_in(v.model, v.node)) for v in vals):
            return False  # only a value handed in from outside (a parameter, ``self.x`` set elsewhere)
        if self.model.call_name(call) is not None:
            return False  # built here (its construction says what it is), or a library function
        return self.kept("may_run_module", call, lambda: _module_verdict(self, target, 0, frozenset()) is not False and not self._fed_by_forward(call))

    def _fed_by_forward(self, call: ast.Call, depth: int = 0) -> bool:
        """An argument of ``call`` is (or is bound to) the output of a forward: ``criterion(out, y)``
        carries the graph of ``out``, it builds none of its own."""
        for a in [*call.args, *(k.value for k in call.keywords)]:
            for n in ast.walk(a):
                if isinstance(n, ast.Call) and (self.is_model_forward(n) or (depth < 2 and self._unknown_callee(n) and not self._fed_by_forward(n, depth + 1))):
                    return True
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                    for v in self.model.values(n):
                        if isinstance(v.node, ast.Call) and v.model is self.model and (self.is_model_forward(v.node) or (depth < 2 and self._unknown_callee(v.node))):
                            return True
        return False

    def _unknown_callee(self, call: ast.Call) -> bool:
        f = call.func
        if not isinstance(f, (ast.Name, ast.Attribute)) or self.model.call_name(call) is not None or self.model._is_self(f):
            return False
        vals = self.model.values(f, module_identity=True)
        return bool(vals) and all(isinstance(v.node, ast.arg) for v in vals)

    @property
    def module_protocol_keys(self) -> set:
        """Keys (``_value_key``) of the values on which a method only modules have is called.

        Found through the file's calls of those methods by name (``calls_named``, a search for
        each name), not by a read of the whole file: an answer built on it is dropped only by an
        edit that writes or removes such a call, or rebinds what their receivers read, so the
        language server keeps the module verdicts of the statements a keystroke did not touch."""
        cache = self.model.file_memo.setdefault("module_protocol_keys", {})
        return self.model.remember(cache, "keys", self._module_protocol_keys)

    def protocol_proves(self, v: Value, near: ast.AST | None) -> bool:
        """A method only modules have is called on the value ``v`` (``_value_key``): looked for
        where the value's other uses are, not in the whole file, so that what a keystroke in
        one function invalidates stays in that function. ``self.x`` of a class: in the class;
        another attribute's text: in its function; a parameter, variable or construction: in
        the function that binds it, and in ``near`` (the function of the expression asked
        about, which may reach it through a call's return). At the top level of the file: the
        file's calls of those methods, found by name."""
        key = _value_key(v)
        m = self.model
        if key[0] == "self":
            cls = m.enclosing_class(v.node)
            scopes: list[ast.AST | None] = [cls.node if cls is not None else None]
        elif key[0] == "text":
            scopes = [m.enclosing_function(v.node)]
        else:
            # a method's value may be used by the class's other methods (``self.net = net``)
            scopes = list(dict.fromkeys((self._uses_scope(m.enclosing_function(v.node)), self._uses_scope(near))))
        return any(key in self._protocol_keys_in(s) for s in scopes)

    def _uses_scope(self, func: ast.AST | None) -> ast.AST | None:
        """Where the values of ``func`` are used: its class when it is a method, else itself."""
        if func is None:
            return None
        cls = self.model.enclosing_class(func)
        return cls.node if cls is not None and parent(func) is cls.node else func

    def _protocol_keys_in(self, scope: ast.AST | None) -> set:
        if scope is None:
            return self.module_protocol_keys
        names = sorted(torch_api.MODULE_PROTOCOL_METHODS)
        return self.kept("protocol_keys_in", scope, lambda: self._module_protocol_keys([c for n in names for c in calls_named_within(self.model, n, scope)]))

    def _module_protocol_keys(self, calls: list[ast.Call] | None = None) -> set:
        out: set = set()
        m = self.model
        if calls is None:
            calls = [c for name in sorted(torch_api.MODULE_PROTOCOL_METHODS) for c in calls_named(m, name)]
        for n in calls:
            f = n.func
            if not (isinstance(f, ast.Attribute) and f.attr in torch_api.MODULE_PROTOCOL_METHODS):
                continue  # ``eval(...)``: the builtin, not a method
            if f.attr in ("train", "eval") and (len(n.args) > 1 or any(k.arg not in (None, "mode") for k in n.keywords)):
                continue  # ``trainer.train(dataset, epochs=3)``: not Module.train(mode)
            if f.attr in ("parameters", "named_parameters", "state_dict", "zero_grad") and isinstance(f.value, ast.Name) and m.local_class_of(f.value) is not None:
                continue
            for v in m.values(f.value, module_identity=True):
                if v.model is m:  # (a value of another module is looked for in that module)
                    out.add(_value_key(v))
        return out

    def is_layer_call(self, call: ast.Call) -> bool:
        """A call of an ``nn.Module`` instance whose construction is visible (a layer, a local model)."""
        if not isinstance(call.func, (ast.Name, ast.Attribute)):
            return False
        for v in self.model.values(call.func, module_identity=True):
            if not isinstance(v.node, ast.Call):
                return False
            q = v.model.call_name(v.node)
            if torch_api.nn_class(q) and "Loss" not in q:
                continue
            cls = v.model.local_class_of(v.node.func)
            if cls is None or not v.model.is_nn_module(cls):
                return False
        return True if self.model.values(call.func) else False

    # ------------------------------------------------------------------ traced modules
    def traces_of(self, expr: ast.AST) -> list[Value] | None:
        """Every value ``expr`` may hold is the result of ``torch.jit.trace`` / ``trace_module``
        of a module (catalogue ``JIT_TRACE_FUNCS``): those trace calls, else None. A traced
        module keeps the mode it was traced in (measured, benchmarks/jit_facts.py: ``.eval()``
        on one traced in train mode leaves dropout on and batch-norm statistics moving;
        ``.train()`` on one traced in eval mode leaves dropout off)."""
        if not self.may_be_traced(expr):
            return None  # (the kept answer first: most forwards are of no trace)
        traces, others = _trace_values(self.model, expr, 0)
        if not traces or others or not self.holds_module(expr):
            return None
        return traces

    def may_be_traced(self, expr: ast.AST) -> bool:
        """Some value ``expr`` may hold (through parameters, to what the file's call sites pass)
        is a ``torch.jit.trace`` result: ``.eval()`` on ``expr`` is no sure fix of its mode.
        Kept across versions while nothing it read changed."""
        return self.kept("may_be_traced", expr, lambda: bool(_trace_values(self.model, expr, 0)[0]))

    def mode_at_trace(self, trace: Value) -> str | None:
        """The mode (EVAL or TRAIN) of the module a trace call traces, at that call, where it is
        proven: a ``.eval()`` / ``.train(...)`` in the argument (``trace(m.eval(), x)``), or, for a
        module the file builds (a torch.nn layer, a module class, a torchvision model: it starts
        in train mode), no mode switch before the call on any path (``eval_mode_before``, as for
        PIT203). None where it is not known."""
        flow = self if trace.model is self.model else flow_of(trace.model)
        return flow.kept("mode_at_trace", trace.node, lambda: flow._mode_at_trace(trace.node))

    def _mode_at_trace(self, call: ast.Call) -> str | None:
        arg: ast.expr = call.args[0]
        while isinstance(arg, ast.Call):
            k = self.classify(arg, {}) if isinstance(arg.func, ast.Attribute) else None
            if k is not None and k[0] in (EVAL, TRAIN, MODE):
                return None if k[0] == MODE else k[0]  # the outermost switch is the last to run
            inner = self.model._module_passthrough(arg)  # ``m.to(device)``, ``nn.DataParallel(m)``: the same module
            if inner is None:
                # built in the call (``trace(Net(), x)``): in the mode it starts in
                return TRAIN if _starts_in_train_mode(Value(arg, self.model)) else None
            arg = inner
        subject = text_of(arg)
        if subject is None or self.eval_mode_before(call, subject):
            return None
        func = self.model.enclosing_function(call)
        in_loop = False  # traced again on each iteration: a switch later in the loop runs before the next trace
        for a in ancestors(call):
            if a is func:
                break
            in_loop = in_loop or isinstance(a, LOOP_TYPES)
        for s in self.mode_switches(subject):
            k = self.classify(s, {})
            if k is not None and k[0] in (EVAL, MODE) and not (self.model.enclosing_function(s) is func and pos(call) < pos(s) and not in_loop):
                return None  # put in eval mode elsewhere (at import, in another function): it may run first
        vals = self.model.values(arg, module_identity=True)
        if vals and all(isinstance(v.node, ast.Call) and _starts_in_train_mode(v) for v in vals):
            return TRAIN
        return None

    def traced_original(self, trace: Value) -> ast.expr:
        """The module a trace call traces (its first argument, ``.eval()`` / ``.to()`` chains removed)."""
        arg: ast.expr = trace.node.args[0]  # type: ignore[attr-defined]
        while isinstance(arg, ast.Call) and (inner := trace.model._module_passthrough(arg)) is not None:
            arg = inner
        return arg

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
        if q in torch_api.BN_CLASSES:
            return True, False
        if q in torch_api.DROPOUT_CLASSES:
            return False, True
        if q == "copy.deepcopy" and node.args:
            vals = m.values(node.args[0], module_identity=True)
            res = [self._construction_facts(v.node, v.model, depth + 1) for v in vals]
            if not res or any(r is None for r in res):
                return None
            return any(r[0] for r in res), any(r[1] for r in res)  # type: ignore[index]
        if (zoo := torch_api.zoo_model(q)) is not None:
            return zoo.has_batch_norm, zoo.has_dropout
        if q == torch_api.SEQUENTIAL:
            bn = drop = False
            for a in node.args:
                f = self._construction_facts(a, m, depth + 1)
                if f is None:
                    if isinstance(a, ast.Call) and torch_api.in_nn(m.call_name(a)):
                        continue
                    return None
                bn, drop = bn or f[0], drop or f[1]
            return bn, drop
        if q in torch_api.INSTANCE_NORM_CLASSES and _tracks_running_stats(node):
            return True, False  # running statistics used in eval mode, updated in train mode: as batch norm
        if torch_api.nn_class(q):
            return False, False
        cls = m.local_class_of(node.func)
        if cls is None:
            external = m.external_class(node.func) or star_imported_class(m, node.func)  # a class of another module of the project
            if external is None:
                return None
            m, cls = external
        if not m.is_nn_module(cls):
            return None
        return flow_of(m).class_facts(cls, m)

    def class_facts(self, cls, m: SemanticModel) -> tuple[bool, bool] | None:
        """Batch norm / dropout in a local module class: its layers, F.dropout, local submodules."""
        bn = drop = False
        for n in ast.walk(cls.node):
            if isinstance(n, ast.Call):
                q = m.call_name(n)
                if q in torch_api.BN_CLASSES or (q and "batch_norm" in q and not _mode_independent_batch_norm(n)) or (q in torch_api.INSTANCE_NORM_CLASSES and _tracks_running_stats(n)):
                    bn = True
                elif q in torch_api.DROPOUT_CLASSES or q in torch_api.DROPOUT_FUNCS:
                    drop = True
                elif q is None or not torch_api.torch_family(q):
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
        """(kind, function, root) of each evaluation, known by what it does: a function, or else
        the outermost loop, that reaches no backward, step or ``autograd.grad``, asks for no
        gradient, and runs a model forward whose output is measured (``.item()``, ``argmax``, a
        comparison, ``.numpy()``...) or kept across iterations without leaving the function, or
        that iterates evaluation data by construction (``MNIST(root, train=False)``).

        Found per top-level statement, each part kept across versions while nothing it read
        changed (a keystroke in one function asks again about that function only)."""
        out: list[tuple[str, FunctionNode | None, ast.AST]] = []
        for part in self.model.remember_each(self._caches["eval_roots"], "eval_roots", self.model._tree.body, self._find_eval_roots):
            out.extend(part)
        return out

    def _eval_roots_in(self, stmt: ast.stmt) -> tuple[tuple[str, FunctionNode | None, ast.AST], ...]:
        return self.kept("eval_roots", stmt, lambda: self._find_eval_roots(stmt))

    def _find_eval_roots(self, stmt: ast.stmt) -> tuple[tuple[str, FunctionNode | None, ast.AST], ...]:
        containers = self._statement_containers(stmt)
        if not containers:
            return ()  # no forward runs here (the cheap question first: most statements run no model)
        m = self.model
        out: list[tuple[str, FunctionNode | None, ast.AST]] = []
        roots: set[int] = set()
        for f in self._in_statement(stmt, FUNCTION_TYPES):
            if id(f) not in containers or self._model_method(f) or self._trains(f):  # type: ignore[arg-type]
                continue
            if self._evaluates(f):
                out.append(("function", f, f))  # type: ignore[arg-type]
                roots.add(id(f))
        for lp in self._in_statement(stmt, (ast.For, ast.AsyncFor)):
            if id(lp) not in containers:
                continue
            func = m.enclosing_function(lp)
            if func is not None and (id(func) in roots or self._model_method(func)):
                continue
            if any(id(a) in roots for a in ancestors(lp)) or self._trains(lp):
                continue
            if self._evaluates(lp):
                out.append(("loop", func, lp))
                roots.add(id(lp))
        return tuple(out)

    def _in_statement(self, stmt: ast.stmt, types: tuple[type, ...]) -> list[ast.AST]:
        """The nodes of these types in a top-level statement, in source order."""
        found = [n for tp in types for n in self.model.nodes_in_statement(stmt, tp)]
        if len(types) > 1:
            found.sort(key=pos)
        return found

    def _runs_forward(self, root: ast.AST) -> bool:
        """A forward (or ``generate``) whose result is used runs directly in ``root``'s body."""
        top = top_statement(root)
        return top is not None and id(root) in self._statement_containers(top)

    def _statement_containers(self, stmt: ast.stmt) -> frozenset[int]:
        """ids of the functions and loops of ``stmt`` whose own body (not a nested def's) runs a
        forward (or ``generate``) whose result is used; kept across versions."""
        return self.kept("forward_containers", stmt, lambda: self._statement_forward_containers(self.model.nodes_in_statement(stmt, ast.Call)))  # type: ignore[arg-type]

    def _statement_forward_containers(self, calls: list[ast.Call]) -> frozenset[int]:
        out: set[int] = set()
        model_method: dict[int, bool] = {}
        for c in calls:
            if not isinstance(c.func, (ast.Name, ast.Attribute)) or not _result_used(c):
                continue
            containers: list[int] = []
            for a in ancestors(c):
                if isinstance(a, LOOP_TYPES) and not _in_iter(c, a):
                    containers.append(id(a))
                elif isinstance(a, FUNCTION_TYPES):
                    if id(a) not in model_method:
                        model_method[id(a)] = self._model_method(a)  # type: ignore[arg-type]
                    if model_method[id(a)]:
                        containers = []  # eval_roots asks nothing of a model's own methods and their loops
                    else:
                        containers.append(id(a))
                    break
                elif isinstance(a, (ast.ClassDef, ast.Lambda)):
                    break
            if all(i in out for i in containers):
                continue  # (the cheap questions first: a forward here would add nothing new)
            if self.is_model_forward(c) or self.generates(c):
                out.update(containers)
        return frozenset(out)

    def _model_method(self, f: FunctionNode) -> bool:
        """A method of a model class (its callers decide its mode), or a framework hook that runs
        under the framework's own eval mode and no_grad (Lightning's ``validation_step``)."""
        if torch_api.lightning_hook(f.name):
            return True
        cls = self.model.enclosing_class(f)
        return cls is not None and parent(f) is cls.node and (self.model.is_nn_module(cls) or "forward" in cls.methods)

    def _evaluates(self, root: ast.AST) -> bool:
        return self.evidence(root) is not None

    def evidence(self, root: ast.AST) -> ast.Call | None:
        """The forward whose fate makes ``root`` an evaluation (see ``eval_roots``), else None."""
        return self.kept("evidence", root, lambda: self._evidence(root))

    def _evidence(self, root: ast.AST) -> ast.Call | None:
        for c in self.calls_in(root):
            if not _result_used(c) or not (self.is_model_forward(c) or self.generates(c)):
                continue
            loop = _loop_around(c, root)
            if loop is not None and self.over_eval_data(loop):
                return c
            func = self.model.enclosing_function(c)
            fate = self.output_fate(c, func if func is not None else self.model.tree)  # what leaves the function counts
            if fate.checked or fate.backpropagated:
                continue
            if self.no_grad_at(c):  # no graph: what is returned or stored carries none
                if fate.measured or (fate.kept and loop is not None):
                    return c
                continue
            if fate.escapes and (func is None or self._callers_may_backward(func)):
                continue  # the graph leaves the function: its caller may backpropagate it
            if fate.measured and (loop is not None or self.eval_mode_before(c, self.is_model_forward(c) or "")):
                return c
            if fate.kept and loop is not None and not self._backward_after(loop):
                return c
        return None

    def _callers_may_backward(self, func: FunctionNode, depth: int = 0, seen: frozenset = frozenset()) -> bool:
        """What ``func`` returns may reach a backward: some caller's function (or the module) may
        call backward, or a caller of it does, or ``func`` has no caller in the file (unknown)."""
        calls = self.callers_of(func) or self.callback_calls(func)
        if not calls or depth >= MAX_CALLER_DEPTH or id(func) in seen:
            return True
        for c in calls:
            outer = self.model.enclosing_function(c)
            if self.may_backward(outer if outer is not None else self.model.tree):
                return True
            if outer is not None and _returns_result_of(self.model, outer, c) and self._callers_may_backward(outer, depth + 1, seen | {id(func)}):
                return True
        return False

    def _backward_after(self, loop: ast.AST) -> bool:
        """A backward runs after ``loop`` in its function (or module): what the loop kept may feed it."""
        func = self.model.enclosing_function(loop)
        scope = func if func is not None else self.model.tree
        return any(pos(c) > pos(loop) for c, _ in self.backward_calls(scope))

    def over_eval_data(self, loop: ast.AST) -> bool:
        """The loop iterates held-out data by construction: a dataset (or a DataLoader of one)
        built with ``train=False`` / ``split="val"`` (catalogue: EVAL_DATA_*)."""
        it = getattr(loop, "iter", None)
        while isinstance(it, ast.Call) and it.args and (self.model.call_name(it) or "").rsplit(".", 1)[-1] in ("enumerate", "tqdm", "iter"):
            it = it.args[0]
        if it is None:
            return False
        return self.kept("eval_data", it, lambda: _eval_data(self.model, it, 0))

    def name_loads(self, scope: ast.AST) -> dict[str, tuple[ast.Name, ...]]:
        """The names read in ``scope``'s body (a function's, a loop's, or a statement), nested
        defs and classes left out: name -> its ``Name`` nodes, in the walk's order. One walk
        for every forward of the scope whose output is followed; kept while it is unchanged."""
        return self.kept("name_loads", scope, lambda: _name_loads(scope))

    def output_fate(self, call: ast.Call, scope: ast.AST) -> "OutputFate":
        """What becomes of a forward's output within ``scope``."""
        return self.kept("output_fate", (call, scope), lambda: _output_fate(self.model, call, scope))

    def _trains(self, root: ast.AST) -> bool:
        return any(e.kind in (BACKWARD, STEP, GRAD) for e in self.events(root)) or self.kept("wants_grad", root, lambda: _wants_grad(self.model, root))

    def calls_in(self, root: ast.AST) -> list[ast.Call]:
        """The calls in a function's or loop's body (kept while the body is unchanged)."""
        return self.kept("calls_in", root, lambda: _calls_in(root.body))  # type: ignore[attr-defined]

    @file_fact
    def eval_regions(self) -> list[EvalRegion]:
        regions: list[EvalRegion] = []
        seen_forwards: set[int] = set()
        for kind, func, root in self.eval_roots:
            # the forwards that run where the evidence runs (its loop, or outside loops): not those of
            # a nested loop of their own (a training loop left unfinished inside an epoch loop)
            where = _loop_around(self.evidence(root), root)  # type: ignore[arg-type]
            fw = [c for c in self.calls_in(root) if self.is_model_forward(c) and _loop_around(c, root) is where]
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
        out: list[tuple[str, FunctionNode | None, ast.AST]] = []
        for part in self.model.remember_each(self._caches["called_eval_roots"], "called_eval_roots", self.model._tree.body, self._called_eval_roots_in):
            out.extend(part)
        return out

    def _called_eval_roots_in(self, stmt: ast.stmt) -> tuple[tuple[str, FunctionNode | None, ast.AST], ...]:
        named = {id(r) for _, _, r in self._eval_roots_in(stmt)}
        out: list[tuple[str, FunctionNode | None, ast.AST]] = []
        for f in self._in_statement(stmt, FUNCTION_TYPES):
            if id(f) in named:
                continue
            # The whole question, the cheap tests first, kept per function across versions.
            if self.kept("called_eval_root", f, lambda: self._may_be_called_eval_root(f) and self._is_called_eval_root(f)):  # type: ignore[arg-type]  # noqa: B023
                out.append(("function", f, f))  # type: ignore[arg-type]
        return tuple(out)

    def _may_be_called_eval_root(self, f: FunctionNode) -> bool:
        if f.name.startswith("__") or torch_api.lightning_hook(f.name):
            return False
        m = self.model
        cls = m.enclosing_class(f)
        if cls is not None and parent(f) is cls.node and (m.is_nn_module(cls) or "forward" in cls.methods):
            return False  # a method of the model itself: its callers decide its mode
        return True

    def _is_called_eval_root(self, f: FunctionNode) -> bool:
        """Called where training runs, and f itself evaluates. The two questions give one
        answer in either order; which goes first is a matter of cost. In the language server
        the questions about f go first: a keystroke in a training function that f's caller
        also calls changes the caller's events, and an answer that did not need them is kept
        (most functions run no forward at all). In one analysis (``torchpit check``) the
        callers go first. Where nothing around trains that is cheaper. Over a third of the
        files of timm, yolov5, pytorch/examples and nanoGPT, the whole analysis made
        15.96 million function calls this way and 17.30 million with f first."""
        callers = self.callers_of(f)
        if not callers:
            return False
        one_analysis = self.model.persistent is None
        callers_train = lambda: any(self.trains_around(c) for c in callers)  # noqa: E731
        if one_analysis and not callers_train():
            return False
        if self._trains(f) or not any(
            e.kind == FORWARD and _result_used(e.site) and (e.no_grad or self.no_grad_at(e.node)) for e in self.events(f)
        ):
            return False
        return one_analysis or callers_train()

    def trains_around(self, call: ast.Call) -> bool:
        """``call`` runs in a function (or at the top level of a file) one run of which trains."""
        outer = self.model.enclosing_function(call)
        if outer is None:
            return self.may_backward(self.model._tree) and self.is_training(self._module_events())
        return self.may_backward(outer) and self.is_training(self.events(outer))

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
        func = self.model.enclosing_function(n)
        scope = func if func is not None else self.model.tree
        # a forward whose output an ``assert`` checks tests the model: no evaluation
        fw = [c for s in after for c in _calls_in([s]) if self.is_model_forward(c) == subject and not self.output_fate(c, scope).checked]
        if not fw:
            return []
        for s in after:
            if _wants_grad(self.model, s) or any(e.kind in (BACKWARD, STEP, GRAD) for e in self.events(s)):
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
        calls = self.callers_of(func) or self.callback_calls(func)
        if not calls:
            return False
        return all(self.eval_mode_before(c, subject, _depth + 1, _seen | {id(func)}) for c in calls)

    def _module_events(self) -> list[Event]:
        return self.model.remember(self._events_cache, "<module>", self._module_events_uncached)

    def _module_events_uncached(self) -> list[Event]:
        out: list[Event] = []
        for stmt in self.model.module_code():  # a def or class runs none of its body at import
            # Each statement's events are kept across versions while nothing they read changed:
            # a keystroke in one function does not collect the whole module again.
            out.extend(self.kept("top_events", stmt, lambda: self._top_events(stmt)))  # noqa: B023 (called at once)
        out.sort(key=lambda e: e.order)
        return out

    def _top_events(self, stmt: ast.stmt) -> list[Event]:
        """The events of one top-level statement, as the module's collection finds them."""
        return self._framed(stmt)

    def mode_switches(self, subject: str) -> list[ast.Call]:
        """Every ``subject.eval()`` / ``subject.train(...)`` in the file."""
        out = []
        for n in self.nodes(ast.Call):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("eval", "train"):
                k = self.classify(n, {})
                if k is not None and k[0] in (EVAL, TRAIN, MODE) and k[1] == subject:
                    out.append(n)
        return out


# ---------------------------------------------------------------------- frames
# One event of a frame (Flow.frame): kind, node, the calls from the frame down to it, its
# subject in the frame's words, conditional, branches, the grad-mode effects from the frame
# down (outermost first), and the loss for a backward.
FrameEvent = tuple[str, ast.AST, tuple[ast.Call, ...], "str | None", bool, frozenset, tuple[frozenset, ...], "ast.expr | None"]


class _CallCycle(Exception):
    """A frame needs itself: the local calls it reaches go round in a cycle."""


def _compose(out: list[FrameEvent], callee: tuple[FrameEvent, ...], call: ast.Call, params: dict[str, str], cond: bool, branches: frozenset, effect: frozenset) -> None:
    """The callee's frame seen from the frame that calls it at ``call`` (whose own conditions,
    branches and grad-mode effect there are ``cond``, ``branches``, ``effect``): the callee's
    parameters named by the call's arguments (``params``: the caller's own words; the caller's
    callers substitute theirs in turn, which ``_subst`` composes), its events one call deeper,
    down to MAX_INLINE_DEPTH."""
    for k, n, ch, subj, c, br, effs, loss in callee:
        if len(ch) >= MAX_INLINE_DEPTH:
            continue
        out.append((k, n, (call, *ch), _subst(subj, params), cond or c, branches | br if br else branches, (effect, *effs), loss))


def _entered_in(states: frozenset, effects: tuple[frozenset, ...]) -> frozenset:
    """The grad modes after entering ``effects`` one inside the other from ``states``."""
    for e in effects:
        states = grad_mode.apply(states, e)
    return states


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


# ---------------------------------------------------------------------- objects and summaries
OPTIMIZER, SCALER, ACCELERATOR = "optimizer", "scaler", "accelerator"
OBJECT_KINDS = (OPTIMIZER, SCALER, ACCELERATOR)
MAX_OBJECT_DEPTH = 6
_MODULE_METHODS = frozenset({"eval", "train", "parameters", "named_parameters"})
_STATE_METHODS = frozenset({*_MODULE_METHODS, "__call__", "zero_grad", "step"})
_PROTOCOL_METHODS = frozenset({"zero_grad", "step", "scale", "backward", *_MODULE_METHODS, *torch_api.ACCELERATOR_WRAPPING_METHODS})


def _is_kind(q: str, kind: str) -> bool:
    if kind == OPTIMIZER:
        if q in torch_api.OPTIMIZER_MAKERS:
            return True
        package, _, cls = q.rpartition(".")
        return (
            any(package == p or package.startswith(p + ".") for p in torch_api.OPTIMIZER_PACKAGES)
            and not any(package == p or package.startswith(p + ".") for p in torch_api.NOT_OPTIMIZER_PACKAGES)
            and cls[:1].isupper()
            and q not in torch_api.OPTIMIZER_BASES
        )
    if kind == SCALER:
        return q in torch_api.GRAD_SCALERS
    return q in torch_api.ACCELERATORS


def _all_agree(answers: list[bool | None]) -> bool | None:
    if not answers or any(a is None for a in answers):
        return None
    if all(answers):
        return True
    return False if not any(answers) else None


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _all_base_names(m: SemanticModel, cls, _depth: int = 0) -> set[str]:
    """Qualified names of the bases of a class, through its local bases."""
    out = {q for q in m.base_names(cls) if q}
    if _depth < 8:
        for b in m.base_classes(cls):
            out |= _all_base_names(m, b, _depth + 1)
    return out




def _param_sites(m: SemanticModel, param: ast.arg) -> list[tuple[SemanticModel, ast.expr]] | None:
    """What the call sites of the function owning ``param`` pass to it: calls in this file
    (``f(x)``, ``self.f(x)``, ``Class(x)`` for ``__init__``) and calls made by a base class of
    another module of the project. None when some site cannot be read, [] when none is seen."""
    slot = parameter_slot(param)
    if slot is None:
        return None  # not a parameter of a function, or a method's self
    func, index = slot
    out: list[tuple[SemanticModel, ast.expr]] = []
    cls_node = parent(func)
    if func.name == "__init__" and isinstance(cls_node, ast.ClassDef):
        for call in constructor_calls(m, cls_node):
            arg = argument_for(call, param, index)
            if arg is UNKNOWN:
                return None
            if arg is not None:
                out.append((m, arg))  # type: ignore[arg-type]
        return out
    sites = call_site_arguments(m, param)
    if sites is None:
        return None
    out.extend((m, arg) for _, arg in sites)
    out.extend((other, arg) for other, _, arg in inherited_call_sites(m, param))
    return out


def _argument_at(call: ast.Call, index: int | str | None) -> ast.expr | None:
    """The argument ``call`` passes to the parameter at ``index`` (a position, or a name)."""
    if isinstance(index, str):
        return keyword(call, index)
    if index is None or index >= len(call.args) or any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
        return None
    return call.args[index]


_SUMMARY_DEPTH = 3


def _summary(m: SemanticModel, f: FunctionNode, depth: int) -> list[tuple[str, int | str | None, str]] | None:
    """``f``'s clears and mode switches, in order, each with the parameter it acts on (a
    position, or a name for a keyword-only one) and the rest of the subject (``.encoder``):
    ``x.zero_grad()``, ``p.grad = None``, ``x.eval()``, ``x.train(...)``, and those of the
    functions it calls (of its module, or of another module of the project), with their
    parameters mapped to its own. None when it hands one of its parameters on to something
    that cannot be read at this depth."""
    positional = [a.arg for a in (*f.args.posonlyargs, *f.args.args)]
    kwonly = [a.arg for a in f.args.kwonlyargs]

    def param_of(expr: ast.AST | None) -> tuple[int | str | None, str]:
        t = text_of(expr) if expr is not None else None
        head = re.match(r"[A-Za-z_][A-Za-z0-9_]*", t or "")
        if head is None:
            return None, ""
        name, rest = head.group(0), t[head.end():]  # type: ignore[index]
        if name in positional:
            return positional.index(name), rest
        if name in kwonly:
            return name, rest
        return None, ""

    out: list[tuple[int, tuple[str, int | str | None, str]]] = []
    for n in _walk_own(f):
        if isinstance(n, (ast.Assign, ast.AugAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            if any(isinstance(t, ast.Attribute) and t.attr == "grad" for t in targets):
                out.append((pos(n), (ZERO_GRAD, None, "")))
            continue
        if not isinstance(n, ast.Call):
            continue
        func = n.func
        if isinstance(func, ast.Attribute):
            if func.attr == "zero_grad":
                out.append((pos(n), (ZERO_GRAD, *param_of(func.value))))
                continue
            if func.attr in ("zero_", "fill_") and (text_of(func.value) or "").endswith((".grad", ".grad.data")):
                out.append((pos(n), (ZERO_GRAD, None, "")))
                continue
            if func.attr == "eval" and not n.args and not n.keywords:
                out.append((pos(n), (EVAL, *param_of(func.value))))
                continue
            if func.attr == "train":
                mode = n.args[0] if n.args else keyword(n, "mode")
                kind = TRAIN if mode is None or is_true(mode) else EVAL if is_false(mode) else MODE
                out.append((pos(n), (kind, *param_of(func.value))))
                continue
        handed = [a for a in (*n.args, *(k.value for k in n.keywords)) if param_of(a)[0] is not None]
        if not handed or not isinstance(func, (ast.Name, ast.Attribute)):
            continue
        callee: tuple[SemanticModel, FunctionNode] | None = None
        if isinstance(func, ast.Name):
            bindings = m.lookup(func.id, func)
            if len(bindings) == 1 and bindings[0].kind == "def":
                callee = (m, bindings[0].node)  # type: ignore[assignment]
        if callee is None:
            q = m.qualified_name(func)
            if q is not None and (q.startswith((torch_api.TORCH, torch_api.TORCHVISION, "builtins.")) or q.split(".")[0] in torch_api.NO_MODEL_PACKAGES):
                continue
            if isinstance(func, ast.Name) and m.is_builtin(func):
                continue
            callee = project_function(m, func)
        if callee is None or depth >= _SUMMARY_DEPTH or callee[1] is f:
            if isinstance(func, ast.Attribute) and not _imported_path(m, func):
                continue  # a method of an object (self.log(x), obj.add(x)): nothing says it clears
            return None  # a parameter goes to a function that cannot be read
        inner = _summary(callee[0], callee[1], depth + 1)
        if inner is None:
            return None
        for kind, index, rest in inner:
            arg = _argument_at(n, index)
            mapped, more = param_of(arg) if arg is not None else (None, "")
            out.append((pos(n), (kind, mapped, more + rest if mapped is not None else "")))
    out.sort(key=lambda t: t[0])
    return [e for _, e in out]


def _imported_path(m: SemanticModel, func: ast.Attribute) -> bool:
    """``utils.tidy`` / ``pkg.helpers.tidy``: an attribute of an imported module."""
    root: ast.AST = func
    while isinstance(root, ast.Attribute):
        root = root.value
    if not isinstance(root, ast.Name):
        return False
    bindings = m.lookup(root.id, root)
    return bool(bindings) and all(b.kind == "import" for b in bindings)


def _walk_own(f: FunctionNode) -> list[ast.AST]:
    """The nodes of ``f``'s body, not those of functions, classes or lambdas nested in it."""
    return _walk_no_defs(f.body)


def project_function(m: SemanticModel, func: ast.AST) -> tuple[SemanticModel, FunctionNode] | None:
    """The top-level function ``func`` names in another module of the project (found through
    the project's module index, also re-exported by a package), or None."""
    return _project_function(m, func, load_module_model)


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


_CONTAINER_TYPES = (*FUNCTION_TYPES, *LOOP_TYPES, ast.Module)


def _mentioning_in(m: SemanticModel, stmt: ast.stmt, wanted: set[str]) -> frozenset[int] | None:
    """``Flow.containers_mentioning`` within one top-level statement: the ids of its functions
    and loops that hold ``x.<name>`` or ``<name>(...)`` (the module not included); None when
    it holds none. Its attributes and calls come from the traversal's buckets (no walk)."""
    found: set[int] = set()
    attrs = m.nodes_in_statement(stmt, ast.Attribute)
    calls = m.nodes_in_statement(stmt, ast.Call)
    hits = [*(a for a in attrs if a.attr in wanted), *(c for c in calls if isinstance(c.func, ast.Name) and c.func.id in wanted)]  # type: ignore[attr-defined]
    for n in hits:
        for anc in ancestors(n):
            if isinstance(anc, ast.Module):
                break
            if isinstance(anc, _CONTAINER_TYPES):
                found.add(id(anc))
    return frozenset(found) if hits else None


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


def _wants_grad(m: SemanticModel, root: ast.AST) -> bool:
    """Code that asks for gradients on purpose: saliency maps, adversarial examples, attributions
    (also a block that turns gradients on, ``with torch.enable_grad():``)."""
    body = root.body if isinstance(root, (*LOOP_TYPES, *FUNCTION_TYPES)) else [root]
    stack: list[ast.AST] = list(body)
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Call):
            f = n.func
            if isinstance(f, ast.Attribute) and f.attr in ("requires_grad_", "retain_grad"):
                return True
            if m.call_name(n) in torch_api.GRAD_CONTEXTS and grad_mode.ON in m.context_grad_effect(n):
                return True  # ``torch.set_grad_enabled(True)``, ``torch.enable_grad()`` (a call or a decorator)
            if isinstance(f, ast.Attribute) and f.attr in ("backward", "grad"):
                return True
            if any(k.arg == "requires_grad" and not is_false(k.value) for k in n.keywords):
                return True
        elif isinstance(n, ast.Attribute) and n.attr in ("grad", "requires_grad") and isinstance(getattr(n, "ctx", None), (ast.Load, ast.Store)):
            return True
        elif isinstance(n, (ast.With, ast.AsyncWith)) and any(grad_mode.ON in m.context_grad_effect(i.context_expr) for i in n.items):
            return True  # a block that turns gradients on
        stack.extend(ast.iter_child_nodes(n))
    return False


_BACKWARD_NAMES = ("backward", "manual_backward")


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
    """The loop model of ``model``'s file, built on first use and kept with the model's
    whole-file indexes (released with it)."""
    flow = model.file_memo.get(Flow)
    if flow is None:
        flow = model.file_memo[Flow] = Flow(model)
    return flow


# ---------------------------------------------------------------------- autograd graphs
_NO_GRAPH_METHODS = torch_api.NO_GRAPH_METHODS


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
                if not m.grad_not_off(b.stmt):
                    acc.opaque = True  # a context whose grad mode nothing tells
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
        if flow.is_model_forward(c) or flow.is_layer_call(c) or flow.may_run_module(c):
            return True
    return False


# ---------------------------------------------------------------------- module values
MAX_MODULE_DEPTH = 4
_LITERALS = (ast.Constant, ast.JoinedStr, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.Lambda, ast.ListComp, ast.DictComp,
             ast.SetComp, ast.GeneratorExp, ast.BinOp, ast.Compare, ast.BoolOp, ast.UnaryOp)


def _handed_in(m: SemanticModel, attr: ast.Attribute) -> bool:
    """``self.x`` (set elsewhere), or ``model.backbone`` of a value proven to be a module."""
    if not isinstance(attr.value, ast.Name):
        return False
    if attr.attr in torch_api.MODULE_API_METHODS:
        return False
    if m._is_self(attr.value):
        cls = m.enclosing_class(attr)
        return cls is None or m.find_method(cls, attr.attr) is None  # an attribute, not a method of the class
    return flow_of(m).holds_module(attr.value)


def _value_key(v) -> tuple:
    """One key for every occurrence of a value that ``values()`` cannot see through: the node it
    found (a parameter, a loop variable, a construction), ``self.x`` of one class, or the text of
    another attribute within one function. Keys are compared within one module's model only, and
    hold no identity of the version's model: answers built on them are kept across versions
    (the nodes of unchanged statements stay)."""
    node, m = v.node, v.model
    if isinstance(node, ast.Attribute) and m._is_self(node.value):
        cls = m.enclosing_class(node)
        return ("self", id(cls.node) if cls else 0, node.attr)
    if isinstance(node, (ast.Attribute, ast.Subscript)):
        return ("text", id(m.enclosing_function(node)), text_of(node))
    return ("node", id(node))


def _module_verdict(flow: Flow, expr: ast.AST, depth: int, seen: frozenset) -> bool | None:
    """True: every value of ``expr`` is a module with weights; False: some value is known to be
    something else; None: unknown."""
    m = flow.model
    vals = [v for v in m.values(expr, module_identity=True) if not (isinstance(v.node, ast.Constant) and v.node.value is None)]
    if not vals:
        return None
    near = m.enclosing_function(expr)
    verdicts = [_value_is_module(flow, v, depth, seen, near) if v.model is m else _value_is_module(flow_of(v.model), v, depth, seen, None) for v in vals]
    if any(x is False for x in verdicts):
        return False
    return True if all(x is True for x in verdicts) else None


def _value_is_module(flow: Flow, v, depth: int, seen: frozenset, near: ast.AST | None = None) -> bool | None:
    node = v.node
    if depth > MAX_MODULE_DEPTH or id(node) in seen:
        return None
    seen = seen | {id(node)}
    if isinstance(node, _LITERALS):
        return False  # a string, a config dict, a number: not a module
    if isinstance(node, (*FUNCTION_TYPES, ast.ClassDef)):
        return False  # a function or a class (a constructor call), not an instance
    if isinstance(node, ast.Call):
        verdict = _constructed_module(flow, node, depth, seen)
        if verdict is not None:
            return verdict
    elif isinstance(node, ast.arg):
        verdict = _parameter_module(flow, node, depth, seen)
        if verdict is not None:
            return verdict
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and v.model.is_builtin(node):
        return False  # ``print``, ``len``: a builtin function or type, never a module instance
    elif isinstance(node, ast.alias) and _imports_no_instance(parent(node)):
        return False
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        wrapped = _accelerator_wrapped(flow_of(v.model), node)
        if wrapped is not None:  # ``model, opt = accelerator.prepare(model, opt)``: the module it was given
            verdict = _module_verdict(flow_of(v.model), wrapped, depth + 1, seen)
            if verdict is not None:
                return verdict
    if flow.protocol_proves(v, near):
        return True
    return None


def _imports_no_instance(stmt: ast.AST | None) -> bool:
    """What this import binds is no module instance: ``import x`` binds a Python module, and
    the libraries we know (torch, torchvision, numpy, the standard library...) export no
    ``nn.Module`` instances (classes and functions, which are constructed or called)."""
    if isinstance(stmt, ast.Import):
        return True
    if not isinstance(stmt, ast.ImportFrom) or stmt.level or not stmt.module:
        return False
    module = stmt.module
    return f"{module}.".startswith((torch_api.TORCH, torch_api.TORCHVISION)) or module.split(".")[0] in torch_api.NO_MODEL_PACKAGES


def _accelerator_wrapped(flow: Flow, target: ast.Name) -> ast.expr | None:
    """The argument an accelerator's ``prepare`` / ``setup`` hands back as ``target`` (the i-th
    name unpacked from ``accelerator.prepare(a0, a1, ...)``, the accelerator proven), or None."""
    tup = parent(target)
    stmt = parent(tup) if isinstance(tup, (ast.Tuple, ast.List)) else None
    if not isinstance(stmt, ast.Assign) or not isinstance(stmt.value, ast.Call):
        return None
    call, f = stmt.value, stmt.value.func
    i = tup.elts.index(target)  # type: ignore[union-attr]
    if not (isinstance(f, ast.Attribute) and f.attr in torch_api.ACCELERATOR_WRAPPING_METHODS and i < len(call.args)):
        return None
    if any(isinstance(a, ast.Starred) for a in call.args) or flow.object_fact(f.value, ACCELERATOR) is not True:
        return None
    return call.args[i]


def _constructed_module(flow: Flow, node: ast.Call, depth: int, seen: frozenset) -> bool | None:
    m = flow.model
    q = m.call_name(node)
    if q is not None:
        if q in torch_api.NN_LOSS_MODULES or q in torch_api.NN_PARAMETERLESS_MODULES:
            return False
        if torch_api.nn_module_class(q):
            return True
        if q in torch_api.MODEL_CONSTRUCTORS:
            return True
        if q.startswith(torch_api.MODEL_CONSTRUCTOR_PREFIXES):
            last = q.rsplit(".", 1)[-1]
            return True if last[:1].islower() and not last.startswith("get_") else None
        if q.startswith(torch_api.HF_PACKAGES):
            return _hf_model(q)
        if q == "copy.deepcopy" and node.args:
            return _module_verdict(flow, node.args[0], depth + 1, seen)
        if q in torch_api.JIT_TRACE_FUNCS:
            return _traced_module(flow, node, depth, seen)
    cls = m.local_class_of(node.func)
    if cls is not None:
        return m.is_nn_module(cls)
    external = m.external_class(node.func) or star_imported_class(m, node.func)
    if external is not None:
        return external[0].is_nn_module(external[1])
    return None


def _traced_module(flow: Flow, node: ast.Call, depth: int, seen: frozenset) -> bool | None:
    """``torch.jit.trace(m, x)`` / ``torch.jit.trace_module(m, inputs)``: a module exactly when
    what it traces is one (catalogue ``JIT_TRACE_FUNCS``; measured: it shares ``m``'s parameters
    and its calls record autograd). Not the same module: its mode is fixed at the trace
    (``Flow.traces_of``, ``Flow.mode_at_trace``), so ``values()`` does not see through it."""
    if not node.args or isinstance(node.args[0], ast.Starred):
        return None
    return _module_verdict(flow, node.args[0], depth + 1, seen)


def _trace_values(m: SemanticModel, expr: ast.AST, depth: int) -> tuple[list[Value], int]:
    """The ``torch.jit.trace`` / ``trace_module`` calls (with a module to trace) among the values
    of ``expr``, parameters followed to the arguments of their call sites; and how many other
    values it may hold (an unread parameter counts as one)."""
    traces: list[Value] = []
    others = 0
    for v in m.values(expr, module_identity=True):
        node = v.node
        if isinstance(node, ast.Call) and v.model.call_name(node) in torch_api.JIT_TRACE_FUNCS and node.args and not isinstance(node.args[0], ast.Starred):
            traces.append(v)
        elif isinstance(node, ast.arg) and depth < 3 and (sites := _param_sites(v.model, node)):
            for sm, arg in sites:
                t, o = _trace_values(sm, arg, depth + 1)
                traces += t
                others += o
        else:
            others += 1
    return traces, others


def _starts_in_train_mode(v: Value) -> bool:
    """``v`` is a construction of a module that starts in train mode (as every ``nn.Module``
    does): a torch.nn layer, a torchvision model constructor, a module class of the file or the
    project that neither overrides ``train()`` nor switches its own mode (``self.eval()``). Not
    a loaded or Hugging Face checkpoint, whose mode its loader chooses."""
    m, node = v.model, v.node
    q = m.call_name(node)  # type: ignore[arg-type]
    if q is not None:
        if torch_api.nn_module_class(q):
            return True
        if q.startswith(torch_api.MODEL_CONSTRUCTOR_PREFIXES):
            return _constructed_module(flow_of(m), node, 0, frozenset()) is True  # type: ignore[arg-type]
    found = (m, cls) if (cls := m.local_class_of(node.func)) is not None else m.external_class(node.func)  # type: ignore[attr-defined]
    if found is None or not found[0].is_nn_module(found[1]):
        return False
    return not _sets_own_mode(found[1].node)


def _sets_own_mode(cls_node: ast.AST) -> bool:
    """The class defines ``train`` or calls ``.eval()`` / ``.train(...)`` in a method (on itself
    or a part of itself): its mode after construction is not simply train."""
    for n in ast.walk(cls_node):
        if isinstance(n, FUNCTION_TYPES) and n.name == "train":
            return True
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("eval", "train"):
            return True
    return False


def star_imported_class(m: SemanticModel, func: ast.AST) -> tuple[SemanticModel, Any] | None:
    """``Encoder`` bound by nothing in the file but ``from models import *``: the class of that
    name in the project's module (the first star import that defines it)."""
    if not isinstance(func, ast.Name) or m.lookup(func.id, func):
        return None
    m.read_outside()  # the file's star imports, and another module
    for stmt in m._tree.body:
        if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
            base = "." * stmt.level + (stmt.module or "")
            found = m.project_class(f"{base}{func.id}" if base.endswith(".") else f"{base}.{func.id}")
            if isinstance(found, tuple):
                return found
    return None


def _tracks_running_stats(call: ast.Call) -> bool:
    v = keyword(call, "track_running_stats")
    return isinstance(v, ast.Constant) and v.value is True


def _hf_model(q: str) -> bool | None:
    """``transformers.AutoModelForCausalLM.from_pretrained`` / ``transformers.BertModel(config)``."""
    parts = q.split(".")
    if parts[-1] in torch_api.HF_MODEL_FACTORIES:
        parts = parts[:-1]
    cls = parts[-1]
    if not cls[:1].isupper() or cls.endswith(torch_api.HF_NOT_MODEL_ENDINGS):
        return None
    if cls.endswith(torch_api.HF_MODEL_CLASS_ENDINGS) or torch_api.HF_MODEL_CLASS_INFIX in cls[1:]:
        return True
    return None


def _class_is_module(m: SemanticModel, expr: ast.AST) -> bool | None:
    """The class an annotation or a constructor names is an nn.Module (subclass)."""
    q = m.qualified_name(expr)
    if q is not None and (q in torch_api.MODULE_BASES or torch_api.nn_module_class(q)):
        return q not in torch_api.NN_LOSS_MODULES and q not in torch_api.NN_PARAMETERLESS_MODULES
    if q is not None and q.startswith(torch_api.HF_PACKAGES):
        return _hf_model(q)
    cls = m.local_class_of(expr)
    if cls is not None:
        return m.is_nn_module(cls)
    external = m.external_class(expr)
    if external is not None:
        return external[0].is_nn_module(external[1])
    return None


def _parameter_module(flow: Flow, param: ast.arg, depth: int, seen: frozenset) -> bool | None:
    """A parameter holds a module: by its annotation, or every call site of its function in the
    file passes one (``__init__``'s parameters: every construction of its class)."""
    m = flow.model
    ann = param.annotation
    if ann is not None and isinstance(ann, (ast.Name, ast.Attribute)):
        verdict = _class_is_module(m, ann)
        if verdict is not None:
            return verdict
    sites = _parameter_sites(m, param)
    if not sites:
        return None
    verdicts = [_module_verdict(flow if sm is m else flow_of(sm), arg, depth + 1, seen) for sm, arg in sites]
    if any(x is False for x in verdicts):
        return None  # some callers pass something else: not every value is a module
    return True if all(x is True for x in verdicts) else None


def _parameter_sites(m: SemanticModel, param: ast.arg) -> list[tuple[SemanticModel, ast.expr]]:
    sites = call_site_arguments(m, param)
    out: list[tuple[SemanticModel, ast.expr]] = [(m, a) for _, a in sites or ()]
    args_node = parent(param)
    func = parent(args_node) if args_node is not None else None
    if isinstance(func, FUNCTION_TYPES) and func.name == "__init__" and isinstance(parent(func), ast.ClassDef):
        out += [(m, a) for a in _constructor_arguments(m, parent(func), func, param)]
    elif isinstance(func, FUNCTION_TYPES) and isinstance(parent(func), ast.ClassDef):
        out += [(sm, a) for sm, _, a in inherited_call_sites(m, param)]
    return out


def _constructor_arguments(m: SemanticModel, cls_node: ast.ClassDef, init: ast.AST, param: ast.arg) -> list[ast.expr]:
    """What ``Trainer(model, ...)`` calls of the class in this file pass for ``__init__``'s ``param``."""
    slot = parameter_slot(param)
    if slot is None:
        return []  # self
    out: list[ast.expr] = []
    for call in constructor_calls(m, cls_node):
        arg = argument_for(call, param, slot[1])
        if arg is UNKNOWN:
            return []
        if arg is not None:
            out.append(arg)  # type: ignore[arg-type]
    return out


# ---------------------------------------------------------------------- forward outputs
@dataclass
class OutputFate:
    measured: bool = False  # reaches a no-graph sink: .item(), argmax, a comparison, .numpy(), .data, .detach()
    kept: bool = False  # accumulated into a value that lives across iterations (``+=``, ``.append``)
    escapes: bool = False  # a graph-carrying value leaves the scope (returned, yielded, stored on self)
    checked: bool = False  # used in an ``assert``: a test of the model, not an evaluation
    backpropagated: bool = False  # reaches ``.backward()`` / ``autograd.grad``: training, not evaluation


_METADATA_ATTRS = {"shape", "dtype", "device", "ndim", "is_cuda", "requires_grad", "grad_fn"}
_METADATA_METHODS = {"size", "dim", "numel", "nelement", "type", "get_device"}
_KEEP_METHODS = {"append", "extend", "add_", "update", "insert"}
MAX_FATE_NAMES = 24


def _output_fate(m: SemanticModel, call: ast.Call, scope: ast.AST) -> OutputFate:
    fate = _output_fate_of(m, call, scope)
    if fate.checked and not _synthetic_input(m, call):
        fate.checked = False  # an assert in an evaluation over data (``assert out.size(1) == n``) tests nothing
    return fate


def _synthetic_input(m: SemanticModel, call: ast.Call) -> bool:
    """Every argument of the forward is made by a tensor factory (``torch.randn(2, 8)``), directly
    or through a name: a smoke test's input, not data from a loader."""
    args = [*call.args, *(k.value for k in call.keywords)]
    if not args:
        return False
    for a in args:
        vals = [Value(a, m)] if isinstance(a, ast.Call) else m.values(a)
        if not vals or not all(isinstance(v.node, ast.Call) and v.model.call_name(v.node) in torch_api.TENSOR_FACTORIES for v in vals):
            return False
    return True


def _output_fate_of(m: SemanticModel, call: ast.Call, scope: ast.AST) -> OutputFate:
    fate = OutputFate()
    pending: list[ast.AST] = [call]
    names: set[str] = set()
    loads: dict[str, tuple[ast.Name, ...]] | None = None
    while pending:
        expr = pending.pop()
        name = _follow_up(m, expr, fate)
        for n in name:
            if n in names or len(names) >= MAX_FATE_NAMES:
                continue
            names.add(n)
            if loads is None:
                loads = flow_of(m).name_loads(scope)
            pending.extend(u for u in loads.get(n, ()) if pos(u) > pos(call))
    return fate


def _name_loads(scope: ast.AST) -> dict[str, tuple[ast.Name, ...]]:
    body = scope.body if isinstance(scope, (*LOOP_TYPES, *FUNCTION_TYPES)) else [scope]
    out: dict[str, list[ast.Name]] = {}
    for x in _walk_no_defs(body):
        if isinstance(x, ast.Name) and isinstance(x.ctx, ast.Load):
            out.setdefault(x.id, []).append(x)
    return {k: tuple(v) for k, v in out.items()}


def _walk_no_defs(stmts: list) -> list[ast.AST]:
    out: list[ast.AST] = []
    stack = list(stmts)
    while stack:
        n = stack.pop()
        if isinstance(n, _SKIP_BODIES):
            continue
        out.append(n)
        stack.extend(ast.iter_child_nodes(n))
    return out


def _follow_up(m: SemanticModel, expr: ast.AST, fate: OutputFate) -> list[str]:
    """Climb from a graph-carrying ``expr`` through the expressions that keep its graph, note
    what ends it, and answer the names it is then bound to (to follow their uses)."""
    for a in ancestors(expr):
        if isinstance(a, ast.Assert):
            fate.checked = True  # ``assert out.shape == ...``: checked (a test, if the input is synthetic)
            return []
        if isinstance(a, ast.stmt):
            break
    node = expr
    while True:
        p = parent(node)
        if p is None:
            return []
        if isinstance(p, ast.Attribute):
            if p.attr in torch_api.NO_GRAPH_SINK_ATTRS:
                fate.measured = True
                return []
            if p.attr in _METADATA_ATTRS:
                return []
            call = parent(p)
            if isinstance(call, ast.Call) and call.func is p:
                if p.attr in _BACKWARD_NAMES:
                    fate.backpropagated = True
                    return []
                if p.attr in torch_api.NO_GRAPH_SINK_METHODS:
                    fate.measured = True
                    return []
                if p.attr in _METADATA_METHODS:
                    return []
                node = call  # ``out.softmax(1)``, ``out.cpu()``: still the graph
                continue
            node = p  # ``outputs.logits``
            continue
        if isinstance(p, ast.Compare):
            fate.measured = True
            return []
        if isinstance(p, ast.Call):
            q = m.call_name(p)
            f = p.func
            if q in torch_api.NO_GRAPH_SINK_FUNCS or (isinstance(f, ast.Name) and f.id in ("float", "int", "bool") and not m.lookup(f.id, f)):
                fate.measured = True
                return []
            if q in torch_api.BACKWARD_CALLS or q in torch_api.GRAD_CALLS or (isinstance(f, ast.Attribute) and f.attr in _BACKWARD_NAMES):
                fate.backpropagated = True  # ``torch.autograd.grad(out, x)``, ``accelerator.backward(loss)``
                return []
            if isinstance(f, ast.Attribute) and f.attr in _KEEP_METHODS and node is not f:
                fate.kept = True
                holder = f.value
                if isinstance(holder, ast.Attribute) and m._is_self(holder.value):
                    fate.escapes = True
                    return []
                return [holder.id] if isinstance(holder, ast.Name) else []
            node = p  # an argument: a loss, a function of the output
            continue
        if isinstance(p, (ast.BinOp, ast.UnaryOp, ast.Subscript, ast.Tuple, ast.List, ast.Starred, ast.IfExp, ast.BoolOp, ast.keyword,
                          ast.Dict, ast.Set, ast.ListComp, ast.GeneratorExp, ast.comprehension, ast.JoinedStr, ast.FormattedValue)):
            if isinstance(p, ast.Subscript) and node is p.slice:
                return []  # used as an index
            node = p
            continue
        if isinstance(p, ast.NamedExpr):
            return [p.target.id]
        if isinstance(p, (ast.Return, ast.Yield, ast.YieldFrom)):
            fate.escapes = True
            return []
        if isinstance(p, ast.Assert):
            fate.checked = True
            return []
        if isinstance(p, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = p.targets if isinstance(p, ast.Assign) else [p.target]
            out: list[str] = []
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        out.append(n.id)
                    elif isinstance(n, ast.Attribute) and m._is_self(n.value) and n.ctx is not None and isinstance(n.ctx, ast.Store):
                        fate.escapes = True
            if isinstance(p, ast.AugAssign):
                fate.kept = True
            return out
        return []  # a statement (an expression statement, an if test, a with item): the value is used there


def _loop_around(call: ast.AST, root: ast.AST) -> ast.AST | None:
    """The innermost loop (or comprehension) around ``call`` within ``root``; ``root`` itself when
    it is a loop."""
    for a in ancestors(call):
        if isinstance(a, _SKIP_BODIES):
            return None
        if isinstance(a, (*LOOP_TYPES, *COMPREHENSION_TYPES)) and not _in_iter(call, a):
            return a
        if a is root:
            return root if isinstance(root, LOOP_TYPES) else None
    return None


def _eval_data(m: SemanticModel, expr: ast.AST, depth: int) -> bool:
    if depth > 3:
        return False
    vals = m.values(expr)
    if not vals:
        return False
    for v in vals:
        node = v.node
        if not isinstance(node, ast.Call):
            return False
        q = v.model.call_name(node)
        if q in torch_api.DATA_LOADERS:
            ds = node.args[0] if node.args else keyword(node, "dataset")
            if ds is None or not _eval_data(v.model, ds, depth + 1):
                return False
            continue
        if not _held_out_construction(node):
            return False
    return True


def _held_out_construction(call: ast.Call) -> bool:
    for k in call.keywords:
        if k.arg in torch_api.EVAL_DATA_FLAGS and isinstance(k.value, ast.Constant) and k.value.value is torch_api.EVAL_DATA_FLAGS[k.arg]:
            return True
        if k.arg in torch_api.EVAL_DATA_SPLIT_KEYWORDS and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str):
            if k.value.value.lower() in torch_api.EVAL_DATA_SPLITS:
                return True
    return False


def _returns_result_of(m: SemanticModel, func: FunctionNode, call: ast.Call) -> bool:
    """``func`` may return what ``call`` gives (directly or through a name bound to it)."""
    for r in m.function_returns(func):
        for n in ast.walk(r):
            if n is call:
                return True
            if isinstance(n, ast.Name) and any(v.node is call for v in m.values(n)):
                return True
    return False


def _mode_independent_batch_norm(call: ast.Call) -> bool:
    """``F.batch_norm(x, mean, var, w, b, True, ...)``: ``training`` given as a literal, so the
    module's mode changes nothing (adaptive instance norm computes batch statistics always)."""
    training = call.args[5] if len(call.args) > 5 else keyword(call, "training")
    return isinstance(training, ast.Constant) and isinstance(training.value, bool)
