// The agent's web page (docs/web.md). Plain JavaScript, no dependencies: it
// talks only to the agent's documented API on its own origin, with the
// token it gets from /authentication/login kept in sessionStorage (gone
// when the tab closes). Everything the API returns is put in the page as
// text (textContent), never as HTML.
'use strict';

const TOKEN_KEY = 'amove.token';
const USER_KEY = 'amove.user';

const CLOUD_TYPES = [
  [8, 'S3-compatible'], [1, 'Amazon S3'], [2, 'Wasabi'], [64, 'Cloudflare R2'],
  [4, 'Azure Blob'], [16, 'Google Cloud Storage'],
];
const TYPE_NAMES = new Map([...CLOUD_TYPES, [32, 'Frame.io'], [128, 'Dropbox'], [256, 'Box'],
  [512, 'OneDrive'], [1024, 'Google Drive'], [2048, 'Local storage'], [4096, 'Fastr server'], [8192, 'Atomosphere']]);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  accounts: [],
  browse: { account: '', bucket: '', path: '', next: '' },
  transfers: new Map(), // transferId -> {st, samples, node}
  ws: null,
  wsRetry: 0,
};

const $ = (id) => document.getElementById(id);

// el builds an element; strings among children become text nodes.
function el(tag, props, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'class') n.className = v;
    else if (k === 'dataset') Object.assign(n.dataset, v);
    else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v);
  }
  for (const c of children) {
    if (c !== null && c !== undefined) n.append(c);
  }
  return n;
}

function svgEl(tag, attrs) {
  const n = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
  return n;
}

// toast shows a short message at the bottom of the page.
function toast(msg, bad) {
  const n = el('div', { class: bad ? 'bad' : '' }, msg);
  $('status').append(n);
  setTimeout(() => n.remove(), bad ? 8000 : 4000);
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// problemMessage reads the agent's error model: {type, status, errors: {code: [msg]}}.
function problemMessage(data, status) {
  if (data && typeof data === 'object' && data.errors) {
    const msgs = Object.values(data.errors).flat();
    if (msgs.length) return msgs.join('; ');
  }
  return 'the agent answered ' + status;
}

// api calls the agent. JSON bodies go as application/json, which is what
// the agent requires of every JSON request; the token goes in the
// Authorization header, never in a URL.
async function api(method, path, body) {
  const headers = {};
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload, credentials: 'omit', cache: 'no-store' });
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (res.status === 401 && path !== '/authentication/login') {
    signOut('Your session has ended: sign in again.');
  }
  if (!res.ok) throw new ApiError(res.status, problemMessage(data, res.status));
  return data;
}

// guard runs an async UI action and reports its failure instead of leaving
// an unhandled rejection.
function guard(fn) {
  return async (ev) => {
    try {
      await fn(ev);
    } catch (err) {
      toast(err.message || String(err), true);
    }
  };
}

function fmtBytes(n) {
  if (!Number.isFinite(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
}

// ---- views and sign-in ----

function show(view) {
  if (!state.token) view = 'signin';
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== 'view-' + view;
  for (const b of document.querySelectorAll('#nav button')) b.classList.toggle('active', b.dataset.view === view);
  $('nav').hidden = !state.token;
  $('who').hidden = !state.token;
  $('who-name').textContent = sessionStorage.getItem(USER_KEY) || '';
  if (view === 'accounts') loadAccounts().catch((e) => toast(e.message, true));
  if (view === 'browser') openBrowser().catch((e) => toast(e.message, true));
  if (view === 'transfers') renderTransfersEmpty();
}

function route() {
  show((location.hash || '#accounts').slice(1));
}

async function signIn(ev) {
  ev.preventDefault();
  $('signin-error').textContent = '';
  const username = $('signin-username').value;
  try {
    const res = await api('POST', '/authentication/login', { username, password: $('signin-password').value });
    if (!res || !res.jwtToken) {
      // challenge 1 or 2 (amove-api-notes.md): a second factor, which this
      // agent never asks for and this page does not offer.
      throw new ApiError(0, 'this sign-in needs a second factor, which the page does not support');
    }
    state.token = res.jwtToken;
  } catch (err) {
    $('signin-error').textContent = err.status === 401 ? 'Wrong username or password.' : err.message;
    return;
  } finally {
    $('signin-password').value = '';
  }
  sessionStorage.setItem(TOKEN_KEY, state.token);
  sessionStorage.setItem(USER_KEY, username);
  startSession();
  if (location.hash === '#accounts' || !location.hash) route();
  else location.hash = '#accounts';
}

function signOut(msg) {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
  if (state.ws) {
    const ws = state.ws;
    state.ws = null;
    ws.close(1000);
  }
  state.transfers.clear();
  $('transfers-list').replaceChildren();
  if (msg) toast(msg);
  show('signin');
}

function startSession() {
  connect();
  loadTransfers().catch((e) => toast(e.message, true));
}

// ---- accounts ----

async function loadAccounts() {
  state.accounts = (await api('GET', '/cloud/accounts')) || [];
  const body = $('accounts-body');
  body.replaceChildren();
  for (const a of state.accounts) {
    const row = el('tr', { dataset: { id: a.id } },
      el('td', { class: 'name' }, a.name),
      el('td', {}, TYPE_NAMES.get(a.cloudType) || String(a.cloudType)),
      el('td', {}, a.serviceUrl || a.endpoint || a.region || ''),
      el('td', { class: 'muted' }, a.accessKey || ''),
      el('td', {}, a.shared ? 'yes' : 'no'),
      el('td', { class: 'actions' },
        el('button', { type: 'button', dataset: { action: 'browse' }, onclick: () => browseAccount(a.id) }, 'Browse'),
        el('button', { type: 'button', dataset: { action: 'test' }, onclick: guard(() => testStored(a, row)) }, 'Test'),
        el('button', { type: 'button', dataset: { action: 'share' }, onclick: guard(() => setShared(a, !a.shared)) }, a.shared ? 'Unshare' : 'Share'),
        confirmButton('Delete', guard(() => deleteAccount(a))),
        el('span', { class: 'result' })));
    body.append(row);
  }
  $('accounts-empty').hidden = state.accounts.length > 0;
  loaded(body);
}

// loaded counts the renderings of a list, so a test (or anyone) can tell
// a fresh list from the one shown before.
function loaded(node) {
  node.dataset.loaded = String(Number(node.dataset.loaded || 0) + 1);
}

// confirmButton asks for a second click within a few seconds before acting.
function confirmButton(label, act) {
  const b = el('button', { type: 'button', class: 'danger', dataset: { action: label.toLowerCase() } }, label);
  let timer = 0;
  b.addEventListener('click', (ev) => {
    if (!timer) {
      b.textContent = 'Confirm ' + label.toLowerCase();
      timer = setTimeout(() => { timer = 0; b.textContent = label; }, 4000);
      return;
    }
    clearTimeout(timer);
    timer = 0;
    b.textContent = label;
    act(ev);
  });
  return b;
}

function formAccount() {
  const f = $('account-form');
  const a = {
    cloudType: Number(f.cloudType.value), name: f.name.value.trim(), endpoint: f.endpoint.value.trim(),
    region: f.region.value.trim(), accessKey: f.accessKey.value.trim(), secretKey: f.secretKey.value,
    credentialsData: f.credentialsData.value.trim(), shared: f.shared.checked,
  };
  if (!a.endpoint) delete a.endpoint;
  return a;
}

function showResult(node, ok, msg) {
  node.className = 'result ' + (ok ? 'ok' : 'bad');
  node.textContent = msg;
}

// testForm lists the buckets of the typed credentials without storing them.
async function testForm() {
  const out = $('acct-result');
  showResult(out, true, 'Testing…');
  try {
    const res = await api('POST', '/cloud/list_buckets', formAccount());
    showResult(out, true, 'Works: ' + (res.data || []).length + ' bucket(s).');
  } catch (err) {
    showResult(out, false, 'Failed: ' + err.message);
  }
}

async function addAccount(ev) {
  ev.preventDefault();
  const out = $('acct-result');
  try {
    const a = await api('POST', '/cloud/insert_account', formAccount());
    showResult(out, true, 'Added ' + a.name + '.');
    $('account-form').reset();
  } catch (err) {
    showResult(out, false, 'Not added: ' + err.message);
    return;
  }
  await loadAccounts();
}

async function testStored(a, row) {
  const out = row.querySelector('.result');
  showResult(out, true, 'Testing…');
  try {
    const res = await api('POST', '/cloud/list_buckets', { id: a.id, cloudType: a.cloudType, name: a.name });
    showResult(out, true, 'Works: ' + (res.data || []).length + ' bucket(s).');
  } catch (err) {
    showResult(out, false, 'Failed: ' + err.message);
  }
}

async function setShared(a, shared) {
  await api('PUT', '/cloud/manage_share', { id: a.id, shared });
  toast((shared ? 'Shared ' : 'Unshared ') + a.name + '.');
  await loadAccounts();
}

async function deleteAccount(a) {
  await api('DELETE', '/cloud/delete?id=' + encodeURIComponent(a.id));
  toast('Deleted ' + a.name + '.');
  if (state.browse.account === a.id) state.browse = { account: '', bucket: '', path: '', next: '' };
  await loadAccounts();
}

// ---- browser ----

function browseAccount(id) {
  state.browse = { account: id, bucket: '', path: '', next: '' };
  location.hash = '#browser';
}

async function openBrowser() {
  if (!state.accounts.length) state.accounts = (await api('GET', '/cloud/accounts')) || [];
  const sel = $('br-account');
  sel.replaceChildren(...state.accounts.map((a) => el('option', { value: a.id }, a.name)));
  if (!state.accounts.some((a) => a.id === state.browse.account)) {
    state.browse = { account: state.accounts.length ? state.accounts[0].id : '', bucket: '', path: '', next: '' };
  }
  sel.value = state.browse.account;
  await loadBuckets();
}

async function loadBuckets() {
  const sel = $('br-bucket');
  sel.replaceChildren();
  $('objects-body').replaceChildren();
  if (!state.browse.account) return;
  const res = await api('POST', '/cloud/list_buckets', { id: state.browse.account });
  const names = (res.data || []).map((b) => b.name);
  sel.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
  if (!names.includes(state.browse.bucket)) {
    state.browse.bucket = names[0] || '';
    state.browse.path = '';
  }
  sel.value = state.browse.bucket;
  await listObjects(false);
}

function pageSize() {
  const n = Number($('br-pagesize').value);
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : 100;
}

// listGen counts listings: an answer to one that a newer listing replaced
// is dropped, so quick clicks never mix two folders.
let listGen = 0;

// listObjects shows the current folder; more appends the next page.
async function listObjects(more) {
  const b = state.browse;
  const gen = more ? listGen : ++listGen;
  renderCrumbs();
  const body = $('objects-body');
  if (!more) {
    body.replaceChildren();
    b.next = '';
  }
  if (!b.bucket) {
    $('br-more').hidden = true;
    $('objects-empty').hidden = false;
    return;
  }
  let token = more ? b.next : '';
  let shown = 0;
  do {
    const res = await api('POST', '/cloud/list_objects', {
      account: { id: b.account },
      request: { bucketName: b.bucket, path: b.path, continuationToken: token, count: pageSize() },
    });
    if (gen !== listGen) return;
    for (const o of res.data || []) {
      if (o.isFolder && o.key === b.path) continue; // the folder's own marker
      body.append(objectRow(o));
      shown++;
    }
    token = res.continuationToken || '';
  } while (!shown && token); // a page of only the marker shows nothing: go on
  b.next = token;
  $('br-more').hidden = !b.next;
  $('objects-empty').hidden = body.children.length > 0;
  loaded(body);
}

function objectRow(o) {
  const b = state.browse;
  const name = o.isFolder
    ? el('a', { class: 'folder', onclick: guard(() => { b.path = o.key; return listObjects(false); }) }, o.name + '/')
    : o.name;
  const actions = el('td', { class: 'actions' });
  if (!o.isFolder) {
    actions.append(
      el('button', { type: 'button', dataset: { action: 'download' }, onclick: guard(() => download(o)) }, 'Download'),
      confirmButton('Delete', guard(() => deleteObject(o))));
  }
  return el('tr', { dataset: { key: o.key } },
    el('td', { class: 'name' }, name),
    el('td', {}, o.isFolder ? '' : fmtBytes(o.size)),
    el('td', { class: 'muted' }, o.lastModified ? new Date(o.lastModified).toLocaleString() : ''),
    actions);
}

function renderCrumbs() {
  const b = state.browse;
  const nav = $('br-crumbs');
  nav.replaceChildren();
  const go = (p) => guard(() => { b.path = p; return listObjects(false); });
  nav.append(el('a', { onclick: go('') }, b.bucket || '(no bucket)'));
  let acc = '';
  for (const part of b.path.split('/').filter(Boolean)) {
    acc += part + '/';
    nav.append(el('span', { class: 'sep' }, '/'), el('a', { onclick: go(acc) }, part));
  }
}

// download asks the agent for a presigned URL and lets the browser fetch
// it: the bytes go from the storage to the browser, not through the page.
async function download(o) {
  const b = state.browse;
  const url = await api('POST', '/cloud/generate_download_url', {
    cloudAccountId: b.account, storageName: b.bucket, key: o.key, expireHours: 1, forceToDownload: true,
  });
  const a = el('a', { href: url, download: o.name, rel: 'noopener noreferrer' });
  document.body.append(a);
  a.click();
  a.remove();
}

async function deleteObject(o) {
  const b = state.browse;
  await api('POST', '/cloud/delete_object', { cloudAccountId: b.account, storageName: b.bucket, key: o.key });
  toast('Deleted ' + o.name + '.');
  await listObjects(false);
}

async function createFolder(ev) {
  ev.preventDefault();
  const b = state.browse;
  const name = $('folder-name').value.trim();
  if (!name || !b.bucket) return;
  await api('POST', '/cloud/create_folder', { cloudAccount: { id: b.account }, storageName: b.bucket, path: b.path, folderName: name });
  $('folder-name').value = '';
  await listObjects(false);
}

// upload sends each file to upload_object_from_form: the agent stages it
// and starts the transfer, whose progress arrives on the socket.
async function upload(files) {
  const b = state.browse;
  if (!b.bucket) throw new Error('choose a bucket first');
  const status = $('br-upload-status');
  for (const f of files) {
    status.textContent = 'Sending ' + f.name + '…';
    const form = new FormData();
    form.append('cloudAccountJson', JSON.stringify({ id: b.account }));
    form.append('storageName', b.bucket);
    form.append('uploadPath', b.path);
    form.append('file', f, f.name);
    try {
      const res = await api('POST', '/cloud/upload_object_from_form', form);
      // A placeholder until the socket tells more; the socket may have
      // been first (a small file is done before its answer arrives), and
      // then it has the truth.
      if (!state.transfers.has(res.transferId)) track({ transferId: res.transferId, status: 'pending', kind: 'upload', targetBucket: b.bucket,
        targetPath: b.path + f.name, totalBytes: f.size, transferredBytes: 0, progress: 0 });
      toast('Uploading ' + f.name + ': see Transfers.');
    } finally {
      status.textContent = '';
    }
  }
}

function setupDropzone() {
  const z = $('dropzone');
  z.addEventListener('dragover', (ev) => { ev.preventDefault(); z.classList.add('over'); });
  z.addEventListener('dragleave', () => z.classList.remove('over'));
  z.addEventListener('drop', guard(async (ev) => {
    ev.preventDefault();
    z.classList.remove('over');
    await upload([...ev.dataTransfer.files]);
  }));
  $('br-file').addEventListener('change', guard(async (ev) => {
    const files = [...ev.target.files];
    ev.target.value = '';
    await upload(files);
  }));
}

// ---- transfers ----

const FINAL = new Set(['completed', 'failed', 'cancelled']);

async function loadTransfers() {
  const list = (await api('GET', '/cloud/client_transfer/all')) || [];
  for (const st of list) track(st);
  renderTransfersEmpty();
}

function renderTransfersEmpty() {
  $('transfers-empty').hidden = state.transfers.size > 0;
  let active = 0;
  for (const t of state.transfers.values()) if (!FINAL.has(t.st.status)) active++;
  $('active-count').textContent = active ? '(' + active + ')' : '';
}

// track merges a status (from the API or the socket) into the transfer's card.
function track(st) {
  if (!st || !st.transferId) return;
  let t = state.transfers.get(st.transferId);
  if (!t) {
    t = { st: {}, samples: [], node: null };
    state.transfers.set(st.transferId, t);
  }
  const prev = t.st;
  // The socket and the API's answers can cross: an ended transfer never
  // starts again (the API resumes only a paused one), so a late
  // "running" after "completed" is stale.
  if (FINAL.has(prev.status) && !FINAL.has(st.status)) return;
  t.st = Object.assign({}, prev, st);
  const now = performance.now();
  let rate = Number(st.bytesPerSecond) || 0;
  const last = t.samples[t.samples.length - 1];
  if (!rate && last && now > last.t && st.transferredBytes >= last.bytes) {
    rate = (st.transferredBytes - last.bytes) / ((now - last.t) / 1000);
  }
  if (t.st.status === 'paused' || FINAL.has(t.st.status)) rate = 0;
  if (Number.isFinite(st.transferredBytes)) {
    t.samples.push({ t: now, bytes: st.transferredBytes, rate });
    if (t.samples.length > 300) t.samples.shift();
  }
  renderTransfer(st.transferId, t);
  renderTransfersEmpty();
}

function transferTitle(st) {
  switch (st.kind) {
    case 'upload': return 'Upload to ' + st.targetBucket + '/' + st.targetPath;
    case 'download': return 'Download of ' + st.sourceBucket + '/' + st.sourcePath;
    default: return (st.kind || 'Transfer') + ' ' + (st.sourceBucket || '') + '/' + (st.sourcePath || '') +
      ' → ' + (st.targetBucket || '') + '/' + (st.targetPath || '');
  }
}

function renderTransfer(id, t) {
  const st = t.st;
  if (!t.node) {
    t.node = el('div', { class: 'transfer', id: 'tr-' + id, dataset: { id } },
      el('div', { class: 'title' }),
      el('div', { class: 'chart' }, rateChart()),
      el('div', { class: 'bar' }, el('div')),
      el('div', { class: 'meta' }),
      el('div', { class: 'buttons' },
        el('button', { type: 'button', dataset: { action: 'pause' }, onclick: guard(() => control(id, 'pause')) }, 'Pause'),
        el('button', { type: 'button', dataset: { action: 'resume' }, onclick: guard(() => control(id, 'resume')) }, 'Resume'),
        el('button', { type: 'button', class: 'danger', dataset: { action: 'cancel' }, onclick: guard(() => control(id, 'cancel')) }, 'Cancel')));
    $('transfers-list').prepend(t.node);
  }
  const n = t.node;
  n.className = 'transfer state-' + st.status;
  n.dataset.state = st.status;
  n.dataset.progress = String(st.progress || 0);
  n.querySelector('.title').textContent = transferTitle(st);
  n.querySelector('.bar > div').style.width = Math.min(100, st.progress || 0) + '%';
  const last = t.samples[t.samples.length - 1];
  const meta = [st.status, (st.progress || 0) + ' %', fmtBytes(st.transferredBytes) + ' of ' + fmtBytes(st.totalBytes)];
  if (last && last.rate > 0) meta.push(fmtBytes(Math.round(last.rate)) + '/s');
  if (st.errorMessage) meta.push(st.errorMessage);
  n.querySelector('.meta').textContent = meta.join(' · ');
  const s = st.status;
  n.querySelector('[data-action=pause]').disabled = !(s === 'running' || s === 'pending');
  n.querySelector('[data-action=resume]').disabled = s !== 'paused';
  n.querySelector('[data-action=cancel]').disabled = s === 'completed' || s === 'cancelled';
  drawRate(n.querySelector('svg.rate'), t.samples);
}

function rateChart() {
  const svg = svgEl('svg', { class: 'rate', viewBox: '0 0 260 70', role: 'img', 'aria-label': 'throughput over time' });
  svg.append(svgEl('polyline', { points: '' }));
  const max = svgEl('text', { x: '4', y: '10', class: 'max' });
  const span = svgEl('text', { x: '256', y: '66', 'text-anchor': 'end', class: 'span' });
  svg.append(max, span);
  return svg;
}

// drawRate plots the throughput samples: time across, bytes per second up.
function drawRate(svg, samples) {
  const line = svg.querySelector('polyline');
  if (samples.length < 2) {
    line.setAttribute('points', '');
    return;
  }
  const t0 = samples[0].t;
  const t1 = samples[samples.length - 1].t;
  const span = Math.max(t1 - t0, 1);
  const peak = Math.max(...samples.map((p) => p.rate), 1);
  const pts = samples.map((p) => {
    const x = 2 + ((p.t - t0) / span) * 256;
    const y = 66 - (p.rate / peak) * 52;
    return x.toFixed(1) + ',' + y.toFixed(1);
  });
  line.setAttribute('points', pts.join(' '));
  svg.dataset.points = String(samples.length);
  const measured = samples.some((p) => p.rate > 0);
  svg.querySelector('text.max').textContent = measured ? 'peak ' + fmtBytes(Math.round(peak)) + '/s' : 'no rate yet';
  svg.querySelector('text.span').textContent = (span / 1000).toFixed(1) + ' s';
}

async function control(id, action) {
  await api('POST', '/cloud/client_transfer/' + encodeURIComponent(id) + '/' + action);
  const st = await api('GET', '/cloud/client_transfer/' + encodeURIComponent(id) + '/status');
  track(st);
}

// connect opens the /notification socket, the token offered as the
// "access_token" subprotocol so it never sits in a URL, and reconnects with
// a growing delay while signed in.
function connect() {
  if (!state.token || state.ws) return;
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const ws = new WebSocket(scheme + location.host + '/notification', ['access_token', state.token]);
  state.ws = ws;
  const pill = $('ws-state');
  pill.textContent = 'connecting';
  pill.className = 'pill';
  ws.addEventListener('open', () => {
    state.wsRetry = 0;
    pill.textContent = 'live';
    pill.className = 'pill live';
    // Catch up on what happened while the socket was down.
    loadTransfers().catch((e) => toast(e.message, true));
  });
  ws.addEventListener('message', (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    if (msg.Type === 1) track(msg.Data);
    else if (msg.Type === 2 && msg.Data && msg.Data.message) toast(msg.Data.message);
  });
  ws.addEventListener('close', (ev) => {
    if (state.ws !== ws) return; // signed out
    state.ws = null;
    pill.textContent = 'offline';
    pill.className = 'pill';
    if (ev.code === 4401 || ev.code === 4403) {
      signOut(ev.code === 4401 ? 'Your session has expired: sign in again.' : 'Your user was deactivated.');
      return;
    }
    const delay = Math.min(30000, 1000 * 2 ** state.wsRetry++);
    setTimeout(connect, delay);
  });
}

// ---- start ----

function init() {
  $('acct-type').replaceChildren(...CLOUD_TYPES.map(([v, n]) => el('option', { value: String(v) }, n)));
  $('signin-form').addEventListener('submit', guard(signIn));
  $('signout').addEventListener('click', () => signOut());
  $('account-form').addEventListener('submit', guard(addAccount));
  $('acct-test').addEventListener('click', guard(testForm));
  $('folder-form').addEventListener('submit', guard(createFolder));
  $('br-account').addEventListener('change', guard(async (ev) => {
    state.browse = { account: ev.target.value, bucket: '', path: '', next: '' };
    await loadBuckets();
  }));
  $('br-bucket').addEventListener('change', guard(async (ev) => {
    state.browse.bucket = ev.target.value;
    state.browse.path = '';
    await listObjects(false);
  }));
  $('br-refresh').addEventListener('click', guard(() => listObjects(false)));
  $('br-more').addEventListener('click', guard(() => listObjects(true)));
  for (const b of document.querySelectorAll('#nav button')) {
    b.addEventListener('click', () => { location.hash = '#' + b.dataset.view; });
  }
  setupDropzone();
  window.addEventListener('hashchange', route);
  if (state.token) startSession();
  route();
}

init();
