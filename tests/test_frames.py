"""The events of a loop or a function, made from each called function's frame (``Flow.frame``,
composed at the call), are the events found by following every call into its body
(``Flow._collect``): the same kinds, nodes, call chains, subjects in the caller's words,
conditions, branches and grad modes, in the same order, as deep, and where the calls go round
in a cycle, the same as the stack of the inlining stops it."""

from __future__ import annotations

import ast

from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.facts import flow as flow_module
from torchpit.analyzers.facts.flow import FUNCTION_TYPES, LOOP_TYPES, MAX_INLINE_DEPTH, flow_of
from torchpit.analyzers.semantic import grad_mode
from torchpit.analyzers.semantic.inference import JediOptions

CODE = """\
import torch
import torch.nn as nn


def clear(o):
    o.zero_grad()


def level4(m, o):
    m.eval()
    clear(o)


def level3(m, o):
    level4(m, o)


def level2(m, o):
    with torch.no_grad():
        level3(m, o)


def level1(model, opt, flag):
    if flag:
        level2(model.module, opt)
    else:
        model.train()


def ping(net, n):
    net.eval()
    if n:
        pong(net, n - 1)


def pong(net, n):
    net.train()
    ping(net, n)


def countdown(net, n):
    net.eval()
    if n:
        countdown(net, n - 1)


class Trainer:
    def __init__(self, model, opt):
        self.model = model
        self.opt = opt

    def step(self, x, y):
        self.opt.zero_grad()
        loss = nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        self.opt.step()

    def epoch(self, batches):
        for x, y in batches:
            self.step(x, y)
            level1(self.model, self.opt, x is None)
            ping(self.model, 3)


def main(batches):
    net = nn.Linear(3, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    trainer = Trainer(net, opt)
    for epoch in range(3):
        trainer.epoch(batches)
        countdown(net, 2)
        for x, y in batches:
            opt.zero_grad()
            with torch.no_grad():
                level1(net, opt, epoch)
            loss = nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()


if __name__ == "__main__":
    main([])
"""


def _roots_and_flow():
    result = analyze(CODE, "m.py", jedi=JediOptions(enabled=False), keep_model=True)
    model = result.model
    assert model is not None
    roots = [n for n in ast.walk(model.tree) if isinstance(n, (*LOOP_TYPES, *FUNCTION_TYPES))]
    return flow_of(model), roots, model


def _inlined(fl, root):
    out = []
    fl._collect(root.body, root, (), {}, False, frozenset(), (), grad_mode.UNCHANGED, out, {id(root)})
    out.sort(key=lambda e: e.order)
    return out


def test_the_events_from_frames_are_those_of_following_every_call() -> None:
    fl, roots, model = _roots_and_flow()
    try:
        assert len(roots) == 15
        for root in roots:
            assert fl.events(root) == _inlined(fl, root), ast.unparse(root).splitlines()[0]
        # the depth is reached: level1 -> level2 -> level3 -> level4 -> clear, from main's loop
        inner = next(r for r in roots if isinstance(r, ast.For) and r.lineno > 70)
        chains = [len(e.chain) for e in fl.events(inner)]
        assert max(chains) == MAX_INLINE_DEPTH
        deepest = [e for e in fl.events(inner) if len(e.chain) == MAX_INLINE_DEPTH]
        assert [(e.kind, e.subject) for e in deepest] == [("eval", "net.module")]  # level4's clear(o) is one call too deep
        assert all(e.no_grad for e in deepest)  # under main's no_grad and level2's
    finally:
        model.release()


def test_where_the_calls_go_round_the_inlining_decides(monkeypatch) -> None:
    """ping and pong call each other: their frames cannot be made, and the events of what calls
    them are collected by inlining (the stack stops the cycle); countdown calls itself, which
    its own frame leaves out, as the stack does."""
    fallbacks: list[str] = []
    real = flow_module.Flow._collect

    def counting(self, stmts, frame_root, *rest):
        if frame_root is not None and not rest[0]:  # a fallback's first call (empty chain)
            fallbacks.append(getattr(frame_root, "name", type(frame_root).__name__))
        return real(self, stmts, frame_root, *rest)

    monkeypatch.setattr(flow_module.Flow, "_collect", counting)
    fl, roots, model = _roots_and_flow()
    try:
        by_name = {r.name: r for r in roots if isinstance(r, FUNCTION_TYPES)}
        fallbacks.clear()
        fl._framed(by_name["countdown"])  # (not fl.events: the analysis asked for these already)
        assert fallbacks == []  # a function that calls itself has a frame
        fl._framed(by_name["ping"])
        assert fallbacks == ["ping"]
        pong = sorted(fl._framed(by_name["pong"]), key=lambda e: e.order)
        assert fallbacks == ["ping", "pong"]
        assert pong == _inlined(fl, by_name["pong"])
        # pong's train, ping's eval (one call in), and no more: the stack stops at pong
        assert [(e.kind, e.subject, len(e.chain)) for e in pong] == [("train", "net", 0), ("eval", "net", 1)]
    finally:
        model.release()


def test_a_composition_that_kept_events_past_the_depth_would_differ(monkeypatch) -> None:
    """The equality above can fail: a composition that keeps the callee's events past the
    depth the inlining stops at gives other events for main's inner loop."""

    def unbounded(out, callee, call, params, cond, branches, effect):
        for k, n, ch, subj, c, br, effs, loss in callee:
            out.append((k, n, (call, *ch), flow_module._subst(subj, params), cond or c, branches | br, (effect, *effs), loss))

    monkeypatch.setattr(flow_module, "_compose", unbounded)
    fl, roots, model = _roots_and_flow()
    try:
        inner = next(r for r in roots if isinstance(r, ast.For) and r.lineno > 70)
        assert fl.events(inner) != _inlined(fl, inner)
        assert max(len(e.chain) for e in fl.events(inner)) == MAX_INLINE_DEPTH + 1
    finally:
        model.release()
