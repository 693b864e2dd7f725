from __future__ import annotations

import ast

from ...catalogue import torch_api
from ...core.diagnostics import Applicability, Fix, FixAvailability, Severity
from ...facts.indexing import index_use
from ...facts.probes import arg_spec, call_kwargs, call_spec, tensor_spec
from ..rewrites import with_method
from ..rule import Context, Rule
from ...facts.shapes import tensor_fact

# Observed on torch 2.13 (CPU); index_select's CUDA text from the recorded H100 run.
_CPU_ERRORS = {
    "index_select": "index_select(): Expected dtype int32 or int64 for index",
    "gather": "gather(): Expected dtype int32/int64 for index",
    "scatter": "scatter(): Expected dtype int32/int64 for index",
    "index_add": "index_add_(): Expected dtype int32/int64 for index but got: Float",
    "take": "take(): Expected a long tensor for index, but got Float",
    "embedding": "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int",
    "subscript": "IndexError: tensors used as indices must be long, int, byte or bool tensors",
}


class IndexWithFloatTensor(Rule):
    """
    ## What it does
    Checks for an index tensor that is provably floating point, passed to `index_select`,
    `gather`, `scatter`, `scatter_add`, `index_add`, `index_copy`, `index_fill`, `take`,
    `take_along_dim` (function or method), to an `nn.Embedding` / `F.embedding` lookup, or used
    to subscript a tensor. Floating point is proved by `torch.tensor([1., 2.])`, `.float()`,
    `torch.rand` / `torch.randn` / `torch.linspace`, true division `/` (also `torch.div` without
    `rounding_mode`), arithmetic with a float scalar, and `torch.floor`/`round` of those (they
    keep the float dtype).

    Known problems: worth a warning wherever it is written: the call raises at run time on CPU
    and CUDA (measured), in a unit test as in training.

    ## Why is this bad?
    Indices must be integer tensors (int64, or int32). A float index raises at run time, often
    deep in a training run on the first batch that takes that path. Measured for
    `index_select` on torch 2.13 (CPU): `index_select(): Expected dtype int32 or int64 for
    index`; on torch 2.11 (H100): `"index_select_out_cuda_impl" not implemented for 'Float'`.
    int32 indices are accepted on both. The other ops raise similar errors on CPU (for example
    `gather(): Expected dtype int32/int64 for index`).

    ## Example
    ```python
    idx = torch.linspace(0, n - 1, steps=k)
    frames = video.index_select(0, idx)
    ```

    ## Use instead
    ```python
    idx = torch.linspace(0, n - 1, steps=k).long()
    frames = video.index_select(0, idx)
    ```

    ## Fix safety
    The fix appends `.long()` to the index. It is safe: the original call cannot run, and
    `.long()` truncates toward zero, which is what the code almost always means (use `.round()`
    first if nearest is intended).

    ## References
    - [torch.index_select](https://pytorch.org/docs/stable/generated/torch.index_select.html)
    - [torch.gather](https://pytorch.org/docs/stable/generated/torch.gather.html)
    - [Tensor indexing](https://pytorch.org/docs/stable/tensor_view.html)
    """

    code = "PIT401"
    name = "index-with-float-tensor"
    summary = "Index tensor is floating point; indices must be int64/int32"
    severity = Severity.ERROR
    fix_availability = FixAvailability.ALWAYS
    node_types = (ast.Call, ast.Subscript)

    def check(self, node: ast.AST, ctx: Context) -> None:
        use = index_use(ctx.model, node)
        if use is None:
            return
        fact = tensor_fact(ctx.model, use.index)
        if fact is None or not fact.is_float:
            return
        base = use.op.rstrip("_")
        error = _CPU_ERRORS.get(base) or _CPU_ERRORS.get(base.split("_")[0])
        where = "indexing" if use.op == "subscript" else use.op if use.op != "embedding" else "an embedding lookup"
        message = f"the index passed to {where} is floating point ({fact.dtype}); indices must be int64 or int32."
        if base == "index_select":
            message += (
                " Measured: CPU raises `index_select(): Expected dtype int32 or int64 for index`, CUDA raises "
                "`\"index_select_out_cuda_impl\" not implemented for 'Float'`."
            )
        elif error:
            message += f" On CPU it raises `{error}`."
        message += " Convert it with .long()"
        related = [ctx.related(n, m) for n, m in fact.evidence[-3:]]
        fix = Fix("Convert the index with .long()", Applicability.SAFE, (ctx.replace(use.index, with_method(ctx, use.index, "long")),))
        ctx.report(use.index, message, fix=fix, related=related, probe=_probe(self.code, use, ctx))


def _probe(rule: str, use, ctx: Context) -> dict:
    model = ctx.model
    if use.op == "subscript":
        return call_spec(rule, use.qualname, [arg_spec(model, use.receiver), tensor_spec(tensor_fact(model, use.index))])
    if use.op == "embedding" and use.qualname == torch_api.EMBEDDING:
        spec = call_spec(rule, use.qualname, [tensor_spec(tensor_fact(model, use.index))])
        if use.ctor is not None:
            spec["init"] = {"args": [arg_spec(model, a) for a in use.ctor.args], "kwargs": call_kwargs(model, use.ctor)}
        else:
            spec["init"] = {"unknown": "the module's construction is not known"}
        return spec
    call = use.node
    args = ([arg_spec(model, use.receiver)] if torch_api.is_tensor_method(use.qualname) else []) + [arg_spec(model, a) for a in call.args]
    return call_spec(rule, use.qualname, args, call_kwargs(model, call))
