"""Call-site probes: a flagged call rebuilt from a JSON spec, run on synthetic tensors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from torchpit.probe import ProbeResult, SpecError, run_call_probe
from torchpit.probe.spec import parse_call_spec


def tensor(shape: list[int], dtype: str = "float32") -> dict[str, Any]:
    return {"tensor": {"shape": shape, "dtype": dtype}}


def values(data: list[Any], dtype: str) -> dict[str, Any]:
    return {"tensor": {"values": data, "dtype": dtype}}


INTERPOLATE = "torch.nn.functional.interpolate"
SPECS: dict[str, dict[str, Any]] = {
    "interpolate_size_pair": {"rule": "PIT403", "op": INTERPOLATE, "args": [tensor([3, 64, 64])],
                              "kwargs": {"size": {"value": [32, 32]}, "mode": {"value": "bilinear"}}},
    "interpolate_size_int": {"rule": "PIT403", "op": INTERPOLATE, "args": [tensor([3, 64, 64])],
                             "kwargs": {"size": {"value": 32}}},
    "interpolate_batched": {"rule": "PIT403", "op": INTERPOLATE, "args": [tensor([1, 3, 64, 64])],
                            "kwargs": {"size": {"value": [32, 32]}}},
    "interpolate_pil_size": {"rule": "PIT404", "op": INTERPOLATE, "args": [tensor([1, 3, 48, 64])],
                             "kwargs": {"size": {"value": [64, 48]}}},
    "index_select_float": {"rule": "PIT401", "op": "torch.index_select",
                           "args": [tensor([10, 3]), {"value": 0}, values([1.0, 2.0], "float32")]},
    "index_select_oob": {"rule": "PIT402", "op": "torch.index_select",
                         "args": [tensor([1000, 10]), {"value": 0}, values([0, 5, 1000], "int64")]},
    "subscript_in_bounds": {"rule": "PIT402", "op": "torch.Tensor.__getitem__",
                            "args": [tensor([10, 3]), values([0, 9], "int64")]},
    "softmax_cross_entropy": {
        "rule": "PIT101", "op": "torch.nn.functional.cross_entropy",
        "args": [{"call": {"op": "torch.nn.functional.softmax", "args": [tensor([32, 10])],
                           "kwargs": {"dim": {"value": 1}}}},
                 {"tensor": {"shape": [32], "dtype": "int64", "fill": "zeros"}}]},
}


@pytest.fixture(scope="module")
def call_results() -> dict[str, ProbeResult]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda spec: run_call_probe(spec, device="cpu"), SPECS.values())
        return dict(zip(SPECS, results))


def test_interpolate_unbatched_pair_size_reports_the_real_value_error(call_results: dict[str, ProbeResult]) -> None:
    result = call_results["interpolate_size_pair"]
    assert result.status == "confirmed"
    assert result.probe == "call:PIT403" and result.rule == "PIT403"
    error = result.observations["outcome"]["error"]
    assert error.startswith("ValueError: Input and output must have the same number of spatial dimensions, "
                            "but got input with spatial dimensions of [64] and output size of [32, 32].")
    assert error in result.summary


def test_interpolate_unbatched_int_size_silently_resizes_last_axis(call_results: dict[str, ProbeResult]) -> None:
    result = call_results["interpolate_size_int"]
    assert result.status == "confirmed"
    assert result.observations["outcome"] == {"raised": False, "output": {"shape": [3, 64, 32], "dtype": "float32"}}
    assert "silently returned shape (3, 64, 32)" in result.summary


def test_interpolate_batched_input_is_not_confirmed(call_results: dict[str, ProbeResult]) -> None:
    result = call_results["interpolate_batched"]
    assert result.status == "not-confirmed"
    assert result.observations["outcome"]["output"]["shape"] == [1, 3, 32, 32]


def test_interpolate_size_from_pil_is_transposed(call_results: dict[str, ProbeResult]) -> None:
    result = call_results["interpolate_pil_size"]
    assert result.status == "confirmed"
    assert result.observations["outcome"]["output"]["shape"] == [1, 3, 64, 48]


def test_index_select_float_index(call_results: dict[str, ProbeResult]) -> None:
    result = call_results["index_select_float"]
    assert result.status == "confirmed"
    assert result.observations["outcome"] == {
        "raised": True, "raised_at": "call",
        "error": "RuntimeError: index_select(): Expected dtype int32 or int64 for index"}


def test_index_out_of_bounds(call_results: dict[str, ProbeResult]) -> None:
    result = call_results["index_select_oob"]
    assert result.status == "confirmed"
    assert result.observations["outcome"]["error"] == "IndexError: index out of range in self"
    assert call_results["subscript_in_bounds"].status == "not-confirmed"
    assert call_results["subscript_in_bounds"].observations["outcome"]["output"]["shape"] == [2, 3]


def test_softmax_before_cross_entropy_call(call_results: dict[str, ProbeResult]) -> None:
    result = call_results["softmax_cross_entropy"]
    assert result.status == "confirmed"
    assert 0 < result.observations["grad_norm_ratio_softmax_over_logits"] < 1


def test_unknown_argument_is_unavailable_without_running() -> None:
    spec = {"rule": "PIT402", "op": "torch.index_select",
            "args": [tensor([1000, 10]), {"value": 0}, {"unknown": "index computed at run time"}]}
    result = run_call_probe(spec, device="cpu")
    assert result.status == "unavailable"
    assert result.summary == "not run: args[2] is unknown (index computed at run time)"
    assert result.duration_s == 0.0


def test_values_that_do_not_fit_are_an_error_result() -> None:
    spec = {"rule": "PIT401", "op": "torch.index_select",
            "args": [tensor([10, 3]), {"value": 0}, values([[1], [2, 3]], "int64")]}
    result = run_call_probe(spec, device="cpu")
    assert result.status == "error"
    assert "could not build args[2]" in result.summary


GOOD_TENSOR = tensor([2, 3])


@pytest.mark.parametrize(("spec", "message"), [
    ([], "expected an object, got list"),
    ({"op": INTERPOLATE, "args": [GOOD_TENSOR]}, "missing key(s) ['rule']"),
    ({"rule": "PIT999", "op": INTERPOLATE}, "rule: expected one of"),
    ({"rule": "PIT403", "op": "os.system", "args": [GOOD_TENSOR]}, "'os.system' is not an allowed callable"),
    ({"rule": "PIT403", "op": "eval", "args": [GOOD_TENSOR]}, "'eval' is not an allowed callable"),
    ({"rule": "PIT403", "op": INTERPOLATE, "args": [GOOD_TENSOR], "extra": 1}, "unexpected key(s) ['extra']"),
    ({"rule": "PIT403", "op": INTERPOLATE, "args": [{"tensor": {"shape": [2, -1], "dtype": "float32"}}]},
     "args[0].tensor.shape: expected a list of at most 8 non-negative integers"),
    ({"rule": "PIT403", "op": INTERPOLATE, "args": [{"tensor": {"shape": [2], "dtype": "complex999"}}]},
     "args[0].tensor.dtype: expected one of"),
    ({"rule": "PIT403", "op": INTERPOLATE, "args": [{"tensor": {"shape": [100000, 100000], "dtype": "float32"}}]},
     "more than the 16777216 a probe allows"),
    ({"rule": "PIT403", "op": INTERPOLATE, "args": [{"tensor": {"shape": [2], "values": [1, 2], "dtype": "int64"}}]},
     "expected exactly one of shape, values"),
    ({"rule": "PIT403", "op": INTERPOLATE, "args": [GOOD_TENSOR], "kwargs": {"size": {"value": {"a": 1}}}},
     "kwargs.size.value: expected null, a bool"),
    ({"rule": "PIT403", "op": INTERPOLATE, "args": [GOOD_TENSOR], "kwargs": {"size": {"code": "2**10"}}},
     "unknown argument kind 'code'"),
    ({"rule": "PIT403", "op": INTERPOLATE, "args": [GOOD_TENSOR], "kwargs": {"size": {"value": 1, "dtype": "int64"}}},
     "exactly one of tensor, value, dtype, call, unknown"),
    ({"rule": "PIT403", "op": INTERPOLATE, "args": [GOOD_TENSOR], "kwargs": {"not valid": {"value": 1}}},
     "'not valid' is not a valid keyword name"),
    ({"rule": "PIT403", "op": INTERPOLATE,
      "args": [{"tensor": {"shape": [2], "dtype": "int64", "fill": "randn"}}]}, "randn needs a floating-point dtype"),
    ({"rule": "PIT403", "op": INTERPOLATE,
      "args": [{"tensor": {"shape": [2], "dtype": "int64", "requires_grad": True}}]},
     "only floating-point tensors can require grad"),
    ({"rule": "PIT403", "op": INTERPOLATE, "args": [{"unknown": ""}]}, "args[0].unknown: expected a non-empty"),
    ({"rule": "PIT403", "op": "torch.index_select", "args": [GOOD_TENSOR]},
     "must be a torch.nn.functional.interpolate"),
    ({"rule": "PIT101", "op": "torch.nn.functional.cross_entropy", "args": [GOOD_TENSOR]},
     "needs a softmax call over a tensor"),
    ({"rule": "PIT401", "op": "torch.index_select",
      "args": [{"call": {"op": "torch.softmax", "rule": "PIT401"}}]}, "args[0].call: unexpected key(s) ['rule']"),
])
def test_malformed_spec_is_rejected_with_a_clear_message(spec: Any, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_call_spec(spec)
    assert str(caught.value).startswith("invalid call spec: ")
    assert message in str(caught.value)
    with pytest.raises(SpecError):
        run_call_probe(spec, device="cpu")


def test_deeply_nested_calls_are_rejected() -> None:
    inner: dict[str, Any] = {"op": "torch.softmax", "args": [GOOD_TENSOR]}
    for _ in range(6):
        inner = {"op": "torch.softmax", "args": [{"call": inner}]}
    with pytest.raises(SpecError, match="nested deeper than"):
        parse_call_spec({"rule": "PIT401", "op": "torch.index_select", "args": [{"call": inner}]})
