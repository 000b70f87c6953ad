// The API, called with the agency's key in a header (never in a URL, where logs would keep it).

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export class Api {
  constructor(key, { onUnauthorized } = {}) {
    this.key = key;
    this.onUnauthorized = onUnauthorized || (() => {});
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.key}`, ...extra };
  }

  url(path, params) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params || {})) {
      if (value === null || value === undefined) continue;
      for (const item of Array.isArray(value) ? value : [value]) query.append(name, String(item));
    }
    const text = query.toString();
    return text ? `${path}?${text}` : path;
  }

  async request(method, path, { params, body, accept = 'application/json', signal } = {}) {
    const init = { method, headers: this.headers({ Accept: accept }), signal, cache: 'no-store' };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    const response = await fetch(this.url(path, params), init);
    if (!response.ok) {
      let problem = null;
      try { problem = await response.json(); } catch { /* not JSON */ }
      if (response.status === 401) this.onUnauthorized();
      throw new ApiError(response.status, problem);
    }
    return response.status === 204 ? null : response.json();
  }

  get(path, params, options = {}) {
    return this.request('GET', path, { params, ...options });
  }

  post(path, body) {
    return this.request('POST', path, { body });
  }

  /**
   * Server-sent events read with fetch (EventSource cannot send the key in a header).
   * Calls onEvent({id, event, data}) per event; resolves when the server ends the stream.
   */
  async stream(path, params, { onOpen, onEvent, signal, lastEventId }) {
    const headers = this.headers({ Accept: 'text/event-stream' });
    if (lastEventId) headers['Last-Event-ID'] = lastEventId;
    const response = await fetch(this.url(path, params), { headers, signal, cache: 'no-store' });
    if (!response.ok || !response.body) {
      if (response.status === 401) this.onUnauthorized();
      throw new ApiError(response.status, null);
    }
    if (onOpen) onOpen();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = { id: null, event: 'message', data: [] };
        for (const line of block.split('\n')) {
          if (!line || line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') event.id = text;
          else if (field === 'event') event.event = text;
          else if (field === 'data') event.data.push(text);
        }
        if (event.data.length) onEvent({ ...event, data: event.data.join('\n') });
      }
    }
  }
}
