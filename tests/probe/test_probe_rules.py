"""Each rule probe, run for real on CPU with torch 2.13.0 in its own subprocess."""

from __future__ import annotations

import sys

import pytest

from torchpit.probe import ProbeResult, list_probes, probes_for_rule

PROBE_IDS = [info.id for info in list_probes()]
NEEDS_CUDA = {info.id for info in list_probes() if info.needs_cuda}


def test_catalog_covers_the_runtime_rules() -> None:
    rules = {info.rule for info in list_probes()}
    assert rules == {
        "PIT101", "PIT102", "PIT103", "PIT104", "PIT105", "PIT201", "PIT202", "PIT203", "PIT204",
        "PIT205", "PIT206", "PIT207", "PIT208", "PIT301", "PIT302", "PIT303", "PIT401", "PIT402",
        "PIT403", "PIT404",
    }
    assert [info.id for info in probes_for_rule("pit402")] == ["index-out-of-bounds"]
    assert probes_for_rule("PIT402")[0].cuda_only_variants == ("launch-blocking",)
    assert probes_for_rule("PIT999") == []


def test_the_caller_never_imports_torch(cpu_results: dict[str, ProbeResult]) -> None:
    assert "torch" not in sys.modules


@pytest.mark.parametrize("probe_id", PROBE_IDS)
def test_probe_confirms_on_cpu_or_says_why_not(cpu_results: dict[str, ProbeResult], probe_id: str) -> None:
    result = cpu_results[probe_id]
    assert result.device == "cpu" and result.device_name == "CPU"
    assert result.torch_version.startswith("2.13.0")
    assert result.summary.startswith(f"on your torch {result.torch_version} and CPU, ")
    assert not result.cached
    if probe_id in NEEDS_CUDA:
        assert result.status == "skipped", result.summary
        assert "need CUDA" in result.summary
    else:
        assert result.status == "confirmed", result.summary


def test_cuda_only_variant_is_skipped_on_cpu(cpu_results: dict[str, ProbeResult]) -> None:
    result = cpu_results["index-out-of-bounds:launch-blocking"]
    assert result.status == "skipped" and "needs CUDA" in result.summary


def test_figures_match_the_measured_facts(cpu_results: dict[str, ProbeResult]) -> None:
    obs = {probe_id: result.observations for probe_id, result in cpu_results.items()}
    assert obs["softmax-before-cross-entropy"]["perfect_prediction_loss_with_softmax"] == pytest.approx(1.4612)
    assert obs["softmax-before-cross-entropy"]["grad_norm_ratio_softmax_over_correct"] < 0.1
    assert obs["nll-loss-without-log-softmax"]["nll_loss_on_softmax"] < 0
    assert all(not o["raised"] and o["target_got_grad"] for o in obs["loss-target-requires-grad"].values())
    assert obs["kl-div-input-not-log-probabilities"]["kl_of_distribution_from_itself_prob_input"] < -1.5
    assert "batchmean" in obs["kl-div-reduction-mean"]["warnings"][0]
    assert "volatile was removed and now has no effect" in obs["volatile-variable"]["warnings"][0]
    assert obs["missing-eval-mode"]["dropout_zero_fraction_during_evaluation"] == pytest.approx(0.5, abs=0.02)
    assert obs["missing-eval-mode"]["batchnorm_running_mean_overwritten_by_eval_batch"] is True
    assert obs["missing-train-mode"]["dropout_zero_fraction_during_training_step"] == 0.0
    assert obs["functional-dropout-without-training"]["zero_fraction_in_eval_mode"] == pytest.approx(0.5, abs=0.02)
    assert "backward through the graph a second time" in obs["backward-twice-without-retain-graph"]["error"]
    assert obs["missing-zero-grad"]["grad_after_three_backward"] == [6.0, 6.0, 6.0]
    assert obs["zero-grad-between-backward-and-step"]["weight_unchanged_after_step"] is True
    for probe_id in ("batchnorm-frozen-with-requires-grad", "forward-in-train-mode-under-no-grad"):
        assert obs[probe_id]["running_mean_changed_train_mode_no_grad_requires_grad_false"] is True
        assert obs[probe_id]["running_mean_changed_eval_mode"] is False
    assert obs["index-with-float-tensor"]["index_select_float_index"]["error"] == (
        "RuntimeError: index_select(): Expected dtype int32 or int64 for index")
    assert obs["index-out-of-bounds"] == {
        "cuda_launch_blocking": False, "raised_at": "call", "error": "IndexError: index out of range in self"}
    interpolate = obs["interpolate-unbatched-input"]
    assert interpolate["size_tuple"]["error"].startswith("ValueError: Input and output must have the same number")
    assert interpolate["size_int"] == {"raised": False, "shape": [3, 64, 32]}
    assert "bilinear mode needs 4D input" in interpolate["bilinear"]["error"]
    assert obs["interpolate-size-from-pil"]["output_shape_size_from_pil_wh"] == [1, 3, 64, 48]


def test_cpu_stand_ins_for_cuda_memory_figures_are_measured(cpu_results: dict[str, ProbeResult]) -> None:
    eval_obs = cpu_results["eval-without-no-grad"].observations
    assert eval_obs["saved_for_backward_MiB_autograd"] > 0 == eval_obs["saved_for_backward_MiB_no_grad"]
    assert eval_obs["output_grad_fn_under_no_grad"] is None and eval_obs["output_grad_fn"]
    assert not any("peak" in key for key in eval_obs)  # no invented memory figures on CPU
    assert cpu_results["retain-graph-without-reuse"].observations == {"second_backward_after_retain_graph": "ok"}


def test_results_serialize(cpu_results: dict[str, ProbeResult]) -> None:
    result = cpu_results["missing-zero-grad"]
    data = result.to_dict()
    assert set(data) == {"probe", "rule", "title", "device", "device_name", "torch_version", "status",
                         "summary", "observations", "duration_s", "cached"}
    assert ProbeResult.from_dict(data) == result
