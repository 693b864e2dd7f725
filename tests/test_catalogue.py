"""The catalogue holds the library knowledge, and only it.

1. No module under ``analyzers/facts``, ``analyzers/semantic`` or ``analyzers/rules`` holds a
   string literal naming a library API. Precisely: no string constant of such a module (a plain
   literal, or a literal part of an f-string), other than a docstring, has text that starts with
   one of the catalogue's library roots (``packages.LIBRARY_ROOTS``: torch, torchvision, timm,
   numpy, PIL, cv2, transformers, lightning, pytorch_lightning) followed by ``"."``. Messages
   that mention ``torch.no_grad()`` in the middle of a sentence are prose, not data, and pass.
2. The records are consistent: one record per qualname and kind, canonical spellings under a
   known root, losses whose module classes and functions agree, derived sets that say what the
   records say.
"""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

import pytest

from torchpit.analyzers import catalogue
from torchpit.analyzers.catalogue import index, torch_api
from torchpit.analyzers.catalogue.packages import LIBRARY_ROOTS
from torchpit.analyzers.catalogue.records import (
    Accelerator, Activation, DataLoader, Domain, Dtype, Effect, GradContext, GradScaler, IndexOp, JitKind, JitModule,
    Layer, Loss, LossModule, LrScheduler, ModuleMethod, Namespace, Optimizer, PretrainedModels, Record, TensorFunction,
    TensorMember, ZooModel,
)

ANALYZERS = Path(__file__).resolve().parents[1] / "analyzers"
CONSUMERS = ("facts", "semantic", "rules")


def library_literals(path: Path, roots=LIBRARY_ROOTS) -> list[tuple[int, str]]:
    """(line, text) of each string constant of ``path`` (not a docstring) that starts with
    ``<root>.`` for a library root."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.add(id(first.value))
    prefixes = tuple(f"{r}." for r in roots)
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
        and node.value.startswith(prefixes)
    )


def test_no_library_name_outside_the_catalogue():
    found = [
        f"{path.relative_to(ANALYZERS)}:{line}: {text!r}"
        for layer in CONSUMERS
        for path in sorted((ANALYZERS / layer).rglob("*.py"))
        for line, text in library_literals(path)
    ]
    assert found == [], "library names belong in analyzers/catalogue (a record, or a set derived from records):\n" + "\n".join(found)


def test_the_check_sees_literals_and_skips_docstrings_and_prose(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        '"""Uses torch.nn.Linear."""\n'
        'def f(q):\n'
        '    """torch.no_grad() turns grad off."""\n'
        '    msg = "wrap in torch.no_grad()"\n'
        '    a = q.startswith("torch.optim.")\n'
        '    b = f"torchvision.models.{q}"\n'
        '    c = ("numpy.linspace", "np.x", "torch", "torchaudio.load")\n'
        '    return a, b, c, msg\n'
    )
    assert library_literals(src) == [(5, "torch.optim."), (6, "torchvision.models."), (7, "numpy.linspace")]


# ---------------------------------------------------------------- the records


def test_one_record_per_qualname_and_kind():
    seen: dict[tuple[type, str], Record] = {}
    dup = []
    for r in index.RECORDS:
        key = (type(r), r.qualname)
        if key in seen and not isinstance(r, ZooModel):  # zoo families share their namespace
            dup.append(key)
        seen[key] = r
    assert dup == []
    zoo = [(r.qualname, r.pattern) for r in catalogue.of_kind(ZooModel)]
    assert len(zoo) == len(set(zoo))


def test_records_use_canonical_spellings_under_known_roots():
    for r in index.RECORDS:
        assert catalogue.canonical(r.qualname) == r.qualname, r
        assert r.qualname.split(".")[0] in LIBRARY_ROOTS, r
    for loss in catalogue.of_kind(Loss):
        for c in loss.module_classes:
            assert catalogue.canonical(c) == c


def test_losses_agree_between_function_and_module_class():
    classes = [c for loss in catalogue.of_kind(Loss) for c in loss.module_classes]
    assert len(classes) == len(set(classes)), "a module class belongs to one loss"
    for loss in catalogue.of_kind(Loss):
        assert torch_api.in_functional(loss.qualname), loss
        assert loss.module_classes, loss
        assert loss.input_arg != loss.target_arg
        assert loss.reduction_default in ("mean", "sum", "none", "batchmean")
        if loss.symmetric:  # |a - b| and (a - b)^2: both arguments are values of the same kind
            assert loss.compares_target and loss.expects is None, loss
        for c in loss.module_classes:
            assert torch_api.nn_class(c), c
            assert catalogue.lookup(c, Loss) is loss  # the class and the function are one record
            # every derived set says the same of the class as of the function
            assert (c in torch_api.SYMMETRIC_LOSSES) == (loss.qualname in torch_api.SYMMETRIC_LOSSES)
            assert torch_api.TARGET_LOSS_MODULES.get(c) == torch_api.TARGET_LOSS_FUNCS.get(loss.qualname)
    for funcs, modules, expects in (
        (torch_api.CROSS_ENTROPY_FUNCS, torch_api.CROSS_ENTROPY_MODULES, Domain.LOGITS),
        (torch_api.NLL_LOSS_FUNCS, torch_api.NLL_LOSS_MODULES, Domain.LOG_PROBS),
        (torch_api.KL_DIV_FUNCS, torch_api.KL_DIV_MODULES, Domain.LOG_PROBS),
    ):
        for q in funcs | modules:
            assert catalogue.lookup(q, Loss).expects is expects  # type: ignore[union-attr]


def test_module_records_are_nn_classes_and_functions_are_not():
    for r in catalogue.of_kind(Layer) + catalogue.of_kind(Activation):
        assert torch_api.nn_class(r.qualname) == r.module, r
    assert torch_api.SOFTMAX_MODULES | torch_api.LOG_SOFTMAX_MODULES | torch_api.SIGMOID_MODULES <= {
        r.qualname for r in catalogue.of_kind(Activation) if r.module
    }
    assert not torch_api.BN_CLASSES & torch_api.DROPOUT_CLASSES


def test_records_are_complete_for_their_kind():
    for r in catalogue.of_kind(GradContext):
        assert r.enables is not None or r.mode_arg is not None, r
    for r in catalogue.of_kind(IndexOp):
        assert torch_api.is_tensor_method(r.qualname)
        assert r.function_index_arg is None or r.function_index_arg >= 1  # the function form takes input first
    for r in catalogue.of_kind(TensorFunction):
        assert r.effects or r.grad_free, r
        if r.effects & {Effect.READ_IMAGE, Effect.TO_TENSOR, Effect.FLOAT_ARRAY, Effect.CREATE}:
            assert r.dtype is not None, r
    shorts = [r.short for r in catalogue.of_kind(Namespace) if r.short]
    assert len(shorts) == len(set(shorts))
    for kind in (
        Loss, Activation, Layer, TensorFunction, IndexOp, GradContext, ZooModel, Optimizer, LrScheduler, GradScaler,
        Accelerator, JitModule, ModuleMethod, PretrainedModels, LossModule, DataLoader,
    ):
        assert [f.name for f in fields(kind)][0] == "qualname"
        assert catalogue.of_kind(kind), kind


def test_dtypes_and_tensor_members():
    dtypes = {r.dtype for r in catalogue.of_kind(Dtype) if not r.tensor_type}
    for r in catalogue.of_kind(Dtype):  # each names a dtype that is spelled as itself too (torch.float32)
        assert catalogue.lookup(f"torch.{r.dtype}", Dtype).dtype == r.dtype, r  # type: ignore[union-attr]
    for r in catalogue.of_kind(TensorMember):
        assert torch_api.is_tensor_method(r.qualname)
        assert r.casts_to is None or r.casts_to in dtypes, r
        assert any((r.keeps_shape_and_dtype, r.casts_to, r.grad_free, r.no_graph, r.rearranges, r.attribute, r.ema_update)), r
        if r.casts_to is not None:  # a cast changes the dtype, so it does not keep it
            assert not r.keeps_shape_and_dtype, r
    for r in catalogue.of_kind(ModuleMethod):
        assert r.qualname.startswith("torch.nn.Module."), r
        assert not (r.returns_self and r.grad_free), r  # the module itself requires grad through its parameters
    assert {"softmax", "log_softmax", "sigmoid"} == (
        torch_api.SOFTMAX_METHODS | torch_api.LOG_SOFTMAX_METHODS | torch_api.SIGMOID_METHODS
    )
    assert not any(torch_api.is_tensor_method(q) for q in torch_api.SOFTMAX_FUNCS | torch_api.SIGMOID_FUNCS)


def test_lookup():
    assert catalogue.lookup("torch.nn.CrossEntropyLoss", Loss).qualname == "torch.nn.functional.cross_entropy"  # type: ignore[union-attr]
    assert catalogue.lookup("torch.nn.CrossEntropyLoss", Layer) is None
    assert catalogue.lookup("mylib.cross_entropy") is None
    assert catalogue.lookup(None) is None
    assert {type(r) for r in catalogue.records_of("torch.sigmoid")} == {Activation, TensorFunction}
    assert catalogue.canonical("torch.nn.modules.loss.CrossEntropyLoss") == "torch.nn.CrossEntropyLoss"


@pytest.mark.parametrize("qualname, facts", [
    ("torchvision.models.resnet50", (True, False)),
    ("torchvision.models.vgg16_bn", (True, True)),
    ("torchvision.models.segmentation.deeplabv3_resnet50", (True, False)),
    ("torchvision.models.mobilenet_v3_large", (True, True)),
    ("torchvision.models.vgg16", None),  # no batch norm: not a family the catalogue describes
    ("torchvision.models.alexnet", None),
    ("timm.create_model", None),
])
def test_zoo_families(qualname, facts):
    z = torch_api.zoo_model(qualname)
    assert (None if z is None else (z.has_batch_norm, z.has_dropout)) == facts


def test_namespace_predicates():
    assert torch_api.nn_class("torch.nn.Linear") and not torch_api.nn_class("torch.nn.functional.linear")
    assert torch_api.optimizer_class("torch.optim.AdamW") and torch_api.optimizer_class_named("torch.optim.AdamW")
    for q in ("torch.optim.lr_scheduler.StepLR", "torch.optim.swa_utils.AveragedModel", "torch.optimize"):
        assert not torch_api.optimizer_class(q) and not torch_api.optimizer_class_named(q), q
    assert torch_api.top_level_torch("torch.gather") == "gather" and torch_api.top_level_torch("torch.nn.Linear") is None
    assert torch_api.short("torch.nn.functional.interpolate") == "F.interpolate"
    assert torch_api.short("torchvision.transforms.v2.Resize") == "transforms.v2.Resize"
    assert torch_api.short("numpy.random.rand") == "np.random.rand"
    assert torch_api.torch_family("torchvision.io.read_image") and not torch_api.in_torch("torchvision.io.read_image")
    assert re.fullmatch(r"[a-z_]+", torch_api.TORCH_ROOT)


def test_optimizers_schedulers_and_engines():
    """What builds an optimizer, a scheduler, a scaler or a training engine: one kind each."""
    makers, bases = torch_api.OPTIMIZER_MAKERS, torch_api.OPTIMIZER_BASES
    assert makers and bases and not makers & bases
    for q in makers | bases:  # the torch ones are classes of torch.optim, not of its non-optimizer packages
        if torch_api.in_torch(q):
            assert q.startswith(tuple(p + "." for p in torch_api.OPTIMIZER_PACKAGES)), q
            assert not q.startswith(tuple(p + "." for p in torch_api.NOT_OPTIMIZER_PACKAGES)), q
    assert torch_api.OPTIMIZER_PACKAGES and torch_api.NOT_OPTIMIZER_PACKAGES
    for ns in torch_api.NOT_OPTIMIZER_PACKAGES:  # a package of no optimizers lies inside a package of optimizers
        assert any(ns.startswith(p + ".") for p in torch_api.OPTIMIZER_PACKAGES), ns
    others = (torch_api.LR_SCHEDULER_MAKERS, torch_api.GRAD_SCALERS, torch_api.ACCELERATORS, torch_api.ACCELERATOR_TUPLE_MAKERS)
    for i, a in enumerate((makers | bases, *others)):
        for b in others[i:]:
            assert a is b or not a & b  # one record kind per API
    for r in catalogue.of_kind(Accelerator):
        # an engine class offers the methods that wrap the optimizer; a call returning an engine tuple is no class
        assert bool(r.wrapping_methods) != r.returns_engine_tuple, r
    assert torch_api.ACCELERATOR_WRAPPING_METHODS.isdisjoint(torch_api.MODULE_API_METHODS)


def test_jit_modules_and_module_methods():
    for r in catalogue.of_kind(JitModule):
        assert r.qualname.startswith("torch.jit."), r
    assert {r.kind for r in catalogue.of_kind(JitModule)} == set(JitKind)
    api = torch_api.MODULE_API_METHODS
    assert torch_api.MODULE_PROTOCOL_METHODS <= api and torch_api.MODULE_RETURNING_METHODS <= api
    assert {"eval", "train", "zero_grad"} <= torch_api.MODULE_PROTOCOL_METHODS
    assert "forward" not in api and "__call__" not in api  # none of them runs the forward


def test_pretrained_model_naming():
    records = catalogue.of_kind(PretrainedModels)
    assert [r.qualname + "." for r in records] == list(torch_api.HF_PACKAGES)
    for r in records:
        assert r.factories and r.model_endings, r
        assert not set(r.model_endings) & set(r.not_model_endings), r
    assert len([r for r in records if r.model_infix]) == 1  # one infix: HF_MODEL_CLASS_INFIX
    assert not set(torch_api.HF_MODEL_CLASS_ENDINGS) & set(torch_api.HF_NOT_MODEL_ENDINGS)


def test_losses_and_layers_without_parameters():
    described = {c for loss in catalogue.of_kind(Loss) for c in loss.module_classes}
    for r in catalogue.of_kind(LossModule):
        assert torch_api.nn_class(r.qualname) and r.qualname not in described, r  # one record kind per loss class
        assert catalogue.lookup(r.qualname, Layer) is None, r
    assert torch_api.NN_LOSS_MODULES == described | {r.qualname for r in catalogue.of_kind(LossModule)}
    for r in catalogue.of_kind(Layer):
        assert not (r.no_parameters and (r.has_parameters or r.raw_scores or r.has_batch_norm)), r
        assert not (r.instance_norm and r.has_batch_norm), r
    assert not torch_api.NN_PARAMETERLESS_MODULES & (torch_api.NN_LOSS_MODULES | torch_api.PARAMETER_LAYERS)
    assert torch_api.DROPOUT_CLASSES <= torch_api.NN_PARAMETERLESS_MODULES
    assert torch_api.SOFTMAX_MODULES | torch_api.SIGMOID_MODULES <= torch_api.NN_PARAMETERLESS_MODULES


def test_tensor_factories_and_data_loaders():
    for r in catalogue.of_kind(TensorFunction):
        if r.factory:  # a made-up tensor: no graph, no data
            assert r.grad_free and torch_api.in_torch(r.qualname), r
    assert torch_api.TENSOR_FACTORIES and torch_api.DATA_LOADERS
    assert all(q.startswith("torch.utils.data.") for q in torch_api.DATA_LOADERS)
