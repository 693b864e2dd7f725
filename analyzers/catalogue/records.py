"""The kinds of record the catalogue holds: one frozen dataclass per kind of library API.

A record names one API by its canonical qualified name (``canonical`` in ``aliases``) and
says what the analysis needs to know of it: which argument of a loss is the input and which
the target, what an activation produces, whether a layer holds batch norm, what a creator's
dtype is. The data modules (``torch``, ``nn``, ``functional``, ``torchvision``, ...) hold the
records of one library each; ``index`` looks them up.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field


class Domain(enum.Enum):
    """What the values of a tensor are."""

    LOGITS = "logits"  # raw scores, any real number
    LOG_PROBS = "log-probabilities"
    PROBS = "probabilities"


class Effect(enum.Enum):
    """What a tensor function or transform does to its result's shape, dtype or values."""

    CREATE = "create"  # builds a tensor of the shape its size arguments give (dtype: the default)
    FULL = "full"  # like CREATE, shape from ``size``; dtype from the fill value
    RANDINT = "randint"  # integers in [low, high)
    FROM_DATA = "from data"  # a tensor from nested literal data (dtype: fixed, or None: inferred)
    FROM_ARRAY = "from array"  # a tensor that keeps its argument's dtype (dtype: forced, or None)
    ARANGE = "arange"
    SPACE = "space"  # ``steps`` evenly spaced floating-point values
    RANDPERM = "randperm"  # a permutation of 0..n-1
    FLOAT_ARRAY = "float array"  # a numpy array of floating-point values (dtype)
    TRUE_DIVIDE = "true divide"  # floating-point result unless ``rounding_mode`` is given
    ELEMENTWISE = "elementwise"  # same shape and dtype as the input, values changed
    PERMUTE = "permute"
    UNSQUEEZE = "unsqueeze"
    REARRANGE = "rearrange"  # moves or copies values without changing them
    CONCAT = "concat"  # joins a sequence of tensors
    MEAN = "mean"
    EXP = "exp"  # log-probabilities -> probabilities
    LOG = "log"  # probabilities -> log-probabilities
    READ_IMAGE = "read image"  # one image, (C, H, W), of the record's dtype
    TO_TENSOR = "to tensor"  # a transform (class) whose instances turn an image into a (C, H, W) tensor
    COMPOSE = "compose"  # a transform that chains the transforms of its list argument
    KEEPS_RANK = "keeps rank"  # a transform that keeps a (C, H, W) tensor three-dimensional


@dataclass(frozen=True)
class Record:
    qualname: str


@dataclass(frozen=True)
class Loss(Record):
    """A loss function (``qualname``, in ``torch.nn.functional``) and its module classes.

    ``input_arg`` / ``target_arg``: positions of the prediction and of the target, the same
    in the function and in a module instance's call (keyword ``target_kw``).
    ``compares_target``: the loss compares the input with a target tensor (regression,
    divergence, binary, embedding targets), not with class indices. ``symmetric``: the gradient is the same whichever
    argument is called the target (|a - b|, (a - b)^2). ``expects``: the domain of the input.
    """

    module_classes: tuple[str, ...] = ()
    input_arg: int = 0
    target_arg: int = 1
    target_kw: str = "target"
    compares_target: bool = False
    symmetric: bool = False
    expects: Domain | None = None
    reduction_default: str = "mean"


@dataclass(frozen=True)
class LossModule(Record):
    """A ``torch.nn`` loss class that no :class:`Loss` record describes (its arguments are not
    needed): calling it computes a criterion, no model forward."""


@dataclass(frozen=True)
class DataLoader(Record):
    """A data loader class: it yields batches of its dataset."""


@dataclass(frozen=True)
class Activation(Record):
    """A normalisation of scores: ``produces`` its output's domain; ``elementwise``: each value
    on its own (sigmoid), else along ``dim``; ``module``: an ``nn.Module`` class; ``method``: a
    tensor method (``torch.Tensor.softmax``)."""

    produces: Domain
    elementwise: bool = False
    module: bool = False
    method: bool = False


@dataclass(frozen=True)
class Layer(Record):
    """A ``torch.nn`` module class (or, ``module=False``, the functional form of one)."""

    module: bool = True
    has_batch_norm: bool = False
    has_dropout: bool = False
    has_parameters: bool = False  # its output requires grad unless frozen
    raw_scores: bool = False  # a forward that ends in it returns raw scores (no normalisation)
    container: bool = False  # holds the modules it is given (Sequential, ModuleList)
    upsample: bool = False  # resizes its (batched) input: interpolate / nn.Upsample
    embedding: bool = False  # looks up rows of a weight by index
    # holds no parameters (an activation, a pooling, a reshape): calling it builds no graph of weights
    no_parameters: bool = False
    instance_norm: bool = False  # with ``track_running_stats=True`` it keeps running statistics as batch norm does


@dataclass(frozen=True)
class ModuleBase(Record):
    """A base class whose subclasses are ``nn.Module`` s (``torch.nn.Module``, Lightning's)."""


@dataclass(frozen=True)
class Resize(Record):
    """A call (function, or module / transform class) with an (H, W) ``size`` argument at
    position ``size_arg`` (keyword ``size``)."""

    size_arg: int


@dataclass(frozen=True)
class TensorFunction(Record):
    """A tensor function (or, for transforms, a class): ``effects`` on the result, the ``dtype``
    it fixes, ``grad_free``: its result never requires grad (integer results, new tensors), and
    ``factory``: it makes a tensor of sizes or literals (a smoke test's input)."""

    effects: frozenset[Effect] = frozenset()
    dtype: str | None = None
    grad_free: bool = False
    factory: bool = False  # builds a tensor from sizes or literals: an input made so is synthetic, not data


@dataclass(frozen=True)
class Dtype(Record):
    """A spelling of a dtype under ``torch`` (``torch.float32``, ``torch.long``), or a legacy
    tensor type (``tensor_type``: ``torch.FloatTensor``, also under ``torch.cuda``): ``dtype``,
    the canonical dtype it names."""

    dtype: str
    tensor_type: bool = False

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[1]


@dataclass(frozen=True)
class TensorMember(Record):
    """A method or attribute of tensors (``qualname``: ``torch.Tensor.<name>``).

    ``keeps_shape_and_dtype``: the result has the receiver's shape and dtype; ``casts_to``: a
    method without arguments that converts to that dtype (``x.long()``); ``grad_free``: its result
    never requires grad; ``no_graph``: its result holds no autograd graph (``loss.item()``);
    ``rearranges``: it moves or copies values without changing them; ``attribute``: an attribute
    that is a view of the tensor (``x.T``); ``ema_update``: an in-place update that an
    exponential moving average of weights is written with (``ema.mul_(d).add_(p)``)."""

    keeps_shape_and_dtype: bool = False
    casts_to: str | None = None
    grad_free: bool = False
    no_graph: bool = False
    rearranges: bool = False
    attribute: bool = False
    ema_update: bool = False

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[1]


@dataclass(frozen=True)
class ModuleMethod(Record):
    """A method of ``nn.Module`` (``qualname``: ``torch.nn.Module.<name>``); none of them runs
    the module's forward. ``returns_self``: the module itself (``model.to(device)``);
    ``grad_free``: its result never requires grad; ``protocol``: only an ``nn.Module`` offers it
    among callable objects (an optimizer, a scheduler and a grad scaler have ``state_dict`` /
    ``zero_grad`` too, but none of them is called like a function), so a value that is called and
    on which it is called is a module."""

    returns_self: bool = False
    grad_free: bool = False
    protocol: bool = False

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[1]


@dataclass(frozen=True)
class IndexOp(Record):
    """A tensor method that takes an index tensor (``qualname``: ``torch.Tensor.<method>``).

    ``function_index_arg``: position of the index in the function form ``torch.<method>``
    (None: no function form); ``method_index_arg`` in the method form; ``index_kw``: the
    keyword; ``method_dim_arg``: position of ``dim`` in the method form (None: no dim)."""

    function_index_arg: int | None = None
    method_index_arg: int = 1
    index_kw: str = "index"
    method_dim_arg: int | None = 0

    @property
    def method(self) -> str:
        return self.qualname.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Wrapper(Record):
    """A call that returns (a wrapper of) the model it is given, argument 0: the same
    parameters, the same mode (``nn.DataParallel(model)``, ``torch.compile(model)``)."""


@dataclass(frozen=True)
class GradContext(Record):
    """A context manager (or decorator) that sets the grad mode: ``enables`` True / False, or
    None when its argument ``mode_arg`` says. ``mode_arg`` with ``enables=False``: the context
    does nothing when that argument is ``False`` (``inference_mode(False)``)."""

    enables: bool | None
    mode_arg: int | None = None


@dataclass(frozen=True)
class GradNeutral(Record):
    """A context manager or decorator that leaves the grad mode as it finds it (``autocast()``,
    ``torch.jit.script``): code under it runs with its caller's grad mode. A library callable
    with neither this record nor a :class:`GradContext` is unknown: no finding follows from it."""


@dataclass(frozen=True)
class GradCall(Record):
    """A function that runs backpropagation: ``computes`` BACKWARD (accumulates into ``.grad``)
    or GRAD (returns the gradients); the tensors are argument ``tensors_arg`` / ``tensors_kw``."""

    computes: str
    tensors_arg: int = 0
    tensors_kw: str = "tensors"


@dataclass(frozen=True)
class ZooModel(Record):
    """A family of model constructors of a model zoo: ``qualname`` is the zoo's namespace, and
    a constructor is ``<qualname>.[<submodule>.]<name>`` with ``name`` matching ``pattern``."""

    pattern: str
    has_batch_norm: bool = False
    has_dropout: bool = False
    # Dotted names of batch-norm layers that every model of the family has (some of them, not
    # all): what ``named_parameters()`` calls them, before ``.weight`` / ``.bias``.
    batch_norm_names: tuple[str, ...] = ()
    _regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", re.compile(rf"^{re.escape(self.qualname)}\.(.*\.)?({self.pattern})$"))

    def matches(self, qualname: str) -> bool:
        return self._regex.match(qualname) is not None


@dataclass(frozen=True)
class ModelFactory(Record):
    """Calls that build a trainable model: ``qualname`` itself, or anything under it when
    ``namespace`` (``torchvision.models.resnet18``, ``timm.create_model``)."""

    namespace: bool = False


@dataclass(frozen=True)
class ImageMaker(Record):
    """A function that returns a PIL image (``PIL.Image.open``)."""


@dataclass(frozen=True)
class Hook(Record):
    """A Lightning ``LightningModule`` hook (``qualname``: ``<base class>.<hook>``): the trainer
    calls it once ``per_batch`` of its loop, with gradients on (``grad_enabled``) or off."""

    per_batch: bool = False
    grad_enabled: bool = True
    trains: bool = False  # the trainer has put the model in train mode (training_step)

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Generate(Record):
    """A method of model objects that runs the model's forward itself, in whatever mode the
    model is in, with gradients off (Hugging Face ``generate``)."""

    @property
    def method(self) -> str:
        return self.qualname.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Namespace(Record):
    """A package or module prefix the analysis asks about as a whole (``torch.nn`` classes,
    ``torch.optim`` optimizers); ``short``: how messages spell it (``F``, ``nn``)."""

    short: str | None = None
    optimizers: bool | None = None  # True: its classes build optimizers; False: none of them does


@dataclass(frozen=True)
class Optimizer(Record):
    """A class or factory whose result is an optimizer: its ``step()`` applies the gradients,
    its ``zero_grad()`` clears them. ``base``: the base class of optimizers (the result of a
    project's subclass of it is one too), not itself built by a training script."""

    base: bool = False


@dataclass(frozen=True)
class LrScheduler(Record):
    """A factory of learning-rate schedulers: their ``step()`` is no optimizer step."""


@dataclass(frozen=True)
class GradScaler(Record):
    """A gradient scaler class: ``scaler.step(optimizer)`` steps ``optimizer``."""


@dataclass(frozen=True)
class Accelerator(Record):
    """A training engine: ``engine.backward(loss)`` runs the backward pass of its argument,
    ``step()`` steps the optimizer it wraps. ``wrapping_methods``: its methods that return the
    optimizer they are given, wrapped (``model, opt = accelerator.prepare(model, opt)``).
    ``returns_engine_tuple``: ``qualname`` is a call returning a tuple whose first element is
    such an engine (``engine, opt, _, _ = deepspeed.initialize(...)``)."""

    wrapping_methods: tuple[str, ...] = ()
    returns_engine_tuple: bool = False


class JitKind(enum.Enum):
    """What a ``torch.jit`` function's module is (the measured facts are in ``torch``)."""

    INFERENCE = "inference"  # freeze / optimize_for_inference: no parameters, eval mode for good
    TRACED = "traced"  # shares the traced module's parameters, keeps the mode it was traced in
    LOADED = "loaded"  # its parameters require grad; it follows .eval() / .train()


@dataclass(frozen=True)
class JitModule(Record):
    """A ``torch.jit`` function that returns a TorchScript module, of ``kind``."""

    kind: JitKind


@dataclass(frozen=True)
class PretrainedModels(Record):
    """A library whose classes are built with class-method ``factories``
    (``<Class>.from_pretrained(...)``), ``qualname`` its package. Models, tokenizers, processors
    and configs are built the same way; the library's naming contract tells them apart: a model
    class's name ends in one of ``model_endings`` or holds ``model_infix``
    (``BertForSequenceClassification``), and does not end in one of ``not_model_endings``."""

    factories: tuple[str, ...] = ("from_pretrained", "from_config")
    model_endings: tuple[str, ...] = ()
    model_infix: str | None = None
    not_model_endings: tuple[str, ...] = ()
