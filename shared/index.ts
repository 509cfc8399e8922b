export * from "./ids.js";
export * from "./durations.js";
export * from "./options.js";
export * from "./schemas.js";
export * from "./live.js";
