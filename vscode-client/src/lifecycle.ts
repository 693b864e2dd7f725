// Starting, restarting and stopping the server: calls are queued, never overlapped, and a
// client that failed to start is replaced, never stopped. No `vscode` import.

/** The part of vscode-languageclient's LanguageClient used here. */
export interface ServerClient {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True while starting or running; false once stopped or after a failed start. */
  needsStop(): boolean;
}

export interface LifecycleHooks<C extends ServerClient> {
  /** A new client, or what stops the server from starting (a missing or too old interpreter). */
  create(): Promise<C | string>;
  /** Called with what create() said is wrong; each distinct problem should reach the user once. */
  problem(message: string): void;
  /** Called when start or stop threw. */
  failed(what: "start" | "stop", error: unknown): void;
}

export class Lifecycle<C extends ServerClient> {
  private queue: Promise<void> = Promise.resolve();
  private current: C | undefined;

  constructor(private readonly hooks: LifecycleHooks<C>) {}

  /** The client, while one exists (it may be starting, running, or have failed). */
  get client(): C | undefined {
    return this.current;
  }

  /** Stops the server if it runs and starts it again (also after a failed start). */
  restart(): Promise<void> {
    return this.enqueue(async () => {
      await this.stopCurrent();
      const client = await this.hooks.create();
      if (typeof client === "string") {
        this.hooks.problem(client);
        return;
      }
      this.current = client;
      try {
        await client.start();
      } catch (error) {
        this.hooks.failed("start", error);
      }
    });
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.stopCurrent());
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(step, step);
    return this.queue;
  }

  private async stopCurrent(): Promise<void> {
    const client = this.current;
    this.current = undefined;
    // A client in the `startFailed` (or stopped) state throws from stop(): there is nothing to stop.
    if (client?.needsStop()) {
      try {
        await client.stop();
      } catch (error) {
        this.hooks.failed("stop", error);
      }
    }
  }
}
