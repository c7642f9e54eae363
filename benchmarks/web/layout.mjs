// The impact map's layouts, timed on neighbourhoods shaped like the map's: `npm run bench` in
// web/ (BENCHMARKS.md has the figures). Each size is a seeded synthetic neighbourhood: a
// centre, upstream and downstream bands whose CIs each need one to three CIs of the band
// nearer the centre (about 1.7 relationships a CI, as a generated enterprise's data centre
// neighbourhood has). Pass a file of MapNeighbourhood's answer to time a real one instead:
//
//   node benchmarks/web/layout.mjs [--sizes 300,1000,2000,5000] [--runs 5] [--file answer.json]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FORCE_UP_TO, forcePositions, layeredPositions } from '../../web/src/layout.js';

const { values } = parseArgs({ options: {
  sizes: { type: 'string', default: '300,1000,2000,5000' }, runs: { type: 'string', default: '5' }, file: { type: 'string' },
} });
const runs = Number(values.runs);

function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function synthetic(size, seed = 1) {
  const next = random(seed);
  const ranks = [-3, -2, -1, 1, 2];
  const share = { '-3': 0.45, '-2': 0.3, '-1': 0.15, 1: 0.07, 2: 0.03 };
  const nodes = [{ id: 'centre', rank: 0 }];
  const byRank = new Map([[0, ['centre']]]);
  for (const rank of ranks) {
    const count = Math.max(1, Math.round((size - 1) * share[rank]));
    byRank.set(rank, Array.from({ length: count }, (_, i) => `r${rank}-${i}`));
  }
  const edges = [];
  for (const rank of ranks) {
    const inward = byRank.get(rank - Math.sign(rank));
    for (const id of byRank.get(rank)) {
      nodes.push({ id, rank, group: `class-${Math.floor(next() * 6)}` });
      const links = 1 + Math.floor(next() * 2.4);
      for (let k = 0; k < links; k += 1) {
        const other = inward[Math.floor(next() * inward.length)];
        edges.push(rank < 0 ? { source: id, target: other } : { source: other, target: id });
      }
    }
  }
  return { nodes, edges };
}

function fromAnswer(path) {
  const answer = JSON.parse(readFileSync(path, 'utf8'));
  const n = answer.data?.neighbourhood ?? answer.neighbourhood ?? answer;
  const side = { UPSTREAM: -1, DOWNSTREAM: 1 };
  return {
    nodes: [...n.nodes.map((x) => ({ id: x.id, rank: (side[x.direction] ?? 0) * x.distance, group: x.ciClass })),
      ...n.collapsed.map((c) => ({ id: c.key, rank: c.upstream >= c.downstream ? -1 : 1, group: c.ciClass }))],
    edges: n.edges.map((e) => ({ source: e.source, target: e.target })),
  };
}

function time(fn, times) {
  const ms = [];
  for (let i = 0; i < times; i += 1) {
    const started = performance.now();
    fn();
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(ms.length / 2)], max: ms[ms.length - 1] };
}

const cases = values.file ? [[values.file, fromAnswer(values.file)]]
  : values.sizes.split(',').map((s) => [`synthetic ${s}`, synthetic(Number(s))]);
console.log(`node ${process.version}, ${runs} runs each; force (fCoSE) timed up to ${FORCE_UP_TO * 4} CIs (the page uses it up to ${FORCE_UP_TO})`);
console.log('| neighbourhood | CIs | relationships | layered p50 ms | layered max ms | force p50 ms |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const [name, { nodes, edges }] of cases) {
  const layered = time(() => layeredPositions(nodes, edges), runs);
  const force = nodes.length <= FORCE_UP_TO * 4 ? time(() => forcePositions(nodes, edges), Math.min(runs, 3)).p50.toFixed(0) : '—';
  console.log(`| ${name} | ${nodes.length} | ${edges.length} | ${layered.p50.toFixed(1)} | ${layered.max.toFixed(1)} | ${force} |`);
}
