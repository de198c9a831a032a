import { expect } from 'chai';
import { ConfigurationError } from '../../lib';
import { Harness } from '../support/harness';

/** Bee-Queue's script cache, as its `ready()` fills it from its own folder. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const lua: { scripts: Record<string, string>; shas: Record<string, string> } = require('bee-queue/lib/lua');

/**
 * A bundle (esbuild, webpack) leaves Bee-Queue's Lua files behind: it reads them from its own folder, the bundle's
 * then. A trial's bundled worker crashed on "node_redis: The EVALSHA command contains a invalid argument type of
 * "undefined"". Emptied here as that folder leaves them (in this process only, put back after).
 */
describe('a worker whose Bee-Queue finds no Lua scripts (a bundle)', () => {
  let h: Harness;
  beforeEach(async () => { h = await new Harness('sqlite', 'bundled').setUp(); });
  afterEach(async () => { await h.tearDown(); });

  it('fails start() saying what is missing and how to ship it; an app runtime, which needs none, starts', async () => {
    await (await h.startWorker()).close(); // Bee-Queue reads its folder once per process: read it now, then empty it
    const kept = { scripts: { ...lua.scripts }, shas: { ...lua.shas } };
    for (const name of Object.keys(lua.scripts)) delete lua.scripts[name];
    for (const name of Object.keys(lua.shas)) delete lua.shas[name];
    try {
      const error = await h.startWorker().then(() => undefined, (e: Error) => e);
      expect(error).to.be.instanceOf(ConfigurationError);
      expect(error!.message).to.equal('Bee-Queue found none of its Lua scripts: it reads them at run time from its own ' +
        "folder (node_modules/bee-queue/lib/lua), which in a bundle is the bundle's. Copy node_modules/bee-queue/lib/lua/*.lua " +
        'next to the bundled file, or keep bee-queue out of the bundle (esbuild --external:bee-queue) and install it; see ' +
        '"Bundling" in the README.');
      await h.start(); // capture only: Bee-Queue is not used
    } finally {
      Object.assign(lua.scripts, kept.scripts);
      Object.assign(lua.shas, kept.shas);
    }
    expect(Object.keys(lua.scripts).length, 'put back').to.be.above(0);
    await h.startWorker(); // and with them, a worker starts
  });
});
