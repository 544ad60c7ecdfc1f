// Strata console: one page, hash routes, reads only the node's JSON API (/v1/...).
// Everything the page shows is built with DOM calls and textContent: no HTML from data.

const main = document.getElementById('main');
let stopPage = () => {}; // stops the current page's timers when the route changes

// h builds an element: h('td', {class: 'num'}, 'text', child, ...).
function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'style') el.style.cssText = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function svg(tag, attrs = {}, ...kids) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const kid of kids.flat(Infinity)) if (kid) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, opts = {}) {
  const init = { method: opts.method || 'GET', headers: { Accept: 'application/json' } };
  if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
    init.headers['Content-Type'] = 'application/json';
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) throw new APIError(resp.status, (data && data.error) || `${resp.status} ${resp.statusText}`);
  return data;
}

const enc = encodeURIComponent;
const fmtInt = (n) => (n === undefined || n === null || n < 0) ? '–' : Number(n).toLocaleString('en-US');
function fmtBytes(n) {
  if (!n) return '0 B';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}
const fmtUSD = (n) => '$' + (n < 0.01 && n > 0 ? n.toFixed(6) : n.toFixed(2));
const fmtTime = (ms) => ms < 0 ? '–' : new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const fmtDate = (s) => s ? new Date(s).toISOString().slice(0, 19).replace('T', ' ') : '–';

function banner(err) { return h('div', { class: 'banner', role: 'alert' }, err.message || String(err)); }
function table(head, rows, attrs = {}) {
  return h('table', attrs,
    h('thead', {}, h('tr', {}, head.map((c) => typeof c === 'string' ? h('th', {}, c) : h('th', c[1], c[0])))),
    h('tbody', {}, rows));
}
function card(k, v, cls) { return h('div', { class: 'card' }, h('div', { class: 'v ' + (cls || '') }, v), h('div', { class: 'k' }, k)); }

function show(...nodes) { main.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false)); }
function ready(page) {
  document.body.dataset.ready = page;
  window.__strataRenderedAt = performance.now();
}

// ---- Cluster ----------------------------------------------------------------------------------
async function clusterPage() {
  const c = await api('/v1/cluster');
  const health = (x) => !x.known ? ['unknown', 'muted'] : x.ok ? [`ok (${x.latency_ms.toFixed(1)} ms)`, 'ok'] : ['failing', 'err'];
  const [mh, mc] = health(c.metadata);
  const [oh, oc] = health(c.object_store);
  show(
    h('h1', {}, 'Cluster'),
    h('div', { class: 'cards' },
      card('live nodes', c.nodes.length), card('topics', fmtInt(c.topics)), card('partitions', fmtInt(c.partitions)),
      card('without a leader', fmtInt(c.leaderless), c.leaderless ? 'err' : ''),
      card('metadata (NATS JetStream)', mh, mc), card('object store', oh, oc)),
    c.object_store.error ? h('div', { class: 'banner' }, 'object store: ' + c.object_store.error) : null,
    h('h2', {}, 'Nodes'),
    table(['node', 'version', 'Kafka', 'HTTP', 'started', ['partitions led', { class: 'num' }]],
      c.nodes.map((n) => h('tr', { 'data-node': n.id },
        h('td', {}, String(n.id), n.self ? h('span', { class: 'tag' }, 'this node') : null),
        h('td', {}, n.version || h('span', { class: 'muted', title: n.version_error || '' }, 'unknown')),
        h('td', {}, n.kafka_addr), h('td', {}, n.http_addr), h('td', {}, fmtDate(n.started_at)),
        h('td', { class: 'num' }, fmtInt(n.partitions_led))))));
  ready('cluster');
}

// ---- Topics -----------------------------------------------------------------------------------
function parseConfigs(s) {
  const out = {};
  for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new Error(`config "${part}": want name=value`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

async function topicsPage(params) {
  const list = await api('/v1/topics');
  const q = params.get('q') || '';
  const status = h('div', { id: 'topic-status' });
  const name = h('input', { name: 'name', placeholder: 'new topic name', required: true, pattern: "[a-zA-Z0-9._\\-]+" });
  const parts = h('input', { name: 'partitions', type: 'number', min: '1', value: '1', style: 'width:6em' });
  const dur = h('select', { name: 'durability' }, h('option', { value: 'local' }, 'durability: local'), h('option', { value: 'object' }, 'durability: object'));
  const extra = h('input', { name: 'configs', placeholder: 'more configs: retention.ms=3600000, …', style: 'min-width:22em' });
  const form = h('form', { class: 'inline', id: 'create-topic', onsubmit: async (e) => {
    e.preventDefault();
    try {
      const configs = parseConfigs(extra.value);
      if (dur.value !== 'local') configs['strata.durability'] = dur.value;
      const t = await api('/v1/topics', { method: 'POST', body: { name: name.value, partitions: Number(parts.value), configs } });
      location.hash = '#/topics/' + enc(t.name);
    } catch (err) { status.replaceChildren(banner(err)); }
  } }, name, parts, dur, extra, h('button', { class: 'primary', type: 'submit' }, 'Create topic'));

  const search = h('input', { type: 'search', id: 'topic-search', placeholder: 'search topics', value: q });
  const tbody = h('tbody');
  const count = h('span', { class: 'muted' });
  const render = () => {
    const needle = search.value.toLowerCase();
    const rows = list.filter((t) => t.name.toLowerCase().includes(needle));
    count.textContent = `${rows.length} of ${list.length} topics`;
    tbody.replaceChildren(...rows.map((t) => h('tr', { 'data-topic': t.name },
      h('td', {}, h('a', { href: '#/topics/' + enc(t.name) }, t.name)),
      h('td', { class: 'num' }, fmtInt(t.partitions)),
      h('td', {}, t.configs['strata.durability'] || 'local'),
      h('td', {}, Object.entries(t.configs).filter(([k]) => k !== 'strata.durability').map(([k, v]) => h('span', { class: 'tag' }, `${k}=${v}`))),
      h('td', {}, fmtDate(t.created_at)))));
  };
  search.addEventListener('input', render);
  render();
  show(h('h1', {}, 'Topics'), form, status, h('div', { class: 'row' }, search, count),
    h('table', { id: 'topics' }, h('thead', {}, h('tr', {}, h('th', {}, 'topic'), h('th', { class: 'num' }, 'partitions'),
      h('th', {}, 'durability'), h('th', {}, 'configs set'), h('th', {}, 'created'))), tbody));
  ready('topics');
}

// tierBar draws a partition's offsets on a common scale [0, scale): objects only, both tiers, hot
// log only, and written but not yet visible.
function tierBar(p, scale) {
  const pct = (x) => `${(100 * Math.max(0, x) / scale).toFixed(3)}%`;
  const seg = (cls, a, b, title) => b > a ? h('span', { class: cls, title, style: `left:${pct(a)};width:${pct(b - a)}` }) : null;
  const start = Math.max(0, p.log_start);
  const tiered = p.tiered_end;
  const local = p.local_start >= 0 ? p.local_start : (tiered >= 0 ? tiered : start);
  const hw = p.high_watermark >= 0 ? p.high_watermark : Math.max(start, tiered);
  const end = p.log_end >= 0 ? p.log_end : hw;
  return h('div', { class: 'bar', title: `log start ${start}, local start ${local}, tiered end ${tiered}, high watermark ${hw}` },
    seg('obj', start, Math.min(local, Math.max(tiered, start)), 'objects only'),
    seg('both', Math.max(local, start), Math.min(tiered, hw), 'in both tiers'),
    seg('hot', Math.max(tiered, local, start), hw, 'hot log only'),
    seg('pending', hw, end, 'written, not yet visible'));
}

async function topicPage(name) {
  const [t, parts] = await Promise.all([api('/v1/topics/' + enc(name)), api('/v1/topics/' + enc(name) + '/partitions')]);
  const status = h('div', { id: 'topic-status' });
  const scale = Math.max(1, ...parts.map((p) => Math.max(p.log_end, p.high_watermark, p.tiered_end)));
  const sum = (f) => parts.reduce((a, p) => a + (p[f] > 0 ? p[f] : 0), 0);
  const { pager, draw: drawPartitions } = partitionPager(parts, scale, name);

  const configRows = t.all_configs.map((c) => {
    const input = h('input', { value: c.value, 'data-config': c.name, disabled: c.read_only, style: 'width:100%' });
    const save = h('button', { disabled: c.read_only, onclick: async () => {
      try { await api(`/v1/topics/${enc(name)}/configs`, { method: 'PATCH', body: { configs: { [c.name]: input.value } } }); route(); }
      catch (err) { status.replaceChildren(banner(err)); }
    } }, 'Save');
    const reset = c.is_default ? null : h('button', { onclick: async () => {
      try { await api(`/v1/topics/${enc(name)}/configs`, { method: 'PATCH', body: { configs: { [c.name]: null } } }); route(); }
      catch (err) { status.replaceChildren(banner(err)); }
    } }, 'Reset');
    return h('tr', {}, h('td', {}, c.name), h('td', {}, input), h('td', {}, c.source), h('td', {}, save, ' ', reset));
  });

  const confirmBox = h('div', { class: 'row', hidden: true, id: 'confirm-delete' });
  const typed = h('input', { placeholder: `type ${name} to confirm`, 'aria-label': 'confirm topic name' });
  const really = h('button', { class: 'danger', disabled: true, onclick: async () => {
    try { await api('/v1/topics/' + enc(name), { method: 'DELETE' }); location.hash = '#/topics'; }
    catch (err) { status.replaceChildren(banner(err)); }
  } }, 'Delete permanently');
  typed.addEventListener('input', () => { really.disabled = typed.value !== name; });
  confirmBox.append(h('span', {}, `Deleting ${name} removes its ${t.partitions} partitions and their data.`), typed, really,
    h('button', { onclick: () => { confirmBox.hidden = true; } }, 'Cancel'));

  show(
    h('h1', {}, 'Topic ', h('span', { id: 'topic-name' }, name)),
    h('div', { class: 'row' },
      h('a', { href: `#/messages?topic=${enc(name)}&partition=0` }, 'Browse messages'),
      h('button', { class: 'danger', id: 'delete-topic', onclick: () => { confirmBox.hidden = false; typed.focus(); } }, 'Delete topic…')),
    confirmBox, status,
    h('div', { class: 'cards' }, card('partitions', fmtInt(t.partitions)), card('id', t.id),
      card('object storage', fmtBytes(sum('object_bytes')) + ` · ${fmtInt(sum('object_segments'))} objects`),
      card('hot logs', fmtBytes(sum('hot_bytes')) + ` · ${fmtInt(sum('hot_segments'))} files`),
      card('records visible', fmtInt(parts.reduce((a, p) => a + Math.max(0, p.high_watermark - Math.max(0, p.log_start)), 0)))),
    h('h2', {}, 'Partitions'),
    h('div', { class: 'legend' }, h('span', {}, h('i', { style: 'background:var(--obj)' }), 'objects only'),
      h('span', {}, h('i', { style: 'background:var(--both)' }), 'both tiers'),
      h('span', {}, h('i', { style: 'background:var(--hot)' }), 'hot log only'),
      h('span', {}, h('i', { style: 'background:var(--pending)' }), 'not yet visible')),
    pager,
    table(['partition', 'leader', 'epoch', ['log start', { class: 'num' }], ['local start', { class: 'num' }], ['tiered end', { class: 'num' }],
      ['high watermark', { class: 'num' }], 'tiers', ['objects', { class: 'num' }], ['hot log', { class: 'num' }], ''],
    [], { id: 'partitions' }),
    h('h2', {}, 'Configs'),
    table(['name', 'value', 'source', ''], configRows, { id: 'configs' }));
  drawPartitions(0);
  ready('topic');
}

// A topic's partitions are drawn a page at a time: a thousand rows of bars is slow to lay out.
const partitionsPerPage = 100;
function partitionPager(parts, scale, name) {
  const label = h('span', { class: 'muted', id: 'partition-range' });
  const prev = h('button', { id: 'partitions-prev' }, '‹ previous');
  const next = h('button', { id: 'partitions-next' }, 'next ›');
  const pager = h('div', { class: 'row', hidden: parts.length <= partitionsPerPage }, prev, label, next);
  let at = 0;
  const draw = (page) => {
    at = Math.max(0, Math.min(page, Math.ceil(parts.length / partitionsPerPage) - 1));
    const from = at * partitionsPerPage, to = Math.min(parts.length, from + partitionsPerPage);
    label.textContent = `partitions ${from}–${to - 1} of ${parts.length}`;
    prev.disabled = at === 0;
    next.disabled = to >= parts.length;
    const tbody = document.querySelector('#partitions tbody');
    tbody.replaceChildren(...parts.slice(from, to).map((p) => partitionRow(p, scale, name)));
  };
  prev.addEventListener('click', () => draw(at - 1));
  next.addEventListener('click', () => draw(at + 1));
  return { pager, draw };
}

function partitionRow(p, scale, name) {
  return h('tr', { 'data-partition': p.partition },
      h('td', {}, String(p.partition)), h('td', {}, p.leader >= 0 ? String(p.leader) : '–'), h('td', {}, p.epoch >= 0 ? String(p.epoch) : '–'),
      h('td', { class: 'num' }, fmtInt(p.log_start)), h('td', { class: 'num' }, fmtInt(p.local_start)),
      h('td', { class: 'num' }, fmtInt(p.tiered_end)), h('td', { class: 'num' }, fmtInt(p.high_watermark)),
      h('td', { style: 'width:30%' }, tierBar(p, scale), p.error ? h('div', { class: 'err' }, p.error) : null),
      h('td', { class: 'num' }, fmtBytes(p.object_bytes)), h('td', { class: 'num' }, fmtBytes(p.hot_bytes)),
      h('td', {}, h('a', { href: `#/messages?topic=${enc(name)}&partition=${p.partition}` }, 'messages')));
}

// ---- Consumer groups --------------------------------------------------------------------------
async function groupsPage() {
  const v = await api('/v1/groups');
  show(h('h1', {}, 'Consumer groups'),
    ...(v.errors || []).map((e) => h('div', { class: 'banner' }, e)),
    v.groups.length === 0 ? h('p', { class: 'muted' }, 'No consumer groups yet.') :
      table(['group', 'state', 'protocol type', 'coordinator'], v.groups.map((g) => h('tr', { 'data-group': g.group },
        h('td', {}, h('a', { href: '#/groups/' + enc(g.group) }, g.group)), h('td', {}, g.state),
        h('td', {}, g.protocol_type || '–'), h('td', {}, String(g.coordinator)))), { id: 'groups' }));
  ready('groups');
}

function sparkline(points, w = 320, hgt = 60) {
  const max = Math.max(1, ...points.map((p) => p.lag));
  const t0 = points[0].t, t1 = Math.max(t0 + 1, points[points.length - 1].t);
  const xy = points.map((p) => `${(w * (p.t - t0) / (t1 - t0)).toFixed(1)},${(hgt - 4 - (hgt - 8) * p.lag / max).toFixed(1)}`);
  return svg('svg', { width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, role: 'img', 'aria-label': 'total lag over time' },
    svg('rect', { x: 0, y: 0, width: w, height: hgt, fill: '#fff', stroke: '#e3e6eb' }),
    svg('polyline', { points: xy.join(' '), fill: 'none', stroke: '#2456c7', 'stroke-width': 2 }),
    svg('circle', { cx: xy[xy.length - 1].split(',')[0], cy: xy[xy.length - 1].split(',')[1], r: 3, fill: '#2456c7' }),
    svg('text', { x: 4, y: 12 }, `max ${fmtInt(max)}`));
}

async function groupPage(name) {
  const history = [];
  let timer = null;
  const draw = async () => {
    const g = await api('/v1/groups/' + enc(name));
    history.push({ t: Date.now(), lag: g.total_lag });
    if (history.length > 120) history.shift();
    show(h('h1', {}, 'Group ', h('span', { id: 'group-name' }, name)),
      h('div', { class: 'cards' }, card('state', g.state), card('members', g.members.length), card('coordinator', String(g.coordinator)),
        card('total lag', fmtInt(g.total_lag)), card('protocol', g.protocol || '–')),
      h('h2', {}, 'Lag since this page opened (every 5 s)'), sparkline(history),
      h('h2', {}, 'Members'),
      g.members.length === 0 ? h('p', { class: 'muted' }, 'No members: the group is empty.') :
        table(['member', 'client', 'host', 'assignment'], g.members.map((m) => h('tr', {},
          h('td', {}, m.member_id, m.instance_id ? h('span', { class: 'tag' }, m.instance_id) : null), h('td', {}, m.client_id),
          h('td', {}, m.client_host), h('td', {}, Object.entries(m.assignment).map(([t, ps]) => h('span', { class: 'tag' }, `${t}: ${ps.join(', ')}`)))))),
      h('h2', {}, 'Offsets'),
      table(['topic', 'partition', ['committed', { class: 'num' }], ['high watermark', { class: 'num' }], ['lag', { class: 'num' }], 'member'],
        g.offsets.map((o) => h('tr', { 'data-tp': `${o.topic}/${o.partition}` },
          h('td', {}, h('a', { href: '#/topics/' + enc(o.topic) }, o.topic)), h('td', {}, String(o.partition)),
          h('td', { class: 'num' }, fmtInt(o.committed)), h('td', { class: 'num' }, fmtInt(o.high_watermark)),
          h('td', { class: 'num' }, o.lag >= 0 ? fmtInt(o.lag) : h('span', { class: 'err', title: o.error || '' }, 'unknown')),
          h('td', {}, o.member || '–'))), { id: 'offsets' }));
    ready('group');
  };
  await draw();
  const tick = () => { timer = setTimeout(() => draw().catch((e) => main.prepend(banner(e))).finally(() => { if (timer) tick(); }), 5000); };
  tick();
  stopPage = () => { clearTimeout(timer); timer = null; };
}

// ---- Messages ---------------------------------------------------------------------------------
const b64bytes = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
function decode(b64, fmt) {
  if (b64 === null || b64 === undefined) return h('span', { class: 'muted' }, 'null');
  const bytes = b64bytes(b64);
  if (fmt === 'hex') return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (fmt === 'json') {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text + '  (not JSON)'; }
  }
  return text;
}

async function messagesPage(params) {
  const topics = await api('/v1/topics');
  const topicSel = h('select', { name: 'topic', id: 'msg-topic' }, topics.map((t) => h('option', { value: t.name }, t.name)));
  if (params.get('topic')) topicSel.value = params.get('topic');
  const part = h('input', { name: 'partition', id: 'msg-partition', type: 'number', min: '0', value: params.get('partition') || '0', style: 'width:5em' });
  const mode = h('select', { name: 'from', id: 'msg-from' }, h('option', { value: 'newest' }, 'newest'), h('option', { value: 'offset' }, 'from offset'),
    h('option', { value: 'time' }, 'from time'));
  const at = h('input', { name: 'at', id: 'msg-at', placeholder: 'offset, or time (2026-01-02T15:04:05Z)', style: 'width:18em' });
  if (params.get('offset')) { mode.value = 'offset'; at.value = params.get('offset'); }
  if (params.get('time')) { mode.value = 'time'; at.value = params.get('time'); }
  const max = h('input', { name: 'max', type: 'number', min: '1', max: '500', value: '50', style: 'width:5em' });
  const fmt = h('select', { name: 'format', id: 'msg-format' }, ['text', 'json', 'hex'].map((f) => h('option', { value: f }, f)));
  const tail = h('input', { type: 'checkbox', id: 'msg-tail' });
  const info = h('div', { class: 'muted', id: 'msg-info' });
  const status = h('div');
  const tbody = h('tbody', { id: 'records' });
  let last = null, next = 0, timer = null;

  const row = (r) => h('tr', { 'data-offset': r.offset },
    h('td', { class: 'num' }, String(r.offset)), h('td', {}, fmtTime(r.timestamp)),
    h('td', {}, h('pre', { class: 'value' }, decode(r.key, fmt.value))),
    h('td', {}, h('pre', { class: 'value' }, decode(r.value, fmt.value))),
    h('td', {}, r.headers.map((x) => h('span', { class: 'tag' }, `${x.key}: `, decode(x.value, 'text')))));
  const redraw = () => { if (last) tbody.replaceChildren(...last.map(row)); };
  const base = () => `/v1/topics/${enc(topicSel.value)}/partitions/${Number(part.value) || 0}/records`;
  const load = async () => {
    let q = `?max=${Number(max.value) || 50}`;
    if (mode.value === 'offset') q += `&offset=${enc(at.value.trim())}`;
    if (mode.value === 'time') q += `&time=${enc(at.value.trim())}`;
    const v = await api(base() + q);
    last = v.records; next = v.next_offset;
    info.textContent = `partition ${v.partition} led by node ${v.leader}: log start ${fmtInt(v.log_start)}, high watermark ${fmtInt(v.high_watermark)}; showing ${v.records.length} from ${fmtInt(v.from)}`;
    redraw();
  };
  const poll = async () => {
    const v = await api(base() + `?offset=${next}&max=500`);
    if (v.records.length) {
      last = last.concat(v.records).slice(-500);
      redraw();
    }
    next = v.next_offset;
    info.textContent = `live tail: high watermark ${fmtInt(v.high_watermark)}, ${last.length} shown`;
  };
  const schedule = () => { timer = setTimeout(() => poll().catch((e) => status.replaceChildren(banner(e))).finally(() => { if (tail.checked) schedule(); }), 1000); };
  tail.addEventListener('change', () => { clearTimeout(timer); if (tail.checked) schedule(); });
  fmt.addEventListener('change', redraw);
  const form = h('form', { class: 'inline', id: 'msg-form', onsubmit: async (e) => {
    e.preventDefault();
    status.replaceChildren();
    try { await load(); } catch (err) { status.replaceChildren(banner(err)); }
  } }, topicSel, h('label', {}, 'partition ', part), mode, at, h('label', {}, 'max ', max), h('label', {}, 'show as ', fmt),
  h('button', { class: 'primary', type: 'submit' }, 'Load'), h('label', {}, tail, ' live tail'));
  show(h('h1', {}, 'Messages'), form, status, info,
    h('table', {}, h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'offset'), h('th', {}, 'timestamp (UTC)'), h('th', {}, 'key'),
      h('th', {}, 'value'), h('th', {}, 'headers'))), tbody));
  stopPage = () => { tail.checked = false; clearTimeout(timer); };
  if (topics.length === 0) info.textContent = 'No topics yet.';
  else {
    try { await load(); } catch (err) { status.replaceChildren(banner(err)); }
  }
  ready('messages');
}

// ---- Cost -------------------------------------------------------------------------------------
function costChart(items) {
  const w = 640, rowH = 22, left = 170, hgt = items.length * rowH + 10;
  const max = Math.max(1e-9, ...items.map((i) => i.v));
  return svg('svg', { width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, role: 'img', 'aria-label': 'monthly cost by component', id: 'cost-chart' },
    items.map((it, i) => [
      svg('text', { x: 0, y: i * rowH + 15 }, it.k),
      svg('rect', { x: left, y: i * rowH + 4, width: Math.max(1, (w - left - 90) * it.v / max), height: rowH - 8, fill: it.color }),
      svg('text', { x: left + Math.max(1, (w - left - 90) * it.v / max) + 6, y: i * rowH + 15 }, fmtUSD(it.v)),
    ]));
}

async function costPage(params) {
  const win = params.get('window') || '';
  const r = await api('/v1/cost' + (win ? `?window=${enc(win)}` : ''));
  const sel = h('select', { id: 'cost-window', onchange: () => { location.hash = '#/cost' + (sel.value ? `?window=${sel.value}` : ''); } },
    [['', 'since the node started'], ['1h', 'last hour'], ['24h', 'last 24 hours']].map(([v, t]) => h('option', { value: v }, t)));
  sel.value = win;
  const items = r.requests.map((q) => ({ k: `requests: ${q.op}`, v: q.monthly, color: '#4a7bd8' }))
    .concat(r.storage.map((s) => ({ k: `storage: ${s.tier}`, v: s.monthly, color: '#e08a2c' })));
  show(h('h1', {}, 'Cost'),
    h('div', { class: 'row' }, 'Window: ', sel, h('span', { class: 'muted' },
      `${fmtDate(r.window.start)} – ${fmtDate(r.window.end)} UTC (${Math.round(r.window.seconds)} s${r.window.capped ? ', capped' : ''})`)),
    h('p', { class: 'note' }, 'Requests and the hot log are this node\'s; object storage bytes are the whole cluster\'s. Prices are list prices in US dollars; a month is 730 hours.'),
    h('div', { class: 'cards' }, card('monthly at this rate', fmtUSD(r.monthly_total)), card('requests in window', fmtInt(r.requests_total.count)),
      card('request cost in window', fmtUSD(r.requests_total.cost)),
      card('PUTs per GiB ingested', r.ingest.puts_per_gib === undefined ? '–' : r.ingest.puts_per_gib.toFixed(1))),
    h('h2', {}, 'Monthly cost by component'), costChart(items),
    h('h2', {}, 'Requests'),
    table(['op', 'class', ['count', { class: 'num' }], ['cost in window', { class: 'num' }], ['monthly', { class: 'num' }]],
      r.requests.map((q) => h('tr', {}, h('td', {}, q.op), h('td', {}, q.class), h('td', { class: 'num' }, fmtInt(q.count)),
        h('td', { class: 'num' }, fmtUSD(q.cost)), h('td', { class: 'num' }, fmtUSD(q.monthly)))), { id: 'cost-requests' }),
    h('h2', {}, 'Storage'),
    table(['tier', ['bytes', { class: 'num' }], ['monthly', { class: 'num' }]],
      r.storage.map((s) => h('tr', {}, h('td', {}, s.tier), h('td', { class: 'num' }, fmtBytes(s.bytes)), h('td', { class: 'num' }, fmtUSD(s.monthly))))),
    h('h2', {}, 'Object storage by topic'),
    table(['topic', ['bytes', { class: 'num' }], ['objects', { class: 'num' }], ['monthly', { class: 'num' }]],
      r.topics.map((t) => h('tr', {}, h('td', {}, h('a', { href: '#/topics/' + enc(t.topic) }, t.topic)), h('td', { class: 'num' }, fmtBytes(t.bytes)),
        h('td', { class: 'num' }, fmtInt(t.segments)), h('td', { class: 'num' }, fmtUSD(t.monthly))))));
  ready('cost');
}

// ---- Search -------------------------------------------------------------------------------------
// Log search (GET /v1/search: newest first, with a time histogram) and SQL (POST /v1/sql), both
// answered as NDJSON by the query engine over every tier.
async function ndjson(path, init) {
  const resp = await fetch(path, Object.assign({ headers: { Accept: 'application/x-ndjson' } }, init || {}));
  const text = await resp.text();
  if (!resp.ok) {
    let msg = `${resp.status} ${resp.statusText}`;
    try { msg = JSON.parse(text).error || msg; } catch { /* not JSON */ }
    throw new APIError(resp.status, msg);
  }
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

function histogramChart(buckets) {
  const w = 640, hgt = 120, n = Math.max(1, buckets.length);
  const max = Math.max(1, ...buckets.map((b) => Number(b.count)));
  const bw = w / n;
  return svg('svg', { width: w, height: hgt + 18, viewBox: `0 0 ${w} ${hgt + 18}`, role: 'img', 'aria-label': 'matches over time', id: 'search-histogram' },
    buckets.map((b, i) => {
      const bh = Math.max(1, hgt * Number(b.count) / max);
      return svg('rect', { x: i * bw + 1, y: hgt - bh, width: Math.max(1, bw - 2), height: bh, fill: '#4a7bd8', 'data-count': b.count },
        svg('title', {}, `${b.start}: ${b.count}`));
    }),
    buckets.length ? [svg('text', { x: 0, y: hgt + 14 }, String(buckets[0].start)),
      svg('text', { x: w, y: hgt + 14, 'text-anchor': 'end' }, String(buckets[buckets.length - 1].start))] : []);
}

const cellText = (v) => v === null || v === undefined ? 'null' : typeof v === 'object' ? JSON.stringify(v) : String(v);

function rowsTable(rows, id) {
  if (!rows.length) return h('p', { class: 'muted', id }, 'No rows.');
  const cols = Object.keys(rows[0]);
  return table(cols, rows.map((r) => h('tr', {}, cols.map((c) => {
    const t = cellText(r[c]);
    return h('td', { class: typeof r[c] === 'number' ? 'num' : null, title: t.length > 200 ? t : null }, t.length > 200 ? t.slice(0, 200) + '…' : t);
  }))), { id });
}

const searchBuckets = { '15m': '1m', '1h': '1m', '24h': '1h', '7d': '6h', '': '1h' };

async function searchPage(params) {
  const topic = params.get('topic') || '', q = params.get('q') || '', from = params.has('from') ? params.get('from') : '1h';
  const sql = params.get('sql') || '';
  const topicIn = h('input', { id: 'search-topic', placeholder: 'topic', value: topic, required: true });
  const qIn = h('input', { id: 'search-q', placeholder: 'text in the value', value: q });
  const fromSel = h('select', { id: 'search-from' },
    [['15m', 'last 15 minutes'], ['1h', 'last hour'], ['24h', 'last 24 hours'], ['7d', 'last 7 days'], ['', 'all time']].map(([v, t]) => h('option', { value: v }, t)));
  fromSel.value = from;
  const form = h('form', { class: 'row', id: 'search-form', onsubmit: (e) => {
    e.preventDefault();
    const p = new URLSearchParams(params); // a SQL statement shown stays
    p.set('topic', topicIn.value);
    p.set('q', qIn.value);
    p.set('from', fromSel.value);
    location.hash = '#/search?' + p.toString();
  } }, topicIn, qIn, fromSel, h('button', { type: 'submit' }, 'Search'));
  const sqlIn = h('textarea', { id: 'sql-statement', rows: 4, cols: 80, placeholder: 'SELECT level, count(*) FROM ...' }, sql);
  const sqlForm = h('form', { id: 'sql-form', onsubmit: (e) => {
    e.preventDefault();
    const p = new URLSearchParams(params); // the search shown stays
    p.set('sql', sqlIn.value);
    location.hash = '#/search?' + p.toString();
  } }, sqlIn, h('div', {}, h('button', { type: 'submit' }, 'Run SQL')));

  const parts = [h('h1', {}, 'Search'), form];
  if (topic) {
    const p = new URLSearchParams({ topic, limit: '100', histogram: searchBuckets[from] || '1h' });
    if (q) p.set('q', q);
    if (from) p.set('from', from);
    try {
      const lines = await ndjson('/v1/search?' + p.toString());
      const hist = lines.find((l) => l && l.histogram);
      const rows = lines.filter((l) => !(l && l.histogram));
      parts.push(h('p', { class: 'muted', id: 'search-summary' }, `${rows.length} newest matching records of ${topic}` +
        (hist ? `; ${hist.histogram.reduce((a, b) => a + Number(b.count), 0)} in all, per ${hist.bucket}` : '')));
      if (hist) parts.push(histogramChart(hist.histogram));
      parts.push(rowsTable(rows, 'search-results'));
    } catch (err) {
      parts.push(banner(err));
    }
  }
  parts.push(h('h2', {}, 'SQL'), h('p', { class: 'note' }, 'Every topic is a table (partition, "offset", timestamp, key, value, headers); JSON fields as value->>\'$.field\'.'), sqlForm);
  if (sql) {
    try {
      parts.push(rowsTable(await ndjson('/v1/sql', { method: 'POST', body: sql }), 'sql-results'));
    } catch (err) {
      parts.push(banner(err));
    }
  }
  show(parts);
  ready('search');
}

// ---- Router -----------------------------------------------------------------------------------
async function route() {
  stopPage();
  stopPage = () => {};
  delete document.body.dataset.ready;
  const raw = location.hash.replace(/^#\/?/, '') || 'cluster';
  const [path, query] = raw.split('?');
  const params = new URLSearchParams(query || '');
  const [page, arg] = path.split('/').map(decodeURIComponent);
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === page);
  try {
    switch (page) {
      case 'cluster': await clusterPage(); break;
      case 'topics': await (arg ? topicPage(arg) : topicsPage(params)); break;
      case 'groups': await (arg ? groupPage(arg) : groupsPage()); break;
      case 'messages': await messagesPage(params); break;
      case 'cost': await costPage(params); break;
      case 'search': await searchPage(params); break;
      default: show(h('h1', {}, 'Not found'), h('p', {}, 'No page ', h('code', {}, page), '. ', h('a', { href: '#/cluster' }, 'Cluster')));
        ready('notfound');
    }
  } catch (err) {
    show(h('h1', {}, 'Error'), banner(err));
    ready('error');
  }
}

window.addEventListener('hashchange', route);
api('/v1/node').then((n) => { document.getElementById('node').textContent = `node ${n.node_id} · ${n.version}`; }).catch(() => {});
route();
