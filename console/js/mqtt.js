// mqtt.js - the MQTT test client page: connect (client id, optional user
// name and password for a custom authorizer), subscribe to filters with
// a QoS, publish with QoS, retain and MQTT 5 properties (content type,
// response topic, correlation data, message expiry, user properties),
// and see every message arrive with its topic, QoS, retain flag,
// properties and time.  The log is capped at 200 messages.

import { connect } from './mqttconn.js';
import { h, say } from './dom.js';

const MAX_LOG = 200;

function field(id, label, attrs = {}) {
  return [h('label', { for: id }, label), h('input', { id, name: id, ...attrs })];
}

function qosSelect(id) {
  return h('select', { id, name: id }, [0, 1, 2].map((q) => h('option', { value: q }, `QoS ${q}`)));
}

function userProps(text) {
  const out = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const i = line.indexOf('=');
    if (i <= 0) throw new Error(`user property "${line}" is not name=value`);
    out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

export async function render(container, session) {
  let client = null;
  const log = h('ol', { id: 'mqtt-log', className: 'log', 'aria-live': 'polite', 'aria-label': 'Messages received' });
  const state = h('p', { id: 'mqtt-state' }, 'Not connected.');
  const subs = h('ul', { id: 'mqtt-subs' });
  const $ = (id) => container.querySelector(`#${id}`);

  function onMessage(topic, payload, packet) {
    const p = packet.properties || {};
    const props = Object.entries(p).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
    log.prepend(h('li', {},
      h('span', { className: 'time' }, new Date().toLocaleTimeString()), ' ',
      h('code', { className: 'topic' }, topic), ` QoS ${packet.qos}${packet.retain ? ' retained' : ''}`,
      props ? h('div', { className: 'props' }, props) : null,
      h('pre', { className: 'payload' }, new TextDecoder().decode(payload))));
    while (log.children.length > MAX_LOG) log.lastChild.remove();
  }

  async function doConnect(ev) {
    ev.preventDefault();
    if (client) client.end(true);
    const opts = { clientId: $('mqtt-client-id').value || undefined };
    if ($('mqtt-user').value) opts.username = $('mqtt-user').value;
    if ($('mqtt-pass').value) opts.password = $('mqtt-pass').value;
    try {
      client = await connect(session, opts);
      client.on('message', onMessage);
      client.on('close', () => { state.textContent = 'Disconnected.'; });
      state.textContent = `Connected as ${client.options.clientId}.`;
      say('Connected.');
    } catch (e) {
      client = null;
      state.textContent = 'Not connected.';
      say(`Connect failed: ${e.message}`, true);
    }
  }

  function subscribe(ev) {
    ev.preventDefault();
    const filter = $('mqtt-filter').value;
    if (!client) { say('Connect first.', true); return; }
    client.subscribe(filter, { qos: Number($('mqtt-sub-qos').value) }, (err, granted) => {
      const g = granted && granted[0];
      if (err || !g || g.qos >= 128) {
        say(`Subscribe to ${filter} refused: ${err ? err.message : `reason code 0x${(g ? g.qos : 128).toString(16)}`}`, true);
        return;
      }
      subs.append(h('li', {}, `${filter} (QoS ${g.qos})`));
      say(`Subscribed to ${filter}.`);
    });
  }

  function publish(ev) {
    ev.preventDefault();
    if (!client) { say('Connect first.', true); return; }
    const topic = $('mqtt-topic').value;
    const properties = {};
    try {
      if ($('mqtt-ctype').value) properties.contentType = $('mqtt-ctype').value;
      if ($('mqtt-resp').value) properties.responseTopic = $('mqtt-resp').value;
      if ($('mqtt-corr').value) properties.correlationData = new TextEncoder().encode($('mqtt-corr').value);
      if ($('mqtt-expiry').value) properties.messageExpiryInterval = Number($('mqtt-expiry').value);
      const up = userProps($('mqtt-uprops').value);
      if (Object.keys(up).length) properties.userProperties = up;
    } catch (e) {
      say(e.message, true);
      return;
    }
    client.publish(topic, $('mqtt-payload').value, {
      qos: Number($('mqtt-pub-qos').value), retain: $('mqtt-retain').checked, properties,
    }, (err) => say(err ? `Publish to ${topic} failed: ${err.message}` : `Published to ${topic}.`, !!err));
  }

  container.append(
    h('h1', {}, 'MQTT test client'),
    h('div', { className: 'mqtt-grid' },
    h('form', { className: 'panel', onsubmit: doConnect, 'aria-label': 'Connection' },
      h('h2', {}, 'Connection'),
      ...field('mqtt-client-id', 'Client id', { value: `console-${Math.random().toString(16).slice(2, 10)}` }),
      ...field('mqtt-user', 'User name (custom authorizer, optional)'),
      ...field('mqtt-pass', 'Password (optional)', { type: 'password' }),
      h('button', { type: 'submit' }, 'Connect'), state),
    h('form', { className: 'panel', onsubmit: subscribe, 'aria-label': 'Subscribe' },
      h('h2', {}, 'Subscribe'),
      ...field('mqtt-filter', 'Topic filter', { value: '#', required: true }),
      h('label', { for: 'mqtt-sub-qos' }, 'QoS'), qosSelect('mqtt-sub-qos'),
      h('button', { type: 'submit' }, 'Subscribe'), subs),
    h('form', { className: 'panel', onsubmit: publish, 'aria-label': 'Publish' },
      h('h2', {}, 'Publish'),
      ...field('mqtt-topic', 'Topic', { required: true, value: 'console/test' }),
      h('label', { for: 'mqtt-payload' }, 'Payload'), h('textarea', { id: 'mqtt-payload', rows: 3 }, '{"hello": "from the console"}'),
      h('label', { for: 'mqtt-pub-qos' }, 'QoS'), qosSelect('mqtt-pub-qos'),
      h('label', { className: 'check' }, h('input', { id: 'mqtt-retain', type: 'checkbox' }), ' Retain'),
      h('details', {}, h('summary', {}, 'MQTT 5 properties'),
        ...field('mqtt-ctype', 'Content type'),
        ...field('mqtt-resp', 'Response topic'),
        ...field('mqtt-corr', 'Correlation data'),
        ...field('mqtt-expiry', 'Message expiry (s)', { type: 'number', min: 0 }),
        h('label', { for: 'mqtt-uprops' }, 'User properties (name=value, one a line)'), h('textarea', { id: 'mqtt-uprops', rows: 2 })),
      h('button', { type: 'submit' }, 'Publish'))),
    h('section', { 'aria-label': 'Messages' }, h('h2', {}, 'Messages'), log));
  return () => { if (client) client.end(true); };
}
