// things.js - the Things page: search the fleet index (SearchIndex with
// its query language), a page of 25 at a time (nextToken; previous pages
// by the tokens seen), and a thing's page: DescribeThing, its groups,
// its certificates with their status, the policies attached to them,
// its connectivity and shadow as the index holds them.

import { get, post } from './api.js';
import { h, say, table, pretty } from './dom.js';

const PAGE = 25;

function thingLink(name) {
  return h('a', { href: `#/things/${encodeURIComponent(name)}` }, name);
}

async function renderSearch(container, query) {
  const input = h('input', { id: 'things-query', name: 'q', value: query, spellcheck: 'false' });
  const results = h('div', { id: 'things-results' });
  const tokens = [undefined]; // tokens[i]: the token of page i
  let page = 0;

  async function search() {
    results.replaceChildren(h('p', { className: 'muted' }, 'Searching...'));
    try {
      const body = { queryString: input.value, maxResults: PAGE };
      if (tokens[page]) body.nextToken = tokens[page];
      const r = await post('/indices/search', body);
      tokens[page + 1] = r.nextToken;
      const rows = (r.things || []).map((t) => h('tr', {},
        h('th', { scope: 'row' }, thingLink(t.thingName)),
        h('td', {}, t.thingTypeName || '-'),
        h('td', {}, Object.entries(t.attributes || {}).map(([k, v]) => `${k}=${v}`).join(', ') || '-'),
        h('td', {}, t.connectivity ? (t.connectivity.connected ? 'connected' : 'disconnected') : '-')));
      const prev = h('button', { type: 'button', disabled: page === 0, onclick: () => { page--; search(); } }, 'Previous page');
      const next = h('button', { type: 'button', disabled: !r.nextToken, onclick: () => { page++; search(); } }, 'Next page');
      results.replaceChildren(
        rows.length ? table(`Things matching ${input.value} (page ${page + 1})`,
          ['Thing', 'Type', 'Attributes', 'Connectivity'], rows)
          : h('p', {}, 'No thing matches.'),
        h('div', { className: 'pager' }, prev, next));
    } catch (e) {
      results.replaceChildren(h('p', { className: 'error', role: 'alert' }, e.message));
    }
  }

  const form = h('form', { className: 'search', role: 'search', onsubmit: (ev) => {
    ev.preventDefault();
    tokens.length = 1;
    page = 0;
    search();
  } },
  h('label', { for: 'things-query' }, 'Fleet index query'),
  input,
  h('button', { type: 'submit' }, 'Search'));
  container.append(h('h1', {}, 'Things'),
    h('p', { className: 'muted' }, 'Query language of the fleet index, for example thingName:sensor-* or attributes.floor:3 AND connectivity.connected:true'),
    form, results);
  await search();
}

async function section(title, load) {
  const body = h('div', {}, h('p', { className: 'muted' }, 'Loading...'));
  const s = h('section', { 'aria-label': title }, h('h2', {}, title), body);
  load().then((content) => body.replaceChildren(...[].concat(content)))
    .catch((e) => body.replaceChildren(h('p', { className: 'error' }, e.message)));
  return s;
}

async function certificateRows(principals) {
  return Promise.all(principals.map(async (arn) => {
    const id = arn.split('/').pop();
    let status = '-';
    let policies = '-';
    try {
      status = (await get(`/certificates/${id}`)).certificateDescription.status;
    } catch (e) {
      status = e.message;
    }
    try {
      const p = await post(`/attached-policies/${encodeURIComponent(arn)}`);
      policies = p.policies.map((x) => x.policyName).join(', ') || 'none';
    } catch (e) {
      policies = e.message;
    }
    return h('tr', {}, h('th', { scope: 'row' }, h('code', {}, id.slice(0, 16) + '...')),
      h('td', { className: `cert-status ${status}` }, status), h('td', {}, policies));
  }));
}

async function renderThing(container, name) {
  const thing = await get(`/things/${encodeURIComponent(name)}`);
  container.append(
    h('p', {}, h('a', { href: '#/things' }, 'All things')),
    h('h1', {}, `Thing ${thing.thingName}`),
    h('dl', { className: 'facts' },
      h('dt', {}, 'ARN'), h('dd', {}, thing.thingArn),
      h('dt', {}, 'Type'), h('dd', {}, thing.thingTypeName || '-'),
      h('dt', {}, 'Version'), h('dd', {}, thing.version),
      h('dt', {}, 'Attributes'), h('dd', {}, Object.entries(thing.attributes || {}).map(([k, v]) => `${k}=${v}`).join(', ') || 'none')),
    h('p', {}, h('a', { href: `#/shadows/${encodeURIComponent(name)}` }, 'Open its shadow')),
    await section('Groups', async () => {
      const g = await get(`/things/${encodeURIComponent(name)}/thing-groups`);
      return g.thingGroups.length ? h('ul', {}, g.thingGroups.map((x) => h('li', {}, x.groupName))) : h('p', {}, 'In no group.');
    }),
    await section('Certificates', async () => {
      const p = await get(`/things/${encodeURIComponent(name)}/principals`);
      if (!p.principals.length) return h('p', {}, 'No certificate attached.');
      return table('Certificates attached to the thing', ['Certificate', 'Status', 'Policies'], await certificateRows(p.principals));
    }),
    await section('Connectivity and shadow (fleet index)', async () => {
      const r = await post('/indices/search', { queryString: `thingName:${name}`, maxResults: 1 });
      const t = (r.things || [])[0];
      if (!t) return h('p', {}, 'Not in the fleet index (is indexing on?).');
      const c = t.connectivity;
      return [
        h('p', {}, c ? `${c.connected ? 'Connected' : 'Disconnected'} since ${new Date(c.timestamp).toLocaleString()}${c.disconnectReason ? ` (${c.disconnectReason})` : ''}` : 'Connectivity is not indexed.'),
        t.shadow ? h('pre', { className: 'json' }, pretty(JSON.parse(t.shadow))) : h('p', {}, 'No shadow in the index.'),
      ];
    }));
}

export async function render(container, session, params) {
  if (params[0]) {
    try {
      await renderThing(container, params[0]);
    } catch (e) {
      container.append(h('h1', {}, `Thing ${params[0]}`), h('p', { className: 'error', role: 'alert' }, e.message));
      say(e.message, true);
    }
    return null;
  }
  await renderSearch(container, 'thingName:*');
  return null;
}
