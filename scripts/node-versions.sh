# Sourced by .ci/run and scripts/start: Node binaries from the npm registry's `node` package, kept in
# a cache folder between runs, for machines whose own Node is older than the project supports.
node_home=${CB_NODE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/xnai-circuit-breakers/node}

# Prints the bin folder of Node `major` (installing it on first use).
node_bin() {
  local major=$1 dir="$node_home/$1"
  if [ ! -x "$dir/node_modules/.bin/node" ]; then
    echo "installing node@$major into $dir" >&2
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "node@$major" >&2
  fi
  echo "$dir/node_modules/.bin"
}

# Installs pnpm 12.4.2 when it is missing or another version.
ensure_pnpm() {
  if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "12.4.2" ]; then
    npm install -g --no-audit --no-fund --loglevel=error pnpm@12.4.2
  fi
}
