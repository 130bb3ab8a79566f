// Create a task: the seed's config fields, generated from the API's own schema (defaults, limits).
import { call } from "../api.js";
import { fields } from "../forms.js";
import { errorText, h, notify } from "../ui.js";

let openapi = null;

export async function createPage(view) {
  openapi ??= await fetch("openapi.json").then((r) => r.json());
  const config = openapi.components.schemas.SeedConfig;
  const name = h("input", { id: "task-name", name: "task_name", required: true, maxlength: 256 });
  const group = h("fieldset", {}, h("legend", {}, "Configuration"));
  const read = fields(group, config, openapi, "config");
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "stack", novalidate: false },
    h("div", { class: "field" }, h("label", { for: "task-name" }, "Task name"), name),
    group,
    error,
    h("button", { type: "submit" }, "Create task"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const task = await call("POST", "task/create", { task_name: name.value, config: read() });
      notify(`Task ${task.task_name} created`);
      location.hash = `#/task/${task.task_id}`;
    } catch (err) {
      error.textContent = errorText(err);
    }
  });
  view.replaceChildren(h("h1", {}, "New task"), form);
  name.focus();
}
