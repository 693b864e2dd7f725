from __future__ import annotations

import ast

from ...catalogue import torch_api
from ...core.diagnostics import FixAvailability, Severity
from ...facts.indexing import index_use, receiver_size
from ..rule import Context, Rule
from ...facts.shapes import int_value, tensor_fact
from .index_with_float_tensor import _probe

_CUDA_NOTE = (
    "on CPU it raises at the call (measured for index_select: `IndexError: index out of range in self`); on CUDA "
    "the call returns and `CUDA error: device-side assert triggered` surfaces at the next sync (e.g. `.item()`) in "
    "an unrelated line, after which the CUDA context is unusable (CUDA_LAUNCH_BLOCKING=1 moves the error to the call)"
)


class IndexOutOfBounds(Rule):
    """
    ## What it does
    Checks for an index that is provably out of range for the dimension it indexes: literal
    indices (`torch.tensor([0, 5])`), `torch.arange(n)`, `torch.randperm(n)` or
    `torch.randint(low, high, ...)` against a tensor built with a known shape
    (`torch.randn(4, 5)`, `torch.zeros(...)`, views of them), in `index_select`, `gather`,
    `scatter`, `index_add`, ..., a subscript, or an `nn.Embedding(num_embeddings, ...)` /
    `F.embedding` lookup with ids at or above `num_embeddings` (or negative).

    Known problems: worth a warning wherever it is written: on CPU the call raises; on CUDA the
    error surfaces only at the next sync and leaves the CUDA context unusable (measured).

    ## Why is this bad?
    The behaviour depends on the device. Measured with `index_select` on torch 2.13 (CPU) and
    2.11 (H100): on CPU it raises `IndexError: index out of range in self` at the call. On CUDA
    the call returns, and so does the next op; `CUDA error: device-side assert triggered` is
    raised only at the next synchronisation (`.item()`), so the traceback points at an
    unrelated line. With `CUDA_LAUNCH_BLOCKING=1` it is raised at the call. After it, the CUDA
    context is unusable.

    ## Example
    ```python
    emb = nn.Embedding(10, 32)
    tokens = torch.tensor([[1, 4, 10]])
    vectors = emb(tokens)
    ```

    ## Use instead
    ```python
    emb = nn.Embedding(11, 32)  # ids 0..10
    tokens = torch.tensor([[1, 4, 10]])
    vectors = emb(tokens)
    ```

    ## Fix safety
    No fix: whether the table is too small or the index too large is the author's call.

    ## References
    - [torch.nn.Embedding](https://pytorch.org/docs/stable/generated/torch.nn.Embedding.html)
    - [torch.index_select](https://pytorch.org/docs/stable/generated/torch.index_select.html)
    - [CUDA semantics: asynchronous execution](https://pytorch.org/docs/stable/notes/cuda.html#asynchronous-execution)
    """

    code = "PIT402"
    name = "index-out-of-bounds"
    summary = "Index provably out of range for the indexed dimension (a device-side assert on CUDA)"
    severity = Severity.ERROR
    fix_availability = FixAvailability.NONE
    node_types = (ast.Call, ast.Subscript)

    def check(self, node: ast.AST, ctx: Context) -> None:
        use = index_use(ctx.model, node)
        if use is None and isinstance(node, ast.Subscript):
            self._int_subscript(node, ctx)
            return
        if use is None:
            return
        sized = receiver_size(ctx.model, use)
        if sized is None:
            if use.op == "subscript":
                self._int_subscript(node, ctx)  # type: ignore[arg-type]
            return
        size, recv_fact = sized
        idx = tensor_fact(ctx.model, use.index)
        if idx is None or idx.is_float or idx.vmax is None or idx.vmin is None:
            if use.op == "subscript" and idx is None:
                self._int_subscript(node, ctx)  # type: ignore[arg-type]
            return
        negative_ok = use.op == "subscript"
        bad_high = idx.vmax >= size
        bad_low = idx.vmin < (-size if negative_ok else 0)
        if not (bad_high or bad_low):
            return
        bad = idx.vmax if bad_high else idx.vmin
        what = (
            f"nn.Embedding with num_embeddings={size}" if use.op == "embedding" and use.num_embeddings is not None
            else f"dimension {use.dim} of size {size}"
        )
        op = "indexing" if use.op == "subscript" else "the lookup" if use.op == "embedding" else use.op
        message = f"index {bad} is out of range for {what} in {op} (valid: 0..{size - 1}); {_CUDA_NOTE}"
        related = [ctx.related(n, m) for n, m in idx.evidence[-2:]]
        if recv_fact is not None:
            related += [ctx.related(n, m) for n, m in recv_fact.evidence[-2:]]
        elif use.ctor is not None:
            related.append(ctx.related(use.ctor, f"the embedding table has {size} rows"))
        ctx.report(use.index, message, related=related, probe=_probe(self.code, use, ctx))

    def _int_subscript(self, node: ast.Subscript, ctx: Context) -> None:
        """``x[5]`` / ``x[:, 7]`` with Python ints against a known shape."""
        recv = tensor_fact(ctx.model, node.value)
        if recv is None or recv.shape is None:
            return
        items = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if any(isinstance(i, ast.Constant) and i.value in (None, Ellipsis) for i in items) or len(items) > len(recv.shape):
            return
        for d, it in enumerate(items):
            if isinstance(it, ast.Slice):
                continue
            v = int_value(ctx.model, it)
            size = recv.shape[d]
            if v is None or size is None or -size <= v < size:
                continue
            message = (
                f"index {v} is out of bounds for dimension {d} with size {size}: it raises "
                f"`IndexError: index {v} is out of bounds for dimension {d} with size {size}` (observed on CPU)"
            )
            related = [ctx.related(n, m) for n, m in recv.evidence[-2:]]
            from ...facts.probes import arg_spec, call_spec

            probe = call_spec(self.code, torch_api.TENSOR_GETITEM, [arg_spec(ctx.model, node.value), arg_spec(ctx.model, node.slice)])
            ctx.report(it, message, related=related, probe=probe)
            return
