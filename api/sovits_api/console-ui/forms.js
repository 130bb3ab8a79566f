// Form fields generated from a pydantic JSON Schema: one labelled input per property, with the
// model's default, bounds, enum and description; empty fields are left out (the server's default).
import { h } from "./ui.js";

function resolve(schema, root) {
  if (schema.$ref) {
    const path = schema.$ref.replace(/^#\//, "").split("/");
    return path.reduce((node, key) => node?.[key], root) || {};
  }
  return schema;
}

// {type, enum, nullable, minimum, maximum, exclusive...} of a property, unions with null unwrapped.
export function describe(prop, root) {
  let schema = resolve(prop, root);
  let nullable = false;
  if (schema.anyOf) {
    const members = schema.anyOf.map((m) => resolve(m, root));
    nullable = members.some((m) => m.type === "null");
    const kept = members.filter((m) => m.type !== "null");
    schema = kept.length === 1 ? { ...kept[0] } : { type: "string" };
  }
  return { ...schema, nullable, default: prop.default, description: prop.description ?? schema.description };
}

function limits(d) {
  const parts = [];
  const low = d.minimum ?? d.exclusiveMinimum;
  const high = d.maximum ?? d.exclusiveMaximum;
  if (low !== undefined) parts.push(`${d.exclusiveMinimum !== undefined ? ">" : "≥"} ${low}`);
  if (high !== undefined) parts.push(`${d.exclusiveMaximum !== undefined ? "<" : "≤"} ${high}`);
  if (d.maxLength !== undefined) parts.push(`at most ${d.maxLength} characters`);
  return parts.join(", ");
}

function input(id, name, d, required) {
  const common = { id, name, "aria-describedby": `${id}-help`, required };
  if (d.enum) {
    const options = d.enum.map((v) => h("option", { value: v, selected: v === d.default }, v));
    if (d.nullable || d.default === undefined) options.unshift(h("option", { value: "" }, "(default)"));
    return h("select", common, options);
  }
  if (d.type === "boolean") {
    if (d.default === null || d.default === undefined) {
      return h("select", common, h("option", { value: "" }, "(default)"), h("option", { value: "true" }, "true"),
        h("option", { value: "false" }, "false"));
    }
    return h("input", { ...common, type: "checkbox", checked: d.default === true, required: false });
  }
  if (d.type === "integer" || d.type === "number") {
    const step = d.type === "integer" ? 1 : "any";
    const min = d.minimum ?? (d.exclusiveMinimum !== undefined && d.type === "integer" ? d.exclusiveMinimum + 1 : undefined);
    const max = d.maximum ?? (d.exclusiveMaximum !== undefined && d.type === "integer" ? d.exclusiveMaximum - 1 : undefined);
    return h("input", { ...common, type: "number", step, min, max, value: d.default ?? "", placeholder: d.default == null ? "server default" : undefined });
  }
  return h("input", { ...common, type: "text", value: d.default ?? "", maxlength: d.maxLength,
    placeholder: d.nullable ? "optional" : undefined });
}

// The fields of an object schema, inside `container`; returns a function reading the values.
export function fields(container, schema, root, prefix) {
  const required = new Set(schema.required || []);
  const readers = [];
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const d = describe(prop, root);
    const id = `${prefix}-${name}`;
    const el = input(id, name, d, required.has(name));
    const help = [d.description, limits(d), d.default !== undefined && d.default !== null ? `default ${d.default}` : ""]
      .filter(Boolean).join(" · ");
    container.append(
      h("div", { class: `field ${el.type === "checkbox" ? "check" : ""}` },
        h("label", { for: id }, name),
        el,
        h("small", { id: `${id}-help` }, help)),
    );
    readers.push([name, () => value(el, d)]);
  }
  return () => {
    const out = {};
    for (const [name, read] of readers) {
      const v = read();
      if (v !== undefined) out[name] = v;
    }
    return out;
  };
}

function value(el, d) {
  if (el.type === "checkbox") return el.checked === d.default ? undefined : el.checked;
  const raw = el.value.trim();
  if (raw === "") return undefined;
  if (d.type === "boolean") return raw === "true";
  if (d.type === "integer") return Number.parseInt(raw, 10);
  if (d.type === "number") return Number(raw);
  return raw;
}
