export * from "./durations.js";
export * from "./ids.js";
export * from "./live.js";
export * from "./options.js";
export * from "./schemas.js";
export * from "./worker.js";
