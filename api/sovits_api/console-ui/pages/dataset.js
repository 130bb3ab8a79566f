// The dataset report (charts of durations, SNR and flags) and the transcript proofreading table.
import { call, fileUrl, get } from "../api.js";
import { bars, histogram } from "../charts.js";
import { errorText, fill, h, notify } from "../ui.js";

// A clip is named as the report names it: a path under the task, or a file of denoised/.
const clipPath = (clip) => (clip.includes("/") ? clip : `denoised/${clip}`);

function back(taskId) {
  return h("p", {}, h("a", { href: `#/task/${taskId}` }, "← back to the task"));
}

// 409 (not transcribed yet) and 404 (a server without the report) are states, not failures.
function unavailable(view, taskId, title, err) {
  fill(view, h("h1", {}, title), back(taskId),
    h("p", { class: "message notice", role: "status" }, err.status === 409 || err.status === 404 ? err.message : errorText(err)));
}

function playButton(taskId, clip) {
  return h("button", {
    class: "play",
    "aria-label": `Play ${clip}`,
    onclick: async (e) => {
      try {
        const audio = h("audio", { controls: true, "aria-label": `play ${clip}` });
        audio.src = await fileUrl(taskId, clipPath(clip));
        e.target.replaceWith(audio);
        await audio.play().catch(() => {});
      } catch (err) {
        notify(errorText(err), "error");
      }
    },
  }, "Play");
}

export async function datasetPage(view, taskId) {
  let report;
  try {
    report = await get(`task/${taskId}/dataset`);
  } catch (err) {
    return unavailable(view, taskId, "Dataset report", err);
  }
  const { summary, clips } = report;
  const charts = h("div", { class: "charts" });
  const durations = clips.map((c) => c.duration_s);
  const snrs = clips.map((c) => c.snr_db).filter((v) => Number.isFinite(v));
  const bins = (n) => Math.min(12, Math.max(3, Math.ceil(Math.sqrt(n)))); // few clips, few bars
  if (durations.length) charts.append(h("figure", {}, histogram("clip durations", durations, bins(durations.length), "seconds"), h("figcaption", {}, "Clip durations (s)")));
  if (snrs.length) charts.append(h("figure", {}, histogram("signal to noise", snrs, bins(snrs.length), "dB"), h("figcaption", {}, "SNR (dB)")));
  const flags = Object.entries(summary.flag_counts || {}).sort((a, b) => b[1] - a[1]);
  if (flags.length) charts.append(h("figure", {}, bars("flags", flags), h("figcaption", {}, "Clips per flag")));

  fill(view, 
    h("h1", {}, "Dataset report"), back(taskId),
    h("dl", { class: "summary" },
      h("dt", {}, "Verdict"), h("dd", { class: "verdict" }, summary.verdict),
      h("dt", {}, "Clips"), h("dd", {}, summary.clips),
      h("dt", {}, "Total"), h("dd", {}, `${summary.total_minutes.toFixed(1)} min`),
      h("dt", {}, "Usable"), h("dd", {}, `${summary.usable_minutes.toFixed(1)} min`),
      // which embedding the speaker similarities (and other_speaker) come from; each has its own scale
      h("dt", {}, "Speaker model"), h("dd", { class: "speaker-model" }, summary.speaker_model || "cepstral")),
    summary.advice?.length ? h("ul", { class: "advice" }, summary.advice.map((a) => h("li", {}, h("strong", {}, a.flag), ": ", a.text))) : null,
    charts,
    h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Clip", "", "Duration", "SNR", "Peak", "Text", "Flags"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, clips.map((c) => h("tr", { class: c.excluded ? "excluded" : "" },
        h("td", {}, c.clip), h("td", {}, playButton(taskId, c.clip)),
        h("td", {}, `${c.duration_s.toFixed(2)} s`), h("td", {}, c.snr_db == null ? "—" : `${c.snr_db.toFixed(1)} dB`),
        h("td", {}, `${c.peak_dbfs.toFixed(1)} dBFS`), h("td", {}, c.text ?? ""),
        h("td", {}, c.flags.map((f) => h("span", { class: "flag", title: f.reason }, f.flag)))))))),
  );
}

export async function transcriptPage(view, taskId) {
  let transcript;
  try {
    transcript = await get(`task/${taskId}/transcript`);
  } catch (err) {
    return unavailable(view, taskId, "Transcript", err);
  }
  const rows = transcript.entries.map((entry, i) => {
    const text = h("input", { id: `text-${i}`, value: entry.text, class: "wide", "data-clip": entry.clip });
    const language = h("input", { id: `lang-${i}`, value: entry.language, size: 4, "aria-label": `language of ${entry.clip}` });
    const drop = h("input", { id: `drop-${i}`, type: "checkbox", "aria-label": `drop ${entry.clip}` });
    return { entry, text, language, drop,
      row: h("tr", {},
        h("td", {}, entry.clip, entry.flags?.map((f) => h("span", { class: "flag", title: f.reason ?? "" }, f.flag ?? f))),
        h("td", {}, playButton(taskId, entry.clip)),
        h("td", {}, h("label", { for: `text-${i}`, class: "visually-hidden" }, `text of ${entry.clip}`), text),
        h("td", {}, language),
        h("td", {}, drop)) };
  });
  const status = h("p", { role: "status" });
  const save = h("button", {
    id: "save-transcript",
    onclick: async () => {
      const entries = rows
        .filter((r) => !r.drop.checked && (r.text.value !== r.entry.text || r.language.value !== r.entry.language))
        .map((r) => ({ clip: r.entry.clip, ...(r.text.value !== r.entry.text ? { text: r.text.value } : {}),
          ...(r.language.value !== r.entry.language ? { language: r.language.value } : {}) }));
      const drop = rows.filter((r) => r.drop.checked).map((r) => r.entry.clip);
      try {
        await call("PATCH", `task/${taskId}/transcript`, { entries, drop });
        await transcriptPage(view, taskId);
        notify(`Saved: ${entries.length} edited, ${drop.length} dropped`); // the page is new; the live region stays
      } catch (err) {
        status.textContent = errorText(err);
      }
    },
  }, "Save changes");
  fill(view, 
    h("h1", {}, "Transcript"), back(taskId),
    h("p", { class: "muted" }, "Listen to a clip, correct its text, or drop it from training; Save sends every change at once."),
    h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Clip", "", "Text", "Language", "Drop"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => r.row)))),
    h("div", { class: "actions" }, save), status,
    transcript.edits?.length ? h("p", { class: "muted" }, `${transcript.edits.length} earlier edits recorded.`) : null,
  );
}
