-- normalize: raw orders (published with `hubfn send`) -> clean orders on hub "orders".
--
-- The shop exports orders as they come: amounts as decimal numbers, emails as typed,
-- currencies in any case. Consumers of "orders" get one form: amounts in integer cents
-- (no floating point downstream), trimmed lower-case emails, upper-case ISO currencies.
-- An order without an id cannot be deduplicated downstream, so it is logged and dropped.
--
-- The partition key stays the one `hubfn send --key userId,anonymousId` gave the event, so
-- a customer's orders keep their order; when an event has none (`hubfn run`, or a producer
-- that sent no key) the same rule is applied to the body.

local function usable(id)
  if type(id) == "string" and id ~= "" then return id end
  if math.type(id) == "integer" then return tostring(id) end
  return nil
end

-- 59.9 -> 5990: rounded, since 59.9 * 100 is 5989.999... in binary floating point.
local function cents(amount)
  if type(amount) ~= "number" then return nil end
  return math.floor(amount * 100 + 0.5)
end

local function normalize(order)
  local email = type(order.email) == "string" and order.email:match("^%s*(.-)%s*$"):lower() or nil
  return {
    orderId = order.orderId,
    userId = usable(order.userId),
    anonymousId = usable(order.anonymousId),
    email = email ~= "" and email or nil,
    currency = type(order.currency) == "string" and order.currency:upper() or "EUR",
    amountCents = cents(order.total),
    items = order.items,
    placedAt = order.placedAt,
  }
end

return function(events, context)
  for _, ev in ipairs(events) do
    local order = ev.body
    if type(order) ~= "table" or not usable(order.orderId) then
      context.log.warn(("offset %d: not an order (no orderId), dropped"):format(ev.offset))
    else
      local clean = normalize(order)
      local key = ev.partitionKey or clean.userId or clean.anonymousId
      -- Headers the producer set travel on; normalizedBy says which function touched it.
      local properties = { normalizedBy = context.functionName }
      for name, value in pairs(ev.properties) do properties[name] = value end
      context.bindings.orders:send(clean, { partitionKey = key, properties = properties })
      context.log(("order %s of %s: %d cents %s -> orders"):format(clean.orderId,
        key or "(anonymous)", clean.amountCents or 0, clean.currency))
    end
  end
end
