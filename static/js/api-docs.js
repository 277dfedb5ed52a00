// The API reference: renders /api/v1/openapi.json with DOM calls only (no CDN, no innerHTML,
// no eval), so the console's strict CSP holds.
(function () {
  "use strict";
  const root = document.getElementById("api-reference");
  if (!root) return;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([k, v]) { node.setAttribute(k, v); });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function resolve(schema, spec, depth) {
    if (!schema || depth > 6) return schema;
    if (schema.$ref) {
      const name = schema.$ref.split("/").pop();
      return resolve(spec.components.schemas[name], spec, depth + 1);
    }
    return schema;
  }

  // A readable JSON-like sketch of a schema: {"field": "type", …}.
  function sketch(schema, spec, depth) {
    schema = resolve(schema, spec, depth || 0);
    if (!schema || (depth || 0) > 5) return "…";
    if (schema.anyOf) {
      return schema.anyOf.map(function (s) { return sketch(s, spec, (depth || 0) + 1); })
        .filter(function (s) { return s !== "null"; }).join(" | ") + " | null";
    }
    if (schema.type === "array") return [sketch(schema.items, spec, (depth || 0) + 1)];
    if (schema.type === "object" || schema.properties) {
      const out = {};
      Object.entries(schema.properties || {}).forEach(function ([k, v]) {
        out[k] = sketch(v, spec, (depth || 0) + 1);
      });
      return out;
    }
    let t = schema.type || "any";
    if (schema.format) t += " (" + schema.format + ")";
    if (schema.default !== undefined) t += " = " + JSON.stringify(schema.default);
    return t;
  }

  function pre(value) {
    return el("pre", {}, [typeof value === "string" ? value : JSON.stringify(value, null, 2)]);
  }

  function operation(path, method, op, spec) {
    const card = el("section", { class: "card api-op", id: op.operationId || "" }, [
      el("h2", {}, [el("span", { class: "api-method " + method }, [method.toUpperCase()]), path]),
    ]);
    if (op.summary) card.appendChild(el("p", {}, [el("strong", {}, [op.summary])]));
    if (op.description) card.appendChild(el("p", {}, [op.description]));
    const params = op.parameters || [];
    if (params.length) {
      const rows = params.map(function (p) {
        const s = resolve(p.schema, spec, 0) || {};
        return el("tr", {}, [
          el("td", {}, [el("code", {}, [p.name])]),
          el("td", {}, [p.in]),
          el("td", {}, [String(sketch(s, spec, 0)) + (p.required ? " · required" : "")]),
          el("td", {}, [p.description || s.description || ""]),
        ]);
      });
      card.appendChild(el("table", {}, [el("tbody", {}, rows)]));
    }
    const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
    if (body) {
      card.appendChild(el("p", {}, ["Request body"]));
      card.appendChild(pre(sketch(body.schema, spec, 0)));
    }
    Object.entries(op.responses || {}).forEach(function ([status, resp]) {
      const json = resp.content && resp.content["application/json"];
      card.appendChild(el("p", {}, [el("strong", {}, [status]), " " + (resp.description || "")]));
      if (json && status < "400") card.appendChild(pre(sketch(json.schema, spec, 0)));
    });
    return card;
  }

  fetch(root.dataset.schema, { headers: { Accept: "application/json" } })
    .then(function (r) { return r.json(); })
    .then(function (spec) {
      root.replaceChildren();
      root.appendChild(el("p", {}, [spec.info.title + " " + spec.info.version + " — " +
        (spec.info.description || "")]));
      Object.entries(spec.paths).forEach(function ([path, ops]) {
        Object.entries(ops).forEach(function ([method, op]) {
          root.appendChild(operation(path, method, op, spec));
        });
      });
    })
    .catch(function (err) {
      root.replaceChildren(el("p", { class: "error" }, [String(err)]));
    });
})();
