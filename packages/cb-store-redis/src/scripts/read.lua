#!lua flags=no-writes
-- Reads one circuit without writing (run with EVALSHA_RO where the server has it).
-- KEYS[1] the circuit's hash. Returns { now_ms, type, field, value, ... }: the fields only when
-- the key is a hash, so a foreign key of another type is reported instead of raising WRONGTYPE.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local kind = redis.call('TYPE', KEYS[1])
kind = kind.ok or kind
local result = { string.format('%d', now), kind }
if kind == 'hash' then
  local raw = redis.call('HGETALL', KEYS[1])
  for i = 1, #raw do result[#result + 1] = raw[i] end
end
return result
