// Charts as SVG drawn here: a line chart per metric, a histogram, horizontal bars.
const NS = "http://www.w3.org/2000/svg";
const W = 480;
const H = 220;
const PAD = { left: 56, right: 12, top: 12, bottom: 36 };

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function frame(title) {
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart" });
  svg.append(s("title", {}, title));
  return svg;
}

const fmt = (v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : +v.toFixed(2));

function axes(svg, [x0, x1], [y0, y1], xLabel) {
  const bottom = H - PAD.bottom;
  svg.append(s("line", { x1: PAD.left, y1: bottom, x2: W - PAD.right, y2: bottom, class: "axis" }));
  svg.append(s("line", { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: bottom, class: "axis" }));
  for (const [v, y] of [[y1, PAD.top + 4], [y0, bottom]]) {
    svg.append(s("text", { x: PAD.left - 4, y, "text-anchor": "end", class: "tick" }, fmt(v)));
  }
  svg.append(s("text", { x: PAD.left, y: H - 18, class: "tick" }, fmt(x0)));
  svg.append(s("text", { x: W - PAD.right, y: H - 18, "text-anchor": "end", class: "tick" }, fmt(x1)));
  svg.append(s("text", { x: (W + PAD.left) / 2, y: H - 4, "text-anchor": "middle", class: "label" }, xLabel));
}

function scale([d0, d1], [r0, r1]) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

// points: [[x, y], ...]
export function lineChart(title, points, xLabel = "epoch") {
  const svg = frame(title);
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const xd = [Math.min(...xs), Math.max(...xs)];
  const yd = [Math.min(...ys), Math.max(...ys)];
  axes(svg, xd, yd, xLabel);
  const x = scale(xd, [PAD.left, W - PAD.right]);
  const y = scale(yd, [H - PAD.bottom, PAD.top]);
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
  svg.append(s("path", { d: path, class: "line" }));
  if (points.length === 1) svg.append(s("circle", { cx: x(xs[0]), cy: y(ys[0]), r: 3, class: "dot" }));
  return svg;
}

export function histogram(title, values, bins = 12, xLabel = "") {
  const svg = frame(title);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const width = (hi - lo) / bins || 1;
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v - lo) / width))]++;
  axes(svg, [lo, lo + width * bins], [0, Math.max(...counts)], xLabel);
  const x = scale([0, bins], [PAD.left, W - PAD.right]);
  const y = scale([0, Math.max(...counts)], [H - PAD.bottom, PAD.top]);
  counts.forEach((c, i) => {
    const bar = s("rect", { x: x(i) + 1, y: y(c), width: Math.max(1, x(1) - x(0) - 2), height: H - PAD.bottom - y(c), class: "bar" });
    bar.append(s("title", {}, `${fmt(lo + i * width)} to ${fmt(lo + (i + 1) * width)}: ${c}`));
    svg.append(bar);
  });
  return svg;
}

// entries: [[label, count], ...]
export function bars(title, entries) {
  const rowH = 22;
  const height = Math.max(1, entries.length) * rowH + 8;
  const svg = s("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", class: "chart" });
  svg.append(s("title", {}, title));
  const max = Math.max(1, ...entries.map((e) => e[1]));
  const x = scale([0, max], [160, W - 40]);
  entries.forEach(([label, count], i) => {
    const top = 4 + i * rowH;
    svg.append(s("text", { x: 154, y: top + 15, "text-anchor": "end", class: "tick" }, label));
    svg.append(s("rect", { x: 160, y: top + 3, width: Math.max(1, x(count) - 160), height: rowH - 8, class: "bar" }));
    svg.append(s("text", { x: x(count) + 4, y: top + 15, class: "tick" }, count));
  });
  return svg;
}
