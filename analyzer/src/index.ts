export * from "./analyzer.js";
export * from "./ingest/ingestor.js";
export * from "./query/duration.js";
export * from "./query/top-functions.js";
export * from "./store/database.js";
export * from "./store/event-store.js";
export * from "./store/migrations.js";
export * from "./query/targets.js";
