// The stand-in ships with the product (`quorum dev stand-in`); tests import it from here.
export * from '../../src/dev/stand-ins/anthropic-stand-in.js';
