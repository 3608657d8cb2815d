// mqttconn.js - one MQTT.js client (MQTT 5 over WebSocket) for the MQTT
// test client and the Shadows page.  The listener is the one the session
// names: ws:// on the broker's ws-port on a plain-HTTP console, wss:// on
// its wss-port on an HTTPS one.  The vendor module is loaded on demand,
// so a console built without it still serves every other page.

export async function loadMqtt() {
  try {
    return (await import('../vendor/mqtt.esm.js')).default;
  } catch (e) {
    throw new Error('MQTT.js is not installed with this console (vendor/mqtt.esm.js): run deploy/deps.sh and rebuild');
  }
}

export function brokerUrl(session) {
  const m = session.mqtt || {};
  const tls = location.protocol === 'https:';
  const port = tls ? m.wssPort : m.wsPort;
  if (!port) throw new Error(`this broker has no ${tls ? 'wss' : 'ws'} listener`);
  return `${tls ? 'wss' : 'ws'}://${location.hostname}:${port}${m.path || '/mqtt'}`;
}

export async function connect(session, options) {
  const mqtt = await loadMqtt();
  const url = brokerUrl(session);
  const client = mqtt.connect(url, {
    protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 8000, clean: true,
    // keep-alive timers in the page: the worker variant needs a blob:
    // worker, which the console's Content-Security-Policy refuses
    timerVariant: 'native',
    ...options,
  });
  await new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', (e) => { client.end(true); reject(new Error(`${url}: ${e.message}`)); });
    client.once('close', () => reject(new Error(`${url}: connection closed`)));
  });
  return client;
}
