// security.js - the Security page: certificates (ListCertificates) made
// ACTIVE, INACTIVE or REVOKED (UpdateCertificate; revoking asks first,
// since it cannot be undone), and IoT policies: listed, read (GetPolicy)
// and created (CreatePolicy) from a JSON document checked in the page
// before it is sent; the admin API's MalformedPolicyException is shown
// as it comes; and Device Defender's active violations and violation
// events (violations.js), refreshed in place.

import { get, post, call } from './api.js';
import { h, say, table, pretty } from './dom.js';
import * as violations from './violations.js';

async function setStatus(id, status, reload) {
  if (status === 'REVOKED' && !window.confirm(`Revoke certificate ${id.slice(0, 16)}...? A revoked certificate cannot be made ACTIVE again, and its connections are closed.`)) {
    return;
  }
  try {
    await call('PUT', `/certificates/${id}?newStatus=${status}`);
    say(`Certificate ${id.slice(0, 16)}... is now ${status}.`);
    await reload();
  } catch (e) {
    say(`Certificate ${id.slice(0, 16)}... not changed: ${e.message}`, true);
  }
}

async function certificates(section) {
  const body = h('div', {});
  async function load() {
    const { certificates: certs } = await get('/certificates');
    const rows = certs.map((c) => h('tr', { 'data-cert': c.certificateId },
      h('th', { scope: 'row' }, h('code', { title: c.certificateId }, `${c.certificateId.slice(0, 16)}...`)),
      h('td', { className: `cert-status ${c.status}` }, c.status),
      h('td', {}, new Date(c.creationDate * 1000).toLocaleString()),
      h('td', {}, ['ACTIVE', 'INACTIVE', 'REVOKED'].filter((s) => s !== c.status && c.status !== 'REVOKED').map((s) => h('button', {
        type: 'button', 'data-status': s,
        'aria-label': `${s === 'ACTIVE' ? 'Activate' : s === 'INACTIVE' ? 'Deactivate' : 'Revoke'} certificate ${c.certificateId.slice(0, 16)}`,
        onclick: () => setStatus(c.certificateId, s, load),
      }, s === 'ACTIVE' ? 'Activate' : s === 'INACTIVE' ? 'Deactivate' : 'Revoke')))));
    body.replaceChildren(rows.length ? table('Certificates', ['Certificate', 'Status', 'Created', 'Change'], rows) : h('p', {}, 'No certificate.'));
  }
  section.append(h('h2', {}, 'Certificates'), body);
  await load();
}

async function policies(section) {
  const list = h('ul', { id: 'policy-list' });
  const shown = h('pre', { id: 'policy-document', className: 'json', 'aria-live': 'polite' }, 'Choose a policy to read it.');
  const name = h('input', { id: 'policy-name', required: true, pattern: '[a-zA-Z0-9:_\\-]{1,128}' });
  const doc = h('textarea', { id: 'policy-doc', rows: 8, spellcheck: 'false', 'aria-describedby': 'policy-error' });
  const err = h('p', { id: 'policy-error', className: 'error', role: 'alert' });
  doc.value = pretty({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] });

  async function load() {
    const { policies: ps } = await get('/policies');
    list.replaceChildren(...ps.map((p) => h('li', {}, h('button', {
      type: 'button', className: 'link',
      onclick: async () => {
        try {
          const g = await get(`/policies/${encodeURIComponent(p.policyName)}`);
          shown.textContent = `${g.policyName}\n${pretty(JSON.parse(g.policyDocument))}`;
        } catch (e) {
          shown.textContent = e.message;
        }
      },
    }, p.policyName))));
  }

  async function create(ev) {
    ev.preventDefault();
    try {
      const parsed = JSON.parse(doc.value);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('a policy document is a JSON object');
    } catch (e) {
      err.textContent = `Not created: ${e.message}`;
      doc.setAttribute('aria-invalid', 'true');
      return;
    }
    doc.removeAttribute('aria-invalid');
    try {
      await post(`/policies/${encodeURIComponent(name.value)}`, { policyDocument: doc.value });
      err.textContent = '';
      say(`Policy ${name.value} created.`);
      await load();
    } catch (e) {
      err.textContent = `Not created: ${e.message}`;
    }
  }

  section.append(h('h2', {}, 'Policies'), list, shown,
    h('form', { className: 'panel', onsubmit: create, 'aria-label': 'Create a policy' },
      h('h3', {}, 'Create a policy'),
      h('label', { for: 'policy-name' }, 'Policy name'), name,
      h('label', { for: 'policy-doc' }, 'Policy document (JSON)'), doc, err,
      h('button', { type: 'submit' }, 'Create policy')));
  await load();
}

export async function render(container) {
  const certs = h('section', { 'aria-label': 'Certificates' });
  const pols = h('section', { 'aria-label': 'Policies' });
  const viols = h('section', { 'aria-label': 'Device Defender violations' });
  container.append(h('h1', {}, 'Security'), certs, pols, viols);
  await certificates(certs);
  await policies(pols);
  return violations.render(viols);
}
