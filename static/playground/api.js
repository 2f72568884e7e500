// Calls to the playground's REST API with the login cookie and Django's CSRF token.
// `call` takes a path under /api; `callUrl` a whole URL (pages that are given their API URLs,
// such as a shared link's read-only views). Errors carry status, field and errors[] from the
// playground's JSON errors ({detail, field, errors}).

export function csrfToken() {
  const m = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : "";
}

export async function callUrl(method, url, body) {
  let res;
  try {
    res = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    const e = new Error("The playground did not answer (network error).");
    e.status = 0;
    throw e;
  }
  const data = res.status === 204 ? {} : await res.json().catch(() => ({ detail: res.statusText }));
  if (!res.ok) {
    const err = new Error((data && data.detail) || res.statusText || `HTTP ${res.status}`);
    err.status = res.status;
    err.field = data ? data.field : null;
    err.errors = (data && data.errors) || [];
    throw err;
  }
  return data;
}

export function call(method, path, body) {
  return callUrl(method, "/api" + path, body);
}

// An error's words with the field it is about in front ("name: is required"), unless the
// message already starts with it.
export function errorWords(err) {
  const message = err.message || "failed";
  return err.field && !message.startsWith(err.field) ? `${err.field}: ${message}` : message;
}

// "field: words (HTTP 422)" for people.
export function describe(err) {
  return `${errorWords(err)}${err.status ? ` (HTTP ${err.status})` : ""}`;
}
