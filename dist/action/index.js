// Loads bundle.js with Node's compile cache on (in the OS temp directory): later runs skip compiling it.
import module from 'node:module';
module.enableCompileCache?.();
await import('./bundle.js');
