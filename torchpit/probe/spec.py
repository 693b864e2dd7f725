"""Call specs: a flagged call, described as data, for a call-site probe.

A spec names an allowlisted torch callable and describes each argument; the worker
rebuilds the call on synthetic tensors. Nothing in a spec is ever evaluated as code.

Spec::

    {"rule": "PIT403",
     "op": "torch.nn.functional.interpolate",
     "args": [ARG, ...],                       # optional
     "kwargs": {"name": ARG, ...}}             # optional

ARG is exactly one of::

    {"tensor": {"shape": [3, 64, 64], "dtype": "float32",      # random data of that shape
                "fill": "randn" | "rand" | "zeros" | "ones" | "arange",   # optional
                "requires_grad": false}}                        # optional
    {"tensor": {"values": [0, 5, 1000], "dtype": "int64"}}     # literal data
    {"value": 32}            # a JSON literal: null, bool, number, string, or a list of them
    {"dtype": "float32"}     # a torch dtype, e.g. for dtype=torch.float32
    {"call": SPEC}           # a nested allowlisted call, without "rule"
    {"unknown": "why"}       # the analyzer could not determine it: the probe is unavailable
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

CALL_PROBE_RULES = ("PIT101", "PIT401", "PIT402", "PIT403", "PIT404")

ALLOWED_OPS = frozenset({
    "torch.index_select",
    "torch.gather",
    "torch.take",
    "torch.softmax",
    "torch.log_softmax",
    "torch.Tensor.index_select",
    "torch.Tensor.__getitem__",
    "torch.nn.functional.interpolate",
    "torch.nn.functional.embedding",
    "torch.nn.functional.cross_entropy",
    "torch.nn.functional.nll_loss",
    "torch.nn.functional.softmax",
    "torch.nn.functional.log_softmax",
})

SOFTMAX_OPS = frozenset({"torch.softmax", "torch.nn.functional.softmax"})
CROSS_ENTROPY_OPS = frozenset({"torch.nn.functional.cross_entropy"})

DTYPES = frozenset({
    "float16", "bfloat16", "float32", "float64",
    "uint8", "int8", "int16", "int32", "int64", "bool",
})
FILLS = frozenset({"randn", "rand", "zeros", "ones", "arange"})

MAX_NUMEL = 1 << 24  # 16M elements: probes stay tiny
MAX_VALUES = 4096
MAX_DEPTH = 4
MAX_ARGS = 16


class _Invalid(Exception):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)


@dataclass(frozen=True)
class TensorArg:
    dtype: str
    shape: tuple[int, ...] | None = None
    values: Any = None
    fill: str | None = None
    requires_grad: bool = False


@dataclass(frozen=True)
class ValueArg:
    value: Any


@dataclass(frozen=True)
class DtypeArg:
    name: str


@dataclass(frozen=True)
class UnknownArg:
    reason: str


@dataclass(frozen=True)
class CallArg:
    call: CallSpec


Arg = Union[TensorArg, ValueArg, DtypeArg, UnknownArg, CallArg]


@dataclass(frozen=True)
class CallSpec:
    op: str
    args: tuple[Arg, ...]
    kwargs: tuple[tuple[str, Arg], ...]
    rule: str | None = None


def parse_call_spec(data: Any) -> CallSpec:
    """Validate a call spec (parsed JSON) strictly; raise SpecError naming the bad field."""
    from torchpit.probe.result import SpecError

    try:
        spec = _parse_call(data, "", depth=0, top=True)
        _check_rule_shape(spec)
    except _Invalid as exc:
        raise SpecError(f"invalid call spec: {exc}") from None
    return spec


def unknown_arguments(spec: CallSpec, prefix: str = "") -> list[tuple[str, str]]:
    """(path, reason) of every argument the analyzer marked unknown, nested calls included."""
    found: list[tuple[str, str]] = []
    named = [(f"{prefix}args[{i}]", arg) for i, arg in enumerate(spec.args)]
    named += [(f"{prefix}kwargs.{name}", arg) for name, arg in spec.kwargs]
    for path, arg in named:
        if isinstance(arg, UnknownArg):
            found.append((path, arg.reason))
        elif isinstance(arg, CallArg):
            found += unknown_arguments(arg.call, prefix=f"{path}.call.")
    return found


def _expect_keys(obj: Any, path: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _Invalid(path, f"expected an object, got {type(obj).__name__}")
    missing = required - obj.keys()
    if missing:
        raise _Invalid(path, f"missing key(s) {sorted(missing)}")
    extra = obj.keys() - required - optional
    if extra:
        raise _Invalid(path, f"unexpected key(s) {sorted(extra)}")
    return obj


def _parse_call(data: Any, path: str, depth: int, top: bool) -> CallSpec:
    if depth > MAX_DEPTH:
        raise _Invalid(path, f"calls nested deeper than {MAX_DEPTH}")
    optional = {"args", "kwargs"} | ({"rule"} if top else set())
    obj = _expect_keys(data, path, {"op"} | ({"rule"} if top else set()), optional)
    rule = None
    if top:
        rule = obj["rule"]
        if rule not in CALL_PROBE_RULES:
            raise _Invalid(_join(path, "rule"), f"expected one of {list(CALL_PROBE_RULES)}, got {rule!r}")
    op = obj["op"]
    if not isinstance(op, str) or op not in ALLOWED_OPS:
        raise _Invalid(_join(path, "op"), f"{op!r} is not an allowed callable; allowed: {sorted(ALLOWED_OPS)}")
    raw_args = obj.get("args", [])
    if not isinstance(raw_args, list) or len(raw_args) > MAX_ARGS:
        raise _Invalid(_join(path, "args"), f"expected a list of at most {MAX_ARGS} arguments")
    raw_kwargs = obj.get("kwargs", {})
    if not isinstance(raw_kwargs, dict) or len(raw_kwargs) > MAX_ARGS:
        raise _Invalid(_join(path, "kwargs"), f"expected an object of at most {MAX_ARGS} arguments")
    args = tuple(_parse_arg(a, _join(path, f"args[{i}]"), depth) for i, a in enumerate(raw_args))
    kwargs = []
    for name, arg in raw_kwargs.items():
        if not name.isidentifier():
            raise _Invalid(_join(path, "kwargs"), f"{name!r} is not a valid keyword name")
        kwargs.append((name, _parse_arg(arg, _join(path, f"kwargs.{name}"), depth)))
    return CallSpec(op=op, args=args, kwargs=tuple(kwargs), rule=rule)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _parse_arg(data: Any, path: str, depth: int) -> Arg:
    if not isinstance(data, dict) or len(data) != 1:
        raise _Invalid(path, "expected an object with exactly one of tensor, value, dtype, call, unknown")
    (kind, body), = data.items()
    inner = _join(path, kind)
    if kind == "tensor":
        return _parse_tensor(body, inner)
    if kind == "value":
        _check_literal(body, inner, depth=0)
        return ValueArg(body)
    if kind == "dtype":
        if body not in DTYPES:
            raise _Invalid(inner, f"expected one of {sorted(DTYPES)}, got {body!r}")
        return DtypeArg(body)
    if kind == "call":
        return CallArg(_parse_call(body, inner, depth + 1, top=False))
    if kind == "unknown":
        if not isinstance(body, str) or not body.strip():
            raise _Invalid(inner, "expected a non-empty string saying why")
        return UnknownArg(body)
    raise _Invalid(path, f"unknown argument kind {kind!r}; expected tensor, value, dtype, call or unknown")


def _parse_tensor(body: Any, path: str) -> TensorArg:
    obj = _expect_keys(body, path, {"dtype"}, {"shape", "values", "fill", "requires_grad"})
    dtype = obj["dtype"]
    if dtype not in DTYPES:
        raise _Invalid(_join(path, "dtype"), f"expected one of {sorted(DTYPES)}, got {dtype!r}")
    if ("shape" in obj) == ("values" in obj):
        raise _Invalid(path, "expected exactly one of shape, values")
    requires_grad = obj.get("requires_grad", False)
    if not isinstance(requires_grad, bool):
        raise _Invalid(_join(path, "requires_grad"), "expected true or false")
    if requires_grad and not _is_float(dtype):
        raise _Invalid(_join(path, "requires_grad"), f"only floating-point tensors can require grad, not {dtype}")
    fill = obj.get("fill")
    if fill is not None and (fill not in FILLS or "values" in obj):
        raise _Invalid(_join(path, "fill"), f"expected one of {sorted(FILLS)}, with shape (not values)")
    if fill in ("randn", "rand") and not _is_float(dtype):
        raise _Invalid(_join(path, "fill"), f"{fill} needs a floating-point dtype, not {dtype}")
    if "values" in obj:
        values = obj["values"]
        if _count_numbers(values, _join(path, "values"), depth=0) > MAX_VALUES:
            raise _Invalid(_join(path, "values"), f"more than {MAX_VALUES} values")
        return TensorArg(dtype=dtype, values=values, requires_grad=requires_grad)
    shape = obj["shape"]
    if (not isinstance(shape, list) or len(shape) > 8
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise _Invalid(_join(path, "shape"), "expected a list of at most 8 non-negative integers")
    numel = 1
    for dim in shape:
        numel *= dim
    if numel > MAX_NUMEL:
        raise _Invalid(_join(path, "shape"), f"{numel} elements is more than the {MAX_NUMEL} a probe allows")
    return TensorArg(dtype=dtype, shape=tuple(shape), fill=fill, requires_grad=requires_grad)


def _is_float(dtype: str) -> bool:
    return dtype.startswith(("float", "bfloat"))


def _count_numbers(values: Any, path: str, depth: int) -> int:
    if isinstance(values, (bool, int, float)):
        return 1
    if isinstance(values, list) and depth < 8:
        return sum(_count_numbers(v, path, depth + 1) for v in values)
    raise _Invalid(path, "expected a number or a nested list of numbers")


def _check_literal(value: Any, path: str, depth: int) -> None:
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, list) and depth < 4 and len(value) <= MAX_VALUES:
        for item in value:
            _check_literal(item, path, depth + 1)
        return
    raise _Invalid(path, "expected null, a bool, a number, a string or a (short) list of them")


def _check_rule_shape(spec: CallSpec) -> None:
    """Each rule's judge needs a particular call; say so here rather than guess later."""
    if spec.rule == "PIT101":
        if spec.op not in CROSS_ENTROPY_OPS:
            raise _Invalid("op", "a PIT101 spec must be a cross_entropy call")
        first = spec.args[0] if spec.args else None
        if not (isinstance(first, CallArg) and first.call.op in SOFTMAX_OPS and first.call.args
                and isinstance(first.call.args[0], (TensorArg, UnknownArg))):
            raise _Invalid("args[0]", "a PIT101 spec needs a softmax call over a tensor as its input")
    if spec.rule in ("PIT403", "PIT404"):
        if spec.op != "torch.nn.functional.interpolate":
            raise _Invalid("op", f"a {spec.rule} spec must be a torch.nn.functional.interpolate call")
        if not spec.args or not isinstance(spec.args[0], (TensorArg, UnknownArg)):
            raise _Invalid("args[0]", f"a {spec.rule} spec needs the input tensor as args[0]")


def describe_call(spec: CallSpec) -> str:
    """The call as a user would read it: ``interpolate(<float32 (3, 64, 64)>, size=[32, 32])``."""
    parts = [_describe_arg(arg) for arg in spec.args]
    parts += [f"{name}={_describe_arg(arg)}" for name, arg in spec.kwargs]
    return f"{spec.op.rsplit('.', 1)[-1]}({', '.join(parts)})"


def _describe_arg(arg: Arg) -> str:
    if isinstance(arg, TensorArg):
        if arg.values is not None:
            values = repr(arg.values)
            return f"tensor({values if len(values) <= 40 else '[...]'}, dtype={arg.dtype})"
        return f"<{arg.dtype} {tuple(arg.shape or ())}>"
    if isinstance(arg, ValueArg):
        return repr(arg.value)
    if isinstance(arg, DtypeArg):
        return f"torch.{arg.name}"
    if isinstance(arg, CallArg):
        return describe_call(arg.call)
    return "<unknown>"
