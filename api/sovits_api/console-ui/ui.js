// Small DOM helpers: elements, messages, confirmation, formatting.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key in el && !key.includes("-") && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// A message in the page's live region (screen readers announce it); errors stay until replaced.
export function notify(text, kind = "info") {
  const region = document.getElementById("messages");
  region.replaceChildren(h("p", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text));
  if (kind !== "error") setTimeout(() => region.firstChild?.textContent === text && region.replaceChildren(), 6000);
}

export function errorText(err) {
  return err.status ? `${err.message} (HTTP ${err.status})` : err.message;
}

// A modal <dialog> asking to confirm; resolves true only for the confirming button.
export function confirmAction(question, action) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-title" },
      h("form", { method: "dialog" },
        h("p", { id: "confirm-title" }, question),
        h("div", { class: "actions" },
          h("button", { value: "cancel", type: "submit" }, "Keep it"),
          h("button", { value: "confirm", type: "submit", class: "danger" }, action))),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "confirm");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function age(iso) {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function progressBar(value, label) {
  return h("progress", { max: 100, value: value ?? 0, "aria-label": label }, `${Math.round(value ?? 0)}%`);
}

export function statusBadge(status) {
  return h("span", { class: `badge ${status}` }, status);
}

export const AUDIO = /\.(wav|mp3|m4a|aac|flac|ogg)$/i;

// replaceChildren without the "null" text it would make of absent parts.
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}
