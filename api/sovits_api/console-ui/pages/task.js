// One task: live status over SSE, uploads, steps, logs, files with players, training curves.
import { call, fileUrl, follow, get, upload } from "../api.js";
import { lineChart } from "../charts.js";
import { fields } from "../forms.js";
import { AUDIO, bytes, confirmAction, errorText, fill, h, notify, progressBar, statusBadge } from "../ui.js";

let steps = null; // GET /steps, once per page load
const RESTING = ["completed", "failed", "cancelled"];

export async function taskPage(view, taskId, signal) {
  steps ??= await get("steps");
  let task = await get(`task/${taskId}`);
  const header = h("section", { class: "task-head", "aria-live": "polite" });
  const filesBody = h("tbody");
  const curves = h("div", { class: "charts" });
  const testSentence = h("div");
  const logView = h("pre", { id: "log-view", tabindex: 0, "aria-label": "step log" }, "");

  const renderHeader = () => {
    fill(header, 
      h("h1", {}, task.task_name, " ", statusBadge(task.status)),
      h("p", { class: "muted" }, `id ${task.task_id} · experiment ${task.config.exp_name} · ${task.config.language} · ${task.config.model_version}`),
      h("div", { class: "progress-line" },
        h("span", {}, "Step: ", h("strong", { id: "current-step" }, task.current_step || "none")),
        h("progress", { id: "task-progress", max: 100, value: task.progress, "aria-label": "task progress" }),
        h("output", { id: "task-progress-text", for: "task-progress" }, `${Math.round(task.progress)}%`)),
      task.error_message ? h("p", { class: "message error" }, task.error_message) : null,
      h("div", { class: "actions" },
        h("a", { class: "button", href: `#/task/${task.task_id}/dataset` }, "Dataset report"),
        h("a", { class: "button", href: `#/task/${task.task_id}/transcript` }, "Proofread transcript"),
        h("button", { onclick: cancel, disabled: task.status !== "running" && task.status !== "pending" }, "Cancel"),
        h("button", { class: "danger", onclick: remove }, "Delete")),
    );
  };

  let stream = null;
  const watch = () => {
    stream?.abort();
    stream = follow(taskId, (t) => {
      task = t;
      renderHeader();
    });
    stream.done.then((how) => {
      if (signal.aborted) return;
      if (how === "end") refresh(); // the task rests: its new files and curves
      // cut short (a proxy's idle timeout, a restart): follow again after a pause, as EventSource would
      else if (how === undefined) setTimeout(() => signal.aborted || watch(), 5000);
    }, (err) => notify(errorText(err), "error"));
  };
  signal.addEventListener("abort", () => stream?.abort());

  async function refresh() {
    await Promise.all([loadFiles(), loadCurves()]).catch((err) => notify(errorText(err), "error"));
  }

  async function cancel() {
    if (!(await confirmAction(`Cancel ${task.task_name}? The running step is stopped.`, "Cancel the task"))) return;
    try {
      notify((await call("POST", `task/${taskId}/cancel`)).message);
      task = await get(`task/${taskId}`);
      renderHeader();
    } catch (err) {
      notify(errorText(err), "error");
    }
  }

  async function remove() {
    if (!(await confirmAction(`Delete ${task.task_name} and all its files?`, "Delete the task"))) return;
    stream?.abort(); // the stream would report the deletion while the page is still here
    try {
      notify((await call("DELETE", `task/${taskId}`)).message);
      location.hash = "#/";
    } catch (err) {
      notify(errorText(err), "error");
    }
  }

  // ---- uploads: drag and drop or the file input, one row per file with its progress
  const picker = h("input", { id: "upload-input", type: "file", multiple: true, accept: "audio/*,.wav,.mp3,.m4a,.aac,.flac,.list" });
  const uploads = h("ul", { class: "uploads", "aria-label": "uploads" });
  const send = async (list) => {
    for (const file of list) {
      const bar = progressBar(0, `upload of ${file.name}`);
      const note = h("span", { class: "note" }, "uploading");
      const row = h("li", { "data-file": file.name }, h("span", {}, file.name), bar, note);
      uploads.append(row);
      try {
        const done = await upload(taskId, file, (share) => (bar.value = share * 100));
        bar.value = 100;
        note.textContent = `stored as ${done.path} (${bytes(done.size)})`;
        row.classList.add("ok");
      } catch (err) {
        note.textContent = errorText(err);
        row.classList.add("error");
        note.setAttribute("role", "alert");
      }
    }
    picker.value = "";
    loadFiles();
  };
  picker.addEventListener("change", () => send([...picker.files]));
  const drop = h("label", { class: "drop", for: "upload-input" },
    h("strong", {}, "Drop audio files here"), " or choose them: WAV, MP3, M4A, AAC, FLAC, or a .list transcript");
  drop.addEventListener("dragover", (e) => (e.preventDefault(), drop.classList.add("over")));
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    send([...e.dataTransfer.files]);
  });

  // ---- run a step, its parameters generated from the step's model, or the pipeline from it on
  const stepSelect = h("select", { id: "step-select" }, steps.map((s) => h("option", { value: s.name }, `${s.name}: ${s.summary}`)));
  const paramBox = h("fieldset", {}, h("legend", {}, "Parameters"));
  let readParams = () => ({});
  const renderParams = () => {
    paramBox.replaceChildren(h("legend", {}, `Parameters of ${stepSelect.value}`));
    const schema = steps.find((s) => s.name === stepSelect.value).params_schema;
    readParams = fields(paramBox, schema, schema, "param");
  };
  stepSelect.addEventListener("change", renderParams);
  renderParams();
  const runError = h("p", { class: "form-error", role: "alert" });
  const post = async (name, params) => {
    const accepted = await call("POST", `task/${taskId}/step/${name}`, { params });
    notify(accepted.message);
    task = await get(`task/${taskId}`);
    renderHeader();
    watch();
    return accepted;
  };
  const runForm = h("form", { class: "stack" },
    h("div", { class: "field" }, h("label", { for: "step-select" }, "Step"), stepSelect),
    paramBox, runError,
    h("div", { class: "actions" },
      h("button", { type: "submit", id: "run-step" }, "Run step"),
      h("button", { type: "button", id: "run-pipeline", onclick: pipeline }, "Run the pipeline from this step")));
  runForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    runError.textContent = "";
    try {
      await post(stepSelect.value, readParams());
    } catch (err) {
      runError.textContent = errorText(err);
    }
  });

  async function pipeline() {
    runError.textContent = "";
    const names = steps.map((s) => s.name).slice(steps.findIndex((s) => s.name === stepSelect.value));
    try {
      for (const [i, name] of names.entries()) {
        await post(name, i === 0 ? readParams() : {});
        while (!RESTING.includes((task = await get(`task/${taskId}`)).status)) {
          await Promise.all([stream.done, new Promise((wake) => setTimeout(wake, 1000))]);
        }
        if (task.status !== "completed") return;
      }
    } catch (err) {
      runError.textContent = errorText(err);
    }
  }

  // ---- logs
  const logStep = h("select", { id: "log-step" }, h("option", { value: "" }, "every step"), steps.map((s) => h("option", { value: s.name }, s.name)));
  const loadLogs = async () => {
    try {
      const q = new URLSearchParams({ tail: "200", ...(logStep.value ? { step: logStep.value } : {}) });
      logView.textContent = (await get(`task/${taskId}/logs?${q}`)).logs || "(no log yet)";
    } catch (err) {
      logView.textContent = errorText(err);
    }
  };
  logStep.addEventListener("change", loadLogs);

  // ---- files: download, play audio
  // A file's row is kept while the file is unchanged, so a refresh (a step ending, an upload)
  // does not take away a player someone has opened or is listening to.
  const fileKey = (f) => JSON.stringify([f.name, f.size, f.step || ""]);
  async function loadFiles() {
    const { files } = await get(`task/${taskId}/files`);
    const shown = new Map([...filesBody.querySelectorAll("tr[data-key]")].map((tr) => [tr.dataset.key, tr]));
    filesBody.replaceChildren(...files.map((f) => shown.get(fileKey(f)) ?? fileRow(f)));
    if (!files.length) filesBody.append(h("tr", {}, h("td", { colspan: 4 }, "No files yet.")));
    const sentence = files.find((f) => f.name.startsWith("output/") && AUDIO.test(f.name));
    const key = sentence ? fileKey(sentence) : "";
    if (testSentence.dataset.key === key) return;
    testSentence.dataset.key = key;
    testSentence.replaceChildren(...(sentence ? [h("h2", {}, "Test sentence"), await player(sentence.name)] : []));
  }

  async function player(name) {
    const audio = h("audio", { controls: true, preload: "metadata", "aria-label": `play ${name}` });
    audio.src = await fileUrl(taskId, name);
    return audio;
  }

  function fileRow(f) {
    const cell = h("td", { class: "actions" });
    const download = h("button", {
      onclick: async () => {
        try {
          const link = h("a", { href: await fileUrl(taskId, f.name), download: f.name.split("/").pop() });
          link.click();
        } catch (err) {
          notify(errorText(err), "error");
        }
      },
    }, "Download");
    cell.append(download);
    if (AUDIO.test(f.name)) {
      cell.append(h("button", {
        class: "play",
        "aria-label": `Play ${f.name}`,
        onclick: async (e) => {
          try {
            const audio = await player(f.name);
            e.target.replaceWith(audio);
            await audio.play().catch(() => {}); // autoplay rules may refuse; the controls remain
          } catch (err) {
            notify(errorText(err), "error");
          }
        },
      }, "Play"));
    }
    return h("tr", { "data-name": f.name, "data-key": fileKey(f) }, h("td", {}, f.name), h("td", {}, bytes(f.size)), h("td", {}, f.step || "upload"), cell);
  }

  // ---- training curves
  async function loadCurves() {
    const { steps: recorded } = await get(`task/${taskId}/metrics`);
    const charts = [];
    for (const [step, { series }] of Object.entries(recorded)) {
      for (const [name, points] of Object.entries(series)) {
        if (points.length) charts.push(h("figure", {}, lineChart(`${step} ${name}`, points), h("figcaption", {}, `${step}: ${name}`)));
      }
    }
    curves.replaceChildren(...(charts.length ? charts : [h("p", { class: "muted" }, "No training curves yet: train_sovits and train_gpt record their losses as they run.")]));
  }

  fill(view, 
    header,
    testSentence,
    h("section", { "aria-labelledby": "h-upload" }, h("h2", { id: "h-upload" }, "Upload"), drop, picker, uploads),
    h("section", { "aria-labelledby": "h-run" }, h("h2", { id: "h-run" }, "Run"), runForm),
    h("section", { "aria-labelledby": "h-files" }, h("h2", { id: "h-files" }, "Files"),
      h("div", { class: "scroll" }, h("table", {},
        h("thead", {}, h("tr", {}, ["File", "Size", "Written by", ""].map((c) => h("th", { scope: "col" }, c)))),
        filesBody))),
    h("section", { "aria-labelledby": "h-logs" }, h("h2", { id: "h-logs" }, "Logs"),
      h("div", { class: "toolbar" }, h("label", { for: "log-step" }, "Step"), logStep, h("button", { onclick: loadLogs }, "Refresh")),
      logView),
    h("section", { "aria-labelledby": "h-curves" }, h("h2", { id: "h-curves" }, "Training curves"), curves),
  );
  renderHeader();
  watch();
  await Promise.all([refresh(), loadLogs()]);
}
