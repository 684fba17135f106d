-- The audience catalogue: AEP segment id -> the name the business uses and the campaign
-- that acts on it. AEP's destination sends only segment ids unless "Include Segment Names"
-- is on, and even then not the campaign, so downstream systems get both from here.
-- Keep it in step with the audiences mapped to the destination; an id missing here is
-- logged by the enrich function.

local M = {}

local BY_ID = {
  ["5b998cb9-9488-4ec3-8d95-fa8338ced490"] = { name = "Gold members", campaign = "loyalty-gold" },
  ["7841ba61-23c1-4bb3-a495-00d3a5fe1e93"] = { name = "Cart abandoners", campaign = "cart-reminder" },
  ["947c1c46-008d-40b0-92ec-3af86eaf41c1"] = { name = "Newsletter subscribers", campaign = "weekly-digest" },
  ["59bd2f4d-3c48-4b18-bf56-4f5c5e6967ae"] = { name = "High churn risk", campaign = "win-back" },
  ["5114d758-ce71-43ba-b53e-e2a91d67b67f"] = { name = "Sports fans", campaign = "season-opener" },
  ["ca114007-4122-4ef6-a730-4d98e56dce45"] = { name = "Visited pricing twice", campaign = "sales-callback" },
}

-- The catalogue entry of segment `id`, or nil.
function M.lookup(id)
  return BY_ID[id]
end

return M
