export * from '../../src/dev/stand-ins/token-bucket.js';
