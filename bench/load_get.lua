-- A GET with the session cookie given as the script's first argument (empty: none).
function init(args)
  if args[1] and args[1] ~= "" then
    wrk.headers["Cookie"] = args[1]
  end
end
