import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import CDP from "chrome-remote-interface";
import { withTimeout } from "../with-timeout.js";
import { assertLoopbackUrl } from "./loopback.js";

/**
 * The little of a CDP connection Seismo uses, so the sampler and sensor can be
 * driven by a recorded or scripted session in unit tests.
 */
export interface InspectorSession {
  send<T = unknown>(method: string, params?: object): Promise<T>;
  on(event: string, listener: (params: unknown) => void): void;
  /** Called once when the WebSocket closes, whoever closed it. */
  onClose(listener: () => void): void;
  close(): Promise<void>;
  readonly closed: boolean;
}

interface CriClient {
  send(method: string, params?: object): Promise<unknown>;
  on(event: string, listener: (params: unknown) => void): void;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** Per command; a frozen (SIGSTOPped) target must not hang the daemon. */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/** Opens a CDP session on a loopback inspector WebSocket URL. */
export async function connectInspector(webSocketUrl: string, options: ConnectOptions = {}): Promise<InspectorSession> {
  assertLoopbackUrl(webSocketUrl);
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  let client: CriClient;
  try {
    client = await withTimeout(
      CDP({ target: webSocketUrl, local: true }) as Promise<CriClient>,
      connectTimeoutMs,
      () => new Error(`no answer within ${connectTimeoutMs} ms`),
    );
  } catch (cause) {
    throw new SeismoError(ErrorCodes.INSPECTOR_PROTOCOL, `Cannot open the inspector at ${webSocketUrl}: ${(cause as Error).message}.`, {
      cause,
      hint: "Another debugger may hold it, or the process is exiting.",
    });
  }
  return new CriSession(client, options.commandTimeoutMs ?? 15_000);
}

/**
 * How long a closing session waits for the answers to commands still on their way. The target
 * must have nothing left to write when the connection closes: Node before 24.19 can crash when
 * its inspector thread writes to a connection that is closing (nodejs/node#34833).
 */
const QUIET_BEFORE_CLOSE_MS = 2_000;

class CriSession implements InspectorSession {
  private isClosed = false;
  private readonly closeListeners: Array<() => void> = [];
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly client: CriClient,
    private readonly commandTimeoutMs: number,
  ) {
    client.on("disconnect", () => this.markClosed());
  }

  get closed(): boolean {
    return this.isClosed;
  }

  async send<T>(method: string, params?: object): Promise<T> {
    if (this.isClosed) throw new SeismoError(ErrorCodes.INSPECTOR_PROTOCOL, `${method}: the inspector session is closed.`);
    const answer = this.client.send(method, params);
    this.inFlight.add(answer);
    const settled = (): void => void this.inFlight.delete(answer);
    answer.then(settled, settled);
    try {
      return (await withTimeout(answer, this.commandTimeoutMs, () => new Error(`no answer within ${this.commandTimeoutMs} ms`))) as T;
    } catch (cause) {
      throw new SeismoError(ErrorCodes.INSPECTOR_PROTOCOL, `${method} failed: ${(cause as Error).message}.`, { cause });
    }
  }

  on(event: string, listener: (params: unknown) => void): void {
    this.client.on(event, listener);
  }

  onClose(listener: () => void): void {
    if (this.isClosed) queueMicrotask(listener);
    else this.closeListeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    if (this.inFlight.size > 0) {
      await withTimeout(Promise.allSettled([...this.inFlight]), QUIET_BEFORE_CLOSE_MS, () => new Error("answers still due")).catch(() => undefined);
    }
    if (this.isClosed) return;
    try {
      await this.client.close();
    } catch {
      // Already gone: closing is best effort by nature.
    }
    this.markClosed();
  }

  private markClosed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
