// cvnb AugmentationExplorer front end: a list of albumentations steps with controls generated
// from their parameter specs (the `catalog` trait), and previews of N images × K draws.
// Plain ESM for anywidget (no bundler). Thumbnails arrive as binary buffers (DataView).
// Every edit sets a synced trait; Python re-runs the draws and sends new thumbnails.

const SLIDER_THROTTLE_MS = 120;

function toBlobUrl(data) {
  const view = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  const type = bytes[0] === 0x89 && bytes[1] === 0x50 ? "image/png" : "image/jpeg";
  return URL.createObjectURL(new Blob([bytes], { type }));
}

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function field(text, control, title) {
  const wrap = make("label", "cvnb-ex-field");
  wrap.append(make("span", "cvnb-ex-field-name", text), control);
  if (title) wrap.title = title;
  return wrap;
}

function numberInput(value, spec = {}) {
  const input = make("input", "cvnb-ex-number");
  input.type = "number";
  input.step = String(spec.step ?? "any");
  if (spec.minimum !== null && spec.minimum !== undefined) input.min = String(spec.minimum);
  if (spec.maximum !== null && spec.maximum !== undefined) input.max = String(spec.maximum);
  input.value = value === null || value === undefined ? "" : String(value);
  return input;
}

function readNumber(input, integer) {
  if (input.value.trim() === "") return null;
  const value = integer ? parseInt(input.value, 10) : parseFloat(input.value);
  return Number.isFinite(value) ? value : undefined;
}

function fmt(value) {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(3);
  if (Array.isArray(value)) return value.length > 4 ? "[…]" : `(${value.map(fmt).join(", ")})`;
  if (value && typeof value === "object") return "{…}";
  return String(value);
}

function summary(applied) {
  // One short line per step that fired: numbers and (low, high) pairs only (matrices, noise
  // maps, hole lists and fills are in the hover text).
  const shown = (v) =>
    typeof v === "number" || (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "number"));
  return Object.entries(applied || {}).map(([name, params]) => {
    const parts = Object.entries(params)
      .filter(([k, v]) => k !== "fill" && shown(v))
      .slice(0, 3)
      .map(([k, v]) => `${k}=${fmt(v)}`);
    return parts.length ? `${name} ${parts.join(" ")}` : name;
  });
}

function render({ model, el }) {
  el.classList.add("cvnb-explorer");
  el.setAttribute("data-lm-suppress-shortcuts", "true");
  const error = make("div", "cvnb-error");
  error.setAttribute("role", "alert");

  const set = (name, value) => {
    model.set(name, value);
    model.save_changes();
  };
  let seq = 0;
  const request = (kind, extra = {}) => set("action", { kind, seq: ++seq, ...extra });

  // ---------------------------------------------------------------- toolbar
  const presetSelect = make("select", "cvnb-ex-preset");
  const policySelect = make("select", "cvnb-ex-policy");
  const sizeInput = numberInput(model.get("size"), { step: 1, minimum: 8 });
  const fillInput = make("input", "cvnb-ex-fill");
  fillInput.title = "pad colour: a 0-255 grey level, or R,G,B";
  const drawsInput = numberInput(model.get("draws"), { step: 1, minimum: 1, maximum: 16 });
  const seedInput = numberInput(model.get("seed"), { step: 1, minimum: 0 });
  const reseed = make("button", "cvnb-ex-reseed", "New draws");
  const mixSelect = make("select", "cvnb-ex-mix");
  const alphaInput = numberInput(model.get("mix_alpha"), { step: 0.1, minimum: 0.05 });
  const toolbar = make("div", "cvnb-ex-toolbar");
  toolbar.append(
    field("preset", presetSelect),
    field("resize", policySelect),
    field("size", sizeInput),
    field("fill", fillInput),
    field("draws", drawsInput),
    field("seed", seedInput),
    reseed,
    field("batch mix", mixSelect),
    field("α", alphaInput),
  );

  // ------------------------------------------------------------ steps panel
  const steps = make("div", "cvnb-ex-steps");
  const normalizeNote = make("div", "cvnb-ex-normalize");
  const addSelect = make("select", "cvnb-ex-add-select");
  const addButton = make("button", "cvnb-ex-add", "Add");
  const addRow = make("div", "cvnb-ex-add-row");
  addRow.append(addSelect, addButton);
  const panel = make("div", "cvnb-ex-panel");
  panel.append(normalizeNote, steps, addRow);

  // --------------------------------------------------------------- previews
  const status = make("div", "cvnb-ex-status");
  const grid = make("div", "cvnb-ex-grid");
  const mixTitle = make("div", "cvnb-ex-mix-title");
  const mixRow = make("div", "cvnb-ex-mix-row");
  const previewPane = make("div", "cvnb-ex-previews");
  previewPane.append(status, grid, mixTitle, mixRow);
  const body = make("div", "cvnb-ex-body");
  body.append(panel, previewPane);

  // ----------------------------------------------------------------- footer
  const pathInput = make("input", "cvnb-ex-save-path");
  pathInput.placeholder = "runs/pipeline.json";
  const saveButton = make("button", "cvnb-ex-save", "Save pipeline");
  const copyButton = make("button", "cvnb-ex-copy", "Copy as code");
  const footerStatus = make("span", "cvnb-ex-footer-status");
  const footer = make("div", "cvnb-ex-footer");
  footer.append(field("file", pathInput), saveButton, copyButton, footerStatus);
  const codeBox = make("details", "cvnb-ex-code");
  const codeText = make("pre");
  codeBox.append(make("summary", "", "Pipeline as code"), codeText);
  el.append(error, toolbar, body, footer, codeBox);

  // ------------------------------------------------------------ step editing
  let shownSteps = null; // JSON of the transforms the cards show
  const catalogByName = () => Object.fromEntries((model.get("catalog") || []).map((c) => [c.name, c]));

  function edit(path, mutate) {
    const next = JSON.parse(JSON.stringify(model.get("transforms") || []));
    let list = next;
    for (const i of path.slice(0, -1)) list = list[i].transforms;
    mutate(list, path[path.length - 1]);
    shownSteps = JSON.stringify(next);
    set("transforms", next);
  }

  function setParam(path, name, value) {
    edit(path, (list, i) => {
      const entry = list[i];
      if (name === "p") entry.p = value;
      else {
        entry.params = entry.params || {};
        if (value === undefined) delete entry.params[name];
        else entry.params[name] = value;
      }
    });
  }

  function throttled(fn) {
    let timer = null;
    let last = null;
    return (value) => {
      last = value;
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        fn(last);
      }, SLIDER_THROTTLE_MS);
    };
  }

  function sliderControl(value, spec, onValue) {
    const wrap = make("span", "cvnb-ex-slider");
    const slider = make("input", "cvnb-ex-range");
    slider.type = "range";
    slider.min = String(spec.minimum);
    slider.max = String(spec.maximum);
    slider.step = String(spec.kind === "int" ? 1 : (spec.maximum - spec.minimum) / 100);
    slider.value = String(value);
    const number = numberInput(value, spec);
    const live = throttled(onValue);
    slider.addEventListener("input", () => {
      number.value = slider.value;
      live(Number(slider.value));
    });
    slider.addEventListener("change", () => onValue(Number(slider.value)));
    number.addEventListener("change", () => {
      const v = readNumber(number, spec.kind === "int");
      if (v !== null && v !== undefined) onValue(v);
    });
    wrap.append(slider, number);
    return wrap;
  }

  function paramControl(spec, value, onValue) {
    const integer = spec.kind === "int" || spec.kind === "int_range";
    if (spec.kind === "bool") {
      const box = make("input", "cvnb-ex-bool");
      box.type = "checkbox";
      box.checked = Boolean(value);
      box.addEventListener("change", () => onValue(box.checked));
      return box;
    }
    if (spec.kind === "choice") {
      const select = make("select", "cvnb-ex-choice");
      spec.choices.forEach((choice, i) => {
        const option = make("option", "", spec.labels[i] ?? String(choice));
        option.value = String(i);
        select.append(option);
      });
      select.value = String(Math.max(0, spec.choices.indexOf(value)));
      select.addEventListener("change", () => onValue(spec.choices[Number(select.value)]));
      return select;
    }
    if (spec.kind === "float_range" || spec.kind === "int_range") {
      const pair = Array.isArray(value) ? value : value === null ? [null, null] : [value, value];
      const wrap = make("span", "cvnb-ex-pair");
      const lo = numberInput(pair[0], spec);
      const hi = numberInput(pair[1], spec);
      const send = () => {
        const a = readNumber(lo, integer);
        const b = readNumber(hi, integer);
        if (a === null && b === null && spec.nullable) onValue(null);
        else if (a !== null && b !== null && a !== undefined && b !== undefined) onValue([a, b]);
      };
      lo.addEventListener("change", send);
      hi.addEventListener("change", send);
      wrap.append(lo, make("span", "", "–"), hi);
      return wrap;
    }
    if (spec.kind === "float" || spec.kind === "int") {
      const bounded = Number.isFinite(spec.minimum) && Number.isFinite(spec.maximum);
      if (bounded && value !== null) return sliderControl(value, spec, onValue);
      const input = numberInput(value, spec);
      input.addEventListener("change", () => {
        const v = readNumber(input, integer);
        if (v === null && spec.nullable) onValue(null);
        else if (v !== null && v !== undefined) onValue(v);
      });
      return input;
    }
    const text = make("input", "cvnb-ex-other");
    text.value = value === null || value === undefined ? "" : JSON.stringify(value);
    text.title = "a Python literal, e.g. (0, 0.5, 1, 1)";
    text.addEventListener("change", () => onValue(text.value));
    return text;
  }

  function stepCard(entry, path, info) {
    const card = make("div", "cvnb-ex-step");
    card.dataset.path = path.join(".");
    card.dataset.name = entry.name;
    const head = make("div", "cvnb-ex-step-head");
    const title = make("span", "cvnb-ex-step-name", entry.name);
    title.title = info ? info.doc : "";
    const up = make("button", "cvnb-ex-up", "↑");
    up.title = "move up";
    up.disabled = path[path.length - 1] === 0;
    const remove = make("button", "cvnb-ex-remove", "×");
    remove.title = "remove this step";
    up.addEventListener("click", () =>
      edit(path, (list, i) => list.splice(i - 1, 0, ...list.splice(i, 1))),
    );
    remove.addEventListener("click", () => edit(path, (list, i) => list.splice(i, 1)));
    head.append(title, up, remove);
    card.append(head);
    const p = entry.p ?? (info ? info.params.find((s) => s.name === "p")?.default : 0.5) ?? 0.5;
    const pSpec = { name: "p", kind: "float", minimum: 0, maximum: 1, step: 0.01 };
    const pControl = sliderControl(p, pSpec, (v) => setParam(path, "p", v));
    pControl.classList.add("cvnb-ex-p");
    card.append(field("p", pControl, "probability that this step runs"));
    if (entry.transforms) {
      const children = make("div", "cvnb-ex-children");
      const catalog = catalogByName();
      entry.transforms.forEach((child, j) =>
        children.append(stepCard(child, [...path, j], catalog[child.name])),
      );
      card.append(children);
      return card;
    }
    for (const spec of info ? info.params : []) {
      if (spec.name === "p") continue;
      const params = entry.params || {};
      const value = spec.name in params ? params[spec.name] : spec.default;
      const control = paramControl(spec, value, (v) => setParam(path, spec.name, v));
      const row = field(spec.name, control, `${spec.kind}; default ${JSON.stringify(spec.default)}`);
      row.dataset.param = spec.name;
      if (spec.name in params) {
        row.classList.add("cvnb-ex-changed");
        const reset = make("button", "cvnb-ex-reset", "↺");
        reset.title = "back to the default";
        reset.addEventListener("click", (event) => {
          event.preventDefault();
          setParam(path, spec.name, undefined);
          shownSteps = null; // redraw this card with the default shown
          drawSteps();
        });
        row.append(reset);
      }
      card.append(row);
    }
    return card;
  }

  function drawSteps() {
    const transforms = model.get("transforms") || [];
    const json = JSON.stringify(transforms);
    if (json !== shownSteps) {
      shownSteps = json;
      const catalog = catalogByName();
      steps.replaceChildren(...transforms.map((entry, i) => stepCard(entry, [i], catalog[entry.name])));
      if (!transforms.length) steps.append(make("div", "cvnb-ex-empty", "No transforms: add one below."));
    }
    const bad = model.get("error_step");
    [...steps.children].forEach((card, i) => card.classList.toggle("cvnb-ex-bad", i === bad));
    const norm = (model.get("normalize") || []).map((s) => s.name);
    normalizeNote.textContent = norm.length ? `always (train + valid): ${norm.join(", ")}` : "";
    normalizeNote.hidden = !norm.length;
  }

  // ----------------------------------------------------------------- previews
  let urls = [];
  let mixUrls = [];
  function thumb(data, alt) {
    const img = make("img");
    img.alt = alt;
    img.draggable = false;
    // Tiny images (8×8 digits) stay crisp squares when shown larger; photos are smoothed.
    img.addEventListener("load", () =>
      img.classList.toggle("cvnb-ex-pixelated", img.naturalWidth < img.clientWidth),
    );
    img.src = toBlobUrl(data);
    return img;
  }

  function drawPreviews() {
    for (const url of urls) URL.revokeObjectURL(url);
    urls = [];
    const originals = model.get("originals") || [];
    const previews = model.get("previews") || [];
    const applied = model.get("applied") || [];
    const labels = model.get("labels") || [];
    const k = Math.max(1, Math.round(previews.length / Math.max(1, originals.length)));
    grid.style.setProperty("--cvnb-ex-columns", String(k + 1));
    grid.style.setProperty("--cvnb-ex-thumb", `${model.get("thumb_size") || 128}px`);
    const cells = [];
    originals.forEach((data, i) => {
      const original = make("figure", "cvnb-ex-original");
      const img = thumb(data, `original ${i}`);
      urls.push(img.src);
      original.append(img, make("figcaption", "", labels[i] ? `original · ${labels[i]}` : "original"));
      cells.push(original);
      for (let j = 0; j < k; j++) {
        const n = i * k + j;
        if (previews[n] === undefined) continue;
        const cell = make("figure", "cvnb-ex-draw");
        cell.dataset.image = String(i);
        cell.dataset.draw = String(j);
        const drawn = thumb(previews[n], `image ${i}, draw ${j + 1}`);
        urls.push(drawn.src);
        const lines = summary((applied[n] || {}).transforms);
        const caption = make("figcaption", "", lines.length ? lines.join("\n") : "(nothing fired)");
        cell.title = JSON.stringify((applied[n] || {}).transforms || {}, null, 1);
        cell.append(drawn, caption);
        cells.push(cell);
      }
    });
    grid.replaceChildren(...cells);
    const ms = model.get("render_ms");
    status.textContent = `${originals.length} images × ${k} draws · updated in ${ms} ms`;
  }

  function drawMix() {
    for (const url of mixUrls) URL.revokeObjectURL(url);
    mixUrls = [];
    const images = model.get("mix_previews") || [];
    const info = model.get("mix_info") || [];
    mixTitle.textContent = images.length ? `${model.get("mix")} of the first draws (one batch)` : "";
    mixTitle.hidden = !images.length;
    mixRow.replaceChildren(
      ...images.map((data, i) => {
        const cell = make("figure", "cvnb-ex-mixed");
        const img = thumb(data, `mixed ${i}`);
        mixUrls.push(img.src);
        const { lam = 0, partner = i } = info[i] || {};
        cell.append(img, make("figcaption", "", `λ=${lam.toFixed(2)} with #${partner}`));
        return cell;
      }),
    );
  }

  // ------------------------------------------------------------ toolbar state
  function setOptions(select, values, labels) {
    if (select.options.length !== values.length) {
      select.replaceChildren(
        ...values.map((v, i) => {
          const option = make("option", "", labels ? labels[i] : v);
          option.value = v;
          return option;
        }),
      );
    }
  }

  function drawToolbar() {
    const choices = model.get("choices") || {};
    setOptions(presetSelect, ["", ...(choices.presets || [])], ["load preset…", ...(choices.presets || [])]);
    presetSelect.value = "";
    setOptions(policySelect, choices.policies || []);
    policySelect.value = model.get("policy");
    setOptions(mixSelect, choices.mix || []);
    mixSelect.value = model.get("mix");
    sizeInput.value = String(model.get("size"));
    const fill = model.get("fill");
    fillInput.value = Array.isArray(fill) ? fill.join(",") : String(fill);
    drawsInput.value = String(model.get("draws"));
    seedInput.value = String(model.get("seed"));
    alphaInput.value = String(model.get("mix_alpha"));
    alphaInput.disabled = model.get("mix") === "none";
    pathInput.value = model.get("save_path") || "";
    const catalog = model.get("catalog") || [];
    if (addSelect.options.length === 0) {
      const groups = {};
      for (const entry of catalog) (groups[entry.category] ||= []).push(entry);
      for (const [category, entries] of Object.entries(groups)) {
        const group = make("optgroup");
        group.label = category;
        for (const entry of entries) {
          const option = make("option", "", entry.name);
          option.value = entry.name;
          option.title = entry.doc;
          group.append(option);
        }
        addSelect.append(group);
      }
    }
  }

  function drawError() {
    const message = model.get("error") || "";
    error.textContent = message;
    error.hidden = message === "";
    previewPane.classList.toggle("cvnb-ex-stale", message !== "");
    drawSteps();
  }

  function drawFooter() {
    codeText.textContent = model.get("code") || "";
    const saved = model.get("saved");
    if (saved) footerStatus.textContent = `saved to ${saved}`;
  }

  // ----------------------------------------------------------------- events
  const intInput = (input, name, min) =>
    input.addEventListener("change", () => {
      const v = readNumber(input, true);
      if (v !== null && v !== undefined && v >= min) set(name, v);
      else input.value = String(model.get(name));
    });
  intInput(sizeInput, "size", 8);
  intInput(drawsInput, "draws", 1);
  intInput(seedInput, "seed", 0);
  reseed.addEventListener("click", () => set("seed", (model.get("seed") || 0) + 1));
  policySelect.addEventListener("change", () => set("policy", policySelect.value));
  mixSelect.addEventListener("change", () => set("mix", mixSelect.value));
  alphaInput.addEventListener("change", () => {
    const v = readNumber(alphaInput, false);
    if (v) set("mix_alpha", v);
  });
  fillInput.addEventListener("change", () => {
    const parts = fillInput.value.split(",").map((s) => parseInt(s.trim(), 10));
    if (parts.every(Number.isFinite) && (parts.length === 1 || parts.length === 3)) {
      set("fill", parts.length === 1 ? parts[0] : parts);
    } else fillInput.value = String(model.get("fill"));
  });
  presetSelect.addEventListener("change", () => {
    if (presetSelect.value) request("preset", { name: presetSelect.value });
  });
  addButton.addEventListener("click", () => {
    const info = catalogByName()[addSelect.value];
    if (!info) return;
    const p = info.params.find((s) => s.name === "p")?.default ?? 0.5;
    const next = [...(model.get("transforms") || []), { name: info.name, p, params: {} }];
    set("transforms", next);
  });
  pathInput.addEventListener("change", () => set("save_path", pathInput.value.trim()));
  saveButton.addEventListener("click", () => {
    set("save_path", pathInput.value.trim());
    request("save");
  });
  copyButton.addEventListener("click", async () => {
    const code = model.get("code") || "";
    codeBox.open = true;
    try {
      await navigator.clipboard.writeText(code);
      footerStatus.textContent = "code copied to the clipboard";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(codeText);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      footerStatus.textContent = "code selected: press Ctrl+C to copy";
    }
  });

  drawToolbar();
  drawSteps();
  drawPreviews();
  drawMix();
  drawError();
  drawFooter();

  const handlers = [
    [["transforms", "normalize", "error_step"], drawSteps],
    [["previews", "applied", "originals", "thumb_size", "render_ms"], drawPreviews],
    [["mix_previews", "mix_info"], drawMix],
    [["error"], drawError],
    [["code", "saved"], drawFooter],
    [
      ["size", "policy", "fill", "draws", "seed", "mix", "mix_alpha", "save_path", "choices"],
      drawToolbar,
    ],
  ];
  // Trait changes arrive one by one; coalesce each handler to one call per burst.
  const scheduled = new Set();
  const bound = [];
  for (const [names, fn] of handlers) {
    const wrapped = () => {
      if (scheduled.has(fn)) return;
      scheduled.add(fn);
      queueMicrotask(() => {
        scheduled.delete(fn);
        fn();
      });
    };
    for (const name of names) {
      model.on(`change:${name}`, wrapped);
      bound.push([`change:${name}`, wrapped]);
    }
  }

  return () => {
    for (const [event, wrapped] of bound) model.off(event, wrapped);
    for (const url of [...urls, ...mixUrls]) URL.revokeObjectURL(url);
  };
}

export default { render };
