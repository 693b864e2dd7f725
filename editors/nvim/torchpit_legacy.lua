-- torchpit for Neovim 0.7 to 0.10, without nvim-lspconfig.
--
--   require('torchpit_legacy').setup({ settings = { torchpit = { ignore = { 'PIT301' } } } })
--
-- Starts one `torchpit server` per project root (the nearest folder with a root marker, else
-- the file's folder) with vim.lsp.start_client, attaches python buffers to it from a FileType
-- autocommand, sends the settings as initializationOptions and didChangeConfiguration, and
-- answers workspace/configuration from them. On Neovim 0.11+ use lsp/torchpit.lua instead.
local M = {}

M.defaults = {
  cmd = { 'torchpit', 'server' },
  filetypes = { 'python' },
  root_markers = { 'pyproject.toml', 'setup.py', 'setup.cfg', 'requirements.txt', '.git' },
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
}

-- The nearest ancestor of `path` (a file) holding one of `markers`, else the file's folder.
local function find_root(path, markers)
  local dir = vim.fn.fnamemodify(path, ':p:h')
  while true do
    for _, marker in ipairs(markers) do
      if vim.loop.fs_stat(dir .. '/' .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ':h')
    if parent == dir then
      return vim.fn.fnamemodify(path, ':p:h')
    end
    dir = parent
  end
end

-- The answer to workspace/configuration: the `torchpit` section (or any other) of the settings.
local function configuration_handler(_, result, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local settings = client and client.config.settings or {}
  local response = {}
  for _, item in ipairs(result.items or {}) do
    if item.section == nil or item.section == '' then
      table.insert(response, settings)
    else
      local value = settings
      for key in string.gmatch(item.section, '[^.]+') do
        value = type(value) == 'table' and value[key] or nil
      end
      table.insert(response, value == nil and vim.NIL or value)
    end
  end
  return response
end

function M.setup(opts)
  local config = vim.tbl_deep_extend('force', M.defaults, opts or {})
  local clients = {} -- root -> client id

  local function attach(bufnr)
    local path = vim.api.nvim_buf_get_name(bufnr)
    if path == '' or vim.bo[bufnr].buftype ~= '' then
      return
    end
    local root = find_root(path, config.root_markers)
    local id = clients[root]
    if not id or not vim.lsp.get_client_by_id(id) then
      id = vim.lsp.start_client({
        name = 'torchpit',
        cmd = config.cmd,
        root_dir = root,
        workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
        settings = config.settings,
        init_options = config.settings.torchpit,
        capabilities = config.capabilities,
        handlers = vim.tbl_extend('keep', config.handlers or {}, {
          ['workspace/configuration'] = configuration_handler,
        }),
        on_init = function(client, result)
          client.notify('workspace/didChangeConfiguration', { settings = config.settings })
          if config.on_init then
            config.on_init(client, result)
          end
        end,
        on_attach = config.on_attach,
        on_exit = config.on_exit,
      })
      if not id then
        return
      end
      clients[root] = id
    end
    vim.lsp.buf_attach_client(bufnr, id)
  end

  local group = vim.api.nvim_create_augroup('torchpit', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = config.filetypes,
    callback = function(args)
      attach(args.buf)
    end,
  })
  -- Buffers opened before setup().
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(config.filetypes, vim.bo[bufnr].filetype) then
      attach(bufnr)
    end
  end
end

return M
