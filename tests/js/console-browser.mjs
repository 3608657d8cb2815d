// console-browser.mjs - the web console driven in a real browser
// (Debian's chromium, headless, by puppeteer-core), for
// tests/integration/test_console.py, which starts the cluster, prepares
// the thing and the MQTT clients, and checks what arrives outside the
// browser.  Input: one JSON object in the environment variable
// CONSOLE_TEST: {url, token, thing, query, desired, topic, payload,
// filter, rule (to disable), revoke (a certificate id), policy and
// policyDocument (to create), violator and profile (a thing in Device
// Defender violation of that profile), shots (a directory), chromium
// (path), only ("login": the login and the cluster page alone),
// insecure (certificate errors ignored: an HTTPS console with the test
// CA), prefix (of the screenshots' names)}.  Output: one JSON line
// per step on stdout, {"step", ...what the page showed}, then
// {"step": "done", "errors": [console errors and CSP violations]}.  Any
// failure prints {"step": "failed", "error", "at"} and exits 1, with a
// screenshot failed.png.

import puppeteer from 'puppeteer-core';

const t = JSON.parse(process.env.CONSOLE_TEST);
const TIMEOUT = 30000;
const errors = [];
let at = 'start';

function report(step, data = {}) {
  process.stdout.write(`${JSON.stringify({ step, ...data })}\n`);
}

async function text(page, selector) {
  return page.$eval(selector, (el) => el.textContent);
}

async function waitText(page, selector, needle) {
  await page.waitForFunction((s, n) => {
    const el = document.querySelector(s);
    return el && el.textContent.includes(n);
  }, { timeout: TIMEOUT }, selector, needle);
}

// Every screenshot is also an accessibility check of the page: form
// controls without a label and buttons without a name are collected.
const unlabelled = [];

async function shot(page, name) {
  await page.screenshot({ path: `${t.shots}/${t.prefix || ''}${name}.png`, fullPage: true });
  const bad = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => el.offsetParent !== null)
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') &&
      !(el.tagName === 'BUTTON' && el.textContent.trim()))
    .map((el) => el.id || el.outerHTML.slice(0, 80)));
  for (const b of bad) unlabelled.push(`${name}: ${b}`);
}

async function login(page) {
  at = 'login';
  await page.goto(t.url, { waitUntil: 'networkidle0' });
  await page.waitForSelector('#login-token', { visible: true });
  // the keyboard: the token field has the focus, the skip link comes
  // before it
  const first = await page.evaluate(() => document.activeElement.id);
  await page.keyboard.down('Shift');
  await page.keyboard.press('Tab');
  await page.keyboard.up('Shift');
  const before = await page.evaluate(() => document.activeElement.textContent);
  await page.keyboard.press('Tab');
  report('keyboard', { first, before });
  await shot(page, 'login');
  await page.type('#login-token', 'not-the-token');
  await page.click('#login-form button[type=submit]');
  await waitText(page, '#login-error', 'UnauthorizedException');
  report('login-refused', { error: await text(page, '#login-error') });
  await page.$eval('#login-token', (el) => { el.value = ''; });
  await page.type('#login-token', t.token);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#nav', { visible: true });
  report('logged-in', { who: await text(page, '#who') });
}

async function cluster(page) {
  at = 'cluster';
  await page.waitForSelector('table.nodes tbody tr[data-node]');
  // two polls at least, so rates are shown
  await page.waitForFunction(() => [...document.querySelectorAll('td.c-in')]
    .some((td) => td.textContent !== '-' && td.textContent !== ''), { timeout: TIMEOUT });
  const nodes = await page.$$eval('table.nodes tbody tr[data-node]', (rows) => rows.map((r) => ({
    node: r.dataset.node,
    role: r.querySelector('.c-role').textContent,
    state: r.querySelector('.c-state').textContent,
    partitions: r.querySelector('.c-partitions').textContent,
    links: r.querySelector('.c-links').textContent,
    uptime: r.querySelector('.c-uptime').textContent,
  })));
  // a live update moves nothing: the table's box is the same after one
  const box1 = await page.$eval('table.nodes', (el) => JSON.stringify(el.getBoundingClientRect()));
  await new Promise((r) => setTimeout(r, 2500));
  const box2 = await page.$eval('table.nodes', (el) => JSON.stringify(el.getBoundingClientRect()));
  await shot(page, 'cluster');
  await page.setViewport({ width: 375, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  await shot(page, 'cluster-narrow');
  await page.setViewport({ width: 1280, height: 900 });
  report('cluster', { nodes, stable: box1 === box2, overflow });
}

async function things(page) {
  at = 'things';
  await page.goto(`${t.url}#/things`);
  await page.waitForSelector('#things-query');
  // a query the index refuses: the admin API's words are shown
  await page.$eval('#things-query', (el) => { el.value = ''; });
  await page.type('#things-query', 'thingName:(');
  await page.click('form.search button[type=submit]');
  await waitText(page, '#things-results', 'InvalidQueryException');
  const refused = await text(page, '#things-results');
  await page.$eval('#things-query', (el) => { el.value = ''; });
  await page.type('#things-query', t.query);
  await page.click('form.search button[type=submit]');
  await page.waitForSelector(`#things-results a[href="#/things/${t.thing}"]`, { timeout: TIMEOUT });
  const found = await page.$$eval('#things-results tbody th', (ths) => ths.map((th) => th.textContent));
  await shot(page, 'things');
  report('things-search', { found, refused });
  await page.click(`#things-results a[href="#/things/${t.thing}"]`);
  await waitText(page, '#page h1', `Thing ${t.thing}`);
  await page.waitForSelector('td.cert-status');
  const cert = await text(page, 'td.cert-status');
  await waitText(page, '#page', 'Connected since');
  await shot(page, 'thing');
  report('thing', { cert, page: await text(page, '#page') });
  // the same page on a narrow screen: nothing wider than it
  await page.setViewport({ width: 375, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  await shot(page, 'thing-narrow');
  await page.setViewport({ width: 1280, height: 900 });
  report('narrow', { overflow });
}

async function shadows(page) {
  at = 'shadows';
  await page.click(`a[href="#/shadows/${t.thing}"]`);
  await page.waitForSelector('#shadow-desired-edit');
  await page.waitForFunction(() => !document.querySelector('#shadow-version').textContent.startsWith('Reading'), { timeout: TIMEOUT });
  // a bad document is explained, not sent
  await page.$eval('#shadow-desired-edit', (el) => { el.value = ''; });
  await page.type('#shadow-desired-edit', '{"color": ');
  await page.click('form[aria-label="Edit the desired state"] button[type=submit]');
  await waitText(page, '#shadow-edit-error', 'Not saved');
  const invalid = await text(page, '#shadow-edit-error');
  await page.$eval('#shadow-desired-edit', (el) => { el.value = ''; });
  await page.type('#shadow-desired-edit', JSON.stringify(t.desired));
  await page.click('form[aria-label="Edit the desired state"] button[type=submit]');
  await waitText(page, '#status', 'Desired state saved');
  const key = Object.keys(t.desired)[0];
  await waitText(page, '#shadow-delta', key);
  await shot(page, 'shadow');
  report('shadow', {
    invalid,
    status: await text(page, '#status'),
    reported: await text(page, '#shadow-reported'),
    desired: await text(page, '#shadow-desired'),
    delta: await text(page, '#shadow-delta'),
    via: await text(page, '#shadow-via'),
  });
}

async function mqttClient(page) {
  at = 'mqtt';
  await page.goto(`${t.url}#/mqtt`);
  await page.waitForSelector('#mqtt-client-id');
  await page.click('form[aria-label="Connection"] button[type=submit]');
  await waitText(page, '#mqtt-state', 'Connected as');
  await page.$eval('#mqtt-filter', (el) => { el.value = ''; });
  await page.type('#mqtt-filter', t.filter);
  await page.select('#mqtt-sub-qos', '1');
  await page.click('form[aria-label="Subscribe"] button[type=submit]');
  await waitText(page, '#mqtt-subs', t.filter);
  await page.$eval('#mqtt-topic', (el) => { el.value = ''; });
  await page.type('#mqtt-topic', t.topic);
  await page.$eval('#mqtt-payload', (el) => { el.value = ''; });
  await page.type('#mqtt-payload', t.payload);
  await page.select('#mqtt-pub-qos', '1');
  await page.click('form[aria-label="Publish"] summary');
  await page.type('#mqtt-ctype', 'application/json');
  await page.type('#mqtt-uprops', 'origin=console');
  await page.click('form[aria-label="Publish"] button[type=submit]');
  await waitText(page, '#status', `Published to ${t.topic}`);
  await waitText(page, '#mqtt-log', t.payload);
  await shot(page, 'mqtt');
  report('mqtt', { log: await text(page, '#mqtt-log li') });
}

async function rules(page) {
  at = 'rules';
  await page.goto(`${t.url}#/rules`);
  await page.waitForSelector(`tr[data-rule="${t.rule}"]`);
  const before = await text(page, `tr[data-rule="${t.rule}"] .rule-state`);
  await page.click(`button[data-rule="${t.rule}"]`);
  await waitText(page, '#status', `Rule ${t.rule} disabled.`);
  await waitText(page, `tr[data-rule="${t.rule}"] .rule-state`, 'Disabled');
  await shot(page, 'rules');
  await page.click(`tr[data-rule="${t.rule}"] a`);
  await page.waitForSelector('#rule-sql');
  await page.waitForSelector('#rule-errors');
  await shot(page, 'rule');
  report('rules', {
    before, sql: await text(page, '#rule-sql'), state: await text(page, '#rule-state'),
    errors: await text(page, '#rule-errors'),
  });
}

async function security(page) {
  at = 'security';
  page.on('dialog', (d) => d.accept());
  await page.goto(`${t.url}#/security`);
  const row = `tr[data-cert="${t.revoke}"]`;
  await page.waitForSelector(row);
  await page.click(`${row} button[data-status="REVOKED"]`);
  await waitText(page, '#status', 'is now REVOKED');
  await waitText(page, `${row} .cert-status`, 'REVOKED');
  const revoked = await text(page, `${row} .cert-status`);
  // a policy: bad JSON stopped in the page, a bad policy by the admin API
  await page.type('#policy-name', t.policy);
  await page.$eval('#policy-doc', (el) => { el.value = '{"Version": '; });
  await page.click('form[aria-label="Create a policy"] button[type=submit]');
  await waitText(page, '#policy-error', 'Not created');
  const badJson = await text(page, '#policy-error');
  await page.$eval('#policy-doc', (el) => {
    el.value = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Maybe', Action: 'iot:*', Resource: '*' }] });
  });
  await page.click('form[aria-label="Create a policy"] button[type=submit]');
  await waitText(page, '#policy-error', 'MalformedPolicyException');
  const malformed = await text(page, '#policy-error');
  await page.$eval('#policy-doc', (el, d) => { el.value = d; }, JSON.stringify(t.policyDocument));
  await page.click('form[aria-label="Create a policy"] button[type=submit]');
  await waitText(page, '#status', `Policy ${t.policy} created.`);
  await page.waitForFunction((n) => [...document.querySelectorAll('#policy-list button')].some((b) => b.textContent === n), {}, t.policy);
  const buttons = await page.$$('#policy-list button');
  for (const b of buttons) {
    if (await b.evaluate((el) => el.textContent) === t.policy) await b.click();
  }
  await waitText(page, '#policy-document', t.policy);
  await shot(page, 'security');
  report('security', { revoked, badJson, malformed, policy: await text(page, '#policy-document') });
}

// The violation of t.violator: its active row and its in-alarm event;
// a refresh moves nothing; the controls and the lists by keyboard.
async function violations(page) {
  at = 'violations';
  const row = (table) => `#${table} tbody tr`;
  await page.waitForFunction((s, n) => [...document.querySelectorAll(s)].some((r) => r.textContent.includes(n)),
    { timeout: TIMEOUT }, row('violations-active'), t.violator);
  await page.waitForFunction((s, n) => [...document.querySelectorAll(s)].some((r) => r.textContent.includes(n)),
    { timeout: TIMEOUT }, row('violations-events'), t.violator);
  const cells = (table) => page.$$eval(row(table), (rows, n) => [...rows
    .find((r) => r.textContent.includes(n)).children].map((c) => c.textContent), t.violator);
  const active = await cells('violations-active');
  const event = await cells('violations-events');
  // a refresh (the button) moves neither the lists nor what follows them
  const boxes = () => page.$$eval('.viol-box, #violations-events-note', (els) => els.map((e) => {
    const r = e.getBoundingClientRect(); // in the document, whatever the scroll
    return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height].join();
  }).join(' '));
  const before = await boxes();
  const stamp = await text(page, '#violations-updated');
  await new Promise((r) => setTimeout(r, 1100));
  await page.click('form[aria-label="Violation events"] button[type=submit]');
  await page.waitForFunction((s) => document.querySelector('#violations-updated').textContent !== s, { timeout: TIMEOUT }, stamp);
  const after = await boxes();
  const stable = before === after;
  // the keyboard: from the range, Tab reaches the thing filter, the
  // refresh box, the button, the active list's box and the thing in it
  await page.focus('#violations-range');
  const keyboard = [];
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press('Tab');
    keyboard.push(await page.evaluate(() => {
      const a = document.activeElement;
      return a.id || a.getAttribute('aria-label') || a.textContent.trim();
    }));
  }
  // one thing only: another thing's name empties both lists, the
  // violator's brings its rows back
  const refreshed = async () => {
    const s = await text(page, '#violations-updated');
    await new Promise((r) => setTimeout(r, 1100));
    await page.click('form[aria-label="Violation events"] button[type=submit]');
    await page.waitForFunction((x) => document.querySelector('#violations-updated').textContent !== x, { timeout: TIMEOUT }, s);
  };
  await page.type('#violations-thing', 'no-such-thing');
  await refreshed();
  const filteredOut = await page.$$eval('#violations-active tbody tr, #violations-events tbody tr', (r) => r.length);
  const emptyNote = await text(page, '#violations-active-note');
  await page.$eval('#violations-thing', (el) => { el.value = ''; });
  await page.type('#violations-thing', t.violator);
  await refreshed();
  const filteredIn = await page.$$eval('#violations-active tbody tr', (rows) => rows.map((r) => r.firstChild.textContent));
  await page.$eval('#violations-active', (el) => el.closest('section').scrollIntoView());
  await shot(page, 'violations');
  await page.setViewport({ width: 375, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  await shot(page, 'violations-narrow');
  await page.setViewport({ width: 1280, height: 900 });
  report('violations', { active, event, stable, before, after, keyboard, overflow, filteredOut, emptyNote, filteredIn });
}

async function logout(page) {
  at = 'logout';
  await page.click('#logout');
  await page.waitForSelector('#login-token', { visible: true });
  // the old session is gone on the server: a reload asks to log in
  await page.reload({ waitUntil: 'networkidle0' });
  await page.waitForSelector('#login-token', { visible: true });
  report('logged-out');
}

const browser = await puppeteer.launch({
  executablePath: t.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu']
    .concat(t.insecure ? ['--ignore-certificate-errors'] : []),
});
let page;
try {
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  await login(page);
  await cluster(page);
  if (t.only !== 'login') {
    await things(page);
    await shadows(page);
    await mqttClient(page);
    await rules(page);
    await security(page);
    await violations(page);
  }
  await logout(page);
  report('done', { errors, unlabelled });
} catch (e) {
  if (page) await shot(page, 'failed').catch(() => {});
  report('failed', { error: String(e && e.stack || e), at, errors });
  process.exitCode = 1;
} finally {
  await browser.close();
}
