// Where the map's nodes go. Both layouts run in the worker (layout-worker.js) and in the
// benchmark (benchmarks/web/layout.mjs), on plain data: nodes with the rank the neighbourhood
// gives them (negative upstream, 0 the centre, positive downstream), and edges.
//
// - layered: one band per rank, upstream above the centre and downstream below, each band's CIs
//   ordered by where their neighbours nearer the centre sit, wrapped into rows when a band is
//   wide. Linear in the size of the map: the choice for large maps.
// - force: fCoSE (a force-directed layout) on a headless Cytoscape; readable for small maps,
//   but its time grows quadratically (about 1 s at 300 CIs, over 20 s at 2,500 on this machine).
import cytoscape from 'cytoscape';
import fcose from 'cytoscape-fcose';

cytoscape.use(fcose);

export const FORCE_UP_TO = 300;
const STEP_X = 70;
const STEP_Y = 60;
const BAND_GAP = 140;

export function chooseLayout(requested, nodeCount) {
  if (requested === 'force' || requested === 'layered') return requested;
  return nodeCount <= FORCE_UP_TO ? 'force' : 'layered';
}

export function layeredPositions(nodes, edges) {
  const rankOf = new Map(nodes.map((n) => [n.id, n.rank ?? 0]));
  const neighbours = new Map(nodes.map((n) => [n.id, []]));
  for (const { source, target } of edges) {
    if (neighbours.has(source) && neighbours.has(target)) {
      neighbours.get(source).push(target);
      neighbours.get(target).push(source);
    }
  }
  const bands = new Map();
  for (const n of nodes) {
    const rank = rankOf.get(n.id);
    if (!bands.has(rank)) bands.set(rank, []);
    bands.get(rank).push(n);
  }
  const ranks = [...bands.keys()];
  // rows about as wide as the whole map is tall
  const perRow = Math.max(12, Math.ceil(Math.sqrt(nodes.length) * 1.2));
  const order = new Map(); // id -> x slot, for the bands nearer the centre
  const positions = {};
  const place = (rank) => {
    const band = bands.get(rank);
    const inward = rank === 0 ? null : rank - Math.sign(rank);
    const weight = (n) => {
      const near = neighbours.get(n.id).filter((m) => rankOf.get(m) === inward && order.has(m));
      return near.length ? near.reduce((sum, m) => sum + order.get(m), 0) / near.length : Number.POSITIVE_INFINITY;
    };
    const keyed = band.map((n) => ({ n, w: weight(n) }));
    keyed.sort((a, b) => a.w - b.w || String(a.n.group ?? '').localeCompare(String(b.n.group ?? '')) || a.n.id.localeCompare(b.n.id));
    const rows = Math.ceil(keyed.length / perRow);
    const width = Math.min(keyed.length, perRow);
    keyed.forEach(({ n }, i) => {
      const row = Math.floor(i / perRow);
      const column = i % perRow;
      // rows of a band grow away from the centre
      positions[n.id] = { x: (column - width / 2) * STEP_X + (row % 2) * (STEP_X / 2), y: row * STEP_Y * (rank < 0 ? -1 : 1) };
      order.set(n.id, positions[n.id].x);
    });
    return rows;
  };
  // bands placed outward from the centre, each one offset by the rows before it
  let up = 0;
  let down = 0;
  const upward = ranks.filter((r) => r < 0).sort((a, b) => b - a);
  const downward = ranks.filter((r) => r > 0).sort((a, b) => a - b);
  if (bands.has(0)) down = place(0) * STEP_Y;
  for (const rank of upward) {
    const before = bands.get(rank).map((n) => n.id);
    const rows = place(rank);
    up += BAND_GAP;
    before.forEach((id) => { positions[id].y -= up; });
    up += (rows - 1) * STEP_Y;
  }
  for (const rank of downward) {
    const before = bands.get(rank).map((n) => n.id);
    const rows = place(rank);
    down += BAND_GAP;
    before.forEach((id) => { positions[id].y += down; });
    down += (rows - 1) * STEP_Y;
  }
  return positions;
}

export function forcePositions(nodes, edges) {
  const cy = cytoscape({
    headless: true,
    styleEnabled: true,
    elements: [
      ...nodes.map((n) => ({ data: { id: n.id } })),
      ...edges.map((e, i) => ({ data: { id: `e${i}`, source: e.source, target: e.target } })),
    ],
    style: [{ selector: 'node', style: { width: 40, height: 40 } }],
  });
  cy.layout({
    name: 'fcose', quality: 'default', randomize: true, animate: false, fit: false,
    nodeSeparation: 90, idealEdgeLength: () => 90, nodeRepulsion: () => 9000, packComponents: true,
  }).run();
  const positions = {};
  cy.nodes().forEach((n) => { positions[n.id()] = { ...n.position() }; });
  cy.destroy();
  return positions;
}

export function positionsFor(requested, nodes, edges) {
  const name = chooseLayout(requested, nodes.length);
  return { name, positions: name === 'force' ? forcePositions(nodes, edges) : layeredPositions(nodes, edges) };
}
