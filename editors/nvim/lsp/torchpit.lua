-- torchpit for Neovim 0.11+: put this file in an `lsp/` folder on 'runtimepath'
-- (e.g. ~/.config/nvim/lsp/torchpit.lua), then
--
--   vim.lsp.enable('torchpit')
--
-- and adjust it with vim.lsp.config('torchpit', { settings = { torchpit = { ... } } }).
---@type vim.lsp.Config
return {
  cmd = { 'torchpit', 'server' },
  filetypes = { 'python' },
  root_markers = { 'pyproject.toml', 'setup.py', 'setup.cfg', 'requirements.txt', '.git' },
  -- Neovim answers workspace/configuration from `settings`; the server also reads them at
  -- start-up as initializationOptions.
  settings = {
    torchpit = {
      enable = true,
      select = {},
      ignore = {},
      severity = vim.empty_dict(),
      run = 'onType',
      debounce = 150,
      jedi = true,
      pythonPath = vim.NIL,
      probe = { enable = false, device = 'auto', timeout = 60 },
    },
  },
  before_init = function(params, config)
    params.initializationOptions = config.settings.torchpit
  end,
}
