export * from './reference.js';
export * from './input.js';
