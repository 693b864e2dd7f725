"""``torch``: tensor functions (creators, elementwise, rearranging), grad mode, autograd, the
``torch.Tensor`` methods that take an index, and the namespaces the analysis asks about."""

from __future__ import annotations

from .records import (
    Domain, Dtype, Effect, GradCall, GradContext, IndexOp, ModuleMethod, Namespace, Record, TensorFunction, TensorMember,
    Wrapper,
)

E = Effect


def _fn(qualname: str, *effects: Effect, dtype: str | None = None, grad_free: bool = False) -> TensorFunction:
    return TensorFunction(qualname, frozenset(effects), dtype, grad_free)


NAMESPACES: list[Record] = [
    Namespace("torch"),
    Namespace("torch.optim"),
    Namespace("torch.optim.lr_scheduler"),
    Namespace("torch.optim.swa_utils"),
    Namespace("torch.distributed"),
    Namespace("torch.Tensor"),
]

FUNCTIONS: list[Record] = [
    # creators
    _fn("torch.randn", E.CREATE, dtype="float32", grad_free=True),
    _fn("torch.rand", E.CREATE, dtype="float32", grad_free=True),
    _fn("torch.zeros", E.CREATE, dtype="float32", grad_free=True),
    _fn("torch.ones", E.CREATE, dtype="float32", grad_free=True),
    _fn("torch.empty", E.CREATE, dtype="float32", grad_free=True),
    _fn("torch.full", E.FULL, grad_free=True),
    _fn("torch.randint", E.RANDINT, dtype="int64", grad_free=True),
    _fn("torch.randperm", E.RANDPERM, dtype="int64", grad_free=True),
    _fn("torch.arange", E.ARANGE, grad_free=True),
    _fn("torch.linspace", E.SPACE, dtype="float32", grad_free=True),
    _fn("torch.logspace", E.SPACE, dtype="float32"),
    _fn("torch.eye", grad_free=True),
    _fn("torch.multinomial", grad_free=True),
    _fn("torch.zeros_like", grad_free=True),
    _fn("torch.ones_like", grad_free=True),
    _fn("torch.empty_like", grad_free=True),
    _fn("torch.randn_like", grad_free=True),
    _fn("torch.rand_like", grad_free=True),
    _fn("torch.full_like", grad_free=True),
    # tensors from data
    _fn("torch.tensor", E.FROM_DATA, E.FROM_ARRAY, grad_free=True),
    _fn("torch.as_tensor", E.FROM_DATA, E.FROM_ARRAY, grad_free=True),
    _fn("torch.Tensor", E.FROM_DATA, E.FROM_ARRAY, dtype="float32"),
    _fn("torch.from_numpy", E.FROM_ARRAY, grad_free=True),
    _fn("torch.LongTensor", E.FROM_DATA, dtype="int64"),
    _fn("torch.IntTensor", E.FROM_DATA, dtype="int32"),
    _fn("torch.FloatTensor", E.FROM_DATA, dtype="float32"),
    _fn("torch.DoubleTensor", E.FROM_DATA, dtype="float64"),
    # integer / boolean results
    _fn("torch.argmax", grad_free=True),
    _fn("torch.argmin", grad_free=True),
    _fn("torch.argsort", grad_free=True),
    _fn("torch.eq", grad_free=True),
    _fn("torch.sign", grad_free=True),
    _fn("torch.isnan", grad_free=True),
    _fn("torch.isinf", grad_free=True),
    # elementwise
    _fn("torch.floor", E.ELEMENTWISE, grad_free=True),
    _fn("torch.ceil", E.ELEMENTWISE, grad_free=True),
    _fn("torch.round", E.ELEMENTWISE, grad_free=True),
    _fn("torch.trunc", E.ELEMENTWISE),
    _fn("torch.abs", E.ELEMENTWISE),
    _fn("torch.clamp", E.ELEMENTWISE),
    _fn("torch.clip", E.ELEMENTWISE),
    _fn("torch.sigmoid", E.ELEMENTWISE),
    _fn("torch.tanh", E.ELEMENTWISE),
    _fn("torch.exp", E.ELEMENTWISE, E.EXP),
    _fn("torch.special.exp", E.EXP),
    _fn("torch.log", E.LOG),
    _fn("torch.relu", E.ELEMENTWISE),
    _fn("torch.sqrt", E.ELEMENTWISE),
    _fn("torch.div", E.TRUE_DIVIDE),
    _fn("torch.true_divide", E.TRUE_DIVIDE),
    _fn("torch.mean", E.MEAN),
    # rearranging
    _fn("torch.permute", E.PERMUTE, E.REARRANGE),
    _fn("torch.unsqueeze", E.UNSQUEEZE, E.REARRANGE),
    _fn("torch.flatten", E.REARRANGE),
    _fn("torch.reshape", E.REARRANGE),
    _fn("torch.transpose", E.REARRANGE),
    _fn("torch.squeeze", E.REARRANGE),
    _fn("torch.movedim", E.REARRANGE),
    _fn("torch.swapaxes", E.REARRANGE),
    _fn("torch.narrow", E.REARRANGE),
    _fn("torch.clone", E.REARRANGE),
    _fn("torch.cat", E.CONCAT),
    _fn("torch.concat", E.CONCAT),
    _fn("torch.concatenate", E.CONCAT),
    _fn("torch.stack", E.CONCAT),
]

ACTIVATIONS: list[Record] = []  # torch.softmax & co. live with their functional forms (functional.py)

GRAD: list[Record] = [
    GradContext("torch.no_grad", enables=False),
    GradContext("torch.inference_mode", enables=False, mode_arg=0),
    GradContext("torch.set_grad_enabled", enables=None, mode_arg=0),
    GradContext("torch.enable_grad", enables=True),
    GradCall("torch.autograd.backward", "backward", 0, "tensors"),
    GradCall("torch.autograd.grad", "grad", 0, "outputs"),
]

# Calls that return the model they are given (wrapped or compiled): the same parameters, the same mode.
WRAPPERS: list[Record] = [
    Wrapper("torch.compile"),
    Wrapper("torch.jit.script"),
]

INDEX_OPS: list[Record] = [
    IndexOp("torch.Tensor.index_select", 2, 1, "index", 0),
    IndexOp("torch.Tensor.gather", 2, 1, "index", 0),
    IndexOp("torch.Tensor.scatter", 2, 1, "index", 0),
    IndexOp("torch.Tensor.scatter_", None, 1, "index", 0),
    IndexOp("torch.Tensor.scatter_add", 2, 1, "index", 0),
    IndexOp("torch.Tensor.scatter_add_", None, 1, "index", 0),
    IndexOp("torch.Tensor.scatter_reduce", 2, 1, "index", 0),
    IndexOp("torch.Tensor.scatter_reduce_", None, 1, "index", 0),
    IndexOp("torch.Tensor.index_add", 2, 1, "index", 0),
    IndexOp("torch.Tensor.index_add_", None, 1, "index", 0),
    IndexOp("torch.Tensor.index_copy", 2, 1, "index", 0),
    IndexOp("torch.Tensor.index_copy_", None, 1, "index", 0),
    IndexOp("torch.Tensor.index_fill", 2, 1, "index", 0),
    IndexOp("torch.Tensor.index_fill_", None, 1, "index", 0),
    IndexOp("torch.Tensor.take", 1, 0, "index", None),
    IndexOp("torch.Tensor.take_along_dim", 1, 0, "indices", None),
]

# Deprecated autograd wrapper (``Variable(x, volatile=True)``), under the spellings code uses.
VARIABLE = ("torch.autograd.Variable", "torch.autograd.variable.Variable", "torch.Variable")

# Spellings of dtypes under ``torch`` (numpy's share them: ``np.float32``), and legacy tensor types.
_DTYPES = {
    "float": "float32", "float32": "float32", "float64": "float64", "double": "float64",
    "float16": "float16", "half": "float16", "bfloat16": "bfloat16",
    "long": "int64", "int64": "int64", "int": "int32", "int32": "int32", "int16": "int16",
    "short": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool",
}
_TENSOR_TYPES = {
    "FloatTensor": "float32", "DoubleTensor": "float64", "HalfTensor": "float16", "LongTensor": "int64",
    "IntTensor": "int32", "ByteTensor": "uint8", "BoolTensor": "bool",
}
DTYPES: list[Record] = [
    *(Dtype(f"torch.{name}", dtype) for name, dtype in _DTYPES.items()),
    *(Dtype(f"torch.{name}", dtype, tensor_type=True) for name, dtype in _TENSOR_TYPES.items()),
]

# Tensor members, by what they do.
_KEEPS_SHAPE_AND_DTYPE = {
    "cuda", "cpu", "contiguous", "clone", "detach", "requires_grad_", "pin_memory", "abs", "neg", "relu", "sigmoid",
    "tanh", "exp", "floor", "ceil", "round", "trunc", "sqrt", "clamp", "clip", "clamp_", "mul", "add", "sub",
}
_CASTS = {
    "float": "float32", "double": "float64", "half": "float16", "bfloat16": "bfloat16",
    "long": "int64", "int": "int32", "short": "int16", "byte": "uint8", "char": "int8", "bool": "bool",
}
# Results that never require grad (integer results, Python values, detached copies).
_GRAD_FREE = {
    "detach", "detach_", "item", "numpy", "tolist", "argmax", "argmin", "argsort", "long", "int", "bool",
    "byte", "short", "char", "size", "dim", "numel", "nonzero", "eq", "ne", "lt", "gt", "le", "ge",
    "sign", "round", "floor", "ceil", "requires_grad_", "__len__", "isnan", "isinf", "isfinite", "multinomial",
}
# Results that hold no autograd graph (a value logged this way keeps no graph alive).
_NO_GRAPH = {
    "detach", "item", "numpy", "tolist", "size", "dim", "numel", "data",
    "argmax", "argmin", "argsort", "long", "int", "bool", "byte", "eq", "ne", "gt", "lt", "ge", "le", "sign", "nonzero",
}
# Rearrange or copy values without changing them: probabilities stay probabilities, indices stay indices.
_REARRANGES = {
    "view", "reshape", "permute", "transpose", "flatten", "squeeze", "unsqueeze", "contiguous",
    "float", "double", "half", "bfloat16", "to", "cuda", "cpu", "t", "view_as", "reshape_as",
    "resize", "resize_", "resize_as", "expand", "expand_as", "narrow", "movedim", "moveaxis",
    "swapaxes", "swapdims", "unflatten", "clone", "detach", "squeeze_", "unsqueeze_",
}
_VIEW_ATTRIBUTES = {"T", "mT", "real", "imag", "values"}
_EMA_UPDATES = {"copy_", "mul_", "add_", "lerp_", "sub_", "addcmul_"}

TENSOR_MEMBERS: list[Record] = [
    TensorMember(
        f"torch.Tensor.{name}",
        keeps_shape_and_dtype=name in _KEEPS_SHAPE_AND_DTYPE,
        casts_to=_CASTS.get(name),
        grad_free=name in _GRAD_FREE,
        no_graph=name in _NO_GRAPH,
        rearranges=name in _REARRANGES,
        attribute=name in _VIEW_ATTRIBUTES,
        ema_update=name in _EMA_UPDATES,
    )
    for name in sorted(
        _KEEPS_SHAPE_AND_DTYPE | set(_CASTS) | _GRAD_FREE | _NO_GRAPH | _REARRANGES | _VIEW_ATTRIBUTES | _EMA_UPDATES
    )
]

MODULE_METHODS: list[Record] = [
    *(ModuleMethod(f"torch.nn.Module.{name}", returns_self=True) for name in (
        "to", "cuda", "cpu", "train", "eval", "half", "float", "double", "bfloat16", "requires_grad_", "apply",
        "to_empty", "share_memory",
    )),
    *(ModuleMethod(f"torch.nn.Module.{name}", grad_free=True) for name in ("parameters", "named_parameters", "state_dict")),
]

RECORDS: list[Record] = (
    NAMESPACES + FUNCTIONS + ACTIVATIONS + GRAD + WRAPPERS + INDEX_OPS + DTYPES + TENSOR_MEMBERS + MODULE_METHODS
)

__all__ = ["RECORDS", "VARIABLE", "Domain"]
