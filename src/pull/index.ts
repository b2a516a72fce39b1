export * from './assemble.js';
export * from './fetch.js';
export * from './pull.js';
export * from './resolve.js';
export * from './sources.js';
