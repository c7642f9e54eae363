// The map itself: a Cytoscape canvas drawing a neighbourhood, laid out in a worker, with the
// classes the views put on nodes (failed, down, degraded, on a path, root cause, SPOF, cut set).
import cytoscape from 'cytoscape';

// the worker sits beside this bundle; resolved while the script runs (currentScript is gone later)
const WORKER_URL = new URL('layout-worker.js', document.currentScript?.src ?? location.href);

// from this many relationships on, edges are drawn the cheap way (haystack: no arrow heads)
export const FAST_EDGES_FROM = 1500;

export const LAYER_COLOURS = { BUSINESS: '#7b4fa6', SERVICE: '#2f7fc1', INFRASTRUCTURE: '#3f9b57' };

const CLASS_SHAPES = {
  BUSINESS_SERVICE: 'round-rectangle',
  TECHNICAL_SERVICE: 'round-tag',
  APPLICATION: 'ellipse',
  DATABASE: 'barrel',
  MIDDLEWARE: 'hexagon',
  SERVER: 'rectangle',
  VIRTUAL_MACHINE: 'round-rectangle',
  CONTAINER: 'cut-rectangle',
  CLUSTER: 'octagon',
  REDUNDANCY_GROUP: 'octagon',
  NETWORK_DEVICE: 'diamond',
  LOAD_BALANCER: 'vee',
  FIREWALL: 'tag',
  STORAGE_DEVICE: 'barrel',
  DATACENTER: 'star',
  CLOUD_RESOURCE: 'round-pentagon',
  DOCUMENT: 'rhomboid',
};

export const EDGE_COLOURS = {
  DEPENDS_ON: '#5b6b7f',
  RUNS_ON: '#8c6d46',
  HOSTED_ON: '#8c6d46',
  CONNECTED_VIA: '#2a9d8f',
  STORED_ON: '#d17a22',
  LOCATED_IN: '#b0b7c0',
  HAS_MEMBER: '#7b4fa6',
};

// One selector per value rather than a function per element: Cytoscape caches selector
// styles, while a function runs again for every element it draws.
function byValue(group, field, values, style) {
  return Object.entries(values).map(([value, v]) => ({ selector: `${group}[${field} = "${value}"]`, style: style(v) }));
}

const STYLE = [
  {
    selector: 'node',
    style: {
      'background-color': '#888',
      shape: 'ellipse',
      label: 'data(label)',
      'font-size': 10,
      'text-wrap': 'wrap',
      'text-max-width': 140,
      'text-valign': 'bottom',
      'text-margin-y': 4,
      'min-zoomed-font-size': 7,
      color: '#1d2430',
      width: 26,
      height: 26,
      'border-width': 1,
      'border-color': '#ffffff',
    },
  },
  ...byValue('node', 'layer', LAYER_COLOURS, (colour) => ({ 'background-color': colour })),
  ...byValue('node', 'ciClass', CLASS_SHAPES, (shape) => ({ shape })),
  { selector: 'node[ciClass = "BUSINESS_SERVICE"]', style: { width: 44, height: 30, 'font-weight': 'bold' } },
  { selector: 'node.group', style: { 'border-width': 3, 'border-style': 'double', 'border-color': '#3b2f52' } },
  { selector: 'node.centre', style: { width: 40, height: 40, 'border-width': 4, 'border-color': '#111' } },
  {
    selector: 'node.collapsed',
    style: { shape: 'round-rectangle', width: 70, height: 40, 'background-opacity': 0.35, 'border-width': 2,
             'border-style': 'dashed', 'border-color': '#555', 'text-valign': 'center', 'text-margin-y': 0,
             'font-weight': 'bold' },
  },
  { selector: 'node.has-incident', style: { 'underlay-color': '#e63946', 'underlay-opacity': 0.45, 'underlay-padding': 7 } },
  { selector: 'node.has-change', style: { 'outline-color': '#1d6fd6', 'outline-width': 3, 'outline-offset': 2 } },
  { selector: 'node.down', style: { 'background-color': '#d62828', 'border-color': '#6b0f0f', 'border-width': 3 } },
  { selector: 'node.degraded', style: { 'background-color': '#f4a261', 'border-color': '#9c5a12', 'border-width': 3 } },
  { selector: 'node.failed', style: { 'background-color': '#2b0606', 'border-color': '#d62828', 'border-width': 5 } },
  { selector: 'node.symptom', style: { 'border-color': '#e9c46a', 'border-width': 5, 'border-style': 'dotted' } },
  { selector: 'node.candidate', style: { 'border-color': '#e9c46a', 'border-width': 4 } },
  { selector: 'node.root-top', style: { 'background-color': '#ffd60a', 'border-color': '#7a5d00', 'border-width': 6, width: 44, height: 44 } },
  { selector: 'node.target', style: { 'border-color': '#1d6fd6', 'border-width': 6 } },
  { selector: 'node.spof', style: { 'background-color': '#c1121f', 'border-color': '#000', 'border-width': 5, shape: 'star', width: 40, height: 40 } },
  { selector: 'node.cut', style: { 'border-color': '#ff006e', 'border-width': 5, 'border-style': 'dashed' } },
  { selector: 'node.path', style: { 'border-color': '#0077b6', 'border-width': 6 } },
  { selector: 'node:selected', style: { 'overlay-color': '#0077b6', 'overlay-opacity': 0.25, 'overlay-padding': 6 } },
  { selector: 'node.faded', style: { opacity: 0.25 } },
  {
    selector: 'edge',
    style: {
      width: 2,
      'line-style': 'solid',
      'line-color': '#999',
      'target-arrow-color': '#999',
      'target-arrow-shape': 'triangle',
      'arrow-scale': 0.8,
      'curve-style': 'straight',
      opacity: 0.8,
    },
  },
  ...byValue('edge', 'type', EDGE_COLOURS, (colour) => ({ 'line-color': colour, 'target-arrow-color': colour })),
  { selector: 'edge[strength = "SOFT"]', style: { width: 1, 'line-style': 'dashed' } },
  { selector: 'edge[type = "HAS_MEMBER"]', style: { 'line-style': 'dotted' } },
  { selector: 'edge.fast', style: { 'curve-style': 'haystack', 'haystack-radius': 0, 'target-arrow-shape': 'none' } },
  { selector: 'edge[count > 1]', style: { label: 'data(count)', 'font-size': 9, width: 3 } },
  { selector: 'edge.path', style: { 'line-color': '#0077b6', 'target-arrow-color': '#0077b6', width: 5, opacity: 1 } },
  { selector: 'edge.faded', style: { opacity: 0.1 } },
];

function nodeLabel(node) {
  const lines = [node.name];
  if (node.minMembers != null && node.memberCount != null) lines.push(`${node.minMembers} of ${node.memberCount}`);
  const badges = [];
  if (node.openIncidents.length) badges.push(`⚠ ${node.openIncidents.length}`);
  if (node.recentChanges.length) badges.push(`✎ ${node.recentChanges.length}`);
  if (badges.length) lines.push(badges.join('  '));
  return lines.join('\n');
}

// Elements added to the map per frame: about 100 ms of Cytoscape's work on this machine.
export const ADD_CHUNK = 500;

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

// An immediate placement (rows by side and distance) so the map can be used before the
// worker's layout arrives; sets `position` on the node elements given.
function placeQuickly(nodes) {
  const rings = new Map();
  nodes.forEach((n) => {
    const side = { UPSTREAM: -1, DOWNSTREAM: 1 }[n.data.direction] ?? 0;
    const key = n.data.collapsed ? 99 : side * (n.data.distance ?? 0);
    if (!rings.has(key)) rings.set(key, []);
    rings.get(key).push(n);
  });
  const step = 60;
  for (const [key, members] of rings) {
    const y = key === 99 ? 0 : key * 160;
    const perRow = Math.max(20, Math.ceil(Math.sqrt(members.length) * 3));
    const width = Math.min(members.length, perRow) * step;
    members.forEach((n, i) => {
      const row = Math.floor(i / perRow);
      n.position = { x: (i % perRow) * step - width / 2 + (key === 99 ? 2000 : 0), y: y + row * 40 * Math.sign(key || 1) };
    });
  }
}

export class ImpactMapGraph {
  constructor(container, { onTap, onLayout } = {}) {
    this.cy = cytoscape({
      container,
      style: STYLE,
      wheelSensitivity: 0.3,
      textureOnViewport: true,
      hideEdgesOnViewport: true,
      motionBlur: false,
      pixelRatio: 1,
      minZoom: 0.02,
      maxZoom: 4,
    });
    this.onLayout = onLayout;
    this.worker = new Worker(WORKER_URL);
    this.pending = new Map();
    this.requests = 0;
    this.shows = 0;
    this.worker.onmessage = (event) => this.placed(event.data);
    this.cy.on('tap', 'node', (event) => onTap?.(event.target, event.originalEvent));
  }

  // Draws a neighbourhood (from the MapNeighbourhood operation) in place of the current one,
  // ADD_CHUNK elements a frame so that the page keeps answering while a large map goes in;
  // resolves once every element is in, with `laidOut`, the worker's layout to come. A newer
  // show() makes an older one stop and resolve `{ stale: true }`.
  async show(neighbourhood) {
    const serial = ++this.shows;
    const started = performance.now();
    const centre = neighbourhood.centre.id;
    const elements = [];
    neighbourhood.nodes.forEach((node) => {
      const classes = [];
      if (node.id === centre) classes.push('centre');
      if (node.minMembers != null) classes.push('group');
      if (node.openIncidents.length) classes.push('has-incident');
      if (node.recentChanges.length) classes.push('has-change');
      elements.push({ group: 'nodes', data: { ...node, label: nodeLabel(node) }, classes: classes.join(' ') });
    });
    neighbourhood.collapsed.forEach((summary) => {
      elements.push({
        group: 'nodes',
        data: { id: summary.key, ciClass: summary.ciClass, layer: summary.layer, count: summary.count,
                upstream: summary.upstream, downstream: summary.downstream,
                label: `${summary.ciClass} × ${summary.count}`, collapsed: true },
        classes: 'collapsed',
      });
    });
    const fast = neighbourhood.edges.length >= FAST_EDGES_FROM;
    neighbourhood.edges.forEach((edge, i) => {
      elements.push({ group: 'edges', data: { id: `e${i}`, ...edge }, classes: fast ? 'fast' : '' });
    });
    placeQuickly(elements.filter((e) => e.group === 'nodes'));
    this.neighbourhood = neighbourhood;
    this.cy.elements().remove();
    let longest = 0;
    for (let i = 0; i < elements.length; i += ADD_CHUNK) {
      const chunk = performance.now();
      this.cy.add(elements.slice(i, i + ADD_CHUNK));
      if (i === 0) this.cy.fit(undefined, 30);
      longest = Math.max(longest, performance.now() - chunk);
      if (i + ADD_CHUNK < elements.length) {
        await nextFrame();
        if (serial !== this.shows) return { stale: true };
      }
    }
    this.cy.fit(undefined, 30);
    this.lastShow = { elements: elements.length, chunks: Math.ceil(elements.length / ADD_CHUNK),
                      longestChunkMs: longest, addedMs: performance.now() - started };
    return { laidOut: this.layout() };
  }

  // Asks the worker for positions; `layout` is auto, force or layered (see layout.js).
  layout(layout = this.layoutName ?? 'auto') {
    this.layoutName = layout;
    const id = ++this.requests;
    const n = this.neighbourhood;
    const rankOf = (node) => {
      if (node.data('collapsed')) {
        return node.data('upstream') >= node.data('downstream') ? -Math.max(1, n?.upstreamDepth ?? 1) : Math.max(1, n?.downstreamDepth ?? 1);
      }
      const side = { UPSTREAM: -1, DOWNSTREAM: 1 }[node.data('direction')] ?? 0;
      return side * (node.data('distance') ?? 0);
    };
    const nodes = this.cy.nodes().map((node) => ({ id: node.id(), rank: rankOf(node), group: node.data('ciClass') }));
    const edges = this.cy.edges().map((e) => ({ source: e.data('source'), target: e.data('target') }));
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ id, nodes, edges, layout });
    });
  }

  placed({ id, positions, ms, quality }) {
    const resolve = this.pending.get(id);
    this.pending.delete(id);
    if (id !== this.requests) {
      resolve?.({ stale: true });
      return;
    }
    this.cy.batch(() => {
      this.cy.nodes().forEach((n) => {
        const p = positions[n.id()];
        if (p) n.position(p);
      });
    });
    this.cy.fit(undefined, 30);
    const report = { ms, quality, nodes: this.cy.nodes().length, edges: this.cy.edges().length };
    this.lastLayout = report;
    this.onLayout?.(report);
    resolve?.(report);
  }

  has(id) {
    return this.cy.getElementById(id).nonempty();
  }

  clear(...classes) {
    this.cy.elements().removeClass(classes.join(' '));
  }

  mark(ids, cls) {
    this.cy.batch(() => {
      ids.forEach((id) => this.cy.getElementById(id).addClass(cls));
    });
  }

  // Puts `cls` on a chain of CI ids and the relationships between consecutive ones.
  markPath(ids, cls = 'path') {
    this.cy.batch(() => {
      ids.forEach((id, i) => {
        const node = this.cy.getElementById(id);
        node.addClass(cls);
        if (i + 1 < ids.length) {
          const next = ids[i + 1];
          node.edgesWith(this.cy.getElementById(next)).addClass(cls);
        }
      });
    });
  }

  focus(id) {
    const node = this.cy.getElementById(id);
    if (node.nonempty()) this.cy.animate({ center: { eles: node }, duration: 200 });
  }
}
