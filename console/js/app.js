// app.js - the console's shell: the login, the session (its CSRF token
// and the MQTT listener it names), the navigation between pages by the
// URL's hash, and log out.  Each page is a module with
// render(container, session, params) that may return a stop function
// (timers, connections), called when the page is left.

import { call, get, post, setCsrf, ApiError } from './api.js';
import { say } from './dom.js';
import * as cluster from './cluster.js';
import * as things from './things.js';
import * as shadows from './shadows.js';
import * as mqtt from './mqtt.js';
import * as rules from './rules.js';
import * as security from './security.js';

const pages = {
  cluster: { mod: cluster, title: 'Cluster' },
  things: { mod: things, title: 'Things' },
  shadows: { mod: shadows, title: 'Shadows' },
  mqtt: { mod: mqtt, title: 'MQTT test client' },
  rules: { mod: rules, title: 'Rules' },
  security: { mod: security, title: 'Security' },
};

let session = null;
let stopPage = null;

function $(id) {
  return document.getElementById(id);
}

function showLogin(message) {
  session = null;
  setCsrf('');
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
  $('page').replaceChildren();
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('login-token').focus();
}

function showApp() {
  $('login').hidden = true;
  $('nav').hidden = false;
  $('logout').hidden = false;
  $('who').textContent = session.user;
  route();
}

async function loadSession() {
  try {
    session = await get('/console/api/session');
    setCsrf(session.csrfToken);
    showApp();
  } catch (e) {
    showLogin(e.status === 401 ? '' : e.message);
  }
}

async function login(ev) {
  ev.preventDefault();
  const token = $('login-token').value;
  const id = $('login-key').value.trim();
  const secret = $('login-secret').value;
  const body = id ? { accessKeyId: id, secretAccessKey: secret } : { token };
  try {
    await post('/console/api/login', body);
    $('login-token').value = '';
    $('login-secret').value = '';
    await loadSession();
    say('Logged in.');
  } catch (e) {
    $('login-error').textContent = e.message;
  }
}

async function logout() {
  try {
    await post('/console/api/logout');
  } catch (e) {
    say(e.message, true);
  }
  leavePage();
  showLogin('Logged out.');
}

function leavePage() {
  if (stopPage) stopPage();
  stopPage = null;
}

// #/page/param...: the page and its parameters (URL-decoded).
async function route() {
  if (!session) return;
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const name = pages[parts[0]] ? parts[0] : 'cluster';
  const page = pages[name];
  leavePage();
  for (const a of $('nav').querySelectorAll('a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${page.title} - Strata console`;
  const container = $('page');
  container.replaceChildren();
  try {
    stopPage = (await page.mod.render(container, session, parts.slice(1))) || null;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) showLogin(e.message);
    else say(e.message, true);
  }
}

// A 401 in any page: the session is gone.
window.addEventListener('strata-unauthorized', (ev) => {
  leavePage(); // its timers stop: they would only meet 401 again
  showLogin(ev.detail);
});
window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  loadSession();
});

export { call };
