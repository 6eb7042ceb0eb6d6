-- POST /api/requests as an officer: a new request each time (its own case number) at a random
-- point of the seeded neighbourhood. Arguments: cookie, window start, window end, centre
-- latitude, centre longitude, half-span in degrees latitude, half-span in degrees longitude.
function init(args)
  cookie, window_start, window_end = args[1], args[2], args[3]
  lat0, lon0 = tonumber(args[4]), tonumber(args[5])
  dlat, dlon = tonumber(args[6]), tonumber(args[7])
  math.randomseed(7919 * (thread_id + 1))
  sent = 0
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"latitude": %.6f, "longitude": %.6f, "radius_m": 100, "window_start": "%s", "window_end": "%s", ' ..
    '"case_number": "LOAD-%d-%d", "incident_type": "burglary", ' ..
    '"legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": true, ' ..
    '"summary": "Break-in on this block last night; looking for two people on foot."}',
    lat0 + (2 * math.random() - 1) * dlat, lon0 + (2 * math.random() - 1) * dlon,
    window_start, window_end, thread_id, sent)
  return wrk.format("POST", "/api/requests", {["Cookie"] = cookie, ["Content-Type"] = "application/json"}, body)
end
