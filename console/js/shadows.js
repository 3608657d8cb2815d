// shadows.js - the Shadows page: a thing's classic or named shadow read
// and written, the desired state edited as JSON (checked to be an
// object before it is sent), reported, desired and delta side by side,
// each update's accepted or rejected answer shown as the shadow service
// gave it.  Two ways to the shadow service:
//  - the admin API's GetThingShadow / UpdateThingShadow (GET, POST
//    /things/<thing>/shadow[?name=]), when the broker forwards them
//    (session.shadowApi, the broker option shadow-http-url): authorized
//    by the console user's admin policies; read again every 3 s;
//  - otherwise MQTT over WebSocket (the test client's connection) on AWS
//    IoT's shadow topics, decided by the WebSocket listener's rules.
// Strata keeps no version history of a shadow: only the current version
// is shown.

import { connect } from './mqttconn.js';
import { get, post } from './api.js';
import { h, say, pretty } from './dom.js';

const POLL_MS = 3000;

function prefix(thing, name) {
  return `$aws/things/${thing}/shadow${name ? `/name/${name}` : ''}`;
}

function pane(id, title) {
  return h('section', { className: 'pane', 'aria-labelledby': `${id}-h` },
    h('h2', { id: `${id}-h` }, title), h('pre', { id, className: 'json' }, '-'));
}

export async function render(container, session, params) {
  const thing = params[0] || '';
  const shadowName = params[1] || '';
  const form = h('form', { className: 'search', onsubmit: (ev) => {
    ev.preventDefault();
    const t = container.querySelector('#shadow-thing').value.trim();
    const n = container.querySelector('#shadow-name').value.trim();
    location.hash = `#/shadows/${encodeURIComponent(t)}${n ? `/${encodeURIComponent(n)}` : ''}`;
  } },
  h('label', { for: 'shadow-thing' }, 'Thing name'), h('input', { id: 'shadow-thing', value: thing, required: true }),
  h('label', { for: 'shadow-name' }, 'Shadow name (empty: classic)'), h('input', { id: 'shadow-name', value: shadowName }),
  h('button', { type: 'submit' }, 'Open'));
  container.append(h('h1', {}, 'Shadows'), form);
  if (!thing) return null;

  const version = h('p', { id: 'shadow-version' }, 'Reading...');
  const editor = h('textarea', { id: 'shadow-desired-edit', rows: 8, spellcheck: 'false', 'aria-describedby': 'shadow-edit-error' });
  const editError = h('p', { id: 'shadow-edit-error', className: 'error', role: 'alert' });

  function setText(id, text) {
    const el = container.querySelector(`#${id}`);
    if (el.textContent !== text) el.textContent = text; // no needless redraw
  }

  function show(doc) {
    const st = doc.state || {};
    setText('shadow-reported', pretty(st.reported ?? null));
    setText('shadow-desired', pretty(st.desired ?? null));
    setText('shadow-delta', pretty(st.delta ?? null));
    setText('shadow-version', `Version ${doc.version}${doc.timestamp ? `, ${new Date(doc.timestamp * 1000).toLocaleString()}` : ''}`);
  }

  // The desired state from the editor, or null (the reason shown).
  function desiredFromEditor() {
    let desired;
    try {
      desired = JSON.parse(editor.value);
      if (desired === null || typeof desired !== 'object' || Array.isArray(desired)) throw new Error('the desired state must be a JSON object');
    } catch (e) {
      editError.textContent = `Not saved: ${e.message}`;
      editor.setAttribute('aria-invalid', 'true');
      return null;
    }
    editor.removeAttribute('aria-invalid');
    editError.textContent = '';
    return desired;
  }

  function layout(save, via) {
    container.append(
      h('h2', {}, `${shadowName ? `Shadow ${shadowName}` : 'Classic shadow'} of `, h('a', { href: `#/things/${encodeURIComponent(thing)}` }, thing)),
      h('p', { className: 'muted', id: 'shadow-via' }, via),
      version,
      h('div', { className: 'panes' }, pane('shadow-reported', 'Reported'), pane('shadow-desired', 'Desired'), pane('shadow-delta', 'Delta')),
      h('form', { className: 'panel', onsubmit: save, 'aria-label': 'Edit the desired state' },
        h('label', { for: 'shadow-desired-edit' }, 'New desired state (JSON object; a null member removes it)'),
        editor, editError, h('button', { type: 'submit' }, 'Save desired state')));
    editor.value = '{\n  \n}';
  }

  if (session.shadowApi) return overHttp();
  return overMqtt();

  // ---- the admin API's shadow operations, as the console user ----
  async function overHttp() {
    const path = `/things/${encodeURIComponent(thing)}/shadow${shadowName ? `?name=${encodeURIComponent(shadowName)}` : ''}`;
    async function read() {
      try {
        show(await get(path));
      } catch (e) {
        if (e.status === 401) {
          window.dispatchEvent(new CustomEvent('strata-unauthorized', { detail: e.message }));
          return;
        }
        setText('shadow-version', e.status === 404 && e.type === '404' ? 'No shadow yet: save a desired state to create it.' : `Not read: ${e.message}`);
      }
    }
    async function save(ev) {
      ev.preventDefault();
      const desired = desiredFromEditor();
      if (desired === null) return;
      try {
        const doc = await post(path, { state: { desired } });
        say(`Desired state saved (version ${doc.version}).`);
        await read();
      } catch (e) {
        say(`Update rejected: ${e.message}`, true);
      }
    }
    layout(save, 'Read and written through the admin API as you (GetThingShadow, UpdateThingShadow).');
    await read();
    const timer = setInterval(read, POLL_MS);
    return () => clearInterval(timer);
  }

  // ---- MQTT over WebSocket ----
  async function overMqtt() {
    const base = prefix(thing, shadowName);
    const waiting = new Map(); // clientToken -> resolve
    const client = await connect(session, { clientId: `console-shadow-${Math.random().toString(16).slice(2, 10)}` });

    client.on('message', (topic, payload) => {
      let doc;
      try {
        doc = JSON.parse(new TextDecoder().decode(payload));
      } catch (e) {
        return;
      }
      const w = doc.clientToken && waiting.get(doc.clientToken);
      if (w) { waiting.delete(doc.clientToken); w(topic, doc); }
      if (topic === `${base}/get/accepted`) show(doc);
      else if (topic === `${base}/get/rejected`) {
        version.textContent = doc.code === 404 ? 'No shadow yet: save a desired state to create it.' : `${doc.code}: ${doc.message}`;
      } else if (topic === `${base}/update/accepted` || topic === `${base}/update/delta`) {
        client.publish(`${base}/get`, '');
      }
    });
    await client.subscribeAsync([`${base}/get/+`, `${base}/update/accepted`, `${base}/update/rejected`, `${base}/update/delta`], { qos: 1 });

    function request(topic, body) {
      const clientToken = `console-${Date.now()}-${Math.random().toString(16).slice(2, 8)}`;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { waiting.delete(clientToken); reject(new Error('the shadow service did not answer in 10 s')); }, 10000);
        waiting.set(clientToken, (t, doc) => { clearTimeout(timer); resolve({ topic: t, doc }); });
        client.publish(topic, JSON.stringify({ ...body, clientToken }), { qos: 1 });
      });
    }

    async function save(ev) {
      ev.preventDefault();
      const desired = desiredFromEditor();
      if (desired === null) return;
      try {
        const { topic, doc } = await request(`${base}/update`, { state: { desired } });
        if (topic.endsWith('/rejected')) say(`Update rejected: ${doc.code} ${doc.message}`, true);
        else say(`Desired state saved (version ${doc.version}).`);
      } catch (e) {
        say(e.message, true);
      }
    }

    layout(save, 'Read and written over MQTT (the WebSocket listener decides what this page may do).');
    client.publish(`${base}/get`, JSON.stringify({}));
    return () => client.end(true);
  }
}
