// Runs the map's layout off the main thread: only the positions go back, so the page stays
// responsive while a large map is laid out.
import { positionsFor } from './layout.js';

self.onmessage = (event) => {
  const { id, nodes, edges, layout } = event.data;
  const started = performance.now();
  const { name, positions } = positionsFor(layout, nodes, edges);
  self.postMessage({ id, positions, quality: name, ms: performance.now() - started });
};
