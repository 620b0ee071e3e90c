-- Health of the NVIDIA GPU Operator's ClusterPolicy (nvidia.com/v1): status.state is ready,
-- notReady (operands still rolling out) or ignored (another ClusterPolicy is the active one).
hs = {}
local state = nil
if obj.status ~= nil then
  state = obj.status.state
end
if state == "ready" then
  hs.status = "Healthy"
  hs.message = "GPU Operator: all operands ready"
  return hs
end
if state == "ignored" then
  hs.status = "Degraded"
  hs.message = "GPU Operator ignores this ClusterPolicy: another one is active"
  return hs
end
hs.status = "Progressing"
hs.message = "GPU Operator: operands not ready yet"
if state == nil then
  hs.message = "waiting for the GPU Operator to report a state"
end
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Error" and c.status == "True" then
      hs.message = "GPU Operator: " .. (c.message or c.reason or "error")
    end
  end
end
return hs
