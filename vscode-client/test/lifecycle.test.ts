import assert from "node:assert/strict";
import { test } from "node:test";
import { Lifecycle, type ServerClient } from "../src/lifecycle";

/** Behaves as vscode-languageclient's LanguageClient: stop() throws unless starting or running. */
class FakeClient implements ServerClient {
  state: "initial" | "starting" | "running" | "startFailed" | "stopped" = "initial";
  constructor(private readonly fails: boolean) {}
  async start(): Promise<void> {
    this.state = "starting";
    await Promise.resolve();
    if (this.fails) {
      this.state = "startFailed";
      throw new Error("Pending response rejected since connection got disposed");
    }
    this.state = "running";
  }
  async stop(): Promise<void> {
    if (this.state !== "running") {
      throw new Error(`Client is not running and can't be stopped. It's current state is: ${this.state}`);
    }
    this.state = "stopped";
  }
  needsStop(): boolean {
    return this.state === "starting" || this.state === "running";
  }
}

function harness(plan: (FakeClient | string)[]) {
  const events: string[] = [];
  const made: FakeClient[] = [];
  const lifecycle = new Lifecycle<FakeClient>({
    async create() {
      const next = plan.shift();
      assert.ok(next !== undefined, "more starts than planned");
      if (next instanceof FakeClient) {
        made.push(next);
      }
      return next;
    },
    problem: (message) => events.push(`problem: ${message}`),
    failed: (what, error) => events.push(`${what} failed: ${String(error)}`),
  });
  return { lifecycle, events, made };
}

test("a restart after a failed start starts a new server", async () => {
  const { lifecycle, events, made } = harness([new FakeClient(true), new FakeClient(false)]);
  await lifecycle.restart();
  assert.equal(made[0].state, "startFailed");
  await lifecycle.restart(); // the old code called stop() here, which threw, and never started again
  assert.equal(made[1].state, "running");
  assert.equal(lifecycle.client, made[1]);
  assert.deepEqual(events, ["start failed: Error: Pending response rejected since connection got disposed"]);
});

test("a restart stops the running server first", async () => {
  const { lifecycle, made } = harness([new FakeClient(false), new FakeClient(false)]);
  await lifecycle.restart();
  await lifecycle.restart();
  assert.deepEqual(
    made.map((c) => c.state),
    ["stopped", "running"],
  );
});

test("a bad interpreter is reported and a fixed one starts", async () => {
  const { lifecycle, events, made } = harness(["torchpit needs Python 3.10 or newer", new FakeClient(false)]);
  await lifecycle.restart();
  assert.equal(lifecycle.client, undefined);
  await lifecycle.restart();
  assert.equal(made[0].state, "running");
  assert.deepEqual(events, ["problem: torchpit needs Python 3.10 or newer"]);
});

test("restarts are queued, never overlapped", async () => {
  const { lifecycle, made } = harness([new FakeClient(false), new FakeClient(false), new FakeClient(false)]);
  await Promise.all([lifecycle.restart(), lifecycle.restart(), lifecycle.restart()]);
  assert.deepEqual(
    made.map((c) => c.state),
    ["stopped", "stopped", "running"],
  );
  await lifecycle.stop();
  assert.equal(made[2].state, "stopped");
  assert.equal(lifecycle.client, undefined);
  await lifecycle.stop(); // nothing to stop: no error
});
