-- Argo CD health of a codat.io CodatCompany (codat-operator).
--
-- The operator's conditions follow the kstatus convention, as for
-- CodatConnection: Stalled=True when only a person can unblock the object,
-- Reconciling=True while the operator is still acting on the current
-- generation (creating the company, applying a spec change, deleting it) or
-- waits for other objects (CompanyInUse: the CodatConnections that use the
-- company go first), Ready=True (CompanyApplied) when Codat's company holds
-- the spec, and Synced=False when the operator's last look at Codat did not
-- happen. A company has no business to wait for: Ready=False with neither
-- Reconciling nor Stalled True is not healthy.
--
-- Uses only Lua's base library, so it runs as a resource customization in
-- argocd-cm without useOpenLibs.

local function findCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local function withMessage(status, message, fallback)
  if message == nil or message == "" then
    message = fallback
  end
  return {status = status, message = message}
end

-- The values of the codat.io/paused annotation that do not pause (Go's
-- strconv.ParseBool false values): the operator pauses on any other value.
local notPaused = {["0"] = true, f = true, F = true, ["false"] = true, FALSE = true, False = true}

local status = obj.status

-- A pause is a person's decision, not a failure: Suspended, whatever the
-- object said before. But a deletion the pause holds up waits for a person
-- (the operator keeps its finalizer): Degraded, as the operator's Stalled
-- condition (DeletionPaused) says.
local annotations = obj.metadata.annotations
local paused = annotations ~= nil and annotations["codat.io/paused"] or nil
if paused ~= nil and not notPaused[paused] then
  if obj.metadata.deletionTimestamp ~= nil then
    local stalled = nil
    if status ~= nil then
      stalled = findCondition(status.conditions, "Stalled")
    end
    local message = nil
    if stalled ~= nil and stalled.status == "True" then
      message = stalled.message
    end
    return withMessage("Degraded", message, "Being deleted, but paused by the codat.io/paused annotation: remove it to let the object go")
  end
  return {status = "Suspended", message = "Paused by the codat.io/paused annotation: the operator makes no Codat calls until it is removed"}
end

if status == nil or status.conditions == nil then
  return {status = "Progressing", message = "Waiting for the operator to report the company's status"}
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  return {status = "Progressing", message = "Waiting for the operator to observe generation " .. tostring(generation)}
end

local conditions = status.conditions

local stalled = findCondition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  return withMessage("Degraded", stalled.message, "Stalled: " .. tostring(stalled.reason))
end

local reconciling = findCondition(conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  return withMessage("Progressing", reconciling.message, "Reconciling: " .. tostring(reconciling.reason))
end

if obj.metadata.deletionTimestamp ~= nil then
  return {status = "Progressing", message = "Being deleted"}
end

local ready = findCondition(conditions, "Ready")
if ready == nil then
  return {status = "Progressing", message = "Waiting for the operator to report the company's status"}
end

if ready.status == "True" then
  local hs = withMessage("Healthy", ready.message, "Ready")
  local synced = findCondition(conditions, "Synced")
  if synced ~= nil and synced.status == "False" then
    local why = synced.message
    if why == nil or why == "" then
      why = tostring(synced.reason)
    end
    hs.message = hs.message .. ". The status may be stale: " .. why
  end
  return hs
end

return withMessage("Progressing", ready.message, "Ready: " .. tostring(ready.reason))
