// cluster.js - the Cluster page: every node (ListNodes, GET /strata/nodes) with
// role, address, uptime, connections, message rates, partitions and link
// state, polled every 2 s.  Rates are the difference of the nodes'
// counters between two polls; the last 5 minutes of them are drawn as a
// small chart per node (in and out).  Rows and cells are updated in place, and every
// cell has a fixed width, so a live update moves nothing.

import { get } from './api.js';
import { h, say } from './dom.js';

const PERIOD_MS = 2000;
const HISTORY = 150; // 5 minutes of samples
const SVG = 'http://www.w3.org/2000/svg';

function uptime(s) {
  if (s === undefined) return '-';
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d}d ${hr}h` : hr > 0 ? `${hr}h ${m}m` : `${m}m ${s % 60}s`;
}

function chart(label) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${HISTORY} 30`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  for (const cls of ['in', 'out']) {
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('class', cls);
    svg.append(line);
  }
  return svg;
}

// history: [{in, out}] per sample; both lines on one scale.
function drawChart(svg, history, label) {
  const max = Math.max(1, ...history.map((s) => Math.max(s.in, s.out)));
  const pts = (k) => history.map((s, i) => `${i + HISTORY - history.length},${30 - (s[k] / max) * 28 - 1}`).join(' ');
  svg.children[0].setAttribute('points', pts('in'));
  svg.children[1].setAttribute('points', pts('out'));
  const last = history[history.length - 1];
  svg.setAttribute('aria-label', `${label}: ${history.length} samples, peak ${max.toFixed(1)}/s` +
    (last ? `, now ${last.in.toFixed(1)} in and ${last.out.toFixed(1)} out` : ''));
}

export async function render(container) {
  const rows = new Map(); // nodeId -> {tr, cells, history, last}
  const tbody = h('tbody', {});
  const updated = h('p', { className: 'muted' }, 'Loading...');
  const legend = h('p', { className: 'muted legend' }, 'Chart: ',
    h('span', { className: 'key-in' }, 'messages in'), ' and ',
    h('span', { className: 'key-out' }, 'out'), ' per second, last 5 minutes.');
  container.append(
    h('h1', {}, 'Cluster'),
    updated,
    h('div', { className: 'scroll' },
      h('table', { className: 'nodes' },
        h('caption', {}, 'Nodes, refreshed every 2 seconds'),
        h('thead', {}, h('tr', {},
          ['Node', 'Role', 'State', 'Address', 'Uptime', 'Connections',
            'Msg in/s', 'Msg out/s', 'Partitions', 'Links', 'Last 5 min']
            .map((c) => h('th', { scope: 'col' }, c)))),
        tbody)), legend);

  function row(n) {
    let r = rows.get(n.nodeId);
    if (r) return r;
    const cells = {};
    const names = ['role', 'state', 'address', 'uptime', 'connections', 'in', 'out', 'partitions', 'links'];
    const tr = h('tr', { 'data-node': n.nodeId }, h('th', { scope: 'row' }, n.nodeId));
    for (const k of names) {
      cells[k] = h('td', { className: `c-${k}` });
      tr.append(cells[k]);
    }
    cells.chart = chart(`${n.nodeId} messages per second`);
    tr.append(h('td', { className: 'c-chart' }, cells.chart));
    r = { tr, cells, history: [], last: null };
    rows.set(n.nodeId, r);
    tbody.append(tr);
    return r;
  }

  function update(n, now) {
    const r = row(n);
    const c = r.cells;
    let rin = null;
    let rout = null;
    if (r.last && n.publishesIn !== undefined) {
      const dt = (now - r.last.t) / 1000;
      rin = Math.max(0, (n.publishesIn - r.last.in) / dt);
      rout = Math.max(0, (n.publishesOut - r.last.out) / dt);
      r.history.push({ in: rin, out: rout });
      if (r.history.length > HISTORY) r.history.shift();
    }
    r.last = { t: now, in: n.publishesIn, out: n.publishesOut };
    c.role.textContent = n.role;
    c.state.textContent = n.alive ? 'up' : 'down';
    c.state.className = `c-state ${n.alive ? 'up' : 'down'}`;
    c.address.textContent = n.address || '-';
    c.uptime.textContent = uptime(n.uptimeSeconds);
    c.connections.textContent = n.connections ?? '-';
    c.in.textContent = rin === null ? '-' : rin.toFixed(1);
    c.out.textContent = rout === null ? '-' : rout.toFixed(1);
    c.partitions.textContent = n.role === 'router' ? n.partitions : '-';
    c.links.textContent = n.links === undefined ? '-' : `${n.links}/${n.linksExpected}`;
    c.links.className = `c-links ${n.links === n.linksExpected ? 'up' : 'down'}`;
    drawChart(c.chart, r.history, `${n.nodeId} messages per second`);
  }

  async function poll() {
    try {
      const { nodes } = await get('/strata/nodes');
      const now = Date.now();
      const seen = new Set();
      for (const n of nodes) {
        update(n, now);
        seen.add(n.nodeId);
      }
      for (const [id, r] of rows) {
        if (!seen.has(id)) {
          r.cells.state.textContent = 'gone';
          r.cells.state.className = 'c-state down';
        }
      }
      updated.textContent = `${nodes.length} nodes, updated ${new Date(now).toLocaleTimeString()}`;
    } catch (e) {
      if (e.status === 401) {
        window.dispatchEvent(new CustomEvent('strata-unauthorized', { detail: e.message }));
        return;
      }
      say(e.message, true);
    }
  }

  await poll();
  const timer = setInterval(poll, PERIOD_MS);
  return () => clearInterval(timer);
}
