// The dashboard of the reference app: plain browser JavaScript, no build step. It renders the
// snapshots the server pushes over server-sent events (/dashboard/events) and sends the controls
// to the guarded admin routes with the admin token.

const TOKEN_KEY = 'xnai-reference-admin-token';
const OUTCOMES = ['success', 'failure', 'timeout', 'rejected', 'fallback', 'ignored'];
const OUTCOME_COLOURS = {
  success: 'var(--closed)',
  failure: 'var(--open)',
  timeout: 'var(--timeout)',
  rejected: 'var(--rejected)',
  fallback: 'var(--fallback)',
  ignored: 'var(--ignored)',
};
const STATUS_LABELS = {
  closed: 'closed',
  open: 'open',
  half_open: 'half-open',
  forced_open: 'forced open',
  forced_closed: 'forced closed',
  none: 'no state',
};
const MODE_LABELS = {
  redis: 'Redis',
  fallback: 'Fallback: in-memory mirror',
  memory_only: 'Memory only',
};
const DEPENDENCY_LABELS = { database: 'Database', externalApi: 'External API', cache: 'Cache' };

const $ = (selector, root = document) => root.querySelector(selector);

/** @param {unknown} value */
function html(value) {
  return String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

function seconds(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 0) ms = 0;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

function clock(at) {
  return new Date(at).toLocaleTimeString([], { hour12: false });
}

/** The last digits of a state version: enough to tell two apart at a glance (the full one in the title). */
function version(value) {
  return `<span title="version ${html(value)}">v…${html(String(value).slice(-6))}</span>`;
}

function statusPill(status, big = false) {
  const key = status ?? 'none';
  return `<span class="status${big ? ' big' : ''}" data-status="${html(key)}">${html(STATUS_LABELS[key] ?? key)}</span>`;
}

// --- the admin token: from the URL fragment once, then from local storage ----------------------------

function readToken() {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    localStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return localStorage.getItem(TOKEN_KEY) ?? '';
}

let token = readToken();
function showToken() {
  $('#token').value = token;
  $('#token-box').dataset.token = token ? 'set' : 'missing';
}
showToken();
$('#token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  token = $('#token').value.trim();
  localStorage.setItem(TOKEN_KEY, token);
  showToken();
  toast(token ? 'Admin token saved' : 'Admin token cleared');
});

let toastTimer = null;
function toast(message, kind = 'info') {
  const element = $('#toast');
  element.textContent = message;
  element.dataset.kind = kind;
  element.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    element.hidden = true;
  }, 3500);
}

async function post(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body ?? {}),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message =
      response.status === 403
        ? 'The admin token was refused: set it under “Admin token”'
        : (answer?.error?.message ?? `HTTP ${response.status}`);
    toast(message, 'error');
    throw new Error(message);
  }
  return answer;
}

// --- state ---------------------------------------------------------------------------------------

/** The last snapshot and when it arrived, to run countdowns between snapshots. */
let current = null;
let receivedAt = 0;
/** When the DOM first showed each circuit's current status (this browser's clock). */
const statusShown = new Map();

function serverNow() {
  return current ? current.now + (performance.now() - receivedAt) : Date.now();
}

// --- circuits ------------------------------------------------------------------------------------

const cards = new Map();

function circuitCard(circuit) {
  let card = cards.get(circuit.name);
  if (card) return card;
  card = document.createElement('article');
  card.className = 'circuit';
  card.dataset.circuit = circuit.name;
  card.innerHTML = `
    <div class="head"></div>
    <div class="body"></div>
    <form class="controls">
      <input name="reason" maxlength="200" placeholder="reason (optional)" aria-label="reason" />
      <select name="duration" aria-label="override expiry">
        <option value="">no expiry</option>
        <option value="30000">30 s</option>
        <option value="300000">5 min</option>
      </select>
      <button type="button" data-action="force-open" class="danger">Force open</button>
      <button type="button" data-action="force-closed">Force closed</button>
      <button type="button" data-action="clear">Clear override</button>
      <button type="button" data-action="reset">Reset</button>
    </form>`;
  card.querySelector('.controls').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const form = card.querySelector('.controls');
    const action = button.dataset.action;
    const body = {};
    if (action === 'force-open' || action === 'force-closed') {
      const reason = form.reason.value.trim();
      if (reason) body.reason = reason;
      if (form.duration.value) body.durationMs = Number(form.duration.value);
    }
    post(`/admin/circuits/${encodeURIComponent(circuit.name)}/${action}`, body).then(
      (answer) => {
        form.reason.value = '';
        toast(`${circuit.name}: ${STATUS_LABELS[answer.status] ?? answer.status}`);
      },
      () => undefined,
    );
  });
  $('#circuits').append(card);
  cards.set(circuit.name, card);
  return card;
}

function renderCircuit(circuit) {
  const card = circuitCard(circuit);
  if (card.dataset.status !== circuit.status) {
    card.dataset.status = circuit.status;
    card.dataset.statusShownAt = String(Date.now());
    statusShown.set(circuit.name, Date.now());
  }
  card.querySelector('.head').innerHTML = `
    <h3>${html(circuit.name)}</h3>
    <span class="muted small">${html(DEPENDENCY_LABELS[circuit.dependency] ?? '')}${
      circuit.policy.slidingWindow
        ? ` · ${html(circuit.policy.slidingWindow)}`
        : ` · ${circuit.policy.failureThreshold} failures in a row`
    }</span>`;
  const override = circuit.override;
  const overrideHtml = override
    ? `<div class="override">${html(STATUS_LABELS[override.mode] ?? override.mode)}${
        override.reason ? `: “${html(override.reason)}”` : ''
      } · <span class="countdown" data-until="${override.expiresAt ?? ''}">${
        override.expiresAt === null ? 'no expiry' : ''
      }</span></div>`
    : '';
  const probes = circuit.probeLeases;
  const probesHtml =
    probes.length > 0
      ? `<div class="probes">${probes.length} probe lease${probes.length === 1 ? '' : 's'} in flight: ${probes
          .map(
            (probe) =>
              `<code>${html(probe.id.slice(-6))}</code> round ${probe.round}, <span class="countdown" data-until="${
                current.now + probe.expiresInMs
              }"></span>`,
          )
          .join('; ')}</div>`
      : circuit.state === 'half_open'
        ? '<div class="probes muted">no probe in flight</div>'
        : '';
  card.querySelector('.body').innerHTML = `
    ${statusPill(circuit.status, true)}
    ${
      circuit.state === 'open' && circuit.openUntil > 0
        ? `<div>probes allowed in <span class="countdown open-until" data-until="${circuit.openUntil}"></span></div>`
        : ''
    }
    ${overrideHtml}
    ${probesHtml}
    <div class="facts">
      <span>failures <b>${circuit.failureCount}</b></span>
      <span>successes <b>${circuit.successCount}</b></span>
      <span>opens in a row <b>${circuit.consecutiveOpens}</b></span>
      <b>${version(circuit.version)}</b>
    </div>`;
}

function renderCircuits(snapshot) {
  for (const circuit of snapshot.circuits) renderCircuit(circuit);
  $('#circuits-note').textContent = `as this instance (${snapshot.instance.id}) sees them`;
}

// --- fleet ---------------------------------------------------------------------------------------

function renderFleet(snapshot) {
  const fleet = snapshot.fleet;
  const element = $('#fleet');
  if (!fleet.available) {
    element.innerHTML =
      '<p class="muted">Memory only: there is no fleet. Start instances with the same <code>REDIS_URL</code> to see each one here.</p>';
    return;
  }
  const names = new Set(Object.keys(fleet.redis));
  for (const member of fleet.members)
    for (const name of Object.keys(member.heartbeat.circuits)) names.add(name);
  const divergent = new Set(fleet.divergent);
  const header = fleet.members
    .map((member) => {
      const beat = member.heartbeat;
      const delay = beat.pushDelay;
      return `<th data-instance="${html(beat.instanceId)}" class="${member.stale ? 'stale' : ''}">
        ${html(beat.instanceId)}${member.self ? ' <span class="muted">(this)</span>' : ''}<br />
        <span class="badge mode" data-mode="${html(beat.mode)}">${html(MODE_LABELS[beat.mode] ?? beat.mode)}</span>
        ${beat.outage ? '<span class="badge" style="background:var(--open)">cut off</span>' : ''}<br />
        <span class="muted small">heartbeat ${member.self ? 'now' : `${seconds(member.ageMs)} ago`}${member.stale ? ' (stale)' : ''}</span><br />
        <span class="muted small">push delay p50 ${delay.p50Ms ?? '—'} / p99 ${delay.p99Ms ?? '—'} ms (${delay.samples})</span><br />
        <span class="muted small">v${html(beat.versions.library)} · node ${html(beat.versions.node)}</span>
      </th>`;
    })
    .join('');
  const rows = [...names]
    .sort()
    .map((name) => {
      const truth = fleet.redis[name];
      const cells = fleet.members
        .map((member) => {
          const facts = member.heartbeat.circuits[name];
          const key = `${member.heartbeat.instanceId}/${name}`;
          if (!facts)
            return `<td class="${member.stale ? 'stale' : ''}"><span class="muted">not used</span></td>`;
          const differs = divergent.has(key);
          return `<td data-cell="${html(key)}" data-status="${html(facts.status)}" class="${differs ? 'divergent' : ''} ${
            member.stale ? 'stale' : ''
          }" title="${differs ? 'differs from Redis' : 'same as Redis'}">${statusPill(facts.status)}${differs ? ' ≠' : ''}
            <span class="version">${version(facts.version)} · f ${facts.failureCount}${
              facts.probes ? ` · ${facts.probes} probes` : ''
            }</span></td>`;
        })
        .join('');
      const redisCell = truth
        ? `${statusPill(truth.status)}<span class="version">${version(truth.version)} · f ${truth.failureCount}${
            truth.probes ? ` · ${truth.probes} probes` : ''
          }${truth.override ? ` · ${html(truth.override.mode)}` : ''}</span>`
        : '<span class="muted">no key</span>';
      return `<tr><th>${html(name)}</th><td data-cell="redis/${html(name)}" data-status="${html(
        truth?.status ?? 'none',
      )}">${redisCell}</td>${cells}</tr>`;
    })
    .join('');
  element.innerHTML = `
    <p class="small ${fleet.monitorConnected ? 'muted' : ''}">${fleet.members.length} instance${
      fleet.members.length === 1 ? '' : 's'
    } · ${
      fleet.divergent.length === 0
        ? 'every view agrees with Redis'
        : `<strong>${fleet.divergent.length} view${fleet.divergent.length === 1 ? '' : 's'} differ from Redis</strong>`
    } · Redis read ${fleet.redisReadAt ? `${seconds(Date.now() - fleet.redisReadAt)} ago` : 'not yet'}${
      fleet.monitorConnected ? '' : ' · <strong>the monitor cannot reach Redis</strong>'
    }</p>
    <div class="table-wrap"><table id="fleet-table">
      <thead><tr><th>circuit</th><th data-instance="redis">Redis<br /><span class="muted small">shared state</span></th>${header}</tr></thead>
      <tbody>${rows}</tbody>
    </table></div>`;
}

// --- Redis, outage, timeline -----------------------------------------------------------------------

function renderRedis(snapshot) {
  const mode = snapshot.mode;
  const badge = $('#mode');
  badge.dataset.mode = mode;
  badge.textContent = MODE_LABELS[mode] ?? mode;
  $('#memory-banner').hidden = mode !== 'memory_only';
  const redis = snapshot.redis;
  const pending = snapshot.fallbackStatus.fallbackStatesCount;
  const memoryWrites = Object.values(snapshot.fallbackWrites).reduce((sum, count) => sum + count, 0);
  $('#redis').innerHTML = redis
    ? `<div class="facts">
        <span>store <b>${html(MODE_LABELS[mode] ?? mode)}</b></span>
        <span>connection <b>${html(redis.mode)}</b></span>
        <span>${html(redis.url)}</span>
        <span>latency p99 <b>${redis.latencyP99Ms === null ? '—' : `${redis.latencyP99Ms.toFixed(1)} ms`}</b></span>
        <span>fallbacks <b>${redis.fallbackEntries}</b></span>
        <span title="changes that reached only the in-memory mirror since start">memory-only writes <b>${memoryWrites}</b></span>
        <span title="circuits changed in memory, not yet reconciled into Redis">pending merge <b data-testid="pending">${pending}</b></span>
      </div>${redis.lastError ? `<p class="small muted">last error: ${html(redis.lastError)}</p>` : ''}`
    : '<p>Memory only: no Redis is configured and no connection is made.</p>';
  const outage = snapshot.outage;
  const box = $('#outage');
  box.hidden = !outage.available;
  box.dataset.active = String(outage.active);
  const toggle = $('#outage-toggle');
  toggle.dataset.active = String(outage.active);
  toggle.textContent = outage.active ? 'Restore Redis' : 'Cut this instance off from Redis';
  if (document.activeElement !== $('#outage-mode')) $('#outage-mode').value = outage.mode;
  $('#outage-note').textContent = outage.active
    ? `Cut off (${outage.mode}) ${seconds(Date.now() - outage.since)} ago. Its breakers run on the in-memory mirror; the rest of the fleet goes on.`
    : 'A fault proxy sits between this instance and Redis; the fleet view keeps its own direct connection.';
}

let lastTimelineId = 0;
function renderTimeline(snapshot) {
  const list = $('#timeline');
  const newest = snapshot.timeline.at(-1)?.id ?? 0;
  if (newest === lastTimelineId) return;
  lastTimelineId = newest;
  list.innerHTML = [...snapshot.timeline]
    .reverse()
    .map(
      (entry) =>
        `<li data-kind="${html(entry.kind)}"><time datetime="${new Date(entry.at).toISOString()}">${clock(
          entry.at,
        )}</time><span class="kind" data-kind="${html(entry.kind)}">${html(entry.kind)}</span><span>${html(
          entry.text,
        )}</span></li>`,
    )
    .join('');
}

// --- controls ------------------------------------------------------------------------------------

function renderDependencies(snapshot) {
  const container = $('#dependencies');
  for (const [name, dependency] of Object.entries(snapshot.dependencies)) {
    let row = container.querySelector(`[data-dependency="${name}"]`);
    if (!row) {
      row = document.createElement('form');
      row.className = 'dependency';
      row.dataset.dependency = name;
      row.innerHTML = `
        <strong>${html(DEPENDENCY_LABELS[name] ?? name)}</strong>
        <div class="inputs">
          <label>fail <input name="failureRate" type="range" min="0" max="100" step="5" aria-label="${html(name)} failure rate" />
            <output name="rateOut"></output></label>
          <label>latency <input name="latencyMs" type="number" min="0" max="30000" step="10" aria-label="${html(name)} latency" /> ms</label>
          <button type="submit" data-action="apply">Apply</button>
          <button type="button" data-action="fail">Fail all</button>
          <button type="button" data-action="heal">Healthy</button>
        </div>
        <span class="muted small stats" style="grid-column: 1 / -1"></span>`;
      row.failureRate.addEventListener('input', () => {
        row.rateOut.value = `${row.failureRate.value}%`;
      });
      const send = (body) =>
        post(`/admin/dependencies/${name}`, body).then(
          (answer) =>
            toast(
              `${DEPENDENCY_LABELS[name]}: ${Math.round(answer.failureRate * 100)}% failures, ${answer.latencyMs} ms`,
            ),
          () => undefined,
        );
      row.addEventListener('submit', (event) => {
        event.preventDefault();
        row.dataset.editing = '';
        send({ failureRate: Number(row.failureRate.value) / 100, latencyMs: Number(row.latencyMs.value) });
      });
      row.addEventListener('input', () => {
        row.dataset.editing = 'true';
      });
      row.querySelector('[data-action="fail"]').addEventListener('click', () => {
        row.dataset.editing = '';
        send({ failureRate: 1 });
      });
      row.querySelector('[data-action="heal"]').addEventListener('click', () => {
        row.dataset.editing = '';
        send({ failureRate: 0, latencyMs: 15 });
      });
      container.append(row);
    }
    if (row.dataset.editing !== 'true') {
      row.failureRate.value = String(Math.round(dependency.failureRate * 100));
      row.rateOut.value = `${row.failureRate.value}%`;
      row.latencyMs.value = String(dependency.latencyMs);
    }
    row.querySelector('.stats').textContent = `now ${Math.round(dependency.failureRate * 100)}% failures, ${
      dependency.latencyMs
    } ms +${dependency.jitterMs} ms · ${dependency.calls} calls, ${dependency.failures} failed`;
  }
}

function renderLoad(snapshot) {
  const load = snapshot.load;
  if (!load) return;
  const statuses = Object.entries(load.statuses)
    .map(([status, count]) => `${html(status)}: ${count}`)
    .join(', ');
  $('#load-status').innerHTML = load.running
    ? `<strong data-load="running">running</strong> at ${load.ratePerSecond}/s, ends in ${seconds(
        load.endsAt - Date.now(),
      )} · sent ${load.sent}, in flight ${load.inFlight}${load.skipped ? `, skipped ${load.skipped}` : ''} · ${statuses}`
    : `<span data-load="stopped">stopped</span>${load.sent ? ` · last run: ${load.sent} requests · ${statuses}` : ''}`;
  $('#load-start').textContent = load.running ? 'Restart load' : 'Start load';
}

$('#load-form').addEventListener('submit', (event) => {
  event.preventDefault();
  post('/admin/load/start', {
    ratePerSecond: Number($('#load-rate').value),
    durationMs: Number($('#load-duration').value),
  }).then(
    (status) => toast(`Load: ${status.ratePerSecond} requests/s`),
    () => undefined,
  );
});
$('#load-stop').addEventListener('click', () => {
  post('/admin/load/stop').then(
    () => toast('Load stopped'),
    () => undefined,
  );
});
$('#outage-toggle').addEventListener('click', () => {
  const active = !(current?.outage.active ?? false);
  post('/admin/outage', { active, mode: $('#outage-mode').value }).then(
    (status) => toast(status.active ? `Cut off from Redis (${status.mode})` : 'Redis restored'),
    () => undefined,
  );
});

// --- charts --------------------------------------------------------------------------------------

function chartSvg(series, bucketCount) {
  const width = 600;
  const height = 160;
  const top = 18;
  const bottom = 18;
  const plot = height - top - bottom;
  const totals = Array.from({ length: bucketCount }, (_, index) =>
    OUTCOMES.reduce((sum, outcome) => sum + series.counts[outcome][index], 0),
  );
  const maxCount = Math.max(1, ...totals);
  const p99 = series.p99Ms;
  const maxP99 = Math.max(1, ...p99.filter((value) => value !== null));
  const barWidth = width / bucketCount;
  let bars = '';
  for (let index = 0; index < bucketCount; index += 1) {
    let y = top + plot;
    for (const outcome of OUTCOMES) {
      const count = series.counts[outcome][index];
      if (count === 0) continue;
      const h = (count / maxCount) * plot;
      y -= h;
      bars += `<rect x="${(index * barWidth + 0.5).toFixed(1)}" y="${y.toFixed(1)}" width="${(
        barWidth - 1
      ).toFixed(
        1,
      )}" height="${h.toFixed(1)}" fill="${OUTCOME_COLOURS[outcome]}"><title>${count} ${outcome}</title></rect>`;
    }
  }
  const points = p99
    .map((value, index) =>
      value === null
        ? null
        : `${(index * barWidth + barWidth / 2).toFixed(1)},${(top + plot - (value / maxP99) * plot).toFixed(1)}`,
    )
    .filter((point) => point !== null);
  const line =
    points.length > 1
      ? `<polyline points="${points.join(' ')}" fill="none" stroke="var(--p99)" stroke-width="2" />`
      : points.length === 1
        ? `<circle cx="${points[0].split(',')[0]}" cy="${points[0].split(',')[1]}" r="3" fill="var(--p99)" />`
        : '';
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="calls by outcome and p99 latency">
    ${bars}${line}
    <text x="4" y="12" font-size="11" fill="#667085">max ${maxCount} calls / 5 s</text>
    <text x="${width - 4}" y="12" font-size="11" fill="var(--p99)" text-anchor="end">p99 up to ${maxP99} ms</text>
    <text x="4" y="${height - 4}" font-size="11" fill="#667085">−5 min</text>
    <text x="${width - 4}" y="${height - 4}" font-size="11" fill="#667085" text-anchor="end">now</text>
  </svg>`;
}

function renderCharts(snapshot) {
  const charts = snapshot.charts;
  const container = $('#charts');
  const names = snapshot.circuits.map((circuit) => circuit.name);
  container.innerHTML = names
    .map((name) => {
      const series = charts.circuits[name];
      const total = series
        ? OUTCOMES.reduce((sum, o) => sum + series.counts[o].reduce((a, b) => a + b, 0), 0)
        : 0;
      return `<div class="chart" data-chart="${html(name)}" data-total="${total}"><h3>${html(name)} <span class="muted small">${total} calls</span></h3>${
        series ? chartSvg(series, charts.starts.length) : '<p class="muted small">no calls yet</p>'
      }</div>`;
    })
    .join('');
}

// --- countdowns, every 250 ms ----------------------------------------------------------------------

function tick() {
  const now = serverNow();
  for (const element of document.querySelectorAll('.countdown[data-until]')) {
    const until = Number(element.dataset.until);
    if (!until) continue;
    element.textContent = until > now ? seconds(until - now) : 'now';
  }
}
setInterval(tick, 250);

// --- live updates --------------------------------------------------------------------------------

function render(snapshot) {
  current = snapshot;
  receivedAt = performance.now();
  $('#instance').textContent = snapshot.instance.id;
  document.title = `${snapshot.instance.id} · circuit breakers`;
  renderRedis(snapshot);
  renderCircuits(snapshot);
  renderFleet(snapshot);
  renderTimeline(snapshot);
  renderDependencies(snapshot);
  renderLoad(snapshot);
  renderCharts(snapshot);
  tick();
  $('#footer').textContent =
    `app ${snapshot.instance.versions.app} · @xnai ${snapshot.instance.versions.library} · node ${
      snapshot.instance.versions.node
    } · ENVIRONMENT=${snapshot.instance.environment} · pid ${snapshot.instance.pid}`;
  document.body.dataset.rendered = String(Date.now());
}

function connect() {
  const source = new EventSource('/dashboard/events');
  source.addEventListener('open', () => {
    $('#live').dataset.live = 'open';
  });
  source.addEventListener('error', () => {
    $('#live').dataset.live = source.readyState === EventSource.CLOSED ? 'closed' : 'connecting';
  });
  source.addEventListener('snapshot', (event) => {
    $('#live').dataset.live = 'open';
    render(JSON.parse(event.data));
  });
}
connect();
