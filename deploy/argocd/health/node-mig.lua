-- Health of a GPU node's MIG re-partition, from the label the NVIDIA MIG manager writes:
-- nvidia.com/mig.config.state = pending | rebooting | success | failed. Nodes without the label
-- have no MIG manager and are healthy as far as MIG goes.
hs = {}
local labels = {}
if obj.metadata ~= nil and obj.metadata.labels ~= nil then
  labels = obj.metadata.labels
end
local state = labels["nvidia.com/mig.config.state"]
local config = labels["nvidia.com/mig.config"] or "(none)"
if state == nil or state == "success" then
  hs.status = "Healthy"
  hs.message = "MIG layout " .. config .. " applied"
  if state == nil then
    hs.message = "no MIG manager on this node"
  end
  return hs
end
if state == "failed" then
  hs.status = "Degraded"
  hs.message = "MIG re-partition to " .. config .. " failed (see the mig-manager logs)"
  return hs
end
hs.status = "Progressing"
hs.message = "MIG re-partition to " .. config .. ": " .. state
return hs
