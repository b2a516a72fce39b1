export * from '../source/archive-walk.js';
export * from './open.js';
export * from '../image/describe.js';
export * from './find.js';
export * from './list.js';
export * from './verify.js';
export * from './extract.js';
