// The REST API as the console calls it: bearer token, error bodies, uploads, the SSE stream.
const TOKEN_KEY = "sovits.token";
export const API = "api/v1";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.field = body?.field;
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || "",
  set: (value) => (value ? sessionStorage.setItem(TOKEN_KEY, value) : sessionStorage.removeItem(TOKEN_KEY)),
};

function headers(extra = {}) {
  const t = token.get();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = { detail: `${response.status} ${response.statusText}` };
  }
  // FastAPI's own 404 for a route this server does not have (e.g. an older version).
  if (response.status === 404 && body?.detail === "Not Found") body.detail = "this server does not offer it";
  return new ApiError(response.status, body);
}

export async function call(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(`${API}/${path}`, init);
  if (!response.ok) throw await errorOf(response);
  return response.status === 204 ? null : response.json();
}

export const get = (path) => call("GET", path);

// A file of a task as an object URL (the download route needs the token, a plain link cannot send it).
export async function fileUrl(taskId, name) {
  const response = await fetch(`${API}/task/${taskId}/files/download/${encodePath(name)}`, { headers: headers() });
  if (!response.ok) throw await errorOf(response);
  return URL.createObjectURL(await response.blob());
}

export const encodePath = (name) => name.split("/").map(encodeURIComponent).join("/");

// XMLHttpRequest, not fetch: only it reports upload progress.
export function upload(taskId, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${API}/task/${taskId}/files/upload`);
    for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = { detail: `${xhr.status} ${xhr.statusText}` };
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new ApiError(0, { detail: "the upload did not reach the server" }));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

// The task's SSE stream, read with fetch so that it carries the token (EventSource cannot).
// Calls onStatus(task) per `status` event; resolves when the stream ends; abort() stops it.
export function follow(taskId, onStatus) {
  const controller = new AbortController();
  const done = (async () => {
    const response = await fetch(`${API}/task/${taskId}/events`, { headers: headers(), signal: controller.signal });
    if (!response.ok) throw await errorOf(response);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done: finished } = await reader.read();
      if (finished) return;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (event.type === "status") onStatus(JSON.parse(event.data));
        if (event.type === "end" || event.type === "deleted") return event.type;
      }
    }
  })().catch((err) => {
    if (err.name !== "AbortError") throw err;
  });
  return { done, abort: () => controller.abort() };
}

function parseEvent(text) {
  const event = { type: "message", data: "" };
  for (const line of text.split("\n")) {
    const [field, ...rest] = line.split(":");
    const value = rest.join(":").replace(/^ /, "");
    if (field === "event") event.type = value;
    else if (field === "data") event.data += value;
  }
  return event;
}
