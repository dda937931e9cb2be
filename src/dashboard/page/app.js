// The dashboard page: one EventSource to /api/stream, the DOM built once per replica and updated
// in place (so a button under the pointer is never replaced mid-click). No framework: the page
// is a few tables and a list.
'use strict';

const COLUMNS = [
  ['term', 'term'], ['leader', 'leader'], ['vote', 'voted for'], ['lastIndex', 'last'], ['commitIndex', 'commit'],
  ['appliedIndex', 'applied'], ['snapshotIndex', 'snapshot'], ['match', 'match'],
];
const TIMELINE_SHOWN = 300;
/** The log strip shows the newest this many entries of the partition. */
const LOG_WINDOW = 40;
const rows = new Map();
const shownEvents = new Set();
let controls = { enabled: false, why: '', links: { enabled: false, why: '' } };
const ACTIONS = ['kill', 'pause', 'resume', 'restart', 'cut', 'heal'];
const LABELS = { kill: 'kill -9' };
const TITLES = {
  kill: 'kill -9 the process (ecom up restarts it unless --restart no)', pause: 'SIGSTOP: frozen, it neither answers nor sends',
  resume: 'SIGCONT', restart: 'stop the process and start it again', cut: 'drop every Raft message to and from its peers (the process runs on)',
  heal: 'let its Raft messages pass again',
};

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
};

function partitionCard(partition) {
  const head = el('tr', {}, el('th', { textContent: 'replica' }), el('th', { className: 'role', textContent: 'role' }),
    el('th', { className: 'log', textContent: `log (last ${LOG_WINDOW})` }), ...COLUMNS.map(([, label]) => el('th', { textContent: label })), el('th', { textContent: 'process' }));
  if (controls.enabled) head.append(el('th', { className: 'actions', textContent: '' }));
  const body = el('tbody');
  const card = el('article', { className: 'partition' }, el('h2'), el('table', {}, el('thead', {}, head), body));
  card.dataset.partition = String(partition.partition);
  for (const replica of partition.replicas) body.append(replicaRow(replica));
  return card;
}

function replicaRow(replica) {
  const cells = { id: el('td', { textContent: String(replica.id) }), role: el('td', { className: 'role' }, el('span')), log: el('td', { className: 'log' }, el('div')), process: el('td', { className: 'process' }) };
  const row = el('tr', {}, cells.id, cells.role, cells.log);
  for (const [key] of COLUMNS) row.append((cells[key] = el('td')));
  row.append(cells.process);
  row.dataset.replica = String(replica.id);
  row.title = replica.address;
  if (controls.enabled) {
    const actions = el('td', { className: 'actions' });
    for (const action of ACTIONS) {
      const links = action === 'cut' || action === 'heal';
      const title = links && !controls.links.enabled ? controls.links.why : TITLES[action];
      const button = el('button', { type: 'button', textContent: LABELS[action] ?? action, title });
      button.dataset.action = action;
      button.addEventListener('click', () => control(replica.id, action));
      actions.append(button);
    }
    cells.buttons = actions;
    row.append(actions);
  }
  rows.set(replica.id, { row, cells });
  return row;
}

function showPartition(card, partition) {
  card.dataset.leader = String(partition.leader);
  card.dataset.term = String(partition.term);
  const down = partition.replicas.filter((r) => r.down !== undefined).length;
  card.querySelector('h2').textContent = `Partition ${partition.partition} · ${partition.leader === 0 ? 'no leader' : `leader ${partition.leader}`} · term ${partition.term}${down > 0 ? ` · ${down} down` : ''}`;
  const leaderLast = partition.replicas.find((r) => r.id === partition.leader)?.lastIndex ?? 0;
  const newest = Math.max(0, ...partition.replicas.map((r) => r.lastIndex ?? 0));
  for (const replica of partition.replicas) {
    showReplica(rows.get(replica.id), replica, leaderLast);
    showLog(rows.get(replica.id).cells.log.firstChild, replica, newest);
  }
}

function showReplica({ row, cells }, replica, leaderLast) {
  const role = replica.down === undefined ? replica.role : 'down';
  row.dataset.role = role;
  row.dataset.paused = String(replica.process?.paused === true);
  row.dataset.cut = String(replica.process?.cut === true);
  cells.role.firstChild.textContent = replica.process?.paused ? 'paused' : role;
  cells.role.title = replica.down ?? replica.lastStepDown ?? '';
  for (const [key] of COLUMNS) cells[key].textContent = replica[key] === undefined ? '–' : String(replica[key]);
  if (replica.match !== undefined && leaderLast > 0) {
    const behind = leaderLast - replica.match;
    cells.match.title = replica.replication ? `${replica.replication}; ${behind} behind the leader's log` : '';
    cells.match.textContent = `${replica.match}${behind > 0 ? ` (−${behind})` : ''}`;
  }
  const p = replica.process;
  cells.process.textContent = p === undefined ? '' : `${p.running ? `pid ${p.pid}` : 'not running'}${p.cut ? ' · cut off' : ''}`;
  cells.process.title = p?.cut ? 'cut off: its Raft messages to and from every peer are dropped until healed' : '';
  if (cells.buttons && p) {
    // Only what can be done now: a paused process can only be resumed (or restarted), a dead one only restarted.
    const links = controls.links.enabled;
    const can = { kill: p.running, pause: p.running && !p.paused, resume: p.paused, restart: true, cut: links && !p.cut, heal: links && p.cut === true };
    for (const button of cells.buttons.children) button.disabled = !can[button.dataset.action];
  }
}

/** A strip of the partition's newest entries: applied (dark), committed (mid), only appended (light), compacted (hatched). */
function showLog(strip, replica, newest) {
  if (replica.lastIndex === undefined) {
    strip.style.background = 'none';
    strip.title = '';
    return;
  }
  const first = Math.max(0, newest - LOG_WINDOW);
  const at = (index) => `${(100 * Math.max(0, Math.min(LOG_WINDOW, index - first))) / LOG_WINDOW}%`;
  const [s, a, c, l] = [replica.snapshotIndex, replica.appliedIndex, replica.commitIndex, replica.lastIndex].map(at);
  strip.style.background = `linear-gradient(to right, var(--compacted) 0 ${s}, var(--applied) ${s} ${a}, var(--committed) ${a} ${c}, var(--appended) ${c} ${l}, transparent ${l})`;
  strip.title = `entries ${first + 1}–${newest} of the partition: applied to ${replica.appliedIndex}, committed to ${replica.commitIndex}, appended to ${replica.lastIndex}, compacted to ${replica.snapshotIndex}`;
}

function showView(view) {
  const host = document.getElementById('partitions');
  if (host.childElementCount !== view.partitions.length) {
    rows.clear();
    host.replaceChildren(...view.partitions.map(partitionCard));
  }
  view.partitions.forEach((partition, i) => showPartition(host.children[i], partition));
}

const figure = (value, digits) => (value === undefined ? '–' : value.toFixed(digits));

function showPortals(portals) {
  const section = document.getElementById('portals');
  if (portals === undefined) return;
  section.hidden = false;
  document.getElementById('portals-note').textContent = portals.problem
    ? `scrape failed (${portals.problem}); showing the last figures`
    : `over the last ${portals.window_s.toFixed(1)} s, from the portals' /metrics; latency from histogram buckets`;
  const rows = portals.rows.map((r) => {
    const errors = Object.entries(r.errors).map(([code, n]) => `${code} ×${n}`).join(', ');
    const row = el('tr', {}, el('td', { textContent: r.process }), el('td', { textContent: r.method }), el('td', { textContent: figure(r.rps, 1) }),
      el('td', { textContent: figure(r.p50_ms, 2) }), el('td', { textContent: figure(r.p99_ms, 2) }), el('td', { textContent: errors }));
    row.dataset.method = r.method;
    return row;
  });
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { colSpan: 6, textContent: 'no calls in the window: try "ecom admin" or "ecom order"' })));
  document.getElementById('portal-rows').replaceChildren(...rows);
}

function showEvents(events) {
  const list = document.getElementById('timeline');
  for (const event of events) {
    if (shownEvents.has(event.seq)) continue;
    shownEvents.add(event.seq);
    const time = new Date(event.at).toLocaleTimeString(undefined, { hour12: false }) + `.${String(event.at % 1000).padStart(3, '0')}`;
    const item = el('li', {}, el('time', { textContent: time }), event.text);
    item.dataset.kind = event.kind;
    list.prepend(item);
  }
  while (list.childElementCount > TIMELINE_SHOWN) list.lastElementChild.remove();
}

async function control(id, action) {
  const response = await fetch(`/api/replicas/${id}/${action}`, { method: 'POST' });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) showEvents([{ seq: `refused-${Date.now()}`, at: Date.now(), kind: 'down', text: `refused: ${body.error}` }]);
  else showEvents([body.event]);
}

function connect() {
  const status = document.getElementById('connection');
  const stream = new EventSource('/api/stream');
  stream.addEventListener('state', (message) => {
    const state = JSON.parse(message.data);
    controls = state.controls;
    document.getElementById('controls-note').textContent = controls.enabled
      ? `Try it: press kill -9 or cut on a leader (green) and watch its partition elect another, in the table and the timeline; heal lets the old leader rejoin as a follower. ${controls.why}${controls.links.enabled ? '' : ` No cut and heal: ${controls.links.why}.`}`
      : controls.why;
    document.getElementById('partitions').replaceChildren();
    if (state.view) showView(state.view);
    if (state.portals) showPortals(state.portals);
    showEvents(state.events);
  });
  stream.addEventListener('update', (message) => {
    const update = JSON.parse(message.data);
    showView(update.view);
    showPortals(update.portals);
    showEvents(update.events);
    status.dataset.state = 'live';
    status.textContent = `live · ${new Date(update.view.at).toLocaleTimeString(undefined, { hour12: false })}`;
  });
  stream.addEventListener('error', () => {
    status.dataset.state = 'lost';
    status.textContent = 'connection lost: is ecom still running? retrying…';
  });
}

connect();
