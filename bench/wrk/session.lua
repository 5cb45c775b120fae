-- Keeps session cookies the way a set of browsers would, for wrk's single Lua state (-t1).
--
-- wrk does not tell a script which connection a request goes out on, so instead of one cookie per
-- connection the script keeps a pool of POOL distinct session cookies, filled from the Set-Cookie
-- headers of the first responses, and sends them round robin. Until the pool is full, requests go
-- without a cookie (each one starts a session). With -c32 and POOL = 32, every session sees
-- about one request at a time, like 32 browsers each with one request in flight.
--
-- A server that answers with a new Set-Cookie on every request (a client-side store resealing)
-- still gets the first cookie of each session back: it stays valid until it expires, and every
-- request still reads and writes the session.
--
-- A server that sets no cookie at all (the no-session baseline) gets a placeholder cookie of a
-- signed id's length once PLACEHOLDER_AFTER responses have set none, so both sides of a
-- comparison receive a request of the same size (the framework parses the header either way).

local POOL = 32
local PLACEHOLDER_AFTER = 64
local PLACEHOLDER = "id=" .. string.rep("A", 92)
local pool = {}
local seen = {}
local next_index = 1
local without_cookie = 0

request = function()
  if #pool < POOL then
    return wrk.format("GET", wrk.path)
  end
  local cookie = pool[next_index]
  next_index = next_index % POOL + 1
  return wrk.format("GET", wrk.path, { ["Cookie"] = cookie })
end

response = function(status, headers, body)
  if #pool >= POOL then
    return
  end
  local set_cookie = headers["Set-Cookie"] or headers["set-cookie"]
  if set_cookie then
    local cookie = set_cookie:match("^[^;]+")
    if cookie and not seen[cookie] then
      seen[cookie] = true
      pool[#pool + 1] = cookie
    end
  elseif #pool == 0 then
    without_cookie = without_cookie + 1
    if without_cookie >= PLACEHOLDER_AFTER then
      for i = 1, POOL do
        pool[i] = PLACEHOLDER
      end
    end
  end
end
