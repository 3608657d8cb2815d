// api.js - calls to the admin API with the console session: the cookie
// goes by itself (same origin), the CSRF token goes in X-CSRF-Token on
// every call but GET.  A refusal throws an ApiError carrying the admin
// API's own error type and message, which the pages show as they are.

let csrfToken = '';

export class ApiError extends Error {
  constructor(status, type, message) {
    super(`${type}: ${message}`);
    this.status = status;
    this.type = type;
  }
}

export function setCsrf(token) {
  csrfToken = token || '';
}

export async function call(method, path, body, headers = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (method !== 'GET') h['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method, headers: h, credentials: 'same-origin',
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    throw new ApiError(0, 'NetworkError', `the admin API did not answer (${e.message})`);
  }
  const text = await res.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch (e) {
    throw new ApiError(res.status, 'BadAnswer', `not JSON (HTTP ${res.status})`);
  }
  if (!res.ok) {
    // the admin API's {error, message}; the shadow service's {code,
    // message}
    throw new ApiError(res.status, data.error || `${data.code || res.status}`,
      data.message || res.statusText);
  }
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);
