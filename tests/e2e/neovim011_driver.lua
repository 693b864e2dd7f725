-- Drives headless Neovim 0.11+ with editors/nvim/lsp/torchpit.lua through vim.lsp.enable:
-- settings from vim.lsp.config, diagnostics, hover, a quick fix applied.
-- Run by tests/e2e/test_neovim.py as: nvim --headless --clean -c "luafile neovim011_driver.lua"
-- Environment: TORCHPIT_REPO (repository root), TORCHPIT_FILE (the Python file to open),
-- TORCHPIT_RESULT (the JSON file this writes), TORCHPIT_WAIT_MS (each wait's limit).
local repo = os.getenv('TORCHPIT_REPO')
local file = os.getenv('TORCHPIT_FILE')
local result_path = os.getenv('TORCHPIT_RESULT')
local wait_ms = tonumber(os.getenv('TORCHPIT_WAIT_MS') or '60000')
package.path = repo .. '/tests/e2e/?.lua;' .. package.path
local common = require('neovim_common')
local v = vim.version()
local result = { nvim = string.format('%d.%d.%d', v.major, v.minor, v.patch) }

local function run()
  -- The user's setup: lsp/torchpit.lua on 'runtimepath', settings merged in, enabled.
  vim.opt.runtimepath:prepend(repo .. '/editors/nvim')
  vim.lsp.config('torchpit', { settings = { torchpit = { ignore = { 'PIT301' }, debounce = 20 } } })
  vim.lsp.enable('torchpit')
  vim.cmd('filetype on')
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local bufnr = vim.api.nvim_get_current_buf()
  result.filetype = vim.bo[bufnr].filetype

  local client
  vim.wait(wait_ms, function()
    client = vim.lsp.get_clients({ bufnr = bufnr, name = 'torchpit' })[1]
    return client ~= nil
  end, 50)
  result.attached = client ~= nil
  if not client then
    return
  end
  result.client = {
    name = client.name,
    cmd = client.config.cmd,
    root_dir = client.config.root_dir,
    ignore = client.config.settings.torchpit.ignore,
  }

  local diagnostic
  vim.wait(wait_ms, function()
    diagnostic = common.find(bufnr, 'PIT101')
    return diagnostic ~= nil
  end, 50)
  vim.wait(500) -- a late PIT301 (the ignored rule) would show up by now
  result.codes_before = common.codes(bufnr)
  if not diagnostic then
    return
  end
  result.diagnostic = { lnum = diagnostic.lnum, col = diagnostic.col, source = diagnostic.source }
  -- What the server made of the settings (initializationOptions and workspace/configuration).
  local info = client:request_sync('workspace/executeCommand', { command = 'torchpit.showDebugInfo', arguments = {} }, wait_ms, bufnr)
  result.server_settings = info and info.result and info.result.settings

  -- Hover: K on the finding opens a float with the rule's documentation.
  vim.api.nvim_win_set_cursor(0, { diagnostic.lnum + 1, diagnostic.col })
  vim.lsp.buf.hover()
  vim.wait(wait_ms, function()
    for _, win in ipairs(vim.api.nvim_list_wins()) do
      if vim.api.nvim_win_get_config(win).relative ~= '' then
        local lines = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(win), 0, -1, false)
        result.hover = table.concat(lines, '\n')
        vim.api.nvim_win_close(win, true)
        return true
      end
    end
    return false
  end, 50)

  -- The quick fix, picked through vim.lsp.buf.code_action() and vim.ui.select.
  common.answer_select(result, '^Fix PIT101')
  vim.api.nvim_win_set_cursor(0, { diagnostic.lnum + 1, diagnostic.col })
  vim.lsp.buf.code_action({ context = { only = { 'quickfix' } } })
  common.wait_fixed(result, bufnr, diagnostic, wait_ms)
end

common.run(result, result_path, run)
