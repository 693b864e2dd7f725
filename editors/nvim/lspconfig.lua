-- torchpit with nvim-lspconfig's setup() framework (Neovim 0.8 to 0.10, nvim-lspconfig < 2).
-- nvim-lspconfig does not ship a torchpit config, so this registers one first:
--
--   require('torchpit_lspconfig')  -- this file, saved as lua/torchpit_lspconfig.lua
--
local configs = require('lspconfig.configs')
local util = require('lspconfig.util')

if not configs.torchpit then
  configs.torchpit = {
    default_config = {
      cmd = { 'torchpit', 'server' },
      filetypes = { 'python' },
      root_dir = function(fname)
        return util.root_pattern('pyproject.toml', 'setup.py', 'setup.cfg', 'requirements.txt', '.git')(fname)
          or util.path.dirname(fname)
      end,
      single_file_support = true,
      settings = { torchpit = {} },
      on_new_config = function(config)
        config.init_options = config.settings.torchpit
      end,
    },
    docs = { description = 'torchpit: catches PyTorch pitfalls. Install it from its repository: `pip install .` in a clone.' },
  }
end

require('lspconfig').torchpit.setup({
  settings = {
    torchpit = {
      -- Only what differs from the server's defaults, e.g.:
      -- ignore = { 'PIT301' },
      -- severity = { PIT1 = 'error' },
      -- run = 'onSave',
    },
  },
})
