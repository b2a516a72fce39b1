export * from './image-archive.js';
export * from './tar-writer.js';
