"""Qualified names of the torch API the rules reason about, and their canonical spellings.

The semantic model resolves ``F.cross_entropy``, ``nn.functional.cross_entropy`` and
``torch.nn.functional.cross_entropy`` to one qualified name; jedi reports definitions where
they live (``torch.nn.modules.loss.CrossEntropyLoss``). ``canonical`` folds both onto the
public spelling that the sets below use.
"""

from __future__ import annotations

import re
import sys

_MODULES_RE = re.compile(r"^torch\.nn\.modules\.[a-z_]+\.")
_ALIASES = {
    "torch.nn.functional.F": "torch.nn.functional",
    "torch._C._nn": "torch.nn.functional",
    "torch.autograd.variable.Variable": "torch.autograd.Variable",
    "torch.autograd.grad_mode.no_grad": "torch.no_grad",
    "torch.autograd.grad_mode.inference_mode": "torch.inference_mode",
    "torch.autograd.grad_mode.enable_grad": "torch.enable_grad",
    "torch.autograd.grad_mode.set_grad_enabled": "torch.set_grad_enabled",
    "torch.autograd.no_grad": "torch.no_grad",
    "torch.autograd.inference_mode": "torch.inference_mode",
    "torch.nn.modules.module.Module": "torch.nn.Module",
    "torch.nn.parameter.Parameter": "torch.nn.Parameter",
    "lightning.pytorch.LightningModule": "pytorch_lightning.LightningModule",
    "lightning.LightningModule": "pytorch_lightning.LightningModule",
    "pytorch_lightning.core.module.LightningModule": "pytorch_lightning.LightningModule",
    "pytorch_lightning.core.lightning.LightningModule": "pytorch_lightning.LightningModule",
}


def canonical(qualname: str | None) -> str | None:
    if qualname is None:
        return None
    if qualname in _ALIASES:
        return _ALIASES[qualname]
    if qualname.startswith("torch.nn.modules."):
        return _MODULES_RE.sub("torch.nn.", qualname)
    return qualname


MODULE_BASES = {"torch.nn.Module", "pytorch_lightning.LightningModule"}

# Top-level packages that define no nn.Module a training script builds: the standard library and
# common numeric / data libraries. Asking jedi where their names are defined is time wasted.
NO_MODEL_PACKAGES = frozenset(sys.stdlib_module_names) | {
    "numpy", "scipy", "pandas", "sklearn", "PIL", "cv2", "matplotlib", "onnxruntime", "onnx",
    "tqdm", "yaml", "requests", "h5py", "tensorboardX", "wandb", "absl", "einops", "functorch",
}

SOFTMAX_FUNCS = {
    "torch.softmax",
    "torch.nn.functional.softmax",
    "torch.special.softmax",
}
LOG_SOFTMAX_FUNCS = {
    "torch.log_softmax",
    "torch.nn.functional.log_softmax",
    "torch.special.log_softmax",
}
SOFTMAX_MODULES = {"torch.nn.Softmax", "torch.nn.Softmax2d"}
LOG_SOFTMAX_MODULES = {"torch.nn.LogSoftmax"}

CROSS_ENTROPY_FUNCS = {"torch.nn.functional.cross_entropy"}
CROSS_ENTROPY_MODULES = {"torch.nn.CrossEntropyLoss"}

NO_GRAD_CONTEXTS = {"torch.no_grad", "torch.inference_mode"}
# Context-manager stacks whose ``enter_context(torch.no_grad())`` turns gradients off for the rest of the block.
EXIT_STACKS = {"contextlib.ExitStack", "contextlib.AsyncExitStack"}

DROPOUT_FUNCS = {
    "torch.nn.functional.dropout",
    "torch.nn.functional.dropout1d",
    "torch.nn.functional.dropout2d",
    "torch.nn.functional.dropout3d",
    "torch.nn.functional.alpha_dropout",
    "torch.nn.functional.feature_alpha_dropout",
}

SEQUENTIAL = "torch.nn.Sequential"

SIGMOID_FUNCS = {"torch.sigmoid", "torch.nn.functional.sigmoid", "torch.special.expit"}
SIGMOID_MODULES = {"torch.nn.Sigmoid"}
LOGSIGMOID_FUNCS = {"torch.nn.functional.logsigmoid"}
LOGSIGMOID_MODULES = {"torch.nn.LogSigmoid"}

NLL_LOSS_FUNCS = {"torch.nn.functional.nll_loss"}
NLL_LOSS_MODULES = {"torch.nn.NLLLoss", "torch.nn.NLLLoss2d"}
KL_DIV_FUNCS = {"torch.nn.functional.kl_div"}
KL_DIV_MODULES = {"torch.nn.KLDivLoss"}

# Losses that compare an input with a target of the same kind (regression, divergence); the
# target is the argument at the given position (keyword ``target``, or ``y`` below).
TARGET_LOSS_FUNCS = {
    "torch.nn.functional.mse_loss": 1,
    "torch.nn.functional.l1_loss": 1,
    "torch.nn.functional.smooth_l1_loss": 1,
    "torch.nn.functional.huber_loss": 1,
    "torch.nn.functional.binary_cross_entropy": 1,
    "torch.nn.functional.binary_cross_entropy_with_logits": 1,
    "torch.nn.functional.kl_div": 1,
    "torch.nn.functional.cosine_embedding_loss": 2,
}
TARGET_LOSS_MODULES = {
    "torch.nn.MSELoss": 1,
    "torch.nn.L1Loss": 1,
    "torch.nn.SmoothL1Loss": 1,
    "torch.nn.HuberLoss": 1,
    "torch.nn.BCELoss": 1,
    "torch.nn.BCEWithLogitsLoss": 1,
    "torch.nn.KLDivLoss": 1,
    "torch.nn.CosineEmbeddingLoss": 2,
}

# Losses whose gradient is the same whichever argument is "the target" (|a - b| and (a - b)^2 shapes).
SYMMETRIC_LOSSES = {
    "torch.nn.functional.mse_loss", "torch.nn.functional.l1_loss", "torch.nn.functional.smooth_l1_loss",
    "torch.nn.functional.huber_loss", "torch.nn.MSELoss", "torch.nn.L1Loss", "torch.nn.SmoothL1Loss", "torch.nn.HuberLoss",
}

# Layers whose output is raw scores (no normalisation) when a forward ends in them.
RAW_SCORE_MODULES = {
    "torch.nn.Linear", "torch.nn.LazyLinear", "torch.nn.Bilinear",
    "torch.nn.Conv1d", "torch.nn.Conv2d", "torch.nn.Conv3d",
    "torch.nn.LazyConv1d", "torch.nn.LazyConv2d", "torch.nn.LazyConv3d",
}
RAW_SCORE_FUNCS = {"torch.nn.functional.linear", "torch.nn.functional.bilinear"}

# Value-domain transforms: exp of log-probabilities gives probabilities, log of probabilities
# gives log-probabilities (function form; the tensor methods ``.exp()`` / ``.log()`` too).
EXP_FUNCS = {"torch.exp", "torch.special.exp"}
LOG_FUNCS = {"torch.log"}
# Tensor methods and functions that rearrange or copy values without changing them:
# probabilities stay probabilities, indices stay indices.
REARRANGE_METHODS = {
    "view", "reshape", "permute", "transpose", "flatten", "squeeze", "unsqueeze", "contiguous",
    "float", "double", "half", "bfloat16", "to", "cuda", "cpu", "t", "view_as", "reshape_as",
    "resize", "resize_", "resize_as", "expand", "expand_as", "narrow", "movedim", "moveaxis",
    "swapaxes", "swapdims", "unflatten", "clone", "detach", "squeeze_", "unsqueeze_",
}
REARRANGE_FUNCS = {
    "torch.flatten", "torch.reshape", "torch.permute", "torch.transpose", "torch.squeeze",
    "torch.unsqueeze", "torch.movedim", "torch.swapaxes", "torch.narrow", "torch.clone",
}
# Functions that join a sequence of tensors: the result holds the parts' values.
CONCAT_FUNCS = {"torch.cat", "torch.concat", "torch.concatenate", "torch.stack"}
MEAN_FUNCS = {"torch.mean"}

# Index-taking ops: position of the index among the arguments of the function form
# (``torch.index_select(input, dim, index)``) and of the method form (``x.index_select(dim, index)``),
# the keyword name, and the position of ``dim`` in the method form (None: no dim).
INDEX_OPS = {
    "index_select": (2, 1, "index", 0),
    "gather": (2, 1, "index", 0),
    "scatter": (2, 1, "index", 0),
    "scatter_": (None, 1, "index", 0),
    "scatter_add": (2, 1, "index", 0),
    "scatter_add_": (None, 1, "index", 0),
    "scatter_reduce": (2, 1, "index", 0),
    "scatter_reduce_": (None, 1, "index", 0),
    "index_add": (2, 1, "index", 0),
    "index_add_": (None, 1, "index", 0),
    "index_copy": (2, 1, "index", 0),
    "index_copy_": (None, 1, "index", 0),
    "index_fill": (2, 1, "index", 0),
    "index_fill_": (None, 1, "index", 0),
    "take": (1, 0, "index", None),
    "take_along_dim": (1, 0, "indices", None),
}

INTERPOLATE_FUNCS = {"torch.nn.functional.interpolate", "torch.nn.functional.upsample", "torch.nn.functional.upsample_bilinear", "torch.nn.functional.upsample_nearest"}
UPSAMPLE_MODULES = {"torch.nn.Upsample", "torch.nn.UpsamplingBilinear2d", "torch.nn.UpsamplingNearest2d"}
EMBEDDING_MODULES = {"torch.nn.Embedding"}
EMBEDDING_FUNCS = {"torch.nn.functional.embedding"}
PIL_IMAGE_MAKERS = {"PIL.Image.open", "PIL.Image.new", "PIL.Image.fromarray", "PIL.Image.frombytes"}
PIL_IMAGE_METHODS = {"convert", "resize", "crop", "rotate", "transpose", "copy", "filter", "quantize"}
RESIZE_SIZE_CALLS = {  # calls whose size argument is (H, W): position of ``size``
    "torch.nn.functional.interpolate": 1,
    "torch.nn.functional.upsample": 1,
    "torch.nn.Upsample": 0,
    "torchvision.transforms.Resize": 0,
    "torchvision.transforms.v2.Resize": 0,
    "torchvision.transforms.functional.resize": 1,
    "torchvision.transforms.v2.functional.resize": 1,
}

# ---------------------------------------------------------------------- module values
# Methods that only an nn.Module offers among callable objects (an optimizer, a scheduler and a
# grad scaler have ``state_dict`` / ``zero_grad`` too, but none of them is called like a function):
# a value that is called and on which one of these is called is a module.
MODULE_PROTOCOL_METHODS = {
    "eval", "train", "parameters", "named_parameters", "buffers", "named_buffers", "modules", "named_modules",
    "children", "named_children", "state_dict", "load_state_dict", "zero_grad", "requires_grad_",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook", "register_buffer",
}
# Constructors of pretrained or zoo models: what they return is an nn.Module.
MODEL_CONSTRUCTOR_PREFIXES = ("torchvision.models.",)
MODEL_CONSTRUCTORS = {"timm.create_model", "torch.hub.load", "torchvision.models.get_model"}
# Hugging Face: ``<Class>.from_pretrained`` / ``from_config`` build a model when the class is a model
# class (``AutoModel``, ``AutoModelForCausalLM``, ``BertModel``, ``GPT2LMHeadModel``,
# ``VisionEncoderDecoderModel``: the library's naming contract); tokenizers, processors,
# feature extractors and configs are built the same way and are no models.
HF_PACKAGES = ("transformers.", "diffusers.")
HF_MODEL_FACTORIES = {"from_pretrained", "from_config"}
HF_MODEL_CLASS_ENDINGS = ("Model", "LMHeadModel", "UNet2DModel", "UNet2DConditionModel", "Transformer2DModel")
HF_MODEL_CLASS_INFIX = "For"  # ``BertForSequenceClassification``, ``AutoModelForCausalLM``
HF_NOT_MODEL_ENDINGS = ("Tokenizer", "TokenizerFast", "Processor", "FeatureExtractor", "ImageProcessor", "Config", "Pipeline", "Scheduler")

# torch.nn modules whose call is no model forward: losses (a criterion) and layers without
# parameters (an activation, a pooling, a reshape): calling them on data builds no graph of weights.
NN_LOSS_MODULES = {
    "torch.nn.L1Loss", "torch.nn.MSELoss", "torch.nn.CrossEntropyLoss", "torch.nn.CTCLoss", "torch.nn.NLLLoss",
    "torch.nn.NLLLoss2d", "torch.nn.PoissonNLLLoss", "torch.nn.GaussianNLLLoss", "torch.nn.KLDivLoss", "torch.nn.BCELoss",
    "torch.nn.BCEWithLogitsLoss", "torch.nn.MarginRankingLoss", "torch.nn.HingeEmbeddingLoss", "torch.nn.MultiLabelMarginLoss",
    "torch.nn.HuberLoss", "torch.nn.SmoothL1Loss", "torch.nn.SoftMarginLoss", "torch.nn.MultiLabelSoftMarginLoss",
    "torch.nn.CosineEmbeddingLoss", "torch.nn.MultiMarginLoss", "torch.nn.TripletMarginLoss",
    "torch.nn.TripletMarginWithDistanceLoss", "torch.nn.AdaptiveLogSoftmaxWithLoss",
}
NN_PARAMETERLESS_MODULES = {
    "torch.nn.ReLU", "torch.nn.ReLU6", "torch.nn.LeakyReLU", "torch.nn.ELU", "torch.nn.SELU", "torch.nn.CELU", "torch.nn.GELU",
    "torch.nn.SiLU", "torch.nn.Mish", "torch.nn.Sigmoid", "torch.nn.Tanh", "torch.nn.Softmax", "torch.nn.LogSoftmax",
    "torch.nn.Softmax2d", "torch.nn.Softplus", "torch.nn.Softsign", "torch.nn.Hardtanh", "torch.nn.Hardswish",
    "torch.nn.Hardsigmoid", "torch.nn.LogSigmoid", "torch.nn.Threshold", "torch.nn.Identity", "torch.nn.Flatten",
    "torch.nn.Unflatten", "torch.nn.Dropout", "torch.nn.Dropout1d", "torch.nn.Dropout2d", "torch.nn.Dropout3d",
    "torch.nn.AlphaDropout", "torch.nn.MaxPool1d", "torch.nn.MaxPool2d", "torch.nn.MaxPool3d", "torch.nn.AvgPool1d",
    "torch.nn.AvgPool2d", "torch.nn.AvgPool3d", "torch.nn.AdaptiveAvgPool1d", "torch.nn.AdaptiveAvgPool2d",
    "torch.nn.AdaptiveAvgPool3d", "torch.nn.AdaptiveMaxPool1d", "torch.nn.AdaptiveMaxPool2d", "torch.nn.AdaptiveMaxPool3d",
    "torch.nn.Upsample", "torch.nn.UpsamplingNearest2d", "torch.nn.UpsamplingBilinear2d", "torch.nn.PixelShuffle",
    "torch.nn.PixelUnshuffle", "torch.nn.ZeroPad2d", "torch.nn.ConstantPad2d", "torch.nn.ReflectionPad2d",
    "torch.nn.ReplicationPad2d", "torch.nn.CosineSimilarity", "torch.nn.PairwiseDistance",
}

# ---------------------------------------------------------------------- evaluation data
# Dataset constructor keywords that select held-out data: ``MNIST(root, train=False)``,
# ``load_dataset(..., split="validation")``, ``ImageFolder``-style ``split="val"``.
EVAL_DATA_FLAGS = {"train": False, "training": False, "is_train": False}
EVAL_DATA_SPLIT_KEYWORDS = {"split", "subset", "mode", "image_set", "phase"}
EVAL_DATA_SPLITS = {"val", "valid", "validation", "test", "testing", "eval", "evaluation", "dev", "holdout", "heldout"}
DATA_LOADERS = {"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"}

# Operations after which a forward's output no longer carries the autograd graph: a number,
# an index, a comparison, a NumPy array, a detached copy (what metrics and logs are made of).
NO_GRAPH_SINK_METHODS = {"item", "tolist", "numpy", "detach", "argmax", "argmin", "argsort", "eq", "ne"}
NO_GRAPH_SINK_ATTRS = {"data"}
NO_GRAPH_SINK_FUNCS = {"torch.argmax", "torch.argmin", "torch.argsort", "torch.eq", "builtins.float", "builtins.int", "numpy.asarray", "numpy.array"}

# The methods of torch.nn.Module itself (torch 2.x): ``model.cuda()``, ``model.get_submodule("fc")``
# return or change the module; none of them runs its forward.
MODULE_API_METHODS = {
    "add_module", "apply", "bfloat16", "buffers", "children", "compile", "cpu", "cuda", "double", "eval", "extra_repr",
    "float", "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "load_state_dict",
    "modules", "mtia", "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
    "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_module", "register_parameter", "register_state_dict_pre_hook", "requires_grad_", "set_extra_state",
    "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train", "type", "xpu", "zero_grad",
}

# Tensor factories: an input made by one of these is synthetic, not data (a smoke test's input).
TENSOR_FACTORIES = {
    "torch.randn", "torch.rand", "torch.randint", "torch.zeros", "torch.ones", "torch.empty", "torch.full",
    "torch.tensor", "torch.arange", "torch.linspace", "torch.randn_like", "torch.rand_like", "torch.zeros_like",
    "torch.ones_like", "torch.eye",
}
