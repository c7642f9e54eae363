// The impact map page: search, the neighbourhood graph, and the impact, root-cause, change and
// continuity views, all from the GraphQL API with the key the page asks for.
import { Api, ApiError } from './api.js';
import { EDGE_COLOURS, ImpactMapGraph, LAYER_COLOURS } from './graph.js';
import MAP_SEARCH from '../../graphql/operations/MapSearch.graphql';
import MAP_NEIGHBOURHOOD from '../../graphql/operations/MapNeighbourhood.graphql';
import MAP_CI_DETAIL from '../../graphql/operations/MapCIDetail.graphql';
import MAP_IMPACT from '../../graphql/operations/MapImpact.graphql';
import MAP_ROOT_CAUSE from '../../graphql/operations/MapRootCause.graphql';
import MAP_CHANGES from '../../graphql/operations/MapChanges.graphql';
import MAP_CHANGE_IMPACT from '../../graphql/operations/MapChangeImpact.graphql';
import MAP_SERVICES from '../../graphql/operations/MapServices.graphql';
import MAP_CONTINUITY from '../../graphql/operations/MapContinuity.graphql';
import MAP_WHO_AM_I from '../../graphql/operations/MapWhoAmI.graphql';

const KEY_STORAGE = 'cmdb-graph-api-key';
const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const VIEW_CLASSES = ['down', 'degraded', 'failed', 'symptom', 'candidate', 'root-top', 'target', 'spof', 'cut', 'path', 'faded'];

const state = {
  api: null,
  centre: null,
  neighbourhood: null,
  selected: null,
  marked: new Set(),
  expand: new Set(),
  names: new Map(),
};

// --- small DOM helpers --------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value == null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'onclick') node.addEventListener('click', value);
    else if (name.startsWith('data-') || name === 'title' || name === 'colspan') node.setAttribute(name, value);
    else node[name] = value;
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function table(headings, rows, attributes = {}) {
  return el('table', attributes, el('thead', {}, el('tr', {}, headings.map((h) => el('th', {}, h)))), el('tbody', {}, rows));
}

const percent = (value, digits = 3) => (value == null ? '—' : `${(value * 100).toFixed(digits).replace(/\.?0+$/, '')}%`);
const when = (value) => (value ? new Date(value).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : '—');
const nameOf = (id) => state.names.get(id) ?? id;

function status(message, isError = false) {
  const box = $('status');
  box.textContent = message;
  box.classList.toggle('error', isError);
}

async function call(document, variables, what) {
  status(`${what}…`);
  try {
    const data = await state.api.query(document, variables);
    status('');
    return data;
  } catch (error) {
    if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') {
      askForKey('The service did not accept the key; give another.');
    }
    status(`${what} failed: ${error.message}`, true);
    throw error;
  }
}

// --- the API key --------------------------------------------------------------------------

function askForKey(message = '') {
  sessionStorage.removeItem(KEY_STORAGE);
  $('api-key-error').textContent = message;
  const dialog = $('key-dialog');
  if (!dialog.open) dialog.showModal();
}

async function useKey(key) {
  const api = new Api(key);
  try {
    const { me } = await api.query(MAP_WHO_AM_I);
    state.api = api;
    sessionStorage.setItem(KEY_STORAGE, key);
    $('key-dialog').close();
    await loadPickers();
    status(`Signed in as ${me.name} (${me.role}).`);
    return true;
  } catch (error) {
    askForKey(error instanceof ApiError && error.code === 'UNAUTHENTICATED' ? 'That key was not accepted.' : error.message);
    return false;
  }
}

// --- search -------------------------------------------------------------------------------

let searchTimer = null;
let searchSerial = 0;
let activeHit = -1;

function searchResults() {
  return [...$('search-results').querySelectorAll('li[data-ci-id]')];
}

async function runSearch(text) {
  const serial = ++searchSerial;
  const list = $('search-results');
  if (!text.trim() || !state.api) {
    list.hidden = true;
    return;
  }
  const { searchCIs } = await call(MAP_SEARCH, { text, first: 12 }, 'Searching');
  if (serial !== searchSerial) return; // a later keystroke's answer wins
  list.replaceChildren(...(searchCIs.length ? searchCIs.map((ci) => el('li', {
    'data-testid': 'search-result', 'data-ci-id': ci.id, role: 'option',
    onclick: () => choose(ci.id, ci.name),
  }, el('span', {}, ci.name), el('small', {}, `${ci.id} · ${ci.ciClass}`))) : [el('li', { class: 'empty' }, 'no CI matches')]));
  activeHit = -1;
  list.hidden = false;
}

function choose(ciId, name) {
  if (name) state.names.set(ciId, name);
  $('search-results').hidden = true;
  $('search-input').value = nameOf(ciId);
  return loadNeighbourhood(ciId);
}

// --- the neighbourhood --------------------------------------------------------------------

function depthInputs() {
  const number = (testid, low, high, fallback) => {
    const value = Number.parseFloat($(testid).value);
    return Number.isFinite(value) ? Math.min(high, Math.max(low, value)) : fallback;
  };
  return {
    upstreamDepth: Math.round(number('upstream-depth', 0, 6, 3)),
    downstreamDepth: Math.round(number('downstream-depth', 0, 6, 2)),
    limit: Math.round(number('node-limit', 1, 5000, 2000)),
    changeWindowDays: number('change-window-days', 0, 36500, 30),
  };
}

let neighbourhoodSerial = 0;

async function loadNeighbourhood(ciId, depths = {}) {
  const serial = ++neighbourhoodSerial;
  if (ciId !== state.centre) state.expand.clear();
  const variables = { id: ciId, ...depthInputs(), ...depths, expand: [...state.expand] };
  const { neighbourhood } = await call(MAP_NEIGHBOURHOOD, variables, `Reading the neighbourhood of ${ciId}`);
  if (serial !== neighbourhoodSerial) return state.neighbourhood; // a later request's answer wins
  state.centre = ciId;
  state.neighbourhood = neighbourhood;
  neighbourhood.nodes.forEach((n) => state.names.set(n.id, n.name));
  $('search-input').value = neighbourhood.centre.name;
  document.body.dataset.layout = 'running';
  graph.layoutName = $('layout-select').value;
  const shown = await graph.show(neighbourhood);
  if (shown.stale) return state.neighbourhood;
  renderStats();
  renderBadges();
  renderCollapsed();
  reapplyMarks();
  select(ciId);
  await shown.laidOut;
  return neighbourhood;
}

function renderStats() {
  const n = state.neighbourhood;
  if (!n) return;
  const folded = n.collapsed.reduce((sum, c) => sum + c.count, 0);
  const layout = graph.lastLayout && document.body.dataset.layout === 'done'
    ? ` · layout ${Math.round(graph.lastLayout.ms)} ms in a worker (${graph.lastLayout.quality} layout)` : ' · laying out…';
  $('map-stats').textContent = `${n.centre.name}: ${n.nodes.length} CIs shown, ${n.edges.length} relationships` +
    `${folded ? `, ${folded} more collapsed into ${n.collapsed.length} classes` : ''}` +
    ` (${n.reachedCount} within ${n.upstreamDepth} up / ${n.downstreamDepth} down)${layout}`;
  $('map-stats').dataset.layoutMs = graph.lastLayout ? String(Math.round(graph.lastLayout.ms)) : '';
  $('map-stats').dataset.nodes = String(n.nodes.length);
  $('map-stats').dataset.collapsed = String(folded);
}

function renderBadges() {
  const list = $('badges');
  const flagged = state.neighbourhood.nodes.filter((n) => n.openIncidents.length || n.recentChanges.length);
  list.replaceChildren(...(flagged.length ? flagged.map((n) => el('li', {
    'data-testid': 'badge', 'data-ci-id': n.id, 'data-incidents': n.openIncidents.join(' '),
    'data-changes': n.recentChanges.join(' '),
  }, el('a', { href: '#', onclick: (event) => { event.preventDefault(); select(n.id); graph.focus(n.id); } }, n.name), ' ',
  n.openIncidents.length ? el('span', { class: 'state-DOWN' }, `⚠ ${n.openIncidents.join(', ')}`) : null, ' ',
  n.recentChanges.length ? el('span', {}, `✎ ${n.recentChanges.join(', ')}`) : null)) : [el('li', { class: 'empty' }, 'none')]));
}

function renderCollapsed() {
  const list = $('collapsed-classes');
  const collapsed = state.neighbourhood.collapsed;
  list.replaceChildren(...(collapsed.length ? collapsed.map((c) => el('li', { 'data-testid': 'collapsed-class', 'data-class': c.ciClass },
    `${c.ciClass}: ${c.count} CIs (${c.upstream} up, ${c.downstream} down) `,
    el('button', { type: 'button', 'data-testid': `expand-${c.ciClass}`, onclick: () => expandClass(c.ciClass) }, 'expand'),
  )) : [el('li', { class: 'empty' }, 'none')]));
}

function expandClass(ciClass) {
  state.expand.add(ciClass);
  return loadNeighbourhood(state.centre);
}

async function select(ciId) {
  state.selected = ciId;
  graph.cy.$(':selected').unselect();
  graph.cy.getElementById(ciId).select();
  const box = $('ci-detail');
  if (ciId.startsWith('class:')) {
    box.replaceChildren(el('p', {}, `${ciId.slice(6)}: collapsed; expand it below to see its CIs.`));
    return;
  }
  const { ci } = await call(MAP_CI_DETAIL, { id: ciId }, `Reading ${ciId}`);
  if (state.selected !== ciId || !ci) return;
  const open = ci.incidents.filter((i) => !['resolved', 'closed'].includes(String(i.status).toLowerCase()));
  const facts = [['id', ci.id], ['class', ci.ciClass], ['layer', ci.layer], ['status', ci.status], ['environment', ci.environment],
    ['criticality', ci.criticality], ['owner', ci.owner], ['RTO', ci.rtoMinutes && `${ci.rtoMinutes} min`],
    ['RPO', ci.rpoMinutes && `${ci.rpoMinutes} min`], ['availability', ci.availability && percent(ci.availability)],
    ['needs members up', ci.minMembers]].filter(([, v]) => v != null && v !== '');
  box.replaceChildren(
    el('h3', {}, ci.name),
    el('dl', {}, facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
    el('div', {}, el('strong', {}, 'Open incidents: '), open.length ? open.map((i) => `${i.id} ${i.title} (${i.status})`).join('; ') : 'none'),
    el('div', {}, el('strong', {}, 'Changes: '), ci.changes.length
      ? ci.changes.slice(-5).map((c) => `${c.id} ${c.title} (${c.state}, ${when(c.plannedStart)})`).join('; ') : 'none'),
    el('button', { type: 'button', 'data-testid': 'recentre', onclick: () => loadNeighbourhood(ci.id) }, 'Centre the map here'),
  );
}

// --- marks --------------------------------------------------------------------------------

function toggleMark(ciId) {
  if (!ciId || ciId.startsWith('class:')) return;
  if (state.marked.has(ciId)) state.marked.delete(ciId);
  else state.marked.add(ciId);
  renderMarks();
}

function renderMarks() {
  $('marked-list').replaceChildren(...(state.marked.size
    ? [...state.marked].map((id) => el('span', { class: 'chip', 'data-testid': 'marked-ci', 'data-ci-id': id }, nameOf(id)))
    : [el('span', { class: 'empty' }, 'none')]));
  reapplyMarks();
}

function reapplyMarks() {
  graph.clear('symptom');
  graph.mark([...state.marked], 'symptom');
}

function clearView() {
  graph.clear(...VIEW_CLASSES);
  reapplyMarks();
}

// --- impact -------------------------------------------------------------------------------

async function runImpact() {
  if (!state.marked.size) {
    status('Mark at least one CI first.', true);
    return;
  }
  const failed = [...state.marked];
  const { impact } = await call(MAP_IMPACT, { failed }, 'Running impact');
  clearView();
  const byId = new Map(impact.impacted.map((row) => [row.ci.id, row]));
  impact.impacted.forEach((row) => state.names.set(row.ci.id, row.ci.name));
  graph.mark(impact.impacted.filter((r) => r.state === 'DOWN').map((r) => r.ci.id), 'down');
  graph.mark(impact.impacted.filter((r) => r.state === 'DEGRADED').map((r) => r.ci.id), 'degraded');
  graph.mark(failed, 'failed');
  const outside = impact.impacted.filter((r) => !graph.has(r.ci.id)).length;
  const severity = impact.severity;
  const rows = impact.businessServices.map((service) => {
    const path = byId.get(service.ci.id)?.path ?? [];
    return el('tr', {
      class: 'clickable', 'data-testid': 'impacted-service', 'data-ci-id': service.ci.id, 'data-state': service.state,
      onclick: (event) => showPath(event.currentTarget, path.map((p) => p.id)),
    },
    el('td', {}, service.ci.name), el('td', { class: `state-${service.state}` }, service.state),
    el('td', { 'data-testid': 'service-criticality' }, service.criticality ?? '—'),
    el('td', { 'data-testid': 'service-sla' }, service.sla ? `${service.sla.id} (${percent(service.sla.availabilityTarget)})` : 'no SLA'),
    el('td', { class: 'path', 'data-testid': 'service-path' }, path.map((p) => p.name).join(' → ')));
  });
  $('impact-result').replaceChildren(
    el('div', { class: severity.level === 'NONE' ? 'ok' : 'severity', 'data-testid': 'impact-severity', 'data-level': severity.level },
      el('strong', {}, `Severity level: ${severity.level}`), el('br'), severity.reason,
      el('br'), `${severity.coreServicesDown} of ${severity.coreServicesTotal} core services down; recovery ${severity.expectedRecoveryHours ?? '?'} h (${severity.recoveryHoursFrom})`),
    el('p', { 'data-testid': 'impact-counts' }, `${impact.impacted.length} CIs impacted ` +
      `(${impact.impacted.filter((r) => r.state === 'DOWN').length} down, ${impact.impacted.filter((r) => r.state === 'DEGRADED').length} degraded)` +
      `${outside ? `, ${outside} of them outside the map` : ''}.`),
    el('h3', {}, `Impacted business services (${impact.businessServices.length})`),
    impact.businessServices.length
      ? table(['service', 'state', 'criticality', 'SLA', 'why (service → failed CI)'], rows, { 'data-testid': 'impacted-services' })
      : el('p', { 'data-testid': 'impacted-services', class: 'empty' }, 'No business service is impacted.'),
  );
}

function showPath(row, ids) {
  row.parentElement.querySelectorAll('tr.selected').forEach((r) => r.classList.remove('selected'));
  row.classList.add('selected');
  graph.clear('path');
  graph.markPath(ids);
}

// --- root cause ---------------------------------------------------------------------------

async function runRootCause() {
  if (!state.marked.size) {
    status('Mark the failing CIs first.', true);
    return;
  }
  const symptoms = [...state.marked];
  const { rootCause } = await call(MAP_ROOT_CAUSE, { symptoms, top: 5 }, 'Looking for the root cause');
  clearView();
  const top = rootCause[0];
  if (top && !graph.has(top.ci.id)) {
    // the cause lies beyond the map: draw its neighbourhood up to the symptoms instead
    await loadNeighbourhood(top.ci.id, { upstreamDepth: 4, downstreamDepth: 1 });
    clearView();
  }
  graph.mark(rootCause.map((c) => c.ci.id), 'candidate');
  if (top) {
    graph.mark([top.ci.id], 'root-top');
    graph.focus(top.ci.id);
  }
  const evidence = (c) => {
    const parts = [];
    const add = (label, items) => items.length && parts.push(`${label}: ${items.map((i) => `${i.id} ${i.title}`).join('; ')}`);
    add('open incidents', c.evidence.openIncidents);
    add('recent changes', c.evidence.recentChanges);
    add('open problems', c.evidence.openProblems);
    add('known errors', c.evidence.knownErrors);
    return parts.length ? parts.join(' · ') : 'no records';
  };
  const rows = rootCause.map((c, i) => el('tr', {
    'data-testid': 'root-cause-candidate', 'data-ci-id': c.ci.id, 'data-rank': i + 1, class: i === 0 ? 'top clickable' : 'clickable',
    onclick: () => { graph.focus(c.ci.id); select(c.ci.id); },
  }, el('td', {}, i + 1), el('td', {}, el('strong', {}, c.ci.name), el('br'), el('small', {}, `${c.ci.id} · ${c.ci.ciClass}`)),
  el('td', { 'data-testid': 'candidate-score' }, c.score.toFixed(1)),
  el('td', {}, `explains ${c.explained.length} of ${symptoms.length}`, c.causeSet ? el('div', {}, `with ${c.causeSet.map((x) => x.id).join(', ')}`) : null),
  el('td', { class: 'path' }, c.explanation, el('div', { 'data-testid': 'candidate-evidence' }, evidence(c)))));
  $('root-cause-result').replaceChildren(
    top ? el('p', { 'data-testid': 'root-cause-top' }, 'Most likely: ', el('strong', {}, top.ci.name), ` (score ${top.score.toFixed(1)})`)
      : el('p', { class: 'empty' }, 'No candidate explains these symptoms.'),
    table(['#', 'candidate', 'score', 'coverage', 'explanation and evidence'], rows, { 'data-testid': 'root-cause-candidates' }),
  );
}

// --- change -------------------------------------------------------------------------------

async function loadPickers() {
  const [{ changes }, { cis }] = await Promise.all([
    call(MAP_CHANGES, { first: 200 }, 'Reading changes'), call(MAP_SERVICES, {}, 'Reading business services'),
  ]);
  $('change-select').replaceChildren(...changes.edges.map(({ node }) => el('option', { value: node.id },
    `${node.id} · ${node.state} · ${node.title}`)));
  $('service-select').replaceChildren(...cis.edges.map(({ node }) => el('option', { value: node.id },
    `${node.name} (criticality ${node.criticality ?? '—'})`)));
  cis.edges.forEach(({ node }) => state.names.set(node.id, node.name));
}

async function runChangeImpact() {
  const changeId = $('change-select').value;
  if (!changeId) return;
  const { changeImpact: c } = await call(MAP_CHANGE_IMPACT, { changeId }, `Assessing ${changeId}`);
  const targets = c.targets.map((t) => t.id);
  if (targets.length && !targets.some((t) => graph.has(t))) {
    await loadNeighbourhood(targets[0]);
  }
  clearView();
  graph.mark(c.impacted.filter((r) => r.state === 'DOWN').map((r) => r.ci.id), 'down');
  graph.mark(c.impacted.filter((r) => r.state === 'DEGRADED').map((r) => r.ci.id), 'degraded');
  graph.mark(targets, 'target');
  const warnings = [];
  if (c.outsideMaintenanceWindow) {
    warnings.push(el('div', { class: 'warning', 'data-testid': 'change-warning', 'data-kind': 'maintenance-window' },
      `Outside the maintenance window${c.targetsWithoutMaintenanceWindow.length ? ` of ${c.targetsWithoutMaintenanceWindow.join(', ')}` : ''}.`));
  }
  if (c.inBlackout) {
    warnings.push(el('div', { class: 'warning', 'data-testid': 'change-warning', 'data-kind': 'blackout' },
      `In a blackout: ${c.blackouts.join(', ')}.`));
  }
  if (!warnings.length) warnings.push(el('div', { class: 'ok', 'data-testid': 'change-warning', 'data-kind': 'none' }, 'Inside its maintenance windows, no blackout.'));
  $('change-result').replaceChildren(
    el('h3', {}, `${c.change.id}: ${c.change.title}`),
    el('p', {}, `${c.change.type} change, ${c.change.state}; targets ${c.targets.map((t) => t.name).join(', ') || 'none'}`),
    el('p', { 'data-testid': 'change-window' }, c.window ? `Window ${when(c.window.start)} – ${when(c.window.end)} (${Math.round(c.window.minutes)} min)` : 'No planned window.'),
    el('div', { 'data-testid': 'change-warnings' }, warnings),
    el('p', { 'data-testid': 'change-risk', 'data-score': c.riskScore }, el('strong', {}, `Risk score ${c.riskScore.toFixed(1)}`)),
    table(['factor', 'weight', 'value', 'contribution', 'why'], c.riskFactors.map((f) => el('tr', { 'data-testid': 'risk-factor', 'data-name': f.name },
      el('td', {}, f.name), el('td', {}, f.weight), el('td', {}, f.value.toFixed(2)), el('td', {}, f.contribution.toFixed(1)), el('td', { class: 'path' }, f.reason)))),
    el('p', { 'data-testid': 'change-route', 'data-route': c.approvalRoute }, el('strong', {}, `Approval: ${c.approvalRoute}`), ` — ${c.approvalReason}`),
    el('h3', {}, `Business services at risk (${c.businessServices.length})`),
    el('ul', { class: 'plain', 'data-testid': 'change-services' }, c.businessServices.length
      ? c.businessServices.map((s) => el('li', { 'data-testid': 'change-service', 'data-ci-id': s.ci.id },
        `${s.ci.name}: `, el('span', { class: `state-${s.state}` }, s.state), ` (criticality ${s.criticality ?? '—'})`))
      : [el('li', { class: 'empty' }, 'none')]),
    el('h3', {}, `Conflicts with other changes (${c.conflicts.length})`),
    el('ul', { class: 'plain', 'data-testid': 'change-conflicts' }, c.conflicts.length
      ? c.conflicts.map((k) => el('li', { 'data-testid': 'change-conflict', 'data-change-id': k.change.id },
        el('strong', {}, `${k.change.id} ${k.change.title}`), `: overlap ${when(k.overlap.start)} – ${when(k.overlap.end)}; ${k.reason}` +
        ` (${k.sharedImpact.length} CIs shared${k.jointlyDown.length ? `, ${k.jointlyDown.length} down only together` : ''})`))
      : [el('li', { class: 'empty' }, 'none')]),
  );
}

// --- continuity ---------------------------------------------------------------------------

async function runContinuity() {
  const serviceId = $('service-select').value;
  if (!serviceId) return;
  const { continuity: c } = await call(MAP_CONTINUITY, { serviceId }, `Analysing the continuity of ${serviceId}`);
  if (state.centre !== serviceId) await loadNeighbourhood(serviceId, { upstreamDepth: 0, downstreamDepth: 6 });
  clearView();
  const spofs = c.singlePointsOfFailure.map((s) => s.id);
  graph.mark(c.minimalCutSets.flat().map((x) => x.id), 'cut');
  graph.mark(spofs, 'spof');
  const chain = (path) => path.map((p) => p.name).join(' → ');
  const availability = c.availability == null ? 'not estimated'
    : `${percent(c.availability, 4)} (${percent(c.availabilityLow, 4)} – ${percent(c.availabilityHigh, 4)}, ${c.availabilityMethod})`;
  $('continuity-result').replaceChildren(
    el('h3', {}, `${c.service.name}: ${c.dependenciesCount} CIs it needs`),
    el('div', { class: c.meetsSla === false ? 'severity' : 'ok', 'data-testid': 'continuity-availability',
      'data-meets-sla': String(c.meetsSla) },
    `Availability ${availability} against the SLA target ${percent(c.slaTarget, 4)}: ${c.slaVerdict}`),
    el('h3', {}, `Single points of failure (${spofs.length})`),
    el('ul', { class: 'plain', 'data-testid': 'continuity-spofs' }, spofs.length
      ? c.singlePointsOfFailure.map((s) => el('li', { 'data-testid': 'spof', 'data-ci-id': s.id }, `${s.name} (${s.ciClass})`))
      : [el('li', { class: 'empty' }, 'none')]),
    el('h3', {}, `Smallest cut sets (${c.minimalCutSets.length})`),
    el('ul', { class: 'plain', 'data-testid': 'continuity-cut-sets' }, c.minimalCutSets.length
      ? c.minimalCutSets.map((cut) => el('li', { 'data-testid': 'cut-set', 'data-ci-ids': cut.map((x) => x.id).join(' ') },
        cut.map((x) => x.name).join(' + ')))
      : [el('li', { class: 'empty' }, 'none')]),
    el('h3', {}, `RTO violations (${c.rtoViolations.length})`),
    el('ul', { class: 'plain', 'data-testid': 'continuity-rto' }, c.rtoViolations.length
      ? c.rtoViolations.map((v) => el('li', { 'data-testid': 'rto-violation', 'data-ci-id': v.ci.id },
        `${v.ci.name}: recovers in ${v.rtoMinutes} min, the service allows ${v.serviceRtoMinutes}`, el('div', { class: 'path' }, chain(v.path))))
      : [el('li', { class: 'empty' }, 'none')]),
    el('h3', {}, `RPO violations (${c.rpoViolations.length})`),
    el('ul', { class: 'plain', 'data-testid': 'continuity-rpo' }, c.rpoViolations.length
      ? c.rpoViolations.map((v) => el('li', { 'data-testid': 'rpo-violation', 'data-ci-id': v.ci.id },
        `${v.ci.name}: loses up to ${v.rpoMinutes} min of data, the service allows ${v.serviceRpoMinutes}`, el('div', { class: 'path' }, chain(v.path))))
      : [el('li', { class: 'empty' }, 'none')]),
  );
}

// --- wiring -------------------------------------------------------------------------------

function showView(view) {
  document.querySelectorAll('.tabs button').forEach((b) => b.classList.toggle('active', b.dataset.view === view));
  document.querySelectorAll('aside section[data-view]').forEach((s) => { s.hidden = s.dataset.view !== view; });
}

function legend() {
  const items = [
    ...Object.entries(LAYER_COLOURS).map(([layer, colour]) => el('span', {}, el('i', { style: `background:${colour}` }), layer.toLowerCase())),
    ...Object.entries(EDGE_COLOURS).map(([type, colour]) => el('span', {}, el('i', { class: 'line', style: `background:${colour}` }), type)),
    el('span', {}, '— hard, - - soft'),
    el('span', {}, el('i', { style: 'background:#d62828' }), 'down'),
    el('span', {}, el('i', { style: 'background:#f4a261' }), 'degraded'),
    el('span', {}, '⚠ open incidents, ✎ recent changes, k of n: group needs k members up'),
  ];
  $('legend').replaceChildren(...items);
}

const graph = new ImpactMapGraph(document.getElementById('map'), {
  onTap: (node, event) => {
    if (event?.shiftKey) toggleMark(node.id());
    else if (node.data('collapsed')) expandClass(node.data('ciClass'));
    else select(node.id());
  },
  onLayout: () => {
    document.body.dataset.layout = 'done';
    renderStats();
  },
});

function wire() {
  const input = $('search-input');
  input.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => runSearch(input.value).catch(() => {}), 150);
  });
  input.addEventListener('keydown', (event) => {
    const hits = searchResults();
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      activeHit = (activeHit + (event.key === 'ArrowDown' ? 1 : -1) + hits.length) % Math.max(hits.length, 1);
      hits.forEach((h, i) => h.classList.toggle('active', i === activeHit));
    } else if (event.key === 'Enter' && hits.length) {
      choose(hits[Math.max(activeHit, 0)].dataset.ciId);
    } else if (event.key === 'Escape') {
      $('search-results').hidden = true;
    }
  });
  for (const testid of ['upstream-depth', 'downstream-depth', 'node-limit', 'change-window-days']) {
    $(testid).addEventListener('change', () => state.centre && loadNeighbourhood(state.centre));
  }
  $('layout-select').addEventListener('change', () => {
    if (!state.neighbourhood) return;
    document.body.dataset.layout = 'running';
    graph.layout($('layout-select').value);
  });
  document.querySelectorAll('.tabs button').forEach((b) => b.addEventListener('click', () => showView(b.dataset.view)));
  $('mark-failed').addEventListener('click', () => toggleMark(state.selected));
  $('clear-marks').addEventListener('click', () => { state.marked.clear(); renderMarks(); clearView(); });
  $('run-impact').addEventListener('click', () => runImpact().catch(() => {}));
  $('run-root-cause').addEventListener('click', () => runRootCause().catch(() => {}));
  $('run-change-impact').addEventListener('click', () => runChangeImpact().catch(() => {}));
  $('run-continuity').addEventListener('click', () => runContinuity().catch(() => {}));
  $('forget-key').addEventListener('click', () => { state.api = null; askForKey('The key was forgotten; give one to go on.'); });
  $('key-dialog').querySelector('form').addEventListener('submit', (event) => {
    event.preventDefault();
    useKey($('api-key-input').value.trim());
  });
  $('key-dialog').addEventListener('cancel', (event) => event.preventDefault());
  legend();
  renderMarks();
  const kept = sessionStorage.getItem(KEY_STORAGE);
  if (kept) useKey(kept);
  else askForKey();
}

window.impactMap = { graph, state, loadNeighbourhood };
wire();
