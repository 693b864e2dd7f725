-- Drives headless Neovim through the torchpit quick-fix loop with editors/nvim/torchpit_legacy.lua.
-- Run by tests/e2e/test_neovim.py as: nvim --headless -u NONE -c "luafile neovim_driver.lua"
-- Environment: TORCHPIT_REPO (repository root), TORCHPIT_FILE (the Python file to open),
-- TORCHPIT_RESULT (the JSON file this writes), TORCHPIT_WAIT_MS (each wait's limit).
local repo = os.getenv('TORCHPIT_REPO')
local file = os.getenv('TORCHPIT_FILE')
local result_path = os.getenv('TORCHPIT_RESULT')
local wait_ms = tonumber(os.getenv('TORCHPIT_WAIT_MS') or '60000')
local result = { nvim = tostring(vim.version().major .. '.' .. vim.version().minor .. '.' .. vim.version().patch) }

local function codes(bufnr)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(out, d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code))
  end
  return out
end

local function find_pit101(bufnr)
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    if (d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)) == 'PIT101' then
      return d
    end
  end
end

local function run()
  package.path = repo .. '/editors/nvim/?.lua;' .. package.path
  require('torchpit_legacy').setup({
    on_exit = function(code)
      result.server_exit_code = code
    end,
  })
  vim.cmd('filetype on')
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local bufnr = vim.api.nvim_get_current_buf()
  result.filetype = vim.bo[bufnr].filetype

  -- Attached, or the server is gone (it could not start): no need to wait longer.
  vim.wait(wait_ms, function()
    return #vim.lsp.buf_get_clients(bufnr) > 0 or result.server_exit_code ~= nil
  end, 50)
  result.attached = #vim.lsp.buf_get_clients(bufnr) > 0
  if not result.attached then
    return
  end
  local client = vim.lsp.buf_get_clients(bufnr)[next(vim.lsp.buf_get_clients(bufnr))]
  result.client = { name = client.name, cmd = client.config.cmd, root_dir = client.config.root_dir }

  local diagnostic
  vim.wait(wait_ms, function()
    diagnostic = find_pit101(bufnr)
    return diagnostic ~= nil
  end, 50)
  result.codes_before = codes(bufnr)
  if not diagnostic then
    return
  end
  result.diagnostic = {
    lnum = diagnostic.lnum,
    col = diagnostic.col,
    source = diagnostic.source,
    message = diagnostic.message,
    href = diagnostic.user_data and diagnostic.user_data.lsp and diagnostic.user_data.lsp.codeDescription
      and diagnostic.user_data.lsp.codeDescription.href,
  }

  -- The user's path: cursor on the finding, :lua vim.lsp.buf.code_action(), pick the quick fix.
  result.offered = {}
  vim.ui.select = function(items, opts, on_choice)
    local chosen
    for _, item in ipairs(items) do
      local title = opts.format_item(item)
      table.insert(result.offered, { title = title, kind = item[2].kind })
      if not chosen and item[2].kind == 'quickfix' then
        chosen = item
        result.chosen = title
      end
    end
    on_choice(chosen)
  end
  vim.api.nvim_win_set_cursor(0, { diagnostic.lnum + 1, diagnostic.col })
  vim.lsp.buf.code_action({ only = { 'quickfix' } })

  result.edited = vim.wait(wait_ms, function()
    return not vim.api.nvim_buf_get_lines(bufnr, diagnostic.lnum, diagnostic.lnum + 1, false)[1]:find('softmax')
  end, 50)
  result.line_after = vim.api.nvim_buf_get_lines(bufnr, diagnostic.lnum, diagnostic.lnum + 1, false)[1]
  result.cleared = vim.wait(wait_ms, function()
    return find_pit101(bufnr) == nil
  end, 50)
  result.codes_after = codes(bufnr)
end

local ok, err = pcall(run)
if not ok then
  result.error = tostring(err)
end
for _, client in ipairs(vim.lsp.get_active_clients()) do
  client.stop()
end
vim.wait(5000, function()
  return #vim.lsp.get_active_clients() == 0
end, 50)
local out = io.open(result_path, 'w')
out:write(vim.fn.json_encode(result))
out:close()
vim.cmd('qa!')
