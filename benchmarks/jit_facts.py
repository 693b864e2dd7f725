"""TorchScript facts the rules rely on (analyzers/catalogue/torch_api.py, JIT_*): one run prints one
JSON line per fact. usage: python benchmarks/jit_facts.py   (CPU is enough; benchmarks/README.md keeps a run)
"""
import io, json, warnings
import torch
import torch.nn as nn
torch.manual_seed(0)
def net():
    return nn.Sequential(nn.Linear(16, 16), nn.Dropout(0.5), nn.BatchNorm1d(16))
x = torch.randn(64, 16)
out = {}
# 1. trace in train mode: does it record autograd of the tracing forward? is the result in train mode? does eval() switch dropout?
m = net()
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    tr = torch.jit.trace(m, x, check_trace=False)
out["trace_warnings"] = sorted({str(i.message)[:120] for i in w})
out["traced_training_after_trace_in_train_mode"] = tr.training
y = tr(x)
out["traced_call_output_requires_grad"] = y.requires_grad
out["traced_call_grad_fn"] = type(y.grad_fn).__name__ if y.grad_fn else None
tr.eval()
z1, z2 = tr(x), tr(x)
out["traced_in_train_then_eval_dropout_still_on"] = bool((z1 != z2).any())
rm = m[2].running_mean.clone(); tr.eval(); tr(x)
out["traced_in_train_then_eval_bn_running_mean_changes"] = bool((m[2].running_mean != rm).any())
rm = m[2].running_mean.clone()
with torch.no_grad():
    tr(x)
out["traced_in_train_then_eval_under_no_grad_bn_running_mean_changes"] = bool((m[2].running_mean != rm).any())
# trace in eval mode, then train(): dropout?
m2 = net().eval()
tr2 = torch.jit.trace(m2, x)
tr2.train()
a, b = tr2(x), tr2(x)
out["traced_in_eval_then_train_dropout_on"] = bool((a != b).any())
rm2 = m2[2].running_mean.clone(); tr2(x)
out["traced_in_eval_then_train_bn_running_mean_changes"] = bool((m2[2].running_mean != rm2).any())
# does trace's forward update BN running stats in train mode?
m3 = net(); rm3 = m3[2].running_mean.clone()
torch.jit.trace(m3, x, check_trace=False)
out["trace_call_updates_bn_stats_in_train_mode"] = bool((m3[2].running_mean != rm3).any())
# 2. script
s = torch.jit.script(net())
ys = s(x)
out["scripted_output_requires_grad"] = ys.requires_grad
s.eval(); a, b = s(x), s(x)
out["scripted_eval_dropout_off"] = bool((a == b).all())
# 3. freeze
f = torch.jit.freeze(torch.jit.script(net().eval()))
yf = f(x)
out["frozen_output_requires_grad"] = yf.requires_grad
out["frozen_has_parameters"] = len(list(f.parameters()))
out["frozen_has_training_attr"] = hasattr(f, "training")
try:
    torch.jit.freeze(torch.jit.script(net()))
    out["freeze_train_mode_module"] = "ok"
except Exception as e:
    out["freeze_train_mode_module"] = f"{type(e).__name__}: {str(e)[:150]}"
# 4. load
buf = io.BytesIO(); torch.jit.save(torch.jit.script(net()), buf); buf.seek(0)
l = torch.jit.load(buf)
out["loaded_training"] = l.training
out["loaded_params_require_grad"] = all(p.requires_grad for p in l.parameters())
yl = l(x)
out["loaded_output_requires_grad"] = yl.requires_grad
buf = io.BytesIO(); torch.jit.save(torch.jit.script(net().eval()), buf); buf.seek(0)
l2 = torch.jit.load(buf)
out["loaded_from_eval_saved_training"] = l2.training
# 5. optimize_for_inference
try:
    o = torch.jit.optimize_for_inference(torch.jit.script(net().eval()))
    out["optimize_for_inference_output_requires_grad"] = o(x).requires_grad
except Exception as e:
    out["optimize_for_inference"] = f"{type(e).__name__}: {str(e)[:150]}"
out["torch"] = torch.__version__
for k, v in out.items():
    print(json.dumps({k: v}))
f2 = torch.jit.freeze(torch.jit.script(net().eval()))
try:
    f2.eval(); print(json.dumps({"frozen_eval_call": "ok"}))
except Exception as e:
    print(json.dumps({"frozen_eval_call": f"{type(e).__name__}: {str(e)[:120]}"}))
try:
    f2.train(); print(json.dumps({"frozen_train_call": "ok"}))
    a, b = f2(x), f2(x); print(json.dumps({"frozen_after_train_dropout_on": bool((a != b).any())}))
except Exception as e:
    print(json.dumps({"frozen_train_call": f"{type(e).__name__}: {str(e)[:120]}"}))
# traced module: parameters shared with the original?
m5 = net(); t5 = torch.jit.trace(m5.eval(), x)
print(json.dumps({"traced_shares_parameters": all(a is b or a.data_ptr() == b.data_ptr() for a, b in zip(m5.parameters(), t5.parameters()))}))
# trace under no_grad in train mode: BN stats still move
m6 = net(); rm6 = m6[2].running_mean.clone()
with torch.no_grad():
    t6 = torch.jit.trace(m6, x, check_trace=False)
print(json.dumps({"trace_under_no_grad_train_mode_updates_bn": bool((m6[2].running_mean != rm6).any())}))
