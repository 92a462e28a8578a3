// cvnb DatasetInspectorWidget front end: filters, a paged gallery with duplicate groups side
// by side, keyboard actions (x exclude, k keep, r relabel, u undo) and running counts.
// Plain ESM for anywidget (no bundler). Thumbnails arrive as binary buffers (DataView).
// Every change goes through synced traits; actions are requests in the `action` trait,
// which Python handles (writing the journal) and clears.

const DECISION_TEXT = { exclude: "excluded", relabel: "relabelled", keep: "kept" };
const COUNT_NAMES = ["shown", "flagged", "excluded", "relabelled", "kept"];

function toBlobUrl(data) {
  // ipywidgets delivers bytes as DataView; ArrayBuffer/typed arrays are accepted too.
  const view = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  if (bytes.length === 0) return null; // an unreadable file: drawn as a placeholder
  const type = bytes[0] === 0x89 && bytes[1] === 0x50 ? "image/png" : "image/jpeg";
  return URL.createObjectURL(new Blob([bytes], { type }));
}

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function labelled(text, control) {
  const wrap = make("label", "cvnb-insp-field");
  wrap.append(make("span", "", text), control);
  return wrap;
}

function setOptions(select, options, value) {
  // options: [value, text] pairs; rebuilt only when they differ, so focus is kept.
  const current = [...select.options].map((o) => `${o.value}\u0000${o.textContent}`).join("\n");
  const wanted = options.map(([v, t]) => `${v}\u0000${t}`).join("\n");
  if (current !== wanted) {
    select.replaceChildren(
      ...options.map(([v, t]) => {
        const option = make("option", "", t);
        option.value = v;
        return option;
      }),
    );
  }
  if (value !== undefined) select.value = value;
}

function render({ model, el }) {
  el.classList.add("cvnb-inspector");
  // Keys typed in the widget are ours: JupyterLab's notebook shortcuts (x = cut cell, k =
  // move up…) stop looking at elements inside this attribute.
  el.setAttribute("data-lm-suppress-shortcuts", "true");

  const error = make("div", "cvnb-error");
  error.setAttribute("role", "alert");

  const labelSelect = make("select", "cvnb-insp-label-filter");
  const splitSelect = make("select", "cvnb-insp-split-filter");
  const issueSelect = make("select", "cvnb-insp-issue-filter");
  const flaggedBox = make("input", "cvnb-insp-flagged-only");
  flaggedBox.type = "checkbox";
  const prev = make("button", "cvnb-insp-prev", "◀");
  const next = make("button", "cvnb-insp-next", "▶");
  prev.title = "previous page (PageUp)";
  next.title = "next page (PageDown)";
  const pageText = make("span", "cvnb-insp-page");
  const pager = make("span", "cvnb-insp-pager");
  pager.append(prev, pageText, next);
  const filters = make("div", "cvnb-insp-toolbar");
  filters.append(
    labelled("class", labelSelect),
    labelled("split", splitSelect),
    labelled("issue", issueSelect),
    labelled("flagged only", flaggedBox),
    pager,
  );

  const excludeButton = make("button", "cvnb-insp-exclude", "Exclude (x)");
  const keepButton = make("button", "cvnb-insp-keep", "Keep (k)");
  const relabelButton = make("button", "cvnb-insp-relabel", "Relabel (r)");
  const relabelSelect = make("select", "cvnb-insp-relabel-to");
  relabelSelect.title = "new label: arrows choose, Enter applies, Escape goes back";
  const undoButton = make("button", "cvnb-insp-undo", "Undo (u)");
  undoButton.title = "drop the journal's last entry";
  const counts = make("span", "cvnb-insp-counts");
  const actions = make("div", "cvnb-insp-actions");
  actions.append(excludeButton, keepButton, relabelButton, relabelSelect, undoButton, counts);

  const gallery = make("div", "cvnb-insp-gallery");
  gallery.setAttribute("role", "listbox");
  gallery.setAttribute("aria-label", "images; arrows move, x exclude, k keep, r relabel, u undo");
  const empty = make("div", "cvnb-insp-empty", "No images match these filters.");

  const balance = make("div", "cvnb-insp-balance");
  balance.setAttribute("aria-label", "images per class, before and after the journal");
  const plots = make("details", "cvnb-insp-plots");
  const plotImage = make("img", "cvnb-insp-plot");
  plotImage.alt = "image sizes and aspect ratios";
  plots.append(make("summary", "", "Image sizes and aspect ratios"), plotImage);

  const journal = make("div", "cvnb-insp-journal");
  el.append(error, filters, actions, gallery, empty, balance, plots, journal);

  let urls = [];
  let cards = [];
  let current = 0;
  let seq = 0;
  let shownImages = null;
  let plotUrl = null;
  const revoke = () => {
    for (const url of urls) URL.revokeObjectURL(url);
    urls = [];
  };

  const set = (name, value) => {
    model.set(name, value);
    model.save_changes();
  };

  function send(kind, extra = {}) {
    const items = model.get("items") || [];
    const request = { kind, seq: ++seq, ...extra };
    if (kind !== "undo") {
      if (!items.length) return;
      request.index = items[current].index;
    }
    set("action", request);
  }

  function markCurrent(pos) {
    // Roving tabindex: only the current card is in the tab order.
    current = Math.max(0, Math.min(cards.length - 1, pos));
    cards.forEach((card, i) => {
      card.tabIndex = i === current ? 0 : -1;
      card.classList.toggle("cvnb-insp-current", i === current);
    });
  }

  function focusCard(pos, { scroll = true } = {}) {
    if (!cards.length) return;
    markCurrent(pos);
    cards[current].focus({ preventScroll: !scroll });
  }

  function nearestVertical(direction) {
    // Groups make rows uneven, so up/down picks the nearest card above/below by geometry.
    const from = cards[current].getBoundingClientRect();
    const cx = from.left + from.width / 2;
    let best = null;
    let bestCost = Infinity;
    cards.forEach((card, i) => {
      const box = card.getBoundingClientRect();
      const dy = direction > 0 ? box.top - from.bottom : from.top - box.bottom;
      if (dy < -from.height / 2) return;
      if (i === current) return;
      const cost = Math.max(dy, 0) * 4 + Math.abs(box.left + box.width / 2 - cx);
      if (cost < bestCost) {
        bestCost = cost;
        best = i;
      }
    });
    return best ?? current;
  }

  function decide(kind) {
    const items = model.get("items") || [];
    if (!items.length) return;
    if (kind === "relabel") send("relabel", { label: relabelSelect.value });
    else send(kind);
    focusCard(current + 1);
  }

  function openRelabel() {
    const item = (model.get("items") || [])[current];
    if (!item) return;
    relabelSelect.value = item.suggested || item.new_label || item.label;
    relabelSelect.focus();
  }

  function changePage(delta) {
    const page = (model.get("page") || 0) + delta;
    if (page < 0 || page >= (model.get("n_pages") || 1)) return;
    set("page", page);
  }

  gallery.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || !cards.length) return;
    const key = event.key;
    const moves = {
      ArrowLeft: () => current - 1,
      ArrowRight: () => current + 1,
      ArrowUp: () => nearestVertical(-1),
      ArrowDown: () => nearestVertical(1),
      Home: () => 0,
      End: () => cards.length - 1,
    };
    if (moves[key]) focusCard(moves[key]());
    else if (key === "x" || key === "X") decide("exclude");
    else if (key === "k" || key === "K") decide("keep");
    else if (key === "r" || key === "R") openRelabel();
    else if (key === "u" || key === "U") send("undo");
    else if (key === "PageDown") changePage(1);
    else if (key === "PageUp") changePage(-1);
    else return;
    event.preventDefault();
    event.stopPropagation();
  });

  relabelSelect.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      // Step through the classes ourselves: some browsers open a popup list on arrows,
      // which would swallow the Enter that applies the choice.
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      const last = relabelSelect.options.length - 1;
      relabelSelect.selectedIndex = Math.max(0, Math.min(last, relabelSelect.selectedIndex + step));
    } else if (event.key === "Enter") {
      event.preventDefault();
      decide("relabel");
    } else if (event.key === "Escape") {
      event.preventDefault();
      focusCard(current);
    } else return;
    event.stopPropagation();
  });

  excludeButton.addEventListener("click", () => decide("exclude"));
  keepButton.addEventListener("click", () => decide("keep"));
  relabelButton.addEventListener("click", () => decide("relabel"));
  undoButton.addEventListener("click", () => send("undo"));
  prev.addEventListener("click", () => changePage(-1));
  next.addEventListener("click", () => changePage(1));
  labelSelect.addEventListener("change", () => set("label_filter", labelSelect.value));
  splitSelect.addEventListener("change", () => set("split_filter", splitSelect.value));
  issueSelect.addEventListener("change", () => set("issue_filter", issueSelect.value));
  flaggedBox.addEventListener("change", () => set("flagged_only", flaggedBox.checked));
  plots.addEventListener("toggle", () => {
    if (plots.open !== model.get("show_plots")) set("show_plots", plots.open);
  });

  function fillCard(card, item) {
    const decision = item.decision || "";
    for (const [kind, text] of Object.entries(DECISION_TEXT)) {
      card.classList.toggle(`cvnb-insp-${text}`, decision === kind);
    }
    card.dataset.decision = decision;
    card.dataset.path = item.path;
    const badge = card.querySelector(".cvnb-insp-badge");
    const relabelled = `→ ${item.new_label}`;
    badge.textContent = decision === "relabel" ? relabelled : DECISION_TEXT[decision] || "";
    badge.hidden = decision === "";
    card.querySelector(".cvnb-insp-label").textContent = item.label;
    const score = item.score === null || item.score === undefined ? "" : item.score.toFixed(3);
    const issue = item.issue ? item.issue.replaceAll("_", " ") : "no issue";
    card.querySelector(".cvnb-insp-issue").textContent = issue;
    card.querySelector(".cvnb-insp-meta").textContent = [item.split, score]
      .filter(Boolean)
      .join(" · ");
    const lines = [item.path, item.reason, item.suggested && `suggested: ${item.suggested}`];
    card.title = lines.filter(Boolean).join("\n");
    const state = decision ? `, ${DECISION_TEXT[decision]}` : "";
    card.setAttribute("aria-label", `${item.label}, ${issue} ${score}${state}`);
  }

  function makeCard(item, data, pos) {
    const card = make("figure", "cvnb-insp-item");
    card.dataset.pos = String(pos);
    card.setAttribute("role", "option");
    const url = toBlobUrl(data);
    if (url) {
      urls.push(url);
      const img = make("img");
      img.src = url;
      img.alt = item.label;
      img.draggable = false;
      card.append(img);
    } else {
      card.append(make("div", "cvnb-insp-missing", "unreadable"));
    }
    const caption = make("figcaption");
    caption.append(
      make("span", "cvnb-insp-label"),
      make("span", "cvnb-insp-issue"),
      make("span", "cvnb-insp-meta"),
    );
    card.append(make("span", "cvnb-insp-badge"), caption);
    card.addEventListener("click", () => focusCard(pos, { scroll: false }));
    fillCard(card, item);
    return card;
  }

  function drawGallery() {
    const images = model.get("images") || [];
    const items = model.get("items") || [];
    const sameLayout =
      images === shownImages &&
      items.length === cards.length &&
      items.every((item, i) => String(item.group) === cards[i].dataset.group);
    if (sameLayout) {
      items.forEach((item, i) => fillCard(cards[i], item));
      return;
    }
    const hadFocus = gallery.contains(document.activeElement);
    revoke();
    gallery.replaceChildren();
    cards = [];
    shownImages = images;
    let box = null;
    items.forEach((item, i) => {
      const card = makeCard(item, images[i] ?? new ArrayBuffer(0), i);
      card.dataset.group = String(item.group);
      cards.push(card);
      if (item.group < 0) {
        box = null;
        gallery.append(card);
        return;
      }
      if (!box || box.dataset.group !== String(item.group)) {
        box = make("div", "cvnb-insp-group");
        box.dataset.group = String(item.group);
        box.setAttribute("role", "group");
        box.setAttribute("aria-label", `duplicate group ${item.group}`);
        gallery.append(box);
      }
      box.append(card);
    });
    empty.hidden = items.length > 0;
    // A new page starts at its first image; focus moves only if it was in the gallery.
    if (cards.length) markCurrent(0);
    if (hadFocus) focusCard(current, { scroll: false });
  }

  function drawControls() {
    const choices = (name) => [["all", "all"], ...(model.get(name) || []).map((c) => [c, c])];
    setOptions(labelSelect, choices("classes"), model.get("label_filter"));
    setOptions(splitSelect, choices("splits"), model.get("split_filter"));
    const flagged = model.get("issue_counts") || {};
    const shownFlagged = (model.get("counts") || {}).flagged;
    const issues = [
      ["any", `any issue${shownFlagged === undefined ? "" : ` (${shownFlagged})`}`],
      ["all", "all images"],
      ...(model.get("issues") || []).map((i) => [i, `${i} (${flagged[i] ?? 0})`]),
    ];
    setOptions(issueSelect, issues, model.get("issue_filter"));
    setOptions(relabelSelect, (model.get("classes") || []).map((c) => [c, c]));
    flaggedBox.checked = model.get("flagged_only");
    flaggedBox.disabled = ["any", "all"].includes(model.get("issue_filter"));
    const page = model.get("page") || 0;
    const pages = model.get("n_pages") || 1;
    pageText.textContent = `page ${page + 1} / ${pages}`;
    prev.disabled = page <= 0;
    next.disabled = page >= pages - 1;
    const values = model.get("counts") || {};
    counts.replaceChildren(
      ...COUNT_NAMES.map((name) => {
        const text = `${name} ${values[name] ?? 0}`;
        const part = make("span", `cvnb-insp-count cvnb-insp-count-${name}`, text);
        part.dataset.count = name;
        return part;
      }),
    );
    journal.textContent = `journal: ${model.get("journal_path") || "(none)"}`;
  }

  function drawBalance() {
    // One row per class: grey bar = before the journal, coloured bar = after.
    const rows = model.get("class_counts") || [];
    const most = Math.max(1, ...rows.map((r) => Math.max(r.before, r.after)));
    const title = make("div", "cvnb-insp-balance-title", "class balance: before → after journal");
    balance.replaceChildren(
      title,
      ...rows.map((row) => {
        const line = make("div", "cvnb-insp-balance-row");
        line.dataset.label = row.label;
        const bars = make("span", "cvnb-insp-bars");
        const before = make("span", "cvnb-insp-bar-before");
        const after = make("span", "cvnb-insp-bar-after");
        before.style.width = `${(100 * row.before) / most}%`;
        after.style.width = `${(100 * row.after) / most}%`;
        bars.append(before, after);
        const text = row.before === row.after ? `${row.before}` : `${row.before} → ${row.after}`;
        line.append(
          make("span", "cvnb-insp-balance-label", row.label),
          bars,
          make("span", "cvnb-insp-balance-n", text),
        );
        return line;
      }),
    );
    balance.hidden = rows.length === 0;
  }

  function drawError() {
    const message = model.get("error") || "";
    error.textContent = message;
    error.hidden = message === "";
  }

  function drawPlot() {
    if (plotUrl) URL.revokeObjectURL(plotUrl);
    const data = model.get("plot_png");
    plotUrl = data ? toBlobUrl(data) : null;
    plotImage.hidden = !plotUrl;
    if (plotUrl) plotImage.src = plotUrl;
    plots.open = Boolean(model.get("show_plots"));
  }

  function drawLayout() {
    gallery.style.setProperty("--cvnb-thumb", `${Math.max(16, model.get("thumb_size") || 96)}px`);
  }

  // Changes arrive trait by trait; one redraw per burst of messages.
  let scheduled = false;
  function redraw() {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      drawLayout();
      drawControls();
      drawGallery();
    });
  }

  drawError();
  drawBalance();
  drawPlot();
  drawLayout();
  drawControls();
  drawGallery();

  const CONTROL_TRAITS = [
    "images", "items", "counts", "page", "n_pages", "classes", "splits", "issues",
    "issue_counts", "label_filter", "split_filter", "issue_filter", "flagged_only",
    "thumb_size", "journal_path",
  ];
  for (const name of CONTROL_TRAITS) model.on(`change:${name}`, redraw);
  model.on("change:error", drawError);
  model.on("change:class_counts", drawBalance);
  model.on("change:plot_png", drawPlot);
  model.on("change:show_plots", drawPlot);

  return () => {
    for (const name of CONTROL_TRAITS) model.off(`change:${name}`, redraw);
    model.off("change:error", drawError);
    model.off("change:class_counts", drawBalance);
    model.off("change:plot_png", drawPlot);
    model.off("change:show_plots", drawPlot);
    revoke();
    if (plotUrl) URL.revokeObjectURL(plotUrl);
  };
}

export default { render };
