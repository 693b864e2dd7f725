"""The sets and predicates the analysis asks, derived from the records of the catalogue.

Fact modules and rules ask here (or ``lookup`` a record) instead of spelling library names
themselves: each set below is computed from the records of the data modules, so adding an API
is adding its record.
"""

from __future__ import annotations

import re

from . import lightning, nn, pil, torch
from .aliases import canonical, spellings
from .index import lookup, of_kind
from .packages import CONTEXT_MANAGER_DECORATORS, EXIT_STACKS, GRAD_NEUTRAL_PACKAGES, LIBRARY_ROOTS, NO_MODEL_PACKAGES
from .records import (
    Accelerator, Activation, DataLoader, Domain, Dtype, Effect, Generate, GradCall, GradContext, GradNeutral, GradScaler, Hook, ImageMaker, IndexOp,
    JitKind, JitModule, Layer, Loss, LossModule, LrScheduler, ModelFactory, ModuleBase, ModuleMethod, Namespace, Optimizer,
    PretrainedModels, Record, Resize, TensorFunction, TensorMember, Wrapper, ZooModel,
)

__all__ = ["canonical", "CONTEXT_MANAGER_DECORATORS", "EXIT_STACKS", "GRAD_NEUTRAL_PACKAGES", "LIBRARY_ROOTS", "NO_MODEL_PACKAGES"]


def _names(kind: type[Record], test=lambda r: True) -> frozenset[str]:
    return frozenset(r.qualname for r in of_kind(kind) if test(r))


def _ns(qualname: str) -> str:
    """The prefix of names under the namespace ``qualname`` (which must have a record)."""
    rec = lookup(qualname, Namespace)
    assert rec is not None, qualname
    return rec.qualname + "."


# ---------------------------------------------------------------- namespaces
TORCH_ROOT = lookup("torch", Namespace).qualname  # type: ignore[union-attr]  # the module name ``import torch`` binds
TORCH = _ns("torch")
NN = _ns("torch.nn")
FUNCTIONAL = _ns("torch.nn.functional")
OPTIM = _ns("torch.optim")
LR_SCHEDULER = lookup("torch.optim.lr_scheduler", Namespace).qualname  # type: ignore[union-attr]
SWA_UTILS = lookup("torch.optim.swa_utils", Namespace).qualname  # type: ignore[union-attr]
DISTRIBUTED = _ns("torch.distributed")
TENSOR = _ns("torch.Tensor")
TORCHVISION = _ns("torchvision")
TRANSFORMS = _ns("torchvision.transforms")
NUMPY = _ns("numpy")


def in_torch(q: str | None) -> bool:
    """A name under ``torch`` (``torch.nn.Linear``, ``torch.cat``)."""
    return q is not None and q.startswith(TORCH)


def torch_family(q: str | None) -> bool:
    """A name of ``torch`` or of a package named after it (``torchvision``, ``torchaudio``)."""
    return q is not None and q.startswith(TORCH_ROOT)


def in_nn(q: str | None) -> bool:
    return q is not None and q.startswith(NN)


def nn_class(q: str | None) -> bool:
    """A class of ``torch.nn`` (``torch.nn.Linear``, ``torch.nn.CrossEntropyLoss``)."""
    return q is not None and q.startswith(NN) and q[len(NN) : len(NN) + 1].isupper()


def nn_module_class(q: str | None) -> bool:
    """A class anywhere under ``torch.nn`` (``torch.nn.parallel.DistributedDataParallel`` too)."""
    return in_nn(q) and q.rsplit(".", 1)[-1][:1].isupper() and not in_functional(q)  # type: ignore[union-attr]


def in_functional(q: str | None) -> bool:
    return q is not None and q.startswith(FUNCTIONAL)


def in_distributed(q: str | None) -> bool:
    return q is not None and q.startswith(DISTRIBUTED)


def in_numpy(q: str | None) -> bool:
    return q is not None and q.startswith(NUMPY)


def in_transforms(q: str | None) -> bool:
    return q is not None and q.startswith(TRANSFORMS)


def top_level_torch(q: str | None) -> str | None:
    """``index_select`` for ``torch.index_select``: a function directly under ``torch``."""
    if q is not None and q.startswith(TORCH) and q.count(".") == 1:
        return q[len(TORCH) :]
    return None


def torch_member(q: str | None) -> str | None:
    """The rest of a name under ``torch`` (``float32`` for ``torch.float32``)."""
    return q[len(TORCH) :] if in_torch(q) else None


def numpy_member(q: str | None) -> str | None:
    return q[len(NUMPY) :] if in_numpy(q) else None


def tensor_method(method: str) -> str:
    """``torch.Tensor.<method>``."""
    return TENSOR + method


def is_tensor_method(q: str | None) -> bool:
    return q is not None and q.startswith(TENSOR)


TENSOR_GETITEM = tensor_method("__getitem__")


_LR_SCHEDULER_NAME = LR_SCHEDULER.rsplit(".", 1)[1]
_SWA_UTILS_NAME = SWA_UTILS.rsplit(".", 1)[1]


def optimizer_class(q: str | None) -> bool:
    """An optimizer class of ``torch.optim``: a name directly under it, not a scheduler, not ``swa_utils``."""
    return (
        q is not None and q.startswith(OPTIM) and _LR_SCHEDULER_NAME not in q and _SWA_UTILS_NAME not in q
        and q.count(".") == OPTIM.count(".")
    )


def optimizer_class_named(q: str | None) -> bool:
    """An optimizer class as a name under ``torch.optim`` starting with a capital (``torch.optim.Adam``)."""
    return (
        q is not None and q.startswith(OPTIM) and not q.startswith(LR_SCHEDULER)
        and q[len(OPTIM) : len(OPTIM) + 1].isupper()
    )


_SHORT = tuple((r.qualname + ".", r.short + ".") for r in of_kind(Namespace) if r.short)


def short(q: str) -> str:
    """How messages spell ``q``: ``F.interpolate``, ``nn.Upsample``, ``transforms.Resize``, ``np.linspace``."""
    for long, brief in sorted(_SHORT, key=lambda p: -len(p[0])):  # torch.nn.functional. before torch.nn.
        q = q.replace(long, brief)
    return q


# ---------------------------------------------------------------- nn.Module bases, wrappers
MODULE_BASES = _names(ModuleBase)
MODULE_WRAPPERS = _names(Wrapper)
PARAMETER = spellings(nn.PARAMETER)
VARIABLE = frozenset(torch.VARIABLE)

# ---------------------------------------------------------------- activations
def _act(domain: Domain, elementwise: bool, module: bool) -> frozenset[str]:
    return _names(Activation, lambda r: r.produces is domain and r.elementwise is elementwise and r.module is module and not r.method)


def _act_methods(domain: Domain, elementwise: bool) -> frozenset[str]:
    return frozenset(
        r.qualname.rsplit(".", 1)[1] for r in of_kind(Activation)
        if r.method and r.produces is domain and r.elementwise is elementwise
    )


SOFTMAX_FUNCS = _act(Domain.PROBS, False, False)
LOG_SOFTMAX_FUNCS = _act(Domain.LOG_PROBS, False, False)
SOFTMAX_MODULES = _act(Domain.PROBS, False, True)
LOG_SOFTMAX_MODULES = _act(Domain.LOG_PROBS, False, True)
SIGMOID_FUNCS = _act(Domain.PROBS, True, False)
SIGMOID_MODULES = _act(Domain.PROBS, True, True)
LOGSIGMOID_FUNCS = _act(Domain.LOG_PROBS, True, False)
LOGSIGMOID_MODULES = _act(Domain.LOG_PROBS, True, True)
SOFTMAX_METHODS = _act_methods(Domain.PROBS, False)  # x.softmax(dim)
LOG_SOFTMAX_METHODS = _act_methods(Domain.LOG_PROBS, False)
SIGMOID_METHODS = _act_methods(Domain.PROBS, True)

# ---------------------------------------------------------------- losses
def _loss(qualname: str) -> Loss:
    rec = lookup(qualname, Loss)
    assert rec is not None, qualname
    return rec


CROSS_ENTROPY = _loss("torch.nn.functional.cross_entropy").qualname
CROSS_ENTROPY_FUNCS = frozenset({CROSS_ENTROPY})
CROSS_ENTROPY_MODULES = frozenset(_loss(CROSS_ENTROPY).module_classes)
NLL_LOSS_FUNCS = frozenset({_loss("torch.nn.functional.nll_loss").qualname})
NLL_LOSS_MODULES = frozenset(_loss("torch.nn.functional.nll_loss").module_classes)
KL_DIV = _loss("torch.nn.functional.kl_div").qualname
KL_DIV_FUNCS = frozenset({KL_DIV})
KL_DIV_MODULES = frozenset(_loss(KL_DIV).module_classes)

# Losses that compare an input with a target of the same kind (regression, divergence): the
# position of the target (keyword ``target``).
TARGET_LOSS_FUNCS = {r.qualname: r.target_arg for r in of_kind(Loss) if r.compares_target}
TARGET_LOSS_MODULES = {c: r.target_arg for r in of_kind(Loss) if r.compares_target for c in r.module_classes}
# Losses whose gradient is the same whichever argument is "the target" (|a - b| and (a - b)^2 shapes).
SYMMETRIC_LOSSES = frozenset(q for r in of_kind(Loss) if r.symmetric for q in (r.qualname, *r.module_classes))

# ---------------------------------------------------------------- layers
def _layers(test, module: bool) -> frozenset[str]:
    return _names(Layer, lambda r: r.module is module and test(r))


BN_CLASSES = _layers(lambda r: r.has_batch_norm, True)
BATCH_NORM_BASES = nn.BATCH_NORM_BASES
DROPOUT_CLASSES = _layers(lambda r: r.has_dropout, True)
DROPOUT_FUNCS = _layers(lambda r: r.has_dropout, False)
PARAMETER_LAYERS = _layers(lambda r: r.has_parameters, True)
RAW_SCORE_MODULES = _layers(lambda r: r.raw_scores, True)
RAW_SCORE_FUNCS = _layers(lambda r: r.raw_scores, False)
CONTAINERS = _layers(lambda r: r.container, True)
SEQUENTIAL = lookup("torch.nn.Sequential", Layer).qualname  # type: ignore[union-attr]
INTERPOLATE_FUNCS = _layers(lambda r: r.upsample, False)
UPSAMPLE_MODULES = _layers(lambda r: r.upsample, True)
UPSAMPLING_BILINEAR = lookup("torch.nn.UpsamplingBilinear2d", Layer).qualname  # type: ignore[union-attr]
INTERPOLATE = lookup("torch.nn.functional.interpolate", Layer).qualname  # type: ignore[union-attr]
EMBEDDING_MODULES = _layers(lambda r: r.embedding, True)
EMBEDDING_FUNCS = _layers(lambda r: r.embedding, False)
EMBEDDING = lookup("torch.nn.Embedding", Layer).qualname  # type: ignore[union-attr]
RESIZE_SIZE_CALLS = {r.qualname: r.size_arg for r in of_kind(Resize)}  # calls whose size argument is (H, W)

# ---------------------------------------------------------------- model zoos
MODEL_FACTORY_PREFIXES = tuple(r.qualname + ("." if r.namespace else "") for r in of_kind(ModelFactory))


def zoo_model(q: str | None) -> ZooModel | None:
    """The family of a model-zoo constructor (``torchvision.models.resnet50``), when known."""
    if q is None:
        return None
    return next((r for r in of_kind(ZooModel) if r.matches(q)), None)


# ---------------------------------------------------------------- tensor functions
def _effect(effect: Effect) -> frozenset[str]:
    return _names(TensorFunction, lambda r: effect in r.effects)


def effect_of(q: str | None, effect: Effect) -> TensorFunction | None:
    """The record of ``q`` when it has ``effect``."""
    rec = lookup(q, TensorFunction)
    return rec if rec is not None and effect in rec.effects else None


GRAD_FREE_FUNCS = _names(TensorFunction, lambda r: r.grad_free)
EXP_FUNCS = _effect(Effect.EXP)
LOG_FUNCS = _effect(Effect.LOG)
REARRANGE_FUNCS = _effect(Effect.REARRANGE)
CONCAT_FUNCS = _effect(Effect.CONCAT)
MEAN_FUNCS = _effect(Effect.MEAN)
ELEMENTWISE_FUNCS = _effect(Effect.ELEMENTWISE)
CREATE_FUNCS = _effect(Effect.CREATE)
IMAGE_READERS = {r.qualname: r.dtype for r in of_kind(TensorFunction) if Effect.READ_IMAGE in r.effects}
TO_TENSOR_TRANSFORMS = {r.qualname: r.dtype for r in of_kind(TensorFunction) if Effect.TO_TENSOR in r.effects}
COMPOSE = _effect(Effect.COMPOSE)
RANK_KEEPING_TRANSFORMS = frozenset(q.rsplit(".", 1)[1] for q in _effect(Effect.KEEPS_RANK))

# Index-taking ops: position of the index among the arguments of the function form
# (``torch.index_select(input, dim, index)``) and of the method form (``x.index_select(dim, index)``),
# the keyword name, and the position of ``dim`` in the method form (None: no dim).
INDEX_OPS = {r.method: (r.function_index_arg, r.method_index_arg, r.index_kw, r.method_dim_arg) for r in of_kind(IndexOp)}

# ---------------------------------------------------------------- tensor members, dtypes
def _members(test) -> frozenset[str]:
    return frozenset(r.name for r in of_kind(TensorMember) if test(r))


REARRANGE_METHODS = _members(lambda r: r.rearranges)
SAME_SHAPE_METHODS = _members(lambda r: r.keeps_shape_and_dtype)  # keep shape and dtype
CAST_METHODS = {r.name: r.casts_to for r in of_kind(TensorMember) if r.casts_to}
# Methods whose result never requires grad: of tensors, and of modules (``model.parameters()``).
GRAD_FREE_METHODS = _members(lambda r: r.grad_free) | {r.name for r in of_kind(ModuleMethod) if r.grad_free}
NO_GRAPH_METHODS = _members(lambda r: r.no_graph)
VIEW_ATTRIBUTES = _members(lambda r: r.attribute)
EMA_UPDATE_METHODS = _members(lambda r: r.ema_update)
MODULE_RETURNING_METHODS = frozenset(r.name for r in of_kind(ModuleMethod) if r.returns_self)
DTYPE_NAMES = {r.name: r.dtype for r in of_kind(Dtype) if not r.tensor_type}  # torch.<name> / numpy.<name>
TENSOR_TYPES = {r.name: r.dtype for r in of_kind(Dtype) if r.tensor_type}  # torch[.cuda].<name>

# ---------------------------------------------------------------- grad mode, autograd
# Every context manager or decorator that sets the grad mode, by name (grad_mode.py reads the records).
GRAD_CONTEXTS = {r.qualname: r for r in of_kind(GradContext)}
# Context managers and decorators that keep the caller's grad mode.
GRAD_NEUTRAL = _names(GradNeutral)
BACKWARD_CALLS = {r.qualname: r for r in of_kind(GradCall) if r.computes == "backward"}
GRAD_CALLS = {r.qualname: r for r in of_kind(GradCall) if r.computes == "grad"}

# ---------------------------------------------------------------- images
PIL_IMAGE_MAKERS = _names(ImageMaker)
PIL_IMAGE_METHODS = pil.IMAGE_METHODS

# ---------------------------------------------------------------- Lightning, Hugging Face
_LIGHTNING_HOOK_RE = re.compile(lightning.HOOK_NAME_PATTERN)


def lightning_hook(name: str) -> bool:
    """A method name Lightning's trainer calls (a step, an ``on_*`` or ``*_epoch_end`` hook, a
    ``*_dataloader``)."""
    return _LIGHTNING_HOOK_RE.match(name) is not None


LIGHTNING_TRAINING_HOOKS = frozenset(r.name for r in of_kind(Hook) if r.trains)
LIGHTNING_GRAD_FREE_HOOKS = frozenset(r.name for r in of_kind(Hook) if r.per_batch and not r.grad_enabled)
GENERATE_METHODS = frozenset(r.method for r in of_kind(Generate))

# ---------------------------------------------------------------------- optimizers and their drivers
# An optimizer is a value built by one of these (also a subclass of ``OPTIMIZER_BASES`` defined in
# the project): its ``step()`` applies the gradients, its ``zero_grad()`` clears them.
OPTIMIZER_PACKAGES = _names(Namespace, lambda r: r.optimizers is True)  # every class of the package
OPTIMIZER_BASES = _names(Optimizer, lambda r: r.base)
OPTIMIZER_MAKERS = _names(Optimizer, lambda r: not r.base)  # classes and factories, of any library
# Sub-packages of ``torch.optim`` whose classes are not optimizers (schedulers, SWA).
NOT_OPTIMIZER_PACKAGES = _names(Namespace, lambda r: r.optimizers is False)
GRAD_SCALERS = _names(GradScaler)  # ``scaler.step(optimizer)`` steps ``optimizer``
# Objects whose ``backward(loss)`` runs the backward pass of its argument, and whose
# ``step()`` steps the optimizer they wrap.
ACCELERATORS = _names(Accelerator, lambda r: not r.returns_engine_tuple)
# Calls returning a tuple whose first element is such an engine (``engine, opt, _, _ = deepspeed.initialize(...)``).
ACCELERATOR_TUPLE_MAKERS = _names(Accelerator, lambda r: r.returns_engine_tuple)
# Methods of an accelerator that return the optimizer they are given, wrapped.
ACCELERATOR_WRAPPING_METHODS = frozenset(m for r in of_kind(Accelerator) for m in r.wrapping_methods)
LR_SCHEDULER_MAKERS = _names(LrScheduler)  # their ``step()`` is no optimizer step

# TorchScript (the measured facts are with the records, in ``torch``).
JIT_INFERENCE_MODULES = _names(JitModule, lambda r: r.kind is JitKind.INFERENCE)  # eval mode for good, no parameters
JIT_TRACE_FUNCS = _names(JitModule, lambda r: r.kind is JitKind.TRACED)  # keeps the mode it was traced in
JIT_LOAD_FUNCS = _names(JitModule, lambda r: r.kind is JitKind.LOADED)  # follows .eval() / .train()

# ---------------------------------------------------------------------- module values
# Methods that only an nn.Module offers among callable objects: a value that is called and on
# which one of these is called is a module.
MODULE_PROTOCOL_METHODS = frozenset(r.name for r in of_kind(ModuleMethod) if r.protocol)
# Constructors of pretrained or zoo models: what they return is an nn.Module.
MODEL_CONSTRUCTOR_PREFIXES = ("torchvision.models.",)
MODEL_CONSTRUCTORS = {"timm.create_model", "torch.hub.load", "torchvision.models.get_model"}
# Hugging Face: ``<Class>.from_pretrained`` / ``from_config`` build a model when the class is a model
# class by the library's naming contract; tokenizers, processors, feature extractors and configs
# are built the same way and are no models.
_PRETRAINED = of_kind(PretrainedModels)
HF_PACKAGES = tuple(r.qualname + "." for r in _PRETRAINED)
HF_MODEL_FACTORIES = frozenset(f for r in _PRETRAINED for f in r.factories)
HF_MODEL_CLASS_ENDINGS = tuple(dict.fromkeys(e for r in _PRETRAINED for e in r.model_endings))
HF_MODEL_CLASS_INFIX = next(r.model_infix for r in _PRETRAINED if r.model_infix)  # ``BertForSequenceClassification``
HF_NOT_MODEL_ENDINGS = tuple(dict.fromkeys(e for r in _PRETRAINED for e in r.not_model_endings))

# torch.nn modules whose call is no model forward: losses (a criterion) and layers without
# parameters (an activation, a pooling, a reshape): calling them on data builds no graph of weights.
NN_LOSS_MODULES = frozenset(c for r in of_kind(Loss) for c in r.module_classes) | _names(LossModule)
NN_PARAMETERLESS_MODULES = _layers(lambda r: r.no_parameters, True)

# ---------------------------------------------------------------------- evaluation data
# Dataset constructor keywords that select held-out data: ``MNIST(root, train=False)``,
# ``load_dataset(..., split="validation")``, ``ImageFolder``-style ``split="val"``.
EVAL_DATA_FLAGS = {"train": False, "training": False, "is_train": False}
EVAL_DATA_SPLIT_KEYWORDS = {"split", "subset", "mode", "image_set", "phase"}
EVAL_DATA_SPLITS = {"val", "valid", "validation", "test", "testing", "eval", "evaluation", "dev", "holdout", "heldout"}
DATA_LOADERS = _names(DataLoader)

# Operations after which a forward's output no longer carries the autograd graph: a number,
# an index, a comparison, a NumPy array, a detached copy (what metrics and logs are made of).
NO_GRAPH_SINK_METHODS = {"item", "tolist", "numpy", "detach", "argmax", "argmin", "argsort", "eq", "ne"}
NO_GRAPH_SINK_ATTRS = {"data"}
NO_GRAPH_SINK_FUNCS = {"torch.argmax", "torch.argmin", "torch.argsort", "torch.eq", "builtins.float", "builtins.int", "numpy.asarray", "numpy.array"}

# The methods of torch.nn.Module itself (torch 2.x): none of them runs its forward.
MODULE_API_METHODS = frozenset(r.name for r in of_kind(ModuleMethod))

# Tensor factories: an input made by one of these is synthetic, not data (a smoke test's input).
TENSOR_FACTORIES = _names(TensorFunction, lambda r: r.factory)

# Instance norm with ``track_running_stats=True`` keeps running statistics as batch norm does.
INSTANCE_NORM_CLASSES = _layers(lambda r: r.instance_norm, True)
