/* topolens Mapper explorer: vanilla JavaScript, no dependencies, no network access.
 * Inlined into the HTML by topolens.viz.mapper_html.render_explorer; the data is read from
 * the JSON data element with id "payload". Every text coming from the
 * payload is inserted with textContent / createTextNode, never parsed as HTML. */
(function () {
  "use strict";

  const LABEL_ROWS = 10;
  const NEURON_ROWS = 10;
  const MEMBERS_SHOWN = 50;
  const OVERLAP_ROWS = 5;
  const LEGEND_LABELS = 20;
  const TAU = Math.PI * 2;
  const PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#1f5f9e", "#b6992d", "#8cd17d", "#499894", "#d37295",
    "#86bcb6", "#f1ce63", "#d4a6c8", "#9d7660", "#79706e",
  ];
  const VIRIDIS = [
    "#440154", "#482878", "#3e4989", "#31688e", "#26828e",
    "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725",
  ];
  const NULL_COLOR = "#c9cdd4";
  const OVERLAP_LO = [253, 190, 110];
  const OVERLAP_HI = [200, 30, 20];

  // ------------------------------------------------------------------ data
  const payload = JSON.parse(document.getElementById("payload").textContent);
  const labelsInfo = payload.labels || {};
  const labelNames = Array.isArray(labelsInfo.names) ? labelsInfo.names.map(String) : [];
  const labelOfInput = Array.isArray(labelsInfo.of_input) ? labelsInfo.of_input : null;
  const predictions = Array.isArray(payload.predictions) ? payload.predictions : null;
  const images = payload.images || null;

  const state = { layout: "precomputed", color: "pie", threshold: 0, query: "", selection: null };
  const views = [];
  let frameRequested = false;
  let firstFrameDone = false;

  // ------------------------------------------------------------------ helpers
  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmt(v) {
    if (v === null || v === undefined) return "n/a";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
    return String(parseFloat(v.toPrecision(3)));
  }

  function pct(part, whole) { return whole > 0 ? (100 * part) / whole : 0; }

  function labelName(i) {
    return i >= 0 && i < labelNames.length ? labelNames[i] : "label " + i;
  }

  function labelColor(i) { return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length]; }

  function hexToRgb(h) {
    const v = parseInt(h.slice(1), 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  }

  const VIRIDIS_RGB = VIRIDIS.map(hexToRgb);

  function mix(a, b, t) {
    return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
  }

  function rgb(c) {
    return "rgb(" + Math.round(c[0]) + "," + Math.round(c[1]) + "," + Math.round(c[2]) + ")";
  }

  function sequential(t) {
    const n = VIRIDIS_RGB.length;
    const q = Math.round(Math.min(1, Math.max(0, t)) * 63) / 63; // 64 levels
    const p = q * (n - 1);
    const i = Math.min(Math.floor(p), n - 2);
    return rgb(mix(VIRIDIS_RGB[i], VIRIDIS_RGB[i + 1], p - i));
  }

  function overlapColor(t) { return rgb(mix(OVERLAP_LO, OVERLAP_HI, Math.min(1, Math.max(0, t)))); }

  function finiteOrNull(v) { return typeof v === "number" && isFinite(v) ? v : null; }

  // ------------------------------------------------------------------ thumbnails
  let imageBytes = null;
  const imagePos = new Map();
  if (images && typeof images.data === "string") {
    const bin = atob(images.data);
    imageBytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) imageBytes[i] = bin.charCodeAt(i);
    images.index.forEach(function (input, k) { imagePos.set(input, k); });
  }

  function makeThumb(input) {
    const k = imagePos.get(input);
    if (k === undefined || imageBytes === null) return null;
    const h = images.height, w = images.width, c = images.channels;
    const src = document.createElement("canvas");
    src.width = w;
    src.height = h;
    const sctx = src.getContext("2d");
    const img = sctx.createImageData(w, h);
    const base = k * h * w * c;
    for (let p = 0; p < h * w; p++) {
      const o = base + p * c;
      const r = imageBytes[o];
      img.data[4 * p] = r;
      img.data[4 * p + 1] = c === 3 ? imageBytes[o + 1] : r;
      img.data[4 * p + 2] = c === 3 ? imageBytes[o + 2] : r;
      img.data[4 * p + 3] = 255;
    }
    sctx.putImageData(img, 0, 0);
    // at least 2x, more for tiny images, so that a thumbnail is about 56 px wide
    const zoom = Math.max(2, Math.round(56 / Math.max(w, h)));
    const out = document.createElement("canvas");
    out.className = "thumb";
    out.width = w * zoom;
    out.height = h * zoom;
    const octx = out.getContext("2d");
    octx.imageSmoothingEnabled = false;
    octx.drawImage(src, 0, 0, w * zoom, h * zoom);
    return out;
  }

  // ------------------------------------------------------------------ one graph
  class LayerView {
    constructor(li, layer, parent) {
      this.li = li;
      this.layer = layer;
      this.name = String(layer.name);
      this.nodes = layer.nodes;
      const n = this.nodes.length;
      this.n = n;
      this.nInputs = layer.n_inputs | 0;
      this.idIndex = new Map();
      this.px = new Float64Array(n);
      this.py = new Float64Array(n);
      this.size = new Int32Array(n);
      this.lcTotal = new Float64Array(n);
      let sMin = Infinity;
      let sMax = -Infinity;
      for (let i = 0; i < n; i++) {
        const node = this.nodes[i];
        this.idIndex.set(node.id, i);
        this.px[i] = +node.x;
        this.py[i] = 1 - node.y; // payload y points up, the canvas y points down
        this.size[i] = node.members.length;
        const s = Math.sqrt(this.size[i]);
        if (s < sMin) sMin = s;
        if (s > sMax) sMax = s;
        let t = 0;
        for (const pair of node.label_counts || []) t += pair[1];
        this.lcTotal[i] = t;
      }
      this.x = Float64Array.from(this.px);
      this.y = Float64Array.from(this.py);
      this.rMax = Math.max(6, Math.min(18, 150 / Math.sqrt(Math.max(n, 1))));
      const rMin = Math.max(2, this.rMax * 0.3);
      this.baseR = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const t = sMax > sMin ? (Math.sqrt(this.size[i]) - sMin) / (sMax - sMin) : 0.5;
        this.baseR[i] = rMin + (this.rMax - rMin) * t;
      }
      const edges = layer.edges;
      const m = edges.length;
      this.m = m;
      this.es = new Int32Array(m);
      this.et = new Int32Array(m);
      this.ej = new Float64Array(m);
      this.degree = new Int32Array(n);
      for (let e = 0; e < m; e++) {
        this.es[e] = this.idIndex.get(edges[e][0]);
        this.et[e] = this.idIndex.get(edges[e][1]);
        this.ej[e] = +edges[e][3];
        this.degree[this.es[e]]++;
        this.degree[this.et[e]]++;
      }
      this.visibleEdgeCount = m;
      this.fill = new Array(n).fill(null);
      this.searchMask = null;
      this.matchCount = 0;
      this.shared = null;
      this.overlap = null;
      this.csr = null;
      this.hover = -1;
      this.scale = 1;
      this.fitScale = 1;
      this.tx = 0;
      this.ty = 0;
      this.userMoved = false;
      this.W = 0;
      this.H = 0;
      this.dpr = 1;
      this.dirty = true;
      this.sim = null;
      this.forceCache = null;
      this.atlas = null;
      this.drag = null;
      this.buildDom(parent);
      this.bindEvents();
    }

    buildDom(parent) {
      const panel = el("section", "graph-panel");
      const head = el("div", "graph-head");
      const nameEl = el("h2", "graph-name", this.name);
      nameEl.title = this.name;
      const status = el("div", "graph-status");
      this.statusEl = el("span", "status",
        this.n + " node" + (this.n === 1 ? "" : "s") + ", " + this.m + " edge" + (this.m === 1 ? "" : "s"));
      this.statusExtra = el("span", "status-extra", "");
      status.append(this.statusEl, this.statusExtra);
      head.append(nameEl, status);
      this.wrap = el("div", "canvas-wrap");
      this.canvas = document.createElement("canvas");
      this.canvas.setAttribute("aria-label", "Mapper graph of " + this.name);
      this.canvas.setAttribute("role", "img");
      this.wrap.append(this.canvas);
      this.legend = el("div", "legend");
      panel.append(head, this.wrap, this.legend);
      parent.append(panel);
      this.panel = panel;
      this.ctx = this.canvas.getContext("2d");
    }

    // ---------------------------------------------------------------- view transform
    // The canvas is sized from its container. A document that is not laid out yet (an iframe
    // out of view, a print preview) can report an empty box: then fall back on the panel's and
    // the window's size, so the graph is drawn at a real size in every case, never 1x1.
    resize() {
      const rect = this.wrap.getBoundingClientRect();
      let W = Math.round(rect.width || this.wrap.clientWidth || this.panel.clientWidth);
      let H = Math.round(rect.height || this.wrap.clientHeight);
      if (!(W > 1)) W = Math.max(320, Math.round((window.innerWidth || 960) / Math.max(1, views.length)));
      if (!(H > 1)) H = Math.max(200, Math.round((window.innerHeight || 600) * 0.6));
      const dpr = window.devicePixelRatio || 1;
      if (W === this.W && H === this.H && dpr === this.dpr) return;
      this.W = W;
      this.H = H;
      this.dpr = dpr;
      this.canvas.width = Math.round(W * dpr);
      this.canvas.height = Math.round(H * dpr);
      if (!this.userMoved) this.fit();
      this.dirty = true;
      requestFrame();
    }

    fit() {
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (let i = 0; i < this.n; i++) {
        if (this.x[i] < x0) x0 = this.x[i];
        if (this.x[i] > x1) x1 = this.x[i];
        if (this.y[i] < y0) y0 = this.y[i];
        if (this.y[i] > y1) y1 = this.y[i];
      }
      if (this.n === 0) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
      const bw = Math.max(x1 - x0, 1e-3);
      const bh = Math.max(y1 - y0, 1e-3);
      const pad = 14 + this.rMax;
      const s = Math.max(1e-6, Math.min((this.W - 2 * pad) / bw, (this.H - 2 * pad) / bh));
      this.scale = s;
      this.fitScale = s;
      this.tx = (this.W - (x0 + x1) * s) / 2;
      this.ty = (this.H - (y0 + y1) * s) / 2;
      this.dirty = true;
    }

    // node radii grow with the square root of the zoom, in 5 % steps (pie sprites are cached)
    zoomFactor() {
      const z = Math.min(4, Math.max(0.5, Math.sqrt(this.scale / this.fitScale)));
      return Math.round(z * 20) / 20;
    }

    sx(i) { return this.x[i] * this.scale + this.tx; }

    sy(i) { return this.y[i] * this.scale + this.ty; }

    hitTest(mx, my) {
      const zf = this.zoomFactor();
      let best = -1;
      let bestD = Infinity;
      for (let i = 0; i < this.n; i++) {
        const dx = this.sx(i) - mx;
        const dy = this.sy(i) - my;
        const d = dx * dx + dy * dy;
        const r = this.baseR[i] * zf + 3;
        if (d <= r * r && d < bestD) { best = i; bestD = d; }
      }
      return best;
    }

    // ---------------------------------------------------------------- events
    bindEvents() {
      const c = this.canvas;
      const local = (e) => {
        const r = c.getBoundingClientRect();
        return [e.clientX - r.left, e.clientY - r.top];
      };
      c.addEventListener("pointerdown", (e) => {
        if (e.button !== 0) return;
        c.setPointerCapture(e.pointerId);
        this.drag = { x0: e.clientX, y0: e.clientY, tx0: this.tx, ty0: this.ty, moved: false };
      });
      c.addEventListener("pointermove", (e) => {
        const d = this.drag;
        if (d) {
          const dx = e.clientX - d.x0;
          const dy = e.clientY - d.y0;
          if (!d.moved && dx * dx + dy * dy > 9) {
            d.moved = true;
            c.classList.add("panning");
            hideTooltip();
          }
          if (d.moved) {
            this.tx = d.tx0 + dx;
            this.ty = d.ty0 + dy;
            this.userMoved = true;
            this.dirty = true;
            requestFrame();
          }
          return;
        }
        const [mx, my] = local(e);
        const hit = this.hitTest(mx, my);
        if (hit !== this.hover) {
          this.hover = hit;
          this.dirty = true;
          requestFrame();
        }
        c.classList.toggle("on-node", hit >= 0);
        if (hit >= 0) showTooltip(this, hit, e.clientX, e.clientY);
        else hideTooltip();
      });
      const end = (e) => {
        const d = this.drag;
        this.drag = null;
        c.classList.remove("panning");
        if (c.hasPointerCapture(e.pointerId)) c.releasePointerCapture(e.pointerId);
        if (!d || d.moved || e.type !== "pointerup") return;
        const [mx, my] = local(e);
        const hit = this.hitTest(mx, my);
        if (hit >= 0) selectNode(this.li, hit);
        else clearSelection();
      };
      c.addEventListener("pointerup", end);
      c.addEventListener("pointercancel", end);
      c.addEventListener("pointerleave", () => {
        if (this.hover !== -1) {
          this.hover = -1;
          this.dirty = true;
          requestFrame();
        }
        hideTooltip();
      });
      c.addEventListener("wheel", (e) => {
        e.preventDefault();
        const [mx, my] = local(e);
        const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
        let k = Math.exp(-e.deltaY * unit * 0.0015);
        const target = Math.min(this.fitScale * 60, Math.max(this.fitScale * 0.2, this.scale * k));
        k = target / this.scale;
        this.tx = mx - (mx - this.tx) * k;
        this.ty = my - (my - this.ty) * k;
        this.scale = target;
        this.userMoved = true;
        this.dirty = true;
        hideTooltip();
        requestFrame();
      }, { passive: false });
      c.addEventListener("dblclick", () => {
        this.userMoved = false;
        this.fit();
        requestFrame();
      });
    }

    // ---------------------------------------------------------------- state updates
    updateStatus() {
      const parts = [];
      if (state.threshold > 0) parts.push(this.visibleEdgeCount + " shown");
      if (this.searchMask !== null) parts.push(this.matchCount + " match");
      this.statusExtra.textContent = parts.length ? " \u00b7 " + parts.join(" \u00b7 ") : "";
    }

    applyThreshold() {
      let c = 0;
      for (let e = 0; e < this.m; e++) if (this.ej[e] >= state.threshold) c++;
      this.visibleEdgeCount = c;
      this.updateStatus();
      this.dirty = true;
    }

    applySearch(matches) {
      if (matches === null) {
        this.searchMask = null;
        this.matchCount = 0;
      } else {
        const mask = new Uint8Array(this.n);
        let count = 0;
        for (let i = 0; i < this.n; i++) {
          for (const pair of this.nodes[i].label_counts || []) {
            if (pair[1] > 0 && matches(pair[0])) { mask[i] = 1; count++; break; }
          }
        }
        this.searchMask = mask;
        this.matchCount = count;
      }
      this.updateStatus();
      this.dirty = true;
    }

    applyColor() {
      const mode = state.color;
      this.legend.replaceChildren();
      if (mode === "pie") {
        this.fill.fill(null);
        const totals = new Map();
        for (const node of this.nodes) {
          for (const pair of node.label_counts || []) {
            totals.set(pair[0], (totals.get(pair[0]) || 0) + pair[1]);
          }
        }
        // the LEGEND_LABELS most frequent classes, listed in class order (by class code), so
        // that every layer's legend reads the same way
        const frequent = Array.from(totals.keys()).sort((a, b) => totals.get(b) - totals.get(a) || a - b);
        const order = frequent.slice(0, LEGEND_LABELS).sort((a, b) => a - b);
        if (order.length === 0) this.legend.append(el("span", null, "no label counts in this layer"));
        for (const lab of order) {
          const item = el("span", "legend-item");
          const sw = el("span", "swatch");
          sw.style.background = labelColor(lab);
          const txt = el("span", "legend-label", labelName(lab));
          txt.title = labelName(lab);
          item.append(sw, txt);
          this.legend.append(item);
        }
        if (frequent.length > LEGEND_LABELS) {
          this.legend.append(el("span", null, "+" + (frequent.length - LEGEND_LABELS) + " more"));
        }
      } else {
        const vals = this.nodes.map((node) => finiteOrNull(node.stats ? node.stats[mode] : null));
        let lo = Infinity, hi = -Infinity, nulls = 0;
        for (const v of vals) {
          if (v === null) { nulls++; continue; }
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        for (let i = 0; i < this.n; i++) {
          const v = vals[i];
          this.fill[i] = v === null ? NULL_COLOR : sequential(hi > lo ? (v - lo) / (hi - lo) : 0.5);
        }
        const item = el("span", "legend-item");
        item.append(el("span", "legend-stat", mode));
        if (lo <= hi) {
          const ramp = el("span", "ramp");
          ramp.style.background = "linear-gradient(to right, " + VIRIDIS.join(", ") + ")";
          item.append(el("span", "legend-num", fmt(lo)), ramp, el("span", "legend-num", fmt(hi)));
        } else {
          item.append(el("span", null, "no values in this layer"));
        }
        this.legend.append(item);
        if (nulls > 0) {
          const ni = el("span", "legend-item");
          const sw = el("span", "swatch");
          sw.style.background = NULL_COLOR;
          ni.append(sw, el("span", null, "n/a (" + nulls + ")"));
          this.legend.append(ni);
        }
      }
      this.dirty = true;
    }

    ensureCsr() {
      if (this.csr) return this.csr;
      const nIn = this.nInputs;
      const off = new Int32Array(nIn + 1);
      for (const node of this.nodes) {
        for (const m of node.members) if (m >= 0 && m < nIn) off[m + 1]++;
      }
      for (let i = 0; i < nIn; i++) off[i + 1] += off[i];
      const list = new Int32Array(off[nIn]);
      const cur = off.slice(0, nIn);
      for (let k = 0; k < this.n; k++) {
        for (const m of this.nodes[k].members) if (m >= 0 && m < nIn) list[cur[m]++] = k;
      }
      this.csr = { off: off, list: list };
      return this.csr;
    }

    computeOverlap(members) {
      const csr = this.ensureCsr();
      const shared = new Int32Array(this.n);
      for (const m of members) {
        if (m < 0 || m >= this.nInputs) continue;
        for (let k = csr.off[m]; k < csr.off[m + 1]; k++) shared[csr.list[k]]++;
      }
      const total = members.length;
      const overlap = new Float64Array(this.n);
      for (let i = 0; i < this.n; i++) overlap[i] = total > 0 ? shared[i] / total : 0;
      this.shared = shared;
      this.overlap = overlap;
      this.dirty = true;
    }

    clearOverlap() {
      this.shared = null;
      this.overlap = null;
      this.dirty = true;
    }

    // ---------------------------------------------------------------- force layout
    startForce() {
      if (this.forceCache) {
        this.sim = null;
        this.x.set(this.forceCache[0]);
        this.y.set(this.forceCache[1]);
        this.fit();
        return;
      }
      const n = this.n;
      this.x.set(this.px);
      this.y.set(this.py);
      if (n < 2) {
        this.sim = null;
        this.forceCache = [Float64Array.from(this.x), Float64Array.from(this.y)];
        this.fit();
        return;
      }
      // deterministic jitter separates nodes that share a position
      for (let i = 0; i < n; i++) {
        this.x[i] += 1e-4 * (((i * 7919) % 101) / 101 - 0.5);
        this.y[i] += 1e-4 * (((i * 104729) % 103) / 103 - 0.5);
      }
      const k = 0.9 * Math.sqrt(1 / Math.max(n, 1));
      this.sim = {
        iter: 0,
        maxIter: n > 500 ? 220 : 300,
        k: k,
        temp0: 0.08,
        dx: new Float64Array(n),
        dy: new Float64Array(n),
        cellOf: new Int32Array(n),
        order: new Int32Array(n),
      };
    }

    stepForce() {
      const sim = this.sim;
      const n = this.n, X = this.x, Y = this.y, DX = sim.dx, DY = sim.dy;
      const k = sim.k, k2 = k * k, cell = 2 * k, cut2 = cell * cell;
      DX.fill(0);
      DY.fill(0);
      // repulsion, approximated by the nodes of the 3 x 3 neighbouring grid cells
      // (cells of side >= 2k, nodes sorted by cell with a counting sort)
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (let i = 0; i < n; i++) {
        if (X[i] < x0) x0 = X[i];
        if (X[i] > x1) x1 = X[i];
        if (Y[i] < y0) y0 = Y[i];
        if (Y[i] > y1) y1 = Y[i];
      }
      const cw = Math.max(cell, (x1 - x0) / 255 + 1e-9);
      const ch = Math.max(cell, (y1 - y0) / 255 + 1e-9);
      const gw = Math.floor((x1 - x0) / cw) + 1;
      const gh = Math.floor((y1 - y0) / ch) + 1;
      const cellOf = sim.cellOf, order = sim.order;
      const start = new Int32Array(gw * gh + 1);
      for (let i = 0; i < n; i++) {
        const c = Math.floor((Y[i] - y0) / ch) * gw + Math.floor((X[i] - x0) / cw);
        cellOf[i] = c;
        start[c + 1]++;
      }
      for (let c = 0; c < gw * gh; c++) start[c + 1] += start[c];
      const cursor = start.slice(0, gw * gh);
      for (let i = 0; i < n; i++) order[cursor[cellOf[i]]++] = i;
      for (let i = 0; i < n; i++) {
        const gx0 = cellOf[i] % gw, gy0 = (cellOf[i] - gx0) / gw;
        const xi = X[i], yi = Y[i];
        let fx = 0, fy = 0;
        for (let gy = Math.max(0, gy0 - 1); gy <= Math.min(gh - 1, gy0 + 1); gy++) {
          for (let gx = Math.max(0, gx0 - 1); gx <= Math.min(gw - 1, gx0 + 1); gx++) {
            const c = gy * gw + gx;
            for (let q = start[c]; q < start[c + 1]; q++) {
              const j = order[q];
              if (j === i) continue;
              let dx = xi - X[j], dy = yi - Y[j];
              let d2 = dx * dx + dy * dy;
              if (d2 > cut2) continue;
              if (d2 < 1e-12) { dx = 1e-6 * (i - j); dy = 1e-6; d2 = dx * dx + dy * dy; }
              const f = k2 / d2;
              fx += dx * f;
              fy += dy * f;
            }
          }
        }
        DX[i] += fx;
        DY[i] += fy;
      }
      // springs along the edges
      for (let e = 0; e < this.m; e++) {
        const a = this.es[e], b = this.et[e];
        if (a === b) continue;
        const dx = X[a] - X[b], dy = Y[a] - Y[b];
        const d = Math.sqrt(dx * dx + dy * dy);
        const f = (d / k) * (0.5 + this.ej[e]);
        DX[a] -= dx * f; DY[a] -= dy * f;
        DX[b] += dx * f; DY[b] += dy * f;
      }
      // centring and cooling
      const g = 1.5 * k;
      const temp = sim.temp0 * (1 - sim.iter / sim.maxIter) + 0.002;
      for (let i = 0; i < n; i++) {
        DX[i] += (0.5 - X[i]) * g;
        DY[i] += (0.5 - Y[i]) * g;
        const len = Math.sqrt(DX[i] * DX[i] + DY[i] * DY[i]);
        if (len > 0) {
          const step = Math.min(len, temp) / len;
          X[i] += DX[i] * step;
          Y[i] += DY[i] * step;
        }
      }
      sim.iter++;
      if (sim.iter >= sim.maxIter) {
        this.sim = null;
        this.forceCache = [Float64Array.from(X), Float64Array.from(Y)];
      }
      if (!this.userMoved) this.fit();
      this.dirty = true;
    }

    // ---------------------------------------------------------------- drawing
    nodeDimmed(i, crossActive) {
      return (this.searchMask !== null && !this.searchMask[i]) ||
        (crossActive && this.shared[i] === 0);
    }

    // Add the shapes of node i to per-colour paths (a pie: one wedge per label).
    addNodeShapes(groups, i, x, y, r) {
      const path = (color) => {
        let p = groups.get(color);
        if (!p) { p = new Path2D(); groups.set(color, p); }
        return p;
      };
      const c = this.fill[i];
      const lc = this.nodes[i].label_counts || [];
      const total = this.lcTotal[i];
      if (c !== null || total <= 0 || lc.length === 0 || lc[0][1] >= total || r < 2.5) {
        const p = path(c !== null ? c : total > 0 && lc.length ? labelColor(lc[0][0]) : NULL_COLOR);
        p.moveTo(x + r, y);
        p.arc(x, y, r, 0, TAU);
        return;
      }
      let a = -Math.PI / 2;
      for (const pair of lc) {
        if (pair[1] <= 0) continue;
        const da = (TAU * pair[1]) / total;
        const p = path(labelColor(pair[0]));
        p.moveTo(x, y);
        p.arc(x, y, r, a, a + da);
        p.closePath();
        a += da;
      }
    }

    // Pies of every node drawn once into an atlas at the current radii (device pixels);
    // drawing a node is then a single drawImage. Null when the atlas would be too large.
    pieAtlas(zf) {
      const key = zf + "/" + this.dpr;
      if (this.atlas && this.atlas.key === key) return this.atlas.canvas ? this.atlas : null;
      const dpr = this.dpr, AW = 2048;
      const pos = new Float64Array(this.n * 3);
      let x = 0, y = 0, rowH = 0;
      for (let i = 0; i < this.n; i++) {
        const size = Math.ceil((2 * this.baseR[i] * zf + 2) * dpr) + 2;
        if (x + size > AW) { x = 0; y += rowH; rowH = 0; }
        pos[3 * i] = x;
        pos[3 * i + 1] = y;
        pos[3 * i + 2] = size;
        x += size;
        rowH = Math.max(rowH, size);
      }
      const AH = y + rowH;
      if (AH > 4096 || AH === 0) {
        this.atlas = { key: key, canvas: null };
        return null;
      }
      const canvas = document.createElement("canvas");
      canvas.width = AW;
      canvas.height = AH;
      const ctx = canvas.getContext("2d");
      ctx.scale(dpr, dpr);
      const groups = new Map();
      const outline = new Path2D();
      for (let i = 0; i < this.n; i++) {
        const half = pos[3 * i + 2] / 2;
        const cx = (pos[3 * i] + half) / dpr, cy = (pos[3 * i + 1] + half) / dpr;
        const r = this.baseR[i] * zf;
        this.addNodeShapes(groups, i, cx, cy, r);
        outline.moveTo(cx + r, cy);
        outline.arc(cx, cy, r, 0, TAU);
      }
      for (const [color, p] of groups) {
        ctx.fillStyle = color;
        ctx.fill(p);
      }
      ctx.lineWidth = 1;
      ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
      ctx.stroke(outline);
      this.atlas = { key: key, canvas: canvas, pos: pos };
      return this.atlas;
    }

    // Draw the given nodes. Small sets are drawn node by node (exact stacking order); large
    // ones are batched by colour, which is much faster for pies (a few fills in all).
    drawNodes(ctx, list, zf) {
      const atlas = state.color === "pie" ? this.pieAtlas(zf) : null;
      if (atlas !== null) {
        const dpr = this.dpr, pos = atlas.pos;
        for (const i of list) {
          const size = pos[3 * i + 2];
          const dx = Math.round(this.sx(i) * dpr - size / 2) / dpr;
          const dy = Math.round(this.sy(i) * dpr - size / 2) / dpr;
          ctx.drawImage(atlas.canvas, pos[3 * i], pos[3 * i + 1], size, size, dx, dy, size / dpr, size / dpr);
        }
        return;
      }
      const batched = list.length > 300;
      let groups = new Map();
      const flush = () => {
        for (const [color, p] of groups) {
          ctx.fillStyle = color;
          ctx.fill(p);
        }
        groups = new Map();
      };
      const outline = new Path2D();
      for (const i of list) {
        const x = this.sx(i), y = this.sy(i), r = this.baseR[i] * zf;
        this.addNodeShapes(groups, i, x, y, r);
        if (batched) {
          outline.moveTo(x + r, y);
          outline.arc(x, y, r, 0, TAU);
        } else {
          flush();
          ctx.beginPath();
          ctx.arc(x, y, r, 0, TAU);
          ctx.stroke();
        }
      }
      if (batched) {
        flush();
        ctx.stroke(outline);
      }
    }

    draw() {
      this.dirty = false;
      const ctx = this.ctx, W = this.W, H = this.H;
      ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      ctx.clearRect(0, 0, W, H);
      const zf = this.zoomFactor();
      const sel = state.selection;
      const selIdx = sel !== null && sel.li === this.li ? sel.idx : -1;
      const crossActive = sel !== null && sel.li !== this.li && this.shared !== null;
      // edges: three width classes by jaccard, normal and faded
      const paths = [];
      for (let p = 0; p < 6; p++) paths.push(new Path2D());
      const incident = new Path2D();
      const widths = [0.7, 1.4, 2.4];
      for (let e = 0; e < this.m; e++) {
        const j = this.ej[e];
        if (j < state.threshold) continue;
        const a = this.es[e], b = this.et[e];
        const ax = this.sx(a), ay = this.sy(a), bx = this.sx(b), by = this.sy(b);
        if ((ax < 0 && bx < 0) || (ax > W && bx > W) || (ay < 0 && by < 0) || (ay > H && by > H)) continue;
        let path;
        if (a === selIdx || b === selIdx) path = incident;
        else {
          const faded = this.nodeDimmed(a, crossActive) || this.nodeDimmed(b, crossActive);
          path = paths[(j < 0.2 ? 0 : j < 0.5 ? 1 : 2) + (faded ? 3 : 0)];
        }
        path.moveTo(ax, ay);
        path.lineTo(bx, by);
      }
      // thick strokes are costly to rasterise without a GPU: many edges get hairlines whose
      // opacity, rather than width, grows with the jaccard similarity
      const thin = this.visibleEdgeCount > 800;
      const alphas = thin ? [0.22, 0.38, 0.6] : [0.42, 0.42, 0.42];
      ctx.lineCap = "round";
      for (let p = 0; p < 6; p++) {
        ctx.lineWidth = thin ? 1 : widths[p % 3];
        ctx.strokeStyle = "rgba(84, 94, 114, " + (p < 3 ? alphas[p] : 0.08) + ")";
        ctx.stroke(paths[p]);
      }
      ctx.lineWidth = 2;
      ctx.strokeStyle = "rgba(20, 24, 32, 0.85)";
      ctx.stroke(incident);
      // nodes (dimmed ones first so that the highlighted ones stay on top)
      ctx.lineWidth = 1;
      ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
      const dim = [], lit = [];
      for (let i = 0; i < this.n; i++) {
        const x = this.sx(i), y = this.sy(i), r = this.baseR[i] * zf;
        if (x + r < 0 || x - r > W || y + r < 0 || y - r > H) continue;
        (this.nodeDimmed(i, crossActive) ? dim : lit).push(i);
      }
      ctx.globalAlpha = 0.16;
      this.drawNodes(ctx, dim, zf);
      ctx.globalAlpha = 1;
      this.drawNodes(ctx, lit, zf);
      ctx.globalAlpha = 1;
      // search matches: thin dark ring
      if (this.searchMask !== null) {
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = "#1d2330";
        ctx.beginPath();
        for (let i = 0; i < this.n; i++) {
          if (!this.searchMask[i]) continue;
          const x = this.sx(i), y = this.sy(i), r = this.baseR[i] * zf + 1.5;
          ctx.moveTo(x + r, y);
          ctx.arc(x, y, r, 0, TAU);
        }
        ctx.stroke();
      }
      // cross-layer overlap: rings coloured and thickened by overlap
      if (crossActive) {
        for (let i = 0; i < this.n; i++) {
          if (this.shared[i] === 0) continue;
          const t = this.overlap[i];
          const w = 1.5 + 3 * t;
          ctx.lineWidth = w;
          ctx.strokeStyle = overlapColor(t);
          ctx.beginPath();
          ctx.arc(this.sx(i), this.sy(i), this.baseR[i] * zf + 1 + w / 2, 0, TAU);
          ctx.stroke();
        }
      }
      if (this.hover >= 0 && this.hover !== selIdx) {
        const i = this.hover;
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = "rgba(20, 24, 32, 0.7)";
        ctx.beginPath();
        ctx.arc(this.sx(i), this.sy(i), this.baseR[i] * zf + 2, 0, TAU);
        ctx.stroke();
      }
      if (selIdx >= 0) {
        const x = this.sx(selIdx), y = this.sy(selIdx), r = this.baseR[selIdx] * zf;
        ctx.lineWidth = 2;
        ctx.strokeStyle = "#ffffff";
        ctx.beginPath();
        ctx.arc(x, y, r + 2, 0, TAU);
        ctx.stroke();
        ctx.lineWidth = 3;
        ctx.strokeStyle = "#111827";
        ctx.beginPath();
        ctx.arc(x, y, r + 4.5, 0, TAU);
        ctx.stroke();
      }
    }
  }

  // ------------------------------------------------------------------ frame loop
  function requestFrame() {
    if (frameRequested) return;
    frameRequested = true;
    requestAnimationFrame(frame);
  }

  function frame() {
    frameRequested = false;
    const running = views.filter((v) => v.sim !== null);
    if (running.length) {
      const deadline = performance.now() + 12;
      for (const v of running) {
        const until = Math.min(deadline, performance.now() + 12 / running.length);
        do { v.stepForce(); } while (v.sim !== null && performance.now() < until);
      }
    }
    for (const v of views) if (v.dirty) v.draw();
    if (!firstFrameDone) {
      firstFrameDone = true;
      api.ready = true;
      document.body.dataset.ready = "1";
    }
    if (views.some((v) => v.sim !== null)) requestFrame();
  }

  function markAllDirty() {
    for (const v of views) v.dirty = true;
    requestFrame();
  }

  // ------------------------------------------------------------------ tooltip
  function showTooltip(v, i, clientX, clientY) {
    const tip = $("tooltip");
    const node = v.nodes[i];
    tip.replaceChildren();
    tip.append(el("div", "tt-title", "Node " + node.id + " \u00b7 " + v.name));
    tip.append(el("div", null, "size " + node.members.length));
    const lc = node.label_counts || [];
    if (lc.length) {
      const share = pct(lc[0][1], node.members.length || v.lcTotal[i]);
      tip.append(el("div", null, "top label: " + labelName(lc[0][0]) + " (" + share.toFixed(0) + "%)"));
    }
    if (v.overlap !== null) {
      tip.append(el("div", null, "overlap with selection: " + (100 * v.overlap[i]).toFixed(0) + "%"));
    }
    tip.hidden = false;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    let x = clientX + 14, y = clientY + 14;
    if (x + w > window.innerWidth - 4) x = clientX - 14 - w;
    if (y + h > window.innerHeight - 4) y = clientY - 14 - h;
    tip.style.left = Math.max(4, x) + "px";
    tip.style.top = Math.max(4, y) + "px";
  }

  function hideTooltip() { $("tooltip").hidden = true; }

  // ------------------------------------------------------------------ selection and inspector
  function selectNode(li, idx) {
    state.selection = { li: li, idx: idx };
    const members = views[li].nodes[idx].members;
    for (const v of views) {
      if (v.li === li) v.clearOverlap();
      else v.computeOverlap(members);
    }
    renderInspector();
    markAllDirty();
  }

  function clearSelection() {
    if (state.selection === null) return;
    state.selection = null;
    for (const v of views) v.clearOverlap();
    renderInspector();
    markAllDirty();
  }

  function section(title) {
    const s = el("section", "insp-section");
    s.append(el("h3", null, title));
    for (let k = 1; k < arguments.length; k++) s.append(arguments[k]);
    return s;
  }

  function addKv(dl, key, value) {
    dl.append(el("dt", null, key), el("dd", null, value));
  }

  function bar(fraction, color) {
    const b = el("span", "bar");
    const f = el("span", "bar-fill");
    f.style.width = (100 * Math.min(1, Math.max(0, fraction))).toFixed(1) + "%";
    if (color) f.style.background = color;
    b.append(f);
    return b;
  }

  function neuronChart(pairs) {
    const rows = pairs.slice(0, NEURON_ROWS);
    const rowH = 18, W = 300, H = rows.length * rowH + 4;
    const dpr = window.devicePixelRatio || 1;
    const c = document.createElement("canvas");
    c.className = "neuron-chart";
    c.width = Math.round(W * dpr);
    c.height = Math.round(H * dpr);
    c.style.width = W + "px";
    c.style.height = H + "px";
    c.setAttribute("role", "img");
    c.setAttribute("aria-label", "Top neurons: " +
      rows.map((p) => "neuron " + p[0] + " = " + fmt(p[1])).join(", "));
    const ctx = c.getContext("2d");
    ctx.scale(dpr, dpr);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    let maxAbs = 0;
    for (const p of rows) maxAbs = Math.max(maxAbs, Math.abs(p[1]));
    if (maxAbs === 0) maxAbs = 1;
    const labelW = 54, valW = 46, barW = W - labelW - valW;
    rows.forEach((p, r) => {
      const y = 2 + r * rowH + rowH / 2;
      ctx.fillStyle = "#667085";
      ctx.textAlign = "right";
      ctx.fillText("#" + p[0], labelW - 6, y);
      const w = Math.max(1, (barW * Math.abs(p[1])) / maxAbs);
      ctx.fillStyle = p[1] >= 0 ? "#4e79a7" : "#e15759";
      ctx.fillRect(labelW, y - 6, w, 12);
      ctx.fillStyle = "#1d2330";
      ctx.textAlign = "left";
      ctx.fillText(fmt(p[1]), labelW + w + 4, y);
    });
    return c;
  }

  function renderInspector() {
    const title = $("inspector-title");
    const sub = $("inspector-subtitle");
    const body = $("inspector-body");
    body.replaceChildren();
    const sel = state.selection;
    if (sel === null) {
      title.textContent = "No node selected";
      sub.textContent = "";
      body.append(el("p", "hint",
        "Click a node to inspect it. Drag to pan, scroll to zoom, double-click to fit."));
      return;
    }
    const v = views[sel.li];
    const node = v.nodes[sel.idx];
    const size = node.members.length;
    title.textContent = "Node " + node.id;
    sub.textContent = "Layer " + v.name;

    const kv = el("dl", "kv");
    addKv(kv, "Layer", v.name);
    addKv(kv, "Node id", node.id);
    addKv(kv, "Size", size + " input" + (size === 1 ? "" : "s"));
    addKv(kv, "Degree", v.degree[sel.idx]);
    const stats = node.stats || {};
    const keys = v.layer.color_stats ? v.layer.color_stats.filter((s) => s in stats) : [];
    for (const key of Object.keys(stats)) if (!keys.includes(key)) keys.push(key);
    for (const key of keys) {
      if (key === "size" && stats[key] === size) continue; // already shown as "Size"
      addKv(kv, key, fmt(stats[key]));
    }
    body.append(section("Summary", kv));

    const lc = node.label_counts || [];
    const whole = size || v.lcTotal[sel.idx];
    if (lc.length) {
      const list = el("div", "label-list");
      for (const pair of lc.slice(0, LABEL_ROWS)) {
        const row = el("div", "label-row");
        const sw = el("span", "swatch");
        sw.style.background = labelColor(pair[0]);
        const name = el("span", "label-name", labelName(pair[0]));
        name.title = labelName(pair[0]);
        const p = pct(pair[1], whole);
        row.append(sw, name, bar(p / 100, labelColor(pair[0])),
          el("span", "label-count", pair[1] + " \u00b7 " + p.toFixed(1) + "%"));
        list.append(row);
      }
      if (lc.length > LABEL_ROWS) list.append(el("p", "muted", "+" + (lc.length - LABEL_ROWS) + " more labels"));
      body.append(section("Top labels", list));
    }

    if (labelOfInput !== null && predictions !== null && size > 0) {
      let wrong = 0;
      for (const m of node.members) if (predictions[m] !== labelOfInput[m]) wrong++;
      body.append(section("Predictions",
        el("p", "plain", (size - wrong) + " of " + size + " correct (" + pct(size - wrong, size).toFixed(1) + "%)")));
    }

    const neurons = node.top_neurons || [];
    if (neurons.length) body.append(section("Top neurons (mean activation)", neuronChart(neurons)));

    const sample = node.sample || [];
    if (sample.length && imageBytes !== null) {
      const thumbs = el("div", "thumbs");
      for (const input of sample) {
        const t = makeThumb(input);
        if (!t) continue;
        const cell = el("div", "thumb-cell");
        let tip = "input " + input;
        if (labelOfInput !== null) tip += " \u00b7 label " + labelName(labelOfInput[input]);
        if (predictions !== null) tip += " \u00b7 predicted " + labelName(predictions[input]);
        t.title = tip;
        cell.append(t, el("span", null, "#" + input));
        thumbs.append(cell);
      }
      body.append(section("Sample inputs", thumbs));
    }

    const shown = node.members.slice(0, MEMBERS_SHOWN);
    const more = size > MEMBERS_SHOWN ? ", \u2026" : "";
    body.append(section(
      "Members (" + (size > MEMBERS_SHOWN ? "first " + MEMBERS_SHOWN + " of " : "") + size + ")",
      el("p", "members", shown.join(", ") + more)));

    if (views.length > 1) {
      const wrap = el("div", "overlaps");
      for (const w of views) {
        if (w.li === sel.li || w.shared === null) continue;
        const hits = [];
        for (let i = 0; i < w.n; i++) if (w.shared[i] > 0) hits.push(i);
        hits.sort((a, b) => w.shared[b] - w.shared[a] || w.nodes[a].id - w.nodes[b].id);
        const block = el("div", "overlap-layer");
        const head = el("h4", null, w.name);
        head.append(el("span", "muted", " \u00b7 " + hits.length + " overlapping node" + (hits.length === 1 ? "" : "s")));
        block.append(head);
        for (const i of hits.slice(0, OVERLAP_ROWS)) {
          const btn = el("button", "overlap-row");
          btn.type = "button";
          btn.title = "Select node " + w.nodes[i].id + " of " + w.name;
          btn.append(el("span", "ov-node", "node " + w.nodes[i].id), bar(w.overlap[i], overlapColor(w.overlap[i])),
            el("span", "label-count", w.shared[i] + " shared \u00b7 " + (100 * w.overlap[i]).toFixed(0) + "%"));
          btn.addEventListener("click", () => selectNode(w.li, i));
          block.append(btn);
        }
        if (!hits.length) block.append(el("p", "muted", "no node shares an input"));
        wrap.append(block);
      }
      body.append(section("Overlap in other layers", wrap));
    }
  }

  // ------------------------------------------------------------------ controls
  function setLayout(name) {
    state.layout = name === "force" ? "force" : "precomputed";
    const select = $("layout");
    if (select.value !== state.layout) select.value = state.layout;
    for (const v of views) {
      v.userMoved = false;
      if (state.layout === "force") v.startForce();
      else {
        v.sim = null;
        v.x.set(v.px);
        v.y.set(v.py);
        v.fit();
      }
    }
    markAllDirty();
  }

  function setColor(mode) {
    state.color = mode;
    const select = $("color");
    if (select.value !== mode) select.value = mode;
    for (const v of views) v.applyColor();
    requestFrame();
  }

  function setThreshold(t) {
    state.threshold = Math.min(1, Math.max(0, isFinite(t) ? t : 0));
    const slider = $("edge-threshold");
    if (parseFloat(slider.value) !== state.threshold) slider.value = String(state.threshold);
    $("edge-threshold-value").textContent = state.threshold.toFixed(2);
    for (const v of views) v.applyThreshold();
    requestFrame();
  }

  function setQuery(q) {
    state.query = String(q);
    const input = $("search");
    if (input.value !== state.query) input.value = state.query;
    const needle = state.query.trim().toLowerCase();
    let matches = null;
    if (needle) {
      const cache = new Map();
      matches = (lab) => {
        let hit = cache.get(lab);
        if (hit === undefined) {
          hit = labelName(lab).toLowerCase().includes(needle);
          cache.set(lab, hit);
        }
        return hit;
      };
    }
    let total = 0;
    for (const v of views) {
      v.applySearch(matches);
      total += v.matchCount;
    }
    $("search-count").textContent = matches === null ? "" :
      total === 0 ? "no matching nodes" : total + " matching node" + (total === 1 ? "" : "s");
    requestFrame();
  }

  function initControls() {
    const colorSel = $("color");
    const stats = [];
    for (const layer of payload.layers) {
      for (const s of layer.color_stats || []) if (!stats.includes(String(s))) stats.push(String(s));
    }
    for (const s of stats) {
      const o = document.createElement("option");
      o.value = s;
      o.textContent = s;
      colorSel.append(o);
    }
    colorSel.addEventListener("change", () => setColor(colorSel.value));
    const layoutSel = $("layout");
    layoutSel.addEventListener("change", () => setLayout(layoutSel.value));
    const slider = $("edge-threshold");
    slider.addEventListener("input", () => setThreshold(parseFloat(slider.value)));
    const search = $("search");
    search.addEventListener("input", () => setQuery(search.value));
    $("fit-view").addEventListener("click", () => {
      for (const v of views) { v.userMoved = false; v.fit(); }
      requestFrame();
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && document.activeElement !== search) clearSelection();
    });
    // browsers may restore form values on reload: start from what the controls show
    state.color = colorSel.value || "pie";
    state.threshold = parseFloat(slider.value) || 0;
    $("edge-threshold-value").textContent = state.threshold.toFixed(2);
  }

  // ------------------------------------------------------------------ test / scripting API
  function viewAt(li) {
    const v = views[li];
    if (!v) throw new RangeError("no layer " + li + " (there are " + views.length + ")");
    return v;
  }

  function indexOf(v, id) {
    const idx = v.idIndex.get(id);
    if (idx === undefined) throw new RangeError("layer " + v.name + " has no node " + id);
    return idx;
  }

  const api = {
    ready: false,
    get layers() {
      return views.map((v) => ({
        name: v.name,
        nodeCount: v.n,
        edgeCount: v.m,
        visibleEdgeCount: v.visibleEdgeCount,
        layoutRunning: v.sim !== null,
      }));
    },
    selectNode(li, id) { const v = viewAt(li); selectNode(li, indexOf(v, id)); return true; },
    clearSelection() { clearSelection(); },
    selection() {
      const s = state.selection;
      return s === null ? null : { layerIndex: s.li, nodeId: views[s.li].nodes[s.idx].id };
    },
    nodeScreenPosition(li, id) {
      const v = viewAt(li);
      const i = indexOf(v, id);
      const r = v.canvas.getBoundingClientRect();
      return { x: r.left + v.sx(i), y: r.top + v.sy(i) };
    },
    highlighted(li) {
      const v = viewAt(li);
      if (v.shared === null) return [];
      const out = [];
      for (let i = 0; i < v.n; i++) if (v.shared[i] > 0) out.push(v.nodes[i].id);
      return out;
    },
    matches(li) {
      const v = viewAt(li);
      if (v.searchMask === null) return null;
      const out = [];
      for (let i = 0; i < v.n; i++) if (v.searchMask[i]) out.push(v.nodes[i].id);
      return out;
    },
    setLayout: setLayout,
    setColor: setColor,
    setEdgeThreshold: setThreshold,
    search: setQuery,
  };
  window.topolensExplorer = api;

  // ------------------------------------------------------------------ start
  const graphs = $("graphs");
  graphs.classList.add(payload.layers.length > 1 ? "multi" : "single");
  payload.layers.forEach((layer, li) => views.push(new LayerView(li, layer, graphs)));
  initControls();
  for (const v of views) {
    v.resize();
    v.applyColor();
    v.applyThreshold();
  }
  if ($("search").value) setQuery($("search").value);
  if ($("layout").value === "force") setLayout("force");
  renderInspector();
  if (typeof ResizeObserver === "function") {
    const ro = new ResizeObserver(() => { for (const v of views) v.resize(); });
    for (const v of views) ro.observe(v.wrap);
  } else {
    window.addEventListener("resize", () => { for (const v of views) v.resize(); });
  }
  // Draw now, without waiting for an animation frame: browsers do not run animation frames
  // (nor ResizeObserver callbacks) in an iframe out of view, while printing, or in a
  // full-page capture, which would leave the canvas blank.
  function drawNow() {
    for (const v of views) {
      v.resize();
      v.draw();
    }
    if (!firstFrameDone) {
      firstFrameDone = true;
      api.ready = true;
      document.body.dataset.ready = "1";
    }
  }
  drawNow();
  window.addEventListener("load", drawNow);
  window.addEventListener("beforeprint", drawNow);
  window.addEventListener("afterprint", drawNow);
  if (typeof window.matchMedia === "function") {
    const mq = window.matchMedia("print");
    if (typeof mq.addEventListener === "function") mq.addEventListener("change", drawNow);
    else if (typeof mq.addListener === "function") mq.addListener(drawNow);
  }
  markAllDirty();
})();
