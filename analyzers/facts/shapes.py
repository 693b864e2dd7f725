"""Shape, dtype and value facts about tensors, from what the file itself proves.

``tensor_fact(model, expr)`` answers with a :class:`TensorFact` when every value ``expr`` may
hold comes from something whose shape, dtype or values are known: constructors with literal
sizes (``torch.randn(3, 64, 64)``, ``torch.tensor([[1., 2.]])``, ``torch.arange(10)``),
known image APIs (``torchvision.io.read_image``, ``ToTensor()(img)``, ``TF.to_tensor``) and
the ops that transform them (``unsqueeze``, ``permute``, ``view``/``reshape`` with literals,
indexing, ``.float()``/``.long()``, arithmetic with scalars, true division). Anything else is
unknown (None, or a field left None): the rules built on it stay silent.

Each fact carries its chain of evidence as ``(node, message)`` pairs for ``related``.
Facts are cached per model and the recursion is bounded.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace

from ..catalogue import torch_api
from ..catalogue.records import Effect
from .patterns import call_arg
from ..semantic.model import SemanticModel

MAX_DEPTH = 10
FLOAT_DTYPES = {"float16", "bfloat16", "float32", "float64"}
INT_DTYPES = {"int8", "int16", "int32", "int64", "uint8"}

_DTYPE_NAMES = torch_api.DTYPE_NAMES
_CAST_METHODS = torch_api.CAST_METHODS
# Methods that keep shape and dtype.
_SAME_METHODS = torch_api.SAME_SHAPE_METHODS
_SAME_FUNCS = torch_api.ELEMENTWISE_FUNCS
_IMAGE_READERS = torch_api.IMAGE_READERS
_TO_TENSOR_TRANSFORMS = torch_api.TO_TENSOR_TRANSFORMS
_RANK_KEEPING_TRANSFORMS = torch_api.RANK_KEEPING_TRANSFORMS  # after ToTensor in a Compose
_COMPOSE = torch_api.COMPOSE


def _op(name: str | None, effect: Effect):
    """The catalogue's record of ``name`` when it has ``effect`` (else None)."""
    return torch_api.effect_of(name, effect)


@dataclass(frozen=True)
class TensorFact:
    shape: tuple[int | None, ...] | None = None  # None: rank unknown; a None dim: size unknown
    dtype: str | None = None
    vmin: int | None = None  # bounds of the (integer) values, when known
    vmax: int | None = None
    values: tuple[int, ...] | None = None  # the values themselves, when few and literal
    image: bool = False  # a single image in (C, H, W) layout, by construction
    evidence: tuple[tuple[ast.AST, str], ...] = field(default=(), compare=False)

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    def with_evidence(self, node: ast.AST, message: str) -> "TensorFact":
        return replace(self, evidence=(*self.evidence, (node, message)))

    def shape_text(self) -> str:
        if self.shape is None:
            return "?"
        dims = ["?" if d is None else str(d) for d in self.shape]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


_QUERY = ("tensor_facts_query",)  # model.memo key of the query in progress: (facts by (node, depth), nodes being computed)


def tensor_fact(model: SemanticModel, expr: ast.AST | None, depth: int = 0) -> TensorFact | None:
    """What the file proves about the tensor ``expr`` (None when nothing).

    Each outermost query is cached, and is a function of ``expr`` alone: the facts found on
    the way (and the cycle guard) live only as long as the query, so that an answer does not
    depend on which other questions were asked before it.
    """
    if expr is None or depth > MAX_DEPTH:
        return None
    query = model.memo.get(_QUERY)  # type: ignore[call-overload]
    if query is not None:
        return _inner_fact(model, expr, depth, query)
    return model.remember(model.memo, ("tensor_fact", expr), lambda: _query_fact(model, expr))


def _query_fact(model: SemanticModel, expr: ast.AST) -> TensorFact | None:
    query: tuple[dict, set] = ({}, set())
    model.memo[_QUERY] = query  # type: ignore[index]
    try:
        return _inner_fact(model, expr, 0, query)
    finally:
        del model.memo[_QUERY]  # type: ignore[arg-type]


def _inner_fact(model: SemanticModel, expr: ast.AST, depth: int, query: tuple[dict, set]) -> TensorFact | None:
    facts, busy = query
    key = (id(expr), depth)
    if key in facts:
        return facts[key]
    if id(expr) in busy:
        return None  # a cycle: this expression's fact is being computed
    busy.add(id(expr))
    try:
        out = _tensor_fact(model, expr, depth)
    finally:
        busy.discard(id(expr))
    facts[key] = out
    return out


def _tensor_fact(model: SemanticModel, expr: ast.AST, depth: int) -> TensorFact | None:
    facts: list[TensorFact] = []
    vals = model.values(expr)
    for v in vals:
        if v.model is not model:
            facts = []
            break
        f = _fact_of_node(model, v.node, depth + 1)
        if f is None:
            facts = []
            break
        facts.append(f)
    return _join(facts) if facts else None


def _join(facts: list[TensorFact]) -> TensorFact | None:
    first = facts[0]
    if all(f == first for f in facts[1:]):
        return first
    # Keep what all agree on.
    shape = first.shape if all(f.shape == first.shape for f in facts) else None
    dtype = first.dtype if all(f.dtype == first.dtype for f in facts) else None
    if shape is None and dtype is None:
        return None
    return TensorFact(shape=shape, dtype=dtype, evidence=first.evidence)


# ---------------------------------------------------------------------- integers
def int_value(model: SemanticModel, expr: ast.AST | None, depth: int = 0) -> int | None:
    """A compile-time integer: a literal, a name bound once to one, simple arithmetic of them."""
    if expr is None or depth > 6:
        return None
    if isinstance(expr, ast.Constant) and type(expr.value) is int:
        return expr.value
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        v = int_value(model, expr.operand, depth + 1)
        return -v if v is not None else None
    if isinstance(expr, ast.BinOp):
        a, b = int_value(model, expr.left, depth + 1), int_value(model, expr.right, depth + 1)
        if a is None or b is None:
            return None
        if isinstance(expr.op, ast.Add):
            return a + b
        if isinstance(expr.op, ast.Sub):
            return a - b
        if isinstance(expr.op, ast.Mult):
            return a * b
        if isinstance(expr.op, ast.FloorDiv) and b:
            return a // b
        return None
    if isinstance(expr, ast.Name):
        vals = model.values(expr)
        if len(vals) == 1 and vals[0].node is not expr and isinstance(vals[0].node, ast.expr):
            return int_value(model, vals[0].node, depth + 1)
    return None


def is_int_like(model: SemanticModel, expr: ast.AST) -> bool:
    """A Python int: a literal, a constant name, or a ``for i in range(...)`` variable."""
    if int_value(model, expr) is not None:
        return True
    if isinstance(expr, ast.Name):
        bindings = model.lookup(expr.id, expr)
        if len(bindings) == 1 and bindings[0].kind == "for":
            stmt = bindings[0].stmt
            it = getattr(stmt, "iter", None)
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range" and getattr(stmt, "target", None) is bindings[0].node:
                return True
    return False


def _literal_nested(node: ast.AST) -> tuple[tuple[int, ...], list[object]] | None:
    """Shape and flat values of a nested list/tuple literal of numbers."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
        return (), [node.value]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float)):
        return (), [-node.operand.value]
    if isinstance(node, (ast.List, ast.Tuple)):
        if not node.elts:
            return (0,), []
        subs = [_literal_nested(e) for e in node.elts]
        if any(s is None for s in subs):
            return None
        shapes = {s[0] for s in subs}  # type: ignore[index]
        if len(shapes) != 1:
            return None
        flat: list[object] = []
        for s in subs:
            flat.extend(s[1])  # type: ignore[index]
        return (len(node.elts), *shapes.pop()), flat
    return None


_TENSOR_TYPES = torch_api.TENSOR_TYPES


def dtype_of_expr(model: SemanticModel, expr: ast.AST | None) -> str | None:
    """``torch.float32`` / ``torch.long`` / ``torch.cuda.FloatTensor`` / ``"torch.FloatTensor"``
    -> "float32" / "int64"."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return _TENSOR_TYPES.get(expr.value.rsplit(".", 1)[-1]) if torch_api.in_torch(expr.value) else None
    q = model.qualified_name(expr) if expr is not None else None
    if q and torch_api.in_torch(q):
        last = q.rsplit(".", 1)[-1]
        return _TENSOR_TYPES.get(last) or (_DTYPE_NAMES.get(torch_api.torch_member(q)) if q.count(".") == 1 else None)
    if q and torch_api.in_numpy(q):
        return _DTYPE_NAMES.get(torch_api.numpy_member(q))
    return None


def _sizes(model: SemanticModel, call: ast.Call, start: int = 0) -> tuple[int | None, ...] | None:
    """The size arguments of a creator: ``(3, 64, 64)``, ``((3, 64, 64))``, ``size=(...)``."""
    size_kw = next((k.value for k in call.keywords if k.arg == "size"), None)
    args = call.args[start:]
    if size_kw is not None:
        args = [size_kw]
    if any(isinstance(a, ast.Starred) for a in args) or not args:
        return None
    if len(args) == 1 and isinstance(args[0], (ast.Tuple, ast.List)):
        args = args[0].elts
        if any(isinstance(a, ast.Starred) for a in args):
            return None
    elif len(args) == 1 and int_value(model, args[0]) is None:
        return None  # torch.zeros(shape): a tuple we cannot see
    return tuple(int_value(model, a) for a in args)


# ---------------------------------------------------------------------- node facts
def _fact_of_node(model: SemanticModel, node: ast.AST, depth: int) -> TensorFact | None:
    if isinstance(node, ast.Call):
        return _fact_of_call(model, node, depth)
    if isinstance(node, ast.Subscript):
        return _fact_of_subscript(model, node, depth)
    if isinstance(node, ast.BinOp):
        return _fact_of_binop(model, node, depth)
    return None


def _fact_of_call(model: SemanticModel, call: ast.Call, depth: int) -> TensorFact | None:
    name = model.call_name(call)
    text = torch_api.short(name or "")
    dtype_kw = dtype_of_expr(model, call_arg(call, 99, "dtype")) if any(k.arg == "dtype" for k in call.keywords) else None
    if (creator := _op(name, Effect.CREATE) or _op(name, Effect.FULL)) is not None:
        full = Effect.FULL in creator.effects
        shape = _sizes(model, call) if not full else _full_sizes(model, call)
        if shape is None:
            return None
        dtype = dtype_kw or "float32"
        if full and dtype_kw is None:
            fill = call_arg(call, 1, "fill_value")
            dtype = "float32" if isinstance(fill, ast.Constant) and isinstance(fill.value, float) else None
        f = TensorFact(shape=shape, dtype=dtype)
        return f.with_evidence(call, f"{text} builds shape {f.shape_text()}" + (f", dtype {dtype}" if dtype else ""))
    if _op(name, Effect.RANDINT):
        pos = [a for a in call.args]
        low, high, size = (None, None, None)
        if len(pos) >= 3:
            low, high, size = pos[0], pos[1], pos[2]
        elif len(pos) == 2:
            low, high, size = ast.Constant(0), pos[0], pos[1]
        high = next((k.value for k in call.keywords if k.arg == "high"), high)
        low = next((k.value for k in call.keywords if k.arg == "low"), low)
        size = next((k.value for k in call.keywords if k.arg == "size"), size)
        lo, hi = int_value(model, low) if low is not None else 0, int_value(model, high)
        shape = tuple(int_value(model, a) for a in size.elts) if isinstance(size, (ast.Tuple, ast.List)) else None
        f = TensorFact(shape=shape, dtype=dtype_kw or "int64", vmin=lo, vmax=None if hi is None else hi - 1)
        return f.with_evidence(call, f"{name} draws values in [{lo}, {'?' if hi is None else hi})")
    from_data = _op(name, Effect.FROM_DATA)
    data = call_arg(call, 0, "data") if from_data is not None else None
    lit = _literal_nested(data) if data is not None else None
    if lit is not None:
        shape, flat = lit
        if from_data.dtype is not None:  # type: ignore[union-attr]
            dtype = from_data.dtype  # type: ignore[union-attr]
        else:
            dtype = dtype_kw or (
                "float32" if any(isinstance(x, float) for x in flat) else "bool" if flat and all(isinstance(x, bool) for x in flat) else "int64"
            )
        ints = [int(x) for x in flat] if dtype in INT_DTYPES and all(isinstance(x, int) for x in flat) else None
        f = TensorFact(
            shape=shape, dtype=dtype,
            vmin=min(ints) if ints else None, vmax=max(ints) if ints else None,
            values=tuple(ints) if ints is not None and len(ints) <= 64 else None,
        )
        return f.with_evidence(call, f"{name} builds shape {f.shape_text()}, dtype {dtype}")
    if _op(name, Effect.ARANGE):
        pos = call.args
        if any(isinstance(a, ast.Starred) for a in pos) or not pos:
            return None
        start, end = (ast.Constant(0), pos[0]) if len(pos) == 1 else (pos[0], pos[1])
        step = pos[2] if len(pos) >= 3 else None
        floaty = any(isinstance(a, ast.Constant) and isinstance(a.value, float) for a in pos)
        dtype = dtype_kw or ("float32" if floaty else "int64" if all(int_value(model, a) is not None for a in pos) else None)
        s, e = int_value(model, start), int_value(model, end)
        st = int_value(model, step) if step is not None else 1
        n = None
        if s is not None and e is not None and st:
            n = max(0, -(-(e - s) // st))
        vmin = vmax = None
        if n and st and st > 0 and dtype in INT_DTYPES:
            vmin, vmax = s, s + (n - 1) * st
        f = TensorFact(shape=(n,), dtype=dtype, vmin=vmin, vmax=vmax)
        return f.with_evidence(call, f"{name} gives {('values ' + str(vmin) + '..' + str(vmax)) if vmax is not None else 'shape ' + f.shape_text()}" + (f", dtype {dtype}" if dtype else ""))
    if _op(name, Effect.SPACE):
        steps = int_value(model, call_arg(call, 2, "steps"))
        f = TensorFact(shape=(steps,), dtype=dtype_kw or "float32")
        return f.with_evidence(call, f"{name} returns floating point ({f.dtype})")
    if _op(name, Effect.RANDPERM):
        n = int_value(model, call_arg(call, 0, "n"))
        f = TensorFact(shape=(n,), dtype=dtype_kw or "int64", vmin=0 if n else None, vmax=n - 1 if n else None)
        return f.with_evidence(call, f"{name} gives values 0..{'?' if n is None else n - 1}")
    if _op(name, Effect.FLOAT_ARRAY):
        f = TensorFact(dtype=dtype_kw or "float64")
        return f.with_evidence(call, f"{torch_api.short(name)} returns floating point (float64)")
    if (from_array := _op(name, Effect.FROM_ARRAY)) is not None and call.args:
        inner = tensor_fact(model, call.args[0], depth + 1)
        if inner is not None and inner.dtype is not None:
            dt = dtype_kw or from_array.dtype or inner.dtype
            return replace(inner, dtype=dt).with_evidence(call, f"{name} keeps the array's dtype ({dt})")
        if inner is not None and inner.shape is not None:
            return replace(inner, dtype=dtype_kw)
    if name in _IMAGE_READERS:
        f = TensorFact(shape=(None, None, None), dtype=_IMAGE_READERS[name], image=True)
        return f.with_evidence(call, f"{name.rsplit('.', 1)[1]} returns one image, shape (C, H, W)")
    if _op(name, Effect.TRUE_DIVIDE) and not any(k.arg == "rounding_mode" for k in call.keywords):
        inner = tensor_fact(model, call_arg(call, 0, "input"), depth + 1)
        f = TensorFact(shape=inner.shape if inner else None, dtype="float32")
        return f.with_evidence(call, f"{name} is true division: the result is floating point")
    if name in _SAME_FUNCS:
        inner = tensor_fact(model, call_arg(call, 0, "input"), depth + 1)
        if inner is None:
            return None
        return replace(inner, values=None, vmin=None, vmax=None)
    if _op(name, Effect.PERMUTE):
        dims = call_arg(call, 1, "dims")
        inner = tensor_fact(model, call_arg(call, 0, "input"), depth + 1)
        if isinstance(dims, (ast.Tuple, ast.List)):
            return _permute(model, call, inner, dims.elts)
        return None
    if _op(name, Effect.UNSQUEEZE):
        inner = tensor_fact(model, call_arg(call, 0, "input"), depth + 1)
        return _unsqueeze(model, call, inner, call_arg(call, 1, "dim"))
    if name is None:
        func = call.func
        if isinstance(func, ast.Attribute) and model.qualified_name(func.value) is None:
            return _fact_of_method(model, call, func, depth)
        # transform(img): an instance of ToTensor / a Compose ending in a rank-keeping chain.
        if isinstance(func, (ast.Name, ast.Attribute, ast.Call)):
            return _fact_of_transform_call(model, call, depth)
    return None


def _full_sizes(model: SemanticModel, call: ast.Call) -> tuple[int | None, ...] | None:
    size = call_arg(call, 0, "size")
    if isinstance(size, (ast.Tuple, ast.List)):
        return tuple(int_value(model, a) for a in size.elts)
    return None


def _fact_of_transform_call(model: SemanticModel, call: ast.Call, depth: int) -> TensorFact | None:
    if len(call.args) != 1 or call.keywords:
        return None
    vals = [call.func] if isinstance(call.func, ast.Call) else [v.node for v in model.values(call.func) if v.model is model]
    if not vals:
        return None
    dtypes = set()
    for node in vals:
        if not isinstance(node, ast.Call):
            return None
        d = _to_tensor_transform(model, node)
        if d is None:
            return None
        dtypes.add(d)
    f = TensorFact(shape=(None, None, None), dtype=dtypes.pop() if len(dtypes) == 1 else None, image=True)
    return f.with_evidence(call, "the ToTensor transform returns one image, shape (C, H, W)")


def _to_tensor_transform(model: SemanticModel, ctor: ast.Call) -> str | None:
    name = model.call_name(ctor)
    if name in _TO_TENSOR_TRANSFORMS:
        return _TO_TENSOR_TRANSFORMS[name]
    if name in _COMPOSE and ctor.args and isinstance(ctor.args[0], (ast.List, ast.Tuple)):
        found = None
        for t in ctor.args[0].elts:
            if not isinstance(t, ast.Call):
                return None
            tn = model.call_name(t)
            if tn in _TO_TENSOR_TRANSFORMS:
                found = _TO_TENSOR_TRANSFORMS[tn]
            elif found is not None and not (tn and torch_api.in_transforms(tn) and tn.rsplit(".", 1)[1] in _RANK_KEEPING_TRANSFORMS):
                return None
            elif found is None and not (tn and torch_api.in_transforms(tn)):
                return None
        return found
    return None


def _fact_of_method(model: SemanticModel, call: ast.Call, func: ast.Attribute, depth: int) -> TensorFact | None:
    attr = func.attr
    if attr in ("view", "reshape") and call.args and not call.keywords:
        args = call.args
        if len(args) == 1 and isinstance(args[0], (ast.Tuple, ast.List)):
            args = args[0].elts
        elif len(args) == 1 and int_value(model, args[0]) is None:
            return None  # x.view(shape) / x.view(dtype)
        if any(isinstance(a, ast.Starred) for a in args):
            return None
        dims = tuple(int_value(model, a) for a in args)
        dims = tuple(None if d == -1 else d for d in dims)
        inner = tensor_fact(model, func.value, depth + 1)
        f = TensorFact(shape=dims, dtype=inner.dtype if inner else None, evidence=inner.evidence if inner else ())
        return f.with_evidence(call, f".{attr} gives shape {f.shape_text()}")
    if attr == "transpose" and len(call.args) == 3 and not call.keywords:
        # arr.transpose(2, 0, 1): a NumPy H x W x C image to (C, H, W) (torch's transpose takes two dims)
        if [int_value(model, a) for a in call.args] == [2, 0, 1]:
            f = TensorFact(shape=(None, None, None), image=True)
            return f.with_evidence(call, ".transpose(2, 0, 1) turns one H x W x C image into (C, H, W)")
        return None
    if attr == "permute":
        args = call.args
        if len(args) == 1 and isinstance(args[0], (ast.Tuple, ast.List)):
            args = args[0].elts
        return _permute(model, call, tensor_fact(model, func.value, depth + 1), args)
    if attr == "unsqueeze":
        return _unsqueeze(model, call, tensor_fact(model, func.value, depth + 1), call_arg(call, 0, "dim"))
    inner = tensor_fact(model, func.value, depth + 1)
    if attr in _CAST_METHODS and not call.args:
        base = inner or TensorFact()
        f = replace(base, dtype=_CAST_METHODS[attr], values=None if _CAST_METHODS[attr] in FLOAT_DTYPES else base.values)
        return f.with_evidence(call, f".{attr}() converts to {_CAST_METHODS[attr]}")
    if attr in ("to", "type"):
        dt = next((dtype_of_expr(model, a) for a in [*call.args, *(k.value for k in call.keywords if k.arg == "dtype")] if dtype_of_expr(model, a)), None)
        if dt is not None:
            base = inner or TensorFact()
            return replace(base, dtype=dt).with_evidence(call, f".{attr}() converts to {dt}")
        return inner
    if inner is None:
        return None
    if attr in ("view", "reshape", "flatten", "squeeze", "unsqueeze", "expand", "repeat", "t", "transpose") and inner.shape is None:
        return replace(inner, values=None, image=False)  # rank unknown, dtype kept
    if attr in _SAME_METHODS:
        return replace(inner, values=None, vmin=None, vmax=None) if attr not in ("cuda", "cpu", "contiguous", "clone", "detach", "requires_grad_", "pin_memory") else inner
    if attr == "squeeze" and inner.shape is not None:
        dim = call_arg(call, 0, "dim")
        if dim is None:  # squeeze(): every size-1 dimension goes; the dtype stays
            return replace(inner, shape=None, values=None, image=False)
        d = int_value(model, dim)
        if d is None:
            return None
        r = len(inner.shape)
        d = d + r if d < 0 else d
        if 0 <= d < r and inner.shape[d] == 1:
            return replace(inner, shape=inner.shape[:d] + inner.shape[d + 1:], image=False)
        return None
    return None


def _permute(model: SemanticModel, call: ast.Call, inner: TensorFact | None, dims: list[ast.expr]) -> TensorFact | None:
    ds = [int_value(model, d) for d in dims]
    if not ds or any(d is None for d in ds):
        return None
    r = len(ds)
    ds = [d + r if d < 0 else d for d in ds]  # type: ignore[operator]
    if inner is not None and inner.shape is not None and len(inner.shape) == r:
        shape = tuple(inner.shape[d] for d in ds)  # type: ignore[index]
    else:
        shape = (None,) * r
    image = r == 3 and ds == [2, 0, 1]
    f = TensorFact(shape=shape, dtype=inner.dtype if inner else None, image=image or (bool(inner and inner.image) and ds == [0, 1, 2]))
    ev = inner.evidence if inner else ()
    msg = ".permute(2, 0, 1) turns one H x W x C image into (C, H, W)" if image else f".permute gives a {r}-D tensor"
    return replace(f, evidence=ev).with_evidence(call, msg)


def _unsqueeze(model: SemanticModel, call: ast.Call, inner: TensorFact | None, dim: ast.expr | None) -> TensorFact | None:
    d = int_value(model, dim)
    if inner is not None and inner.shape is None and inner.dtype is not None:
        return replace(inner, values=None, image=False)  # rank unknown, dtype kept
    if inner is None or inner.shape is None or d is None:
        return None
    r = len(inner.shape) + 1
    d = d + r if d < 0 else d
    if not 0 <= d < r:
        return None
    shape = inner.shape[:d] + (1,) + inner.shape[d:]
    return replace(inner, shape=shape, image=False, values=None).with_evidence(call, f".unsqueeze({d}) gives shape {TensorFact(shape=shape).shape_text()}")


def _fact_of_subscript(model: SemanticModel, node: ast.Subscript, depth: int) -> TensorFact | None:
    inner = tensor_fact(model, node.value, depth + 1)
    if inner is None or inner.shape is None:
        return None
    idx = node.slice
    items = list(idx.elts) if isinstance(idx, ast.Tuple) else [idx]
    shape = list(inner.shape)
    out: list[int | None] = []
    i = 0
    dropped_first = False
    for k, it in enumerate(items):
        if isinstance(it, ast.Constant) and it.value is None:
            out.append(1)
            continue
        if isinstance(it, ast.Constant) and it.value is Ellipsis:
            rest = sum(1 for x in items[k + 1:] if not (isinstance(x, ast.Constant) and x.value is None))
            take = len(shape) - i - rest
            if take < 0:
                return None
            out.extend(shape[i:i + take])
            i += take
            continue
        if i >= len(shape):
            return None
        if isinstance(it, ast.Slice):
            full = it.lower is None and it.upper is None and it.step is None
            out.append(shape[i] if full else None)
            i += 1
            continue
        if is_int_like(model, it):
            if i == 0:
                dropped_first = True
            i += 1
            continue
        return None  # a tensor or unknown index
    out.extend(shape[i:])
    image = dropped_first and len(inner.shape) == 4 and len(out) == 3 and len(items) == 1
    f = TensorFact(shape=tuple(out), dtype=inner.dtype, image=image or (inner.image and len(out) == 3 and all(isinstance(x, ast.Slice) for x in items)), evidence=inner.evidence)
    msg = f"indexing one image out of a batch {inner.shape_text()} leaves {f.shape_text()}" if image else f"indexing gives shape {f.shape_text()}"
    return f.with_evidence(node, msg)


def _fact_of_binop(model: SemanticModel, node: ast.BinOp, depth: int) -> TensorFact | None:
    left = tensor_fact(model, node.left, depth + 1)
    right = tensor_fact(model, node.right, depth + 1)
    if left is None and right is None:
        if isinstance(node.op, ast.Div):
            # True division never gives integers (tensor or Python number alike).
            return TensorFact(dtype="float32").with_evidence(node, "`/` is true division: the result is floating point")
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)) and any(isinstance(_number(n), float) for n in (node.left, node.right)):
            # A float literal promotes an int tensor (or an int) to floating point.
            return TensorFact(dtype="float32").with_evidence(node, "arithmetic with a float scalar gives floating point")
        return None
    lnum = _number(node.left)
    rnum = _number(node.right)
    if isinstance(node.op, ast.Div):
        base = left if left is not None else right
        shape = base.shape if (left is None or right is None) and (lnum is not None or rnum is not None) else (
            left.shape if left and right and left.shape == right.shape else None
        )
        image = bool(base and base.image and shape == base.shape)
        f = TensorFact(shape=shape, dtype="float32" if not (base and base.is_float) else base.dtype, image=image, evidence=base.evidence if base else ())
        return f if image and base and base.is_float else f.with_evidence(node, "`/` is true division: the result is floating point")
    if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod)):
        if left is not None and rnum is not None:
            t, num = left, rnum
        elif right is not None and lnum is not None:
            t, num = right, lnum
        elif left is not None and right is not None and left.shape == right.shape:
            dtype = left.dtype if left.dtype == right.dtype else ("float32" if left.is_float or right.is_float else None)
            return TensorFact(shape=left.shape, dtype=dtype, evidence=left.evidence)
        elif (known := left if left is not None and left.is_float else right if right is not None and right.is_float else None) is not None:
            # Type promotion: a floating-point operand makes the result floating point, whatever
            # the other operand is (an int tensor, a Python number, another float tensor).
            return TensorFact(dtype=known.dtype, evidence=known.evidence)
        else:
            return None
        if isinstance(num, float) and not t.is_float:
            return TensorFact(shape=t.shape, dtype="float32", image=t.image, evidence=t.evidence).with_evidence(node, "arithmetic with a float scalar gives floating point")
        return TensorFact(shape=t.shape, dtype=t.dtype, image=t.image, evidence=t.evidence)
    return None


def _number(node: ast.AST) -> int | float | None:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _number(node.operand)
        return -v if v is not None else None
    if isinstance(node, ast.Name):
        return None
    return None
