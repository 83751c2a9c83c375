// report.html's page: reads the JSON that xtaldiff wrote into the page
// (#xtd-data, built by src/report/report_page.cpp) and draws the summary,
// the distribution plots (Chart.js), the structure viewer (3Dmol.js) and a
// searchable, sortable, paginated table. Everything is inline: no request
// leaves the file. When done it writes what it drew and any error into
// #xtd-status, which the browser test reads.
(function () {
  'use strict';
  const t0 = performance.now();
  const data = JSON.parse(document.getElementById('xtd-data').textContent);
  const app = document.getElementById('app');
  const status = { ready: false, plots: 0, viewers: 0, rows: data.structures.length };
  const PAGE = 50;

  // ---- small helpers -------------------------------------------------------
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  function fmt(v, d) { return (v === null || v === undefined || !isFinite(v)) ? '–' : Number(v).toFixed(d); }
  function pct(a, b) { return b ? (100 * a / b).toFixed(1) + ' %' : '–'; }
  function section(title, ...children) { app.append(el('h2', { text: title }), ...children); }
  const symbols = data.elements;  // Z -> [symbol, covalent radius]

  // A structure's atoms, decoded when it is first shown ("on demand"):
  // "L00 .. L22|Z1 Z2 ..|x1 y1 z1 x2 ..."
  function decode(s) {
    const [l, z, x] = s.split('|');
    const L = l.split(' ').map(Number);
    const Z = z.split(' ').map(Number);
    const F = x.split(' ').map(Number);
    return { lattice: [L.slice(0, 3), L.slice(3, 6), L.slice(6, 9)], species: Z, frac: F };
  }

  // ---- summary -------------------------------------------------------------
  function summary() {
    const s = data.summary;
    const cards = el('div', { class: 'cards' });
    const card = (label, value, note) => cards.append(el('div', { class: 'card' }, el('b', { text: value }), label,
      note ? el('div', { text: note }) : null));
    card('structures', String(s.structures));
    card('valid (structural and compositional)', pct(s.valid, s.structures), `structural ${s.structurally_valid}, compositional ${s.compositionally_valid}`);
    card('distinct formulas', String(s.distinct_formulas));
    card('distinct space groups', String(s.distinct_spacegroups));
    if (data.csp) {
      card('matched to the ground truth', pct(data.csp.matched, data.csp.pairs), `${data.csp.matched} of ${data.csp.pairs}`);
      card('RMSE of the matches', fmt(data.csp.rmse, 4));
      card('space group of the ground truth kept', pct(data.csp.sg_recovered, data.csp.pairs));
    }
    app.append(cards);
    if (data.run && data.run.length) {
      const t = el('table');
      for (const [k, v] of data.run) t.append(el('tr', {}, el('th', { text: k }), el('td', {}, k === 'command' ? el('code', { text: v }) : v)));
      section('Run', t);
    }
    if (data.targets && data.targets.length) {
      const t = el('table', {}, el('tr', {}, ...['condition or target', 'met', 'hit rate', 'mean predicted', 'tolerance'].map(h => el('th', { text: h }))));
      for (const r of data.targets)
        t.append(el('tr', {}, el('td', { text: r.target }), el('td', { class: 'n', text: r.met }),
          el('td', { class: 'n', text: r.hit_rate === null ? '–' : (100 * r.hit_rate).toFixed(1) + ' %' }),
          el('td', { class: 'n', text: fmt(r.mean_predicted, 4) }), el('td', { class: 'n', text: fmt(r.tolerance, 4) })));
      section('Conditions and targets', t);
    }
  }

  // ---- plots ---------------------------------------------------------------
  const COLORS = ['rgba(74,122,181,0.75)', 'rgba(230,140,40,0.6)'];
  // Shares (%) of each series in common bins: numbers in 30 bins over the
  // 0.5-99.5 percentile range of all values, or categories (top 20 + other).
  function binned(series, categorical) {
    const all = [].concat(...series.map(s => s.values)).filter(v => v !== null && v !== undefined && (categorical || isFinite(v)));
    if (!all.length) return null;
    if (categorical) {
      const count = new Map();
      for (const v of all) count.set(v, (count.get(v) || 0) + 1);
      let keys = [...count.keys()].sort((a, b) => count.get(b) - count.get(a));
      const other = keys.length > 20;
      keys = keys.slice(0, 20);
      if (typeof keys[0] === 'number') keys.sort((a, b) => a - b);
      const labels = keys.map(String).concat(other ? ['other'] : []);
      const index = new Map(keys.map((k, i) => [k, i]));
      return { labels, sets: series.map(s => {
        const h = new Array(labels.length).fill(0);
        for (const v of s.values) { const i = index.has(v) ? index.get(v) : (other ? labels.length - 1 : -1); if (i >= 0) h[i]++; }
        return h.map(c => 100 * c / Math.max(1, s.values.length));
      }) };
    }
    const sorted = all.slice().sort((a, b) => a - b);
    let lo = sorted[Math.floor(0.005 * (sorted.length - 1))], hi = sorted[Math.ceil(0.995 * (sorted.length - 1))];
    const integer = all.every(v => Number.isInteger(v)) && hi - lo <= 60;
    let bins, width;
    if (integer) { bins = hi - lo + 1; width = 1; } else { if (hi <= lo) hi = lo + 1; bins = 30; width = (hi - lo) / bins; }
    const labels = [];
    for (let i = 0; i < bins; i++) labels.push(integer ? String(lo + i) : (lo + (i + 0.5) * width).toPrecision(3));
    return { labels, sets: series.map(s => {
      const h = new Array(bins).fill(0);
      for (const v of s.values) {
        if (!isFinite(v)) continue;
        const i = Math.min(bins - 1, Math.max(0, integer ? Math.round(v - lo) : Math.floor((v - lo) / width)));
        h[i]++;
      }
      return h.map(c => 100 * c / Math.max(1, s.values.length));
    }) };
  }
  function plot(container, title, xlabel, series, categorical) {
    const b = binned(series, categorical);
    if (!b) return;
    const canvas = el('canvas', { width: 440, height: 260 });
    container.append(el('div', { class: 'plot' }, canvas));
    new Chart(canvas, {
      type: 'bar',
      data: { labels: b.labels, datasets: series.map((s, i) => ({ label: `${s.name} (${s.values.length})`, data: b.sets[i], backgroundColor: COLORS[i % 2], barPercentage: 1.0, categoryPercentage: 0.9 })) },
      options: { animation: false, responsive: false, plugins: { title: { display: true, text: title } },
        scales: { x: { title: { display: true, text: xlabel } }, y: { title: { display: true, text: 'share (%)' }, beginAtZero: true } } },
    });
    status.plots++;
  }
  function plots() {
    const box = el('div', { class: 'plots' });
    section(data.reference ? `Distributions against the reference set (${data.reference.name})` : 'Distributions', box);
    const S = data.structures;
    const mine = (key) => S.map(r => r[key]);
    const ref = data.reference;
    const pair = (key, refKey) => [{ name: 'these structures', values: mine(key) }].concat(ref ? [{ name: 'reference', values: ref[refKey] }] : []);
    plot(box, 'Density', 'g/cm³', pair('rho', 'density'));
    plot(box, 'Volume per atom', 'Å³/atom', pair('vpa', 'volume_per_atom'));
    plot(box, 'Atoms per cell', 'atoms', pair('n', 'atoms'));
    plot(box, 'Number of elements', 'elements', pair('ne', 'elements'));
    if (S.some(r => r.sg > 0)) plot(box, 'Space groups', 'space group number', pair('sg', 'spacegroups'), true);
    for (const [c, name] of data.numeric_columns) {
      const series = [{ name: 'these structures', values: S.map(r => r.v[c] === '' ? null : Number(r.v[c])) }];
      if (ref && ref.properties && ref.properties[name]) series.push({ name: 'reference', values: ref.properties[name] });
      plot(box, name, name, series);
    }
    if (data.csp) {
      const matched = S.filter(r => r.m === 1);
      plot(box, 'RMS distance of the matches', 'RMS / (V/N)^⅓', [{ name: 'matched', values: matched.map(r => r.rms) }]);
      plot(box, 'Ground truth matched and its space group kept', '', [
        { name: 'these structures', values: S.filter(r => r.gt >= 0).map(r => (r.m === 1 ? 'matched' : 'not matched') + (r.sg === data.gt[r.gt].sg ? ', group kept' : ', group lost')) }], true);
    }
  }

  // ---- viewer --------------------------------------------------------------
  const viewers = [];
  let current = -1;
  const repeat = [1, 1, 1];
  function cart(L, f) { return [0, 1, 2].map(k => f[0] * L[0][k] + f[1] * L[1][k] + f[2] * L[2][k]); }
  // Atoms of an n0 × n1 × n2 supercell, with the images on the far faces
  // (so a site at 0 shows at 1 too), and bonds within 1.15 × the sum of
  // covalent radii.
  function drawCrystal(v, s, label) {
    v.clear();
    const atoms = [];
    const eps = 1e-3;
    for (let i = 0; i < s.species.length; i++) {
      const f = [s.frac[3 * i], s.frac[3 * i + 1], s.frac[3 * i + 2]].map(x => x - Math.floor(x));
      const ranges = f.map((x, k) => { const r = []; for (let a = 0; a <= repeat[k]; a++) if (x + a <= repeat[k] + eps) r.push(a); return r; });
      for (const a of ranges[0]) for (const b of ranges[1]) for (const c of ranges[2]) {
        const p = cart(s.lattice, [f[0] + a, f[1] + b, f[2] + c]);
        const z = s.species[i];
        atoms.push({ elem: symbols[z] ? symbols[z][0] : 'X', x: p[0], y: p[1], z: p[2], bonds: [], bondOrder: [],
          properties: { site: i + 1, frac: f.map(x => x.toFixed(4)).join(', '), r: symbols[z] ? symbols[z][1] : 1.0 } });
      }
    }
    if (atoms.length <= 3000) {
      for (let i = 0; i < atoms.length; i++) for (let j = i + 1; j < atoms.length; j++) {
        const a = atoms[i], b = atoms[j];
        const d2 = (a.x - b.x) ** 2 + (a.y - b.y) ** 2 + (a.z - b.z) ** 2;
        const cut = 1.15 * (a.properties.r + b.properties.r);
        if (d2 > 0.16 && d2 < cut * cut) { a.bonds.push(j); a.bondOrder.push(1); b.bonds.push(i); b.bondOrder.push(1); }
      }
    }
    const m = v.addModel();
    m.addAtoms(atoms);
    v.setStyle({}, { sphere: { scale: 0.28, colorscheme: 'Jmol' }, stick: { radius: 0.1, colorscheme: 'Jmol' } });
    const L = s.lattice;
    const corner = (a, b, c) => { const p = cart(L, [a, b, c]); return { x: p[0], y: p[1], z: p[2] }; };
    for (const [p, q] of [[[0,0,0],[1,0,0]],[[0,0,0],[0,1,0]],[[0,0,0],[0,0,1]],[[1,0,0],[1,1,0]],[[1,0,0],[1,0,1]],[[0,1,0],[1,1,0]],
      [[0,1,0],[0,1,1]],[[0,0,1],[1,0,1]],[[0,0,1],[0,1,1]],[[1,1,0],[1,1,1]],[[1,0,1],[1,1,1]],[[0,1,1],[1,1,1]]])
      v.addCylinder({ start: corner(...p), end: corner(...q), radius: 0.04, color: '#555', fromCap: 1, toCap: 1 });
    v.setHoverable({}, true, (atom, viewer) => {
      if (!atom.label) atom.label = viewer.addLabel(`${atom.elem} (site ${atom.properties.site}: ${atom.properties.frac})`,
        { position: atom, backgroundColor: '#222', fontColor: 'white', fontSize: 12 });
    }, (atom, viewer) => { if (atom.label) { viewer.removeLabel(atom.label); delete atom.label; } });
    v.zoomTo();
    v.render();
    label.textContent = '';
  }
  function viewerSection() {
    const boxes = el('div', { class: 'viewers' });
    const controls = el('div', { class: 'controls' }, 'supercell ');
    for (let k = 0; k < 3; k++) {
      const sel = el('select', { 'aria-label': 'repeats along ' + 'abc'[k], onchange: (e) => { repeat[k] = Number(e.target.value); show(current); } });
      for (const n of [1, 2, 3]) sel.append(el('option', { value: n, text: n }));
      controls.append(sel, k < 2 ? '×' : '');
    }
    const info = el('div', { class: 'controls', id: 'xtd-match' });
    section('Structure', el('p', { text: 'Drag to rotate, scroll to zoom, hover over an atom for its label; pick a structure in the table below.' }), controls, info, boxes);
    const titles = data.gt ? ['prediction', 'ground truth'] : ['structure'];
    for (const t of titles) {
      const title = el('div', { class: 'viewer-title', text: t });
      const div = el('div', { class: 'viewer' });
      const note = el('div', { class: 'controls' });
      boxes.append(el('div', { class: 'viewer-box' }, title, div, note));
      viewers.push({ title, note, viewer: $3Dmol.createViewer(div, { backgroundColor: 'white', antialias: true }) });
    }
    // The boxes share the row only once all exist: fit each canvas now.
    for (const v of viewers) v.viewer.resize();
    status.viewers = viewers.length;
  }
  function show(i) {
    if (i < 0 || i >= data.structures.length) return;
    current = i;
    const r = data.structures[i];
    const v0 = viewers[0];
    v0.title.textContent = `${data.gt ? 'prediction' : 'structure'} ${r.id}: ${r.f}, ${r.sgs || ''}`;
    drawCrystal(v0.viewer, decode(r.s), v0.note);
    v0.note.textContent = `a b c = ${r.abc.slice(0, 3).map(x => fmt(x, 3)).join(' ')} Å, α β γ = ${r.abc.slice(3).map(x => fmt(x, 1)).join(' ')}°, ${fmt(r.rho, 3)} g/cm³`;
    if (data.gt) {
      const v1 = viewers[1];
      const info = document.getElementById('xtd-match');
      if (r.gt >= 0) {
        const g = data.gt[r.gt];
        v1.title.textContent = `ground truth ${g.id}: ${g.f}, ${g.sgs}`;
        drawCrystal(v1.viewer, decode(g.s), v1.note);
        info.textContent = r.m === 1 ? `Matched (StructureMatcher, stol 0.5, ltol 0.3, angle_tol 10): RMS ${fmt(r.rms, 4)}; space group ${r.sg === g.sg ? 'kept' : 'lost'} (${r.sg} against ${g.sg}).`
          : `Not matched; space group ${r.sg === g.sg ? 'kept' : 'lost'} (${r.sg} against ${g.sg}).`;
      } else {
        v1.viewer.clear(); v1.viewer.render();
        v1.title.textContent = 'ground truth: none with this id';
        info.textContent = '';
      }
    }
    for (const tr of document.querySelectorAll('#xtd-table tbody tr')) tr.classList.toggle('sel', Number(tr.dataset.i) === i);
  }

  // ---- table ---------------------------------------------------------------
  function tableSection() {
    const cols = [
      ['#', r => r.k + 1, 'n'], ['id', r => r.id], ['formula', r => r.f], ['atoms', r => r.n, 'n'], ['space group', r => r.sgs, '', r => r.sg],
      ['a', r => fmt(r.abc[0], 3), 'n', r => r.abc[0]], ['b', r => fmt(r.abc[1], 3), 'n', r => r.abc[1]], ['c', r => fmt(r.abc[2], 3), 'n', r => r.abc[2]],
      ['α', r => fmt(r.abc[3], 2), 'n', r => r.abc[3]], ['β', r => fmt(r.abc[4], 2), 'n', r => r.abc[4]], ['γ', r => fmt(r.abc[5], 2), 'n', r => r.abc[5]],
      ['Å³/atom', r => fmt(r.vpa, 2), 'n', r => r.vpa], ['g/cm³', r => fmt(r.rho, 3), 'n', r => r.rho], ['shortest (Å)', r => fmt(r.d, 3), 'n', r => r.d],
      ['valid', r => ['no: distance or volume', 'no: composition', 'yes'][r.ok], '', r => r.ok],
    ];
    if (data.csp) cols.push(['matched', r => r.gt < 0 ? '–' : (r.m === 1 ? 'yes' : 'no'), '', r => r.m], ['RMS', r => fmt(r.rms, 4), 'n', r => r.rms === null ? Infinity : r.rms],
      ['truth\'s group', r => r.gt < 0 ? '–' : data.gt[r.gt].sgs, '', r => r.gt < 0 ? 0 : data.gt[r.gt].sg]);
    data.columns.forEach((name, c) => cols.push([name, r => r.v[c], data.numeric_columns.some(x => x[0] === c) ? 'n' : '', r => {
      const x = Number(r.v[c]); return r.v[c] !== '' && isFinite(x) ? x : r.v[c]; }]));
    if (data.cif_folder) cols.push(['CIF', r => r.cif, '']);
    if (data.symmetrized_folder) cols.push(['CIF (sym.)', r => r.cifs, '']);
    const S = data.structures;
    S.forEach((r, k) => { r.k = k; });
    let order = S.map((r, k) => k), page = 0, sortCol = 0, sortDir = 1;
    const search = el('input', { type: 'search', placeholder: 'search id, formula, space group, values', size: 40, 'aria-label': 'search' });
    const count = el('span');
    const head = el('tr');
    const body = el('tbody');
    const pager = el('div', { class: 'pager' });
    const table = el('table', { id: 'xtd-table' }, el('thead', {}, head), body);
    cols.forEach(([name], c) => head.append(el('th', { text: name, onclick: () => { sortDir = sortCol === c ? -sortDir : 1; sortCol = c; apply(); } })));
    function apply() {
      const q = search.value.trim().toLowerCase();
      order = [];
      for (let k = 0; k < S.length; k++) {
        const r = S[k];
        if (!q || r.id.toLowerCase().includes(q) || r.f.toLowerCase().includes(q) || (r.sgs || '').toLowerCase().includes(q) ||
            String(r.sg) === q || r.v.some(x => x.toLowerCase().includes(q))) order.push(k);
      }
      const key = cols[sortCol][3] || cols[sortCol][1];
      const keys = new Map(order.map(k => [k, key(S[k])]));
      order.sort((a, b) => { const x = keys.get(a), y = keys.get(b); return (x < y ? -1 : x > y ? 1 : a - b) * sortDir; });
      page = 0;
      render();
    }
    function render() {
      body.textContent = '';
      const pages = Math.max(1, Math.ceil(order.length / PAGE));
      page = Math.min(page, pages - 1);
      for (const k of order.slice(page * PAGE, (page + 1) * PAGE)) {
        const r = S[k];
        const tr = el('tr', { 'data-i': k, onclick: () => show(k) });
        for (const [name, get, cls] of cols) {
          if (name.startsWith('CIF')) { tr.append(el('td', {}, el('a', { href: get(r), text: name }))); continue; }
          const v = get(r);
          const td = el('td', { class: cls || '', text: v === undefined ? '' : String(v) });
          if (name === 'valid') td.classList.add(r.ok === 2 ? 'ok' : 'bad');
          tr.append(td);
        }
        if (k === current) tr.classList.add('sel');
        body.append(tr);
      }
      count.textContent = ` ${order.length} of ${S.length} structures`;
      pager.textContent = '';
      pager.append(el('button', { text: '◀', onclick: () => { page = Math.max(0, page - 1); render(); } }),
        ` page ${page + 1} of ${pages} `, el('button', { text: '▶', onclick: () => { page = Math.min(pages - 1, page + 1); render(); } }));
    }
    search.addEventListener('input', apply);
    section('Structures', el('div', { class: 'controls' }, search, count), pager, table);
    render();
  }

  try {
    summary();
    if (data.structures.length) viewerSection();
    plots();
    tableSection();
    if (data.structures.length) show(0);
    status.ready = true;
  } catch (e) {
    window.xtdErrors.push('report: ' + (e && e.stack ? e.stack : e));
  }
  status.script_ms = Math.round(performance.now() - t0);
  status.page_ms = Math.round(performance.now());  // since the navigation started
  if (viewers.length) {
    const r = document.querySelector('.viewer').getBoundingClientRect();
    status.viewer_rect = [Math.round(r.left + scrollX), Math.round(r.top + scrollY), Math.round(r.width), Math.round(r.height)];
  }
  status.errors = window.xtdErrors;
  // Whether the first viewer drew anything: distinct colours of its image.
  if (viewers.length) {
    try {
      const img = new Image();
      img.onload = () => {
        const c = document.createElement('canvas');
        c.width = img.width; c.height = img.height;
        const g = c.getContext('2d');
        g.drawImage(img, 0, 0);
        const px = g.getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < px.length && seen.size < 64; i += 4 * 7) seen.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
        status.viewer_colours = seen.size;
        document.getElementById('xtd-status').textContent = JSON.stringify(status);
      };
      img.src = viewers[0].viewer.pngURI();
    } catch (e) { window.xtdErrors.push('viewer image: ' + e); }
  }
  document.getElementById('xtd-status').textContent = JSON.stringify(status);
})();
