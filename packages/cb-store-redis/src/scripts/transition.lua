#!lua
-- The shebang (Redis 7.0+) declares a script without flags: Redis refuses it up front with OOM when
-- over maxmemory, instead of letting it write past the limit once it has started.
--
-- The breaker's transition function in Lua: the same rules as `transition()` in @xnai/cb-core,
-- applied atomically to one hash. Every step mirrors the TypeScript line for line, in the same order
-- of floating-point operations, so both yield identical states (held to it by the parity suite).
--
-- KEYS[1]  the circuit's hash
-- ARGV[1]  operation: acquire | record | override | reset | set | delete | cas
-- ARGV[2]  circuit name (for announcements)
-- ARGV[3]  events channel
-- ARGV[4]  TTL in ms
-- ARGV[5]  client time in ms, or '' to use Redis TIME (the default: one clock for the fleet)
-- ARGV[6..20]  the policy (see P below)
-- ARGV[21..]   the operation's arguments
--
-- Returns { status, admission, a1, a2, problem, now, data } where data is what the key holds
-- afterwards, packed as stored (a state, a deletion's tombstone, or '' for nothing), `problem`
-- describes corrupt data found ('' if none) and `now` is the time the script ran at.

local key = KEYS[1]
local op = ARGV[1]
local name = ARGV[2]
local channel = ARGV[3]
local ttl = tonumber(ARGV[4])
local now
if ARGV[5] ~= '' then
  now = tonumber(ARGV[5])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function opt(v)
  if v == '' then return nil end
  return tonumber(v)
end

local P = {
  failureThreshold = tonumber(ARGV[6]),
  successThreshold = tonumber(ARGV[7]),
  halfOpenMaxCalls = tonumber(ARGV[8]),
  openTimeoutMs = tonumber(ARGV[9]),
  maxOpenTimeoutMs = tonumber(ARGV[10]),
  backoffMultiplier = tonumber(ARGV[11]),
  jitterRatio = tonumber(ARGV[12]),
  windowType = ARGV[13],
  windowSize = tonumber(ARGV[14]),
  bucketCount = tonumber(ARGV[15]),
  failureRateThreshold = tonumber(ARGV[16]),
  minimumCalls = tonumber(ARGV[17]),
  slowCallDurationMs = opt(ARGV[18]),
  slowCallRateThreshold = tonumber(ARGV[19]),
  probeLeaseMs = tonumber(ARGV[20]),
}

local JITTER_SCALE = 1000000
local VERSIONS_PER_MS = 1000
local MAX_COUNT_WINDOW = 10000

local function fmt(n)
  return string.format('%d', n)
end

local function next_version(previous)
  return math.max(previous + 1, math.floor(now) * VERSIONS_PER_MS)
end

-- decisionTime(): now, but always after the decision it follows (a clock that steps back).
local function decision_time(previous)
  if previous == nil then return now end
  return math.max(now, previous.decidedAt + 1)
end

-- ---- decoding (mirrors decodeStored() in codec.ts and boundStoredTimes() in transition.ts) --------
--
-- The hash holds one field, `data`: the whole state packed in one string, read and written whole
-- (one HGET, one HSET; see codec.ts for the layout):
--   1|state|failureCount|successCount|lastFailureTime|lastSuccessTime|lastStateChange|version|
--     consecutiveOpens|openUntil|halfOpenRound|decidedAt|probes|windowKind|window|overrideMode|
--     overrideSetAt|overrideExpiresAt|overrideReason
-- where overrideReason is '' for none and '=' followed by the reason (which may hold anything, so
-- it comes last). A tombstone is 1|deleted|version|decidedAt.

local FIELD = 'data'
local PACKED = '^1|(%l[%l_]*)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|([^|]*)|(%l*)|([^|]*)|([%l_]*)|(%d*)|(%d*)|(.*)$'
local TOMBSTONE = '^1|deleted|(%d+)|(%d+)$'
local INTEGER_FIELDS = { 'failureCount', 'successCount', 'lastFailureTime', 'lastSuccessTime', 'lastStateChange',
  'version', 'consecutiveOpens', 'openUntil', 'halfOpenRound', 'decidedAt' }

local function int(v)
  if type(v) ~= 'string' or #v == 0 or #v > 16 or not string.find(v, '^%d+$') then return nil end
  return tonumber(v)
end

local function empty_window()
  if P.windowType == 'count' then return { kind = 'count', outcomes = '' } end
  if P.windowType == 'time' then return { kind = 'time', buckets = {} } end
  return { kind = 'none' }
end

-- A fresh closed circuit; after a deletion it continues the tombstone's version and decision.
local function initial(tombstone)
  local version, decidedAt = 0, 0
  if tombstone ~= nil then version, decidedAt = tombstone.version, tombstone.decidedAt end
  return {
    state = 'closed', failureCount = 0, successCount = 0, lastFailureTime = 0, lastSuccessTime = 0,
    lastStateChange = now, version = version, consecutiveOpens = 0, openUntil = 0, halfOpenRound = 0,
    override = false, probes = {}, window = { kind = 'none' }, decidedAt = decidedAt,
  }
end

local STATES = { closed = true, open = true, half_open = true }
local MODES = { forced_open = true, forced_closed = true }

-- Names what is wrong with packed data that does not match the layout (the rare path), in the
-- order codec.ts checks it.
local function diagnose(d)
  local parts = {}
  local from = 1
  while #parts < 18 do
    local bar = string.find(d, '|', from, true)
    if bar == nil then break end
    table.insert(parts, string.sub(d, from, bar - 1))
    from = bar + 1
  end
  table.insert(parts, string.sub(d, from))
  if parts[1] ~= '1' then return 'schemaVersion is not 1' end
  if parts[2] == 'deleted' then return 'tombstone is malformed' end
  if not STATES[parts[2] or ''] then return 'unknown state' end
  for i, f in ipairs(INTEGER_FIELDS) do
    if int(parts[i + 2]) == nil then return f .. ' is not a non-negative integer' end
  end
  if #parts < 19 then return 'data has too few fields' end
  if string.find(parts[13], '[^%w%.:_%-,;]') then return 'probes are malformed' end
  if string.find(parts[14], '[^%l]') then return 'unknown window kind' end
  if string.find(parts[15], '[^sSfF%d,;]') then return 'window is malformed' end
  if string.find(parts[16], '[^%l_]') then return 'unknown override mode' end
  if string.find(parts[17], '[^%d]') then return 'overrideSetAt is not a time' end
  return 'overrideExpiresAt is not a time'
end

-- Returns entry, problem. An entry is a state or a tombstone ({ deleted = true, version, decidedAt }).
-- A problem means the stored data is unusable: the caller treats the circuit as absent and the next
-- write replaces it. With `bounded`, times are bounded at `now` by the policy as every transition
-- does ('clamped:<field>' is reported, the data kept).
local function decode(d, bounded)
  local st, fc, sc, lft, lst, lsc, ver, co, ou, hor, da, pr, wk, w, om, osa, oea, orr = string.match(d, PACKED)
  if st == nil then
    local tv, td = string.match(d, TOMBSTONE)
    if tv ~= nil then
      if #tv > 16 or #td > 16 then return nil, 'tombstone is malformed' end
      return { deleted = true, version = tonumber(tv), decidedAt = tonumber(td) }, nil
    end
    return nil, diagnose(d)
  end
  if not STATES[st] then return nil, 'unknown state' end
  local ints = { fc, sc, lft, lst, lsc, ver, co, ou, hor, da }
  for i = 1, 10 do
    if #ints[i] > 16 then return nil, INTEGER_FIELDS[i] .. ' is not a non-negative integer' end
  end
  local s = {
    state = st, failureCount = tonumber(fc), successCount = tonumber(sc), lastFailureTime = tonumber(lft),
    lastSuccessTime = tonumber(lst), lastStateChange = tonumber(lsc), version = tonumber(ver),
    consecutiveOpens = tonumber(co), openUntil = tonumber(ou), halfOpenRound = tonumber(hor),
    decidedAt = tonumber(da), override = false, probes = {},
  }
  if pr ~= '' then
    for item in string.gmatch(pr, '[^;]+') do
      local id, round, expiresAt = string.match(item, '^([%w%.:_%-]+),(%d+),(%d+)$')
      if id == nil or #id > 64 or #round > 16 or #expiresAt > 16 then return nil, 'probes are malformed' end
      table.insert(s.probes, { id = id, round = tonumber(round), expiresAt = tonumber(expiresAt) })
    end
  end
  if wk == 'none' then
    if w ~= '' then return nil, 'window is malformed' end
    s.window = { kind = 'none' }
  elseif wk == 'count' then
    if #w > MAX_COUNT_WINDOW or not string.find(w, '^[sSfF]*$') then return nil, 'window is malformed' end
    s.window = { kind = 'count', outcomes = w }
  elseif wk == 'time' then
    local buckets = {}
    for item in string.gmatch(w, '[^;]+') do
      local a, b, c, e = string.match(item, '^(%d+),(%d+),(%d+),(%d+)$')
      if a == nil or #a > 16 or #b > 16 or #c > 16 or #e > 16 then return nil, 'window is malformed' end
      a, b, c, e = tonumber(a), tonumber(b), tonumber(c), tonumber(e)
      if c > b or e > b then return nil, 'window is malformed' end
      table.insert(buckets, { start = a, calls = b, failures = c, slow = e })
    end
    s.window = { kind = 'time', buckets = buckets }
  else
    return nil, 'unknown window kind'
  end
  if om ~= '' then
    if not MODES[om] then return nil, 'unknown override mode' end
    if #osa == 0 or #osa > 16 then return nil, 'overrideSetAt is not a time' end
    local expiresAt = nil
    if oea ~= '' then
      if #oea > 16 then return nil, 'overrideExpiresAt is not a time' end
      expiresAt = tonumber(oea)
    end
    local reason = nil
    if orr ~= '' then
      if string.sub(orr, 1, 1) ~= '=' then return nil, 'overrideReason is malformed' end
      reason = string.sub(orr, 2)
    end
    s.override = { mode = om, reason = reason, expiresAt = expiresAt, setAt = tonumber(osa) }
  elseif osa ~= '' or oea ~= '' or orr ~= '' then
    return nil, 'unknown override mode'
  end
  if bounded then
    -- boundStoredTimes(): nothing after now, no open period beyond maxOpenTimeoutMs after the
    -- transition that opened it, no lease beyond probeLeaseMs.
    local clamped = nil
    if s.lastFailureTime > now then s.lastFailureTime = now; clamped = 'lastFailureTime' end
    if s.lastSuccessTime > now then s.lastSuccessTime = now; clamped = 'lastSuccessTime' end
    if s.lastStateChange > now then s.lastStateChange = now; clamped = 'lastStateChange' end
    if s.override and s.override.setAt > now then s.override.setAt = now; clamped = 'overrideSetAt' end
    if s.state == 'open' then
      local bound = math.min(s.lastStateChange, now) + P.maxOpenTimeoutMs
      if s.openUntil > bound then s.openUntil = bound; clamped = 'openUntil' end
    end
    for _, lease in ipairs(s.probes) do
      if lease.expiresAt > now + P.probeLeaseMs then lease.expiresAt = now + P.probeLeaseMs; clamped = 'probes' end
    end
    if clamped ~= nil then return s, 'clamped:' .. clamped end
  end
  return s, nil
end

-- Set once load() found a key that is not a hash of our one field, so persist() clears it first.
local foreign = false
-- The packed state load() read, when it decoded as it is (nothing clamped): an unchanged state is
-- replied as read, not encoded again.
local loaded = nil

-- What the key holds: entry, problem (a key of another type, or a hash without our field, is
-- reported and treated as absent). TYPE is asked only when HGET fails.
local function load()
  local d = redis.pcall('HGET', key, FIELD)
  if type(d) == 'table' and d.err ~= nil then
    local t = redis.call('TYPE', key)
    foreign = true
    return nil, 'key holds a ' .. (t.ok or t) .. ', not a hash'
  end
  if not d then
    if redis.call('EXISTS', key) == 0 then return nil, nil end
    foreign = true
    return nil, 'schemaVersion is not 1'
  end
  local entry, problem = decode(d, op ~= 'set' and op ~= 'delete' and op ~= 'cas')
  if problem == nil and entry ~= nil and not entry.deleted then loaded = d end
  return entry, problem
end

-- ---- encoding (mirrors encodeStored() in codec.ts) -------------------------------------------------

local function encode(s)
  if s.deleted then return '1|deleted|' .. fmt(s.version) .. '|' .. fmt(s.decidedAt) end
  local probes = ''
  if #s.probes > 0 then
    local items = {}
    for i, p in ipairs(s.probes) do items[i] = p.id .. ',' .. fmt(p.round) .. ',' .. fmt(p.expiresAt) end
    probes = table.concat(items, ';')
  end
  local window = ''
  if s.window.kind == 'count' then
    window = s.window.outcomes
  elseif s.window.kind == 'time' and #s.window.buckets > 0 then
    local items = {}
    for i, x in ipairs(s.window.buckets) do
      items[i] = fmt(x.start) .. ',' .. fmt(x.calls) .. ',' .. fmt(x.failures) .. ',' .. fmt(x.slow)
    end
    window = table.concat(items, ';')
  end
  local om, osa, oea, orr = '', '', '', ''
  if s.override then
    om, osa = s.override.mode, fmt(s.override.setAt)
    if s.override.expiresAt ~= nil then oea = fmt(s.override.expiresAt) end
    if s.override.reason ~= nil then orr = '=' .. s.override.reason end
  end
  -- The numbers through one format; the strings joined with `..`, which is binary-safe (Lua 5.1's
  -- string.format cuts a short %s argument at its first NUL byte, and a reason may hold one).
  return string.format('1|%s|%d|%d|%d|%d|%d|%d|%d|%d|%d|%d|', s.state, s.failureCount, s.successCount,
    s.lastFailureTime, s.lastSuccessTime, s.lastStateChange, s.version, s.consecutiveOpens, s.openUntil,
    s.halfOpenRound, s.decidedAt) .. probes .. '|' .. s.window.kind .. '|' .. window .. '|' .. om .. '|' ..
    osa .. '|' .. oea .. '|' .. orr
end

local function status_of(s)
  if s == nil or s.deleted then return 'closed' end
  if s.override then return s.override.mode end
  return s.state
end

-- storedCircuitExpiry(): ttl after the last thing in force ends; never while an override without
-- expiry is in force.
local function expire(s)
  if s.deleted then redis.call('PEXPIRE', key, ttl); return end
  local last = now
  if s.state == 'open' and s.openUntil > last then last = s.openUntil end
  if s.override then
    if s.override.expiresAt == nil then redis.call('PERSIST', key); return end
    if s.override.expiresAt > last then last = s.override.expiresAt end
  end
  redis.call('PEXPIRE', key, last + ttl - now)
end

local function persist(s)
  local d = encode(s)
  if foreign then redis.call('DEL', key) end
  redis.call('HSET', key, FIELD, d)
  expire(s)
  return d
end

-- A status change is announced with from/to/reason; a change others must hear of without one (a
-- set, a merge, a failure count leaving or returning to zero) with its data only.
local function announce(d, from, to, reason)
  if from == to then
    redis.call('PUBLISH', channel, cjson.encode({ name = name, data = d }))
  else
    redis.call('PUBLISH', channel, cjson.encode({
      name = name, from = from, to = to, reason = reason, at = fmt(now), data = d,
    }))
  end
end

local function announce_deletion(tombstone)
  redis.call('PUBLISH', channel, cjson.encode({
    name = name, deleted = true, version = fmt(tombstone.version), decidedAt = fmt(tombstone.decidedAt),
  }))
end

-- { status, admission, a1, a2, problem, now, data }: data is what the key holds afterwards (packed
-- as stored; '' for nothing). `d` is that data when the caller already encoded it.
local function reply(status, problem, entry, adm, a1, a2, d)
  if d == nil then
    if entry ~= nil then d = encode(entry) else d = '' end
  end
  return { status, adm or '', a1 or '', a2 or '', problem or '', fmt(now), d }
end

-- ---- the transition (mirrors transition() in @xnai/cb-core) --------------------------------------

local function backoff(opens)
  local d = P.openTimeoutMs
  local i = 1
  while i < opens and d < P.maxOpenTimeoutMs do
    d = d * P.backoffMultiplier
    i = i + 1
  end
  return math.min(d, P.maxOpenTimeoutMs)
end

local function open_duration(opens, jitter)
  local base = backoff(opens)
  return math.max(1, math.floor(base - (base * P.jitterRatio * jitter) / JITTER_SCALE))
end

-- Applies a batch of closed-state outcomes as one step (mirrors applyBatch() in transition.ts):
-- O(window + batch) whatever the number of calls it stands for.
local function apply_batch(n, calls, failures, slows, trailingF, trailingS, recent)
  local successes = calls - failures
  if successes > 0 then n.failureCount = trailingF else n.failureCount = n.failureCount + failures end
  if failures > 0 then n.successCount = trailingS else n.successCount = n.successCount + successes end
  if failures > 0 then n.lastFailureTime = now end
  if successes > 0 then n.lastSuccessTime = now end
  if P.windowType == 'none' then
    n.window = { kind = 'none' }
    return nil
  end
  local wCalls, wFailures, wSlow = 0, 0, 0
  if P.windowType == 'count' then
    local previous = ''
    if n.window.kind == 'count' then previous = n.window.outcomes end
    local outcomes = previous .. recent
    if #outcomes > P.windowSize then outcomes = string.sub(outcomes, #outcomes - P.windowSize + 1) end
    n.window = { kind = 'count', outcomes = outcomes }
    wCalls = #outcomes
    -- Deleting every run of other codes leaves one character per failure (per slow call): C-speed
    -- counting that copies only what it keeps.
    wFailures = #string.gsub(outcomes, '[^fF]+', '')
    wSlow = #string.gsub(outcomes, '[^SF]+', '')
  else
    local bucketMs = P.windowSize / P.bucketCount
    local start = math.floor(now / bucketMs) * bucketMs
    local buckets = {}
    if n.window.kind == 'time' then
      for _, b in ipairs(n.window.buckets) do
        if b.start + P.windowSize > now then table.insert(buckets, b) end
      end
    end
    local last = buckets[#buckets]
    if last ~= nil and last.start == start then
      buckets[#buckets] = { start = start, calls = last.calls + calls, failures = last.failures + failures, slow = last.slow + slows }
    else
      table.insert(buckets, { start = start, calls = calls, failures = failures, slow = slows })
    end
    n.window = { kind = 'time', buckets = buckets }
    for _, b in ipairs(buckets) do
      wCalls = wCalls + b.calls
      wFailures = wFailures + b.failures
      wSlow = wSlow + b.slow
    end
  end
  if wCalls < P.minimumCalls then return nil end
  if wFailures / wCalls >= P.failureRateThreshold then return 'failure_rate' end
  if P.slowCallDurationMs ~= nil and wSlow / wCalls >= P.slowCallRateThreshold then return 'slow_call_rate' end
  return nil
end

local stored, problem = load()

if op == 'delete' then
  if stored == nil or stored.deleted then return reply('ok', problem, stored, '0') end
  local tombstone = { deleted = true, version = next_version(stored.version), decidedAt = decision_time(stored) }
  local d = persist(tombstone)
  announce_deletion(tombstone)
  return reply('ok', problem, tombstone, '1', nil, nil, d)
end

if op == 'cas' then
  -- A version-fenced write: applied only when what the key holds still has the version the caller
  -- read (0 for nothing), so a merge computed from a stale read never overwrites a newer state. The
  -- data is written as given (a state or a tombstone), its version above both.
  local expected = tonumber(ARGV[21])
  local current = 0
  if stored ~= nil then current = stored.version end
  if current ~= expected then return reply('conflict', problem, stored) end
  local merged, mergedProblem = decode(ARGV[22], false)
  if merged == nil then return redis.error_reply('ERR cas data is invalid: ' .. mergedProblem) end
  merged.version = math.max(math.max(current, merged.version) + 1, math.floor(now) * VERSIONS_PER_MS)
  local d = persist(merged)
  if merged.deleted then
    announce_deletion(merged)
  else
    announce(d, status_of(stored), status_of(merged), 'merged')
  end
  return reply('ok', problem, merged, nil, nil, nil, d)
end

local base
if stored == nil or stored.deleted then base = initial(stored) else base = stored end

if op == 'set' then
  -- The seed's replace, so that it takes effect fleet-wide: the data as given, a version above the
  -- stored one, and a decision now. Always announced.
  local data, dataProblem = decode(ARGV[21], false)
  if data == nil or data.deleted then return redis.error_reply('ERR set data is invalid: ' .. (dataProblem or 'a tombstone')) end
  data.version = next_version(math.max(base.version, data.version))
  data.decidedAt = decision_time(base)
  local d = persist(data)
  announce(d, status_of(base), status_of(data), 'set')
  return reply('ok', problem, data, '1', nil, nil, d)
end

-- Shallow copy; probes and window are replaced, never mutated in place.
local n = {}
for k, v in pairs(base) do n[k] = v end
local probes = base.probes
local dirty = false
local reason = nil
local adm, a1, a2 = '', '', ''

local function reopen(why, jitter)
  n.state = 'open'
  n.consecutiveOpens = n.consecutiveOpens + 1
  n.openUntil = now + open_duration(n.consecutiveOpens, jitter)
  n.successCount = 0
  n.lastStateChange = now
  n.window = empty_window()
  probes = {}
  dirty = true
  reason = why
end

local function close(why)
  n.state = 'closed'
  n.failureCount = 0
  n.consecutiveOpens = 0
  n.openUntil = 0
  n.lastStateChange = now
  n.window = empty_window()
  probes = {}
  dirty = true
  reason = why
end

if n.override and n.override.expiresAt ~= nil and now >= n.override.expiresAt then
  n.override = false
  dirty = true
  reason = 'override_expired'
end
local live = {}
for _, lease in ipairs(probes) do
  if lease.expiresAt > now then table.insert(live, lease) end
end
if #live ~= #probes then
  probes = live
  dirty = true
end

if op == 'acquire' then
  local leaseId = ARGV[21]
  if n.override then
    if n.override.mode == 'forced_open' then
      adm, a1 = 'reject', 'forced_open'
      if n.override.expiresAt ~= nil then a2 = fmt(n.override.expiresAt) end
    else
      adm = 'allow'
    end
  elseif n.state == 'closed' then
    adm = 'allow'
  else
    local rejected = false
    if n.state == 'open' then
      if now < n.openUntil then
        adm, a1, a2 = 'reject', 'open', fmt(n.openUntil)
        rejected = true
      else
        n.state = 'half_open'
        n.halfOpenRound = n.halfOpenRound + 1
        n.successCount = 0
        n.openUntil = 0
        n.lastStateChange = now
        probes = {}
        dirty = true
        reason = 'open_timeout_elapsed'
      end
    end
    if not rejected then
      local held = nil
      for _, lease in ipairs(probes) do
        if lease.id == leaseId then held = lease; break end
      end
      if held ~= nil then
        adm, a1, a2 = 'probe', held.id, fmt(held.round)
      elseif #probes < P.halfOpenMaxCalls then
        local copy = {}
        for i, lease in ipairs(probes) do copy[i] = lease end
        table.insert(copy, { id = leaseId, round = n.halfOpenRound, expiresAt = now + P.probeLeaseMs })
        probes = copy
        dirty = true
        adm, a1, a2 = 'probe', leaseId, fmt(n.halfOpenRound)
      else
        local earliest = nil
        for _, lease in ipairs(probes) do
          if earliest == nil or lease.expiresAt < earliest then earliest = lease.expiresAt end
        end
        adm, a1, a2 = 'reject', 'half_open_full', fmt(earliest)
      end
    end
  end
elseif op == 'record' then
  -- ARGV[21] jitter; ARGV[22..27] the batch of closed-state outcomes (calls, failures, slow calls,
  -- trailing failures, trailing successes, recent codes); ARGV[28] probe outcome codes, then an
  -- (id, round) pair per probe.
  local jitter = tonumber(ARGV[21])
  local calls = tonumber(ARGV[22])
  if calls > 0 and not n.override and n.state == 'closed' then
    local tripped = apply_batch(n, calls, tonumber(ARGV[23]), tonumber(ARGV[24]), tonumber(ARGV[25]),
      tonumber(ARGV[26]), ARGV[27])
    dirty = true
    if n.failureCount >= P.failureThreshold then reopen('failure_threshold', jitter)
    elseif tripped ~= nil then reopen(tripped, jitter) end
  end
  local codes = ARGV[28]
  local nextProbe = 29
  for i = 1, #codes do
    local c = string.sub(codes, i, i)
    local kind
    if c == 'p' or c == 'P' then kind = 'success'
    elseif c == 'q' or c == 'Q' then kind = 'failure'
    else kind = 'ignored' end
    local id, round = ARGV[nextProbe], tonumber(ARGV[nextProbe + 1])
    nextProbe = nextProbe + 2
    local index = nil
    for j, lease in ipairs(probes) do
      if lease.id == id then index = j; break end
    end
    if index ~= nil then
      local lease = probes[index]
      local copy = {}
      for j, l in ipairs(probes) do
        if j ~= index then table.insert(copy, l) end
      end
      probes = copy
      dirty = true
      if not n.override and n.state == 'half_open' and lease.round == n.halfOpenRound then
        if kind == 'success' then
          n.successCount = n.successCount + 1
          n.failureCount = 0
          n.lastSuccessTime = now
          if n.successCount >= P.successThreshold then close('probe_success_threshold') end
        elseif kind == 'failure' then
          n.failureCount = n.failureCount + 1
          n.lastFailureTime = now
          reopen('probe_failure', jitter)
        end
      end
    end
  end
elseif op == 'override' then
  -- ARGV[21] mode ('' clears), ARGV[22] reason, ARGV[23] '1' when there is a reason, ARGV[24] expiresAt
  -- ('' for none), ARGV[25] durationMs ('' for none; resolved here, on Redis time).
  local mode = ARGV[21]
  if mode == '' then
    if n.override then
      n.override = false
      n.decidedAt = decision_time(base)
      dirty = true
      reason = 'override_cleared'
    end
  else
    local overrideReason = nil
    if ARGV[23] == '1' then overrideReason = ARGV[22] end
    local expiresAt = opt(ARGV[24])
    local durationMs = opt(ARGV[25])
    if durationMs ~= nil then expiresAt = now + durationMs end
    n.override = { mode = mode, reason = overrideReason, expiresAt = expiresAt, setAt = now }
    n.decidedAt = decision_time(base)
    probes = {}
    dirty = true
    reason = mode
  end
elseif op == 'reset' then
  n.state = 'closed'
  n.failureCount = 0
  n.successCount = 0
  n.consecutiveOpens = 0
  n.openUntil = 0
  n.lastStateChange = now
  n.override = false
  n.window = empty_window()
  n.decidedAt = decision_time(base)
  probes = {}
  dirty = true
  reason = 'reset'
else
  return redis.error_reply('ERR unknown operation ' .. op)
end

if not dirty then return reply('ok', problem, base, adm, a1, a2, loaded) end
-- The hash is rewritten whole, which also repairs corrupt or foreign data found under the key.
n.probes = probes
n.version = next_version(base.version)
local from = status_of(base)
local to = status_of(n)
-- A status change made here, in the store of record, is a decision the fleet keeps.
if from ~= to then n.decidedAt = decision_time(base) end
local d = persist(n)
if from ~= to then
  announce(d, from, to, reason or 'set')
elseif n.decidedAt ~= base.decidedAt or (base.failureCount == 0) ~= (n.failureCount == 0) or #base.probes ~= #n.probes then
  -- A decision that leaves the status as it was (a renewed override's expiry, a reset of a circuit
  -- that counted nothing), or a probe lease taken, given back or lapsed (other instances decide
  -- half-open admission from it): others hold the old data.
  announce(d, from, to, nil)
end
return reply('ok', problem, n, adm, a1, a2, d)
