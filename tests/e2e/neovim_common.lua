-- What the Neovim drivers (neovim_driver.lua for 0.7, neovim011_driver.lua for 0.11+) share:
-- reading diagnostics, waiting for the quick fix to land, and writing the result.
local M = {}

local function code_of(d)
  return d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
end

function M.codes(bufnr)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(out, code_of(d))
  end
  table.sort(out)
  return out
end

function M.find(bufnr, code)
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    if code_of(d) == code then
      return d
    end
  end
end

--- Answers the next vim.ui.select (vim.lsp.buf.code_action's menu) with the first item whose
--- title matches `pattern`; records the titles offered and the one chosen.
function M.answer_select(result, pattern)
  result.offered = {}
  vim.ui.select = function(items, opts, on_choice)
    local chosen
    for _, item in ipairs(items) do
      local title = opts.format_item(item)
      table.insert(result.offered, title)
      if not chosen and title:find(pattern) then
        chosen = item
        result.chosen = title
      end
    end
    on_choice(chosen)
  end
end

--- After the quick fix was chosen: the flagged line loses its softmax and PIT101 goes.
function M.wait_fixed(result, bufnr, diagnostic, wait_ms)
  local function line()
    return vim.api.nvim_buf_get_lines(bufnr, diagnostic.lnum, diagnostic.lnum + 1, false)[1]
  end
  result.edited = vim.wait(wait_ms, function()
    return not line():find('softmax')
  end, 50)
  result.line_after = line()
  result.cleared = vim.wait(wait_ms, function()
    return M.find(bufnr, 'PIT101') == nil
  end, 50)
  result.codes_after = M.codes(bufnr)
end

local function clients()
  return vim.lsp.get_clients and vim.lsp.get_clients() or vim.lsp.get_active_clients()
end

--- Runs `body`, records its error, stops the servers, writes the result and quits.
function M.run(result, result_path, body)
  local ok, err = pcall(body)
  if not ok then
    result.error = tostring(err)
  end
  for _, client in ipairs(clients()) do
    if vim.lsp.get_clients then
      client:stop()
    else
      client.stop()
    end
  end
  vim.wait(5000, function()
    return #clients() == 0
  end, 50)
  local out = io.open(result_path, 'w')
  out:write(vim.fn.json_encode(result))
  out:close()
  vim.cmd('qa!')
end

return M
