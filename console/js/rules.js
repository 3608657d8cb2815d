// rules.js - the Rules page: the topic rules (ListTopicRules, a page of
// 100 at a time), each one's SQL, actions and error action
// (GetTopicRule), and enable / disable (EnableTopicRule,
// DisableTopicRule), each confirmed in the status line or explained with
// the admin API's error, and its recent errors (ListTopicRuleErrors: the
// last 20 strata-rulesd recorded, at most one a second per instance).

import { get, post } from './api.js';
import { h, say, table, pretty } from './dom.js';

function toggleButton(name, disabled, after) {
  return h('button', {
    type: 'button',
    'data-rule': name,
    'aria-label': `${disabled ? 'Enable' : 'Disable'} rule ${name}`,
    onclick: async () => {
      try {
        await post(`/rules/${encodeURIComponent(name)}/${disabled ? 'enable' : 'disable'}`);
        say(`Rule ${name} ${disabled ? 'enabled' : 'disabled'}.`);
        await after();
      } catch (e) {
        say(`Rule ${name} not ${disabled ? 'enabled' : 'disabled'}: ${e.message}`, true);
      }
    },
  }, disabled ? 'Enable' : 'Disable');
}

async function renderList(container) {
  const list = h('div', { id: 'rules-list' });
  const next = [];
  async function load(token) {
    const r = await get(`/rules?maxResults=100${token ? `&nextToken=${encodeURIComponent(token)}` : ''}`);
    const rows = r.rules.map((x) => h('tr', { 'data-rule': x.ruleName },
      h('th', { scope: 'row' }, h('a', { href: `#/rules/${encodeURIComponent(x.ruleName)}` }, x.ruleName)),
      h('td', {}, h('code', {}, x.topicPattern)),
      h('td', { className: `rule-state ${x.ruleDisabled ? 'down' : 'up'}` }, x.ruleDisabled ? 'Disabled' : 'Enabled'),
      h('td', {}, new Date(x.createdAt * 1000).toLocaleString()),
      h('td', {}, toggleButton(x.ruleName, x.ruleDisabled, () => load(token)))));
    next.length = 0;
    if (r.nextToken) next.push(r.nextToken);
    list.replaceChildren(rows.length ? table('Topic rules', ['Rule', 'Topic', 'State', 'Created', 'Action'], rows)
      : h('p', {}, 'No topic rule.'),
    r.nextToken ? h('button', { type: 'button', onclick: () => load(next[0]) }, 'Next page') : '');
  }
  container.append(h('h1', {}, 'Rules'), list);
  await load();
}

async function renderRule(container, name) {
  const body = h('div', {});
  async function load() {
    const { rule, ruleArn } = await get(`/rules/${encodeURIComponent(name)}`);
    body.replaceChildren(
      h('dl', { className: 'facts' },
        h('dt', {}, 'ARN'), h('dd', {}, ruleArn),
        h('dt', {}, 'State'), h('dd', { id: 'rule-state', className: rule.ruleDisabled ? 'down' : 'up' }, rule.ruleDisabled ? 'Disabled' : 'Enabled'),
        h('dt', {}, 'Description'), h('dd', {}, rule.description || '-'),
        h('dt', {}, 'SQL version'), h('dd', {}, rule.awsIotSqlVersion)),
      toggleButton(name, rule.ruleDisabled, load),
      h('h2', {}, 'SQL'), h('pre', { className: 'json', id: 'rule-sql' }, rule.sql),
      h('h2', {}, 'Actions'), h('pre', { className: 'json' }, pretty(rule.actions)),
      h('h2', {}, 'Error action'), h('pre', { className: 'json' }, rule.errorAction ? pretty(rule.errorAction) : 'none'),
      h('h2', {}, 'Recent errors'), await errors());
  }
  async function errors() {
    try {
      const r = await get(`/strata/rules/${encodeURIComponent(name)}/errors`);
      if (!r.errors.length) return h('p', { id: 'rule-errors' }, 'No error recorded.');
      return h('div', { id: 'rule-errors' }, table('Last errors, newest first', ['Time', 'Node', 'Kind', 'Action', 'Topic', 'Message'],
        r.errors.map((e) => h('tr', {},
          h('td', {}, new Date(e.time).toLocaleString()), h('td', {}, e.node), h('td', {}, e.kind),
          h('td', {}, [e.action || '-', e.resource ? ` (${e.resource})` : '']), h('td', {}, h('code', {}, e.topic)),
          h('td', { className: 'wrap' }, e.message)))));
    } catch (e) {
      return h('p', { id: 'rule-errors', className: 'error' }, e.message);
    }
  }
  container.append(h('p', {}, h('a', { href: '#/rules' }, 'All rules')), h('h1', {}, `Rule ${name}`), body);
  try {
    await load();
  } catch (e) {
    body.replaceChildren(h('p', { className: 'error', role: 'alert' }, e.message));
  }
}

export async function render(container, session, params) {
  if (params[0]) await renderRule(container, params[0]);
  else await renderList(container);
  return null;
}
