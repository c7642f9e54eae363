// Builds the impact map into the Python package's static folder (cmdb_graph/web/static), which
// `cmdb-graph serve` serves at /. Everything is bundled: no CDN, nothing fetched at run time.
import * as esbuild from 'esbuild';
import { copyFile, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const out = here('../cmdb_graph/web/static/');
const assets = `${out}assets/`;

await rm(out, { recursive: true, force: true });
await mkdir(assets, { recursive: true });
const result = await esbuild.build({
  entryPoints: { app: here('src/main.js'), 'layout-worker': here('src/layout-worker.js') },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome110', 'firefox115', 'safari16'],
  loader: { '.graphql': 'text' },
  outdir: assets,
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
await copyFile(here('src/index.html'), `${out}index.html`);
await copyFile(here('src/style.css'), `${assets}app.css`);
const sizes = {};
for (const name of ['app.js', 'layout-worker.js', 'app.css']) sizes[name] = (await stat(`${assets}${name}`)).size;
await writeFile(`${out}build.json`, `${JSON.stringify({ sizes, inputs: Object.keys(result.metafile.inputs).length }, null, 2)}\n`);
console.log(`impact map built into ${out}: ${Object.entries(sizes).map(([n, s]) => `${n} ${(s / 1024).toFixed(0)} KiB`).join(', ')}`);
