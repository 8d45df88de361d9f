import type { InspectorSession } from "../src/inspector/session.js";

/**
 * A target (our own interface) whose main thread is inside a native call until `release()`: every
 * command waits, then is answered with `value(n)` for the n-th answer (from 1), as Runtime.evaluate
 * answers.
 */
export class BlockedTarget implements InspectorSession {
  sends = 0;
  closed = false;
  private readonly waiting: Array<() => void> = [];
  private answers = 0;

  constructor(private readonly value: (n: number) => unknown) {}

  send<T>(): Promise<T> {
    this.sends++;
    return new Promise<T>((resolve) => this.waiting.push(() => resolve({ result: { value: this.value(++this.answers) } } as T)));
  }

  /** The native call returns: the queued commands are answered. */
  release(): void {
    for (const answer of this.waiting.splice(0)) answer();
  }

  on(): void {}
  onClose(): void {}
  async close(): Promise<void> {
    this.closed = true;
  }
}
