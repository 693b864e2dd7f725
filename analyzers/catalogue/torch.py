"""``torch``: tensor functions (creators, elementwise, rearranging), grad mode, autograd, the
``torch.Tensor`` methods that take an index, the methods of ``nn.Module``, optimizers, gradient
scalers, TorchScript, data loaders, and the namespaces the analysis asks about."""

from __future__ import annotations

from .records import (
    DataLoader, Domain, Dtype, Effect, GradCall, GradContext, GradNeutral, GradScaler, IndexOp, JitKind, JitModule, ModuleMethod, Namespace,
    Optimizer, Record, TensorFunction, TensorMember, Wrapper,
)

E = Effect


def _fn(qualname: str, *effects: Effect, dtype: str | None = None, grad_free: bool = False, factory: bool = False) -> TensorFunction:
    return TensorFunction(qualname, frozenset(effects), dtype, grad_free, factory)


NAMESPACES: list[Record] = [
    Namespace("torch"),
    Namespace("torch.optim", optimizers=True),  # ``torch.optim.<Class>``: every class of the package
    # An LR scheduler also has a ``step()``; SWA's ``AveragedModel`` is a module.
    Namespace("torch.optim.lr_scheduler", optimizers=False),
    Namespace("torch.optim.swa_utils", optimizers=False),
    Namespace("torch.distributed"),
    Namespace("torch.Tensor"),
]


def _fns(names: str, *effects: Effect, dtype: str | None = None, grad_free: bool = False, factory: bool = False) -> list[Record]:
    """The records of the functions ``torch.<name>`` for each of ``names``, all of one shape."""
    return [_fn(f"torch.{name}", *effects, dtype=dtype, grad_free=grad_free, factory=factory) for name in names.split()]


FUNCTIONS: list[Record] = [
    # creators (factory: what a smoke test builds its input with)
    *_fns("randn rand zeros ones empty", E.CREATE, dtype="float32", grad_free=True, factory=True),
    _fn("torch.full", E.FULL, grad_free=True, factory=True),
    _fn("torch.randint", E.RANDINT, dtype="int64", grad_free=True, factory=True),
    _fn("torch.randperm", E.RANDPERM, dtype="int64", grad_free=True),
    _fn("torch.arange", E.ARANGE, grad_free=True, factory=True),
    _fn("torch.linspace", E.SPACE, dtype="float32", grad_free=True, factory=True),
    _fn("torch.logspace", E.SPACE, dtype="float32"),
    *_fns("eye zeros_like ones_like randn_like rand_like", grad_free=True, factory=True),
    *_fns("multinomial empty_like full_like", grad_free=True),
    # tensors from data
    _fn("torch.tensor", E.FROM_DATA, E.FROM_ARRAY, grad_free=True, factory=True),
    _fn("torch.as_tensor", E.FROM_DATA, E.FROM_ARRAY, grad_free=True),
    _fn("torch.Tensor", E.FROM_DATA, E.FROM_ARRAY, dtype="float32"),
    _fn("torch.from_numpy", E.FROM_ARRAY, grad_free=True),
    *(_fn(f"torch.{name}", E.FROM_DATA, dtype=dtype) for name, dtype in (
        ("LongTensor", "int64"), ("IntTensor", "int32"), ("FloatTensor", "float32"), ("DoubleTensor", "float64"),
    )),
    # integer / boolean results
    *_fns("argmax argmin argsort eq sign isnan isinf", grad_free=True),
    # elementwise
    *_fns("floor ceil round", E.ELEMENTWISE, grad_free=True),
    *_fns("trunc abs clamp clip sigmoid tanh relu sqrt", E.ELEMENTWISE),
    _fn("torch.exp", E.ELEMENTWISE, E.EXP),
    _fn("torch.special.exp", E.EXP),
    _fn("torch.log", E.LOG),
    *_fns("div true_divide", E.TRUE_DIVIDE),
    _fn("torch.mean", E.MEAN),
    # rearranging
    _fn("torch.permute", E.PERMUTE, E.REARRANGE),
    _fn("torch.unsqueeze", E.UNSQUEEZE, E.REARRANGE),
    *_fns("flatten reshape transpose squeeze movedim swapaxes narrow clone", E.REARRANGE),
    *_fns("cat concat concatenate stack", E.CONCAT),
]

ACTIVATIONS: list[Record] = []  # torch.softmax & co. live with their functional forms (functional.py)

GRAD: list[Record] = [
    GradContext("torch.no_grad", enables=False),
    GradContext("torch.inference_mode", enables=False, mode_arg=0),
    GradContext("torch.set_grad_enabled", enables=None, mode_arg=0),
    GradContext("torch.enable_grad", enables=True),
    # Contexts and decorators that keep the caller's grad mode (autocast, profilers, devices,
    # streams, TorchScript and compile wrappers).
    *(GradNeutral(q) for q in (
        "torch.autocast", "torch.amp.autocast", "torch.cuda.amp.autocast", "torch.cpu.amp.autocast",
        "torch.autograd.profiler.profile", "torch.autograd.profiler.record_function", "torch.profiler.profile",
        "torch.profiler.record_function", "torch.device", "torch.cuda.device", "torch.cuda.stream",
        "torch.serialization.safe_globals", "torch.autograd.detect_anomaly", "torch.autograd.set_detect_anomaly",
        "torch.random.fork_rng", "torch.backends.cudnn.flags", "torch.jit.script", "torch.jit.ignore",
        "torch.jit.unused", "torch.jit.export", "torch.compile", "torch.fx.wrap",
    )),
    GradCall("torch.autograd.backward", "backward", 0, "tensors"),
    GradCall("torch.autograd.grad", "grad", 0, "outputs"),
]

# Calls that return the model they are given (wrapped or compiled): the same parameters, the same mode.
WRAPPERS: list[Record] = [
    Wrapper("torch.compile"),
    Wrapper("torch.jit.script"),
]

# ``torch.<op>(input, dim, index)`` and ``x.<op>(dim, index)``; the in-place ``x.<op>_(dim, index)``
# has no function form.
_DIM_INDEX_OPS = ("index_select", "gather", "scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy", "index_fill")
_IN_PLACE = ("scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy", "index_fill")
INDEX_OPS: list[Record] = [
    *(IndexOp(f"torch.Tensor.{op}", 2, 1, "index", 0) for op in _DIM_INDEX_OPS),
    *(IndexOp(f"torch.Tensor.{op}_", None, 1, "index", 0) for op in _IN_PLACE),
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

# The methods of torch.nn.Module itself (torch 2.x): ``model.cuda()``, ``model.get_submodule("fc")``
# return or change the module; none of them runs its forward.
_MODULE_METHODS = (
    "add_module", "apply", "bfloat16", "buffers", "children", "compile", "cpu", "cuda", "double", "eval", "extra_repr",
    "float", "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "load_state_dict",
    "modules", "mtia", "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
    "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_module", "register_parameter", "register_state_dict_pre_hook", "requires_grad_", "set_extra_state",
    "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train", "type", "xpu", "zero_grad",
)
_RETURNS_SELF = {
    "to", "cuda", "cpu", "train", "eval", "half", "float", "double", "bfloat16", "requires_grad_", "apply", "to_empty",
    "share_memory",
}
_MODULE_GRAD_FREE = {"parameters", "named_parameters", "state_dict"}
_PROTOCOL = {
    "eval", "train", "parameters", "named_parameters", "buffers", "named_buffers", "modules", "named_modules",
    "children", "named_children", "state_dict", "load_state_dict", "zero_grad", "requires_grad_",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook", "register_buffer",
}
MODULE_METHODS: list[Record] = [
    ModuleMethod(
        f"torch.nn.Module.{name}",
        returns_self=name in _RETURNS_SELF,
        grad_free=name in _MODULE_GRAD_FREE,
        protocol=name in _PROTOCOL,
    )
    for name in _MODULE_METHODS
]

# Optimizers: the classes of ``torch.optim`` (the namespace says so too) under the spellings code uses.
OPTIMIZERS: list[Record] = [
    *(Optimizer(f"torch.optim.{name}") for name in (
        "Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "LBFGS", "ASGD", "Rprop",
        "SparseAdam", "Adafactor", "adam.Adam", "adamw.AdamW", "sgd.SGD",
    )),
    Optimizer("torch.optim.Optimizer", base=True),
    Optimizer("torch.optim.optimizer.Optimizer", base=True),
]

GRAD_SCALERS: list[Record] = [
    GradScaler(q) for q in (
        "torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cpu.amp.GradScaler",
        "torch.cuda.amp.grad_scaler.GradScaler", "torch.amp.grad_scaler.GradScaler",
    )
]

# TorchScript (measured with torch 2.13.0+cpu, benchmarks/jit_facts.py):
# - a module from freeze / optimize_for_inference has no parameters and its outputs do not require
#   grad outside no_grad; freeze raises on a module in train mode, and its .train() leaves
#   dropout off: it is in eval mode for good;
# - a traced module shares the traced module's parameters, its calls record autograd, and it keeps
#   the mode it was traced in (.eval() on a module traced in train mode leaves dropout on and
#   batch-norm statistics moving, also under no_grad; .train() on one traced in eval mode leaves
#   dropout off and the statistics still); it is a module exactly when what it traces is one;
#   tracing runs the forward once (in train mode it moves the batch-norm statistics, also under
#   no_grad), which is no evaluation;
# - a scripted or loaded module's calls record autograd (a loaded module's parameters require
#   grad) and follow .eval() / .train(); a loaded module starts in the mode it was saved in.
JIT: list[Record] = [
    JitModule("torch.jit.freeze", JitKind.INFERENCE),
    JitModule("torch.jit.optimize_for_inference", JitKind.INFERENCE),
    JitModule("torch.jit.trace", JitKind.TRACED),
    JitModule("torch.jit.trace_module", JitKind.TRACED),
    JitModule("torch.jit.load", JitKind.LOADED),
]

DATA_LOADERS: list[Record] = [DataLoader("torch.utils.data.DataLoader"), DataLoader("torch.utils.data.dataloader.DataLoader")]

RECORDS: list[Record] = (
    NAMESPACES + FUNCTIONS + ACTIVATIONS + GRAD + WRAPPERS + INDEX_OPS + DTYPES + TENSOR_MEMBERS + MODULE_METHODS
    + OPTIMIZERS + GRAD_SCALERS + JIT + DATA_LOADERS
)

__all__ = ["RECORDS", "VARIABLE", "Domain"]
