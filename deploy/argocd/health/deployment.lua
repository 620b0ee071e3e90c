-- Deployment health as Argo CD judges it built in (generation observed, every replica updated
-- and available, no ProgressDeadlineExceeded), with messages for aiplane's vLLM servers
-- (label app.kubernetes.io/name=vllm): a replica counts as serving only once vLLM's /health
-- answers, i.e. the weights are loaded, and the message names the model and its load budget.
-- This replaces the built-in check for every Deployment, so it keeps the built-in semantics.
hs = {}
local spec = obj.spec or {}
local status = obj.status or {}
local meta = obj.metadata or {}
local labels = meta.labels or {}
local vllm = labels["app.kubernetes.io/name"] == "vllm"
local what = "Deployment"
if vllm then
  what = "vLLM " .. (labels["aiplane.dev/model"] or meta.name or "?")
  if labels["aiplane.dev/stage"] ~= nil then
    what = what .. " (" .. labels["aiplane.dev/stage"] .. ")"
  end
end

local function load_budget()
  local tmpl = spec.template or {}
  local pod = tmpl.spec or {}
  for _, c in ipairs(pod.containers or {}) do
    if c.startupProbe ~= nil then
      local p = c.startupProbe
      return (p.failureThreshold or 3) * (p.periodSeconds or 10)
    end
  end
  return nil
end

if spec.paused then
  hs.status = "Suspended"
  hs.message = what .. ": rollout paused"
  return hs
end
if (meta.generation or 0) > (status.observedGeneration or 0) then
  hs.status = "Progressing"
  hs.message = what .. ": waiting for the controller to observe the new spec"
  return hs
end
for _, c in ipairs(status.conditions or {}) do
  if c.type == "Progressing" and c.reason == "ProgressDeadlineExceeded" then
    hs.status = "Degraded"
    hs.message = what .. ": rollout exceeded its progress deadline"
    return hs
  end
end
local want = spec.replicas
if want == nil then
  want = 1
end
local updated = status.updatedReplicas or 0
local available = status.availableReplicas or 0
local total = status.replicas or 0
if updated < want then
  hs.status = "Progressing"
  hs.message = what .. ": " .. updated .. " of " .. want .. " replicas updated"
elseif total > updated then
  hs.status = "Progressing"
  hs.message = what .. ": " .. (total - updated) .. " old replica(s) pending termination"
elseif available < updated then
  hs.status = "Progressing"
  hs.message = what .. ": " .. available .. " of " .. updated .. " replicas available"
  if vllm then
    hs.message = what .. ": " .. available .. " of " .. updated .. " replicas serving; the rest are loading weights"
    local budget = load_budget()
    if budget ~= nil then
      hs.message = hs.message .. " (startup budget " .. budget .. " s)"
    end
  end
else
  hs.status = "Healthy"
  hs.message = what .. ": " .. available .. " of " .. want .. " replicas available"
  if vllm then
    hs.message = what .. ": " .. available .. " of " .. want .. " replicas serving"
  end
end
return hs
