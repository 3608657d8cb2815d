#!/usr/bin/env node
// One MQTT.js client driven over stdin/stdout by the integration suite
// (tests/integration/mqttjs.py), for what Paho 1.6 cannot show: topic
// aliases the server sends, CONNACK's Response Information, Reason
// Strings of acks.
//
// Input: one JSON command per line, {"id": N, "op": ..., ...}:
//   connect     {host, port | url, clientId, clean, keepalive, properties,
//                protocolVersion, username, password, ca, cert, key,
//                wsHeaders}: url ws://... or wss://... is MQTT over
//                WebSocket; ca, cert and key are PEM file names (wss);
//                wsHeaders go into the WebSocket opening request
//   subscribe   {topic, qos, properties}
//   unsubscribe {topic}
//   publish     {topic, payload | payloadHex, qos, retain, properties}
//   end         {}
// Output: one JSON object per line: {"id": N, "ok": bool, ...} answers a
// command (connack, suback, unsuback, the acks a publish received,
// error), {"event": ...} reports what arrived meanwhile: "packet" (every
// packet as the server sent it, before MQTT.js resolves a topic alias),
// "message" (a PUBLISH as MQTT.js delivers it, topic resolved), "error",
// "close".  Buffers are written as {"$hex": "..."}; payloads as
// payloadHex.  Every command has its own deadline (10 s), and the agent
// exits when its input ends or after 120 s whatever happens.

'use strict'

const readline = require('readline')
const mqtt = require('mqtt')

const COMMAND_MS = 10000
const LIFETIME_MS = 120000

let client = null
let acks = []

// JSON.stringify replacer: a Buffer (already through its toJSON) as hex.
function hexBuffers (key, value) {
  if (value && value.type === 'Buffer' && Array.isArray(value.data)) {
    return { $hex: Buffer.from(value.data).toString('hex') }
  }
  return value
}

function write (obj) {
  process.stdout.write(JSON.stringify(obj, hexBuffers) + '\n')
}

// A packet as plain data, copied now (MQTT.js may change it later).
function plain (packet) {
  const out = {}
  for (const [k, v] of Object.entries(packet)) {
    if (k === 'payload') {
      out.payloadHex = Buffer.from(v || '').toString('hex')
    } else if (k !== 'length') {
      out[k] = v
    }
  }
  return JSON.parse(JSON.stringify(out, hexBuffers))
}

// {"$hex": "..."} values become Buffers again (correlationData).
function fromJson (value) {
  if (value && typeof value === 'object') {
    if (typeof value.$hex === 'string') {
      return Buffer.from(value.$hex, 'hex')
    }
    for (const k of Object.keys(value)) {
      value[k] = fromJson(value[k])
    }
  }
  return value
}

function errorOf (err) {
  return err ? { message: err.message, code: err.code } : null
}

// Answered by the CONNACK; a refused one (reason >= 0x80, which MQTT.js
// reports as an error) or a close before it is answered too.
// The options of a connection: plain MQTT by host and port, or a URL
// (ws://, wss://) with TLS files and headers of the opening request.
function connectOptions (cmd) {
  const fs = require('fs')
  const opts = {
    protocolVersion: cmd.protocolVersion || 5,
    clientId: cmd.clientId,
    clean: cmd.clean !== false,
    keepalive: cmd.keepalive || 30,
    reconnectPeriod: 0,
    connectTimeout: COMMAND_MS
  }
  if (opts.protocolVersion === 5) {
    opts.properties = fromJson(cmd.properties || {})
  }
  if (cmd.username !== undefined) opts.username = cmd.username
  if (cmd.password !== undefined) opts.password = cmd.password
  if (cmd.ca) opts.ca = fs.readFileSync(cmd.ca)
  if (cmd.cert) opts.cert = fs.readFileSync(cmd.cert)
  if (cmd.key) opts.key = fs.readFileSync(cmd.key)
  if (cmd.wsHeaders) opts.wsOptions = { headers: cmd.wsHeaders }
  if (cmd.url) return [cmd.url, opts]
  return [Object.assign(opts, { host: cmd.host, port: cmd.port, protocol: 'mqtt' })]
}

function connect (cmd, reply) {
  let connack = null
  client = mqtt.connect(...connectOptions(cmd))
  client.on('packetreceive', (packet) => {
    const p = plain(packet)
    if (['puback', 'pubrec', 'pubcomp'].includes(p.cmd)) {
      acks.push(p)
    } else if (p.cmd === 'connack') {
      connack = p
    }
    write({ event: 'packet', packet: p })
  })
  client.on('message', (topic, payload, packet) => {
    write({
      event: 'message',
      topic,
      payloadHex: payload.toString('hex'),
      qos: packet.qos,
      retain: packet.retain,
      properties: plain(packet).properties || {}
    })
  })
  client.on('error', (err) => {
    write({ event: 'error', error: errorOf(err) })
    reply({ error: errorOf(err), connack })
  })
  client.on('close', () => {
    write({ event: 'close' })
    reply({ error: { message: 'closed' }, connack })
  })
  client.once('connect', (packet) => reply({ connack: plain(packet) }))
}

function publish (cmd, reply) {
  const payload = cmd.payloadHex !== undefined
    ? Buffer.from(cmd.payloadHex, 'hex') : Buffer.from(cmd.payload || '')
  acks = []
  client.publish(cmd.topic, payload, {
    qos: cmd.qos || 0,
    retain: !!cmd.retain,
    properties: fromJson(cmd.properties || {})
  }, (err) => reply({ error: errorOf(err), acks }))
}

function run (cmd, reply) {
  switch (cmd.op) {
    case 'connect':
      return connect(cmd, reply)
    case 'subscribe':
      return client.subscribe(cmd.topic, {
        qos: cmd.qos || 0, properties: fromJson(cmd.properties || {})
      }, (err, granted, packet) => reply({
        error: errorOf(err), granted, suback: packet ? plain(packet) : null
      }))
    case 'unsubscribe':
      return client.unsubscribe(cmd.topic, {}, (err, packet) => reply({
        error: errorOf(err), unsuback: packet ? plain(packet) : null
      }))
    case 'publish':
      return publish(cmd, reply)
    case 'end':
      if (client === null) {
        return reply({})
      }
      return client.end(false, {}, () => reply({}))
    default:
      return reply({ error: { message: 'unknown op ' + cmd.op } })
  }
}

function handle (line) {
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (err) {
    write({ event: 'error', error: { message: 'bad command: ' + line } })
    return
  }
  let done = false
  const timer = setTimeout(() => {
    done = true
    write({ id: cmd.id, ok: false, error: { message: 'timeout' } })
  }, COMMAND_MS)
  const reply = (result) => {
    if (done) {
      return
    }
    done = true
    clearTimeout(timer)
    write(Object.assign({ id: cmd.id, ok: !result.error }, result))
    if (cmd.op === 'end') {
      process.exit(0)
    }
  }
  try {
    run(cmd, reply)
  } catch (err) {
    reply({ error: errorOf(err) })
  }
}

setTimeout(() => process.exit(3), LIFETIME_MS).unref()
readline.createInterface({ input: process.stdin }).on('line', handle)
  .on('close', () => process.exit(0))
