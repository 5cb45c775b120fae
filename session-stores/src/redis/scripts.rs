//! The Lua scripts of the Redis store, one atomic step each.
//!
//! Every script that writes a session takes the same first arguments:
//!
//! | ARGV | holds |
//! | --- | --- |
//! | 1 | the owner sets' key prefix (`key_prefix` + `owner:`), or `''` on a cluster, where a script may only touch its own slot and the store maintains the owner index itself |
//! | 2 | the record's deadline (`PEXPIREAT`, ms) |
//! | 3 | the record's storage key (its member in the owner's set) |
//! | 4 | the expiry to give the owner's set: the deadline plus [`INDEX_SLACK_MS`](super::layout::INDEX_SLACK_MS) |
//! | 5 | extend the owner's set when the record's `@t` is below this (deadline plus half the slack) |
//! | 6 | the owner change: `''` keeps the stored owner, `-` unbinds it, `=` followed by an owner binds it |
//!
//! then, for scripts applying a delta, the number of fields to delete, those fields and the
//! field, value pairs to set; for `CREATE`, just the pairs.
//!
//! Writes use variadic `HSET`/`HDEL`, one call per 1000 arguments (even, so pairs stay together):
//! Lua's `unpack` cannot spread more than about 8000 values, so a huge record or delta is written
//! in batches, still within one script.
//!
//! `PEXPIREAT` comes last in every script: with a deadline already past it deletes the key, and a
//! write after it would bring back a hash without a TTL.
//!
//! Redis does not roll back a script that fails half-way, so a delta's version bump goes first:
//! `HINCRBY` is the one write that can fail on a stored hash (a version that is not an integer),
//! and failing before the other writes leaves the record as it was. Its increment is the string
//! `'1'`: Redis would format a Lua number argument with `snprintf` on every call.

/// Shared by the writing scripts: `write_fields` applies a delta's fields, `index` keeps the owner
/// index covering the record under `key` after a write, and `index_type_error` (called before
/// any write, since Redis does not roll a script back) refuses, as `WRONGTYPE`, an owner's set
/// that is not a set, which would otherwise fail the script half-way and leave a hash without a
/// deadline. `carry_kept` is the regenerate's rule under a revocation mark (see
/// [`MARK_REVOKING`]). `live_meta` reads a live record's `@c`, `@o` and `@t` before a delta is
/// applied, or says what to return instead (0 when it is gone, or the `WRONGTYPE` error);
/// `apply_delta` bumps the version, then writes the fields; `index_and_expire` indexes and then
/// sets the deadline, last. `fence` leaves a tombstone (`@z`, for `ms`) on a key that holds no
/// record and has none yet (see [`FENCE_GONE`]).
///
/// `index` binds or unbinds as ARGV[6] says. A record bound to an owner carries `@t`, the time its
/// owner's set is known to live until; when the record's deadline nears it (ARGV[5]), or the key
/// is new (`fresh`), the set is extended. On a single server the script does that itself, deriving
/// the set's key from the stored owner. On a cluster it cannot (the set is in another slot): a
/// rebind or a new key is indexed by the store around the script (see the module documentation),
/// and a due extension is returned as the owner's name for the store to carry out.
const PRELUDE: &str = r"
local function write_fields(key, first)
  local removed = first + tonumber(ARGV[first])
  for i = first + 1, removed, 1000 do
    redis.call('HDEL', key, unpack(ARGV, i, math.min(i + 999, removed)))
  end
  for i = removed + 1, #ARGV, 1000 do
    redis.call('HSET', key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
end

local function index_type_error(stored_owner)
  if ARGV[1] == '' then
    return nil
  end
  local change = ARGV[6]
  local owner = stored_owner
  if change == '-' then
    return nil
  elseif change ~= '' then
    owner = string.sub(change, 2)
  end
  if not owner then
    return nil
  end
  local kind = redis.call('TYPE', ARGV[1] .. owner).ok
  if kind ~= 'set' and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE the owner index key is not a set; delete it')
  end
  return nil
end

local function carry_kept(mark, old, new)
  if redis.call('TYPE', mark).ok ~= 'hash' then
    return false
  end
  local tokens = {}
  for _, field in ipairs(redis.call('HKEYS', mark)) do
    if string.sub(field, 1, 1) == 't' then
      local token = string.sub(field, 2)
      if redis.call('HEXISTS', mark, 'k' .. token .. ':' .. old) == 0 then
        return false
      end
      table.insert(tokens, token)
    end
  end
  for _, token in ipairs(tokens) do
    redis.call('HSET', mark, 'k' .. token .. ':' .. new, '1')
  end
  return true
end

local function live_meta(key)
  local meta = redis.call('HMGET', key, '@c', '@o', '@t')
  if not meta[1] then
    return nil, 0
  end
  local wrong_index = index_type_error(meta[2])
  if wrong_index then
    return nil, wrong_index
  end
  return meta, nil
end

local function apply_delta(key)
  redis.call('HINCRBY', key, '@v', '1')
  write_fields(key, 7)
end

local function index(key, fresh, stored_owner, stored_cover)
  local change = ARGV[6]
  if change == '-' then
    redis.call('HDEL', key, '@o', '@t')
    return 1
  end
  local owner
  if change ~= '' then
    owner = string.sub(change, 2)
    redis.call('HSET', key, '@o', owner)
  else
    owner = stored_owner
    if not owner then
      return 1
    end
    if not fresh and (tonumber(stored_cover) or 0) >= tonumber(ARGV[5]) then
      return 1
    end
    if ARGV[1] == '' then
      return owner
    end
  end
  if ARGV[1] ~= '' then
    local set = ARGV[1] .. owner
    redis.call('SADD', set, ARGV[3])
    if redis.call('PEXPIRETIME', set) < tonumber(ARGV[4]) then
      redis.call('PEXPIREAT', set, ARGV[4])
    end
  end
  redis.call('HSET', key, '@t', ARGV[4])
  return 1
end

local function fence(key, ms)
  if redis.call('HEXISTS', key, '@z') == 0 then
    redis.call('DEL', key)
    redis.call('HSET', key, '@z', '1')
    redis.call('PEXPIRE', key, ms)
  end
end

local function index_and_expire(key, fresh, stored_owner, stored_cover)
  local indexed = index(key, fresh, stored_owner, stored_cover)
  redis.call('PEXPIREAT', key, ARGV[2])
  return indexed
end
";

/// Creates the hash only if the key is free. KEYS[1]: the key. Returns 0 when it was taken, else
/// 1.
///
/// A hash without `@c` is no record (what an update of a gone session leaves until the store
/// deletes it): it is written over, unless it is a tombstone (`@z`: an abandoned regenerate's,
/// or a fence an owner's revocation or listing left), which returns -1. A key of another type is
/// taken too.
pub(super) const CREATE: &str = r"
local wrong_index = index_type_error(nil)
if wrong_index then
  return wrong_index
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('TYPE', KEYS[1]).ok ~= 'hash' or redis.call('HEXISTS', KEYS[1], '@c') == 1 then
    return 0
  end
  if redis.call('HEXISTS', KEYS[1], '@z') == 1 then
    return -1
  end
  redis.call('DEL', KEYS[1])
end
for i = 7, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return index_and_expire(KEYS[1], true, nil, nil)
";

/// Applies a delta that binds or unbinds the owner to a live hash (other deltas go through the
/// transaction of the `update` module). KEYS[1]: the key. Returns 0 when the key is gone (writing
/// nothing), 1 when applied, or (on a cluster) the owner whose set the store must extend.
///
/// A live session is one whose key exists: every write sets the key's `PEXPIREAT` to the record's
/// deadline, so Redis deletes it then (see "Deadlines and clocks" in the module documentation).
/// One `HMGET` reads both whether it exists (a record always has `@c`; a hash without it is
/// corrupt and counts as gone) and the owner fields the index needs, instead of an `EXISTS` and
/// an `HMGET`: a call less per update.
pub(super) const UPDATE: &str = r"
local meta, refusal = live_meta(KEYS[1])
if not meta then
  return refusal
end
apply_delta(KEYS[1])
return index_and_expire(KEYS[1], false, meta[2], meta[3])
";

/// Moves a live hash, with a delta applied, to a new key (single server only: both keys in one
/// script). KEYS[1]: the old key, KEYS[2]: the new one. Returns -1 when the new key is taken,
/// 0 when the old one is gone (writing nothing in both cases), 1 when moved. While the stored
/// owner's sessions are being revoked (its mark, the owner's set's key plus `~revoking`,
/// exists), the session is deleted instead and 0 returned: the revocation, which reads the
/// owner's set in batches, might not see the new key. Unless every revocation under way keeps
/// this session (see [`MARK_REVOKING`]): then it moves, and its new key is kept in its stead.
pub(super) const REGENERATE: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end
local meta, refusal = live_meta(KEYS[1])
if not meta then
  return refusal
end
if meta[2] then
  local mark = ARGV[1] .. meta[2] .. '~revoking'
  if redis.call('EXISTS', mark) == 1 and not carry_kept(mark, KEYS[1], KEYS[2]) then
    redis.call('DEL', KEYS[1])
    return 0
  end
end
apply_delta(KEYS[1])
redis.call('RENAME', KEYS[1], KEYS[2])
return index_and_expire(KEYS[2], true, meta[2], meta[3])
";

/// The first half of a regenerate on a cluster: applies a delta to a live hash, deletes it and
/// returns it (`HGETALL` form). KEYS[1]: the old key. Returns 0 when it is gone.
pub(super) const TAKE: &str = r"
local meta = redis.call('HMGET', KEYS[1], '@c', '@o', '@t')
if not meta[1] then
  return 0
end
apply_delta(KEYS[1])
index(KEYS[1], false, meta[2], meta[3])
local hash = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return hash
";

/// Settles the new key of a cluster regenerate that failed: deletes whatever its create left
/// there and leaves a tombstone (a hash of only `@z`, no record to any reader, for ARGV[1] ms)
/// that a create still queued on the node finds taken. KEYS[1]: the new key. Returns 1 with the
/// tombstone, 2 when only the delete ran (a node out of memory refuses the tombstone, and then
/// also refused the create).
pub(super) const ABANDON: &str = r"
redis.call('DEL', KEYS[1])
local set = redis.pcall('HSET', KEYS[1], '@z', '1')
if type(set) == 'table' and set.err then
  return 2
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
";

/// Adds a member to an owner's set and makes the set live at least until ARGV[1]. KEYS[1]: the
/// set; ARGV[2]: the member (cluster only; on one server the writing scripts do it).
pub(super) const INDEX_ADD: &str = r"
redis.call('SADD', KEYS[1], ARGV[2])
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
end
return 1
";

/// [`INDEX_ADD`] for a regenerate's new key, refused while the owner's sessions are being
/// revoked (cluster), unless every revocation under way keeps the session (then its new key is
/// kept in its stead, see [`MARK_REVOKING`]). KEYS[1]: the set; KEYS[2]: the owner's revocation
/// mark (in the set's slot); ARGV[3], ARGV[4]: the old and the new session key. Returns 0 when
/// refused, 1 when added.
pub(super) fn index_add_unless_revoking() -> String {
    with_prelude(&format!("{UNLESS_REVOKING}{INDEX_ADD}"))
}

/// The refusal [`index_add_unless_revoking`] puts in front of [`INDEX_ADD`].
const UNLESS_REVOKING: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 and not carry_kept(KEYS[2], ARGV[3], ARGV[4]) then
  return 0
end
";

/// Marks an owner's sessions as being revoked: a hash with a field `t<n>` per revocation under
/// way, living ARGV[1] ms unless refreshed by the next revocation, so that a revocation that
/// died does not hold its owner's regenerates off for longer. KEYS[1]: the mark; ARGV[2]: the
/// revocation's number `n`, random (a revocation that outlived its mark never ends another's);
/// ARGV[3]: the session key it keeps, or `''`.
///
/// The kept session's keys are fields `k<n>:<session key>`. A regenerate of one of the owner's
/// sessions while the mark is there ends the session, unless every revocation under way keeps
/// its key: then it moves, and its new key is kept by each of them too (`carry_kept` in the
/// prelude), so "log out my other devices" never ends the caller's own session because it
/// moved meanwhile, while a concurrent "log out everywhere" still ends it. A mark that is not a
/// hash (a counter, as an earlier version of the store wrote) keeps nothing.
pub(super) const MARK_REVOKING: &str = r"
redis.call('HSET', KEYS[1], 't' .. ARGV[2], '1')
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'k' .. ARGV[2] .. ':' .. ARGV[3], '1')
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
";

/// Ends a revocation's mark (see [`MARK_REVOKING`]), deleting the mark with the last one.
/// KEYS[1]: the mark; ARGV[1]: the revocation's number.
pub(super) const UNMARK_REVOKING: &str = r"
local own = 'k' .. ARGV[1] .. ':'
local left = false
redis.call('HDEL', KEYS[1], 't' .. ARGV[1])
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, #own) == own then
    redis.call('HDEL', KEYS[1], field)
  elseif string.sub(field, 1, 1) == 't' then
    left = true
  end
end
if not left then
  redis.call('DEL', KEYS[1])
end
return 1
";

/// Records that the owner's set now lives until ARGV[2], if the hash still belongs to ARGV[1]
/// (cluster only, after `INDEX_ADD`). KEYS[1]: the session key.
pub(super) const TOUCH_INDEX: &str = r"
if redis.call('HGET', KEYS[1], '@o') == ARGV[1] then
  local t = tonumber(redis.call('HGET', KEYS[1], '@t')) or 0
  if t < tonumber(ARGV[2]) then
    redis.call('HSET', KEYS[1], '@t', ARGV[2])
  end
end
return 1
";

/// One batch of an owner's live sessions, pruning the set of members that are gone or no longer
/// the owner's (single server: the members' keys are derived from ARGV[1], the key prefix).
/// KEYS[1]: the set; ARGV[2]: the owner; ARGV[3..]: the members (at most
/// [`OWNER_BATCH`](super::layout::OWNER_BATCH), from an `SSCAN`). Returns storage key, `@c`,
/// `@e`, `@a` (or `''`) and the device record (`d:__device`, or `''`) for each.
pub(super) const LIST_OWNER: &str = r"
local out = {}
for i = 3, #ARGV do
  local member = ARGV[i]
  local meta = redis.call('HMGET', ARGV[1] .. member, '@o', '@c', '@e', '@a', 'd:__device')
  if meta[1] == ARGV[2] then
    table.insert(out, member)
    table.insert(out, meta[2] or '')
    table.insert(out, meta[3] or '')
    table.insert(out, meta[4] or '')
    table.insert(out, meta[5] or '')
  else
    redis.call('SREM', KEYS[1], member)
  end
end
return out
";

/// Deletes one batch of an owner's sessions (single server). KEYS[1]: the set; KEYS[2]: the
/// owner's revocation mark; ARGV[1]: the key prefix; ARGV[2]: the owner; ARGV[3]: the kept
/// session's key, or `''`; ARGV[4]: this revocation's prefix of kept keys in the mark
/// (`k<n>:`); ARGV[5..]: the members (at most [`OWNER_BATCH`](super::layout::OWNER_BATCH), from
/// an `SSCAN`). A member whose key is kept (the one asked for, or where a regenerate moved it
/// since, see [`MARK_REVOKING`]) is spared. Returns how many sessions went.
pub(super) const REVOKE_OWNER: &str = r"
local removed = 0
for i = 5, #ARGV do
  local member = ARGV[i]
  local key = ARGV[1] .. member
  local kept = key == ARGV[3] or redis.call('HEXISTS', KEYS[2], ARGV[4] .. key) == 1
  if not kept and redis.call('HGET', key, '@o') == ARGV[2] then
    removed = removed + redis.call('DEL', key)
  end
  if redis.call('EXISTS', key) == 0 then
    redis.call('SREM', KEYS[1], member)
  end
end
return removed
";

/// Deletes one session if it is live (by ARGV[2], the application's clock, ms) and bound to
/// ARGV[1]. KEYS[1]: the session key; KEYS[2], on a single server only: the owner's set, from
/// which ARGV[3], the member, goes too (on a cluster the set is in another slot: the store
/// prunes it). Returns 1 when deleted, else 0.
pub(super) const DELETE_OWNED: &str = r"
local meta = redis.call('HMGET', KEYS[1], '@c', '@o', '@e', '@a')
if not meta[1] or meta[2] ~= ARGV[1] then
  return 0
end
local now = tonumber(ARGV[2])
local expires, absolute = tonumber(meta[3]), tonumber(meta[4])
if not expires or now >= expires or (absolute and now >= absolute) then
  return 0
end
redis.call('DEL', KEYS[1])
if KEYS[2] then
  redis.call('SREM', KEYS[2], ARGV[3])
end
return 1
";

/// Deletes a session if it belongs to ARGV[1] (cluster). KEYS[1]: the session key; ARGV[2]: how
/// long a tombstone lives (ms). Returns 1 when deleted, 0 when the key holds another owner's
/// record, -1 when it holds no record: then it is fenced (see [`FENCE_GONE`]).
pub(super) const DELETE_IF_OWNED: &str = r"
if redis.call('HEXISTS', KEYS[1], '@c') == 1 then
  if redis.call('HGET', KEYS[1], '@o') == ARGV[1] then
    return redis.call('DEL', KEYS[1])
  end
  return 0
end
fence(KEYS[1], ARGV[2])
return -1
";

/// Fences a member of an owner's set whose key holds no record (cluster), before the store
/// prunes it: the member may be the new key of a regenerate between its steps (indexed, not yet
/// created), and the tombstone (`@z`, for ARGV[1] ms) makes that create fail, so a session never
/// lives under a key its owner's set no longer holds. KEYS[1]: the session key. Returns 1 when
/// the key holds no record (fenced now or before), 0 when it holds one.
pub(super) const FENCE_GONE: &str = r"
if redis.call('HEXISTS', KEYS[1], '@c') == 1 then
  return 0
end
fence(KEYS[1], ARGV[1])
return 1
";

/// Deletes the hash an update of a gone session left (see the `update` module), unless a record
/// (with `@c`) has taken the key since. KEYS[1]: the key. Returns 1 when deleted.
pub(super) const DELETE_STRAY: &str = r"
if redis.call('HEXISTS', KEYS[1], '@c') == 0 then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// A script that uses the shared functions ([`PRELUDE`]), with them in front.
pub(super) fn with_prelude(body: &str) -> String {
    format!("{PRELUDE}{body}")
}
