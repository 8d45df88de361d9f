export * from "./codec.js";
export * from "./errors.js";
export * from "./messages.js";
export * from "./subjects.js";
export * from "./transport/in-process.js";
export * from "./transport/nats.js";
export * from "./transport/transport.js";
export * from "./commands.js";
