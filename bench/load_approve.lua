-- POST /api/asks/<id>/approve, each request a different ask (never answered before), as its owner.
-- Arguments: a file of "<ask id> <cookie>" lines and the number of wrk threads; thread i takes
-- every line whose index is i modulo that number, so no two requests approve the same ask.
function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  items, position = {}, 0
  local index = 0
  for line in io.lines(path) do
    if index % nthreads == thread_id then
      local ask, cookie = line:match("^(%d+) (.+)$")
      items[#items + 1] = {"/api/asks/" .. ask .. "/approve", cookie}
    end
    index = index + 1
  end
end

function request()
  position = position + 1
  local item = items[position]
  if item == nil then
    -- Out of fresh asks: the request goes out again and answers 409, counted as an error.
    exhausted = exhausted + 1
    item = items[#items]
  end
  return wrk.format("POST", item[1], {["Cookie"] = item[2]}, nil)
end
