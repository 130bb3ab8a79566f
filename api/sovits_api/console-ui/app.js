// The console's router: hash routes to pages; a 401 anywhere shows the token login.
import { token } from "./api.js";
import { createPage } from "./pages/create.js";
import { datasetPage, transcriptPage } from "./pages/dataset.js";
import { taskPage } from "./pages/task.js";
import { tasksPage } from "./pages/tasks.js";
import { errorText, h } from "./ui.js";

const view = document.getElementById("view");
let current = new AbortController();

const ROUTES = [
  [/^#?\/?$/, () => tasksPage(view)],
  [/^#\/new$/, () => createPage(view)],
  [/^#\/task\/([^/]+)$/, (id, signal) => taskPage(view, id, signal)],
  [/^#\/task\/([^/]+)\/dataset$/, (id) => datasetPage(view, id)],
  [/^#\/task\/([^/]+)\/transcript$/, (id) => transcriptPage(view, id)],
];

function login(message) {
  const input = h("input", { id: "token", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "stack narrow" },
    h("h1", {}, "Sign in"),
    h("p", {}, message),
    h("div", { class: "field" }, h("label", { for: "token" }, "API token"), input),
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    token.set(input.value.trim());
    renderAccount();
    route();
  });
  view.replaceChildren(form);
  input.focus();
}

function renderAccount() {
  const account = document.getElementById("account");
  account.replaceChildren(
    token.get()
      ? h("button", { class: "link", onclick: () => (token.set(""), renderAccount(), route()) }, "Sign out")
      : "",
  );
}

async function route() {
  current.abort();
  current = new AbortController();
  document.getElementById("messages").replaceChildren();
  for (const [pattern, page] of ROUTES) {
    const m = location.hash.match(pattern);
    if (!m) continue;
    view.setAttribute("aria-busy", "true");
    try {
      await page(m[1] && decodeURIComponent(m[1]), current.signal);
    } catch (err) {
      if (err.status === 401) login(token.get() ? "That token was not accepted." : "This server needs an API token.");
      else view.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { class: "message error", role: "alert" }, errorText(err)));
    } finally {
      view.removeAttribute("aria-busy");
    }
    const heading = view.querySelector("h1");
    if (heading) {
      heading.tabIndex = -1;
      document.title = `${heading.textContent} · sovits console`;
    }
    return;
  }
  view.replaceChildren(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to the tasks")));
}

window.addEventListener("hashchange", route);
renderAccount();
route();
