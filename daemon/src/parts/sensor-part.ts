import type { EndpointStat } from "@seismo/agent-proto";
import type { KeptRequests } from "../instruments/request-exemplar.js";
import type { InspectorSession } from "../inspector/session.js";
import type { Logger } from "../logger.js";

/** What parts add to a profile window: the requests, calls and queries since the last one. */
export interface WindowContribution {
  endpoints?: EndpointStat[];
  outgoing?: EndpointStat[];
  queries?: EndpointStat[];
  /** Failed and slow requests kept since the last window, published as events of their own. */
  requests?: KeptRequests;
}

/** What a window's profile shows of the target's code: the URLs of the scripts its samples ran in. */
export interface WindowScripts {
  scriptUrls: ReadonlySet<string>;
}

/**
 * One feature of an attached sensor beside CPU sampling (an instrument in the target, the spike
 * watch, the exception watch). The sensor starts its parts on attach, asks each for its share
 * of every window, and stops them in two steps on detach, without knowing any by name.
 */
export interface SensorPart {
  /** What it does, for the line that says the sensor attached ("timing HTTP endpoints"). */
  readonly doing: string;
  /** Its share of the window about to be published (read in the target: one round trip); `seen`: what the window's profile shows ran. */
  contribute?(seen: WindowScripts): Promise<WindowContribution>;
  /** Before the last window: stop what runs on its own. `exiting`: the target is going; ask it nothing. */
  halt?(exiting: boolean): Promise<void>;
  /** After the last window, when the daemon detaches and the target stays: take out what was installed in it. */
  remove?(): Promise<void>;
}

/** What an instrument part is started with. */
export interface InstrumentContext {
  session: InspectorSession;
  /** For what an instrument learns as it goes (e.g. that it now reads Hono's routes). */
  log: Logger;
  /** The window length: an instrument unread for three windows belongs to a daemon that died. */
  windowMs: number;
  /** Whether failed and slow requests are kept (the HTTP instrument's request forensics). */
  keepRequests: boolean;
}

/**
 * An instrument installed in the target, registered in instruments/instruments.ts: turned on by its setting,
 * installed at attach; when it cannot be installed (a target without diagnostics_channel, say)
 * only what it times is lost, and `unavailable` says so.
 */
export interface InstrumentKind<Setting extends string> {
  /** The SensorSettings switch that turns it on or off. */
  readonly setting: Setting;
  /** "HTTP endpoints will not be timed", followed by why. */
  readonly unavailable: string;
  start(context: InstrumentContext): Promise<SensorPart>;
}
