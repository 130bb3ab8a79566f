// The task list: status, current step, progress, dataset verdict, age; filtered by text and status.
import { get } from "../api.js";
import { age, h, progressBar, statusBadge } from "../ui.js";

const STATUSES = ["", "pending", "running", "completed", "failed", "cancelled"];

// Steps run in order after their prerequisites: a task at asr_transcribe's end or past it has
// transcripts, so a report; others are not asked (every refusal is a console error in a browser).
function transcribed(task, order) {
  const at = order.indexOf(task.current_step);
  const asr = order.indexOf("asr_transcribe");
  return at > asr || (at === asr && task.status === "completed");
}

export async function tasksPage(view) {
  const [tasks, steps] = await Promise.all([get("tasks"), get("steps")]);
  const order = steps.map((s) => s.name);
  tasks.sort((a, b) => b.created_at.localeCompare(a.created_at));
  const text = h("input", { id: "filter-text", type: "search", placeholder: "name, id or experiment" });
  const status = h("select", { id: "filter-status" }, STATUSES.map((s) => h("option", { value: s }, s || "any")));
  const body = h("tbody");
  const verdicts = new Map();

  const render = () => {
    const q = text.value.trim().toLowerCase();
    const rows = tasks.filter(
      (t) =>
        (!status.value || t.status === status.value) &&
        (!q || [t.task_name, t.task_id, t.config.exp_name].some((v) => String(v).toLowerCase().includes(q))),
    );
    body.replaceChildren(
      ...rows.map((t) =>
        h("tr", {},
          h("td", {}, h("a", { href: `#/task/${t.task_id}` }, t.task_name || t.task_id)),
          h("td", {}, statusBadge(t.status)),
          h("td", {}, t.current_step || "—"),
          h("td", {}, progressBar(t.progress, `progress of ${t.task_name}`), ` ${Math.round(t.progress)}%`),
          h("td", { class: "verdict" }, verdicts.get(t.task_id) ?? "—"),
          h("td", { title: t.created_at }, age(t.created_at))),
      ),
    );
    if (!rows.length) body.append(h("tr", {}, h("td", { colspan: 6 }, tasks.length ? "No task matches." : "No tasks yet.")));
  };
  text.addEventListener("input", render);
  status.addEventListener("change", render);

  view.replaceChildren(
    h("h1", {}, "Tasks"),
    h("div", { class: "toolbar" },
      h("label", { for: "filter-text" }, "Filter"), text,
      h("label", { for: "filter-status" }, "Status"), status,
      h("a", { href: "#/new", class: "button" }, "New task")),
    h("div", { class: "scroll" },
      h("table", {},
        h("caption", { class: "visually-hidden" }, "Training tasks, newest first"),
        h("thead", {}, h("tr", {}, ["Task", "Status", "Step", "Progress", "Dataset", "Age"].map((c) => h("th", { scope: "col" }, c)))),
        body)),
  );
  render();
  // The dataset verdict exists once transcripts do; a task without one shows a dash.
  await Promise.all(
    tasks.filter((t) => transcribed(t, order)).slice(0, 50).map(async (t) => {
      try {
        verdicts.set(t.task_id, (await get(`task/${t.task_id}/dataset`)).summary.verdict);
      } catch {
        /* no report yet */
      }
    }),
  );
  render();
}
