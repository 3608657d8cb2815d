// dom.js - building elements without innerHTML: every text from the
// admin API or a device goes in as text, never as markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'className') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const statusEl = () => document.getElementById('status');

// A message in the status line: ok (an action done) or an error (the
// admin API's words).
export function say(text, isError = false) {
  const s = statusEl();
  s.textContent = text;
  s.className = isError ? 'status error' : 'status ok';
}

export function table(caption, columns, rows) {
  return h('div', { className: 'scroll' },
    h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows)));
}

export function pretty(v) {
  return JSON.stringify(v, null, 2);
}
