-- Drives headless Neovim through the torchpit quick-fix loop with editors/nvim/torchpit_legacy.lua.
-- Run by tests/e2e/test_neovim.py as: nvim --headless -u NONE -c "luafile neovim_driver.lua"
-- Environment: TORCHPIT_REPO (repository root), TORCHPIT_FILE (the Python file to open),
-- TORCHPIT_RESULT (the JSON file this writes), TORCHPIT_WAIT_MS (each wait's limit).
local repo = os.getenv('TORCHPIT_REPO')
local file = os.getenv('TORCHPIT_FILE')
local result_path = os.getenv('TORCHPIT_RESULT')
local wait_ms = tonumber(os.getenv('TORCHPIT_WAIT_MS') or '60000')
package.path = repo .. '/tests/e2e/?.lua;' .. package.path
local common = require('neovim_common')
local result = { nvim = tostring(vim.version().major .. '.' .. vim.version().minor .. '.' .. vim.version().patch) }

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
    diagnostic = common.find(bufnr, 'PIT101')
    return diagnostic ~= nil
  end, 50)
  result.codes_before = common.codes(bufnr)
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
  common.answer_select(result, '^Fix PIT101')
  vim.api.nvim_win_set_cursor(0, { diagnostic.lnum + 1, diagnostic.col })
  vim.lsp.buf.code_action({ only = { 'quickfix' } })

  common.wait_fixed(result, bufnr, diagnostic, wait_ms)
end

common.run(result, result_path, run)
