// cvnb LRFinderWidget front end: run button with progress, the range-test plot (a PNG drawn
// by Python once per test) with the chosen-rate marker drawn here over it, a log-scale
// slider, one button per suggestion, the noise warning, and Apply.
// Plain ESM for anywidget (no bundler). Requests go to Python through the `action` trait.

const METHODS = ["minimum", "steep", "valley", "slide"];
const LOG_STEP = 0.01; // slider resolution in decades

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(lr) {
  return lr > 0 ? lr.toExponential(1) : "—";
}

function toBlobUrl(data) {
  const view = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  if (bytes.length === 0) return null;
  return URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
}

function render({ model, el }) {
  el.classList.add("cvnb-lr-finder");

  const error = make("div", "cvnb-error");
  error.setAttribute("role", "alert");

  const runButton = make("button", "cvnb-lr-run", "Run range test");
  const progress = make("progress", "cvnb-lr-progress");
  progress.max = 1;
  const status = make("span", "cvnb-lr-status");
  const toolbar = make("div", "cvnb-lr-toolbar");
  toolbar.append(runButton, progress, status);

  const warning = make("div", "cvnb-lr-warning");
  warning.setAttribute("role", "status");

  const plot = make("div", "cvnb-lr-plot");
  const img = make("img", "cvnb-lr-image");
  img.alt = "loss against learning rate";
  img.draggable = false;
  const marker = make("div", "cvnb-lr-marker");
  const markerLabel = make("span", "cvnb-lr-marker-label");
  marker.append(markerLabel);
  plot.append(img, marker);

  const suggestionsBox = make("div", "cvnb-lr-suggestions");

  const slider = make("input", "cvnb-lr-slider");
  slider.type = "range";
  slider.step = String(LOG_STEP);
  slider.setAttribute("aria-label", "learning rate (log scale)");
  const rateInput = make("input", "cvnb-lr-value");
  rateInput.type = "text";
  rateInput.size = 9;
  rateInput.setAttribute("aria-label", "chosen learning rate");
  const applyButton = make("button", "cvnb-lr-apply", "Apply");
  applyButton.title = "set the chosen rate as the learner's (head group) rate";
  const applied = make("span", "cvnb-lr-applied");
  const chooser = make("div", "cvnb-lr-chooser");
  const sliderLabel = make("label", "cvnb-lr-field");
  sliderLabel.append(make("span", "", "rate"), slider);
  chooser.append(sliderLabel, rateInput, applyButton, applied);

  el.append(error, toolbar, warning, plot, suggestionsBox, chooser);

  let url = null;

  function request(kind) {
    model.set("action", { kind, at: Date.now() });
    model.save_changes();
  }

  function choose(lr) {
    if (!(lr > 0) || !Number.isFinite(lr)) return;
    model.set("chosen_lr", lr);
    model.save_changes();
  }

  function range() {
    // The slider spans the plot's rate axis once there is a plot, else the rates to test.
    const frame = model.get("plot_frame") || {};
    if (frame.log_lr_max > frame.log_lr_min) return [frame.log_lr_min, frame.log_lr_max];
    return [Math.log10(model.get("start_lr")), Math.log10(model.get("end_lr"))];
  }

  function drawMarker(lr) {
    const frame = model.get("plot_frame") || {};
    const span = frame.log_lr_max - frame.log_lr_min;
    if (!(lr > 0) || !url || !(span > 0)) {
      marker.hidden = true;
      return;
    }
    const t = (Math.log10(lr) - frame.log_lr_min) / span;
    marker.hidden = t < 0 || t > 1;
    marker.style.left = `${100 * (frame.x0 + t * (frame.x1 - frame.x0))}%`;
    marker.style.top = `${100 * frame.y0}%`;
    marker.style.height = `${100 * (frame.y1 - frame.y0)}%`;
    markerLabel.textContent = fmt(lr);
  }

  function drawChosen() {
    const lr = model.get("chosen_lr");
    const [low, high] = range();
    slider.min = String(low);
    slider.max = String(high);
    if (lr > 0) slider.value = String(Math.log10(lr));
    if (document.activeElement !== rateInput) rateInput.value = lr > 0 ? fmt(lr) : "";
    drawMarker(lr);
    for (const button of suggestionsBox.querySelectorAll("button")) {
      const value = Number(button.dataset.lr);
      button.classList.toggle("chosen", Math.abs(Math.log10(value / lr)) < 1e-9);
    }
    applyButton.disabled = !(lr > 0);
    drawApplied();
  }

  function drawApplied() {
    const lr = model.get("applied_lr");
    applied.textContent = lr > 0 ? `applied ${fmt(lr)}` : "";
    applied.classList.toggle("stale", lr > 0 && lr !== model.get("chosen_lr"));
  }

  function drawPlot() {
    if (url) URL.revokeObjectURL(url);
    url = toBlobUrl(model.get("plot_png"));
    img.hidden = url === null;
    if (url) img.src = url;
    plot.classList.toggle("empty", url === null);
    drawChosen();
  }

  function drawSuggestions() {
    const suggestions = model.get("suggestions") || {};
    const best = model.get("recommended_by");
    suggestionsBox.replaceChildren();
    for (const name of METHODS) {
      const lr = suggestions[name];
      if (lr === undefined) continue;
      const button = make("button", "cvnb-lr-suggestion");
      button.dataset.method = name;
      button.textContent = `${name} ${fmt(lr)}${name === best ? " ★" : ""}`;
      if (lr === null) {
        button.disabled = true;
        button.title = `${name}: the curve is too short for this method`;
      } else {
        button.dataset.lr = String(lr);
        button.title = name === best ? "recommended" : `use ${name}`;
        button.addEventListener("click", () => choose(lr));
      }
      suggestionsBox.append(button);
    }
    drawChosen();
  }

  function drawWarning() {
    const noisy = model.get("noisy");
    warning.hidden = !noisy;
    warning.textContent = noisy
      ? `Too noisy to trust: ${model.get("noise_reason")}`
      : "";
  }

  function drawStatus() {
    const state = model.get("status");
    const fraction = model.get("progress") || 0;
    const running = state === "running";
    runButton.disabled = running;
    progress.hidden = !running;
    progress.value = fraction;
    const n = (model.get("lrs") || []).length;
    status.textContent = running
      ? `running… ${Math.round(100 * fraction)}%`
      : state === "done"
        ? `${n} iterations`
        : state;
    el.dataset.status = state;
  }

  function drawError() {
    const message = model.get("error") || "";
    error.textContent = message;
    error.hidden = message === "";
  }

  runButton.addEventListener("click", () => request("run"));
  applyButton.addEventListener("click", () => request("apply"));
  slider.addEventListener("input", () => drawMarker(10 ** Number(slider.value)));
  slider.addEventListener("change", () => choose(10 ** Number(slider.value)));
  rateInput.addEventListener("change", () => {
    const lr = Number(rateInput.value.trim());
    if (lr > 0 && Number.isFinite(lr)) choose(lr);
    else rateInput.value = fmt(model.get("chosen_lr"));
  });
  img.addEventListener("click", (event) => {
    const frame = model.get("plot_frame") || {};
    const box = img.getBoundingClientRect();
    const fx = (event.clientX - box.left) / box.width;
    const t = (fx - frame.x0) / (frame.x1 - frame.x0);
    if (t >= 0 && t <= 1) {
      choose(10 ** (frame.log_lr_min + t * (frame.log_lr_max - frame.log_lr_min)));
    }
  });

  drawError();
  drawStatus();
  drawWarning();
  drawSuggestions();
  drawPlot();

  const handlers = {
    "change:error": drawError,
    "change:status": drawStatus,
    "change:progress": drawStatus,
    "change:noisy": drawWarning,
    "change:noise_reason": drawWarning,
    "change:suggestions": drawSuggestions,
    "change:recommended_by": drawSuggestions,
    "change:plot_png": drawPlot,
    "change:plot_frame": drawChosen,
    "change:lrs": drawStatus,
    "change:start_lr": drawChosen,
    "change:end_lr": drawChosen,
    "change:chosen_lr": drawChosen,
    "change:applied_lr": drawApplied,
  };
  for (const [event, handler] of Object.entries(handlers)) model.on(event, handler);

  return () => {
    for (const [event, handler] of Object.entries(handlers)) model.off(event, handler);
    if (url) URL.revokeObjectURL(url);
  };
}

export default { render };
