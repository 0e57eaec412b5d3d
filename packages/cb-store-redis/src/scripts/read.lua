#!lua flags=no-writes
-- Reads one circuit without writing (run with EVALSHA_RO where the server has it).
-- KEYS[1] the circuit's hash. Returns { now_ms, type, data }: type is 'none' for no key, 'hash' for
-- a hash (data is its packed `data` field, '' when it has none) and otherwise the key's type, so a
-- foreign key is reported instead of raising WRONGTYPE. TYPE is asked only when HGET fails.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local d = redis.pcall('HGET', KEYS[1], 'data')
if type(d) == 'table' and d.err ~= nil then
  local kind = redis.call('TYPE', KEYS[1])
  return { string.format('%d', now), kind.ok or kind }
end
if not d then
  if redis.call('EXISTS', KEYS[1]) == 0 then return { string.format('%d', now), 'none' } end
  d = ''
end
return { string.format('%d', now), 'hash', d }
