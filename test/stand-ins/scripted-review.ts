export * from '../../src/dev/stand-ins/scripted-review.js';
