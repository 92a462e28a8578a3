// cvnb LayerFreezeWidget front end: a table of layer groups with trainable toggles, the
// discriminative-rate settings, an unfreeze schedule, a live trainable-parameter count, the
// equivalent code and Apply. Plain ESM for anywidget (no bundler). Python computes the
// table and code from the settings traits; requests go through the `action` trait.

const SPREAD_MAX_DECADES = 4; // the spread slider runs from 1 to 10^4

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function count(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

function labelled(text, control) {
  const wrap = make("label", "cvnb-frz-field");
  wrap.append(make("span", "", text), control);
  return wrap;
}

function render({ model, el }) {
  el.classList.add("cvnb-freeze");

  const error = make("div", "cvnb-error");
  error.setAttribute("role", "alert");

  const baseInput = make("input", "cvnb-frz-base-lr");
  baseInput.type = "text";
  baseInput.size = 9;
  const spreadSlider = make("input", "cvnb-frz-spread");
  spreadSlider.type = "range";
  spreadSlider.min = "0";
  spreadSlider.max = String(SPREAD_MAX_DECADES);
  spreadSlider.step = "0.05";
  const spreadText = make("span", "cvnb-frz-spread-text");
  const epochsInput = make("input", "cvnb-frz-epochs");
  epochsInput.type = "number";
  epochsInput.min = "1";
  epochsInput.style.width = "4em";
  const methodSelect = make("select", "cvnb-frz-method");
  for (const name of ["fit_one_cycle", "fit_flat_cos", "fit"]) {
    const option = make("option", "", name);
    option.value = name;
    methodSelect.append(option);
  }
  const settings = make("div", "cvnb-frz-toolbar");
  settings.append(
    labelled("head lr", baseInput),
    labelled("spread", spreadSlider),
    spreadText,
    labelled("epochs", epochsInput),
    methodSelect,
  );

  const headOnly = make("button", "cvnb-frz-head-only", "Train head only");
  const trainAll = make("button", "cvnb-frz-train-all", "Train all");
  const resetButton = make("button", "cvnb-frz-reset", "Reset");
  resetButton.title = "back to the learner's current state";
  const presets = make("div", "cvnb-frz-toolbar");
  presets.append(headOnly, trainAll, resetButton);

  const table = make("table", "cvnb-frz-table");
  const head = make("thead");
  const headRow = make("tr");
  for (const title of ["group", "parameters", "train", "lr ×", "lr", "unfreeze at epoch"]) {
    headRow.append(make("th", "", title));
  }
  head.append(headRow);
  const body = make("tbody");
  table.append(head, body);

  const total = make("span", "cvnb-frz-count");
  const applyButton = make("button", "cvnb-frz-apply", "Apply");
  const state = make("span", "cvnb-frz-state");
  const footer = make("div", "cvnb-frz-toolbar");
  footer.append(total, applyButton, state);

  const codeBox = make("details", "cvnb-frz-code-box");
  codeBox.open = true;
  codeBox.append(make("summary", "", "equivalent code"));
  const code = make("pre", "cvnb-frz-code");
  codeBox.append(code);

  el.append(error, settings, presets, table, footer, codeBox);

  function set(name, value) {
    model.set(name, value);
    model.save_changes();
  }

  function setTrainable(index, on) {
    const flags = [...(model.get("trainable") || [])];
    flags[index] = on;
    set("trainable", flags);
  }

  function setUnfreeze(group, text) {
    const plan = { ...(model.get("unfreeze_at") || {}) };
    const epoch = Number(text);
    if (text.trim() === "") delete plan[group];
    else if (Number.isInteger(epoch) && epoch >= 0) plan[group] = epoch;
    else return drawRows();
    set("unfreeze_at", plan);
  }

  function drawRows() {
    const rows = model.get("rows") || [];
    const biggest = Math.max(1, ...rows.map((r) => r.n_params));
    body.replaceChildren();
    rows.forEach((row, i) => {
      const tr = make("tr", row.trainable ? "trainable" : "frozen");
      tr.dataset.group = row.group;
      tr.append(make("td", "cvnb-frz-name", row.group));

      const size = make("td", "cvnb-frz-size");
      const bar = make("div", "cvnb-frz-bar");
      const part = make("div", "cvnb-frz-bar-train");
      bar.style.width = `${(100 * row.n_params) / biggest}%`;
      part.style.width = `${(100 * row.n_trainable) / Math.max(1, row.n_params)}%`;
      bar.append(part);
      size.append(make("span", "", count(row.n_params)), bar);
      size.title = `${row.n_trainable.toLocaleString()} of ${row.n_params.toLocaleString()} train`;
      tr.append(size);

      const toggleCell = make("td");
      const toggle = make("input", "cvnb-frz-toggle");
      toggle.type = "checkbox";
      toggle.checked = row.trainable;
      toggle.dataset.group = row.group;
      toggle.setAttribute("aria-label", `train ${row.group}`);
      toggle.addEventListener("change", () => setTrainable(i, toggle.checked));
      toggleCell.append(toggle);
      tr.append(toggleCell);

      tr.append(make("td", "cvnb-frz-mult", row.lr_mult.toFixed(3)));
      tr.append(make("td", "cvnb-frz-lr", row.lr.toExponential(2)));

      const when = make("td");
      if (!row.trainable) {
        const input = make("input", "cvnb-frz-unfreeze");
        input.type = "number";
        input.min = "0";
        input.placeholder = "never";
        input.style.width = "5em";
        input.value = row.unfreeze_at === null ? "" : String(row.unfreeze_at);
        input.setAttribute("aria-label", `unfreeze ${row.group} at epoch`);
        input.addEventListener("change", () => setUnfreeze(row.group, input.value));
        when.append(input);
      }
      tr.append(when);
      body.append(tr);
    });
  }

  function drawSettings() {
    const base = model.get("base_lr");
    if (document.activeElement !== baseInput) baseInput.value = base.toExponential(2);
    const spread = model.get("lr_spread");
    spreadSlider.value = String(Math.log10(spread));
    spreadText.textContent = `first group ${(base / spread).toExponential(1)} (÷${spread.toPrecision(3)})`;
    epochsInput.value = String(model.get("epochs"));
    methodSelect.value = model.get("method");
  }

  function drawSummary() {
    const n = model.get("n_params") || 0;
    const k = model.get("n_trainable") || 0;
    const pct = n ? ((100 * k) / n).toFixed(1) : "0";
    total.textContent = `${k.toLocaleString()} of ${n.toLocaleString()} parameters train (${pct}%)`;
    const done = model.get("applied");
    state.textContent = done ? "applied to the learner" : "not applied yet";
    state.classList.toggle("stale", !done);
    el.dataset.applied = String(done);
    code.textContent = model.get("code") || "";
  }

  function drawError() {
    const message = model.get("error") || "";
    error.textContent = message;
    error.hidden = message === "";
  }

  baseInput.addEventListener("change", () => {
    const lr = Number(baseInput.value.trim());
    if (lr > 0 && Number.isFinite(lr)) set("base_lr", lr);
    else drawSettings();
  });
  spreadSlider.addEventListener("input", () => {
    spreadText.textContent = `÷${(10 ** Number(spreadSlider.value)).toPrecision(3)}`;
  });
  spreadSlider.addEventListener("change", () => set("lr_spread", 10 ** Number(spreadSlider.value)));
  epochsInput.addEventListener("change", () => {
    const n = Number(epochsInput.value);
    if (Number.isInteger(n) && n >= 1) set("epochs", n);
    else drawSettings();
  });
  methodSelect.addEventListener("change", () => set("method", methodSelect.value));
  headOnly.addEventListener("click", () => {
    const n = (model.get("trainable") || []).length;
    set("trainable", Array.from({ length: n }, (_, i) => i === n - 1));
  });
  trainAll.addEventListener("click", () => {
    set("trainable", (model.get("trainable") || []).map(() => true));
  });
  resetButton.addEventListener("click", () => set("action", { kind: "reset", at: Date.now() }));
  applyButton.addEventListener("click", () => set("action", { kind: "apply", at: Date.now() }));

  drawError();
  drawSettings();
  drawRows();
  drawSummary();

  const handlers = {
    "change:error": drawError,
    "change:rows": drawRows,
    "change:base_lr": drawSettings,
    "change:lr_spread": drawSettings,
    "change:epochs": drawSettings,
    "change:method": drawSettings,
    "change:n_params": drawSummary,
    "change:n_trainable": drawSummary,
    "change:applied": drawSummary,
    "change:code": drawSummary,
  };
  for (const [event, handler] of Object.entries(handlers)) model.on(event, handler);
  return () => {
    for (const [event, handler] of Object.entries(handlers)) model.off(event, handler);
  };
}

export default { render };
