// cvnb ImageGrid front end: a CSS grid of thumbnails with labels, predictions and selection.
// Plain ESM for anywidget (no bundler). Thumbnails arrive as binary buffers (DataView).

// Selection changes only restyle items; these rebuild them (and their Blob URLs).
const REDRAW_ON = ["images", "labels", "predictions", "captions", "paths"];

function toBlobUrl(data) {
  // ipywidgets delivers bytes as DataView; ArrayBuffer/typed arrays are accepted too.
  const view = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  // PNG starts 0x89 'P'; everything else we send is JPEG.
  const type = bytes[0] === 0x89 && bytes[1] === 0x50 ? "image/png" : "image/jpeg";
  return URL.createObjectURL(new Blob([bytes], { type }));
}

function render({ model, el }) {
  el.classList.add("cvnb-image-grid");

  const error = document.createElement("div");
  error.className = "cvnb-error";
  error.setAttribute("role", "alert");
  const header = document.createElement("div");
  header.className = "cvnb-grid-header";
  const grid = document.createElement("div");
  grid.className = "cvnb-grid";
  grid.setAttribute("role", "listbox");
  grid.setAttribute("aria-multiselectable", "true");
  el.append(error, header, grid);

  let urls = [];
  let wrong = 0;
  const revoke = () => {
    for (const url of urls) URL.revokeObjectURL(url);
    urls = [];
  };

  function toggle(index) {
    const selected = new Set(model.get("selected") || []);
    if (selected.has(index)) selected.delete(index);
    else selected.add(index);
    model.set("selected", [...selected].sort((a, b) => a - b));
    model.save_changes();
  }

  function drawLayout() {
    const columns = Math.max(1, model.get("columns") || 1);
    const size = Math.max(16, model.get("thumb_size") || 96);
    grid.style.setProperty("--cvnb-columns", String(columns));
    grid.style.setProperty("--cvnb-thumb", `${size}px`);
  }

  function drawError() {
    const message = model.get("error") || "";
    error.textContent = message;
    error.hidden = message === "";
  }

  function drawItems() {
    revoke();
    grid.replaceChildren();

    const images = model.get("images") || [];
    const labels = model.get("labels") || [];
    const predictions = model.get("predictions") || [];
    const captions = model.get("captions") || [];
    const paths = model.get("paths") || [];
    wrong = 0;
    images.forEach((data, i) => {
      const item = document.createElement("figure");
      item.className = "cvnb-grid-item";
      item.dataset.index = String(i);
      item.tabIndex = 0;
      item.setAttribute("role", "option");

      const img = document.createElement("img");
      const url = toBlobUrl(data);
      urls.push(url);
      img.src = url;
      img.alt = labels[i] ?? `image ${i}`;
      img.draggable = false;
      item.append(img);

      const caption = document.createElement("figcaption");
      if (labels[i] !== undefined) {
        const label = document.createElement("span");
        label.className = "cvnb-label";
        label.textContent = labels[i];
        caption.append(label);
      }
      if (predictions[i] !== undefined) {
        const pred = document.createElement("span");
        pred.className = "cvnb-pred";
        pred.textContent = `pred: ${predictions[i]}`;
        caption.append(pred);
        if (labels[i] !== undefined) {
          const right = predictions[i] === labels[i];
          item.classList.add(right ? "cvnb-right" : "cvnb-wrong");
          if (!right) wrong += 1;
        }
      }
      item.append(caption);
      item.title = [paths[i], captions[i]].filter(Boolean).join("\n");

      item.addEventListener("click", () => toggle(i));
      item.addEventListener("keydown", (event) => {
        if (event.key === " " || event.key === "Enter") {
          event.preventDefault();
          toggle(i);
        }
      });
      grid.append(item);
    });

    drawSelection();
  }

  function drawSelection() {
    const selected = new Set(model.get("selected") || []);
    for (const item of grid.children) {
      const isSelected = selected.has(Number(item.dataset.index));
      item.classList.toggle("selected", isSelected);
      item.setAttribute("aria-selected", String(isSelected));
    }
    const n = grid.children.length;
    const parts = [`${n} image${n === 1 ? "" : "s"}`];
    const predictions = model.get("predictions") || [];
    if (predictions.length && (model.get("labels") || []).length) parts.push(`${wrong} wrong`);
    if (selected.size) parts.push(`${selected.size} selected`);
    header.textContent = parts.join(" · ");
  }

  drawLayout();
  drawError();
  drawItems();

  const onItems = () => drawItems();
  const onSelection = () => drawSelection();
  const onLayout = () => drawLayout();
  const onError = () => drawError();
  for (const name of REDRAW_ON) model.on(`change:${name}`, onItems);
  model.on("change:selected", onSelection);
  model.on("change:columns", onLayout);
  model.on("change:thumb_size", onLayout);
  model.on("change:error", onError);

  return () => {
    for (const name of REDRAW_ON) model.off(`change:${name}`, onItems);
    model.off("change:selected", onSelection);
    model.off("change:columns", onLayout);
    model.off("change:thumb_size", onLayout);
    model.off("change:error", onError);
    revoke();
  };
}

export default { render };
