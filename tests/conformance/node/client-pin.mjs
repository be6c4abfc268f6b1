// Loads @trpc/* from another pinned install, so the same test files can run against
// another @trpc/client release: `node --import ./client-pin.mjs` with TRPC_CLIENT_DIR
// set to the folder whose node_modules holds that release (e.g. ../node-11.0).
// Everything else (ws, eventsource) still comes from this folder's node_modules.
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const dir = process.env.TRPC_CLIENT_DIR;
if (!dir) throw new Error('client-pin.mjs needs TRPC_CLIENT_DIR');
register('./client-pin-hooks.mjs', import.meta.url, {
  data: { parentURL: pathToFileURL(path.join(path.resolve(dir), 'package.json')).href },
});
