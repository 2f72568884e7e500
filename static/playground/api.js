// Calls to the playground's REST API with the login cookie and Django's CSRF token.
"use strict";
window.playgroundApi = (function () {
  function csrfToken() {
    const m = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  async function call(method, path, body) {
    const res = await fetch("/api" + path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({ detail: res.statusText }));
    if (!res.ok) {
      const err = new Error(data.detail || res.statusText);
      err.status = res.status;
      err.field = data.field;
      throw err;
    }
    return data;
  }
  return { call };
})();
