// cvnb ExplainViewer front end: a grid of mistakes (or top losses) to pick from, a target
// dropdown, one panel per method (the map over the image as the model saw it, with one
// shared opacity slider, and its seconds, model calls and faithfulness against a random map),
// a progress bar while the slow methods run, and the sanity check's badge.
// Plain ESM for anywidget (no bundler). Images arrive as binary buffers (DataView).
// Requests go to Python through the `action` trait.

const NAMES = { gradcam: "Grad-CAM", shap: "SHAP", lime: "LIME" };

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function toBlobUrl(data) {
  if (!data) return null;
  const view = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  if (bytes.length === 0) return null;
  // PNG starts 0x89 'P'; everything else we send is JPEG.
  const type = bytes[0] === 0x89 && bytes[1] === 0x50 ? "image/png" : "image/jpeg";
  return URL.createObjectURL(new Blob([bytes], { type }));
}

function num(value, digits = 3) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "—";
}

function calls(n) {
  return `${n} model call${n === 1 ? "" : "s"}`;
}

function render({ model, el }) {
  el.classList.add("cvnb-explain");

  const error = make("div", "cvnb-error");
  error.setAttribute("role", "alert");

  // Toolbar: grid source, target class, opacity, sanity check, progress.
  const source = make("select", "cvnb-xp-source");
  source.setAttribute("aria-label", "images to pick from");
  for (const [value, text] of [
    ["mistakes", "mistakes"],
    ["top_losses", "top losses"],
  ]) {
    const option = make("option", "", text);
    option.value = value;
    source.append(option);
  }
  const target = make("select", "cvnb-xp-target");
  target.setAttribute("aria-label", "target class");
  const opacity = make("input", "cvnb-xp-opacity");
  opacity.type = "range";
  opacity.min = "0";
  opacity.max = "1";
  opacity.step = "0.05";
  opacity.setAttribute("aria-label", "map opacity");
  const sanityButton = make("button", "cvnb-xp-sanity", "Model-sensitive?");
  sanityButton.title =
    "randomise the head, then the last stage, and see whether the map changes (Adebayo et al. 2018)";
  const badge = make("span", "cvnb-xp-badge");
  badge.setAttribute("role", "status");
  const progress = make("progress", "cvnb-xp-progress");
  progress.max = 1;
  const status = make("span", "cvnb-xp-status");

  const field = (label, control) => {
    const node = make("label", "cvnb-xp-field");
    node.append(make("span", "", label), control);
    return node;
  };
  const toolbar = make("div", "cvnb-xp-toolbar");
  toolbar.append(
    field("pick from", source),
    field("target", target),
    field("opacity", opacity),
    sanityButton,
    badge,
    progress,
    status,
  );

  const grid = make("div", "cvnb-xp-grid");
  grid.setAttribute("role", "listbox");
  grid.setAttribute("aria-label", "images to explain");

  // The subject: the original, the model's input, what it predicted.
  const subject = make("div", "cvnb-xp-subject");
  const originalFig = make("figure", "cvnb-xp-original");
  const originalImg = make("img");
  originalImg.alt = "original image";
  originalFig.append(originalImg, make("figcaption", "", "original"));
  const inputFig = make("figure", "cvnb-xp-input");
  const inputImg = make("img");
  inputImg.alt = "image as the model saw it";
  inputFig.append(inputImg, make("figcaption", "", "as the model saw it"));
  const info = make("div", "cvnb-xp-info");
  subject.append(originalFig, inputFig, info);

  const panelsBox = make("div", "cvnb-xp-panels");
  const legend = make(
    "div",
    "cvnb-xp-legend",
    "faithfulness on this image — deletion AUC: lower is better; insertion AUC: higher is " +
      "better; ✓ beats a random map, ✗ does not (do not read that map)",
  );

  el.append(error, toolbar, grid, subject, panelsBox, legend);

  let thumbUrls = [];
  let imageUrls = [];
  let mapUrls = [];
  const revoke = (urls) => {
    for (const url of urls) if (url) URL.revokeObjectURL(url);
  };

  function request(kind, extra = {}) {
    model.set("action", { kind, ...extra, at: Date.now() });
    model.save_changes();
  }

  function drawError() {
    const message = model.get("error") || "";
    error.textContent = message;
    error.hidden = message === "";
  }

  function drawControls() {
    source.value = model.get("source");
    const classes = model.get("classes") || [];
    const chosen = model.get("target") || "";
    const predicted = (model.get("subject") || {}).prediction;
    target.replaceChildren();
    const auto = make("option", "", predicted ? `predicted (${predicted})` : "predicted");
    auto.value = "";
    target.append(auto);
    for (const name of classes) {
      const option = make("option", "", name);
      option.value = name;
      target.append(option);
    }
    target.value = chosen;
    if (document.activeElement !== opacity) opacity.value = String(model.get("opacity"));
    drawOpacity();
  }

  function drawOpacity() {
    el.style.setProperty("--cvnb-xp-opacity", String(model.get("opacity")));
  }

  function drawGrid() {
    revoke(thumbUrls);
    thumbUrls = [];
    grid.replaceChildren();
    const thumbs = model.get("thumbnails") || [];
    const items = model.get("candidates") || [];
    thumbs.forEach((data, i) => {
      const item = items[i] || {};
      const fig = make("figure", "cvnb-xp-thumb");
      fig.dataset.index = String(i);
      fig.tabIndex = 0;
      fig.setAttribute("role", "option");
      const img = make("img");
      const url = toBlobUrl(data);
      thumbUrls.push(url);
      if (url) img.src = url;
      img.alt = item.label ?? `image ${i}`;
      img.draggable = false;
      const caption = make("figcaption");
      if (item.label !== undefined) caption.append(make("span", "cvnb-xp-label", item.label));
      if (item.prediction !== undefined) {
        caption.append(make("span", "cvnb-xp-pred", `→ ${item.prediction}`));
        fig.classList.toggle("wrong", item.label !== undefined && item.label !== item.prediction);
      }
      fig.title = [item.path, item.loss !== undefined ? `loss ${num(item.loss)}` : ""]
        .filter(Boolean)
        .join("\n");
      fig.append(img, caption);
      const pick = () => request("pick", { index: i });
      fig.addEventListener("click", pick);
      fig.addEventListener("keydown", (event) => {
        if (event.key === " " || event.key === "Enter") {
          event.preventDefault();
          pick();
        }
      });
      grid.append(fig);
    });
    grid.hidden = thumbs.length === 0;
    drawSelected();
  }

  function drawSelected() {
    const selected = model.get("selected");
    for (const fig of grid.children) {
      const on = Number(fig.dataset.index) === selected;
      fig.classList.toggle("selected", on);
      fig.setAttribute("aria-selected", String(on));
    }
  }

  function drawSubject() {
    revoke(imageUrls);
    const original = toBlobUrl(model.get("original"));
    const input = toBlobUrl(model.get("image"));
    imageUrls = [original, input];
    subject.hidden = input === null;
    if (original) originalImg.src = original;
    if (input) inputImg.src = input;
    const s = model.get("subject") || {};
    info.replaceChildren();
    if (s.label) info.append(make("div", "", `label: ${s.label}`));
    if (s.prediction) info.append(make("div", "", `predicted: ${s.prediction}`));
    if (s.target) info.append(make("div", "cvnb-xp-explained", `explained: ${s.target}`));
    const probs = make("ol", "cvnb-xp-probs");
    for (const [name, p] of s.probs || []) probs.append(make("li", "", `${name} ${num(p, 2)}`));
    info.append(probs);
    drawPanels();
    drawControls();
  }

  function metric(name, value, random, better) {
    const row = make("div", "cvnb-xp-metric");
    row.dataset.metric = name;
    const beats =
      typeof value === "number" && typeof random === "number"
        ? better === "lower"
          ? value < random
          : value > random
        : null;
    row.textContent = `${name} ${num(value)} vs random ${num(random)}`;
    row.title =
      better === "lower"
        ? "deletion AUC: the class probability as the map's top pixels are removed; lower is better"
        : "insertion AUC: the class probability as the map's top pixels are restored; higher is better";
    if (beats !== null) row.classList.add(beats ? "beats" : "loses");
    return row;
  }

  function drawPanels() {
    revoke(mapUrls);
    const panels = model.get("panels") || [];
    const maps = model.get("maps") || [];
    const input = imageUrls[1];
    legend.hidden = panels.length === 0;
    mapUrls = panels.map((_, i) => toBlobUrl(maps[i]));
    panelsBox.replaceChildren();
    panels.forEach((panel, i) => {
      const box = make("figure", "cvnb-xp-panel");
      box.dataset.method = panel.method;
      box.dataset.status = panel.status;
      const title = make("figcaption", "cvnb-xp-title", NAMES[panel.method] || panel.method);
      const stack = make("div", "cvnb-xp-stack");
      if (input) {
        const base = make("img", "cvnb-xp-base");
        base.src = input;
        base.alt = "";
        stack.append(base);
      }
      if (mapUrls[i]) {
        const heat = make("img", "cvnb-xp-map");
        heat.src = mapUrls[i];
        heat.alt = `${panel.method} map`;
        stack.append(heat);
      }
      const facts = make("div", "cvnb-xp-facts");
      if (panel.status === "done") {
        facts.append(
          make(
            "div",
            "cvnb-xp-cost",
            `${num(panel.seconds, 2)} s · ${calls(panel.n_model_calls)} · ${panel.runtime}`,
          ),
          metric("deletion", panel.deletion_auc, panel.random_deletion, "lower"),
          metric("insertion", panel.insertion_auc, panel.random_insertion, "higher"),
        );
        facts.title = "✓: beats the random map on this image; ✗: does not, so do not read it";
      } else if (panel.status === "failed") {
        facts.append(make("div", "cvnb-xp-failed", panel.message || "failed"));
      } else if (panel.status === "scoring") {
        facts.append(
          make("div", "cvnb-xp-cost", `${num(panel.seconds, 2)} s · ${calls(panel.n_model_calls)}`),
          make("progress", "cvnb-xp-wait"),
          make("span", "", " scoring…"),
        );
      } else {
        const wait = make("progress", "cvnb-xp-wait"); // indeterminate: no value
        facts.append(wait, make("span", "", panel.status === "running" ? " running…" : " queued"));
      }
      box.append(title, stack, facts);
      panelsBox.append(box);
    });
  }

  function drawStatus() {
    const state = model.get("status");
    const fraction = model.get("progress") || 0;
    const running = state === "running";
    progress.hidden = !running;
    progress.value = fraction;
    const panels = model.get("panels") || [];
    const done = panels.filter((p) => p.status === "done").length;
    status.textContent = running
      ? `${done} of ${panels.length} maps…`
      : state === "idle"
        ? "pick an image"
        : `${done} of ${panels.length} maps`;
    el.dataset.status = state;
  }

  function drawSanity() {
    const state = model.get("sanity_status");
    const verdict = (model.get("sanity") || {}).model_sensitive || {};
    sanityButton.disabled = state === "running" || !model.get("image")?.byteLength;
    badge.className = "cvnb-xp-badge";
    el.dataset.sanity = state;
    if (state === "running") {
      badge.textContent = "checking…";
    } else if (state === "done") {
      const names = Object.keys(verdict);
      const bad = names.filter((m) => !verdict[m]);
      badge.classList.add(bad.length ? "bad" : "good");
      badge.textContent = names
        .map((m) => `${NAMES[m] || m}: ${verdict[m] ? "model-sensitive" : "NOT model-sensitive"}`)
        .join(" · ");
      badge.title = bad.length
        ? "the map barely changed when the model was randomised: it shows the image, not the model"
        : "the map changed when the model was randomised";
    } else {
      badge.textContent = state === "failed" ? "check failed" : "";
    }
  }

  source.addEventListener("change", () => {
    model.set("source", source.value);
    model.save_changes();
  });
  target.addEventListener("change", () => {
    model.set("target", target.value);
    model.save_changes();
  });
  opacity.addEventListener("input", () => {
    el.style.setProperty("--cvnb-xp-opacity", opacity.value);
  });
  opacity.addEventListener("change", () => {
    model.set("opacity", Number(opacity.value));
    model.save_changes();
  });
  sanityButton.addEventListener("click", () => request("sanity_check"));

  drawError();
  drawGrid();
  drawSubject();
  drawStatus();
  drawSanity();

  const handlers = {
    "change:error": drawError,
    "change:thumbnails": drawGrid,
    "change:candidates": drawGrid,
    "change:selected": drawSelected,
    "change:image": drawSubject,
    "change:original": drawSubject,
    "change:subject": drawSubject,
    "change:classes": drawControls,
    "change:target": drawControls,
    "change:source": drawControls,
    "change:opacity": drawControls,
    "change:maps": drawPanels,
    "change:panels": () => {
      drawPanels();
      drawStatus();
    },
    "change:status": drawStatus,
    "change:progress": drawStatus,
    "change:sanity": drawSanity,
    "change:sanity_status": drawSanity,
  };
  for (const [event, handler] of Object.entries(handlers)) model.on(event, handler);
  model.on("change:image", drawSanity);

  return () => {
    for (const [event, handler] of Object.entries(handlers)) model.off(event, handler);
    model.off("change:image", drawSanity);
    revoke(thumbUrls);
    revoke(imageUrls);
    revoke(mapUrls);
  };
}

export default { render };
