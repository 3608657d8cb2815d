// violations.js - the Security page's Device Defender part: the active
// violations (ListActiveViolations, GET /active-violations) and the
// violation events of a chosen time range (ListViolationEvents, GET
// /violation-events), of every thing or of one (thingName), both
// refreshed every 5 seconds while the
// "refresh" box is ticked.  Rows are kept by key and updated in place,
// each list lives in a box of fixed height with fixed column widths, so
// a refresh moves nothing on the page; a box scrolls, and takes the
// focus, by keyboard.  A refusal (say the admin policies do not allow
// iot:ListActiveViolations) is shown in the list's place with the admin
// API's words.

import { get } from './api.js';
import { h } from './dom.js';

const PERIOD_MS = 5000;
const PAGE = 250;        // maxResults of each call
const MOST = 5000;       // events read at most per refresh (20 calls)
const SHOWN = 100;       // events shown, newest first

const RANGES = [
  ['900', 'Last 15 minutes'], ['3600', 'Last hour'],
  ['86400', 'Last 24 hours'], ['604800', 'Last 7 days'],
];

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }) : '-';
}

// A metricValue as AWS shapes it: {count} or {cidrs: [...]}.
function value(v) {
  if (!v) return '-';
  if (v.count !== undefined) return String(v.count);
  if (v.cidrs) return v.cidrs.join(', ');
  return JSON.stringify(v);
}

function behaviorText(b) {
  return b ? `${b.name} (${b.metric || 'no metric'})` : '-';
}

// A table whose rows are kept by key: set(key, cells) makes or updates
// the row, prune(keys) drops the others in place, order(keys) puts them
// in that order (moving only rows that are out of place).
function keyedTable(id, caption, columns) {
  const tbody = h('tbody', {});
  const rows = new Map();
  const el = h('table', { id, className: 'violations' },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, columns.map(([c, cls]) => h('th', { scope: 'col', className: cls }, c)))),
    tbody);
  function set(key, cells) {
    let r = rows.get(key);
    if (!r) {
      r = h('tr', { 'data-key': key }, cells.map((_, i) => h(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row' } : {})));
      rows.set(key, r);
    }
    cells.forEach((c, i) => {
      const cell = r.children[i];
      const text = c instanceof Node ? c.textContent : String(c);
      if (cell.dataset.text === text) return;
      cell.dataset.text = text;
      cell.title = text;
      cell.replaceChildren(c instanceof Node ? c : document.createTextNode(text));
    });
  }
  function order(keys) {
    const wanted = new Set(keys);
    for (const [k, r] of rows) {
      if (!wanted.has(k)) {
        r.remove();
        rows.delete(k);
      }
    }
    let at = tbody.firstChild;
    for (const k of keys) {
      const r = rows.get(k);
      if (r === at) at = at.nextSibling;
      else tbody.insertBefore(r, at);
    }
  }
  return { el, set, order };
}

function box(label, table) {
  // a fixed-height scroll box: focusable so the keyboard can scroll it
  return h('div', { className: 'viol-box', tabindex: '0', role: 'region', 'aria-label': label }, table);
}

// The range's events come oldest first, a page at a time: every page is
// read (at most MOST events) and the newest SHOWN kept.
async function allEvents(range, only) {
  const end = Math.ceil(Date.now() / 1000);
  const start = end - Number(range);
  let newest = [];
  let count = 0;
  let token = null;
  do {
    const q = `startTime=${start}&endTime=${end}&maxResults=${PAGE}${only}${token ? `&nextToken=${encodeURIComponent(token)}` : ''}`;
    const r = await get(`/violation-events?${q}`);
    count += r.violationEvents.length;
    newest = newest.concat(r.violationEvents).slice(-SHOWN);
    token = r.nextToken;
  } while (token && count < MOST);
  return { newest: newest.reverse(), count, more: Boolean(token) };
}

export async function render(section) {
  const active = keyedTable('violations-active', 'Active violations', [
    ['Thing', 'v-thing'], ['Security profile', 'v-profile'], ['Behavior', 'v-behavior'],
    ['Current value', 'v-value'], ['In alarm since', 'v-time'], ['Last violation', 'v-time'],
    ['State', 'v-state']]);
  const events = keyedTable('violations-events', 'Violation events, newest first', [
    ['Time', 'v-time'], ['Event', 'v-state'], ['Thing', 'v-thing'],
    ['Security profile', 'v-profile'], ['Behavior', 'v-behavior'], ['Value', 'v-value']]);
  const activeNote = h('p', { id: 'violations-active-note', className: 'muted' });
  const eventsNote = h('p', { id: 'violations-events-note', className: 'muted' });
  const counts = h('span', { id: 'violations-count', 'aria-live': 'polite' }, 'Loading...');
  const updated = h('span', { id: 'violations-updated', className: 'muted' });
  const range = h('select', { id: 'violations-range' },
    RANGES.map(([v, label]) => h('option', { value: v, selected: v === '3600' }, label)));
  const auto = h('input', { id: 'violations-auto', type: 'checkbox', checked: true });
  const thing = h('input', { id: 'violations-thing', pattern: '[a-zA-Z0-9:_\\-]{1,128}', 'aria-describedby': 'violations-thing-help' });
  // the thing filter of both lists ('' or &thingName=...)
  const only = () => (thing.value.trim() && thing.checkValidity() ? `&thingName=${encodeURIComponent(thing.value.trim())}` : '');
  let busy = false;
  let gone = null; // a 401's message: the session is over

  async function loadActive() {
    try {
      const r = await get(`/active-violations?maxResults=${PAGE}${only()}`);
      const keys = [];
      for (const v of r.activeViolations) {
        keys.push(v.violationId);
        active.set(v.violationId, [
          h('a', { href: `#/things/${encodeURIComponent(v.thingName)}` }, v.thingName),
          v.securityProfileName, behaviorText(v.behavior), value(v.lastViolationValue),
          when(v.violationStartTime), when(v.lastViolationTime),
          v.behavior && v.behavior.suppressAlerts ? 'In alarm (alerts suppressed)' : 'In alarm']);
      }
      active.order(keys);
      activeNote.textContent = keys.length ? (r.nextToken ? `The first ${keys.length} are shown.` : '') : 'No active violation.';
      activeNote.className = 'muted';
      return keys.length;
    } catch (e) {
      if (e.status === 401) gone = e.message;
      active.order([]);
      activeNote.textContent = `Active violations not read: ${e.message}`;
      activeNote.className = 'error';
      return null;
    }
  }

  async function loadEvents() {
    try {
      const { newest, count, more } = await allEvents(range.value, only());
      const keys = [];
      for (const ev of newest) {
        const key = `${ev.violationId}/${ev.violationEventType}/${ev.violationEventTime}`;
        keys.push(key);
        events.set(key, [when(ev.violationEventTime), ev.violationEventType,
          h('a', { href: `#/things/${encodeURIComponent(ev.thingName)}` }, ev.thingName),
          ev.securityProfileName, behaviorText(ev.behavior), value(ev.metricValue)]);
      }
      events.order(keys);
      const label = range.selectedOptions[0].textContent.toLowerCase();
      eventsNote.textContent = count === 0 ? `No violation event in the ${label}.`
        : more ? `More than ${count} events in the ${label}: the newest ${SHOWN} of the first ${count} are shown; choose a shorter range for the latest.`
          : `${count} event${count === 1 ? '' : 's'} in the ${label}` + (count > SHOWN ? `; the newest ${SHOWN} are shown.` : '.');
      eventsNote.className = 'muted';
      return count;
    } catch (e) {
      if (e.status === 401) gone = e.message;
      events.order([]);
      eventsNote.textContent = `Violation events not read: ${e.message}`;
      eventsNote.className = 'error';
      return null;
    }
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const [a, n] = await Promise.all([loadActive(), loadEvents()]);
      if (gone) {
        // the session ended while the page was open: back to the login
        window.dispatchEvent(new CustomEvent('strata-unauthorized', { detail: gone }));
        return;
      }
      const many = (k, one, more) => (k === 1 ? `1 ${one}` : `${k ?? '?'} ${more}`);
      const text = `${many(a, 'active violation', 'active violations')}, ${many(n, 'event', 'events')} in range.`;
      if (counts.textContent !== text) counts.textContent = text;
      updated.textContent = ` Updated ${new Date().toLocaleTimeString()}.`;
    } finally {
      busy = false;
    }
  }

  section.append(h('h2', {}, 'Device Defender violations'),
    h('p', {}, counts, updated),
    h('form', {
      className: 'viol-controls', 'aria-label': 'Violation events',
      onsubmit: (ev) => { ev.preventDefault(); refresh(); },
    },
    h('div', {}, h('label', { for: 'violations-range' }, 'Events of'), range),
    h('div', {}, h('label', { for: 'violations-thing' }, 'Thing'), thing,
      h('span', { id: 'violations-thing-help', className: 'muted' }, ' empty: every thing')),
    h('label', { className: 'check', for: 'violations-auto' }, auto, 'Refresh every 5 seconds'),
    h('button', { type: 'submit' }, 'Refresh now')),
    h('h3', {}, 'Active'), box('Active violations', active.el), activeNote,
    h('h3', {}, 'Events'), box('Violation events', events.el), eventsNote);
  range.addEventListener('change', refresh);
  await refresh();
  const timer = setInterval(() => { if (auto.checked) refresh(); }, PERIOD_MS);
  return () => clearInterval(timer);
}
